from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot.contracts import OrderIntent
from bot.errors import LedgerError, LedgerLockedError
from bot.ledger import Ledger
from chain.types import Fill, IntentState, Side

ROOT = Path(__file__).resolve().parents[2]


def intent(iid: str, side: Side = Side.BUY, mint: str = "MintA", amount: int = 10**9) -> OrderIntent:
    return OrderIntent(iid, mint, side, amount, 6, "entry" if side is Side.BUY else "stop_loss", 300, 10**6)


def fill(iid: str, side: Side, in_amount: int, out_amount: int, mint: str = "MintA", sig: str | None = None,
         ts: int = 100, rent: int = 0) -> Fill:
    return Fill(iid, mint, side, in_amount, out_amount, 6, 5_000 + 1_000, 1_000, rent, 0, 100.0, ts,
                sig or f"sig-{iid}", True)


@pytest.fixture
def ledger(tmp_path):
    led = Ledger.open(tmp_path / "l.sqlite3", lambda: 100)
    led.init_cash(10 * 10**9)
    yield led
    led.close()


def test_database_is_in_wal_mode_and_migrated(ledger, tmp_path):
    import sqlite3
    conn = sqlite3.connect(tmp_path / "l.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1


def test_intent_states_only_move_forward(ledger):
    ledger.create_intent(intent("i1"))
    ledger.transition("i1", IntentState.QUOTED)
    ledger.transition("i1", IntentState.SIGNED, signature="s1", signed_tx=b"\x01\x02", last_valid_block_height=42)
    ledger.transition("i1", IntentState.SENT)
    with pytest.raises(LedgerError, match="illegal transition sent -> signed"):
        ledger.transition("i1", IntentState.SIGNED)
    entry = ledger.unfinished()[0]
    assert (entry.state, entry.signature, entry.signed_tx, entry.last_valid_block_height) == (
        IntentState.SENT, "s1", b"\x01\x02", 42)
    ledger.transition("i1", IntentState.EXPIRED)
    assert ledger.unfinished() == []
    assert ledger.intent_history("i1") == ["planned", "quoted", "signed", "sent", "expired"]


def test_buy_then_sell_updates_cash_position_and_pnl_with_fees(ledger):
    ledger.create_intent(intent("b"))
    out = ledger.apply_fill(fill("b", Side.BUY, 10**9, 5_000_000, rent=2_039_280))
    assert not out.closed and not out.duplicate
    [pos] = ledger.open_positions()
    assert pos.token_amount == 5_000_000
    assert pos.cost_lamports == 10**9 + 6_000 + 2_039_280
    assert ledger.cash_lamports() == 10 * 10**9 - pos.cost_lamports
    ledger.create_intent(intent("s1", Side.SELL, amount=2_000_000))
    half = ledger.apply_fill(fill("s1", Side.SELL, 2_000_000, 500_000_000))
    assert half.pnl_lamports == (500_000_000 - 6_000) - pos.cost_lamports * 2 // 5
    ledger.create_intent(intent("s2", Side.SELL, amount=3_000_000))
    last = ledger.apply_fill(fill("s2", Side.SELL, 3_000_000, 700_000_000, rent=-2_039_280), exit_reason="take_profit")
    assert last.closed and ledger.open_positions() == []
    [row] = ledger.positions()
    assert row["exit_reason"] == "take_profit"
    # Realised PnL equals the change in cash: nothing lost, nothing invented.
    assert row["pnl_lamports"] == ledger.cash_lamports() - 10 * 10**9


def test_applying_the_same_fill_twice_is_a_noop(ledger):
    ledger.create_intent(intent("b"))
    ledger.apply_fill(fill("b", Side.BUY, 10**9, 5_000_000))
    cash = ledger.cash_lamports()
    again = ledger.apply_fill(fill("b", Side.BUY, 10**9, 5_000_000))
    assert again.duplicate and ledger.cash_lamports() == cash and len(ledger.fills()) == 1


def test_a_landed_sell_beyond_the_position_books_the_position_and_reports_the_rest(ledger):
    ledger.create_intent(intent("b"))
    ledger.apply_fill(fill("b", Side.BUY, 10**9, 5_000_000))
    [pos] = ledger.open_positions()
    ledger.create_intent(intent("s", Side.SELL, amount=9_000_000))
    cash = ledger.cash_lamports()
    out = ledger.apply_fill(fill("s", Side.SELL, 9_000_000, 9 * 10**8), exit_reason="stop_loss")
    # 5 of the 9 million raw units were the ledger's: 5/9 of the SOL and all of the fee are booked
    assert out.closed and not out.duplicate and ledger.open_positions() == []
    assert (out.unbooked_tokens, out.unbooked_lamports) == (4_000_000, 4 * 10**8)
    assert ledger.cash_lamports() == cash + 5 * 10**8 - 6_000
    assert out.pnl_lamports == 5 * 10**8 - 6_000 - pos.cost_lamports
    assert ledger.intent("s").state is IntentState.CONFIRMED
    [sell] = [f for f in ledger.fills() if f["side"] == "sell"]
    assert (sell["in_amount"], sell["out_amount"]) == (5_000_000, 5 * 10**8)
    [ev] = ledger.events("sell_exceeds_position")
    assert "4000000 raw units and 400000000 lamports are outside the ledger" in ev["detail"]
    again = ledger.apply_fill(fill("s", Side.SELL, 9_000_000, 9 * 10**8))  # still idempotent
    assert again.duplicate and ledger.cash_lamports() == cash + 5 * 10**8 - 6_000


def test_a_landed_sell_with_no_open_position_books_only_its_fee(ledger):
    ledger.create_intent(intent("b"))
    ledger.apply_fill(fill("b", Side.BUY, 10**9, 5_000_000))
    ledger.create_intent(intent("s1", Side.SELL, amount=5_000_000))
    ledger.apply_fill(fill("s1", Side.SELL, 5_000_000, 10**9))
    ledger.create_intent(intent("s2", Side.SELL, amount=1_000))
    cash = ledger.cash_lamports()
    out = ledger.apply_fill(fill("s2", Side.SELL, 1_000, 200_000))
    assert (out.closed, out.pnl_lamports, out.unbooked_tokens, out.unbooked_lamports) == (False, None, 1_000, 200_000)
    assert ledger.cash_lamports() == cash - 6_000  # the wallet paid the fee; the proceeds are not the ledger's
    assert ledger.intent("s2").state is IntentState.CONFIRMED and len(ledger.positions()) == 1


def test_closed_position_pnl_is_attributed_to_voting_strategies(ledger):
    import json
    ledger.create_intent(intent("b"))
    votes = [{"strategy": "a", "score": 0.8, "confidence": 1.0, "weight": 1.0, "reason": ""},
             {"strategy": "b", "score": 0.2, "confidence": 1.0, "weight": 1.0, "reason": ""},
             {"strategy": "c", "score": -0.5, "confidence": 1.0, "weight": 1.0, "reason": ""}]
    ledger.apply_fill(fill("b", Side.BUY, 10**9, 5_000_000), entry_votes=json.dumps(votes))
    ledger.create_intent(intent("s", Side.SELL, amount=5_000_000))
    ledger.apply_fill(fill("s", Side.SELL, 5_000_000, 2 * 10**9))
    rows = {r.strategy: r for r in ledger.outcome_rows()}
    assert set(rows) == {"a", "b"}
    assert rows["a"].contribution == pytest.approx(0.8)


def test_second_process_cannot_take_the_ledger_lock(tmp_path):
    a = Ledger.open(tmp_path / "x.sqlite3", lambda: 1, lock=True)
    try:
        with pytest.raises(LedgerLockedError, match="another solbot process"):
            Ledger.open(tmp_path / "x.sqlite3", lambda: 1, lock=True)
    finally:
        a.close()
    Ledger.open(tmp_path / "x.sqlite3", lambda: 1, lock=True).close()  # free again


def test_unwritable_location_is_a_clear_error(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")  # a file where the ledger's directory should be: fails even as root
    with pytest.raises(LedgerError, match="cannot be created"):
        Ledger.open(blocker / "data" / "l.sqlite3", lambda: 1)


def test_config_history_keeps_hash_and_text(ledger):
    ledger.record_config("start", "abc", "[risk]\n", applied=(), pending=())
    ledger.record_config("reload", "def", "[risk]\nx=1\n", applied=("risk.x",), pending=("health.port",))
    hist = ledger.config_history()
    assert [h["event"] for h in hist] == ["start", "reload"]
    assert hist[1]["applied"] == "risk.x" and hist[1]["pending"] == "health.port" and hist[1]["text"] == "[risk]\nx=1\n"


WRITER = textwrap.dedent("""
    import sys, itertools
    from bot.ledger import Ledger
    from bot.contracts import OrderIntent
    from chain.types import Fill, IntentState, Side
    led = Ledger.open(sys.argv[1], lambda: 1)
    led.init_cash(10**15)
    for e in led.unfinished():  # recovery: an intent cut short before its fill never executed
        led.transition(e.intent_id, IntentState.FAILED, detail="recovered after crash")
    print("ready", flush=True)
    for n in itertools.count(len(led.intents())):
        side = Side.SELL if led.open_positions() else Side.BUY
        iid = f"i{n}"
        led.create_intent(OrderIntent(iid, "M", side, 1000 if side is Side.BUY else 10, 6, "x", 1, 1))
        if side is Side.BUY:
            led.apply_fill(Fill(iid, "M", side, 1000, 10, 6, 7, 2, 3, 0, 1.0, n, "s" + iid, True))
        else:
            led.apply_fill(Fill(iid, "M", side, 10, 900, 6, 7, 2, 0, 0, 1.0, n, "s" + iid, True))
""")


def test_ledger_stays_consistent_when_the_process_is_killed_between_writes(tmp_path):
    """SIGKILL a writer at arbitrary moments; every reopen must satisfy the book's invariants."""
    db = tmp_path / "crash.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    for delay in (0.15, 0.3, 0.05, 0.4, 0.2):
        proc = subprocess.Popen([sys.executable, str(script), str(db)], cwd=ROOT,
                                stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        led = Ledger.open(db, lambda: 1)
        fills = led.fills()
        buys = [f for f in fills if f["side"] == "buy"]
        sells = [f for f in fills if f["side"] == "sell"]
        spent = sum(f["in_amount"] + f["network_fee_lamports"] + f["rent_lamports"] for f in buys)
        got = sum(f["out_amount"] - f["network_fee_lamports"] - f["rent_lamports"] for f in sells)
        assert led.cash_lamports() == 10**15 - spent + got
        held = sum(f["out_amount"] for f in buys) - sum(f["in_amount"] for f in sells)
        assert sum(p.token_amount for p in led.open_positions()) == held
        # every fill's intent is confirmed; at most one intent (the one being written) is unfinished
        assert all(led.intent(f["intent_id"]).state is IntentState.CONFIRMED for f in fills)
        assert len(led.unfinished()) <= 1
        led.close()
    assert len(fills) > 10  # the writer did real work between kills


def test_migration_3_drops_the_unused_position_columns_and_keeps_the_rows(tmp_path):
    import sqlite3

    from bot.ledger.schema import MIGRATIONS
    from tests.ledger.versions import ledger_at_version

    db = tmp_path / "v2.sqlite3"
    conn = ledger_at_version(db, 2)  # a ledger written by the previous release
    conn.execute("INSERT INTO positions(mint, symbol, opened_at, token_amount, initial_token_amount, token_decimals, "
                 "cost_lamports, total_cost_lamports, entry_price_usd, entry_price_sol, stop_price_usd, "
                 "high_water_usd, exit_state) VALUES ('MintA', 'A', 5, 7, 7, 6, 100, 100, 1.0, 0.01, 0.8, 1.2, '{}')")
    conn.commit()
    conn.close()
    led = Ledger.open(db, lambda: 100)
    try:
        [pos] = led.open_positions()
        assert (pos.mint, pos.token_amount, pos.cost_lamports, pos.stop_price_usd) == ("MintA", 7, 100, 0.8)
        assert not {"high_water_usd", "exit_state"} & set(led.positions()[0])
    finally:
        led.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()


def test_a_cycles_writes_commit_together_and_a_failure_leaves_none_of_them(ledger, tmp_path):
    import sqlite3

    w = ledger.cycle_writes()
    assert not w
    ledger.commit_cycle(w)  # nothing gathered: no transaction at all
    w.record_event("breaker_tripped", "daily_loss: lost 1 SOL")
    w.record_rejections([("MintA", "liquidity_too_low", "$900 < $5,000"), ("MintB", "max_positions", "5 open")])
    w.record_rejection("MintC", "no_market_data", "entry: no price")
    w.record_equity(160, 9.5, 9 * 10**9, 0.5, 150.0)
    w.set_kv(book={"peak": 10.0}, engine_cursor={"feed": "replay", "ts": 160})
    seen = sqlite3.connect(tmp_path / "l.sqlite3")  # another reader sees nothing until the commit
    assert seen.execute("SELECT COUNT(*) FROM rejections").fetchone()[0] == 0
    ledger.commit_cycle(w)
    assert seen.execute("SELECT COUNT(*) FROM rejections").fetchone()[0] == 3
    seen.close()
    assert [(e["ts"], e["kind"]) for e in ledger.events()] == [(100, "breaker_tripped")]
    assert [(r["mint"], r["rule"]) for r in ledger.rejections()] == [
        ("MintA", "liquidity_too_low"), ("MintB", "max_positions"), ("MintC", "no_market_data")]
    assert [(r.ts, r.equity_sol) for r in ledger.equity_rows()] == [(160, 9.5)]
    assert ledger.get_kv("engine_cursor") == {"feed": "replay", "ts": 160}

    bad = ledger.cycle_writes()
    bad.record_event("token_rugged", "MintD liquidity_drop")
    bad.record_rejection("MintD", "rugged", "marked")
    bad.record_equity(220, 9.4, 9 * 10**9, 0.4, 150.0)
    bad.set_kv(engine_cursor={"feed": "replay", "ts": 220}, ensemble_state={"weights": {1, 2}})  # not JSON
    with pytest.raises(TypeError):
        ledger.commit_cycle(bad)
    assert len(ledger.events()) == 1 and len(ledger.rejections()) == 3
    assert [r.ts for r in ledger.equity_rows()] == [160]
    assert ledger.get_kv("engine_cursor") == {"feed": "replay", "ts": 160}
    ledger.record_event("after", "the ledger still writes")  # the failed transaction was rolled back
    assert len(ledger.events()) == 2
