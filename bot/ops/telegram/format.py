"""Plain-text formatting of the status facade's values for Telegram (no parse mode, so nothing
needs escaping). Pure functions: values in, text out."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.ops.alerts import AlertKind, Delivery, Severity
from bot.ops.status import BreakerState, PnlSummary, PositionView, StatusSummary, TradeRecord

_SEVERITY_MARK = {Severity.INFO: "ℹ️", Severity.WARNING: "⚠️", Severity.CRITICAL: "🚨"}

#: Telegram's limit for one message's text, in characters (protocol fact).
MAX_MESSAGE_CHARS = 4096

HELP = """solbot commands
/status – mode, state, uptime, equity, today's PnL
/pnl – today's PnL, win rate, drawdown, attribution
/positions – open positions
/trades – recent fills
/pause – stop opening positions (exits keep running)
/resume – lift the pause
/close <mint|all> – exit a position or all (asks to confirm)
/reset <breaker> – reset a tripped breaker (asks to confirm)
/breakers – circuit breakers
/weights – ensemble weights
/help – this list"""


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
