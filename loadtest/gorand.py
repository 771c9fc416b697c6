"""Go's ``math/rand`` (the pre-1.20 seeded global source TSBS uses), reproduced bit for bit, vectorised.

The source is an additive lagged Fibonacci generator over 607 words with tap 273 (tsbs.md §1.6): output k
is ``out[k-607] + out[k-273]`` (mod 2**64), so 273 outputs at a time depend only on earlier ones and are
computed as one numpy step. ``NormFloat64`` is Marsaglia and Tsang's ziggurat with Go's tables: each attempt
takes one word and ~99 % accept on that word alone, so the accepting attempts of a block are computed
column-wise and only the rare rest (the wedge test, the tail) walks word by word, as Go does.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from loadtest.gorand_tables import FN, KN, RNG_COOKED, WN

RNG_LEN = 607
RNG_TAP = 273
INT32_MAX = (1 << 31) - 1
MASK63 = (1 << 63) - 1
RN = 3.442619855899
_KN = np.array(KN, dtype=np.int64)
_WN = np.array(WN, dtype=np.float32).astype(np.float64)
_FN = np.array(FN, dtype=np.float32)
_MARGIN = 64  # words kept beyond a block's attempts, for a slow attempt's extra draws


def _seedrand(x: int) -> int:
    """x[n+1] = 48271 * x[n] mod (2**31 - 1), Schrage's method in int32 as Go computes it."""
    hi, lo = int(x / 44488), x - int(x / 44488) * 44488  # Go's / and % truncate toward zero
    x = 48271 * lo - 3399 * hi
    return x + INT32_MAX if x < 0 else x


class GoRand:
    """A ``rand.New(rand.NewSource(seed))``: Int63, Float64, Intn, Int63n and NormFloat64 draws."""

    def __init__(self, seed: int) -> None:
        seed %= INT32_MAX  # Python's % is never negative here, as Go's adjusted result
        if seed == 0:
            seed = 89482311
        vec = np.zeros(RNG_LEN, dtype=np.uint64)
        x = seed
        for i in range(-20, RNG_LEN):
            x = _seedrand(x)
            if i >= 0:
                u = x << 40
                x = _seedrand(x)
                u ^= x << 20
                x = _seedrand(x)
                u ^= x
                u ^= RNG_COOKED[i]
                vec[i] = u & ((1 << 64) - 1)
        self._vec = vec
        self._tap = 0
        self._feed = RNG_LEN - RNG_TAP
        self._buffer = np.zeros(0, dtype=np.int64)  # words drawn ahead, not yet used

    # -- the raw stream --------------------------------------------------------------------------------
    def _generate(self, n: int) -> npt.NDArray[np.int64]:
        """The next n Int63 values of the source (bypassing the buffer)."""
        out = np.empty(n, dtype=np.uint64)
        done = 0
        with np.errstate(over="ignore"):
            while done < n:
                m = min(RNG_TAP, n - done)
                steps = np.arange(1, m + 1)
                feed = (self._feed - steps) % RNG_LEN
                tap = (self._tap - steps) % RNG_LEN
                x = self._vec[feed] + self._vec[tap]
                self._vec[feed] = x
                out[done:done + m] = x
                self._feed = int(feed[-1])
                self._tap = int(tap[-1])
                done += m
        words: npt.NDArray[np.int64] = (out & np.uint64(MASK63)).astype(np.int64)
        return words

    def int63_block(self, n: int) -> npt.NDArray[np.int64]:
        """The next n Int63 draws."""
        have = self._buffer[:n]
        self._buffer = self._buffer[n:]
        if len(have) == n:
            return have
        return np.concatenate([have, self._generate(n - len(have))])

    def _ahead(self, n: int) -> npt.NDArray[np.int64]:
        """At least n upcoming words without using them up."""
        if len(self._buffer) < n:
            self._buffer = np.concatenate([self._buffer, self._generate(max(n - len(self._buffer), 4096))])
        return self._buffer

    def int63(self) -> int:
        return int(self.int63_block(1)[0])

    # -- derived draws, as Go's rand.Rand --------------------------------------------------------------
    def float64(self) -> float:
        while True:
            f = float(np.float64(self.int63()) / float(1 << 63))
            if f != 1.0:
                return f

    def int31(self) -> int:
        return self.int63() >> 32

    def int31n(self, n: int) -> int:
        return _below(n, self.int31, 31)

    def intn(self, n: int) -> int:
        return self.int31n(n)  # every n used here is below 2**31

    def int63n(self, n: int) -> int:
        return _below(n, self.int63, 63)

    def norm_float64(self) -> float:
        """One NormFloat64, word by word as Go draws it (the reference the block version must equal)."""
        while True:
            j = int(np.uint32(self.int63() >> 31).view(np.int32))
            i = j & 0x7F
            x = float(j) * float(_WN[i])
            if abs(j) < KN[i]:
                return x
            if i == 0:
                while True:
                    x = -math.log(self.float64()) * (1.0 / RN)
                    y = -math.log(self.float64())
                    if y + y >= x * x:
                        break
                return RN + x if j > 0 else -RN - x
            if _FN[i] + np.float32(self.float64()) * (_FN[i - 1] - _FN[i]) < np.float32(math.exp(-0.5 * x * x)):
                return x

    def norm_float64s(self, n: int) -> npt.NDArray[np.float64]:
        """The next n NormFloat64 draws."""
        out = np.empty(n, dtype=np.float64)
        filled = 0
        while filled < n:
            words = self._ahead(int((n - filled) * 1.05) + 2 * _MARGIN)
            j = (words >> 31).astype(np.uint32).view(np.int32).astype(np.int64)  # int32(Uint32())
            i = j & 0x7F
            value = j.astype(np.float64) * _WN[i]
            slow = np.flatnonzero(np.abs(j) >= _KN[i])  # attempts the quick test does not settle
            limit = len(words) - _MARGIN  # room for the words a slow attempt may take
            pos = 0
            while filled < n and pos < limit:
                s = int(np.searchsorted(slow, pos))
                k = min(int(slow[s]) if s < len(slow) else limit, limit)
                take = min(k - pos, n - filled)
                out[filled:filled + take] = value[pos:pos + take]
                filled += take
                pos += take
                if filled == n or pos >= limit:
                    break
                used, result = self._slow_attempt(words, pos)
                pos += used
                if result is not None:
                    out[filled] = result
                    filled += 1
            self._buffer = words[pos:]
        return out

    def _slow_attempt(self, words: npt.NDArray[np.int64], pos: int) -> tuple[int, float | None]:
        """One attempt whose word failed the quick test: (words used, the normal or None to try again)."""
        j = int(np.uint32(words[pos] >> 31).view(np.int32))
        i = j & 0x7F
        x = float(j) * float(_WN[i])
        p = pos + 1
        if i == 0:  # the tail
            while True:
                f1, p = _float64_at(words, p)
                f2, p = _float64_at(words, p)
                x = -math.log(f1) * (1.0 / RN)
                y = -math.log(f2)
                if y + y >= x * x:
                    break
            return p - pos, RN + x if j > 0 else -RN - x
        f, p = _float64_at(words, p)
        wedge = _FN[i] + np.float32(f) * (_FN[i - 1] - _FN[i])
        if wedge < np.float32(math.exp(-0.5 * x * x)):
            return p - pos, x
        return p - pos, None


def _below(n: int, draw: Callable[[], int], bits: int) -> int:
    """Go's Int31n / Int63n: a mask for a power of two, else redraw above the last whole multiple of n."""
    if n & (n - 1) == 0:
        return draw() & (n - 1)
    top = (1 << bits) - 1 - (1 << bits) % n
    v = draw()
    while v > top:
        v = draw()
    return v % n


def _float64_at(words: npt.NDArray[np.int64], pos: int) -> tuple[float, int]:
    """Go's Float64 from the words at pos (redrawn on 1.0); returns it and the position after it."""
    while True:
        f = float(np.float64(words[pos]) / float(1 << 63))
        pos += 1
        if f != 1.0:
            return f, pos
