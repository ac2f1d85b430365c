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
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from strategies.config import EnsembleConfig, StrategiesConfig
from strategies.features import candles
from strategies.regime import detect
from strategies.types import Action, Decision, MarketView, StrategyVotes, TokenVotes, VoteTable

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
        voted = [n for n, v in p["votes"].items() if any(v)]
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



def project_weights(w: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Weights ``clip(c * w, lo, hi)`` summing to 1, with the scale ``c`` found by bisection: ratios
    are kept wherever no bound binds. Needs ``lo * len(w) <= 1 <= hi * len(w)``."""
    w = np.maximum(np.asarray(w, dtype=np.float64), 0.0)
    if w.shape[0] == 0:
        return w
    if w.sum() <= 0:
        w = np.ones_like(w)
    w = w / w.sum()

    def total(c: float) -> float:
        return float(np.clip(c * w, lo, hi).sum())

    c_lo, c_hi = 0.0, 1.0
    while total(c_hi) < 1.0 and c_hi < 1e12:
        c_hi *= 2.0
    for _ in range(100):
        mid = 0.5 * (c_lo + c_hi)
        if total(mid) < 1.0:
            c_lo = mid
        else:
            c_hi = mid
    out = np.clip(c_hi * w, lo, hi)
    return out / out.sum()


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

    def _load(self, state: dict) -> None:
        version = state.get("version")
        if version not in (1, STATE_VERSION):
            raise ValueError(f"ensemble state version {version!r} is not {STATE_VERSION} (or 1)")
        weights = {str(k): float(v) for k, v in state.get("weights", {}).items()}
        self.reconfigure(self._cfg, self._scfg, learned=weights)
        pending = state.get("pending") or ([] if version == 1 else {"mints": [], "entries": []})
        self._pending = [dict(p) for p in pending] if version == 1 else _decode_pending(pending)

    # -- deciding ----------------------------------------------------------------------------

    def decide(self, view: MarketView, votes: Sequence[StrategyVotes]) -> list[Decision]:
        """One decision per token of ``view`` (same order), carrying every enabled strategy's vote."""
        cfg = self._cfg
        n = len(view.mints)
        close = candles(view, 1).close
        self._learn(view, close)
        regimes = detect(view, cfg.regime, self._scfg.settle_periods)
        self._market_regime, self._market_confidence = regimes.market, float(regimes.market_confidence)
        by_name = {v.strategy: v for v in votes}
        s = len(self._names)
        score = np.zeros((s, n))
        conf = np.zeros((s, n))
        for i, name in enumerate(self._names):
            v = by_name.get(name)
            if v is not None and v.score.shape == (n,):
                score[i] = np.nan_to_num(np.clip(v.score, -1, 1))
                conf[i] = np.nan_to_num(np.clip(v.confidence, 0, 1))
        val = score * conf
        val[np.abs(val) < cfg.min_vote] = 0.0
        labels = np.array(regimes.labels, dtype=object)
        gate = np.zeros((s, n), dtype=bool)
        for regime in set(regimes.labels):
            allowed = set(cfg.gating.allowed(regime))
            cols = labels == regime
            for i, name in enumerate(self._names):
                if name in allowed:
                    gate[i, cols] = True
        eff_w = np.where(gate, self._w[:, None], 0.0)
        active = (val != 0) & gate
        den = np.sum(eff_w * active, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            combined = np.where(den > 0, np.sum(eff_w * val, axis=0) / np.where(den > 0, den, 1.0), 0.0)
            allowed_w = eff_w.sum(axis=0)
            confidence = np.where(allowed_w > 0, np.sum(eff_w * conf * active, axis=0)
                                  / np.where(allowed_w > 0, allowed_w, 1.0), 0.0)
        combined = np.clip(combined, -1.0, 1.0)
        agree_buy = np.sum(active & (val > 0), axis=0)
        stale = np.zeros(n, dtype=bool) if view.stale is None else np.asarray(view.stale, dtype=bool)
        buy = (combined >= cfg.entry_threshold) & (agree_buy >= cfg.min_agreeing) \
            & (labels != "crisis") & ~stale
        sell = combined <= -cfg.exit_threshold
        self._register(view, close, val * gate)
        return self._decisions(view, regimes.labels, combined, confidence, buy, sell, score, conf, eff_w, votes)

    def _decisions(self, view: MarketView, labels: tuple[str, ...], combined: np.ndarray,
                   confidence: np.ndarray, buy: np.ndarray, sell: np.ndarray, score: np.ndarray,
                   conf: np.ndarray, eff_w: np.ndarray, votes: Sequence[StrategyVotes]) -> list[Decision]:
        by_name = {v.strategy: v for v in votes}
        n = len(view.mints)
        reasons = []
        for name in self._names:
            v = by_name.get(name)
            reasons.append(v.reasons if v is not None and len(v.reasons) == n else ("did not vote",) * n)
        # Vote objects are built per token on first access to Decision.votes (see VoteTable)
        table = VoteTable(self._names, score, conf, eff_w, reasons)
        actions = [Action.BUY if b else Action.SELL if s_ else Action.HOLD
                   for b, s_ in zip(buy.tolist(), sell.tolist(), strict=True)]
        return [Decision(m, a, c, f, r, TokenVotes(table, j)) for j, (m, a, c, f, r) in
                enumerate(zip(view.mints, actions, combined.tolist(), confidence.tolist(), labels, strict=True))]

    # -- learning ----------------------------------------------------------------------------

    def _register(self, view: MarketView, close: np.ndarray, val: np.ndarray) -> None:
        if close.shape[1] == 0 or self._cfg.learning_rate == 0 or not self._names:
            return
        px = close[:, -1]
        keep = np.flatnonzero((val != 0).any(axis=0) & np.isfinite(px) & (px > 0))
        bar_ts = int(view.candles.ts[-1])
        entry = {"bar_ts": bar_ts, "mints": [view.mints[j] for j in keep], "px": px[keep].tolist(),
                 "votes": {n: val[i, keep].tolist() for i, n in enumerate(self._names)}}
        if self._pending and self._pending[-1]["bar_ts"] == bar_ts:
            self._pending[-1] = entry  # the same bar seen again: the latest votes count once
        elif not self._pending or self._pending[-1]["bar_ts"] < bar_ts:
            self._pending.append(entry)

    def _learn(self, view: MarketView, close: np.ndarray) -> None:
        cfg = self._cfg
        if not self._pending or close.shape[1] == 0:
            return
        ts = view.candles.ts
        horizon = cfg.horizon_minutes * 60
        row = {m: i for i, m in enumerate(view.mints)}
        still: list[dict[str, Any]] = []
        for entry in self._pending:
            target = entry["bar_ts"] + horizon
            if target > ts[-1]:
                still.append(entry)
                continue
            j = int(np.searchsorted(ts, target))
            if j >= len(ts) or ts[j] != target or not entry["mints"]:
                continue  # scrolled out of the window (long downtime): nothing to learn from
            self._update(entry, row, close[:, j])
        self._pending = still

    def _update(self, entry: dict[str, Any], row: dict[str, int], later: np.ndarray) -> None:
        cfg = self._cfg
        idx = np.array([row.get(m, -1) for m in entry["mints"]])
        p0 = np.asarray(entry["px"], dtype=np.float64)
        p1 = np.where(idx >= 0, later[np.maximum(idx, 0)], np.nan)
        fwd = np.clip(p1 / p0 - 1.0, -1.0, 1.0)
        ok = np.isfinite(fwd)
        if not ok.any():
            return
        w = self._w.copy()
        for i, name in enumerate(self._names):
            v = np.asarray(entry["votes"].get(name, []), dtype=np.float64)
            if v.shape != fwd.shape:
                continue
            mag = np.sum(np.abs(v[ok]))
            if mag == 0:
                continue
            edge = float(np.sum(v[ok] * fwd[ok]) / mag)
            w[i] *= np.exp(cfg.learning_rate * np.clip(edge / cfg.edge_scale, -1.0, 1.0))
        self._w = project_weights(w, cfg.min_weight, cfg.max_weight)
