"""Each strategy on constructed price paths where the right answer is obvious, and on adversarial
inputs where it must stay finite and in range."""

from __future__ import annotations

import numpy as np
import pytest

from strategies.config import StrategiesConfig
from strategies.registry import build_strategies
from tests.strategies.paths import panel, random_market, view

BARS = 400


def _strategy(scfg: StrategiesConfig, name: str):
    return next(s for s in build_strategies(scfg) if s.name == name)


def _walk(seed: int, bars: int = BARS, vol: float = 0.002, level: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * np.exp(np.cumsum(rng.normal(0, vol, bars)))


def _ohlc(close: np.ndarray, wick: float = 0.001) -> dict[str, np.ndarray]:
    open_ = np.concatenate([[close[0]], close[:-1]])
    return {"open": open_, "close": close, "high": np.maximum(open_, close) * (1 + wick),
            "low": np.minimum(open_, close) * (1 - wick)}


def test_momentum_breakout_buys_a_clean_breakout_on_volume(scfg) -> None:
    close = _walk(1)
    close[-10:] = close[-11] * np.linspace(1.01, 1.15, 10)
    vol = np.full(BARS, 1000.0)
    vol[-1] = 8000.0
    v = _strategy(scfg, "momentum_breakout").evaluate(view(panel({**_ohlc(close), "volume_usd": vol})))
    assert v.score[0] > 0.5 and v.confidence[0] > 0.9
    assert "broke 60-bar high on 8.0x volume" in v.reasons[0]


def test_momentum_breakout_sells_a_rug(scfg) -> None:
    close = _walk(2)
    close[-8:] = close[-9] * np.linspace(0.9, 0.3, 8)
    vol = np.full(BARS, 1000.0)
    vol[-1] = 10_000.0
    v = _strategy(scfg, "momentum_breakout").evaluate(view(panel({**_ohlc(close), "volume_usd": vol})))
    assert v.score[0] <= -0.9


def test_mean_reversion_buys_a_stretched_drop_in_a_range_and_sells_a_spike(scfg) -> None:
    base = 1.0 + 0.01 * np.sin(np.arange(BARS) / 3.0)
    down, up = base.copy(), base.copy()
    down[-6:] = base[-7] * np.linspace(0.99, 0.93, 6)
    up[-6:] = base[-7] * np.linspace(1.01, 1.07, 6)
    s = _strategy(scfg, "mean_reversion")
    v = s.evaluate(view(panel({"close": np.vstack([down, up, base])})))
    assert v.score[0] > 0.5 and v.score[1] < -0.5 and v.score[2] == 0


def test_trend_following_follows_a_steady_trend_both_ways(scfg) -> None:
    t = np.arange(BARS)
    up = np.exp(0.002 * t + 0.003 * np.sin(t / 4))
    down = np.exp(-0.002 * t + 0.003 * np.sin(t / 4))
    v = _strategy(scfg, "trend_following").evaluate(view(panel({"close": np.vstack([up, down])})))
    assert v.score[0] > 0.5 and v.score[1] < -0.5


def test_volatility_breakout_buys_expansion_after_a_squeeze(scfg) -> None:
    rng = np.random.default_rng(3)
    close = 1.0 + np.cumsum(rng.normal(0, 0.01, BARS))  # volatile
    close = np.abs(close) + 1.0
    close[-40:-1] = close[-41] + rng.normal(0, 0.0005, 39)  # squeeze
    close[-1] = close[-2] * 1.03  # expansion up
    v = _strategy(scfg, "volatility_breakout").evaluate(view(panel(_ohlc(close, 0.0005))))
    assert v.score[0] > 0.5 and v.confidence[0] > 0.8
    assert "squeeze" in v.reasons[0]


def test_whale_tracking_buys_accumulation_and_abstains_without_whale_data(scfg) -> None:
    close = _walk(4)
    wb = np.zeros((2, BARS))
    ws = np.zeros((2, BARS))
    wb[0, -10:] = 1000.0  # $10k net buys on $100k liquidity
    ws[1, -10:] = 1000.0
    s = _strategy(scfg, "whale_tracking")
    v = s.evaluate(view(panel({"close": np.vstack([close, close]), "whale_buy_usd": wb, "whale_sell_usd": ws})))
    assert v.score[0] == pytest.approx(1.0) and v.score[1] == pytest.approx(-1.0)
    assert "accelerating" in v.reasons[0]
    bare = s.evaluate(view(panel({"close": np.vstack([close, close])})))
    assert (bare.score == 0).all() and (bare.confidence == 0).all() and bare.reasons[0] == "no whale data"


def test_sentiment_momentum_buys_rising_boosts_with_buy_pressure(scfg) -> None:
    close = _walk(5)
    boosts = np.zeros(BARS)
    boosts[-15:] = 2.0  # two boosts bought within the window
    buys = np.full(BARS, 30.0)
    sells = np.full(BARS, 10.0)
    v = _strategy(scfg, "sentiment_momentum").evaluate(
        view(panel({"close": close, "boosts_active": boosts, "buys": buys, "sells": sells})))
    assert v.score[0] > 0.3 and v.confidence[0] > 0.4
    assert "boosts +" in v.reasons[0]


def test_sentiment_momentum_reads_no_attention_column(scfg) -> None:
    """`attention` had no live source (the simulator alone produced it): it is not an input."""
    close = _walk(5)
    quiet = np.zeros(BARS)
    s = _strategy(scfg, "sentiment_momentum")
    v = s.evaluate(view(panel({"close": close, "attention": np.linspace(0, 100, BARS), "buys": quiet,
                               "sells": quiet})))
    assert v.score[0] == 0 and v.reasons[0] == "no sentiment data"
    assert "attention" not in s.inputs.required + s.inputs.optional


def test_pattern_recognition_sees_bullish_structure_and_bearish_structure(scfg) -> None:
    t = np.arange(BARS)
    up = np.exp(0.0015 * t + 0.02 * np.sin(2 * np.pi * t / 40))
    down = np.exp(-0.0015 * t + 0.02 * np.sin(2 * np.pi * t / 40))
    v = _strategy(scfg, "pattern_recognition").evaluate(view(panel({"close": np.vstack([up, down])})))
    assert v.score[0] > 0 and v.score[1] < 0
    assert "higher highs" in v.reasons[0] and "lower highs" in v.reasons[1]


def test_statistical_arbitrage_sells_a_token_rich_against_its_second_pool(scfg) -> None:
    rng = np.random.default_rng(6)
    close = _walk(6)
    spread = np.zeros(BARS)
    for i in range(1, BARS):  # fast mean-reverting spread
        spread[i] = 0.5 * spread[i - 1] + rng.normal(0, 0.002)
    spread[-1] = 0.02  # rich
    alt = close * np.exp(-spread)
    v = _strategy(scfg, "statistical_arbitrage").evaluate(view(panel({"close": close, "alt_close": alt})))
    assert v.score[0] < -0.5
    assert "second pool" in v.reasons[0]


ADVERSARIAL = {
    "constant": np.full((1, BARS), 2.0),
    "one_candle": np.r_[np.full(BARS - 1, np.nan), 1.0][None, :],
    "all_nan": np.full((1, BARS), np.nan),
    "huge_spikes": np.where(np.arange(BARS) % 50 == 0, 1e12, 1e-9)[None, :],
    "tiny_prices": _walk(7, level=1e-12)[None, :],
    "gaps": np.where(np.arange(BARS) % 7 == 0, np.nan, _walk(8))[None, :],
}


@pytest.mark.parametrize("case", sorted(ADVERSARIAL))
def test_every_strategy_stays_finite_and_in_range_on_adversarial_inputs(scfg, case: str) -> None:
    close = ADVERSARIAL[case]
    zeros = np.where(np.isnan(close), np.nan, 0.0)
    p = panel({"close": close, "volume_usd": zeros, "liquidity_usd": zeros, "buys": zeros, "sells": zeros,
               "whale_buy_usd": zeros, "whale_sell_usd": zeros, "boosts_active": zeros, "alt_close": close})
    for s in build_strategies(scfg):
        for pp in (p, p.tail(1), p.tail(2)):
            v = s.evaluate(view(pp))
            assert np.isfinite(v.score).all() and np.isfinite(v.confidence).all(), s.name
            assert (np.abs(v.score) <= 1).all() and ((v.confidence >= 0) & (v.confidence <= 1)).all()
            assert len(v.reasons) == pp.n_tokens
            assert all(isinstance(r, str) and r for r in v.reasons)  # lazy reasons all format


def test_tokens_with_too_little_history_get_zero_votes(scfg) -> None:
    p = random_market(20, 300, seed=9)
    young = np.full((1, 300), np.nan)
    young[0, -5:] = 1.0
    cols = {k: np.vstack([v, np.where(np.isnan(young), np.nan, v[:1])]) for k, v in p.columns.items()}
    cols["close"][-1] = young[0]
    v = view(panel(cols))
    for s in build_strategies(scfg):
        out = s.evaluate(v)
        assert out.score[-1] == 0 and out.confidence[-1] == 0, s.name


def test_every_strategy_votes_on_a_realistic_market(scfg) -> None:
    v = view(random_market(200, 400, seed=10))
    for s in build_strategies(scfg):
        out = s.evaluate(v)
        assert (out.score != 0).sum() >= 1, s.name
        assert out.strategy == s.name


def test_registry_builds_enabled_strategies_in_stable_order(scfg) -> None:
    names = [s.name for s in build_strategies(scfg)]
    assert names == list(scfg.enabled_names()) and len(names) == 8
    off = scfg.model_copy(update={"whale_tracking": scfg.whale_tracking.model_copy(update={"enabled": False})})
    assert "whale_tracking" not in [s.name for s in build_strategies(off)]
