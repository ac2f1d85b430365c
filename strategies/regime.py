"""Regime detection per token and for the market: trending up/down, ranging, choppy, crisis.

From one-minute candles: ADX and DI (trend and its side), the choppiness index, the percentile of
current volatility against its own history, a fast drawdown (rug), and for the market the median
token's drawdown and spikes in cross-token return correlation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from strategies import indicators as ind
from strategies.base import clip, last
from strategies.config import REGIMES, RegimeConfig
from strategies.features import cached, candles, history
from strategies.stream.rows import count_below
from strategies.stream.state import Needs, StreamState
from strategies.types import MarketView


class Regimes:
    """Per-token regime labels and confidences (aligned with ``view.mints``) plus the market's.

    ``codes`` index ``REGIMES`` (what the ensemble gates on); ``labels`` are the names."""

    __slots__ = ("_labels", "codes", "confidence", "market", "market_confidence")

    def __init__(self, codes: np.ndarray, confidence: np.ndarray, market: str, market_confidence: float) -> None:
        self.codes = np.asarray(codes, dtype=np.int8)
        self.confidence = confidence
        self.market = market
        self.market_confidence = market_confidence
        self._labels: tuple[str, ...] | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        if self._labels is None:
            self._labels = tuple(_NAMES[self.codes].tolist())
        return self._labels

    def labels_lazy(self) -> Sequence[str]:
        """``labels`` as a sequence that names a token's regime only when it is read."""
        return _Labels(self.codes)


class _Labels(Sequence[str]):
    __slots__ = ("_codes",)

    def __init__(self, codes: np.ndarray) -> None:
        self._codes = codes

    def __len__(self) -> int:
        return len(self._codes)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return tuple(REGIMES[int(c)] for c in self._codes[i])
        return REGIMES[int(self._codes[i])]


_NAMES = np.array(REGIMES, dtype=object)
_CODE = {name: np.int8(i) for i, name in enumerate(REGIMES)}


def required_bars(cfg: RegimeConfig) -> int:
    return max(2 * cfg.adx_period, cfg.chop_period + 1, cfg.crisis_window_bars + 1)


def _mean_pairwise_correlation(r: np.ndarray, rows: np.ndarray) -> float:
    """Average correlation over pairs of the rows of ``r`` where ``rows`` (a mask) holds, leaving
    out rows with a NaN or an inf and rows of zero variance, in O(tokens x bars): with ``z`` each
    row standardised, the sum over pairs is ``(sum_t (sum_i z_it)^2 - m t) / 2``."""
    r = r[rows]  # a row with a NaN or an inf has a NaN variance: left out with the zero ones below
    t = r.shape[1]
    with np.errstate(invalid="ignore"):  # inf - inf in such a row
        dev = r - np.add.reduce(r, axis=1, keepdims=True) / t  # r.mean(axis=1, keepdims=True)
        sd = np.sqrt(np.einsum("ij,ij->i", dev, dev) / t)
    keep = sd > 0
    m = int(keep.sum())
    if m < 2:
        return 0.0
    if m < keep.shape[0]:
        dev, sd = dev[keep], sd[keep]
    col = np.einsum("it,i->t", dev, 1.0 / sd)  # sum_i z_it
    tot = float(np.dot(col, col))
    return (tot - m * t) / (m * (m - 1) * t)


def _median(x: np.ndarray) -> float:
    """``np.median`` of a 1-D array (its partition and mean of the middle two), without its checks."""
    n = x.shape[0]
    k = n // 2
    if n % 2:
        return float(np.partition(x, k)[k])
    p = np.partition(x, (k - 1, k))
    return float((p[k - 1] + p[k]) / 2)


def detect(view: MarketView, cfg: RegimeConfig, settle_periods: int) -> Regimes:
    """Regimes of every token of the view; recursive indicators use ``settle_periods`` x period bars."""
    return cached(view, ("regime", cfg, settle_periods), lambda: _detect(view, cfg, settle_periods))


def _unknown(n: int) -> Regimes:
    return Regimes(np.full(n, _CODE["unknown"]), np.zeros(n), "unknown", 0.0)


def _detect(view: MarketView, cfg: RegimeConfig, settle: int) -> Regimes:
    """The full-window reference: every input recomputed from the view's candles."""
    c = candles(view, 1)
    n = c.n_tokens
    if c.n_bars < required_bars(cfg) + 1:
        return _unknown(n)
    enough = history(c) >= required_bars(cfg) + 1
    t = cfg.adx_period * (settle + 2)
    adx, pdi, mdi = (last(x) for x in ind.adx_di(c.tm("high")[:, -t:], c.tm("low")[:, -t:],
                                                      c.tm("close")[:, -t:], cfg.adx_period))
    w = cfg.chop_period + 1
    chop = last(ind.choppiness(c.high[:, -w:], c.low[:, -w:], c.close[:, -w:], cfg.chop_period))
    # volatility: mean squared log return over vol_period, ranked against its own recent history
    tv = cfg.vol_history_bars + cfg.vol_period + 2
    tail = c.close[:, -max(tv, cfg.correlation_bars + 1):]
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.diff(np.log(np.where(tail > 0, tail, np.nan)), axis=1)
    var = ind.sma(lr[:, -(tv - 1):] ** 2, cfg.vol_period)
    hist_n = min(cfg.vol_history_bars, var.shape[1] - 1)
    win = c.close[:, -(cfg.crisis_window_bars + 1):]
    return classify(cfg, enough, adx, pdi, mdi, chop, lambda rows: _rank(var[rows, -hist_n - 1:-1], var[rows, -1]),
                    win[:, -1], np.fmax.reduce(win, axis=1), win[:, 0], lr[:, -cfg.correlation_bars:])


def _rank(past: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Share of the finite ``past`` values below ``now`` (NaN when none is finite). The values are
    variances (>= 0, +inf or NaN), so a value below ``now`` is always finite."""
    below = np.count_nonzero(past < now[:, None], axis=1)
    count = np.count_nonzero(np.isfinite(past), axis=1)
    return np.where(count > 0, below / np.maximum(count, 1), np.nan)


def _stream_chop(st: StreamState, n: int) -> np.ndarray:
    """``indicators.choppiness`` of the last ``n + 1`` bars at the newest one, from the state: the
    sum of the last ``n`` true ranges over the range of the last ``n`` highs and lows (carried in
    O(1); a window holding a NaN belongs to a token younger than ``n`` bars, which is NaN anyway)."""
    one = st.tf[1]
    m = st.minute
    s = one.sums[("tr", n)].value  # np.add.reduce(m.ring.last("tr", n), axis=1), carried
    rng = one.extremes[("high", n, True)].value - one.extremes[("low", n, False)].value
    pos = rng > 0
    # where the range is not positive the quotient is s / 1 (>= 0 or NaN: no warning), discarded
    out = np.where(pos, 100.0 * np.log10(np.maximum(s / np.where(pos, rng, 1.0), 1.0)) / np.log10(n), 100.0)
    out[np.isnan(s) | np.isnan(rng) | (m.age < n)] = np.nan
    return out


def classify(cfg: RegimeConfig, enough: np.ndarray, adx: np.ndarray, pdi: np.ndarray, mdi: np.ndarray,
             chop: np.ndarray, vol_rank: Callable[[np.ndarray], np.ndarray], close: np.ndarray, high: np.ndarray,
             first: np.ndarray, lr: np.ndarray) -> Regimes:
    """Labels from the per-token inputs: ADX/DI, choppiness, the volatility percentile
    (``vol_rank(rows)``: of the tokens ``rows``, an index array; called once, for the tokens whose
    label can be choppy or ranging), the newest close, the highest close and the first close of
    the crisis window, and the latest one-minute log returns (``lr``, for correlation). Shared by
    the full-window and the incremental path."""
    n = enough.shape[0]
    # crisis: fast drawdown from the window's high
    drop = 1.0 - close / high
    token_crisis = enough & (drop >= cfg.token_crisis_drop)
    ret = close / first - 1.0
    live = enough & np.isfinite(ret)
    market, mconf = "ranging", 0.5
    k = int(live.sum())
    if k >= 1:
        med = _median(ret[live])
        if med <= -cfg.market_crisis_drop:
            market, mconf = "crisis", min(1.0, med / -cfg.market_crisis_drop / 2 + 0.5)
        # the correlation decides only a falling market short of the crisis drop: computed there
        elif med < 0 and k >= cfg.min_market_tokens and \
                (corr := _mean_pairwise_correlation(lr, live)) >= cfg.correlation_spike:
            market, mconf = "crisis", min(1.0, corr)
        else:
            market, mconf = "ranging" if abs(med) < cfg.market_crisis_drop / 3 else (
                "trending_up" if med > 0 else "trending_down"), 0.5
    with np.errstate(invalid="ignore"):
        chop_high = chop >= cfg.chop_choppy
        trending = (adx >= cfg.adx_trend) & ~chop_high
    crisis = token_crisis | (market == "crisis")
    unknown = ~enough | ~np.isfinite(adx)
    unknown &= ~crisis
    # the volatility percentile decides only labels and confidences that trending, crisis and
    # unknown do not override (NaN elsewhere: read by nothing)
    vol_pct = np.full(n, np.nan)
    rows = np.flatnonzero(~(trending | crisis | unknown))
    if rows.size:
        vol_pct[rows] = vol_rank(rows)
    with np.errstate(invalid="ignore"):
        choppy = chop_high | (vol_pct >= cfg.vol_high_percentile)
    codes = np.full(n, _CODE["ranging"])
    conf = clip((cfg.adx_trend - adx) / cfg.adx_trend + 0.5, 0.2, 1.0)
    codes[choppy] = _CODE["choppy"]
    conf = np.where(choppy, clip(np.maximum(chop / 100, vol_pct), 0.5, 1.0), conf)
    codes[trending & (pdi >= mdi)] = _CODE["trending_up"]
    codes[trending & (pdi < mdi)] = _CODE["trending_down"]
    conf = np.where(trending, clip(adx / (2 * cfg.adx_trend), 0.5, 1.0), conf)
    codes[crisis] = _CODE["crisis"]
    conf = np.where(token_crisis, clip(drop / cfg.token_crisis_drop / 2 + 0.5, 0, 1),
                    np.where(crisis, mconf, conf))
    codes[unknown] = _CODE["unknown"]
    conf = np.where(unknown, 0.0, conf)
    conf = np.where(np.isnan(conf), 0.0, conf)  # conf is clipped: no inf to map
    return Regimes(codes, conf, market, float(mconf))


def needs(need: Needs, cfg: RegimeConfig) -> None:
    """What the incremental path carries for ``stream_detect``."""
    t = need.on(1)
    t.adx.add(cfg.adx_period)
    t.extremes.update({("high", cfg.chop_period, True), ("low", cfg.chop_period, False),
                       ("close", cfg.crisis_window_bars + 1, True)})
    t.sums.add(("tr", cfg.chop_period))
    t.window(max(cfg.chop_period + 1, cfg.crisis_window_bars + 1, cfg.correlation_bars, cfg.vol_period))
    key = ("lr2", cfg.vol_period)
    t.means[key] = max(t.means.get(key, 1), cfg.vol_history_bars + 1)


def stream_detect(st: StreamState, view: MarketView, cfg: RegimeConfig) -> Regimes:
    """``detect`` from the incremental state (the same values; ADX carried bar by bar)."""
    n = st.n
    if view.candles.n_bars < required_bars(cfg) + 1:
        return _unknown(n)
    one = st.tf[1]
    m = st.minute
    enough = m.history(view.candles.n_bars) >= required_bars(cfg) + 1
    a = one.adx[cfg.adx_period]
    ring = m.ring
    chop = _stream_chop(st, cfg.chop_period)
    mean = one.means[("lr2", cfg.vol_period)]
    var = mean.history.last(cfg.vol_history_bars + 1)  # time-major: (bars, tokens)

    def vol_rank(rows: np.ndarray) -> np.ndarray:
        # a value below the newest is finite (variances: >= 0, +inf or NaN)
        below = count_below(var[:, rows])
        count = mean.finite[rows] - np.isfinite(var[-1, rows])  # finite values among the past ones
        return np.where(count > 0, below / np.maximum(count, 1), np.nan)
    # the crisis window's high: NaN-propagating where the reference skips NaN, which differs only
    # for tokens younger than the window, never ``enough``
    w = cfg.crisis_window_bars + 1
    return classify(cfg, enough, a.adx, a.pdi, a.mdi, chop, vol_rank, m.close, one.extremes[("close", w, True)].value,
                    ring.lag("close", cfg.crisis_window_bars), ring.last("lr", cfg.correlation_bars))
