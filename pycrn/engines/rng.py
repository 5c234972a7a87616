"""Per-trajectory random streams for the compiled engines.

Each trajectory owns a xoshiro256++ generator (Blackman & Vigna, "Scrambled
linear pseudorandom number generators", ACM TOMS 47, 2021), whose 256-bit
state is drawn from ``numpy.random.SeedSequence(seed).spawn(n)[i]``. A
trajectory's numbers therefore depend only on the seed and its index, never
on threads or chunking.

Why not numpy's own Generator: the engines run thousands of trajectories in
one nopython call, each with its own stream; a numpy Generator per trajectory
cannot live inside that loop, while a 4-word state can, and xoshiro256++ is
one of the fastest generators that pass BigCrush. Exponential waiting times
use the ziggurat method of G. Marsaglia and W. W. Tsang ("The ziggurat
method for generating random variables", J. Stat. Softw. 5(8), 2000) with
256 layers on 53-bit integers, as numpy's ``standard_exponential`` does: one
64-bit draw, a table look-up and a comparison in 98.9% of calls, instead of a
logarithm. The tables are built below and frozen into the compiled code.

The functions below are written in the numba subset and are pasted into each
generated engine module (see :mod:`pycrn.codegen`).
"""

from __future__ import annotations

import numpy as np

_MASK32 = np.uint64(0xFFFFFFFF)
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = 0xCA01F9DD, 0x4973F715
_POOL = 4


def _words(value: int) -> list[int]:
    """numpy's coercion of a non-negative integer to little-endian uint32 words."""
    out = []
    while True:
        out.append(value & 0xFFFFFFFF)
        value >>= 32
        if not value:
            return out


def _hashmix(value: np.ndarray, hash_const: list[int]) -> np.ndarray:
    value = (value ^ np.uint64(hash_const[0])) & _MASK32
    hash_const[0] = (hash_const[0] * _MULT_A) & 0xFFFFFFFF
    value = (value * np.uint64(hash_const[0])) & _MASK32
    return value ^ (value >> np.uint64(16))


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = (np.uint64(_MIX_L) * x - np.uint64(_MIX_R) * y) & _MASK32
    return result ^ (result >> np.uint64(16))


def seed_states(seed: int | np.random.SeedSequence | None, n: int, start: int = 0) -> np.ndarray:
    """xoshiro256++ states, shape (n, 4) uint64, for trajectories ``start .. start+n-1``.

    Trajectory ``i`` is seeded with ``SeedSequence(seed).spawn(...)[i].generate_state(4, uint64)``:
    numpy's algorithm (O'Neill's seed_seq hashing, frozen by numpy for
    reproducibility), vectorised over the children here because building
    one SeedSequence object per trajectory costs ~10 us each. The tests
    check it word for word against numpy.
    """
    ss = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    if ss.pool_size != _POOL:
        raise ValueError("only SeedSequence pools of the default size are supported")
    run = _words(int(ss.entropy)) if isinstance(ss.entropy, (int, np.integer)) else [
        w for e in ss.entropy for w in _words(int(e))
    ]
    run = run + [0] * max(0, _POOL - len(run))
    keys = [w for k in ss.spawn_key for w in _words(int(k))]
    index = np.arange(start, start + n, dtype=np.uint64)
    if start + n > 2**32:
        raise ValueError("at most 2**32 trajectories per seed")
    columns = [np.full(n, w, dtype=np.uint64) for w in run + keys] + [index]
    # mix_entropy
    hash_const = [_INIT_A]
    mixer = [_hashmix(columns[i], hash_const) for i in range(_POOL)]
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                mixer[i_dst] = _mix(mixer[i_dst], _hashmix(mixer[i_src], hash_const))
    for i_src in range(_POOL, len(columns)):
        for i_dst in range(_POOL):
            mixer[i_dst] = _mix(mixer[i_dst], _hashmix(columns[i_src], hash_const))
    # generate_state(4, uint64): 8 uint32 words from the pool, paired little-endian.
    hash_const_b = _INIT_B
    words = []
    for i_dst in range(8):
        value = mixer[i_dst % _POOL] ^ np.uint64(hash_const_b)
        hash_const_b = (hash_const_b * _MULT_B) & 0xFFFFFFFF
        value = (value * np.uint64(hash_const_b)) & _MASK32
        words.append(value ^ (value >> np.uint64(16)))
    states = np.empty((n, 4), dtype=np.uint64)
    for q in range(4):
        states[:, q] = words[2 * q] | (words[2 * q + 1] << np.uint64(32))
    # An all-zero state is the one fixed point of xoshiro; never let it through.
    states[~states.any(axis=1), 0] = np.uint64(0x9E3779B97F4A7C15)
    return states


def rng_next(s):
    """Next 64-bit output of xoshiro256++, advancing state ``s`` (uint64[4]) in place."""
    s0 = s[0]
    s1 = s[1]
    s2 = s[2]
    s3 = s[3]
    x = s0 + s3
    result = ((x << np.uint64(23)) | (x >> np.uint64(41))) + s0
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = (s3 << np.uint64(45)) | (s3 >> np.uint64(19))
    s[0] = s0
    s[1] = s1
    s[2] = s2
    s[3] = s3
    return result


def rng_uniform(s):
    """Uniform double in [0, 1) with 53 random bits."""
    return float(rng_next(s) >> np.uint64(11)) * 1.1102230246251565e-16


def _ziggurat_exponential_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Marsaglia-Tsang tables for the standard exponential, 256 layers, 53-bit draws."""
    m = 2.0**53
    r = 7.69711747013104972  # start of the tail
    v = 3.949659822581572e-3  # area of each layer
    ke = np.zeros(256, dtype=np.uint64)
    we = np.zeros(256)
    fe = np.zeros(256)
    q = v / np.exp(-r)
    ke[0] = np.uint64((r / q) * m)
    ke[1] = 0
    we[0] = q / m
    we[255] = r / m
    fe[0] = 1.0
    fe[255] = np.exp(-r)
    de = te = r
    for i in range(254, 0, -1):
        de = -np.log(v / de + np.exp(-de))
        ke[i + 1] = np.uint64((de / te) * m)
        te = de
        fe[i] = np.exp(-de)
        we[i] = de / m
    return ke, we, fe


ZIGGURAT_R = 7.69711747013104972
ZIG_KE, ZIG_WE, ZIG_FE = _ziggurat_exponential_tables()


def rng_exponential(s):
    """Standard exponential variate by the ziggurat method (Marsaglia & Tsang 2000)."""
    while True:
        ri = rng_next(s) >> np.uint64(3)
        idx = ri & np.uint64(0xFF)
        ri = ri >> np.uint64(8)
        x = float(ri) * ZIG_WE[idx]  # noqa: F821 (tables injected into the generated module)
        if ri < ZIG_KE[idx]:  # noqa: F821
            return x  # 98.9% of calls
        if idx == 0:
            # The tail beyond r is again exponential (memoryless): shift it.
            return ZIGGURAT_R - math.log(1.0 - rng_uniform(s))  # noqa: F821
        if (ZIG_FE[idx - 1] - ZIG_FE[idx]) * rng_uniform(s) + ZIG_FE[idx] < math.exp(-x):  # noqa: F821
            return x


def tables_source() -> str:
    """Source defining the ziggurat tables as module constants of a generated module."""
    return (
        f"ZIGGURAT_R = {ZIGGURAT_R!r}\n"
        f"ZIG_KE = np.array({[int(v) for v in ZIG_KE]!r}, dtype=np.uint64)\n"
        f"ZIG_WE = np.array({ZIG_WE.tolist()!r})\n"
        f"ZIG_FE = np.array({ZIG_FE.tolist()!r})\n"
    )


SOURCES = (tables_source(), rng_next, rng_uniform, rng_exponential)
