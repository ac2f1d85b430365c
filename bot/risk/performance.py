"""Performance statistics a quant can use: pure functions over an equity curve and closed trades.

One set of functions serves the backtest report, ``solbot status``, Telegram ``/profit`` and the
status facade, so a paper or live ledger gets the same lifetime figures as a backtest.

- **Sharpe and Sortino from daily returns.** The equity curve is cut into UTC days (the last point
  of each day), returns are day over day, annualised with 365 days (crypto trades every day).
  Under seven days of data they are not computed: ``None``, with the reason in ``notes``. A
  per-minute ratio annualised by ``sqrt(525600)`` is noise, not a statistic.
- **The per-trade view.** Per closed position: mean and median PnL, win rate, payoff ratio
  (average win / average loss), profit factor, and the expectancy in R, where R is the position's
  initial risk: what it would have lost exiting at its initial stop (the swap leg's move from the
  entry price to the stop, plus the entry's fees and rent).
- **Bootstrap 95% intervals** (seeded, deterministic): the total return by a circular block
  bootstrap of the per-cycle equity returns (blocks keep the serial dependence of held positions),
  the expectancy by resampling the trades' R multiples.

The inputs are read by attribute, shaped like the ledger's typed rows (``bot.ledger.rows``:
``EquityRow``, ``PositionRow``, ``TradeRow``); this module does not import the ledger (it sits
beside it in the layers).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from bot.risk.analytics import max_drawdown
from chain.types import LAMPORTS_PER_SOL, Side

DAY = 86_400
MIN_DAYS_FOR_RATIOS = 7.0
DAYS_PER_YEAR = 365
MIN_TRADES_FOR_CI = 5
BOOTSTRAP_RESAMPLES = 2_000
BOOTSTRAP_SEED = 0


# -- inputs (read by attribute) ------------------------------------------------------------------


class EquityPoint(Protocol):
    @property
    def ts(self) -> int: ...
    @property
    def equity_sol(self) -> float: ...


class ClosedPosition(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def closed_at(self) -> int | None: ...
    @property
    def pnl_lamports(self) -> int: ...
    @property
    def total_cost_lamports(self) -> int: ...
    @property
    def entry_price_usd(self) -> float: ...
    @property
    def stop_price_usd(self) -> float: ...


class _FillLike(Protocol):
    @property
    def side(self) -> Side: ...
    @property
    def fees_lamports(self) -> int: ...


class BookedFill(Protocol):
    @property
    def position_id(self) -> int: ...
    @property
    def fill(self) -> _FillLike: ...


# -- values ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Interval:
    """A bootstrap percentile interval."""

    low: float
    high: float
    level: float = 0.95
    resamples: int = BOOTSTRAP_RESAMPLES
    seed: int = BOOTSTRAP_SEED


@dataclass(frozen=True, slots=True)
class RoundTrip:
    """One closed position: its net PnL and its initial risk (R), both in lamports."""

    position_id: int
    closed_at: int
    pnl_lamports: int
    risk_lamports: int  # 0 when the position carried no usable stop

    @property
    def r_multiple(self) -> float | None:
        return self.pnl_lamports / self.risk_lamports if self.risk_lamports > 0 else None


@dataclass(frozen=True, slots=True)
class TradeStats:
    """The per-trade view over closed positions. ``None`` fields are explained in
    ``Performance.notes``."""

    closed: int
    wins: int
    losses: int
    win_rate: float | None
    mean_pnl_sol: float | None
    median_pnl_sol: float | None
    payoff_ratio: float | None  # average win / average loss (absolute)
    profit_factor: float | None  # gross profit / gross loss
    expectancy_r: float | None  # mean PnL in units of the position's initial risk
    median_r: float | None


@dataclass(frozen=True, slots=True)
class Performance:
    """Lifetime performance of an equity curve and its closed trades."""

    start_ts: int | None
    end_ts: int | None
    span_days: float
    initial_equity_sol: float
    final_equity_sol: float
    total_return: float
    max_drawdown: float
    daily_returns: int  # how many UTC-day returns the ratios rest on
    sharpe: float | None  # daily, annualised with 365 days
    sortino: float | None
    trades: TradeStats
    total_return_ci: Interval | None
    expectancy_r_ci: Interval | None
    notes: dict[str, str] = field(default_factory=dict)  # field -> why it is None

    def note(self, name: str) -> str:
        return self.notes.get(name, "")


# -- daily ratios ----------------------------------------------------------------------------------


def daily_equity(ts: Sequence[int], equity: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """(UTC day numbers, equity at the last point of each day), for a curve sorted by time."""
    t = np.asarray(ts, dtype=np.int64)
    e = np.asarray(equity, dtype=float)
    if t.size == 0:
        return t, e
    days = t // DAY
    last = np.flatnonzero(np.append(days[1:] != days[:-1], True))
    return days[last], e[last]


def daily_returns(ts: Sequence[int], equity: Sequence[float], initial_equity: float | None = None) -> np.ndarray:
    """Day-over-day returns of the equity at each UTC day's close. With ``initial_equity`` the
    first day's return is measured from it (the equity before the first point)."""
    _, e = daily_equity(ts, equity)
    if initial_equity is not None and e.size:
        e = np.insert(e, 0, initial_equity)
    if e.size < 2:
        return np.empty(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = e[1:] / e[:-1] - 1.0
    return r[np.isfinite(r)]


def annualised_sharpe(daily: Sequence[float]) -> float | None:
    """Mean over standard deviation (ddof 1) of daily returns, times sqrt(365); None when the
    returns do not vary (or there are fewer than two)."""
    r = np.asarray(daily, dtype=float)
    if r.size < 2:
        return None
    sd = float(np.std(r, ddof=1))
    return None if sd == 0 else float(np.mean(r)) / sd * math.sqrt(DAYS_PER_YEAR)


def annualised_sortino(daily: Sequence[float]) -> float | None:
    """Mean daily return over the downside deviation (root mean square of the losses, target 0),
    times sqrt(365); None without a losing day."""
    r = np.asarray(daily, dtype=float)
    if r.size < 2:
        return None
    dd = math.sqrt(float(np.mean(np.minimum(r, 0.0) ** 2)))
    return None if dd == 0 else float(np.mean(r)) / dd * math.sqrt(DAYS_PER_YEAR)


# -- per trade -------------------------------------------------------------------------------------


def round_trips(positions: Iterable[ClosedPosition], fills: Iterable[BookedFill] = ()) -> list[RoundTrip]:
    """Closed positions as round trips with their initial risk. ``fills`` (the ledger's trade rows)
    give each position's entry fees; without them R is the swap leg's move to the stop alone."""
    entry_fees: dict[int, int] = {}
    for t in fills:
        if t.fill.side is Side.BUY:
            entry_fees[t.position_id] = entry_fees.get(t.position_id, 0) + t.fill.fees_lamports
    out = []
    for p in positions:
        if p.closed_at is None:
            continue
        fees = entry_fees.get(p.id, 0)
        risk = 0
        if p.entry_price_usd > 0 and 0 < p.stop_price_usd < p.entry_price_usd:
            stop_fraction = 1.0 - p.stop_price_usd / p.entry_price_usd
            risk = round((p.total_cost_lamports - fees) * stop_fraction) + fees
        out.append(RoundTrip(p.id, int(p.closed_at), int(p.pnl_lamports), max(0, risk)))
    return sorted(out, key=lambda r: (r.closed_at, r.position_id))


def trade_stats(trips: Sequence[RoundTrip], notes: dict[str, str] | None = None) -> TradeStats:
    notes = notes if notes is not None else {}
    pnl = np.array([t.pnl_lamports for t in trips], dtype=float) / LAMPORTS_PER_SOL
    rs = np.array([r for r in (t.r_multiple for t in trips) if r is not None], dtype=float)
    wins, losses = pnl[pnl > 0], pnl[pnl <= 0]
    n = len(trips)
    if n == 0:
        for k in ("win_rate", "mean_pnl_sol", "median_pnl_sol", "payoff_ratio", "profit_factor", "expectancy_r",
                  "median_r"):
            notes[k] = "no closed trade"
        return TradeStats(0, 0, 0, None, None, None, None, None, None, None)
    gross_loss = -float(losses.sum())
    payoff = None
    if not wins.size:
        notes["payoff_ratio"] = "no winning trade"
    elif not losses.size or gross_loss == 0:
        notes["payoff_ratio"] = "no losing trade"
    else:
        payoff = float(wins.mean()) / (gross_loss / losses.size)
    pf = None
    if gross_loss == 0:
        notes["profit_factor"] = "no losing trade"
    else:
        pf = float(wins.sum()) / gross_loss
    if not rs.size:
        notes["expectancy_r"] = notes["median_r"] = "no trade carried a stop (R unknown)"
    return TradeStats(
        closed=n, wins=int(wins.size), losses=int(losses.size), win_rate=wins.size / n,
        mean_pnl_sol=float(pnl.mean()), median_pnl_sol=float(np.median(pnl)), payoff_ratio=payoff,
        profit_factor=pf, expectancy_r=float(rs.mean()) if rs.size else None,
        median_r=float(np.median(rs)) if rs.size else None)


# -- bootstrap -------------------------------------------------------------------------------------


def bootstrap_total_return(period_returns: Sequence[float], *, block: int, resamples: int = BOOTSTRAP_RESAMPLES,
                           seed: int = BOOTSTRAP_SEED, level: float = 0.95) -> Interval | None:
    """Percentile interval of the compounded return under a circular block bootstrap of the
    per-period returns (blocks of ``block`` periods). None with fewer than two blocks of data."""
    r = np.asarray(period_returns, dtype=float)
    r = r[np.isfinite(r) & (r > -1.0)]  # a -100% period would make the log undefined
    n = r.size
    block = max(1, min(int(block), n))
    if n < 2 * block or n < 2:
        return None
    logs = np.log1p(r)
    ext = np.concatenate([logs, logs[:block]])  # circular
    csum = np.concatenate([[0.0], np.cumsum(ext)])
    block_sums = csum[block:block + n] - csum[:n]  # sum of the block starting at each index
    full, rest = divmod(n, block)
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n, size=(resamples, full))
    totals = block_sums[starts].sum(axis=1)
    if rest:
        tail = rng.integers(0, n, size=resamples)
        totals += csum[tail + rest] - csum[tail]
    q = np.quantile(np.expm1(totals), [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(q[0]), float(q[1]), level, resamples, seed)


def bootstrap_mean(values: Sequence[float], *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                   level: float = 0.95) -> Interval | None:
    """Percentile interval of the mean under an i.i.d. bootstrap; None with fewer than
    ``MIN_TRADES_FOR_CI`` values."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < MIN_TRADES_FOR_CI:
        return None
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)
    q = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(q[0]), float(q[1]), level, resamples, seed)


# -- everything ------------------------------------------------------------------------------------


def performance(equity: Sequence[EquityPoint], trips: Sequence[RoundTrip], *,
                initial_equity_sol: float | None = None, cycle_seconds: float = 60.0,
                seed: int = BOOTSTRAP_SEED, resamples: int = BOOTSTRAP_RESAMPLES) -> Performance:
    """Lifetime performance of an equity curve and its closed trades (``round_trips``).
    ``initial_equity_sol`` is the equity before the first point (a backtest's starting cash);
    without it the first recorded point is the start."""
    notes: dict[str, str] = {}
    ts = [int(e.ts) for e in equity]
    values = [float(e.equity_sol) for e in equity]
    start = initial_equity_sol if initial_equity_sol is not None else (values[0] if values else 0.0)
    final = values[-1] if values else start
    curve = [start, *values] if initial_equity_sol is not None else values
    span = (ts[-1] - ts[0] + cycle_seconds) / DAY if ts else 0.0
    daily = daily_returns(ts, values, initial_equity_sol)
    sharpe = sortino = None
    if span < MIN_DAYS_FOR_RATIOS:
        notes["sharpe"] = notes["sortino"] = f"n/a (under {MIN_DAYS_FOR_RATIOS:g} days: {span:.1f} days of data)"
    else:
        sharpe, sortino = annualised_sharpe(daily), annualised_sortino(daily)
        if sharpe is None:
            notes["sharpe"] = "n/a (daily returns do not vary)"
        if sortino is None:
            notes["sortino"] = "n/a (no losing day)"
    stats = trade_stats(trips, notes)
    period = np.asarray(curve, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = period[1:] / period[:-1] - 1.0 if period.size > 1 else np.empty(0)
    block = max(1, round(3600 / cycle_seconds))  # one hour of cycles
    ret_ci = bootstrap_total_return(per, block=block, resamples=resamples, seed=seed)
    if ret_ci is None:
        notes["total_return_ci"] = f"n/a (fewer than two {block}-cycle blocks of equity)"
    rs = [r for r in (t.r_multiple for t in trips) if r is not None]
    exp_ci = bootstrap_mean(rs, resamples=resamples, seed=seed)
    if exp_ci is None:
        notes["expectancy_r_ci"] = f"n/a (fewer than {MIN_TRADES_FOR_CI} closed trades with a stop)"
    return Performance(
        start_ts=ts[0] if ts else None, end_ts=ts[-1] if ts else None, span_days=span,
        initial_equity_sol=start, final_equity_sol=final,
        total_return=final / start - 1.0 if start > 0 else 0.0, max_drawdown=max_drawdown(curve),
        daily_returns=int(daily.size), sharpe=sharpe, sortino=sortino, trades=stats,
        total_return_ci=ret_ci, expectancy_r_ci=exp_ci, notes=notes)


def performance_json(p: Performance) -> dict[str, Any]:
    """The JSON form (backtest report, ``/status``): unavailable figures are ``null`` and
    ``notes`` says why."""
    def ci(i: Interval | None) -> dict[str, float] | None:
        return None if i is None else {"low": i.low, "high": i.high, "level": i.level,
                                       "resamples": i.resamples, "seed": i.seed}

    t = p.trades
    return {
        "start_ts": p.start_ts, "end_ts": p.end_ts, "span_days": p.span_days,
        "initial_equity_sol": p.initial_equity_sol, "final_equity_sol": p.final_equity_sol,
        "total_return": p.total_return, "total_return_ci95": ci(p.total_return_ci),
        "max_drawdown": p.max_drawdown, "daily_returns": p.daily_returns,
        "sharpe": p.sharpe, "sortino": p.sortino,
        "ratios_basis": f"UTC-day returns, annualised with {DAYS_PER_YEAR} days; "
                        f"not computed under {MIN_DAYS_FOR_RATIOS:g} days",
        "trades": {"closed": t.closed, "wins": t.wins, "losses": t.losses, "win_rate": t.win_rate,
                   "mean_pnl_sol": t.mean_pnl_sol, "median_pnl_sol": t.median_pnl_sol,
                   "payoff_ratio": t.payoff_ratio, "profit_factor": t.profit_factor,
                   "expectancy_r": t.expectancy_r, "median_r": t.median_r,
                   "expectancy_r_ci95": ci(p.expectancy_r_ci)},
        "notes": dict(sorted(p.notes.items())),
    }


# -- text (CLI, Telegram) --------------------------------------------------------------------------


def _ratio_text(v: float | None, note: str) -> str:
    """``1.23``, or the note's short form: ``n/a (under 7 days)``."""
    if v is not None:
        return f"{v:.2f}"
    return note.split(":")[0] + ")" if ":" in note else (note or "n/a")


def _or_note(v: float | None, fmt: str, note: str | None) -> str:
    return f"{v:{fmt}}" if v is not None else (note or "n/a")


def performance_lines(p: Performance) -> list[str]:
    return performance_text(performance_json(p))


def performance_text(j: dict[str, Any]) -> list[str]:
    """A few plain lines from ``performance_json`` (``solbot backtest``, ``solbot status``,
    Telegram ``/profit``)."""
    notes = j.get("notes", {})
    ci = j.get("total_return_ci95")
    lines = [f"return {j['total_return']:+.2%}"
             + (f" (95% {ci['low']:+.2%} to {ci['high']:+.2%})" if ci else "")
             + f"  max drawdown {j['max_drawdown']:.2%}  over {j['span_days']:.1f} days",
             f"sharpe {_ratio_text(j['sharpe'], notes.get('sharpe', ''))}  sortino "
             f"{_ratio_text(j['sortino'], notes.get('sortino', ''))}  (daily returns, x sqrt(365))"]
    t = j["trades"]
    if not t["closed"]:
        lines.append("per trade: no closed trade yet")
        return lines
    lines.append(f"per trade: {t['closed']} closed, win rate {t['win_rate']:.1%}, mean {t['mean_pnl_sol']:+.4f} SOL, "
                 f"median {t['median_pnl_sol']:+.4f} SOL, payoff {_or_note(t['payoff_ratio'], '.2f', notes.get('payoff_ratio'))}, "
                 f"profit factor {_or_note(t['profit_factor'], '.2f', notes.get('profit_factor'))}")
    if t["expectancy_r"] is None:
        lines.append(f"expectancy in R: {notes.get('expectancy_r', 'n/a')}")
    else:
        eci = t.get("expectancy_r_ci95")
        lines.append(f"expectancy {t['expectancy_r']:+.3f}R (median {t['median_r']:+.3f}R; R = initial risk to the stop)"
                     + (f", 95% {eci['low']:+.3f}R to {eci['high']:+.3f}R" if eci
                        else f", interval {notes.get('expectancy_r_ci', 'n/a')}"))
    return lines
