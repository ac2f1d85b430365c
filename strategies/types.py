"""Value types of the strategies' interface: what they read (``MarketView``) and what they return.

``strategies/`` is pure computation. Everything here is immutable and carries no I/O.

A ``Panel`` holds one timeframe of candles for every tracked token as dense ``(tokens, bars)``
float64 arrays aligned on bar start times, NaN where a token has no data for a bar. Dense arrays
let every strategy evaluate all tokens in one vectorised call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property

import numpy as np
import polars as pl

#: Columns every panel carries (the market dataset's required candle columns).
CANDLE_COLUMNS: tuple[str, ...] = (
    "open",
    "high",
    "low",
    "close",
    "volume_usd",
    "liquidity_usd",
    "buys",
    "sells",
)

#: Optional columns: whale flow (USD of large buys/sells this bar), attention signals (DexScreener
#: boosts, trending rank), and the price of the token's second-deepest pool (``alt_close``, for
#: cross-pool statistical arbitrage).
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "whale_buy_usd",
    "whale_sell_usd",
    "boosts_active",
    "trending_rank",  # NaN when not trending
    "alt_close",
)

@dataclass(frozen=True, slots=True)
class Inputs:
    """The market columns a strategy reads, declared once on the strategy (``Strategy.inputs``).

    Where a token-bar lacks any ``required`` column the strategy cannot vote on it; ``optional``
    columns add to its vote where they are present. The backtest's input-coverage table and its
    warnings before a run read these declarations."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return (*self.required, *self.optional)


#: How optional columns are aggregated when resampling: "sum" for flows, "last" for levels.
_RESAMPLE_SUM = frozenset({"volume_usd", "buys", "sells", "whale_buy_usd", "whale_sell_usd"})


class LazyColumns(Mapping[str, np.ndarray]):
    """Panel columns made on first access, for a producer that holds the bars in another layout (the
    market state's ring buffers): ``load(name, lo, hi)`` gives bars ``lo:hi`` of every token as a
    ``(tokens, hi - lo)`` array, ``bar(name, j)`` bar ``j`` of every token. A cycle that reads a few
    columns, or only the newest bar (``Panel.bar``), copies nothing else. Made columns are kept and
    read-only. Names and shape are known up front, so membership and ``len`` load nothing."""

    __slots__ = ("_bar", "_lo", "_load", "_made", "_names", "_tails", "shape")

    def __init__(self, names: Sequence[str], shape: tuple[int, int],
                 load: Callable[[str, int, int], np.ndarray], bar: Callable[[str, int], np.ndarray],
                 lo: int = 0) -> None:
        self._names = tuple(names)
        self.shape = (int(shape[0]), int(shape[1]))
        self._load, self._bar, self._lo = load, bar, int(lo)
        self._made: dict[str, np.ndarray] = {}
        self._tails: dict[int, LazyColumns] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        arr = self._made.get(name)
        if arr is None:
            if name not in self._names:
                raise KeyError(name)
            arr = self._load(name, self._lo, self._lo + self.shape[1])
            arr.flags.writeable = False
            self._made[name] = arr
        return arr

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def bar(self, name: str, j: int) -> np.ndarray:
        """Bar ``j`` (negative counts from the end) of every token, without making the column."""
        made = self._made.get(name)
        if made is not None:
            return made[:, j]
        if name not in self._names:
            raise KeyError(name)
        n = self.shape[1]
        if not -n <= j < n:
            raise IndexError(f"bar {j} out of range for {n} bars")
        return self._bar(name, self._lo + (j % n))

    def tail(self, bars: int) -> LazyColumns:
        """The last ``bars`` bars, still made on first access."""
        bars = min(max(int(bars), 0), self.shape[1])
        out = self._tails.get(bars)
        if out is None:
            out = self._tails[bars] = LazyColumns(self._names, (self.shape[0], bars), self._load, self._bar,
                                                  self._lo + self.shape[1] - bars)
        for name, arr in self._made.items():
            if name not in out._made:
                out._made[name] = arr[:, self.shape[1] - bars:]
        return out


@dataclass(frozen=True, slots=True, eq=False)
class Panel:
    """One timeframe of candles for all tokens. Arrays are ``(len(mints), len(ts))`` float64.

    ``ts`` holds bar *start* times in integer unix seconds (UTC); ``bar_seconds`` is the bar width.
    """

    mints: tuple[str, ...]
    ts: np.ndarray
    bar_seconds: int
    columns: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        shape = (len(self.mints), len(self.ts))
        for name in CANDLE_COLUMNS:
            if name not in self.columns:
                raise ValueError(f"panel is missing required column {name!r}")
        if isinstance(self.columns, LazyColumns):
            if self.columns.shape != shape:
                raise ValueError(f"panel columns have shape {self.columns.shape}, expected {shape}")
            return
        for name, arr in self.columns.items():
            if arr.shape != shape:
                raise ValueError(f"panel column {name!r} has shape {arr.shape}, expected {shape}")

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def get(self, name: str) -> np.ndarray | None:
        return self.columns.get(name)

    def bar(self, name: str, j: int) -> np.ndarray:
        """Bar ``j`` (negative counts from the end) of column ``name`` for every token; with lazy
        columns this reads one bar without making the whole column."""
        cols = self.columns
        if isinstance(cols, LazyColumns):
            return cols.bar(name, j)
        return cols[name][:, j]

    @property
    def open(self) -> np.ndarray:
        return self.columns["open"]

    @property
    def high(self) -> np.ndarray:
        return self.columns["high"]

    @property
    def low(self) -> np.ndarray:
        return self.columns["low"]

    @property
    def close(self) -> np.ndarray:
        return self.columns["close"]

    @property
    def volume(self) -> np.ndarray:
        return self.columns["volume_usd"]

    @property
    def n_tokens(self) -> int:
        return len(self.mints)

    @property
    def n_bars(self) -> int:
        return len(self.ts)

    def tail(self, bars: int) -> Panel:
        """The last ``bars`` bars (all of them when there are fewer)."""
        if bars >= self.n_bars:
            return self
        if isinstance(self.columns, LazyColumns):
            ts = self.ts[-bars:]
            return Panel(self.mints, ts, self.bar_seconds, self.columns.tail(len(ts)))
        return Panel(self.mints, self.ts[-bars:], self.bar_seconds,
                     {k: v[:, -bars:] for k, v in self.columns.items()})

    def select(self, rows: np.ndarray | list[int]) -> Panel:
        """A panel of the token rows given (indices into ``mints``)."""
        idx = np.asarray(rows, dtype=np.int64)
        return Panel(tuple(self.mints[i] for i in idx), self.ts, self.bar_seconds,
                     {k: v[idx] for k, v in self.columns.items()})

    def resample(self, bar_seconds: int) -> Panel:
        """Causal resample to a coarser timeframe: only *completed* buckets are returned.

        Buckets are aligned to multiples of ``bar_seconds`` since the epoch. The trailing bucket is
        dropped unless its last source bar is present, so a resample of a truncated history is a
        prefix of the resample of the full history (no lookahead).
        """
        if bar_seconds == self.bar_seconds or self.n_bars == 0:
            self._buckets(bar_seconds)  # validates the ratio
            return self
        ts, cols = self.resample_columns(bar_seconds, tuple(self.columns))
        return Panel(self.mints, ts, bar_seconds, cols)

    def resample_columns(self, bar_seconds: int, columns: tuple[str, ...], bars: int | None = None
                         ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """The causal resample of only ``columns``, and of only the last ``bars`` completed buckets
        (all when ``None``): ``(bucket start times, {column: (tokens, buckets)})``. Values equal the
        same part of ``resample(bar_seconds)``; nothing else is computed."""
        k, start, complete = self._buckets(bar_seconds)
        b = complete if bars is None else min(complete, max(bars, 0))
        stop = start + complete * k
        sl = slice(stop - b * k, stop)
        cols = {c: _resample_column(c, self.columns[c][:, sl], k) for c in columns}
        ts = self.ts[sl][::k] // bar_seconds * bar_seconds if b else self.ts[:0]
        return ts, cols

    def bars_at(self, bar_seconds: int) -> int:
        """How many bars of ``bar_seconds`` the causal resample holds (this panel's bars when equal)."""
        return self.n_bars if bar_seconds == self.bar_seconds else self._buckets(bar_seconds)[2]

    def _buckets(self, bar_seconds: int) -> tuple[int, int, int]:
        """``(source bars per bucket, index of the first complete bucket's first bar, complete
        buckets)``."""
        if bar_seconds % self.bar_seconds:
            raise ValueError(f"cannot resample {self.bar_seconds}s bars to {bar_seconds}s")
        k = bar_seconds // self.bar_seconds
        if self.n_bars == 0:
            return k, 0, 0
        bucket = self.ts // bar_seconds
        # Bars are contiguous by construction (MarketState and the dataset loader fill gaps with
        # NaN), so buckets are runs of k bars except possibly the first and last ones.
        first_full = int(np.searchsorted(bucket, bucket[0] + (1 if self.ts[0] % bar_seconds else 0)))
        return k, first_full, max(self.n_bars - first_full, 0) // k

    def to_frame(self) -> pl.DataFrame:
        """The panel as a long polars frame: one row per token per bar (rows of all-NaN dropped)."""
        n, b = self.n_tokens, self.n_bars
        data: dict[str, object] = {
            "ts": pl.Series("ts", np.tile(self.ts, n) * 1_000_000, dtype=pl.Int64).cast(
                pl.Datetime("us", "UTC")),
            "mint": np.repeat(np.array(self.mints, dtype=object), b),
        }
        for name, arr in self.columns.items():
            data[name] = arr.reshape(-1)
        frame = pl.DataFrame(data)
        return frame.filter(pl.col("close").is_not_nan())


def _resample_column(name: str, arr: np.ndarray, k: int) -> np.ndarray:
    """One column of ``(tokens, b * k)`` source bars aggregated into ``b`` buckets of ``k`` bars:
    open = first, high = max, low = min, flows = sum (NaN bars count as 0, a bucket with no data
    is NaN), other levels = last. NaN-aware without warnings: ``fmax``/``fmin`` skip NaN."""
    n = arr.shape[0]
    blk = arr.reshape(n, -1, k)
    if name == "open":
        return blk[:, :, 0].copy()
    if name in ("high", "low"):
        fn = np.fmax if name == "high" else np.fmin
        out = blk[:, :, 0].copy()
        for j in range(1, k):
            fn(out, blk[:, :, j], out=out)
        return out
    if name in _RESAMPLE_SUM:
        out = np.zeros(blk.shape[:2])
        seen = np.zeros(blk.shape[:2], dtype=bool)
        for j in range(k):
            col = blk[:, :, j]
            ok = col == col  # not NaN
            out += np.where(ok, col, 0.0)
            seen |= ok
        out[~seen] = np.nan
        return out
    return blk[:, :, -1].copy()  # levels: last value of the bucket


#: Per-token latest-snapshot fields offered to strategies (arrays of shape ``(tokens,)``).
SNAPSHOT_FIELDS: tuple[str, ...] = (
    "price_usd",
    "liquidity_usd",
    "volume_h24_usd",
    "buys_h1",
    "sells_h1",
    "age_minutes",  # minutes since the reference pool was created; NaN when unknown
    "boosts_active",
    "trending_rank",
)


@dataclass(frozen=True, eq=False)
class MarketView:
    """Everything strategies may look at for one decision cycle. Immutable; built by the engine.

    ``ts`` is the cycle time (unix seconds, UTC). ``candles`` holds one-minute bars ending at or
    before ``ts``. ``snapshot`` maps each field of ``SNAPSHOT_FIELDS`` (those known) to a
    ``(tokens,)`` array. ``stale`` is True for tokens whose data is too old to act on.
    """

    ts: int
    candles: Panel
    snapshot: Mapping[str, np.ndarray] = field(default_factory=dict)
    stale: np.ndarray | None = None

    @property
    def mints(self) -> tuple[str, ...]:
        return self.candles.mints

    def timeframe(self, minutes: int) -> Panel:
        """Causal resample of the one-minute candles (``5``, ``15``, ``60``...)."""
        cache = self.__dict__.setdefault("_timeframes", {})
        if minutes not in cache:
            cache[minutes] = self.candles.resample(minutes * 60)
        return cache[minutes]

    @cached_property
    def frame(self) -> pl.DataFrame:
        """The one-minute candles as a long polars frame."""
        return self.candles.to_frame()


class Reasons(Sequence[str]):
    """A strategy's reasons, one per token, formatted on first access (``fn(i)``) and kept.

    Strategies vote on every token each cycle but only a few decisions are ever read (those acted
    on and those of open positions), so formatting 1,000 strings per strategy up front is wasted.
    Behaves as a read-only sequence of ``str``; equal to any sequence with the same strings.
    ``fn`` must be deterministic and read only data that is not mutated afterwards."""

    __slots__ = ("_cache", "_fn", "_n")

    def __init__(self, n: int, fn: Callable[[int], str]) -> None:
        self._n = n
        self._fn = fn
        self._cache: list[str | None] = [None] * n

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return tuple(self[j] for j in range(*i.indices(self._n)))
        j = i + self._n if i < 0 else i
        if not 0 <= j < self._n:
            raise IndexError("reason index out of range")
        r = self._cache[j]
        if r is None:
            r = self._cache[j] = self._fn(j)
        return r

    def __iter__(self) -> Iterator[str]:
        return (self[j] for j in range(self._n))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == self._n and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Reasons({tuple(self)!r})"


@dataclass(frozen=True, slots=True, eq=False)
class StrategyVotes:
    """One strategy's votes for every token of a view, aligned with ``view.mints``.

    ``score`` in [-1, 1] (sell … buy), ``confidence`` in [0, 1], and a short reason per token
    (a tuple, or a lazily formatted ``Reasons``).
    """

    strategy: str
    score: np.ndarray
    confidence: np.ndarray
    reasons: Sequence[str]

    def __post_init__(self) -> None:
        n = len(self.reasons)
        if self.score.shape != (n,) or self.confidence.shape != (n,):
            raise ValueError(
                f"{self.strategy}: score {self.score.shape} / confidence {self.confidence.shape} "
                f"do not match {n} reasons")


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


@dataclass(frozen=True, slots=True)
class Vote:
    """One strategy's vote on one token, as the ledger and Telegram show it."""

    strategy: str
    score: float
    confidence: float
    weight: float
    reason: str


class VoteTable:
    """Every strategy's vote on every token of one cycle, as the ensemble combined them:
    ``(strategies, tokens)`` arrays of score, confidence and effective weight plus each strategy's
    reasons. ``votes(j)`` builds token ``j``'s ``Vote`` objects; decisions call it on first access
    to ``Decision.votes``. The arrays are never mutated after construction."""

    __slots__ = ("confidence", "names", "reasons", "score", "weight")

    def __init__(self, names: Sequence[str], score: np.ndarray, confidence: np.ndarray,
                 weight: np.ndarray, reasons: Sequence[Sequence[str]]) -> None:
        self.names, self.score, self.confidence = tuple(names), score, confidence
        self.weight, self.reasons = weight, reasons

    def votes(self, j: int) -> tuple[Vote, ...]:
        out = []
        for i, name in enumerate(self.names):
            s = float(self.score[i, j])
            w = float(self.weight[i, j])
            why = self.reasons[i][j]
            # an abstention is shown as (0, 0) whatever the confidence
            out.append(Vote(name, 0.0, 0.0, w, why) if s == 0.0
                       else Vote(name, s, float(self.confidence[i, j]), w, why))
        return tuple(out)


class TokenVotes:
    """Token ``j``'s votes in a ``VoteTable``, not yet built (see ``Decision.votes``)."""

    __slots__ = ("j", "table")

    def __init__(self, table: VoteTable, j: int) -> None:
        self.table, self.j = table, j


class _LazyVotes:
    """``Decision.votes``: a ``tuple[Vote, ...]``, built from a ``TokenVotes`` on first read and
    kept. A data descriptor, so the frozen dataclass's ``__init__``, ``__eq__``, ``__hash__``,
    ``__repr__``, ``asdict`` and ``replace`` all see the tuple."""

    def __get__(self, obj: object, owner: type | None = None) -> tuple[Vote, ...]:
        if obj is None:
            raise AttributeError("votes")  # no class-level default: the field is required
        v = obj.__dict__["_votes"]
        if isinstance(v, TokenVotes):
            v = obj.__dict__["_votes"] = v.table.votes(v.j)
        return v

    def __set__(self, obj: object, value: object) -> None:
        obj.__dict__["_votes"] = value


@dataclass(frozen=True)
class Decision:
    """The ensemble's verdict on one token for one cycle.

    ``votes`` may be given as a ``TokenVotes``: it is then built on first access (the engine reads
    the votes of the few decisions it acts on, not of all 1,000)."""

    mint: str
    action: Action
    score: float  # combined, in [-1, 1]
    confidence: float  # in [0, 1]
    regime: str
    votes: tuple[Vote, ...] = _LazyVotes()  # type: ignore[assignment]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_votes"] = self.votes  # pickle/deepcopy the built tuple, not the cycle's table
        return state

    def explain(self, top: int = 3) -> str:
        ranked = sorted(self.votes, key=lambda v: -abs(v.score * v.confidence * v.weight))
        return "; ".join(f"{v.strategy}: {v.reason}" for v in ranked[:top] if v.score != 0)


_ACTIONS = (Action.BUY, Action.SELL, Action.HOLD)


class Decisions(Sequence[Decision]):
    """The ensemble's decisions for every token of a view, as a read-only sequence aligned with
    ``mints``. A ``Decision`` is built on first access: a cycle decides on ~1,000 tokens but the
    engine reads the few it acts on (``where``) and those of open positions (``by_mint``).
    Equal to any sequence of equal decisions."""

    __slots__ = ("_built", "_index", "_table", "action_codes", "combined", "confidence", "mints", "regimes")

    def __init__(self, mints: tuple[str, ...], action_codes: np.ndarray, combined: np.ndarray,
                 confidence: np.ndarray, regimes: Sequence[str], table: VoteTable) -> None:
        self.mints = mints
        self.action_codes = action_codes  # index into (BUY, SELL, HOLD)
        self.combined = combined
        self.confidence = confidence
        self.regimes = regimes
        self._table = table
        self._built: dict[int, Decision] = {}
        self._index: dict[str, int] | None = None

    @classmethod
    def empty(cls) -> Decisions:
        z = np.zeros(0)
        return cls((), np.zeros(0, dtype=np.int8), z, z, (), VoteTable((), np.zeros((0, 0)), np.zeros((0, 0)),
                                                                         np.zeros((0, 0)), ()))

    def __len__(self) -> int:
        return len(self.mints)

    def __getitem__(self, i):  # type: ignore[override]
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        j = i + len(self) if i < 0 else i
        if not 0 <= j < len(self):
            raise IndexError("decision index out of range")
        d = self._built.get(j)
        if d is None:
            d = self._built[j] = Decision(self.mints[j], _ACTIONS[int(self.action_codes[j])],
                                          float(self.combined[j]), float(self.confidence[j]),
                                          self.regimes[j], TokenVotes(self._table, j))
        return d

    def __iter__(self) -> Iterator[Decision]:
        return (self[j] for j in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Decisions({len(self)} tokens)"

    def overridden(self, actions: np.ndarray, replaced: Mapping[int, Decision]) -> Decisions:
        """These decisions with every token's action code from ``actions`` (same length, codes into
        (BUY, SELL, HOLD)) and the decisions at the indices of ``replaced`` replaced whole (their
        actions must agree with ``actions``): the random-entry baseline's decisions."""
        codes = np.asarray(actions, dtype=np.int8)
        if codes.shape != self.action_codes.shape:
            raise ValueError(f"{codes.size} action codes for {len(self)} decisions")
        out = Decisions(self.mints, codes, self.combined, self.confidence, self.regimes, self._table)
        out._built = {j: d for j, d in self._built.items() if codes[j] == self.action_codes[j]}
        for j, d in replaced.items():
            if _ACTIONS[int(codes[j])] is not d.action or d.mint != self.mints[j]:
                raise ValueError(f"replacement {j} ({d.mint}, {d.action}) disagrees with its token's action code")
            out._built[j] = d
        return out

    def where(self, action: Action) -> list[Decision]:
        """The decisions with ``action``, in token order."""
        code = _ACTIONS.index(action)
        return [self[int(j)] for j in np.flatnonzero(self.action_codes == code)]

    def get(self, mint: str) -> Decision | None:
        """The decision on ``mint`` (None when the view did not hold it)."""
        if self._index is None:
            self._index = {m: j for j, m in enumerate(self.mints)}
        j = self._index.get(mint)
        return None if j is None else self[j]

    def by_mint(self) -> Mapping[str, Decision]:
        """A read-only mapping mint -> decision that builds only the decisions it is asked for."""
        return _ByMint(self)


class _ByMint(Mapping[str, Decision]):
    __slots__ = ("_d",)

    def __init__(self, d: Decisions) -> None:
        self._d = d

    def __getitem__(self, mint: str) -> Decision:
        x = self._d.get(mint)
        if x is None:
            raise KeyError(mint)
        return x

    def get(self, mint: str, default=None):  # type: ignore[override]
        x = self._d.get(mint)
        return default if x is None else x

    def __contains__(self, mint: object) -> bool:
        return isinstance(mint, str) and self._d.get(mint) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._d.mints)

    def __len__(self) -> int:
        return len(self._d)
