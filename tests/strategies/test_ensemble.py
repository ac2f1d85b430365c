"""The ensemble: gating, consensus, thresholds, and weights that learn and survive restarts."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from strategies.config import STRATEGY_NAMES, EnsembleConfig, StrategiesConfig
from strategies.ensemble import Ensemble, project_weights
from strategies.types import Action, MarketView, StrategyVotes
from tests.strategies.conftest import TOML
from tests.strategies.paths import panel, view

N = 30


def _votes(scores: dict[str, np.ndarray], n: int, conf: float = 1.0) -> list[StrategyVotes]:
    out = []
    for name in STRATEGY_NAMES:
        s = scores.get(name, np.zeros(n))
        out.append(StrategyVotes(name, s.astype(float), np.where(s != 0, conf, 0.0), tuple(["r"] * n)))
    return out


def _ranging_view(n: int = 3, bars: int = 200, stale: np.ndarray | None = None) -> MarketView:
    t = np.arange(bars)
    close = np.vstack([1.0 + 0.002 * np.sin(t / 2.0 + i) for i in range(n)])
    v = view(panel({"close": close}))
    return MarketView(v.ts, v.candles, {}, stale if stale is not None else np.zeros(n, bool))


def _open_gates(ecfg: EnsembleConfig) -> EnsembleConfig:
    gating = {r: list(STRATEGY_NAMES) for r in type(ecfg.gating).model_fields}
    return EnsembleConfig.model_validate({**ecfg.model_dump(), "gating": gating})


def test_buy_needs_threshold_and_consensus_and_sell_needs_only_the_exit_threshold(ecfg, scfg) -> None:
    e = Ensemble(_open_gates(ecfg), scfg)
    v = _ranging_view(3)
    scores = {"momentum_breakout": np.array([0.8, 0.8, -0.8]),
              "trend_following": np.array([0.6, 0.0, 0.0])}
    d = e.decide(v, _votes(scores, 3))
    assert [x.action for x in d] == [Action.BUY, Action.HOLD, Action.SELL]  # 1 agreeing is not consensus
    assert d[0].score == pytest.approx(0.7)
    assert len(d[0].votes) == 8 and {x.strategy for x in d[0].votes} == set(STRATEGY_NAMES)
    assert "momentum_breakout: r" in d[0].explain()


def test_stale_tokens_never_get_a_buy(ecfg, scfg) -> None:
    e = Ensemble(_open_gates(ecfg), scfg)
    v = _ranging_view(2, stale=np.array([False, True]))
    scores = {"momentum_breakout": np.array([0.8, 0.8]), "trend_following": np.array([0.8, 0.8])}
    assert [x.action for x in e.decide(v, _votes(scores, 2))] == [Action.BUY, Action.HOLD]


def test_no_new_entries_in_crisis_but_exits_still_go_through(ecfg, scfg) -> None:
    bars = 200
    rug = np.r_[np.ones(bars - 10), np.linspace(0.9, 0.3, 10)]
    v = view(panel({"close": np.vstack([rug, rug])}))
    e = Ensemble(ecfg, scfg)
    buy = {n: np.array([0.9, -0.9]) for n in STRATEGY_NAMES}
    d = e.decide(v, _votes(buy, 2))
    assert d[0].regime == "crisis" and d[0].action == Action.HOLD and d[0].score > 0.5
    assert d[1].action == Action.SELL


def test_market_regime_is_unknown_before_the_first_decision_then_follows_the_latest_view(ecfg, scfg) -> None:
    e = Ensemble(ecfg, scfg)
    assert e.market_regime == "unknown" and e.market_regime_confidence == 0.0
    e.decide(_ranging_view(6), _votes({}, 6))
    assert e.market_regime == "ranging"
    # every token falls 30% within the crisis window: a market-wide crash
    bars, n = 200, 6
    crash = np.vstack([np.r_[np.ones(bars - 10), np.linspace(0.97, 0.7, 10)] * (1 + 0.01 * i) for i in range(n)])
    e.decide(view(panel({"close": crash})), _votes({}, n))
    assert e.market_regime == "crisis"
    assert 0.5 <= e.market_regime_confidence <= 1.0
    e.decide(_ranging_view(6), _votes({}, 6))
    assert e.market_regime == "ranging"  # set by the latest decision, not latched


def test_market_regime_names_are_the_ones_the_crisis_breaker_lists(ecfg, scfg) -> None:
    breakers = tomllib.loads(TOML.read_text(encoding="utf-8"))["risk"]["breakers"]
    bars, n = 200, 6
    crash = np.vstack([np.r_[np.ones(bars - 10), np.linspace(0.97, 0.7, 10)] for _ in range(n)])
    e = Ensemble(ecfg, scfg)
    e.decide(view(panel({"close": crash})), _votes({}, n))
    assert e.market_regime in breakers["crisis_regimes"]


def test_regime_gating_zeroes_the_weight_of_strategies_the_regime_does_not_allow(ecfg, scfg) -> None:
    v = _ranging_view(1)
    d = Ensemble(ecfg, scfg).decide(v, _votes({"momentum_breakout": np.array([0.9])}, 1))[0]
    assert d.regime in ("ranging", "choppy")
    mb = next(x for x in d.votes if x.strategy == "momentum_breakout")
    assert mb.weight == 0 and d.score == 0 and d.action == Action.HOLD


def test_decisions_are_deterministic(ecfg, scfg) -> None:
    v = _ranging_view(3)
    scores = {n: np.array([0.5, -0.3, 0.1]) for n in STRATEGY_NAMES}
    assert Ensemble(ecfg, scfg).decide(v, _votes(scores, 3)) == Ensemble(ecfg, scfg).decide(v, _votes(scores, 3))


def _market(bars: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(np.cumsum(rng.normal(0, 0.01, (N, bars)), axis=1))


def _run(e: Ensemble, close: np.ndarray, start: int, stop: int, horizon: int, seed: int) -> None:
    """Cycle over bars: 'mean_reversion' knows the forward return's sign, the others are noise."""
    rng = np.random.default_rng(seed)
    for t in range(start, stop):
        v = view(panel({"close": close[:, : t + 1]}))
        fwd = close[:, min(t + horizon, close.shape[1] - 1)] / close[:, t] - 1
        scores = {n: rng.uniform(-1, 1, N) for n in STRATEGY_NAMES}
        scores["mean_reversion"] = np.sign(fwd) * 0.8
        e.decide(v, _votes(scores, N))


def test_weights_move_toward_the_informative_strategy_and_away_from_noise(ecfg, scfg) -> None:
    cfg = _open_gates(ecfg)
    close = _market(400, 1)
    e = Ensemble(cfg, scfg)
    start = dict(e.weights)
    _run(e, close, 100, 399, cfg.horizon_minutes, seed=2)
    w = e.weights
    assert w["mean_reversion"] > start["mean_reversion"] * 2
    assert w["mean_reversion"] == max(w.values())
    assert all(w[n] < start[n] for n in STRATEGY_NAMES if n != "mean_reversion")
    assert sum(w.values()) == pytest.approx(1.0)
    assert all(cfg.min_weight - 1e-12 <= x <= cfg.max_weight + 1e-12 for x in w.values())


def test_learned_weights_survive_a_restart_through_json_state(ecfg, scfg) -> None:
    cfg = _open_gates(ecfg)
    close = _market(300, 3)
    a = Ensemble(cfg, scfg)
    _run(a, close, 100, 200, cfg.horizon_minutes, seed=4)
    saved = json.loads(json.dumps(a.state()))
    b = Ensemble(cfg, scfg, state=saved)
    assert b.weights == a.weights
    _run(a, close, 200, 299, cfg.horizon_minutes, seed=5)
    _run(b, close, 200, 299, cfg.horizon_minutes, seed=5)
    assert b.weights == a.weights  # pending votes were restored too


def test_state_is_compact_exact_and_still_reads_the_version_1_layout(ecfg, scfg) -> None:
    cfg = _open_gates(ecfg)
    a = Ensemble(cfg, scfg)
    _run(a, _market(200, 8), 100, 199, cfg.horizon_minutes, seed=9)
    state = json.loads(json.dumps(a.state()))
    v1 = {"version": 1, "weights": a.weights, "pending": a.pending()}
    assert len(json.dumps(state)) < 0.6 * len(json.dumps(v1))  # dense random votes: the worst case
    for saved in (state, json.loads(json.dumps(v1))):
        b = Ensemble(cfg, scfg, state=saved)
        assert b.pending() == a.pending() and b.weights == a.weights  # bit for bit
    with pytest.raises(ValueError, match="version"):
        Ensemble(cfg, scfg, state={**state, "version": 99})


def test_reconfigure_keeps_learned_weights_and_adds_new_strategies_at_their_share(ecfg, scfg) -> None:
    cfg = _open_gates(ecfg)
    off = scfg.model_copy(update={"whale_tracking": scfg.whale_tracking.model_copy(update={"enabled": False})})
    e = Ensemble(cfg, off)
    _run(e, _market(250, 6), 100, 249, cfg.horizon_minutes, seed=7)
    learned = e.weights
    assert "whale_tracking" not in learned
    e.reconfigure(cfg, scfg)
    w = e.weights
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["mean_reversion"] > w["whale_tracking"]
    ratio = w["mean_reversion"] / w["trend_following"]
    assert ratio == pytest.approx(learned["mean_reversion"] / learned["trend_following"], rel=0.05)


def test_infeasible_weight_bounds_are_rejected_with_the_keys_named(ecfg, scfg: StrategiesConfig) -> None:
    bad = EnsembleConfig.model_validate({**ecfg.model_dump(), "min_weight": 0.2, "max_weight": 0.5})
    with pytest.raises(ValueError, match="min_weight"):
        Ensemble(bad, scfg)


def test_projected_weights_sum_to_one_within_bounds() -> None:
    w = project_weights(np.array([100.0, 1, 1, 1, 1, 1, 1, 0]), 0.02, 0.4)
    assert w.sum() == pytest.approx(1.0) and w.max() <= 0.4 + 1e-12 and w.min() >= 0.02 - 1e-12
