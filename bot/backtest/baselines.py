"""Edge against noise: the yardsticks every backtest report carries, on the same data and costs.

- **Random entries** (``RandomEntries``): the ensemble's BUY decisions are replaced by BUYs of
  random tokens at the ensemble's own entry rate (entries per cycle of the ensemble's run), with
  confidences drawn from the ensemble's entries (the size input). Everything else is the real
  engine: the strategies and the ensemble still run (their SELL decisions drive the same signal
  exits), the risk manager screens, sizes and exits, the paper executor fills and charges. So the
  only difference from the ensemble's run is which token is bought when. N seeds, each
  deterministic.
- **Equal-weight buy-and-hold** of the universe (every token of the data): the initial equity is
  split equally; each token is bought through the paper executor (pool fee, price impact,
  network fee, rent) at its first bar with the warm-up history the engine needs, and marked at its
  last bar as the engine marks open positions (``liquidated_return`` also pays the sells). The
  data is read by time slice: only each token's first and last tradable bar is kept.

The summary states the ensemble's excess return over the random seeds' mean and the fraction of
seeds it beat (and an empirical p-value: how often noise did at least as well).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from bot.config import Config
from bot.engine import CycleReport
from bot.feeds.replay_source import FrameSource, ReplaySource, slices
from chain.paper import PaperExecutor, PaperWallet
from chain.types import LAMPORTS_PER_SOL, ExecutionStatus, OrderRequest, PoolSnapshot, Side
from strategies.ensemble import DecideInputs, Ensemble
from strategies.types import Action, Decision, Decisions, MarketView, StrategyVotes

#: Mixed into each seed so the random entries of seed k differ between folds and never equal
#: another seed's.
_STREAM = 0x5EED

#: Action codes of ``Decisions.action_codes``.
_CODES = {a: i for i, a in enumerate((Action.BUY, Action.SELL, Action.HOLD))}


class RandomEntries:
    """An ensemble whose BUY decisions are random: ``decide`` runs the real ensemble (its learning,
    regimes and SELL decisions stay), turns its BUYs into HOLDs and asks for BUYs of random
    eligible tokens (not stale, not in crisis, not voted SELL) at ``rate`` entries per cycle that
    has a token to decide on (the engine asks only then).

    Entry tickets arrive as a Bernoulli process with probability ``rate`` per cycle; a ticket is
    spent when an entry fills (``filled``, the engine's after-cycle hook), so a ticket the risk
    manager rejects (position limit, cooldown...) is retried on the next cycle with another token."""

    def __init__(self, ensemble: Ensemble, *, rate: float, confidences: Sequence[float], seed: int,
                 fold: int = 0) -> None:
        self._inner = ensemble
        self._rate = min(1.0, max(0.0, float(rate)))
        self._conf = np.asarray(confidences, dtype=float) if len(confidences) else np.array([1.0])
        self._rng = np.random.default_rng([_STREAM, int(seed), int(fold)])
        self._tickets = 0
        self.requested = 0  # random BUY decisions handed to the risk manager
        self.filled_total = 0

    # the ensemble's interface, delegated
    @property
    def config(self) -> Any:
        return self._inner.config

    @property
    def weights(self) -> dict[str, float]:
        return self._inner.weights

    @property
    def market_regime(self) -> str:
        return self._inner.market_regime

    @property
    def market_regime_confidence(self) -> float:
        return self._inner.market_regime_confidence

    def state(self) -> dict:
        return self._inner.state()

    def reconfigure(self, *args: Any, **kw: Any) -> None:
        self._inner.reconfigure(*args, **kw)

    def decide(self, view: MarketView, votes: Sequence[StrategyVotes],
               inputs: DecideInputs | None = None) -> Decisions:
        decisions = self._inner.decide(view, votes, inputs)
        if self._rng.random() < self._rate:
            self._tickets += 1
        n = len(decisions)
        buy, hold = _CODES[Action.BUY], _CODES[Action.HOLD]
        codes = np.where(decisions.action_codes == buy, hold, decisions.action_codes).astype(np.int8)
        stale = np.zeros(n, dtype=bool) if view.stale is None else np.asarray(view.stale, dtype=bool)[:n]
        stale = np.pad(stale, (0, n - stale.size))
        crisis = np.fromiter((r == "crisis" for r in decisions.regimes), dtype=bool, count=n)
        eligible = np.flatnonzero((codes == hold) & ~crisis & ~stale)
        k = min(self._tickets, eligible.size)
        replaced: dict[int, Decision] = {}
        if k:
            for i in sorted(self._rng.choice(eligible, size=k, replace=False).tolist()):
                conf = float(self._conf[self._rng.integers(0, self._conf.size)])
                codes[i] = buy
                replaced[i] = Decision(decisions.mints[i], Action.BUY, 1.0, conf, decisions.regimes[i], votes=())
            self.requested += k
        return decisions.overridden(codes, replaced)

    async def filled(self, report: CycleReport) -> None:
        """After each cycle: the entries that filled spend their tickets."""
        self._tickets = max(0, self._tickets - report.entries)
        self.filled_total += report.entries


def random_wrap(rate: float, confidences: Sequence[float], seed: int, fold: int = 0
                ) -> Callable[[Ensemble], tuple[RandomEntries, Callable[[CycleReport], Awaitable[None]]]]:
    """A ``wrap`` for ``bot.backtest.driver.arun_segment``."""
    def wrap(ensemble: Ensemble) -> tuple[RandomEntries, Callable[[CycleReport], Awaitable[None]]]:
        r = RandomEntries(ensemble, rate=rate, confidences=confidences, seed=seed, fold=fold)
        return r, r.filled
    return wrap


# -- buy and hold ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuyAndHold:
    tokens: int  # tokens in the universe
    bought: int  # tokens whose buy filled
    total_return: float  # marked at the last bar (as the engine marks open positions)
    liquidated_return: float  # every holding sold at its last bar through the same executor
    skipped: dict[str, str]  # mint -> why it was not bought

    def to_json(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "bought": self.bought, "total_return": self.total_return,
                "liquidated_return": self.liquidated_return, "skipped": dict(sorted(self.skipped.items()))}


def buy_and_hold(cfg: Config, data: pl.DataFrame | ReplaySource, *, start_ts: int | None = None) -> BuyAndHold:
    """Equal-weight buy-and-hold of every token in ``data`` (bars at or after ``start_ts`` only are
    traded; earlier bars count as warm-up history). ``data`` is read one time slice at a time
    (``bot.feeds.replay_source``): what it keeps is each token's first and last tradable bar."""
    src = FrameSource(data) if isinstance(data, pl.DataFrame) else data
    columns = src.empty().columns
    has_sol, has_dec = "sol_usd" in columns, "decimals" in columns
    warm = max(0, cfg.engine.warmup_bars - 1)
    keep = ["mint", "close", "liquidity_usd"] + (["sol_usd"] if has_sol else []) + (["decimals"] if has_dec else [])
    seen: dict[str, int] = {}  # mint -> bars before this slice
    firsts: dict[str, dict[str, Any]] = {}  # mint -> its first bar with the warm-up history (in the span)
    lasts: dict[str, dict[str, Any]] = {}  # mint -> its last such bar
    for sl in slices(src):
        if sl.height == 0:
            continue
        frame = sl.select(*keep, pl.col("ts").dt.epoch("s").alias("_t")).with_columns(
            (pl.int_range(pl.len()).over("mint")
             + pl.col("mint").replace_strict(seen, default=0, return_dtype=pl.Int64)).alias("_n"))
        for m, k in frame.group_by("mint").len().iter_rows():
            seen[m] = seen.get(m, 0) + k
        usable = frame.filter(pl.col("_n") >= warm)
        if start_ts is not None:
            usable = usable.filter(pl.col("_t") >= start_ts)
        if usable.height == 0:
            continue
        for row in usable.unique("mint", keep="first", maintain_order=True).iter_rows(named=True):
            firsts.setdefault(row["mint"], row)
        for row in usable.unique("mint", keep="last", maintain_order=True).iter_rows(named=True):
            lasts[row["mint"]] = row
    mints = sorted(seen)
    equity = int(cfg.backtest.initial_equity_sol * LAMPORTS_PER_SOL)
    wallet = PaperWallet(lamports=equity)
    ex = PaperExecutor(cfg.execution, wallet)
    share = equity // max(1, len(mints))
    reserve = cfg.execution.paper.ata_rent_lamports + 2 * (cfg.execution.paper.base_fee_lamports_per_signature
                                                            + cfg.execution.paper.priority_fee_lamports)
    skipped: dict[str, str] = {}
    held: dict[str, tuple[PoolSnapshot, int]] = {}  # mint -> (last pool, decimals)

    def pool(row: dict[str, Any], decimals: int) -> PoolSnapshot:
        sol = float(row["sol_usd"]) if has_sol and row.get("sol_usd") else cfg.market.sol_usd_fallback
        return PoolSnapshot(row["mint"], float(row["close"]), float(row["liquidity_usd"]), sol, decimals,
                            int(row["_t"]))

    for m in mints:  # in mint order, as the wallet's cash moves with each buy
        first = firsts.get(m)
        if first is None:
            skipped[m] = "no bar with the warm-up history in the span"
            continue
        last = lasts[m]
        dec = int(first["decimals"]) if has_dec and first.get("decimals") is not None else cfg.market.default_token_decimals
        amount = share - reserve
        res = ex.execute_now(_order(f"bh-{m}-buy", pool(first, dec), Side.BUY, amount, dec))
        if res.status is not ExecutionStatus.FILLED:
            skipped[m] = f"buy did not fill: {res.error} {res.detail}".strip()
            continue
        held[m] = (pool(last, dec), dec)
    marked = wallet.lamports + sum(
        wallet.tokens.get(m, 0) / 10**dec * p.price_usd / p.sol_usd * LAMPORTS_PER_SOL for m, (p, dec) in held.items())
    for m, (p, dec) in held.items():
        amount = wallet.tokens.get(m, 0)
        if amount > 0:
            ex.execute_now(_order(f"bh-{m}-sell", p, Side.SELL, amount, dec))
    liquidated = wallet.lamports + sum(
        wallet.tokens.get(m, 0) / 10**dec * p.price_usd / p.sol_usd * LAMPORTS_PER_SOL for m, (p, dec) in held.items())
    return BuyAndHold(len(mints), len(held), marked / equity - 1.0, liquidated / equity - 1.0, skipped)


def _order(intent_id: str, pool: PoolSnapshot, side: Side, amount: int, decimals: int) -> OrderRequest:
    # A passive benchmark pays every cost but is bound by none of the bot's rules (caps, slippage limit).
    return OrderRequest(intent_id=intent_id, mint=pool.mint, side=side, amount_in=max(1, amount),
                        token_decimals=decimals, max_slippage_bps=10_000, max_priority_fee_lamports=10**12,
                        max_sol_per_trade_lamports=10**18, pool=pool)


# -- random seeds ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RandomSummary:
    seeds: tuple[int, ...]
    returns: tuple[float, ...]
    entries: tuple[int, ...]
    target_entries: int
    rate_per_cycle: float
    ensemble_return: float

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def excess(self) -> float:
        """The ensemble's return minus the random seeds' mean return."""
        return self.ensemble_return - self.mean

    @property
    def beaten(self) -> int:
        return sum(1 for r in self.returns if self.ensemble_return > r)

    @property
    def beat_fraction(self) -> float:
        return self.beaten / len(self.returns)

    @property
    def p_value(self) -> float:
        """(1 + seeds at least as good as the ensemble) / (seeds + 1)."""
        return (1 + sum(1 for r in self.returns if r >= self.ensemble_return)) / (len(self.returns) + 1)

    def to_json(self) -> dict[str, Any]:
        r = np.asarray(self.returns)
        return {"seeds": list(self.seeds), "returns": list(self.returns), "entries": list(self.entries),
                "target_entries": self.target_entries, "entry_rate_per_cycle": self.rate_per_cycle,
                "mean_return": self.mean, "median_return": float(np.median(r)),
                "p05_return": float(np.quantile(r, 0.05)), "p95_return": float(np.quantile(r, 0.95)),
                "ensemble_return": self.ensemble_return, "ensemble_excess_return": self.excess,
                "seeds_beaten": self.beaten, "beat_fraction": self.beat_fraction, "p_value": self.p_value}


def seeds_for(n: int, first: int) -> list[int]:
    return [first + i for i in range(n)]


def run_parallel(fn: Callable[..., Any], args: Sequence[tuple], workers: int,
                 initializer: Callable[..., None] | None = None, initargs: tuple = ()) -> list[Any]:
    """``fn(*a)`` for each ``a``, in order; in this process when ``workers <= 1``, else in a pool
    of spawned processes (never forked: the parent runs polars' and asyncio's threads)."""
    if workers <= 1 or len(args) <= 1:
        if initializer is not None:
            initializer(*initargs)
        return [fn(*a) for a in args]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(args)), mp_context=ctx, initializer=initializer,
                             initargs=initargs) as pool:
        return list(pool.map(fn, *zip(*args, strict=True)))
