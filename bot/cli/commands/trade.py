"""``solbot trade buy MINT --sol AMOUNT`` / ``solbot trade sell MINT [--pct 100]``: one order by hand.

The order takes the engine's path: the ledger lock (refused while ``solbot run`` holds it),
start-up recovery of unfinished intents, the risk hard caps, the intent journaled before the
executor sees it, execution (paper or live per ``[environment] execution_mode``), and the fill
recorded from what actually happened. Without a market feed the order is priced from the mint
account (decimals, authorities, holders) and an executable Jupiter quote. Sells sell a percentage of
what the bot holds, ``min(wallet balance, ledger position)`` (the engine's sell rule); tokens in the
wallet beyond the ledger's position are left alone and reported by ``solbot reconcile``.

Exit status: 0 only for a confirmed fill; 1 when the order was rejected or did not fill; 2 for an
operator error (bad input, ledger locked, config).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys

from bot.cli.common import load, log_level
from bot.cli.session import OperatorSession, build_market_probe, operator_session
from bot.config import Secrets, check_startup, load_secrets
from bot.contracts import OrderIntent, Rejected
from bot.errors import OperatorError
from bot.ops.logs import setup_logging
from bot.orders.execution import IntentOutcome, execute_intent
from bot.orders.mint_facts import to_token_safety
from bot.risk.manager import RiskManager
from bot.risk.operator import operator_buy, operator_sell
from bot.risk.sells import Sellable, sellable
from bot.wiring import restored_risk_state
from chain.addresses import parse_address
from chain.errors import ChainError
from chain.token_safety import MintSafety
from chain.types import LAMPORTS_PER_SOL, WSOL_MINT, CloseStatus, Side

NAME = "trade"
HELP = "place one buy or sell by hand (risk caps, journal, executor, ledger; paper or live per config)"
log = logging.getLogger("solbot.trade")


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="side", metavar="SIDE", required=True)
    b = sub.add_parser("buy", help="buy MINT for --sol SOL")
    b.add_argument("mint", metavar="MINT", help="token mint address")
    b.add_argument("--sol", required=True, type=float, metavar="AMOUNT",
                   help="SOL to spend (at most [risk] max_position_sol)")
    s = sub.add_parser("sell", help="sell --pct percent of the MINT position (never beyond the wallet or the ledger)")
    s.add_argument("mint", metavar="MINT", help="token mint address")
    s.add_argument("--pct", type=float, default=100.0, metavar="PCT",
                   help="percent of min(wallet balance, ledger position) to sell (default 100)")
    for q in (b, s):
        q.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                       help="config file (default: $SOLBOT_CONFIG or config/trading.toml)")


def parse_mint(text: str) -> str:
    try:
        mint = parse_address(text)
    except ValueError:
        raise OperatorError(f"MINT {text!r} is not a valid base58 mint address") from None
    if mint == WSOL_MINT:
        raise OperatorError("MINT is wrapped SOL: trades are token <-> SOL; name the token's mint")
    return mint


def sol_to_lamports(sol: float) -> int:
    if not math.isfinite(sol) or sol <= 0:
        raise OperatorError(f"--sol must be a positive number of SOL, got {sol:g}")
    return round(sol * LAMPORTS_PER_SOL)


async def arun(args: argparse.Namespace) -> int:
    loaded = load(args)
    cfg = loaded.config
    secrets = load_secrets()
    check_startup(cfg, secrets)
    setup_logging(log_level(args, cfg), cfg.environment.log_format, secrets.values(), stream=sys.stderr)
    side = Side(args.side)
    mint = parse_mint(args.mint)
    lamports = 0
    if side is Side.BUY:
        lamports = sol_to_lamports(args.sol)
        cap = round(cfg.risk.max_position_sol * LAMPORTS_PER_SOL)
        if lamports > cap:  # checked again by risk and by chain/ before signing
            return _rejected(Rejected(mint, "max_position_sol", f"{args.sol:g} SOL exceeds the per-trade cap "
                                      f"risk.max_position_sol = {cfg.risk.max_position_sol:g} SOL"))
    elif not 0 < args.pct <= 100:
        raise OperatorError(f"--pct must be in (0, 100], got {args.pct:g}")

    async with operator_session(cfg, secrets) as session:
        for r in session.recovered:
            print(f"recovered {r.line()}")
        for line in session.recovered_closes:
            print(f"recovered {line}")
        if session.unresolved:
            raise OperatorError(f"{len(session.unresolved)} earlier intent(s) landed but could not be read; "
                                "run `solbot reconcile` before trading")
        return await place(session, secrets, side, mint, lamports, getattr(args, "pct", 100.0))


async def place(session: OperatorSession, secrets: Secrets, side: Side, mint: str, lamports: int, pct: float) -> int:
    cfg, ledger, executor = session.cfg, session.ledger, session.executor
    now = session.clock.now()
    risk = RiskManager(cfg.risk, restored_risk_state(ledger))
    state = risk.trading_state
    positions = ledger.open_positions()
    position = next((p for p in positions if p.mint == mint), None)
    intent_id = f"{now}-{mint}-{side}-operator"
    sell: OrderIntent | Rejected | None = None
    amount = lamports
    if side is Side.SELL:
        balance = await executor.token_balance(mint)
        sell = operator_sell(cfg.risk, intent_id=intent_id, mint=mint, wallet_balance=balance,
                             pct=pct, position=position, trading_state=state)
        if isinstance(sell, Rejected):
            return _rejected(sell)
        amount = sell.amount_in
        cap = sellable(position, balance) if position is not None else None
        if isinstance(cap, Sellable) and cap.outside:
            print(f"the wallet holds {cap.outside} raw units of {mint} beyond the ledger position ({cap.ledger}); "
                  "they are left alone: see `solbot reconcile`")

    start, close = build_market_probe(cfg, secrets)
    try:
        try:
            probe = await (await start()).probe(
                mint, side, amount, slippage_bps=cfg.risk.max_slippage_bps, sol_usd=cfg.market.sol_usd_fallback,
                pool_fee_bps=cfg.execution.paper.pool_fee_bps, ts=now)
        except ChainError as exc:
            return _rejected(Rejected(mint, f"price_{exc.kind}",
                                      f"cannot price {mint} from the chain and Jupiter ({exc}); check "
                                      "[rpc] endpoints and [jupiter] base_url, or the mint address"))
    finally:
        await close()
    print(f"{mint}: {probe.mint.decimals} decimals, quoted {probe.exec_price_sol:.9g} SOL/token "
          f"(${probe.exec_price_sol * probe.pool.sol_usd:.6g}), impact {probe.price_impact_bps:.1f} bps")
    if side is Side.BUY:
        print(holders_line(probe.mint))
        breaker = next((b.reason or b.name for b in risk.breakers() if b.tripped), "")
        verdict = operator_buy(
            cfg.risk, intent_id=intent_id, mint=mint, lamports=lamports, decimals=probe.mint.decimals,
            positions=positions, cash_lamports=ledger.cash_lamports() or 0, trading_state=state,
            breaker_reason=breaker, safety=to_token_safety(probe.mint, now), price_impact_bps=probe.price_impact_bps,
            sell_route_ok=probe.sell_route_ok)
    else:
        verdict = sell
    if isinstance(verdict, Rejected):
        ledger.record_rejections([(verdict.mint, verdict.rule, verdict.detail)])
        return _rejected(verdict)
    assert verdict is not None
    outcome = await execute_intent(executor, ledger, verdict, probe.pool,
                                   max_sol_per_trade_lamports=round(cfg.risk.max_position_sol * LAMPORTS_PER_SOL),
                                   symbol=position.symbol if position else "")
    return report(outcome)


def holders_line(m: MintSafety) -> str:
    """The top-10 holder share as the risk rule saw it, and what it left out."""
    if m.top10_holder_share is None:
        return "  top-10 holders: unknown (the largest accounts could not be read)"
    left_out = [h for h in m.holders if not h.kind.counted]
    note = ", ".join(f"{sum(1 for h in left_out if h.kind is k)} {k}" for k in dict.fromkeys(h.kind for h in left_out))
    return (f"  top-10 holders own {m.top10_holder_share:.1%} of the supply"
            + (f" (left out: {note} account(s))" if note else ""))


def report(o: IntentOutcome) -> int:
    r = o.result
    if o.filled:
        f = r.fill
        assert f is not None and o.book is not None
        verb = "bought" if f.side is Side.BUY else "sold"
        scale = 10**f.token_decimals
        print(f"{verb} {f.token_amount / scale:.{min(f.token_decimals, 9)}f} tokens ({f.token_amount} raw) "
              f"for {f.swap_lamports / LAMPORTS_PER_SOL:.9f} SOL ({f.swap_lamports} lamports) before fees; "
              f"{'spent' if f.side is Side.BUY else 'received'} {f.cash_lamports / LAMPORTS_PER_SOL:.9f} SOL in all")
        print(f"  price {f.price_sol:.9g} SOL/token (${f.price_usd:.6g} at SOL ${f.sol_usd:g})")
        print(f"  fees: network {f.network_fee_lamports} (priority {f.priority_fee_lamports}), "
              f"rent {f.rent_lamports:+d}, tip {f.tip_lamports} lamports" + ("  [paper]" if f.paper else ""))
        if o.book.pnl_lamports is not None:
            print(f"  leg PnL {o.book.pnl_lamports / LAMPORTS_PER_SOL:+.9f} SOL"
                  + ("; position closed" if o.book.closed else ""))
        if (q := f.quality) is not None:
            def bps(x: float | None) -> str:
                return "n/a" if x is None else f"{x:+.1f} bps"
            landed = "" if q.landed_slot is None else f", landed in slot {q.landed_slot}" + (
                f" via {q.landed_via}" if q.landed_via else "")
            took = "" if q.quote_to_landed_ms is None else f"; quote→landed {q.quote_to_landed_ms:.0f} ms"
            print(f"  execution: {q.send_path}{landed}; slippage vs quote {bps(f.slippage_vs_quote_bps)}, "
                  f"vs decision price {bps(f.slippage_vs_decision_bps)}{took}")
        print(f"  signature {f.signature}  intent {o.intent.intent_id}")
        c = o.close
        if c is not None and c.status is not CloseStatus.SKIPPED:
            sig = f" ({c.signature})" if c.signature else ""
            print(f"  token account {c.status}: {c.detail}{sig}")
        return 0
    if o.needs_reconcile:
        print(f"landed but the fill could not be read ({r.detail}); intent {o.intent.intent_id} is left "
              "SENT: run `solbot reconcile`", file=sys.stderr)
        return 1
    fee = f"; fee {r.fee_lamports} lamports paid" if r.fee_lamports else ""
    sig = f"; signature {r.signature}" if r.signature else ""
    print(f"not filled ({o.state}): {r.error}: {r.detail}{fee}{sig}  intent {o.intent.intent_id}", file=sys.stderr)
    return 1


def _rejected(r: Rejected) -> int:
    print(f"rejected: {r.rule}: {r.detail}", file=sys.stderr)
    return 1
