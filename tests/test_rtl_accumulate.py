# amaranth: UnusedElaboratable=no
"""The MAC's accumulate variants (macgen.rtl.accumulate): which one a MAC picks, their
ports, latency and construction errors. Their arithmetic is tested through the MAC
(tests/test_rtl_mac.py, bit-exact against the golden model)."""

from dataclasses import replace

import pytest
from amaranth.back import verilog
from amaranth.lib.wiring import In, Out

from macgen.config import MACConfig
from macgen.rtl import MAC
from macgen.rtl.accumulate import ChunkedAccumulate, PlainAccumulate, SharedAccumulate, Stage
from macgen.rtl.float import product_spec, unpack_spec

PLAIN = MACConfig("e5m2", "e5m2", "e8m23")
# e5m2 products are exactly e7m9 values: one datapath for both levels.
SHARED = MACConfig("e5m2", "e5m2", "e7m9", chunk_size=64)
# Products reach 2^-32, below e6m9's normals: a second datapath, even with outer_fmt == acc_fmt.
TWO_SAME = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64)
TWO_FP32 = MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64, outer_fmt="fp32")
VARIANT = {"plain": (PLAIN, PlainAccumulate), "shared": (SHARED, SharedAccumulate),
           "two_same": (TWO_SAME, ChunkedAccumulate), "two_fp32": (TWO_FP32, ChunkedAccumulate)}


def _product_spec(cfg):
    return product_spec(unpack_spec(cfg.a_fmt, normalize=True), unpack_spec(cfg.b_fmt, normalize=True),
                        product_man_bits=cfg.product_man_bits)


@pytest.mark.parametrize("name", sorted(VARIANT))
@pytest.mark.parametrize("k", [1, 3])
def test_mac_picks_its_variant_at_construction(name, k):
    cfg, variant = VARIANT[name]
    mac = MAC(replace(cfg, acc_stages=k))
    assert type(mac.accumulate) is variant
    assert mac.accumulate.config is mac.config
    assert mac.widths["shared_adder"] == (variant is SharedAccumulate)
    assert ("outer_sum_window" in mac.widths) == (variant is ChunkedAccumulate)


@pytest.mark.parametrize("name", sorted(VARIANT))
@pytest.mark.parametrize("chunk_inputs", [False, True])
def test_variant_signature(name, chunk_inputs):
    cfg, variant = VARIANT[name]
    chunk_inputs = chunk_inputs and bool(cfg.chunk_size)
    acc = variant(cfg, _product_spec(cfg), chunk_inputs=chunk_inputs)
    members = acc.signature.members
    expected = {"valid": In(1), "first": In(1), "last": In(1),
                "start": In(cfg.outer_fmt.width), "product": In(_product_spec(cfg).layout),
                "result": Out(cfg.outer_fmt.width), "result_valid": Out(1)}
    if chunk_inputs:
        expected.update(chunk_open=In(1), chunk_close=In(1))
    assert dict(members) == expected


@pytest.mark.parametrize("name", sorted(VARIANT))
@pytest.mark.parametrize("k, mul_stages", [(1, 0), (2, 1), (5, 3)])
def test_variant_latency_adds_up_to_the_macs(name, k, mul_stages):
    """The MAC's latency is its multiplier pipeline's, the variant's, and one cycle for
    registering a result that comes straight from an adder."""
    cfg = replace(VARIANT[name][0], acc_stages=k, mul_stages=mul_stages)
    mac = MAC(cfg)
    acc = mac.accumulate
    assert acc.latency == (k if not cfg.chunk_size else 2 * k - 1)
    assert acc.result_registered == (not cfg.chunk_size)
    assert mac.latency == mul_stages + acc.latency + (not acc.result_registered)


def test_variant_stages_sit_below_the_accumulate_submodule():
    text = verilog.convert(MAC(TWO_FP32), name="t")
    for stage in (Stage.UNPACK_ACC, Stage.ADD, Stage.ROUND, Stage.UNPACK_CHUNK, Stage.OUTER_ADD,
                  Stage.CHUNK_COUNTER):
        assert f"module \\t.{Stage.ACCUMULATE}.{stage} " in text
    for stage in (Stage.UNPACK_A, Stage.UNPACK_B, Stage.MULTIPLY):
        assert f"module \\t.{stage} " in text


@pytest.mark.parametrize("variant, cfg, kwargs, error, message", [
    (PlainAccumulate, "fp16", {}, TypeError, "PlainAccumulate configuration must be a MACConfig, not 'fp16'"),
    (SharedAccumulate, SHARED, {"product_spec": "e5m2"}, TypeError,
     "Product spec must be a FloatSpec, not 'e5m2'"),
    (ChunkedAccumulate, TWO_FP32, {"acc_normal_only": 1}, TypeError, "acc_normal_only must be a bool, not 1"),
    (PlainAccumulate, TWO_FP32, {}, ValueError, "PlainAccumulate chunk size must be 0, not 64"),
    (PlainAccumulate, PLAIN, {"chunk_inputs": True}, ValueError,
     r"PlainAccumulate chunk_inputs must be False \(no chunks\), not True"),
    (ChunkedAccumulate, PLAIN, {}, ValueError, "ChunkedAccumulate chunk size must be positive, not 0"),
    (SharedAccumulate, PLAIN, {}, ValueError, "SharedAccumulate chunk size must be positive, not 0"),
    (SharedAccumulate, TWO_FP32, {}, ValueError,
     "SharedAccumulate outer format must be the accumulator's e6m9, not e8m23"),
    (SharedAccumulate, TWO_SAME, {}, ValueError,
     "SharedAccumulate products must all be exactly e6m9 values, not 6-bit significands with exponents -32..31"),
    (SharedAccumulate, SHARED, {"outer_normal_only": True}, ValueError,
     "SharedAccumulate outer_normal_only must be False"),
], ids=lambda x: x.__name__ if isinstance(x, type) else None)
def test_variant_rejects_bad_construction(variant, cfg, kwargs, error, message):
    spec = kwargs.pop("product_spec", None)
    if spec is None:
        spec = _product_spec(cfg if isinstance(cfg, MACConfig) else PLAIN)
    with pytest.raises(error, match=message):
        variant(cfg, spec, **kwargs)
