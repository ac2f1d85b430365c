"""Plain-text formatting of operator answers: the status facade's values and the ledger reports,
for Telegram (no parse mode, so nothing needs escaping) and the control socket's terminal. Pure
functions: values in, text out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.ops.alerts import AlertKind, Delivery, Severity
from bot.ops.status import (
    BreakerState,
    EdgeView,
    PnlSummary,
    PositionView,
    RugMarkView,
    StatusSummary,
    TradeRecord,
)
from bot.risk.performance import performance_lines

if TYPE_CHECKING:
    from bot.ops.reports import Balance, DayPnl, LifetimeProfit, StrategyPerformance

_SEVERITY_MARK = {Severity.INFO: "ℹ️", Severity.WARNING: "⚠️", Severity.CRITICAL: "🚨"}

#: Telegram's limit for one message's text, in characters (protocol fact).
MAX_MESSAGE_CHARS = 4096


def help_text(commands: Sequence[tuple[str, str]], prefix: str = "/") -> str:
    """One line per ``(usage, help)``: ``/close <mint|all> – exit a position or all (asks to confirm)``."""
    return "solbot commands\n" + "\n".join(f"{prefix}{usage} – {text}" for usage, text in commands)


def clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _ts(ts: int | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _sol(v: float | None) -> str:
    return "-" if v is None else f"{v:+.4f} SOL"


def _dur(seconds: float) -> str:
    s = int(seconds)
    d, s = divmod(s, 86400)
    h, s = divmod(s, 3600)
    m, _ = divmod(s, 60)
    return (f"{d}d " if d else "") + f"{h}h {m}m"


def _short(mint: str) -> str:
    return mint if len(mint) <= 12 else f"{mint[:4]}…{mint[-4:]}"


def alert(d: Delivery) -> str:
    a = d.alert
    lines = [f"{_SEVERITY_MARK[a.severity]} {a.kind.value.replace('_', ' ')}"
             if a.kind is not AlertKind.DAILY_REPORT else "📊 daily report", a.text]
    if d.collapsed:
        lines.append(f"(+{d.collapsed} similar in the dedupe window)")
    if d.dropped_before:
        lines.insert(0, f"⚠️ {d.dropped_before} earlier alert(s) dropped: Telegram was slow or down")
    return clip("\n".join(lines))


def status(s: StatusSummary) -> str:
    tripped = [b.name for b in s.breakers if b.tripped]
    lines = [
        f"mode: {s.mode}   state: {s.trading_state}" + ("   (paused)" if s.paused else ""),
        f"uptime: {_dur(s.uptime_seconds)} (since {_ts(s.started_at)})",
        f"equity: {s.equity_sol:.4f} SOL   today: {_sol(s.pnl_today_sol)}",
        f"open positions: {s.open_positions}",
        "breakers tripped: " + (", ".join(tripped) if tripped else "none"),
    ]
    if s.edge is not None:
        lines.append(edge(s.edge))
    lines.append(f"rugged tokens: {s.rugged_count}")
    return clip("\n".join(lines))


def edge(e: EdgeView) -> str:
    cap = (f"risk up to {e.kelly_risk_fraction:.2%} of equity per trade" if e.kelly_risk_fraction > 0
           else "no edge: entries rejected (kelly_no_edge)")
    return (f"edge: {cap} ({e.closed_trades} trades, {e.shadow_outcomes} shadow outcomes, "
            f"weight {e.record_weight:.1f}; {e.shadows_open} shadow(s) open)")


def rugged(rs: list[RugMarkView], prefix: str = "/") -> str:
    if not rs:
        return "no token is marked rugged"
    lines = [f"{len(rs)} token(s) marked rugged, never bought again ({prefix}unrug <mint> clears one)"]
    for r in rs:
        lines.append(f"{r.symbol or _short(r.mint)} {r.mint}\n  {_ts(r.since)} {r.reason}: {r.detail}")
    return clip("\n".join(lines))


def _trade_line(t: TradeRecord) -> str:
    pnl = f" pnl {_sol(t.pnl_sol)}" if t.pnl_sol is not None else ""
    return (f"{_ts(t.ts)} {t.side} {t.symbol or _short(t.mint)} {t.amount_sol:.4f} SOL "
            f"@ ${t.price_usd:.6g} ({t.reason}){pnl}")


def pnl(p: PnlSummary) -> str:
    wr = "-" if p.win_rate is None else f"{p.win_rate:.0%}"
    lines = [
        f"PnL {p.day} (UTC)",
        f"total: {_sol(p.total_sol)}  (realised {_sol(p.realized_sol)}, unrealised {_sol(p.unrealized_sol)})",
        f"equity: {p.equity_sol:.4f} SOL (day start {p.day_start_equity_sol:.4f})",
        f"trades: {p.trades}  wins: {p.wins}  losses: {p.losses}  win rate: {wr}",
        f"max drawdown today: {p.max_drawdown_pct:.2f}%",
    ]
    if p.best is not None:
        lines.append("best: " + _trade_line(p.best))
    if p.worst is not None:
        lines.append("worst: " + _trade_line(p.worst))
    if p.by_strategy:
        lines.append("by strategy:")
        for name, v in sorted(p.by_strategy.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {name}: {_sol(v)}")
    return clip("\n".join(lines))


def daily_report(p: PnlSummary) -> str:
    return pnl(p)


def positions(ps: list[PositionView]) -> str:
    if not ps:
        return "no open positions"
    lines = [f"{len(ps)} open position(s)"]
    for p in ps:
        last = "-" if p.last_price_usd is None else f"${p.last_price_usd:.6g}"
        lines.append(f"{p.symbol or _short(p.mint)} {p.mint}\n  cost {p.cost_sol:.4f} SOL, entry "
                     f"${p.entry_price_usd:.6g}, last {last}, stop ${p.stop_price_usd:.6g}, "
                     f"uPnL {_sol(p.unrealized_pnl_sol)}, since {_ts(p.opened_at)}"
                     + (f"\n  by {', '.join(p.strategies)}" if p.strategies else ""))
    return clip("\n".join(lines))


def trades(ts: list[TradeRecord]) -> str:
    if not ts:
        return "no trades yet"
    return clip("\n".join(_trade_line(t) for t in ts))


def breakers(bs: list[BreakerState]) -> str:
    if not bs:
        return "no circuit breakers configured"
    return clip("\n".join(
        f"{'🔴' if b.tripped else '🟢'} {b.name}: " + (f"tripped {_ts(b.since)}" if b.tripped else "ok")
        + (f" – {b.detail}" if b.detail else "") for b in bs))


def weights(ws: dict[str, float]) -> str:
    if not ws:
        return "no ensemble weights yet"
    return clip("\n".join(f"{name}: {w:.3f}" for name, w in sorted(ws.items(), key=lambda kv: -kv[1])))


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}%"


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "-" if v is None else format(v, fmt)


def profit(p: LifetimeProfit) -> str:
    if p.first_trade_ts is None:
        return "no trades yet"
    wr = "-" if p.win_rate is None else f"{p.win_rate:.0%}"
    lines = [
        f"profit since {_ts(p.first_trade_ts)}",
        f"total: {_sol(p.total_sol)}  (realised {_sol(p.realized_sol)}, unrealised {_sol(p.unrealized_sol)})",
        f"return: {_pct(p.return_pct)} on {p.starting_equity_sol:.4f} SOL; equity {p.equity_sol:.4f} SOL"
        + (f", {_pct(p.below_peak_pct)} below its peak {p.equity_peak_sol:.4f}" if p.equity_peak_sol else ""),
        f"closed: {p.closed}  wins: {p.wins}  losses: {p.losses}  win rate: {wr}  open: {p.open_positions}",
        f"avg win {_sol(p.avg_win_sol)}, avg loss {_sol(p.avg_loss_sol)}, payoff {_num(p.payoff)}, "
        f"profit factor {_num(p.profit_factor)}, expectancy {_sol(p.expectancy_sol)} per trade",
    ]
    for label, c in (("best", p.best), ("worst", p.worst)):
        if c is not None:
            lines.append(f"{label}: {c.symbol} {_sol(c.pnl_sol)} ({c.exit_reason}, closed {_ts(c.closed_at)})")
    if p.performance is not None:  # bot.risk.performance: the backtest report's statistics
        lines.append(f"statistics since the first equity point ({_ts(p.performance.start_ts)}):")
        lines += [f"  {line}" for line in performance_lines(p.performance)]
    return clip("\n".join(lines))


def daily(days: Sequence[DayPnl]) -> str:
    lines = [f"daily PnL, last {len(days)} day(s) (UTC)"]
    for d in days:
        eq = "-" if d.end_equity_sol is None else f"{d.end_equity_sol:.4f}"
        lines.append(f"{d.day}  realised {_sol(d.realized_sol)}  closed {d.closed}  fills {d.fills}  equity {eq}")
    return clip("\n".join(lines))


def performance(rows: Sequence[StrategyPerformance]) -> str:
    if not rows:
        return "no closed trades attributed to a strategy yet"
    lines = ["performance by strategy (closed positions it voted for; PnL by its share of the vote)"]
    for r in rows:
        wr = "-" if r.win_rate is None else f"{r.win_rate:.0%}"
        lines.append(f"{r.strategy}: {_sol(r.pnl_sol)}  trades {r.trades}  win rate {wr}")
    return clip("\n".join(lines))


def balance(b: Balance) -> str:
    lines = [f"cash: {b.cash_sol:.4f} SOL", f"positions: {b.positions_sol:.4f} SOL ({len(b.holdings)})"]
    for h in b.holdings:
        value = "no price" if h.value_sol is None else f"{h.value_sol:.4f} SOL"
        lines.append(f"  {h.symbol} {h.mint}: {h.tokens:.6g} tokens, {value} (cost {h.cost_sol:.4f})")
    lines.append(f"equity: {b.equity_sol:.4f} SOL")
    return clip("\n".join(lines))


def version(version: str, python: str, feed: str, s: StatusSummary) -> str:
    return (f"solbot {version} (Python {python})\nmode: {s.mode}, feed: {feed}\n"
            f"up {_dur(s.uptime_seconds)} since {_ts(s.started_at)}")
