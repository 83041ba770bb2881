"""macgen.config: MACConfig and ArrayConfig validation, derived values, slugs, JSON."""

import json

import pytest

from macgen.config import ArrayConfig, MACConfig
from macgen.formats import FP8_E5M2, FP16, FloatFormat


def test_defaults_and_format_names():
    cfg = MACConfig("e5m2", FP8_E5M2, "e6m9")
    assert cfg.a_fmt == cfg.b_fmt == FP8_E5M2
    assert cfg.acc_fmt == FloatFormat(6, 9)
    assert cfg.outer_fmt == cfg.acc_fmt and cfg.out_fmt == cfg.acc_fmt
    assert (cfg.rounding, cfg.product_man_bits, cfg.chunk_size, cfg.mul_stages) == ("rne", None, 0, 0)
    assert cfg.product_frac_bits == 5 and cfg.ieee


def test_derived_values():
    cfg = MACConfig("fp16", "e4m3", "fp32", product_man_bits=7, chunk_size=32, outer_fmt="e8m30",
                    out_fmt="bf16", rounding="rtz", mul_stages=2)
    assert cfg.product_frac_bits == 7
    assert cfg.outer_fmt == FloatFormat(8, 30) and cfg.out_fmt == FloatFormat(8, 7)
    assert cfg.slug == "mac_e5m10xe4m3_acce8m23_rtz_p7_c32_oe8m30_ye8m7_s2"
    assert not MACConfig("e4m3fn", "e4m3fn", "e6m9fn").ieee


def test_slug_is_deterministic_and_distinct():
    a = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64)
    b = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64)
    c = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=32)
    assert a.slug == b.slug != c.slug
    assert a == b and hash(a) == hash(b)
    assert MACConfig("e5m2_bias-3", "e5m2", "e6m9").slug.startswith("mac_e5m2_biasm3xe5m2")


@pytest.mark.parametrize("kw", [
    dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9"),
    dict(a_fmt="e4m3fn", b_fmt="e4m3fn", acc_fmt="e6m9fn", chunk_size=16, outer_fmt="e8m10fn",
         out_fmt="e4m3fn", rounding="rtz", product_man_bits=5, mul_stages=3),
    dict(a_fmt="fp16", b_fmt="bf16", acc_fmt="e8m23_ftz", chunk_size=8),
])
def test_json_round_trip(kw):
    cfg = MACConfig(**kw)
    assert MACConfig.from_json(cfg.to_json()) == cfg
    assert MACConfig.from_dict(json.loads(cfg.to_json())) == cfg
    arr = ArrayConfig(4, 8, cfg)
    assert ArrayConfig.from_json(arr.to_json()) == arr
    assert arr.slug == f"array4x8_{cfg.slug}"


@pytest.mark.parametrize("kw,exc,match", [
    (dict(a_fmt=5), TypeError, "a_fmt must be a FloatFormat or a format name, not 5"),
    (dict(b_fmt="e1m2"), ValueError, "Exponent width must be at least 2, not 1"),
    (dict(b_fmt="e5x2"), ValueError, "'e5x2'"),
    (dict(acc_fmt=None), TypeError, "acc_fmt must be a FloatFormat or a format name, not None"),
    (dict(rounding="rnu"), ValueError, "Rounding mode must be one of rne, rtz, not 'rnu'"),
    (dict(product_man_bits=0), ValueError, "product_man_bits must be between 1 and 4 .*, not 0"),
    (dict(product_man_bits=5), ValueError, "the exact product of e5m2 x e5m2 has 5\\), not 5"),
    (dict(product_man_bits=True), TypeError, "product_man_bits must be an integer, not True"),
    (dict(product_man_bits=2.0), TypeError, "not 2.0"),
    (dict(chunk_size=-1), ValueError, "chunk_size must be 0 \\(no chunking\\) or positive, not -1"),
    (dict(chunk_size="8"), TypeError, "chunk_size must be an integer, not '8'"),
    (dict(outer_fmt="fp32"), ValueError, "outer_fmt e8m23 needs chunking .* accumulator is e6m9"),
    (dict(mul_stages=4), ValueError, "mul_stages must be between 0 and 3, not 4"),
    (dict(mul_stages=False), TypeError, "mul_stages must be an integer, not False"),
    (dict(acc_fmt="e6m9fn"), ValueError,
     "^a_fmt e5m2 \\(ieee\\) can be NaN, which acc_fmt e6m9fn \\(finite\\) cannot represent$"),
    (dict(out_fmt="e4m3fn"), ValueError,
     "^outer_fmt e6m9 \\(ieee\\) can be NaN, which out_fmt e4m3fn \\(finite\\) cannot represent$"),
    # docs/arithmetic.md §2–4's mixed-policy rule, one case per rejection
    (dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e6m9fn"), ValueError,
     "^a_fmt e4m3fnan \\(nan-only\\) can be NaN, which acc_fmt e6m9fn \\(finite\\) cannot represent$"),
    (dict(a_fmt="fp4_e2m1fn", b_fmt="fp8_e4m3fn", acc_fmt="e6m9fn"), ValueError,
     "^b_fmt e4m3fnan \\(nan-only\\) can be NaN, which acc_fmt e6m9fn"),
    (dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e5m2", acc_fmt="e6m9fnan"), ValueError,
     "^b_fmt e5m2 \\(ieee\\) can be infinity, which acc_fmt e6m9fnan \\(nan-only\\) cannot represent$"),
    (dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="fp32", out_fmt="fp8_e4m3fn"), ValueError,
     "^outer_fmt e8m23 \\(ieee\\) can be infinity, which out_fmt e4m3fnan \\(nan-only\\) cannot represent$"),
    (dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e6m9", chunk_size=4, outer_fmt="e8m12fnan"),
     ValueError, "^acc_fmt e6m9 \\(ieee\\) can be infinity, which outer_fmt e8m12fnan \\(nan-only\\)"),
    (dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e6m9fnan", chunk_size=4, outer_fmt="e8m12fnan",
          out_fmt="fp6_e3m2fn"), ValueError,
     "^outer_fmt e8m12fnan \\(nan-only\\) can be NaN, which out_fmt e3m2fn \\(finite\\) cannot represent$"),
])
def test_mac_config_invalid(kw, exc, match):
    base = dict(a_fmt="e5m2", b_fmt="e5m2", acc_fmt="e6m9")
    base.update(kw)
    with pytest.raises(exc, match=match):
        MACConfig(**base)


@pytest.mark.parametrize("kw", [
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="fp32"),            # nan-only into ieee
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e5m2", acc_fmt="bf16"),
    dict(a_fmt="fp4_e2m1fn", b_fmt="fp4_e2m1fn", acc_fmt="e6m9"),             # finite feeds anything
    dict(a_fmt="fp4_e2m1fn", b_fmt="fp6_e3m2fn", acc_fmt="e6m9fnan", out_fmt="fp8_e4m3fn"),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e6m9", chunk_size=8, outer_fmt="fp32"),
    dict(a_fmt="fp8_e4m3fn", b_fmt="fp8_e4m3fn", acc_fmt="e6m9fnan", out_fmt="fp8_e4m3fn"),
    dict(a_fmt="e4m3fn", b_fmt="e4m3fn", acc_fmt="e6m9fn", out_fmt="fp32"),   # finite into ieee output
])
def test_mac_config_mixed_policies_accepted(kw):
    cfg = MACConfig(**kw)
    assert MACConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("data,exc,match", [
    ([1, 2], TypeError, "MAC configuration must be a JSON object, not \\[1, 2\\]"),
    ({"a_fmt": "e5m2", "b_fmt": "e5m2", "acc_fmt": "e6m9", "speed": 1}, ValueError, "Unknown .*speed"),
    ({"a_fmt": "e5m2", "acc_fmt": "e6m9"}, ValueError, "lacks b_fmt"),
])
def test_mac_config_from_dict_invalid(data, exc, match):
    with pytest.raises(exc, match=match):
        MACConfig.from_dict(data)


@pytest.mark.parametrize("kw,exc,match", [
    (dict(rows=0), ValueError, "rows must be between 1 and 64, not 0"),
    (dict(cols=65), ValueError, "cols must be between 1 and 64, not 65"),
    (dict(rows=2.0), TypeError, "rows must be an integer, not 2.0"),
    (dict(cols=True), TypeError, "cols must be an integer, not True"),
    (dict(mac="e5m2"), TypeError, "mac must be a MACConfig, not 'e5m2'"),
    (dict(mac={"a_fmt": "e5m2"}), ValueError, "lacks b_fmt, acc_fmt"),
])
def test_array_config_invalid(kw, exc, match):
    base = dict(rows=2, cols=2, mac=MACConfig("e5m2", "e5m2", "e6m9"))
    base.update(kw)
    with pytest.raises(exc, match=match):
        ArrayConfig(**base)


def test_array_config_from_dict():
    arr = ArrayConfig.from_dict({"rows": 3, "cols": 5, "mac": {"a_fmt": "fp16", "b_fmt": "fp16", "acc_fmt": "fp32"}})
    assert arr.mac.a_fmt == FP16 and (arr.rows, arr.cols) == (3, 5)
    with pytest.raises(ValueError, match="Unknown array configuration field\\(s\\): depth"):
        ArrayConfig.from_dict({"rows": 1, "cols": 1, "mac": arr.mac.to_dict(), "depth": 3})
    with pytest.raises(TypeError, match="JSON object, not 'x'"):
        ArrayConfig.from_dict("x")
