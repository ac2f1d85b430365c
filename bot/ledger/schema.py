"""Ledger schema, versioned in code. ``MIGRATIONS[i]`` moves a database from version i to i+1.

Never edit a released migration: append a new one.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: the initial schema
    """
    CREATE TABLE config_history (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        event TEXT NOT NULL,              -- start | reload | backtest
        sha256 TEXT NOT NULL,
        text TEXT NOT NULL,
        applied TEXT NOT NULL DEFAULT '', -- comma-separated keys applied by a reload
        pending TEXT NOT NULL DEFAULT ''  -- keys that wait for a restart
    );
    CREATE TABLE intents (
        intent_id TEXT PRIMARY KEY,
        mint TEXT NOT NULL,
        side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
        amount_in INTEGER NOT NULL CHECK (amount_in > 0),
        token_decimals INTEGER NOT NULL,
        reason TEXT NOT NULL,
        state TEXT NOT NULL,
        attempt INTEGER NOT NULL DEFAULT 1,
        signature TEXT,
        signed_tx BLOB,
        last_valid_block_height INTEGER,
        decision TEXT NOT NULL DEFAULT '{}',
        detail TEXT NOT NULL DEFAULT '',
        created_ts INTEGER NOT NULL,
        updated_ts INTEGER NOT NULL
    );
    CREATE INDEX intents_state ON intents(state);
    CREATE TABLE intent_transitions (
        id INTEGER PRIMARY KEY,
        intent_id TEXT NOT NULL REFERENCES intents(intent_id),
        from_state TEXT,
        to_state TEXT NOT NULL,
        attempt INTEGER NOT NULL,
        signature TEXT,
        detail TEXT NOT NULL DEFAULT '',
        ts INTEGER NOT NULL
    );
    CREATE TABLE fills (
        id INTEGER PRIMARY KEY,
        intent_id TEXT NOT NULL REFERENCES intents(intent_id),
        signature TEXT NOT NULL UNIQUE,   -- applying a fill twice is a no-op
        mint TEXT NOT NULL,
        side TEXT NOT NULL,
        in_amount INTEGER NOT NULL,
        out_amount INTEGER NOT NULL,
        token_decimals INTEGER NOT NULL,
        network_fee_lamports INTEGER NOT NULL,
        priority_fee_lamports INTEGER NOT NULL,
        rent_lamports INTEGER NOT NULL,
        tip_lamports INTEGER NOT NULL,
        sol_usd REAL NOT NULL,
        price_usd REAL NOT NULL,
        paper INTEGER NOT NULL,
        position_id INTEGER NOT NULL,
        pnl_lamports INTEGER,             -- realised PnL of this leg (sells), net of fees
        ts INTEGER NOT NULL
    );
    CREATE TABLE positions (
        id INTEGER PRIMARY KEY,
        mint TEXT NOT NULL,
        symbol TEXT NOT NULL,
        opened_at INTEGER NOT NULL,
        closed_at INTEGER,
        token_amount INTEGER NOT NULL CHECK (token_amount >= 0),
        initial_token_amount INTEGER NOT NULL,
        token_decimals INTEGER NOT NULL,
        cost_lamports INTEGER NOT NULL,       -- cost of the tokens still held (swap + fees + rent)
        total_cost_lamports INTEGER NOT NULL, -- everything spent entering, incl. fees and rent
        entry_price_usd REAL NOT NULL,
        entry_price_sol REAL NOT NULL,
        stop_price_usd REAL NOT NULL,
        realized_lamports INTEGER NOT NULL DEFAULT 0,  -- proceeds of exits, net of their fees
        pnl_lamports INTEGER NOT NULL DEFAULT 0,       -- realised PnL so far, net of all fees
        high_water_usd REAL NOT NULL DEFAULT 0,
        exit_state TEXT NOT NULL DEFAULT '{}',
        entry_votes TEXT NOT NULL DEFAULT '[]',
        exit_reason TEXT,
        exit_price_usd REAL
    );
    CREATE UNIQUE INDEX one_open_position_per_mint ON positions(mint) WHERE closed_at IS NULL;
    CREATE TABLE equity (
        ts INTEGER PRIMARY KEY,
        equity_sol REAL NOT NULL,
        cash_lamports INTEGER NOT NULL,
        positions_sol REAL NOT NULL,
        sol_usd REAL NOT NULL
    );
    CREATE TABLE strategy_outcomes (
        id INTEGER PRIMARY KEY,
        position_id INTEGER NOT NULL REFERENCES positions(id),
        strategy TEXT NOT NULL,
        mint TEXT NOT NULL,
        contribution REAL NOT NULL,       -- share of the entry vote, 0..1
        pnl_lamports INTEGER NOT NULL,    -- the position's PnL times the share
        ts INTEGER NOT NULL
    );
    CREATE TABLE rejections (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        mint TEXT NOT NULL,
        rule TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX rejections_rule ON rejections(rule);
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        ts INTEGER NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE TABLE kv (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 1 -> 2: token-account closes (rent reclaimed after a full exit), journaled before the send
    """
    CREATE TABLE account_closes (
        id INTEGER PRIMARY KEY,
        signature TEXT NOT NULL UNIQUE,   -- booking a close twice is a no-op
        mint TEXT NOT NULL,
        account TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('signed', 'sent', 'closed', 'failed', 'expired')),
        signed_tx BLOB NOT NULL,
        last_valid_block_height INTEGER NOT NULL,
        refund_lamports INTEGER,          -- rent back to the wallet (closed)
        fee_lamports INTEGER,             -- meta.fee paid (closed or failed)
        position_id INTEGER,              -- the closed position the refund was credited to
        detail TEXT NOT NULL DEFAULT '',
        ts INTEGER NOT NULL,
        updated_ts INTEGER NOT NULL
    );
    CREATE INDEX account_closes_state ON account_closes(state);
    """,
    # 2 -> 3: positions lose high_water_usd and exit_state, which nothing ever read or updated (the
    # risk manager keeps the trailing high in its own saved state; ladder levels are read from the
    # balance). Needs SQLite >= 3.35 (ALTER TABLE ... DROP COLUMN).
    """
    ALTER TABLE positions DROP COLUMN high_water_usd;
    ALTER TABLE positions DROP COLUMN exit_state;
    """,
    # 3 -> 4: execution quality on every fill (chain.types.ExecutionQuality). NULL where unknown:
    # fills booked before this version, fills recovered at start-up (no quote in memory), and for
    # paper the latencies and slot (nothing is sent). out_amount is the actual out; the tip and the
    # priority fee are the existing tip_lamports / priority_fee_lamports columns.
    """
    ALTER TABLE fills ADD COLUMN send_path TEXT;            -- rpc | jito | both | paper
    ALTER TABLE fills ADD COLUMN decision_price_usd REAL;   -- the price the decision saw
    ALTER TABLE fills ADD COLUMN quoted_out_amount INTEGER; -- the quote's outAmount
    ALTER TABLE fills ADD COLUMN min_out_amount INTEGER;    -- the quote's otherAmountThreshold
    ALTER TABLE fills ADD COLUMN slippage_vs_quote_bps REAL;
    ALTER TABLE fills ADD COLUMN slippage_vs_decision_bps REAL;
    ALTER TABLE fills ADD COLUMN quote_to_signed_ms REAL;
    ALTER TABLE fills ADD COLUMN signed_to_sent_ms REAL;
    ALTER TABLE fills ADD COLUMN sent_to_landed_ms REAL;
    ALTER TABLE fills ADD COLUMN landed_slot INTEGER;
    ALTER TABLE fills ADD COLUMN landed_via TEXT;           -- rpc | jito | '' (cannot be told)
    ALTER TABLE fills ADD COLUMN sends INTEGER;             -- sends of the same signed bytes
    """,
)
