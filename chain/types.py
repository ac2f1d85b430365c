"""Value types of the chain interface: orders in, fills out, and the intent journal protocol.

``chain/`` knows nothing of strategies or of ``bot/``. The engine translates a risk-approved
intent into an ``OrderRequest`` and records the ``ExecutionResult`` in the ledger.

Amounts that exist on chain are integers in base units: lamports for SOL, raw units for tokens
(with ``token_decimals`` alongside). Floats are for prices only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

LAMPORTS_PER_SOL = 1_000_000_000
WSOL_MINT = "So11111111111111111111111111111111111111112"


class Side(StrEnum):
    BUY = "buy"  # spend SOL (lamports), receive tokens
    SELL = "sell"  # spend tokens (raw units), receive SOL


class IntentState(StrEnum):
    """Order intent lifecycle. States only move forward (see ``TRANSITIONS``)."""

    PLANNED = "planned"
    QUOTED = "quoted"
    SIGNED = "signed"
    SENT = "sent"
    CONFIRMED = "confirmed"
    FAILED = "failed"
    EXPIRED = "expired"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset({IntentState.CONFIRMED, IntentState.FAILED, IntentState.EXPIRED})

#: Allowed forward transitions. ``SENT -> SIGNED`` is deliberately absent: a new transaction is
#: only built after the old one is provably EXPIRED (terminal); a retry is a new intent, planned
#: again through the risk manager with a fresh quote.
TRANSITIONS: dict[IntentState, frozenset[IntentState]] = {
    IntentState.PLANNED: frozenset({IntentState.QUOTED, IntentState.FAILED}),
    IntentState.QUOTED: frozenset({IntentState.SIGNED, IntentState.FAILED}),
    IntentState.SIGNED: frozenset({IntentState.SENT, IntentState.FAILED}),
    IntentState.SENT: frozenset({IntentState.CONFIRMED, IntentState.FAILED, IntentState.EXPIRED}),
    IntentState.CONFIRMED: frozenset(),
    IntentState.FAILED: frozenset(),
    IntentState.EXPIRED: frozenset(),
}


@dataclass(frozen=True, slots=True)
class PoolSnapshot:
    """What the feeds know of a token's reference pool at decision time.

    Used by the paper executor's fill model and by the pre-sign sanity checks.
    """

    mint: str
    price_usd: float
    liquidity_usd: float
    sol_usd: float
    token_decimals: int
    ts: int  # unix seconds of the observation


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """A risk-approved order. ``amount_in`` is lamports for a buy, raw token units for a sell."""

    intent_id: str
    mint: str
    side: Side
    amount_in: int
    token_decimals: int
    max_slippage_bps: int
    max_priority_fee_lamports: int
    max_sol_per_trade_lamports: int  # hard cap, checked again right before signing
    pool: PoolSnapshot
    reason: str = ""
    max_tip_lamports: int = 0  # hard cap of a Jito tip (risk side); checked again right before signing

    def __post_init__(self) -> None:
        if self.amount_in <= 0:
            raise ValueError(f"order {self.intent_id}: amount_in must be > 0, got {self.amount_in}")
        if self.max_slippage_bps < 0:
            raise ValueError(f"order {self.intent_id}: max_slippage_bps must be >= 0")


class SendPath(StrEnum):
    """Where a signed swap went (``[execution.live] send_path``); ``PAPER``: nowhere."""

    RPC = "rpc"
    JITO = "jito"
    BOTH = "both"
    PAPER = "paper"


@dataclass(frozen=True, slots=True)
class ExecutionQuality:
    """How well a fill was executed, beside what it moved (``Fill``). Amounts in the fill's output
    units (raw tokens for a buy, lamports for a sell); None where the value is unknown (a fill
    recovered at start-up has no quote in memory; paper has no send, so no latencies or slot).

    Latencies are monotonic milliseconds between: the quote received → the swap signed → the
    first send accepted → the signature seen at the target commitment.
    """

    send_path: SendPath
    decision_price_usd: float | None  # the price per whole token the decision saw (pool snapshot)
    quoted_out_amount: int | None  # the quote's outAmount
    min_out_amount: int | None  # the quote's otherAmountThreshold (slippage floor signed)
    quote_to_signed_ms: float | None = None
    signed_to_sent_ms: float | None = None
    sent_to_landed_ms: float | None = None
    landed_slot: int | None = None
    #: "rpc" | "jito" when known (the block engine reported the bundle landed, or no bundle was
    #: ever accepted), "" when it cannot be told (``both``: one signature, two ways in).
    landed_via: str = ""
    sends: int = 0  # sends of the same signed bytes (first send + rebroadcasts)

    @property
    def quote_to_landed_ms(self) -> float | None:
        parts = (self.quote_to_signed_ms, self.signed_to_sent_ms, self.sent_to_landed_ms)
        return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)


def slippage_bps(expected: float | None, actual: int) -> float | None:
    """``(expected - actual) / expected`` in basis points: positive = received less than expected."""
    if expected is None or not expected > 0:
        return None
    return (expected - actual) / expected * 10_000.0


@dataclass(frozen=True, slots=True)
class Fill:
    """What actually happened, in base units. For live fills, read from the confirmed transaction.

    ``in_amount``/``out_amount`` are what left and reached the wallet for the swap itself
    (lamports and raw token units by ``side``). Fees are separate: ``network_fee_lamports`` is the
    transaction fee (base + priority, ``meta.fee`` live), ``priority_fee_lamports`` the priority
    part of it, ``rent_lamports`` the rent locked (+) or refunded (-) by opening/closing the token
    account, and ``tip_lamports`` any Jito tip.
    """

    intent_id: str
    mint: str
    side: Side
    in_amount: int
    out_amount: int
    token_decimals: int
    network_fee_lamports: int
    priority_fee_lamports: int
    rent_lamports: int
    tip_lamports: int
    sol_usd: float
    ts: int
    signature: str
    paper: bool
    quality: ExecutionQuality | None = None

    @property
    def swap_lamports(self) -> int:
        """Lamports of the swap leg alone: spent for a buy, received for a sell."""
        return self.in_amount if self.side is Side.BUY else self.out_amount

    @property
    def cash_lamports(self) -> int:
        """**The trade's SOL amount**: what the fill moved out of (buy) or into (sell) the wallet.
        A buy's swap input plus its network fee, tip and the rent it locked; a sell's swap output
        minus its network fee and tip, plus any rent refunded (carried as negative rent). The
        ledger books this number; ``solbot status``, ``/status``, Telegram and the backtest report
        show it: ``cash_lamports = swap_lamports ± fees_lamports``."""
        if self.side is Side.BUY:
            return self.swap_lamports + self.fees_lamports
        return self.swap_lamports - self.fees_lamports

    @property
    def token_amount(self) -> int:
        return self.out_amount if self.side is Side.BUY else self.in_amount

    @property
    def fees_lamports(self) -> int:
        """Every lamport paid beyond the swap leg (network + tip + rent locked or refunded)."""
        return self.network_fee_lamports + self.tip_lamports + self.rent_lamports

    @property
    def price_sol(self) -> float:
        """Executed price in SOL per whole token (swap leg only, fees excluded)."""
        tokens = self.token_amount / 10**self.token_decimals
        return (self.swap_lamports / LAMPORTS_PER_SOL) / tokens if tokens else float("nan")

    @property
    def price_usd(self) -> float:
        return self.price_sol * self.sol_usd

    # --- execution quality (None when the quality, or the number it needs, is unknown) ---

    @property
    def slippage_vs_quote_bps(self) -> float | None:
        """Realised slippage against the quote's ``outAmount`` (positive = worse than quoted)."""
        q = self.quality
        return None if q is None or q.quoted_out_amount is None else slippage_bps(q.quoted_out_amount, self.out_amount)

    @property
    def decision_out_amount(self) -> float | None:
        """What the input would have bought at the decision price, in the fill's output units."""
        q = self.quality
        if q is None or q.decision_price_usd is None or not q.decision_price_usd > 0 or not self.sol_usd > 0:
            return None
        price_sol = q.decision_price_usd / self.sol_usd  # SOL per whole token
        if self.side is Side.BUY:
            return self.in_amount / LAMPORTS_PER_SOL / price_sol * 10**self.token_decimals
        return self.in_amount / 10**self.token_decimals * price_sol * LAMPORTS_PER_SOL

    @property
    def slippage_vs_decision_bps(self) -> float | None:
        """Realised slippage against the price the decision saw (price impact, pool fee and the
        market's move between decision and landing; positive = worse)."""
        return slippage_bps(self.decision_out_amount, self.out_amount)

    @property
    def send_cost_lamports(self) -> int:
        """What sending cost: the network fee (base + priority) and the tip. Rent is a deposit
        (refunded when the account closes) and slippage is reported apart, so neither is here."""
        return self.network_fee_lamports + self.tip_lamports

    @property
    def cost_fraction(self) -> float | None:
        """``send_cost_lamports`` as a fraction of the trade's size (its swap leg in SOL)."""
        return self.send_cost_lamports / self.swap_lamports if self.swap_lamports > 0 else None


class ExecutionStatus(StrEnum):
    FILLED = "filled"
    FAILED = "failed"  # did not execute (quote failed, on-chain error, check failed)
    EXPIRED = "expired"  # sent but never landed before lastValidBlockHeight


@dataclass(frozen=True, slots=True)
class ExecutionResult:
    intent_id: str
    status: ExecutionStatus
    fill: Fill | None = None
    error: str = ""  # machine-readable kind, e.g. "no_route", "slippage_exceeded"
    detail: str = ""  # human-readable detail (no secrets)
    #: Lamports a transaction that landed but FAILED on chain still cost (its ``meta.fee``); 0 otherwise.
    fee_lamports: int = 0
    signature: str = ""  # the transaction signature, when one was sent


@runtime_checkable
class IntentJournal(Protocol):
    """Crash-safe record of intent states, implemented by the ledger and injected by the engine.

    Every call must be durable (committed) when it returns: the executor journals ``SIGNED``
    with the raw signed bytes and ``last_valid_block_height`` before the first send.
    """

    def transition(self, intent_id: str, state: IntentState, *, signature: str | None = None,
                   signed_tx: bytes | None = None, last_valid_block_height: int | None = None,
                   detail: str = "") -> None: ...

    def unfinished(self) -> list[JournalEntry]: ...


@dataclass(frozen=True, slots=True)
class JournalEntry:
    intent_id: str
    mint: str
    side: Side
    state: IntentState
    amount_in: int
    signature: str | None
    signed_tx: bytes | None
    last_valid_block_height: int | None
    attempt: int


class Executor(Protocol):
    """Paper and live executors implement this; the engine never knows which one it holds."""

    paper: bool

    async def execute(self, order: OrderRequest) -> ExecutionResult: ...

    async def recover(self, journal: IntentJournal | None = None, *, sol_usd: float) -> list[ExecutionResult]:
        """Resolve the journal's unfinished intents before anything new trades (start-up)."""
        ...

    async def quote_check(self, mint: str, lamports_in: int, pool: PoolSnapshot) -> QuoteCheck:
        """Probe an executable buy quote and a reverse (sell) route for the risk checks."""
        ...

    async def token_balance(self, mint: str) -> int | None:
        """The wallet's actual raw balance of ``mint`` (None when it cannot be read now)."""
        ...

    async def token_balances(self) -> dict[str, int] | None:
        """Raw balance per mint of every token account the wallet owns (None when unreadable)."""
        ...

    async def sol_balance(self) -> int | None:
        """The wallet's lamports (None when it cannot be read now)."""
        ...

    async def close_token_account(self, mint: str) -> CloseResult:
        """Close the wallet's token account for ``mint`` after a full exit to reclaim its rent
        (when ``close_empty_token_accounts`` is on). Only an account whose on-chain balance is
        exactly 0 is closed; never raises for chain errors (a ``REFUSED`` result says why). The
        caller books a sent close (``CloseResult.sent``). Paper: a no-op, the refund is modelled
        in the sell fill."""
        ...

    async def recover_closes(self) -> list[CloseResult]:
        """Resolve closes a previous run journaled but did not book, from the chain (start-up):
        the journaled bytes are rebroadcast until they land or provably expire; never a new close."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class QuoteCheck:
    """An executable-quote probe for a prospective buy, for the risk manager's entry checks.

    ``buy_price_usd`` is the executable price per whole token for ``lamports_in``;
    ``sell_route_ok`` says whether a reverse quote (selling what the buy would get) succeeded —
    the honeypot check.
    """

    mint: str
    lamports_in: int
    buy_price_usd: float
    price_impact_pct: float
    sell_route_ok: bool
    detail: str = ""


class CloseState(StrEnum):
    """Lifecycle of a token-account close: ``signed → sent → closed | failed | expired``."""

    SIGNED = "signed"
    SENT = "sent"
    CLOSED = "closed"  # landed: the rent is back in the wallet
    FAILED = "failed"  # landed with an error: only the fee was paid
    EXPIRED = "expired"  # provably never landed

    @property
    def terminal(self) -> bool:
        return self in (CloseState.CLOSED, CloseState.FAILED, CloseState.EXPIRED)


class CloseStatus(StrEnum):
    """What ``Executor.close_token_account`` did."""

    CLOSED = "closed"  # the close landed; refund and fee read from the chain
    FAILED = "failed"  # the close landed but failed on chain; its fee was paid
    EXPIRED = "expired"  # the close provably never landed
    REFUSED = "refused"  # not sent: the account still holds tokens, or it could not be checked/built
    SKIPPED = "skipped"  # not sent and nothing to do: disabled by config, no account, or paper


@dataclass(frozen=True, slots=True)
class CloseResult:
    """The outcome of closing the wallet's empty token account for ``mint``. Lamports are integers;
    the wallet's SOL changes by ``refund_lamports - fee_lamports`` exactly (0 unless sent)."""

    mint: str
    status: CloseStatus
    account: str = ""
    signature: str = ""
    refund_lamports: int = 0
    fee_lamports: int = 0
    detail: str = ""

    @property
    def sent(self) -> bool:
        """A transaction was sent: the outcome must be booked (``CLOSED``/``FAILED``/``EXPIRED``)."""
        return bool(self.signature) and self.status in (CloseStatus.CLOSED, CloseStatus.FAILED,
                                                         CloseStatus.EXPIRED)


@dataclass(frozen=True, slots=True)
class CloseEntry:
    signature: str
    mint: str
    account: str
    state: CloseState
    signed_tx: bytes
    last_valid_block_height: int


@runtime_checkable
class CloseJournal(Protocol):
    """Crash-safe record of token-account closes, implemented by the ledger and injected.

    ``journal_close`` is durable before the first send (signature, raw signed bytes,
    ``lastValidBlockHeight``); the outcome is booked by the caller from the ``CloseResult``
    (the ledger's ``apply_account_close``, which also moves the cash).
    """

    def journal_close(self, *, signature: str, mint: str, account: str, signed_tx: bytes,
                      last_valid_block_height: int) -> None: ...

    def close_sent(self, signature: str) -> None: ...

    def unfinished_closes(self) -> list[CloseEntry]: ...
