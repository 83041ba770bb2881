"""Compiled (numba) kernel of the golden model's dot product: one pass per MAC, both cores.

:mod:`macgen.golden` imports this module only when a dot product is large
enough to pay for it (and numba is installed); importing :mod:`macgen.golden`
itself never imports numba. The compiled code is cached on disk under
``$XDG_CACHE_HOME/macgen/numba`` (``~/.cache/macgen/numba``) unless
``NUMBA_CACHE_DIR`` says otherwise, so only the first use on a machine pays
the compilation (about 10 s).

Arithmetic (docs/arithmetic.md §2–4), exact by construction and independent of the
readable reference (:mod:`macgen.golden_reference`) and the NumPy paths it is tested
against (``tests/test_golden.py``, through ``golden.dot(..., backend=...)``):

* Every value is a decoded triple ``(-1)^s * sig * 2^exp`` (``sig`` uint64,
  canonical: normal results have ``M+1`` bits, subnormal ones the exponent
  ``emin - M``) plus a class (finite, inf, NaN). Operand codes are decoded once,
  in NumPy, before the kernel runs; the kernel encodes only the final result.
* The product's significand ``sig_a * sig_b`` is exact in uint64 (the caller
  checks ``Ma + Mb + 2 <= 64``), rounded to ``product_man_bits + 1`` bits when
  asked (exponent unbounded).
* ``acc + p``: the addend with the higher leading bit is placed with its
  leading one at bit 60, the other shifted to match; bits shifted out below
  bit 0 are *jammed* into bit 0. Lossless unless the other addend lies at least
  two bits below (then the sum has its leading bit at 59 or 60); the jammed sum
  is odd, the larger addend's part being even, so with at most 57 result
  fraction bits (rounding point at bit 2 or higher) the exact and jammed sums
  lie strictly between the same two even integers and round alike, in both
  modes. Requires significands of at most 60 bits and result formats of at
  most 57 fraction bits (the caller checks).
* The one rounding follows :func:`macgen.formats.round_pack` step by step:
  quantum ``2^(max(top, emin) - M)`` (``emin`` unbounded for ftz formats,
  whose results below the smallest normal flush to zero with their sign),
  RNE or RTZ, carry, overflow by policy. Exact zero sums: ``s_a & s_p``.
* Specials: NaN operand, ``inf * 0`` or ``inf - inf`` -> NaN; else an infinite
  operand gives the infinity. NaN results are written canonical.

Exponents are plain int64: the caller only uses the kernel for formats whose
exponents lie within +-2^40, so no sum of them overflows.
"""

from __future__ import annotations

import numba
from numba.cpython.unsafe.numbers import leading_zeros

from .files import user_cache_dir
from .golden import narrow_window

if not numba.config.CACHE_DIR:
    # Decorators below read this when they are applied; ~/.cache rather than __pycache__
    # beside an installed package (which may be read-only).
    numba.config.CACHE_DIR = str(user_cache_dir() / "numba")

import llvmlite.binding
import numpy as np

# Keep the selects of the step as selects: LLVM's x86 pass that turns cmov back into branches
# guesses wrong here (the choices follow the data), and mispredictions cost more than the step.
llvmlite.binding.set_option("macgen", "-x86-cmov-converter=false")

LANES = 64          # independent dot products interleaved per block (hides the step's latency)

FIN, INF, NAN = 0, 1, 2
# Format parameter tuple (int64), built by :func:`format_params`.
(P_M, P_EMIN, P_EMAX, P_SUB, P_POLICY, P_RNE, P_MAXSIG, P_BIAS, P_WIDTH, P_NAN, P_INF,
 P_LOQ, P_EMAXF, P_EMINF) = range(14)
_FAR = 1 << 62
POLICY = {"ieee": 0, "finite": 1, "nan-only": 2}


def format_params(fmt, rounding):
    """The kernel's description of a result format and rounding mode."""
    M = fmt.man_bits
    params = np.array([M, fmt.emin, fmt.emax, int(fmt.subnormals), POLICY[fmt.policy],
                     int(rounding == "rne"), fmt.max_significand, fmt.bias, fmt.width,
                     fmt.nan_bits if fmt.has_nan else 0, fmt.inf_bits if fmt.has_inf else 0,
                     # fast path of mac_step: lowest quantum exponent; the binades it handles
                     # (a nan-only format's top binade holds NaN: left to the general path)
                     fmt.emin - M if fmt.subnormals else -_FAR,
                     fmt.emax - (fmt.policy == "nan-only"),
                     -_FAR if fmt.subnormals else fmt.emin],
                    dtype=np.int64)
    # A tuple, not an array: passed by value, so no reference counting in the inner loop.
    return tuple(np.int64(v) for v in params)


_jit = numba.njit(cache=True, nogil=True, error_model="numpy")
# Inlined into the loops (numba's IR inliner): LLVM leaves calls with a 14-tuple argument alone.
_inline = numba.njit(cache=True, nogil=True, error_model="numpy", inline="always")


U0 = np.uint64(0)
U1 = np.uint64(1)


@_jit
def _bitlen(x):
    # int64 throughout: numba would turn a mixed uint64/int64 expression into float64.
    return np.int64(64) - np.int64(leading_zeros(x))


@_jit
def round_value(sign, m, e, fp):
    """Round ``(-1)^sign * m * 2^e`` (``m < 2^62``, bit 0 possibly a jam bit) into the format.

    Returns ``(cls, sign, sig, exp)``; a zero keeps ``sign``.
    """
    if m == U0:
        return FIN, sign, U0, np.int64(0)
    M = fp[P_M]
    top = e + _bitlen(m) - 1
    eq = top - M
    if fp[P_SUB] != 0 and eq < fp[P_EMIN] - M:
        eq = fp[P_EMIN] - M
    shift = eq - e
    if shift > 0:
        # A shift of 63 already cuts everything (m < 2^62 is below half of 2^63).
        sh = np.uint64(min(shift, 63))
        kept = m >> sh
        if fp[P_RNE] != 0:
            rem = m & ((U1 << sh) - U1)
            half = U1 << (sh - U1)
            if rem > half or (rem == half and (kept & U1) != U0):
                kept += U1
    else:
        kept = m << np.uint64(-shift)
    if kept >> np.uint64(M + 1) != U0:
        kept >>= U1
        eq += 1
    if kept == U0:
        return FIN, sign, U0, np.int64(0)
    if kept >> np.uint64(M) != U0:          # normal
        if fp[P_SUB] == 0 and eq + M < fp[P_EMIN]:
            return FIN, sign, U0, np.int64(0)
        over = eq + M > fp[P_EMAX]
        if not over and fp[P_POLICY] == 2 and eq + M == fp[P_EMAX]:
            over = kept > np.uint64(fp[P_MAXSIG])
        if over:
            if fp[P_RNE] != 0 and fp[P_POLICY] == 0:
                return INF, sign, U0, np.int64(0)
            if fp[P_RNE] != 0 and fp[P_POLICY] == 2:
                return NAN, np.int64(0), U0, np.int64(0)
            return FIN, sign, np.uint64(fp[P_MAXSIG]), fp[P_EMAX] - M
    return FIN, sign, kept, eq


@_jit
def add_values(cc, cs, cm, ce, pc, ps, pm, pe, fp):
    """``round(c + p)`` of two decoded values (classes ``cc``/``pc``) into the format ``fp``."""
    if cc != FIN or pc != FIN:
        if cc == NAN or pc == NAN or (cc == INF and pc == INF and cs != ps):
            return NAN, np.int64(0), U0, np.int64(0)
        if cc == INF:
            return INF, cs, U0, np.int64(0)
        return INF, ps, U0, np.int64(0)
    if pm == U0:
        if cm == U0:
            return FIN, cs & ps, U0, np.int64(0)
        return FIN, cs, cm, ce           # c is already a value of the format
    if cm == U0:
        return round_value(ps, pm, pe, fp)
    lc = _bitlen(cm)
    lp = _bitlen(pm)
    tc = ce + lc
    tp = pe + lp
    swap = tp > tc
    bs = ps if swap else cs
    bm = pm if swap else cm
    lb = lp if swap else lc
    tb = tp if swap else tc
    ss = cs if swap else ps
    sm = cm if swap else pm
    ls = lc if swap else lp
    ts = tc if swap else tp
    big = bm << np.uint64(61 - lb)
    pos = 61 - ls - (tb - ts)
    if pos >= 0:
        small = sm << np.uint64(pos)
    else:
        r = np.uint64(min(-pos, 63))
        small = (sm >> r) | np.uint64((sm & ((U1 << r) - U1)) != U0)
    if bs == ss:
        return round_value(bs, big + small, tb - 61, fp)
    if big >= small:
        tot = big - small
        sign = bs
    else:
        tot = small - big
        sign = ss
    if tot == U0:
        return FIN, np.int64(0), U0, np.int64(0)
    return round_value(sign, tot, tb - 61, fp)


@_jit
def product(as_, am, ae, ac, bs, bm, be, bc, pnb, rne):
    """Exact product of two decoded operands (rounded to ``pnb`` significant bits when ``pnb > 0``)."""
    s = as_ ^ bs
    if ac != FIN or bc != FIN:
        if ac == NAN or bc == NAN or (ac == INF and bm == U0 and bc == FIN) \
                or (bc == INF and am == U0 and ac == FIN):
            return NAN, s, U0, np.int64(0)
        return INF, s, U0, np.int64(0)
    m = am * bm
    e = ae + be
    if pnb > 0 and m != U0:
        sh = _bitlen(m) - pnb
        if sh > 0:
            ush = np.uint64(sh)
            kept = m >> ush
            if rne != 0:
                rem = m & ((U1 << ush) - U1)
                half = U1 << (ush - U1)
                if rem > half or (rem == half and (kept & U1) != U0):
                    kept += U1
            if kept >> np.uint64(pnb) != U0:
                kept >>= U1
                sh += 1
            m = kept
            e += sh
    return FIN, s, m, e


@_jit
def encode(c, s, m, e, fp):
    """The code of a decoded value of the format (canonical NaN, signed zeros)."""
    if c == NAN:
        return np.uint64(fp[P_NAN])
    sbit = np.uint64(s) << np.uint64(fp[P_WIDTH] - 1)
    if c == INF:
        return sbit | np.uint64(fp[P_INF])
    M = np.uint64(fp[P_M])
    if m >> M != U0:
        field = np.uint64(e + fp[P_M] + fp[P_BIAS])
        return sbit | (field << M) | (m & ((U1 << M) - U1))
    return sbit | m


@_inline
def _meta(meta):
    """``(cls, sign, exp)`` of a packed ``exp << 8 | cls << 1 | sign``."""
    return (meta >> 1) & 3, meta & 1, meta >> 8


@_inline
def _align(m, s):
    """``m * 2^s`` for ``s >= 0``; for ``s < 0`` shifted right with the lost bits jammed into bit 0."""
    right = np.uint64(min(max(-s, 0), 63))
    v = (m << np.uint64(min(max(s, 0), 63))) >> right
    return v | np.uint64((m & ((U1 << right) - U1)) != U0)


@_inline
def mac_step(cc, cs, cm, ce, pc, ps, pm, pe, fp):
    """:func:`add_values` with a branch-free fast path for the common case.

    Both addends finite and non-zero, the sum needing a rounding (shift > 0)
    and the result neither zero, nor overflowing, nor flushed, nor in a
    nan-only format's top binade: the same arithmetic as :func:`add_values` and
    :func:`round_value`, but without the swap (each addend is placed relative
    to the higher leading bit ``T``: the larger one lands with its leading one
    at bit 60, shifted left by at least one, the smaller one is the only one
    that can lose bits) and with selects for the data-dependent choices.
    Anything else takes the general path.
    """
    M = fp[P_M]
    top = max(ce + _bitlen(cm), pe + _bitlen(pm))
    c = np.int64(_align(cm, 61 - top + ce))
    p = np.int64(_align(pm, 61 - top + pe))
    tot = ((c ^ -cs) + cs) + ((p ^ -ps) + ps)
    n = tot >> 63                       # all ones when negative
    mag = np.uint64((tot ^ n) - n)
    e = top - 61
    eq = max(e + _bitlen(mag) - 1 - M, fp[P_LOQ])
    shift = eq - e
    sh = np.uint64(min(max(shift, 1), 63))
    kept = mag >> sh
    rem = mag & ((U1 << sh) - U1)
    half = U1 << (sh - U1)
    up = (rem > half) | ((rem == half) & ((kept & U1) != U0))
    kept += np.uint64(up & (fp[P_RNE] != 0))
    carry = kept >> np.uint64(M + 1)
    kept >>= carry
    eq += np.int64(carry)
    good = (((cc | pc) == 0) & (cm != U0) & (pm != U0) & (shift > 0) & (kept != U0)
            & (eq + M <= fp[P_EMAXF]) & (eq + M >= fp[P_EMINF]))
    if good:
        return FIN, n & 1, kept, eq
    return add_values(cc, cs, cm, ce, pc, ps, pm, pe, fp)


@_inline
def _decode1(c, fd):
    """``(sig, meta)`` of one code; ``fd = (width, M, bias, subnormals, policy)``."""
    width, M, bias, sub, policy = fd
    emask = (np.int64(1) << (width - 1 - M)) - 1
    fmask = (U1 << np.uint64(M)) - U1
    s = np.int64(c >> np.uint64(width - 1)) & 1
    field = np.int64(c >> np.uint64(M)) & emask
    frac = c & fmask
    cls = FIN
    if field == emask:
        if policy == 0:
            cls = NAN if frac != U0 else INF
        elif policy == 2 and frac == fmask:
            cls = NAN
    if cls != FIN:
        m = U0
        e = np.int64(0)
    elif field != 0:
        m = frac | (U1 << np.uint64(M))
        e = field - bias - M
    else:
        m = frac if sub != 0 else U0
        e = 1 - bias - M
    return m, (e << 8) | (cls << 1) | s


@numba.njit(cache=True, parallel=True, error_model="numpy")
def decode_codes(codes, fd, sig, meta):
    """Decode codes of a format into kernel operands (see :func:`dot_rows`)."""
    for i in numba.prange(codes.shape[0]):
        sig[i], meta[i] = _decode1(codes[i], fd)


@_inline
def _product_at(asig, ameta, bsig, bmeta, ia, ka, ib, kb, pnb, rne):
    ac, a_s, ae = _meta(ameta[ia, ka])
    bc, b_s, be = _meta(bmeta[ib, kb])
    if (ac | bc) != 0 or pnb > 0:
        return product(a_s, asig[ia, ka], ae, ac, b_s, bsig[ib, kb], be, bc, pnb, rne)
    return FIN, a_s ^ b_s, asig[ia, ka] * bsig[ib, kb], ae + be


@_jit
def _finish(oc, os_, om, oe, convert, outp):
    """The code of the outer result (rounded into ``outp`` when converting)."""
    if oc == FIN:   # exact unless converting: canonical form for encode()
        oc, os_, om, oe = round_value(os_, om, oe, outp)
    return encode(oc, os_, om, oe, outp)


@_jit
def _start(tc, ts, tm, te, oc, os_, om, oe, w, L):
    """Inner accumulator at a chunk's start: the outer value (no chunking) or +0."""
    for q in range(w):
        if L == 0:
            tc[q], ts[q], tm[q], te[q] = oc[q], os_[q], om[q], oe[q]
        else:
            tc[q], ts[q], tm[q], te[q] = FIN, 0, U0, 0


@_jit
def _fold(tc, ts, tm, te, oc, os_, om, oe, w, L, outerp):
    """Chunk end: the inner sum into the outer accumulator (no chunking: it *is* the outer one)."""
    for q in range(w):
        if L == 0:
            oc[q], os_[q], om[q], oe[q] = tc[q], ts[q], tm[q], te[q]
        else:
            oc[q], os_[q], om[q], oe[q] = add_values(oc[q], os_[q], om[q], oe[q],
                                                     tc[q], ts[q], tm[q], te[q], outerp)


@_inline
def _narrow_product(pc, ps, pm, pe, W):
    """A product as the narrow path's signed ``V`` (leading one at bit ``W``) and exponent of bit 0."""
    sh = W + 1 - _bitlen(pm)
    v = np.int64(pm << np.uint64(min(sh, 63)))
    t = pe - sh if pm != U0 else -_FAR
    return (v ^ -ps) + ps, t


@_inline
def _narrow_step(V, T, X, vp, tp, pok, W, D, M, bias, maxcode, rne):
    """One rounded addition on the narrow path; ``ok`` false where the general path must redo it.

    Values are signed integers ``V`` with their leading one at bit ``W`` and the
    exponent ``T`` of their bit 0 (zero: ``V = 0``, ``T`` far below); the sum is
    ``S * 2^t`` with ``t = max(T, tp)`` and ``S = V >> min(t - T, D) + vp >> min(t - tp, D)``.

    ``D`` and ``W`` come from :func:`macgen.golden.narrow_window`, whose docstring
    proves that the clamped shift rounds exactly as the exact sum would
    (``W <= 59``, so ``|S| < 2^61`` fits int64).

    The rounding itself: ``|S|`` is shifted left so that its leading one is at
    bit 62 (exact), rounded there at the format's last place, and the format's
    code ``((field - 1) << M) + kept`` carries into the exponent by itself.
    Normal, non-overflowing results only: others (and exact zeros, specials)
    report ``ok = False``.
    """
    t = max(T, tp)
    S = (V >> np.uint64(min(t - T, D))) + (vp >> np.uint64(min(t - tp, D)))
    n = S >> 63
    mag = np.uint64((S ^ n) - n)
    L = _bitlen(mag)
    nm = mag << np.uint64(min(63 - L, 63))
    g = np.uint64(62 - M)
    if rne:
        nm += ((U1 << (g - U1)) - U1) + ((nm >> g) & U1)
    kept = nm >> g
    top = t + L - 1
    field = top + bias
    code = ((field - 1) << M) + np.int64(kept)
    c = kept >> np.uint64(M + 1)
    kept >>= c
    v2 = np.int64(kept << np.uint64(W - M))
    ok = pok & ((X & 3) == 0) & (mag != U0) & (field >= 1) & (code <= maxcode)
    return (v2 ^ n) + (n & 1), top + np.int64(c) - W, ok


@_inline
def _narrow_mac(V, T, X, pc, ps, pm, pe, W, D, M, bias, maxcode, rne, accp):
    """One narrow-path MAC step on state ``(V, T, X)``: the fast step, or the general adder."""
    vp, tp = _narrow_product(pc, ps, pm, pe, W)
    V2, T2, ok = _narrow_step(V, T, X, vp, tp, pc == FIN, W, D, M, bias, maxcode, rne != 0)
    if ok:
        return V2, T2, X
    cc, cs, cm, ce = _from_narrow(V, T, X)
    c, s, m, e = add_values(cc, cs, cm, ce, pc, ps, pm, pe, accp)
    return _to_narrow(c, s, m, e, W)


@_inline
def _from_narrow(V, T, X):
    """Narrow state to a decoded value (not canonical: leading one at bit W)."""
    n = V >> 63
    return X & 3, (n & 1) | ((X >> 2) & np.int64(V == 0)), np.uint64((V ^ n) - n), T


@_inline
def _to_narrow(c, s, m, e, W):
    """A decoded value (class ``c``) as narrow state ``(V, T, X)``."""
    if c != FIN:
        return np.int64(0), -_FAR, c | (s << 2)
    if m == U0:
        return np.int64(0), -_FAR, s << 2
    sh = W + 1 - _bitlen(m)
    v = np.int64(m << np.uint64(sh))
    return (v ^ -s) + s, e - sh, np.int64(0)


KB = 64             # steps of operands decoded into a block's buffer at a time


@numba.njit(cache=True, parallel=True, error_model="numpy")
def dot_rows(acodes, afd, bcodes, bfd, aidx, bidx, init, ifd, L, pnb, narrow, accp, outerp, outp,
             convert, out):
    """Dot products of rows: ``out[r] = dot(A[aidx[r]], B[bidx[r]], init[r])`` (docs/arithmetic.md §2–4).

    ``acodes``/``bcodes`` (rows, n) operand codes, decoded as they are read
    (``afd``/``bfd``: :func:`decode_params`); ``init`` codes of the outer format.
    ``L`` chunk size (0: none), ``pnb`` product significand bits (0: exact).
    ``narrow = (W, D, maxcode)`` selects the narrow path (``W = 0``: the general one).
    ``convert``: round the outer result into ``outp`` at the end. LANES rows
    advance together, one step each in turn, so that their independent steps
    overlap in the processor; each block decodes KB steps of its rows' operands
    (contiguous reads per row) into a buffer that the steps read lane by lane.
    """
    rows = out.shape[0]
    n = acodes.shape[1]
    rne = accp[P_RNE]
    M = accp[P_M]
    bias = accp[P_BIAS]
    W, D, maxcode = narrow
    nblocks = (rows + LANES - 1) // LANES
    for blk in numba.prange(nblocks):
        r0 = blk * LANES
        w = min(LANES, rows - r0)
        tc = np.zeros(LANES, np.int64)
        ts = np.zeros(LANES, np.int64)
        te = np.zeros(LANES, np.int64)
        oc = np.zeros(LANES, np.int64)
        os_ = np.zeros(LANES, np.int64)
        oe = np.zeros(LANES, np.int64)
        tm = np.zeros(LANES, np.uint64)
        om = np.zeros(LANES, np.uint64)
        bas = np.zeros((KB, LANES), np.uint64)
        bam = np.zeros((KB, LANES), np.int64)
        bbs = np.zeros((KB, LANES), np.uint64)
        bbm = np.zeros((KB, LANES), np.int64)
        for q in range(w):
            om[q], meta = _decode1(init[r0 + q], ifd)
            oc[q], os_[q], oe[q] = _meta(meta)
        step = n if L == 0 else L
        for k0 in range(0, n, step):
            k1 = min(n, k0 + step)
            _start(tc, ts, tm, te, oc, os_, om, oe, w, L)
            if W > 0:   # the narrow state lives in ts (V), te (T), tc (X) for the chunk
                for q in range(w):
                    ts[q], te[q], tc[q] = _to_narrow(tc[q], ts[q], tm[q], te[q], W)
            for kb in range(k0, k1, KB):
                kn = min(k1, kb + KB) - kb
                for q in range(w):
                    ra = aidx[r0 + q]
                    rb = bidx[r0 + q]
                    for kk in range(kn):
                        bas[kk, q], bam[kk, q] = _decode1(acodes[ra, kb + kk], afd)
                        bbs[kk, q], bbm[kk, q] = _decode1(bcodes[rb, kb + kk], bfd)
                for kk in range(kn):
                    for q in range(w):
                        pc, ps, pm, pe = _product_at(bas, bam, bbs, bbm, kk, q, kk, q, pnb, rne)
                        if W > 0:
                            ts[q], te[q], tc[q] = _narrow_mac(ts[q], te[q], tc[q], pc, ps, pm, pe,
                                                              W, D, M, bias, maxcode, rne, accp)
                        else:
                            tc[q], ts[q], tm[q], te[q] = mac_step(tc[q], ts[q], tm[q], te[q],
                                                                  pc, ps, pm, pe, accp)
            if W > 0:
                for q in range(w):
                    tc[q], ts[q], tm[q], te[q] = _from_narrow(ts[q], te[q], tc[q])
            _fold(tc, ts, tm, te, oc, os_, om, oe, w, L, outerp)
        for q in range(w):
            out[r0 + q] = _finish(oc[q], os_[q], om[q], oe[q], convert, outp)


def decode_params(fmt):
    """The kernel's description of a format for decoding its codes."""
    return tuple(np.int64(v) for v in (fmt.width, fmt.man_bits, fmt.bias, fmt.subnormals, POLICY[fmt.policy]))


def decode(fmt, codes):
    """Kernel operands of ``codes`` (uint64, any shape): significands and packed metadata."""
    flat = np.ascontiguousarray(codes, dtype=np.uint64).reshape(-1)
    sig = np.empty(flat.shape, np.uint64)
    meta = np.empty(flat.shape, np.int64)
    decode_codes(flat, decode_params(fmt), sig, meta)
    return sig.reshape(np.shape(codes)), meta.reshape(np.shape(codes))


def narrow_params(cfg):
    """``(W, D, maxcode)`` of the narrow path for ``cfg`` (see :func:`_narrow_step`); ``W = 0``: not narrow."""
    D, W = narrow_window(cfg.acc_fmt.man_bits, cfg.product_frac_bits + 1)
    # maxcode: the largest finite code of the accumulator, sign bit clear
    maxcode = cfg.acc_fmt.max_finite_bits
    return tuple(np.int64(v) for v in ((W, D, maxcode) if W <= 59 else (0, 0, maxcode)))


def matmul_order(R, C, tile_rows=8):
    """Rows ``(i, j)`` of an R x C product in the order :func:`dot_rows` runs them best.

    Tiles of ``tile_rows`` rows of A by LANES columns of B: the tile's columns of B
    (read from the cache) are shared by its rows. Returns, per result row, its
    row of A, its row of B.T and its flat position in the R x C result.
    """
    ti, tj = -(-R // tile_rows), -(-C // LANES)
    ipad = np.full(ti * tile_rows, -1, dtype=np.intp)
    ipad[:R] = np.arange(R)
    jpad = np.full(tj * LANES, -1, dtype=np.intp)
    jpad[:C] = np.arange(C)
    shape = (ti, tj, tile_rows, LANES)
    ii = np.broadcast_to(ipad.reshape(ti, 1, tile_rows, 1), shape)
    jj = np.broadcast_to(jpad.reshape(1, tj, 1, LANES), shape)
    keep = (ii >= 0) & (jj >= 0)
    ia, jb = ii[keep], jj[keep]
    return ia, jb, ia * C + jb


@numba.njit(cache=True, parallel=True, error_model="numpy")
def matmul_narrow(asig, ameta, bsig, bmeta, isig, imeta, L, pnb, narrow, accp, outerp, outp, convert, out):
    """:func:`dot_rows` on the narrow path for ``A (R, K) @ B (K, C)`` (B not transposed).

    Work items are tiles of 8 rows of A by LANES columns of B: the LANES columns
    advance together (contiguous in B), A's operand is the same for all of them
    in a step, and the tile's part of B is read from the cache by all 8 rows.
    """
    R, K = asig.shape
    C = bsig.shape[1]
    rne = accp[P_RNE]
    M = accp[P_M]
    bias = accp[P_BIAS]
    W, D, maxcode = narrow
    TR = 8
    ncb = (C + LANES - 1) // LANES
    for item in numba.prange(((R + TR - 1) // TR) * ncb):
        i0 = (item // ncb) * TR
        j0 = (item % ncb) * LANES
        w = min(LANES, C - j0)
        tx = np.zeros(LANES, np.int64)
        tv = np.zeros(LANES, np.int64)
        tt = np.zeros(LANES, np.int64)
        oc = np.zeros(LANES, np.int64)
        os_ = np.zeros(LANES, np.int64)
        oe = np.zeros(LANES, np.int64)
        om = np.zeros(LANES, np.uint64)
        for i in range(i0, min(R, i0 + TR)):
            for q in range(w):
                oc[q], os_[q], oe[q] = _meta(imeta[i, j0 + q])
                om[q] = isig[i, j0 + q]
            step = K if L == 0 else L
            for k0 in range(0, K, step):
                for q in range(w):
                    if L == 0:
                        tv[q], tt[q], tx[q] = _to_narrow(oc[q], os_[q], om[q], oe[q], W)
                    else:
                        tv[q], tt[q], tx[q] = np.int64(0), -_FAR, np.int64(0)
                for k in range(k0, min(K, k0 + step)):
                    ac, a_s, ae = _meta(ameta[i, k])
                    am = asig[i, k]
                    brow_s = bsig[k]
                    brow_m = bmeta[k]
                    for q in range(w):
                        bc, b_s, be = _meta(brow_m[j0 + q])
                        bm = brow_s[j0 + q]
                        if (ac | bc) != 0 or pnb > 0:
                            pc, ps, pm, pe = product(a_s, am, ae, ac, b_s, bm, be, bc, pnb, rne)
                        else:
                            pc, ps, pm, pe = FIN, a_s ^ b_s, am * bm, ae + be
                        tv[q], tt[q], tx[q] = _narrow_mac(tv[q], tt[q], tx[q], pc, ps, pm, pe,
                                                          W, D, M, bias, maxcode, rne, accp)
                for q in range(w):
                    c, s, m, e = _from_narrow(tv[q], tt[q], tx[q])
                    if L == 0:
                        oc[q], os_[q], om[q], oe[q] = c, s, m, e
                    else:
                        oc[q], os_[q], om[q], oe[q] = add_values(oc[q], os_[q], om[q], oe[q],
                                                                 c, s, m, e, outerp)
            for q in range(w):
                out[i, j0 + q] = _finish(oc[q], os_[q], om[q], oe[q], convert, outp)


def warm():
    """Compile (or load from the cache) every kernel: ``python -m macgen.golden_kernel``."""
    from .config import MACConfig
    from . import golden
    codes = np.zeros((8, 4), dtype=np.uint64)
    for cfg in (MACConfig("e5m2", "e5m2", "e6m9"), MACConfig("fp32", "fp32", "fp32")):
        golden.dot(cfg, codes, codes, backend="numba")
        golden.matmul(cfg, codes, codes.T.copy(), backend="numba")


if __name__ == "__main__":
    import time

    from macgen import golden_kernel   # the module golden uses, not this __main__ copy
    t0 = time.perf_counter()
    golden_kernel.warm()
    print(f"golden kernel ready ({time.perf_counter() - t0:.1f} s; cache {numba.config.CACHE_DIR})")
