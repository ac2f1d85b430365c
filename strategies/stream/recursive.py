"""Indicators carried bar by bar: O(1) per token per bar, vectorised across tokens.

Each family replays exactly the arithmetic of its full-window counterpart in
``strategies.indicators`` (TA-Lib seeds and warm-up, the same operations in the same order), so
the values are the reference's bit for bit: a seed is the same numpy sum of the same values
(taken from the source's ring when the token reaches its seed bar), a recursion step is the same
multiply-then-add. NaN until a token's seed bar, as in the reference. Steps run under ``StreamState.step``'s
``np.errstate`` (invalid and divide ignored: NaN and inf are values here, as in the reference).

A *source* is ``strategies.stream.bars.Minute`` or ``Coarse``: it exposes the newest cleaned bar
(``close``, ``high``, ``low``, ``prev_*``, ``tr``), its ``ring`` and each token's ``age``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from strategies.stream.bars import true_range
from strategies.stream.rows import PerRow, Ring, TimeRing, sum_rows


def _seeding(src: Any, at: int) -> np.ndarray:
    """Tokens whose seed bar (``at`` bars after their first valid close) is this bar."""
    return src.seeding(at)


class Emas(PerRow):
    """EMAs of the close for several periods at once (``indicators.emas``): ``k = 2/(n+1)``,
    seeded with the SMA of the first ``n`` closes. ``value`` is ``(tokens, periods)``; ``prev``
    holds the values of the bar before."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"value": np.nan, "prev": np.nan}

    def __init__(self, n: int, periods: tuple[int, ...]) -> None:
        self.periods = tuple(periods)
        ks = [2.0 / (p + 1) for p in self.periods]
        self.k = np.array(ks)
        self.b = np.array([1.0 - k for k in ks])
        self.value = np.full((n, len(self.periods)), np.nan)
        self.prev = self.value.copy()

    def step(self, src: Any) -> None:
        self.prev = self.value
        v = self.value * self.b
        v += src.close[:, None] * self.k
        for i, p in enumerate(self.periods):
            r = _seeding(src, p - 1)
            if r.size:
                v[r, i] = src.ring.last("close", p)[r].sum(axis=1) / p
        self.value = v


class Rsi(PerRow):
    """Wilder averages of gains and losses (``indicators.rsi``), seeded at bar ``n`` with the mean
    of the first ``n`` gains/losses."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"avg": np.nan}

    def __init__(self, n: int, period: int) -> None:
        self.n = int(period)
        self.b = (self.n - 1) / self.n
        self.avg = np.full((n, 2), np.nan)  # gains, losses

    def step(self, src: Any) -> None:
        d = src.close - src.prev_close
        x = np.empty((d.shape[0], 2))
        np.maximum(d, 0.0, out=x[:, 0])
        np.negative(d, out=x[:, 1])
        np.maximum(x[:, 1], 0.0, out=x[:, 1])
        x /= self.n
        avg = self.avg * self.b
        avg += x
        r = _seeding(src, self.n)
        if r.size:
            dd = np.diff(src.ring.last("close", self.n + 1)[r], axis=1)
            g = np.maximum(dd, 0.0)
            lo = np.negative(dd)
            np.maximum(lo, 0.0, out=lo)
            avg[r, 0] = g.sum(axis=1) / self.n
            avg[r, 1] = lo.sum(axis=1) / self.n
        self.avg = avg

    def value(self) -> np.ndarray:
        g, lo = self.avg[:, 0], self.avg[:, 1]
        tot = g + lo
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(tot > 0, 100.0 * g / np.where(tot > 0, tot, 1.0), 0.0)
        out[np.isnan(tot)] = np.nan
        return out


def _ring_tr(src: Any, rows: np.ndarray, bars: int) -> np.ndarray:
    """True ranges of the last ``bars`` bars of tokens ``rows``, from the source's ring."""
    ring = src.ring
    h = ring.last("high", bars + 1)[rows]
    lo = ring.last("low", bars + 1)[rows]
    c = ring.last("close", bars + 1)[rows]
    return true_range(h[:, 1:], lo[:, 1:], c[:, :-1])


class EmaAtr(PerRow):
    """``indicators.ema_atr``: EMA of the close and Wilder ATR of one period, with the last
    ``keep`` values of each (``e_hist``, ``a_hist``) and the last ``ranked`` of ATR / close
    (``atrn``: the series a strategy ranks its newest value in, ``rows.count_below``) in
    time-major ``TimeRing``s: a window of every token is one contiguous ``(bars, tokens)`` block."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"e": np.nan, "a": np.nan}

    def __init__(self, n: int, period: int, keep: int, ranked: int) -> None:
        self.n = int(period)
        self.k = 2.0 / (self.n + 1)
        self.be, self.ba = 1.0 - self.k, (self.n - 1) / self.n
        self.e = np.full(n, np.nan)
        self.a = np.full(n, np.nan)
        self.e_hist, self.a_hist = TimeRing(n, keep), TimeRing(n, keep)
        self.atrn = TimeRing(n, ranked)



    def step(self, src: Any, step: int) -> None:
        e = self.e * self.be
        e += self.k * src.close
        a = self.a * self.ba
        a += src.tr / self.n
        r = _seeding(src, self.n - 1)
        if r.size:
            e[r] = src.ring.last("close", self.n)[r].sum(axis=1) / self.n
        r = _seeding(src, self.n)
        if r.size:
            a[r] = _ring_tr(src, r, self.n).sum(axis=1) / self.n
        self.e, self.a = e, a
        for ring in (self.e_hist, self.a_hist, self.atrn):
            ring.advance(step)
        self.e_hist.put(e)
        self.a_hist.put(a)
        self.atrn.put(a / src.close)


def _dm(h: np.ndarray, lo: np.ndarray, ph: np.ndarray, plo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """+DM and -DM as ``indicators._dm_tr_tm`` computes them."""
    up = h - ph
    dn = plo - lo
    zero = up + dn
    zero -= zero
    pdm = np.multiply(up, up > np.maximum(dn, 0.0))
    pdm += zero
    mdm = np.multiply(dn, dn > np.maximum(up, 0.0))
    mdm += zero
    return pdm, mdm


class Adx(PerRow):
    """``indicators.adx_di``: Wilder sums of +DM, -DM and TR (seeded at bar ``n - 1`` with the
    plain sum of bars ``1..n-1``), the DIs from bar ``n``, and ADX seeded at bar ``2n - 1`` with
    the mean DX of bars ``n..2n-1``, then Wilder-smoothed (an undefined DX leaves it unchanged)."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"sums": np.nan, "adx": np.nan, "pdi": np.nan, "mdi": np.nan}

    def __init__(self, n: int, period: int) -> None:
        self.n = int(period)
        self.b = 1.0 - 1.0 / self.n
        self.bx = (self.n - 1) / self.n
        self.sums = np.full((n, 3), np.nan)
        self.adx = np.full(n, np.nan)
        self.pdi = np.full(n, np.nan)
        self.mdi = np.full(n, np.nan)
        self.dx = Ring(n, ("dx",), self.n)


    def step(self, src: Any, step: int) -> None:
        n = self.n
        pdm, mdm = _dm(src.high, src.low, src.prev_high, src.prev_low)
        s = self.sums * self.b
        s[:, 0] += pdm
        s[:, 1] += mdm
        s[:, 2] += src.tr
        r = _seeding(src, n - 1)
        if r.size:
            ring = src.ring
            h, lo, c = (ring.last(k, n)[r] for k in ("high", "low", "close"))
            p, m = _dm(h[:, 1:], lo[:, 1:], h[:, :-1], lo[:, :-1])
            s[r, 0] = p.sum(axis=1)
            s[r, 1] = m.sum(axis=1)
            s[r, 2] = true_range(h[:, 1:], lo[:, 1:], c[:, :-1]).sum(axis=1)
        self.sums = s
        sp, sm, st = s[:, 0], s[:, 1], s[:, 2]
        nz = st != 0
        den = np.where(nz, st, 1.0)
        pdi = np.where(nz, 100.0 * sp / den, 0.0)
        mdi = np.where(nz, 100.0 * sm / den, 0.0)
        if r.size:
            pdi[r] = np.nan
            mdi[r] = np.nan
        tot = pdi + mdi
        defined = tot > 0
        dxv = np.abs(pdi - mdi)
        dxv *= 100.0
        dxv /= np.where(defined, tot, 1.0)
        self.dx.advance(step)
        self.dx.put("dx", dxv)
        a = self.adx * np.where(defined, self.bx, 1.0)
        a += np.where(defined, dxv / n, 0.0)
        r = _seeding(src, 2 * n - 1)
        if r.size:
            a[r] = self.dx.last("dx", n)[r].sum(axis=1) / n
        a[np.isnan(dxv)] = np.nan
        self.adx, self.pdi, self.mdi = a, pdi, mdi


class MeanVar(PerRow):
    """Rolling mean and population standard deviation of the close over ``period`` bars, as
    ``indicators.bollinger``/``zscore`` compute them (the window's pairwise sum / n; two-pass
    variance per window), with the last ``keep`` values of each in time-major ``TimeRing``s
    (``mid``, ``sd``: a window of every token is one contiguous ``(bars, tokens)`` block). A small
    recompute: O(period)."""

    def __init__(self, n: int, period: int, keep: int) -> None:
        self.n = int(period)
        self.mid, self.sd = TimeRing(n, keep), TimeRing(n, keep)


    def step(self, src: Any, step: int) -> None:
        n = self.n
        w = src.ring.last("close", n)
        mid = np.add.reduce(w, axis=1) / n  # also what ``w.mean(axis=1)`` computes (the same sum, / n)
        dev = w - mid[:, None]
        var = np.einsum("ij,ij->i", dev, dev) / n
        self.mid.advance(step)
        self.sd.advance(step)
        self.mid.put(mid)
        self.sd.put(np.sqrt(var))


class RollingMean(PerRow):
    """Rolling mean of a source column (``src.newest(column)``) over ``period`` bars (``indicators.sma``: the window's sum / n,
    bit for bit: ``rows.sum_rows`` of the column's last ``period`` values, kept time-major in
    ``values``), with the last ``keep + 1`` means in a time-major ``TimeRing`` (``history``: the
    series the regime ranks its newest value in, ``rows.count_below``) and how many of the last
    ``keep`` are finite (``finite``)."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"finite": 0}

    def __init__(self, n: int, column: str, period: int, keep: int) -> None:
        self.column, self.n, self.keep = column, int(period), int(keep)
        self.values = TimeRing(n, self.n)
        self.history = TimeRing(n, self.keep + 1)
        self.finite = np.zeros(n, dtype=np.int64)


    def step(self, src: Any, step: int) -> None:
        v = self.values
        v.advance(step)
        v.put(src.newest(self.column))
        mean = sum_rows(v.last(self.n)) / self.n
        h = self.history
        h.advance(step)
        self.finite = self.finite + np.isfinite(mean) - np.isfinite(h.lag(self.keep))
        h.put(mean)


class RollingExtreme(PerRow):
    """Highest (``np.maximum``) or lowest value of a ring column over the last ``period`` bars, in
    O(1) per bar (van Herk / Gil-Werman): bars fall in blocks of ``period`` (by absolute index),
    and a window is the suffix of the previous block (its suffix extremes computed once, when the
    block completes) and the prefix of the current one (a running extreme). Exact, and NaN
    anywhere in the window gives NaN, as ``np.max``/``np.min`` do. ``value`` ends at the newest
    bar, ``prev`` at the bar before."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"prefix": np.nan, "suffix": np.nan, "value": np.nan,
                                                      "prev": np.nan}

    def __init__(self, n: int, column: str, period: int, highest: bool) -> None:
        self.column, self.n = column, int(period)
        self.fn = np.maximum if highest else np.minimum
        self.acc = np.maximum.accumulate if highest else np.minimum.accumulate
        self.prefix = np.full(n, np.nan)
        self.suffix = np.full((n, self.n + 1), np.nan)  # suffix[:, i]: extreme of block bars i..n-1
        self.value = np.full(n, np.nan)
        self.prev = np.full(n, np.nan)

    def step(self, src: Any, step: int) -> None:
        x = src.ring.lag(self.column, 0)
        p = step % self.n
        self.prefix = x.copy() if p == 0 else self.fn(self.prefix, x)
        self.prev = self.value
        if p == self.n - 1:
            self.value = self.prefix
            block = src.ring.last(self.column, self.n)
            suffix = np.empty_like(self.suffix)
            suffix[:, :-1] = self.acc(block[:, ::-1], axis=1)[:, ::-1]
            suffix[:, -1] = np.nan
            self.suffix = suffix
        else:
            self.value = self.fn(self.suffix[:, p + 1], self.prefix)


class Pivots(PerRow):
    """Swing highs and lows (``pattern_recognition``): bar ``j`` is a pivot high when its high is
    at least the highest of bars ``j-k..j+k`` (``np.max``: NaN in the span means no pivot), known
    ``k`` bars later. The flags of the last ``keep`` bars that can be known are kept (newest: the
    bar ``k`` before the newest)."""

    def __init__(self, n: int, k: int, keep: int) -> None:
        self.k = int(k)
        self.ring = Ring(n, ("high", "low"), keep)


    def step(self, src: Any, step: int) -> None:
        k, w = self.k, 2 * self.k + 1
        r = src.ring
        ph = r.lag("high", k) >= np.max(r.last("high", w), axis=1)
        pl = r.lag("low", k) <= np.min(r.last("low", w), axis=1)
        self.ring.advance(step)
        self.ring.put("high", ph)
        self.ring.put("low", pl)

    def flags(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Pivot high/low flags of the last ``n`` knowable bars (bool, oldest first)."""
        return self.ring.last("high", n) > 0, self.ring.last("low", n) > 0


class FiniteCount(PerRow):
    """How many of the last ``window`` values of a ring column are finite (exact, O(1) per bar)."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"count": 0}

    def __init__(self, n: int, column: str, window: int) -> None:
        self.column, self.window = column, int(window)
        self.count = np.zeros(n, dtype=np.int64)

    def step(self, src: Any, step: int) -> None:
        r = src.ring
        self.count = self.count + np.isfinite(r.lag(self.column, 0)) - np.isfinite(r.lag(self.column, self.window))


class WindowSum(PerRow):
    """Sum of the last ``period`` values of a source column (``src.newest(column)``, bar after
    bar), bit for bit the token-major ``np.add.reduce`` of that window (``rows.sum_rows``), from
    the column's values kept time-major (``values``, a ``TimeRing``); NaN while the window holds a
    NaN (a token younger than ``period`` bars among them)."""

    _rows: ClassVar[dict[str, float | int | bool]] = {"value": np.nan}

    def __init__(self, n: int, column: str, period: int) -> None:
        self.column, self.n = column, int(period)
        self.values = TimeRing(n, self.n)
        self.value = np.full(n, np.nan)


    def step(self, src: Any, step: int) -> None:
        v = self.values
        v.advance(step)
        v.put(src.newest(self.column))
        self.value = sum_rows(v.last(self.n))
