# amaranth: UnusedElaboratable=no
"""The Galois LFSR behind the MAC's chunk counter (macgen.rtl.lfsr)."""

import pytest

from macgen.rtl.lfsr import primitive_polynomial, step, x_power


def _period(poly):
    state, n = 1, 0
    while True:
        state, n = step(poly, state), n + 1
        if state == 1:
            return n


@pytest.mark.parametrize("k", range(1, 17))
def test_primitive_polynomial_has_full_period(k):
    poly = primitive_polynomial(k)
    assert poly.bit_length() == k + 1 and poly & 1
    assert _period(poly) == (1 << k) - 1


@pytest.mark.parametrize("k", [8, 12, 16])
def test_primitive_polynomial_prefers_few_taps_and_rejects_reducible(k):
    # No primitive trinomial exists for these degrees: a pentanomial is chosen, and every
    # trinomial of that degree has a shorter period (so the search really checked order).
    poly = primitive_polynomial(k)
    assert bin(poly).count("1") == 5
    for t in range(1, k):
        assert _period((1 << k) | (1 << t) | 1) < (1 << k) - 1


# Prime factors of 2^k - 1 (Mersenne primes for 31, 61, 89; two large factors for 62).
MERSENNE_FACTORS = {
    31: [2147483647], 32: [3, 5, 17, 257, 65537], 61: [2305843009213693951],
    62: [3, 715827883, 2147483647], 64: [3, 5, 17, 257, 641, 65537, 6700417],
    89: [618970019642690137449562111],
}


@pytest.mark.parametrize("k", sorted(MERSENNE_FACTORS))
def test_primitive_polynomial_large_degrees(k):
    # x has order exactly 2^k - 1: x^order = 1 and x^(order/q) != 1 for every prime q.
    poly = primitive_polynomial(k)
    order = (1 << k) - 1
    product = 1
    for q in MERSENNE_FACTORS[k]:
        product *= q
    assert product == order
    assert x_power(poly, order) == 1
    assert all(x_power(poly, order // q) != 1 for q in MERSENNE_FACTORS[k])


def test_x_power_matches_stepping():
    poly = primitive_polynomial(11)
    state = 1
    for n in range(3000):
        assert x_power(poly, n) == state
        state = step(poly, state)


@pytest.mark.parametrize("size", list(range(3, 70)) + [127, 128, 129, 1000, 2048, 4096])
def test_chunk_terminal_state_first_reached_at_chunk_end(size):
    # The MAC compares the state x^(p-1) of beat p = 1..size-1 with x^(size-2): it must
    # match at p = size - 1 and nowhere before.
    poly = primitive_polynomial((size - 1).bit_length())
    terminal = x_power(poly, size - 2)
    state, hits = 1, []
    for p in range(1, size):
        if state == terminal:
            hits.append(p)
        state = step(poly, state)
    assert hits == [size - 1]


def test_bad_degree():
    with pytest.raises(ValueError):
        primitive_polynomial(0)


@pytest.mark.parametrize("size", [3, 4, 5, 8, 9, 17, 33])
def test_chunk_counter_rtl_marks_every_chunk_end(size):
    # Random beats, bubbles and restarts (a new dot product): at_end must be high exactly
    # on the beats at position size - 1 of their chunk.
    import numpy as np
    from amaranth.sim import Simulator

    from macgen.rtl.lfsr import ChunkCounter

    dut = ChunkCounter(size)
    rng = np.random.default_rng(size)
    mismatches = []

    async def bench(ctx):
        pos = 0
        for cycle in range(30 * size + 200):
            advance = int(rng.random() < 0.8)
            restart = int(pos == 0 or rng.random() < 0.03)
            ctx.set(dut.advance, advance)
            ctx.set(dut.restart, restart)
            if restart:
                pos = 0
            if advance:
                expected = pos == size - 1
                if not restart and ctx.get(dut.at_end) != expected:
                    mismatches.append((cycle, pos))
                pos = 0 if expected else pos + 1
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert mismatches == []


def test_chunk_counter_rejects_small_sizes():
    from macgen.rtl.lfsr import ChunkCounter
    with pytest.raises(ValueError):
        ChunkCounter(2)


def test_mac_sidecar_widths_name_the_counter():
    from macgen.config import MACConfig
    from macgen.rtl import MAC
    widths = MAC(MACConfig("e5m2", "e5m2", "e7m13", chunk_size=2048)).widths
    assert widths["chunk_counter"] == {"lfsr_bits": 11, "polynomial": hex(primitive_polynomial(11))}
    assert "chunk_counter" not in MAC(MACConfig("e5m2", "e5m2", "e7m13", chunk_size=2)).widths
