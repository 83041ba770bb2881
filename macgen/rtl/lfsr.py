"""Galois LFSRs over GF(2): the MAC's chunk-position counter.

A chunk counter only has to say "this is the chunk's last beat"; it never needs
the count as a number. A Galois LFSR whose state is ``x^i mod P`` (``P`` primitive
of degree ``k``) steps with one XOR gate per tap instead of an incrementer, and
its states ``x^0 .. x^(2^k - 2)`` are all distinct, so comparing the state with
the constant ``x^(L - 2)`` finds the ``L``-th beat exactly as a binary counter
would (measured with docs/arithmetic.md §7's flow: e5m2 x e5m2 -> e7m13 with chunk 2048 is 228
estimated transistors smaller than with an 11-bit binary counter).

The polynomial arithmetic is plain Python; :class:`ChunkCounter` is the register.
"""

from __future__ import annotations

import math
import random
from functools import lru_cache
from itertools import combinations

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["primitive_polynomial", "x_power", "step", "ChunkCounter", "chunk_close"]


def _mulmod(a: int, b: int, poly: int, k: int) -> int:
    # a * b mod poly, polynomials over GF(2) as integers (bit i = coefficient of x^i).
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a >> k & 1:
            a ^= poly
    return r


def x_power(poly: int, n: int) -> int:
    """``x^n mod poly`` (``n >= 0``), as an integer of ``deg(poly)`` bits."""
    k = poly.bit_length() - 1
    if k < 1:
        raise ValueError(f"Polynomial must have degree >= 1, not {poly:#x}")
    if n < 0:
        raise ValueError(f"Exponent must be non-negative, not {n}")
    result, base = 1, 2 % poly if k > 1 else 1
    while n:
        if n & 1:
            result = _mulmod(result, base, poly, k)
        base = _mulmod(base, base, poly, k)
        n >>= 1
    return result


def step(poly: int, state: int) -> int:
    """One Galois step, ``state * x mod poly`` (what the hardware computes)."""
    k = poly.bit_length() - 1
    state <<= 1
    return state ^ poly if state >> k & 1 else state


def _is_prime(n: int) -> bool:
    if n < 2:
        return False
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    # Deterministic for n < 3.3e24; a strong probable-prime test beyond.
    for a in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41):
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _prime_factors(n: int) -> set[int]:
    # Trial division by small primes, then Pollard's rho (Brent) on what is left.
    out: set[int] = set()
    for p in range(2, 1 << 12):
        while n % p == 0:
            out.add(p)
            n //= p
    stack = [n] if n > 1 else []
    rng = random.Random(0)
    while stack:
        f = stack.pop()
        if _is_prime(f):
            out.add(f)
            continue
        while True:
            c = rng.randrange(1, f)
            x = y = rng.randrange(0, f)
            g = 1
            while g == 1:
                x = (x * x + c) % f
                y = (y * y + c) % f
                y = (y * y + c) % f
                g = math.gcd(abs(x - y), f)
            if g != f:
                stack += [g, f // g]
                break
    return out


@lru_cache(maxsize=None)
def primitive_polynomial(k: int) -> int:
    """A primitive polynomial of degree ``k`` over GF(2) with as few terms as possible.

    Returned as an integer (bit ``i`` = coefficient of ``x^i``; bits ``k`` and 0 set):
    trinomials are tried first (one XOR gate in the LFSR), then pentanomials; among
    equals the smallest integer wins, so the choice is deterministic.
    """
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"Degree must be a positive integer, not {k!r}")
    if k == 1:
        return 0b11
    order = (1 << k) - 1
    cofactors = [order // q for q in sorted(_prime_factors(order))]
    for inner in (1, 3, 5, 7):
        for taps in combinations(range(1, k), inner):
            poly = (1 << k) | 1 | sum(1 << t for t in taps)
            if x_power(poly, order) == 1 and all(x_power(poly, c) != 1 for c in cofactors):
                return poly
    raise AssertionError(f"no primitive polynomial of degree {k} found")  # pragma: no cover


class ChunkCounter(wiring.Component):
    """Finds the last beat of a chunk of ``size`` beats (``size >= 3``).

    A beat is a cycle with ``advance``; ``restart`` marks a beat at position 0 of its
    chunk (the counter's state is then ignored). ``at_end`` is high on a beat at
    position ``size - 1`` (combinational, valid in a beat without ``restart``).
    Positions ``p = 1 .. size - 1`` are the Galois LFSR states ``x^(p-1) mod P`` with
    ``P`` = :func:`primitive_polynomial` of degree ``bit_length(size - 1)``.

    With ``depth = K > 1`` the counter keeps ``K`` interleaved counts in a ring of
    ``K`` registers: a beat continues the count of the beat ``K`` cycles before it
    (a cycle without ``advance`` leaves its count unchanged).

    Members
    -------
    advance, restart : In(1)
    at_end : Out(1)
    """

    def __init__(self, size: int, *, depth: int = 1):
        if not isinstance(size, int) or size < 3:
            raise ValueError(f"Chunk size must be an integer of at least 3, not {size!r}")
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"Counter depth must be a positive integer, not {depth!r}")
        self.size = size
        self.depth = depth
        self.poly = self.polynomial_for(size)
        super().__init__({"advance": In(1), "restart": In(1), "at_end": Out(1)})

    @staticmethod
    def polynomial_for(size: int) -> int:
        """The LFSR polynomial a counter for chunks of ``size`` beats uses."""
        return primitive_polynomial((size - 1).bit_length())

    def elaborate(self, platform):
        m = Module()
        poly = self.poly
        k = poly.bit_length() - 1
        # No reset: the first beat of a dot product restarts the count.
        state = Signal(k, reset_less=True)
        taps = Const(poly & ((1 << k) - 1) & ~1, k)
        times_x = Cat(state[k - 1], state[:k - 1]) ^ Mux(state[k - 1], taps, 0)
        m.d.comb += self.at_end.eq(state == x_power(poly, self.size - 2))
        if self.depth == 1:
            with m.If(self.advance):
                m.d.sync += state.eq(Mux(self.restart, 1, times_x))
            return m
        # A ring of `depth` states (interleaved counts, one per beat slot): `state` is
        # the last register, and the next state enters the first.
        ring = [Signal(k, name=f"state_{i}", reset_less=True) for i in range(self.depth - 1)]
        m.d.sync += ring[0].eq(Mux(self.advance, Mux(self.restart, 1, times_x), state))
        for src, dst in zip(ring, ring[1:] + [state]):
            m.d.sync += dst.eq(src)
        return m


def chunk_close(m, size: int, *, opens, last, advance, depth: int = 1, name: str = "chunk_counter"):
    """Whether a beat closes its chunk of ``size`` beats: it is its dot product's ``last``,
    or (``size >= 3``) a :class:`ChunkCounter` ``name`` over the beats with ``advance``,
    restarted by ``opens``, is at the chunk's end; with ``size`` 2 every beat that does not
    open a chunk closes one, with 1 every beat. One rule for the MAC's own chunk control
    and an array's shared one."""
    if size > 2:
        m.submodules[name] = counter = ChunkCounter(size, depth=depth)
        m.d.comb += [counter.advance.eq(advance), counter.restart.eq(opens)]
        return last | (~opens & counter.at_end)
    if size == 2:
        return last | ~opens
    return 1
