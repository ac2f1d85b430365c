"""Builders for risk tests: config, market views, portfolios, positions, safety facts."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from bot.config import load_config, with_overrides
from bot.contracts import PortfolioState, Position, TokenSafety, TradingState
from bot.risk.config import RiskConfig
from chain.types import LAMPORTS_PER_SOL, QuoteCheck
from strategies.types import CANDLE_COLUMNS, Action, Decision, MarketView, Panel

T0 = 1_700_000_000 - (1_700_000_000 % 86_400) + 12 * 3600  # noon UTC
SOL_USD = 150.0


@cache
def _base():
    return load_config("config/trading.toml").config


def risk_cfg(**overrides: Any) -> RiskConfig:
    """The shipped ``[risk]`` config with nested overrides merged in (validated)."""
    if not overrides:
        return _base().risk
    return with_overrides(_base(), {"risk": overrides}).risk


def make_view(tokens: dict[str, dict[str, Any]], now: int = T0, bars: int | None = None,
              stale: dict[str, bool] | None = None, snapshot: bool = False) -> MarketView:
    """Each token: ``close`` (sequence), optional ``high``/``low`` (sequences or a relative range
    ``range``), ``liquidity`` (scalar or sequence). Bars end at ``now``."""
    mints = tuple(tokens)
    n = bars or max(len(v["close"]) for v in tokens.values())
    ts = np.arange(now - (n - 1) * 60, now + 1, 60, dtype=np.int64)
    cols = {c: np.full((len(mints), n), np.nan) for c in CANDLE_COLUMNS}
    for k, (_m, spec) in enumerate(tokens.items()):
        close = np.asarray(spec["close"], dtype=float)
        L = len(close)
        rng = spec.get("range", 0.01)
        high = np.asarray(spec.get("high", close * (1 + rng)), dtype=float)
        low = np.asarray(spec.get("low", close * (1 - rng)), dtype=float)
        liq = np.broadcast_to(np.asarray(spec.get("liquidity", 1_000_000.0), dtype=float), (L,))
        cols["close"][k, n - L:] = close
        cols["open"][k, n - L:] = np.concatenate([[close[0]], close[:-1]])
        cols["high"][k, n - L:] = np.maximum(high, close)
        cols["low"][k, n - L:] = np.minimum(low, close)
        cols["liquidity_usd"][k, n - L:] = liq
        cols["volume_usd"][k, n - L:] = 1000.0
        cols["buys"][k, n - L:] = 10
        cols["sells"][k, n - L:] = 10
    snap = {}
    if snapshot:
        snap["age_minutes"] = np.array([tokens[m].get("age", 1e4) for m in mints], dtype=float)
    st = None if stale is None else np.array([stale.get(m, False) for m in mints])
    return MarketView(ts=now, candles=Panel(mints, ts, 60, cols), snapshot=snap, stale=st)


def flat(price: float, n: int = 200) -> list[float]:
    return [price] * n


def safe(mint: str, **kw: Any) -> TokenSafety:
    base = dict(mint_authority_set=False, freeze_authority_set=False, token_2022=False,
                transfer_fee_bps=None, permanent_delegate=None, transfer_hook=None, non_transferable=None,
                default_frozen=None, top10_holder_share=0.2, sell_route_ok=True, created_at=T0 - 86_400,
                pool_reserve_usd=1_000_000.0, lp_burned_share=1.0, on_bonding_curve=False)  # make_view's pool
    base.update(kw)
    return TokenSafety(mint=mint, **base)


def buy(mint: str, confidence: float = 1.0, regime: str = "trend") -> Decision:
    return Decision(mint=mint, action=Action.BUY, score=0.8, confidence=confidence, regime=regime, votes=())


def sell(mint: str) -> Decision:
    return Decision(mint=mint, action=Action.SELL, score=-0.8, confidence=0.9, regime="trend", votes=())


def position(mint: str, *, entry: float = 1.0, stop: float = 0.8, tokens: int = 1_000_000_000,
             decimals: int = 6, cost_sol: float | None = None, opened_at: int = T0 - 600,
             initial: int | None = None) -> Position:
    cost = cost_sol if cost_sol is not None else tokens / 10**decimals * entry / SOL_USD
    return Position(mint=mint, symbol=mint[:4], opened_at=opened_at, token_amount=tokens,
                    token_decimals=decimals, cost_lamports=int(cost * LAMPORTS_PER_SOL), entry_price_usd=entry,
                    entry_price_sol=entry / SOL_USD, stop_price_usd=stop,
                    initial_token_amount=initial if initial is not None else tokens)


def portfolio(*, equity: float = 10.0, cash: float | None = None, positions: tuple[Position, ...] = (),
              peak: float | None = None, day_start: float | None = None, now: int = T0,
              state: TradingState = TradingState.ACTIVE, last_exit: dict[str, int] | None = None) -> PortfolioState:
    return PortfolioState(ts=now, cash_lamports=int((equity if cash is None else cash) * LAMPORTS_PER_SOL),
                          equity_sol=equity, peak_equity_sol=equity if peak is None else peak,
                          day_start_equity_sol=equity if day_start is None else day_start,
                          positions=positions, trading_state=state, sol_usd=SOL_USD,
                          last_exit_ts=last_exit or {})


def quote(mint: str, price: float, lamports: int = 10**8, sell_ok: bool = True, impact_pct: float = 0.1) -> QuoteCheck:
    return QuoteCheck(mint=mint, lamports_in=lamports, buy_price_usd=price, price_impact_pct=impact_pct,
                      sell_route_ok=sell_ok)
