"""The ensemble: combines the strategies' votes into one decision per token, gated by regime, and
learns each strategy's weight from the realised forward returns of its votes.

Combination, per token: ``v = score x confidence`` for each strategy (|v| below ``min_vote`` is an
abstention); strategies the token's regime does not allow get weight 0. The combined score is
``sum(w v) / sum(w)`` over the allowed strategies that voted, so abstainers do not dilute it.
BUY needs ``combined >= entry_threshold``, at least ``min_agreeing`` allowed strategies voting
buy, a regime other than crisis and fresh data; SELL needs ``combined <= -exit_threshold``.

Learning: each cycle's effective votes are remembered with the token's price. Once
``horizon_minutes`` have passed (read from the candles of a later view, never from a clock), each
strategy's edge is the vote-weighted mean forward return in the direction it voted; its weight is
multiplied by ``exp(learning_rate x clip(edge / edge_scale, -1, 1))``, then all weights are kept in
``[min_weight, max_weight]`` and normalised to sum 1. Everything is deterministic and the state is
plain JSON, so the engine can persist it and a restart keeps what was learned.
"""

from __future__ import annotations

import base64
import math
import operator
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from strategies.base import clip
from strategies.config import REGIMES, EnsembleConfig, StrategiesConfig
from strategies.features import candles
from strategies.regime import Regimes, detect
from strategies.types import Decisions, MarketView, StrategyVotes, VoteTable

STATE_VERSION = 2


def _pack(a: np.ndarray) -> str:
    """An array as compact lossless text: little-endian bytes, zlib, base64."""
    return base64.b64encode(zlib.compress(np.ascontiguousarray(a).tobytes(), 6)).decode("ascii")


def _unpack(text: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=dtype).reshape(shape)


def _encode_pending(pending: list[dict[str, Any]]) -> dict[str, Any]:
    """Pending votes, columnar: one table of mints, then per entry the rows of its tokens, their
    prices and the votes of the strategies that voted at all, each a packed array. Exact: every
    float comes back bit for bit."""
    table: dict[str, int] = {}
    entries = []
    for p in pending:
        rows = np.array([table.setdefault(m, len(table)) for m in p["mints"]], dtype="<i4")
        k = rows.shape[0]
        voted = [n for n, v in p["votes"].items() if np.any(v)]
        cols = [np.asarray(p["px"], dtype="<f8").reshape(k)]
        cols += [np.asarray(p["votes"][n], dtype="<f8").reshape(k) for n in voted]
        silent = [n for n in p["votes"] if n not in voted]
        entries.append({"bar_ts": p["bar_ts"], "n": k, "rows": _pack(rows), "voted": voted,
                        "silent": silent, "data": _pack(np.stack(cols))})
    return {"mints": list(table), "entries": entries}


def _decode_pending(packed: dict[str, Any]) -> list[dict[str, Any]]:
    mints = packed["mints"]
    out = []
    for e in packed["entries"]:
        k = int(e["n"])
        rows = _unpack(e["rows"], "<i4", (k,))
        data = _unpack(e["data"], "<f8", (1 + len(e["voted"]), k))
        votes = {n: data[1 + i].tolist() for i, n in enumerate(e["voted"])}
        votes.update({n: [0.0] * k for n in e["silent"]})
        out.append({"bar_ts": int(e["bar_ts"]), "mints": [mints[r] for r in rows.tolist()],
                    "px": data[0].tolist(), "votes": votes})
    return out



def _pairwise_sum(x: list[float]) -> float:
    """``np.sum`` of a short float64 vector, in numpy's order (pairwise: eight partial sums, then
    the remainder), with Python floats: the same value without an array per call."""
    n = len(x)
    if n < 8:
        r = 0.0
        for v in x:
            r += v
        return r
    a0, a1, a2, a3, a4, a5, a6, a7 = x[:8]
    i = 8
    stop = n - n % 8
    while i < stop:
        a0 += x[i]
        a1 += x[i + 1]
        a2 += x[i + 2]
        a3 += x[i + 3]
        a4 += x[i + 4]
        a5 += x[i + 5]
        a6 += x[i + 6]
        a7 += x[i + 7]
        i += 8
    r = ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))
    while i < n:
        r += x[i]
        i += 1
    return r


def _scale_guess(ws: list[float], lo: float, hi: float) -> float:
    """Where ``sum(clip(c * w, lo, hi))`` reaches 1, near enough to bracket the bisection's answer:
    with the weights clipped at ``c`` fixed, the free ones scale linearly (a few rounds settle)."""
    c = 1.0
    for _ in range(len(ws) + 2):
        fixed = free = 0.0
        for v in ws:
            x = c * v
            if x <= lo:
                fixed += lo
            elif x >= hi:
                fixed += hi
            else:
                free += v
        if free <= 0.0:
            break
        new = (1.0 - fixed) / free
        if new == c or not new > 0.0:
            break
        c = new
    return c


def project_weights(w: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Weights ``clip(c * w, lo, hi)`` summing to 1, with the scale ``c`` found by bisection: ratios
    are kept wherever no bound binds. Needs ``lo * len(w) <= 1 <= hi * len(w)``.

    The bisection runs on Python floats with numpy's rounding (``_pairwise_sum``) and stops when
    an iteration no longer moves either end (it could not move them later either): the same ``c``
    as 100 iterations of ``np.clip(c * w, lo, hi).sum()``, at a fraction of the cost. The sum is
    monotone in ``c`` (every rounded product, clip and addition is), so once two scales ``a < b``
    close around the answer are checked (``total(a) < 1 <= total(b)``), every step at or below
    ``a`` or at or above ``b`` is decided without summing: only the few steps between are."""
    w = np.maximum(np.asarray(w, dtype=np.float64), 0.0)
    if w.shape[0] == 0:
        return w
    if w.sum() <= 0:
        w = np.ones_like(w)
    w = w / w.sum()
    ws = w.tolist()

    def total(c: float) -> float:  # np.clip(c * w, lo, hi).sum(); lo <= hi (validated)
        return _pairwise_sum([lo if x < lo else hi if x > hi else x for x in [c * v for v in ws]])

    a, b = -1.0, math.inf  # nothing known: every step sums
    guess = _scale_guess(ws, lo, hi)
    if math.isfinite(guess) and guess > 0.0:
        for eps in (2.0 ** -51, 2.0 ** -40, 2.0 ** -24):
            if total(guess * (1.0 - eps)) < 1.0 <= total(guess * (1.0 + eps)):
                a, b = guess * (1.0 - eps), guess * (1.0 + eps)
                break

    def below(c: float) -> bool:  # total(c) < 1.0
        return True if c <= a else False if c >= b else total(c) < 1.0

    c_lo, c_hi = 0.0, 1.0
    while below(c_hi) and c_hi < 1e12:
        c_hi *= 2.0
    for _ in range(100):
        mid = 0.5 * (c_lo + c_hi)
        if below(mid):
            if mid == c_lo:
                break
            c_lo = mid
        else:
            if mid == c_hi:
                break
            c_hi = mid
    out = clip(c_hi * w, lo, hi)
    return out / out.sum()


@dataclass(frozen=True, slots=True, eq=False)
class DecideInputs:
    """What the ensemble reads besides the votes, from either path: each token's regime, its
    latest cleaned close, and ``close_at(ts)``: every token's cleaned close at the bar starting at
    ``ts`` (None when that bar is not held)."""

    regimes: Regimes
    close: np.ndarray
    close_at: Callable[[int], np.ndarray | None]


def full_window_inputs(view: MarketView, cfg: EnsembleConfig, settle_periods: int) -> DecideInputs:
    """``DecideInputs`` recomputed from the view (the full-window reference path)."""
    close = candles(view, 1).close
    ts = view.candles.ts

    def close_at(t: int) -> np.ndarray | None:
        j = int(np.searchsorted(ts, t))
        return close[:, j] if j < len(ts) and ts[j] == t else None

    last = close[:, -1] if close.shape[1] else np.full(close.shape[0], np.nan)
    return DecideInputs(detect(view, cfg.regime, settle_periods), last, close_at)


_CRISIS = REGIMES.index("crisis")
_BUY, _SELL, _HOLD = 0, 1, 2  # Decisions.action_codes


def _take(mints: tuple[str, ...], rows: np.ndarray) -> tuple[str, ...]:
    if rows.size == 0:
        return ()
    if rows.size == 1:
        return (mints[int(rows[0])],)
    return operator.itemgetter(*rows.tolist())(mints)


class _Taken:
    """The mints of rows ``rows`` of ``universe`` (``_take``), made on first use: a pending entry's
    tokens are read only when its horizon comes in a changed universe, or when the state is saved."""

    __slots__ = ("_made", "_rows", "_universe")

    def __init__(self, universe: tuple[str, ...], rows: np.ndarray) -> None:
        self._universe, self._rows = universe, rows
        self._made: tuple[str, ...] | None = None

    def _tuple(self) -> tuple[str, ...]:
        if self._made is None:
            self._made = _take(self._universe, self._rows)
        return self._made

    def __len__(self) -> int:
        return int(self._rows.size)

    def __iter__(self) -> Iterator[str]:
        return iter(self._tuple())

    def __getitem__(self, i: int) -> str:
        return self._tuple()[i]


class Ensemble:
    def __init__(self, cfg: EnsembleConfig, strategies_cfg: StrategiesConfig,
                 state: dict | None = None) -> None:
        self._pending: list[dict[str, Any]] = []
        self._names: tuple[str, ...] = ()
        self._w = np.zeros(0)
        self._market_regime, self._market_confidence = "unknown", 0.0
        self.reconfigure(cfg, strategies_cfg, learned=None)
        if state:
            self._load(state)

    # -- configuration and state -----------------------------------------------------------

    def reconfigure(self, cfg: EnsembleConfig, strategies_cfg: StrategiesConfig,
                    learned: dict[str, float] | bool | None = True) -> None:
        """Apply new settings (hot reload). Learned weights of strategies still enabled are kept;
        newly enabled ones start from their configured share."""
        names = strategies_cfg.enabled_names()
        s = len(names)
        if s and not (cfg.min_weight * s <= 1.0 <= cfg.max_weight * s + 1e-12):
            raise ValueError(
                f"ensemble.min_weight ({cfg.min_weight}) and ensemble.max_weight ({cfg.max_weight}) cannot "
                f"hold {s} enabled strategies: need min_weight x {s} <= 1 <= max_weight x {s}")
        keep = self.weights if learned is True else (learned or {})
        prior = np.array([strategies_cfg.params(n).weight for n in names], dtype=np.float64)
        prior = prior / prior.sum() if prior.sum() > 0 else np.full(s, 1.0 / max(s, 1))
        w = np.array([keep.get(n, prior[i]) for i, n in enumerate(names)], dtype=np.float64)
        self._cfg, self._scfg, self._names = cfg, strategies_cfg, names
        self._w = project_weights(w, cfg.min_weight, cfg.max_weight)
        # gate[i, r]: strategy i's votes count for a token in regime r
        self._gate = np.array([[name in cfg.gating.allowed(r) for r in REGIMES] for name in names],
                              dtype=bool).reshape(s, len(REGIMES))

    @property
    def config(self) -> EnsembleConfig:
        return self._cfg

    @property
    def weights(self) -> dict[str, float]:
        return {n: float(x) for n, x in zip(self._names, self._w, strict=True)}

    @property
    def market_regime(self) -> str:
        """The market-wide regime of the latest ``decide()`` ("unknown" before the first): one of
        trending_up, trending_down, ranging, crisis, unknown (the risk manager's crisis breaker)."""
        return self._market_regime

    @property
    def market_regime_confidence(self) -> float:
        """Confidence in ``market_regime``, in [0, 1] (0 before the first ``decide()``)."""
        return self._market_confidence

    def state(self) -> dict:
        """Learned weights and votes awaiting their horizon, as JSON-serialisable plain data. The
        pending votes are stored columnar and packed (see ``_encode_pending``): a few KB per cycle
        of 1,000 tokens instead of ~100 KB of JSON floats, and exact."""
        return {"version": STATE_VERSION, "weights": self.weights,
                "pending": _encode_pending(self._pending)}

    def pending(self) -> list[dict[str, Any]]:
        """The votes awaiting their horizon as plain data (the version-1 state layout): per entry
        ``bar_ts``, ``mints``, ``px`` and ``votes`` (strategy -> list)."""
        return [{"bar_ts": int(p["bar_ts"]), "mints": list(p["mints"]),
                 "px": np.asarray(p["px"], dtype=np.float64).tolist(),
                 "votes": {n: np.asarray(v, dtype=np.float64).tolist() for n, v in p["votes"].items()}}
                for p in self._pending]

    def _load(self, state: dict) -> None:
        version = state.get("version")
        if version not in (1, STATE_VERSION):
            raise ValueError(f"ensemble state version {version!r} is not {STATE_VERSION} (or 1)")
        weights = {str(k): float(v) for k, v in state.get("weights", {}).items()}
        self.reconfigure(self._cfg, self._scfg, learned=weights)
        pending = state.get("pending") or ([] if version == 1 else {"mints": [], "entries": []})
        self._pending = [dict(p) for p in pending] if version == 1 else _decode_pending(pending)

    # -- deciding ----------------------------------------------------------------------------

    def decide(self, view: MarketView, votes: Sequence[StrategyVotes],
               inputs: DecideInputs | None = None) -> Decisions:
        """One decision per token of ``view`` (same order), carrying every enabled strategy's vote.

        ``inputs`` (regimes and cleaned closes) come from the incremental path; without them they
        are recomputed from the view."""
        cfg = self._cfg
        n = len(view.mints)
        if inputs is None:
            inputs = full_window_inputs(view, cfg, self._scfg.settle_periods)
        self._learn(view, inputs)
        regimes = inputs.regimes
        self._market_regime, self._market_confidence = regimes.market, float(regimes.market_confidence)
        by_name = {v.strategy: v for v in votes}
        s = len(self._names)
        got = [by_name.get(name) for name in self._names]
        if s and all(v is not None and v.score.shape == (n,) for v in got):
            score = np.stack([v.score for v in got])  # type: ignore[union-attr]
            conf = np.stack([v.confidence for v in got])  # type: ignore[union-attr]
        else:
            score = np.zeros((s, n))
            conf = np.zeros((s, n))
            for i, v in enumerate(got):
                if v is not None and v.score.shape == (n,):
                    score[i] = v.score
                    conf[i] = v.confidence
        score = clip(score, -1, 1, out=score)  # clipped: NaN is all nan_to_num would still have to map
        score[np.isnan(score)] = 0.0
        conf = clip(conf, 0, 1, out=conf)
        conf[np.isnan(conf)] = 0.0
        val = score * conf
        val[np.abs(val) < cfg.min_vote] = 0.0
        codes = regimes.codes
        gate = self._gate[:, codes]
        eff_w = np.where(gate, self._w[:, None], 0.0)
        active = val != 0
        active &= gate
        # row after row, as np.sum(axis=0) adds them (np.add.reduce without its Python wrapper)
        add = np.add.reduce
        den = add(eff_w * active, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            combined = np.where(den > 0, add(eff_w * val, axis=0) / np.where(den > 0, den, 1.0), 0.0)
            allowed_w = add(eff_w, axis=0)
            confidence = np.where(allowed_w > 0, add(eff_w * conf * active, axis=0)
                                  / np.where(allowed_w > 0, allowed_w, 1.0), 0.0)
        combined = clip(combined, -1.0, 1.0)
        agree_buy = add(active & (val > 0), axis=0)
        stale = np.zeros(n, dtype=bool) if view.stale is None else np.asarray(view.stale, dtype=bool)
        buy = (combined >= cfg.entry_threshold) & (agree_buy >= cfg.min_agreeing) \
            & (codes != _CRISIS) & ~stale
        sell = combined <= -cfg.exit_threshold
        self._register(view, inputs.close, val * gate)
        reasons = []
        for name in self._names:
            v = by_name.get(name)
            reasons.append(v.reasons if v is not None and len(v.reasons) == n else ("did not vote",) * n)
        # Vote objects are built per token on first access to Decision.votes (see VoteTable)
        table = VoteTable(self._names, score, conf, eff_w, reasons)
        actions = np.where(buy, _BUY, np.where(sell, _SELL, _HOLD)).astype(np.int8)
        return Decisions(view.mints, actions, combined, confidence, regimes.labels_lazy(), table)

    # -- learning ----------------------------------------------------------------------------

    def _register(self, view: MarketView, px: np.ndarray, val: np.ndarray) -> None:
        if view.candles.n_bars == 0 or self._cfg.learning_rate == 0 or not self._names:
            return
        with np.errstate(invalid="ignore"):
            keep = np.flatnonzero((val != 0).any(axis=0) & np.isfinite(px) & (px > 0))
        bar_ts = int(view.candles.ts[-1])
        vk = val[:, keep]
        entry = {"bar_ts": bar_ts, "mints": _Taken(view.mints, keep), "px": px[keep],
                 "votes": {n: vk[i] for i, n in enumerate(self._names)},
                 "_universe": view.mints, "_rows": keep, "_names": self._names, "_vk": vk}
        if self._pending and self._pending[-1]["bar_ts"] == bar_ts:
            self._pending[-1] = entry  # the same bar seen again: the latest votes count once
        elif not self._pending or self._pending[-1]["bar_ts"] < bar_ts:
            self._pending.append(entry)

    def _learn(self, view: MarketView, inputs: DecideInputs) -> None:
        cfg = self._cfg
        if not self._pending or view.candles.n_bars == 0:
            return
        last_ts = int(view.candles.ts[-1])
        horizon = cfg.horizon_minutes * 60
        row: dict[str, int] | None = None
        still: list[dict[str, Any]] = []
        for entry in self._pending:
            target = entry["bar_ts"] + horizon
            if target > last_ts:
                still.append(entry)
                continue
            later = inputs.close_at(target)
            if later is None or not len(entry["mints"]):
                continue  # scrolled out of the window (long downtime): nothing to learn from
            universe = entry.get("_universe")
            if universe is not None and (universe is view.mints or universe == view.mints):
                idx = entry["_rows"]
            else:
                if row is None:
                    row = {m: i for i, m in enumerate(view.mints)}
                idx = np.array([row.get(m, -1) for m in entry["mints"]], dtype=np.int64)
            self._update(entry, idx, later)
        self._pending = still

    def _update(self, entry: dict[str, Any], idx: np.ndarray, later: np.ndarray) -> None:
        cfg = self._cfg
        p0 = np.asarray(entry["px"], dtype=np.float64)
        p1 = later[idx] if idx.size and idx.min() >= 0 else np.where(idx >= 0, later[np.maximum(idx, 0)], np.nan)
        fwd = clip(p1 / p0 - 1.0, -1.0, 1.0)
        ok = np.isfinite(fwd)
        if not ok.any():
            return
        w = self._w.copy()
        vk = entry.get("_vk")
        if vk is not None and entry.get("_names") is self._names:
            # registered this run with these strategies: one row each, of the entry's shape
            have = np.arange(len(self._names))
            rows = vk
        else:
            votes = entry["votes"]
            have = np.array([i for i, name in enumerate(self._names)
                             if np.shape(votes.get(name, ())) == fwd.shape], dtype=np.int64)
            if not have.size:
                self._w = project_weights(w, cfg.min_weight, cfg.max_weight)
                return
            rows = np.stack([np.asarray(votes[self._names[i]], dtype=np.float64) for i in have.tolist()])
        # one C-ordered row per strategy: row sums are then the same pairwise sums as each row on
        # its own (a column-masked array is Fortran-ordered, and sums differently)
        every = bool(ok.all())
        vo = np.ascontiguousarray(rows if every else rows[:, ok])
        mags = np.abs(vo).sum(axis=1)
        sums = (vo * (fwd if every else fwd[ok])).sum(axis=1)
        moved = mags != 0
        # each strategy's weight times exp(rate x clipped edge), as one scalar product each would be
        edge = sums[moved] / mags[moved]
        w[have[moved]] *= np.exp(cfg.learning_rate * clip(edge / cfg.edge_scale, -1.0, 1.0))
        self._w = project_weights(w, cfg.min_weight, cfg.max_weight)
