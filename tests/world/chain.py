"""One shared local chain: a ``LiteSVM`` runtime plus a block producer.

LiteSVM executes transactions immediately and has no notion of blocks, so this module adds
what a node needs around it:

* a block producer task that advances slot and block height every ``slot_ms`` and processes
  the queued transactions at each slot boundary (sending and landing are distinct moments);
* blockhash validity as on mainnet: each block gets a new blockhash, valid while the block
  height is <= ``lastValidBlockHeight`` (= height at creation + 150). LiteSVM's own check only
  accepts the very latest hash, so it is switched off and this module checks instead;
* a signature record per landed transaction (slot, blockTime, fee, pre/post lamport and
  token balances, logs) for ``getSignatureStatuses`` / ``getTransaction``;
* duplicates process once (the first landed copy wins, later copies are dropped);
* the priority fee (``ceil(cu_price * cu_limit / 1e6)``), which LiteSVM does not charge,
  is charged here so that ``meta.fee`` and the payer's balance agree as on mainnet;
* Jito bundles (``submit_bundle``, from ``tests.world.block_engine``): one transaction each,
  landed at the top of the next block only if it succeeds on the state of that moment (revert
  protection: a failing bundle never lands and costs nothing), never dropped by ``drop_rate``
  (bundles go to the block engine's validators, not through the leader's plain queue).

Only static account keys are supported (no address lookup tables); the local Jupiter never
uses them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import random
import struct
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from solders.account import Account
from solders.compute_budget import ID as COMPUTE_BUDGET_ID
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.litesvm import LiteSVM
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.rpc.responses import RpcSimulateTransactionResult
from solders.system_program import CreateAccountParams, create_account
from solders.transaction import VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import TransactionErrorInstructionError
from spl.token.constants import TOKEN_2022_PROGRAM_ID, TOKEN_PROGRAM_ID
from spl.token.instructions import (
    AuthorityType,
    MintToCheckedParams,
    SetAuthorityParams,
    TransferCheckedParams,
    create_idempotent_associated_token_account,
    get_associated_token_address,
    mint_to_checked,
    set_authority,
    transfer_checked,
)

log = logging.getLogger(__name__)

BASE_FEE_PER_SIGNATURE = 5000
BLOCKHASH_VALIDITY = 150
TOKEN_PROGRAMS = (TOKEN_PROGRAM_ID, TOKEN_2022_PROGRAM_ID)
MINT_LEN = 82
ACCOUNT_LEN = 165
TRANSFER_FEE_MINT_LEN = 278  # 165 + account type (1) + TLV header (4) + TransferFeeConfig (108)


def err_to_json(err: object) -> object:
    """A solders TransactionError as the JSON the RPC returns (``"BlockhashNotFound"``, ``{...}``)."""
    if err is None:
        return None
    return json.loads(RpcSimulateTransactionResult(err).to_json())["err"]


def ui_amount_fields(amount: int, decimals: int) -> dict:
    s = str(amount).rjust(decimals + 1, "0")
    ui_str = (s[:-decimals] + "." + s[-decimals:]).rstrip("0").rstrip(".") if decimals else s
    return {
        "amount": str(amount),
        "decimals": decimals,
        "uiAmount": amount / 10**decimals,
        "uiAmountString": ui_str,
    }


@dataclass(frozen=True, slots=True)
class TokenAccountState:
    mint: Pubkey
    owner: Pubkey
    amount: int
    program: Pubkey
    state: str  # initialized | frozen


def parse_token_account(acc: Account | None) -> TokenAccountState | None:
    if acc is None or acc.owner not in TOKEN_PROGRAMS or len(acc.data) < ACCOUNT_LEN:
        return None
    data = bytes(acc.data)
    if len(data) > ACCOUNT_LEN and data[ACCOUNT_LEN] != 2:  # Token-2022 account type byte
        return None
    if len(data) == MINT_LEN:
        return None
    state = {1: "initialized", 2: "frozen"}.get(data[108], "uninitialized")
    return TokenAccountState(
        mint=Pubkey.from_bytes(data[0:32]),
        owner=Pubkey.from_bytes(data[32:64]),
        amount=struct.unpack_from("<Q", data, 64)[0],
        program=acc.owner,
        state=state,
    )


@dataclass(frozen=True, slots=True)
class MintState:
    mint_authority: Pubkey | None
    supply: int
    decimals: int
    is_initialized: bool
    freeze_authority: Pubkey | None
    program: Pubkey
    transfer_fee_bps: int | None
    transfer_fee_max: int | None
    data_len: int


def parse_mint(acc: Account | None) -> MintState | None:
    if acc is None or acc.owner not in TOKEN_PROGRAMS:
        return None
    data = bytes(acc.data)
    if len(data) < MINT_LEN or (len(data) > MINT_LEN and (len(data) <= ACCOUNT_LEN or data[ACCOUNT_LEN] != 1)):
        return None
    ma = Pubkey.from_bytes(data[4:36]) if struct.unpack_from("<I", data, 0)[0] else None
    fa = Pubkey.from_bytes(data[50:82]) if struct.unpack_from("<I", data, 46)[0] else None
    fee_bps = fee_max = None
    # Token-2022 TLV extensions after the account type byte; type 1 = TransferFeeConfig.
    off = ACCOUNT_LEN + 1
    while off + 4 <= len(data):
        etype, elen = struct.unpack_from("<HH", data, off)
        if etype == 0:
            break
        if etype == 1 and elen >= 108:
            body = data[off + 4 : off + 4 + elen]
            # newer_transfer_fee: epoch u64, maximum_fee u64, bps u16 at offset 90
            fee_max = struct.unpack_from("<Q", body, 98)[0]
            fee_bps = struct.unpack_from("<H", body, 106)[0]
        off += 4 + elen
    return MintState(
        mint_authority=ma,
        supply=struct.unpack_from("<Q", data, 36)[0],
        decimals=data[44],
        is_initialized=bool(data[45]),
        freeze_authority=fa,
        program=acc.owner,
        transfer_fee_bps=fee_bps,
        transfer_fee_max=fee_max,
        data_len=len(data),
    )


def transfer_fee(amount: int, bps: int | None, max_fee: int | None) -> int:
    if not bps:
        return 0
    return min(math.ceil(amount * bps / 10_000), max_fee if max_fee is not None else amount)


def compute_budget_of(tx: VersionedTransaction) -> tuple[int | None, int]:
    """(unit limit or None, unit price in micro-lamports) from the compute-budget instructions."""
    msg = tx.message
    keys = msg.account_keys
    limit, price = None, 0
    for ix in msg.instructions:
        if keys[ix.program_id_index] != COMPUTE_BUDGET_ID:
            continue
        data = bytes(ix.data)
        if data[:1] == b"\x02" and len(data) >= 5:
            limit = struct.unpack_from("<I", data, 1)[0]
        elif data[:1] == b"\x03" and len(data) >= 9:
            price = struct.unpack_from("<Q", data, 1)[0]
    return limit, price


def fee_of(tx: VersionedTransaction) -> tuple[int, int]:
    """(total fee, priority fee) in lamports, as the runtime charges them."""
    msg = tx.message
    limit, price = compute_budget_of(tx)
    if limit is None:
        n_other = sum(1 for ix in msg.instructions if msg.account_keys[ix.program_id_index] != COMPUTE_BUDGET_ID)
        limit = min(1_400_000, 200_000 * n_other)
    prio = math.ceil(price * limit / 1_000_000)
    return BASE_FEE_PER_SIGNATURE * msg.header.num_required_signatures + prio, prio


@dataclass
class TxRecord:
    """A transaction that landed (successfully or with an error) in ``slot``."""

    signature: str
    slot: int
    block_time: int
    tx: VersionedTransaction
    err: object  # JSON form, None on success
    fee: int
    compute_units: int
    logs: list[str]
    pre_balances: list[int]
    post_balances: list[int]
    pre_token_balances: list[dict]
    post_token_balances: list[dict]
    cu_price: int
    bundle_id: str | None = None  # landed as this Jito bundle (None: a plain transaction)


@dataclass
class Block:
    slot: int
    height: int
    blockhash: str
    parent_slot: int
    time: int
    signatures: list[str] = field(default_factory=list)
    min_cu_price: int = 0


class Chain:
    """The shared ledger all local RPC nodes and the local Jupiter read and write."""

    def __init__(
        self,
        *,
        slot_ms: int = 80,
        confirm_depth: int = 1,
        finalize_depth: int = 32,
        start_slot: int = 300_000_000,
        start_height: int = 280_000_000,
        drop_rate: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.svm = LiteSVM().with_blockhash_check(False).with_sigverify(True)
        self.slot_ms = slot_ms
        self.confirm_depth = confirm_depth
        self.finalize_depth = finalize_depth
        #: probability that the leader drops a forwarded transaction (congestion); rebroadcasts help.
        self.drop_rate = drop_rate
        self._rng = random.Random(seed)
        self.slot = start_slot
        self.height = start_height
        self.blocks: deque[Block] = deque(maxlen=600)
        self.blockhash_lvbh: dict[str, int] = {}
        self.records: dict[str, TxRecord] = {}
        #: signatures seen but not landed, with the reason (for tests and debugging)
        self.dropped: dict[str, str] = {}
        self._queue: list[tuple[VersionedTransaction, str]] = []
        self._bundle_queue: list[tuple[str, VersionedTransaction]] = []
        #: bundle id -> "landed" or why it did not land (reverted, duplicate, expired...)
        self.bundle_results: dict[str, str] = {}
        self.bundle_log: list[tuple[int, str, str]] = []  # (slot, bundle id, outcome) per landing attempt
        self._listeners: list[Callable[[Block], None]] = []
        self._task: asyncio.Task | None = None
        self.paused = False
        self._mints: list[Pubkey] = []
        self._holders: dict[Pubkey, list[Pubkey]] = {}
        self.faucet = Keypair()
        self.airdrop(self.faucet.pubkey(), 10**17)
        self._new_block(parent=start_slot - 1)

    # ------------------------------------------------------------------ block production
    @property
    def latest(self) -> Block:
        return self.blocks[-1]

    @property
    def blockhash(self) -> str:
        return self.latest.blockhash

    @property
    def last_valid_block_height(self) -> int:
        return self.blockhash_lvbh[self.latest.blockhash]

    def _new_block(self, parent: int) -> Block:
        self.svm.expire_blockhash()
        bh = str(self.svm.latest_blockhash())
        now = int(time.time())
        block = Block(slot=self.slot, height=self.height, blockhash=bh, parent_slot=parent, time=now)
        self.blocks.append(block)
        self.blockhash_lvbh[bh] = self.height + BLOCKHASH_VALIDITY
        clock = self.svm.get_clock()
        clock.slot = self.slot
        clock.unix_timestamp = now
        self.svm.set_clock(clock)
        return block

    def produce_block(self) -> Block:
        """Land the queued transactions in the next slot and advance slot and height."""
        parent = self.slot
        self.slot += 1
        self.height += 1
        block = self._new_block(parent)
        queue, self._queue = self._queue, []
        bundles, self._bundle_queue = self._bundle_queue, []
        prices = []
        for bundle_id, tx in bundles:  # bundles first: the block engine's auction fills the block's top
            rec = self._land_bundle(bundle_id, tx, block)
            if rec is not None:
                block.signatures.append(rec.signature)
                prices.append(rec.cu_price)
        for tx, sig in queue:
            rec = self._execute(tx, sig, block)
            if rec is not None:
                block.signatures.append(sig)
                prices.append(rec.cu_price)
        block.min_cu_price = min(prices) if prices else 0
        # forget blockhashes long expired
        if len(self.blockhash_lvbh) > 2000:
            for bh, lv in list(self.blockhash_lvbh.items()):
                if lv < self.height - 300:
                    del self.blockhash_lvbh[bh]
        for cb in list(self._listeners):
            try:
                cb(block)
            except Exception:  # a listener must never stop the chain
                log.exception("block listener failed")
        return block

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.slot_ms / 1000)
            if not self.paused:
                self.produce_block()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="world-block-producer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def add_listener(self, cb: Callable[[Block], None]) -> None:
        self._listeners.append(cb)

    def remove_listener(self, cb: Callable[[Block], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(cb)

    async def wait_slots(self, n: int) -> None:
        target = self.slot + n
        while self.slot < target:  # noqa: ASYNC110 - polling a plain int
            await asyncio.sleep(self.slot_ms / 4000)

    # ------------------------------------------------------------------ transactions
    def blockhash_valid(self, blockhash: str, height: int | None = None) -> bool:
        lv = self.blockhash_lvbh.get(blockhash)
        return lv is not None and (self.height if height is None else height) <= lv

    def submit(self, tx: VersionedTransaction) -> str:
        """Forward a transaction to the leader: it is processed at the next slot boundary."""
        sig = str(tx.signatures[0])
        if self.drop_rate and self._rng.random() < self.drop_rate:
            self.dropped.setdefault(sig, "dropped by leader (drop_rate)")
            return sig
        self._queue.append((tx, sig))
        return sig

    def submit_bundle(self, bundle_id: str, tx: VersionedTransaction) -> None:
        """Queue a one-transaction Jito bundle for the next block (never dropped by ``drop_rate``)."""
        self._bundle_queue.append((bundle_id, tx))

    def _land_bundle(self, bundle_id: str, tx: VersionedTransaction, block: Block) -> TxRecord | None:
        if self.bundle_results.get(bundle_id) == "landed":
            return None  # a resend of a bundle that already landed
        sig = str(tx.signatures[0])
        if sig in self.records:
            self.bundle_results[bundle_id] = "duplicate: the transaction already landed"
            return None
        sim = self.simulate(tx, sig_verify=True)
        if sim["err"] is not None:  # revert protection: a failing bundle is not landed at all
            self.bundle_results[bundle_id] = f"reverted: {sim['err']}"
            self.bundle_log.append((block.slot, bundle_id, self.bundle_results[bundle_id]))
            return None
        rec = self._execute(tx, sig, block, bundle_id=bundle_id)
        self.bundle_results[bundle_id] = "landed" if rec is not None else f"dropped: {self.dropped.get(sig)}"
        self.bundle_log.append((block.slot, bundle_id, self.bundle_results[bundle_id]))
        return rec

    def _token_balances(self, keys: Sequence[Pubkey]) -> list[dict]:
        out = []
        for i, k in enumerate(keys):
            ta = parse_token_account(self.svm.get_account(k))
            if ta is None:
                continue
            mint = parse_mint(self.svm.get_account(ta.mint))
            dec = mint.decimals if mint else 0
            out.append(
                {
                    "accountIndex": i,
                    "mint": str(ta.mint),
                    "owner": str(ta.owner),
                    "programId": str(ta.program),
                    "uiTokenAmount": ui_amount_fields(ta.amount, dec),
                }
            )
        return out

    def _execute(self, tx: VersionedTransaction, sig: str, block: Block, *,
                 bundle_id: str | None = None) -> TxRecord | None:
        if sig in self.records:
            return None  # duplicate: the first copy already landed
        msg = tx.message
        if not self.blockhash_valid(str(msg.recent_blockhash)):
            self.dropped[sig] = "BlockhashNotFound"
            return None
        keys = list(msg.account_keys)
        fee, prio = fee_of(tx)
        if self.svm.get_balance(keys[0]) < fee:
            self.dropped[sig] = "InsufficientFundsForFee"
            return None
        pre = [self.svm.get_balance(k) or 0 for k in keys]
        pre_tok = self._token_balances(keys)
        res = self.svm.send_transaction(tx)
        if isinstance(res, FailedTransactionMetadata):
            if not isinstance(res.err(), TransactionErrorInstructionError):
                # not executed (bad signature, account in use, ...): never lands, no fee
                self.dropped[sig] = str(err_to_json(res.err()))
                return None
            meta, err = res.meta(), err_to_json(res.err())
        else:
            meta, err = res, None
        if prio:
            self._add_lamports(keys[0], -prio)
        post = [self.svm.get_balance(k) or 0 for k in keys]
        rec = TxRecord(
            signature=sig,
            slot=block.slot,
            block_time=block.time,
            tx=tx,
            err=err,
            fee=fee,
            compute_units=meta.compute_units_consumed(),
            logs=list(meta.logs()),
            pre_balances=pre,
            post_balances=post,
            pre_token_balances=pre_tok,
            post_token_balances=self._token_balances(keys),
            cu_price=compute_budget_of(tx)[1],
            bundle_id=bundle_id,
        )
        self.records[sig] = rec
        self.dropped.pop(sig, None)
        return rec

    def simulate(self, tx: VersionedTransaction, *, sig_verify: bool = False) -> dict:
        """``simulateTransaction``'s value (err, logs, unitsConsumed, fee...), run on current state."""
        base = {
            "accounts": None,
            "innerInstructions": None,
            "loadedAccountsDataSize": 0,
            "loadedAddresses": {"readonly": [], "writable": []},
            "replacementBlockhash": None,
            "returnData": None,
            "preBalances": None,
            "postBalances": None,
            "preTokenBalances": None,
            "postTokenBalances": None,
        }
        if not self.blockhash_valid(str(tx.message.recent_blockhash)):
            return {**base, "err": "BlockhashNotFound", "logs": [], "unitsConsumed": 0, "fee": None}
        if str(tx.signatures[0]) in self.records:
            return {**base, "err": "AlreadyProcessed", "logs": [], "unitsConsumed": 0, "fee": None}
        svm = self.svm
        if not sig_verify:
            # simulate with signature verification off, as the RPC does by default
            svm.with_sigverify(False)
        try:
            res = svm.simulate_transaction(tx)
        finally:
            svm.with_sigverify(True)
        fee = fee_of(tx)[0]
        if isinstance(res, FailedTransactionMetadata):
            meta = res.meta()
            return {
                **base,
                "err": err_to_json(res.err()),
                "logs": list(meta.logs()),
                "unitsConsumed": meta.compute_units_consumed(),
                "fee": fee,
            }
        meta = res.meta()
        return {**base, "err": None, "logs": list(meta.logs()), "unitsConsumed": meta.compute_units_consumed(), "fee": fee}

    def signature_status(self, sig: str, *, at_slot: int | None = None) -> dict | None:
        rec = self.records.get(sig)
        now = self.slot if at_slot is None else at_slot
        if rec is None or rec.slot > now:
            return None
        depth = now - rec.slot
        if depth >= self.finalize_depth:
            cs, conf = "finalized", None
        elif depth >= self.confirm_depth:
            cs, conf = "confirmed", depth
        else:
            cs, conf = "processed", depth
        return {
            "slot": rec.slot,
            "confirmations": conf,
            "err": rec.err,
            "status": {"Ok": None} if rec.err is None else {"Err": rec.err},
            "confirmationStatus": cs,
        }

    def commitment_slot(self, commitment: str | None, at_slot: int | None = None) -> int:
        now = self.slot if at_slot is None else at_slot
        if commitment == "processed":
            return now
        if commitment == "confirmed":
            return now - self.confirm_depth
        return now - self.finalize_depth  # finalized is the RPC default

    def block_at_or_before(self, slot: int) -> Block:
        for b in reversed(self.blocks):
            if b.slot <= slot:
                return b
        return self.blocks[0]

    # ------------------------------------------------------------------ setup helpers
    def admin_execute(self, ixs: Sequence[Instruction], signers: Sequence[Keypair], payer: Keypair | None = None) -> None:
        """Execute setup instructions immediately (not through the block queue)."""
        payer = payer or self.faucet
        all_signers = [payer, *[s for s in signers if s.pubkey() != payer.pubkey()]]
        msg = MessageV0.try_compile(payer.pubkey(), list(ixs), [], Hash.from_string(self.blockhash))
        res = self.svm.send_transaction(VersionedTransaction(msg, all_signers))
        if isinstance(res, FailedTransactionMetadata):
            raise RuntimeError(f"setup transaction failed: {res.err()} {list(res.meta().logs())}")
        # LiteSVM refuses a second identical transaction; make each setup tx unique
        self.svm.expire_blockhash()

    def airdrop(self, pubkey: Pubkey, lamports: int) -> None:
        """Credit lamports directly (no transaction, no fee, no duplicate-signature trouble)."""
        self._add_lamports(pubkey, lamports)

    def _add_lamports(self, pubkey: Pubkey, delta: int) -> None:
        acc = self.svm.get_account(pubkey)
        if acc is None:
            acc = Account(lamports=0, data=b"", owner=Pubkey.default(), executable=False, rent_epoch=2**64 - 1)
        self.svm.set_account(
            pubkey,
            Account(
                lamports=acc.lamports + delta,
                data=acc.data,
                owner=acc.owner,
                executable=acc.executable,
                rent_epoch=acc.rent_epoch,
            ),
        )

    def rent_exempt(self, size: int) -> int:
        return self.svm.minimum_balance_for_rent_exemption(size)

    def create_mint(
        self,
        *,
        decimals: int = 6,
        token_2022: bool = False,
        mint_authority: Keypair | None = None,
        freeze_authority: Pubkey | None = None,
        transfer_fee_bps: int | None = None,
        transfer_fee_max: int = 2**64 - 1,
        mint_keypair: Keypair | None = None,
    ) -> Pubkey:
        """Create and initialise a mint with real SPL Token / Token-2022 instructions."""
        program = TOKEN_2022_PROGRAM_ID if (token_2022 or transfer_fee_bps is not None) else TOKEN_PROGRAM_ID
        mint_kp = mint_keypair or Keypair()
        auth = mint_authority or self.faucet
        space = TRANSFER_FEE_MINT_LEN if transfer_fee_bps is not None else MINT_LEN
        ixs = [
            create_account(
                CreateAccountParams(
                    from_pubkey=self.faucet.pubkey(),
                    to_pubkey=mint_kp.pubkey(),
                    lamports=self.rent_exempt(space),
                    space=space,
                    owner=program,
                )
            )
        ]
        if transfer_fee_bps is not None:
            # Token-2022 InitializeTransferFeeConfig (26, 0): COption<Pubkey> x2, u16 bps, u64 max
            data = (
                bytes([26, 0, 1])
                + bytes(auth.pubkey())
                + bytes([1])
                + bytes(auth.pubkey())
                + struct.pack("<HQ", transfer_fee_bps, transfer_fee_max)
            )
            ixs.append(Instruction(program, data, [AccountMeta(mint_kp.pubkey(), False, True)]))
        # InitializeMint2 (20): decimals, mint authority, COption<Pubkey> freeze authority
        data = bytes([20, decimals]) + bytes(auth.pubkey())
        data += (bytes([1]) + bytes(freeze_authority)) if freeze_authority else bytes([0])
        ixs.append(Instruction(program, data, [AccountMeta(mint_kp.pubkey(), False, True)]))
        self.admin_execute(ixs, [mint_kp])
        return mint_kp.pubkey()

    def token_program_of(self, mint: Pubkey) -> Pubkey:
        acc = self.svm.get_account(mint)
        if acc is None:
            raise KeyError(f"no mint {mint}")
        return acc.owner

    def ata(self, owner: Pubkey, mint: Pubkey) -> Pubkey:
        return get_associated_token_address(owner, mint, self.token_program_of(mint))

    def create_ata(self, owner: Pubkey, mint: Pubkey) -> Pubkey:
        program = self.token_program_of(mint)
        self.admin_execute(
            [create_idempotent_associated_token_account(self.faucet.pubkey(), owner, mint, program)], []
        )
        return get_associated_token_address(owner, mint, program)

    def mint_to(self, mint: Pubkey, owner: Pubkey, amount: int, authority: Keypair | None = None) -> Pubkey:
        program = self.token_program_of(mint)
        ata = self.create_ata(owner, mint)
        m = parse_mint(self.svm.get_account(mint))
        auth = authority or self.faucet
        self.admin_execute(
            [
                mint_to_checked(
                    MintToCheckedParams(
                        program_id=program,
                        mint=mint,
                        dest=ata,
                        mint_authority=auth.pubkey(),
                        amount=amount,
                        decimals=m.decimals,
                    )
                )
            ],
            [auth],
        )
        return ata

    def set_delegate(self, account: Pubkey, delegate: Pubkey, amount: int = 2**64 - 1) -> None:
        """Let ``delegate`` move up to ``amount`` of a token account's tokens, written into the
        account's state directly (an owner that is a program-derived address cannot sign an
        Approve; on mainnet its program moves the tokens)."""
        acc = self.svm.get_account(account)
        if parse_token_account(acc) is None:
            raise KeyError(f"{account} is not a token account")
        data = bytearray(acc.data)
        data[72:76] = (1).to_bytes(4, "little")  # delegate: COption::Some
        data[76:108] = bytes(delegate)
        data[121:129] = amount.to_bytes(8, "little")  # delegated_amount
        self.svm.set_account(account, Account(lamports=acc.lamports, data=bytes(data), owner=acc.owner,
                                              executable=acc.executable, rent_epoch=acc.rent_epoch))

    def transfer_tokens(self, mint: Pubkey, source_owner: Keypair, dest_owner: Pubkey, amount: int) -> Pubkey:
        """Move ``amount`` raw units from ``source_owner``'s ATA to ``dest_owner``'s (created if
        needed) with a real TransferChecked; returns the destination ATA."""
        program = self.token_program_of(mint)
        dest = self.create_ata(dest_owner, mint)
        m = parse_mint(self.svm.get_account(mint))
        self.admin_execute(
            [
                transfer_checked(
                    TransferCheckedParams(
                        program_id=program,
                        source=get_associated_token_address(source_owner.pubkey(), mint, program),
                        mint=mint,
                        dest=dest,
                        owner=source_owner.pubkey(),
                        amount=amount,
                        decimals=m.decimals,
                    )
                )
            ],
            [source_owner],
        )
        return dest

    def revoke_mint_authority(self, mint: Pubkey, authority: Keypair | None = None) -> None:
        auth = authority or self.faucet
        self.admin_execute(
            [
                set_authority(
                    SetAuthorityParams(
                        program_id=self.token_program_of(mint),
                        account=mint,
                        authority=AuthorityType.MINT_TOKENS,
                        current_authority=auth.pubkey(),
                        new_authority=None,
                    )
                )
            ],
            [auth],
        )

    # ------------------------------------------------------------------ reads
    def balance(self, pubkey: Pubkey) -> int:
        return self.svm.get_balance(pubkey) or 0

    def token_balance(self, owner: Pubkey, mint: Pubkey) -> int:
        ta = parse_token_account(self.svm.get_account(self.ata(owner, mint)))
        return ta.amount if ta else 0

    def token_accounts_of(self, owner: Pubkey, *, mint: Pubkey | None = None, program: Pubkey | None = None) -> list[Pubkey]:
        """Token accounts owned by ``owner`` (ATAs of every known mint; the world only makes ATAs)."""
        out = []
        for m in self.known_mints:
            acc = self.svm.get_account(m)
            if acc is None or (mint is not None and m != mint) or (program is not None and acc.owner != program):
                continue
            ata = get_associated_token_address(owner, m, acc.owner)
            if parse_token_account(self.svm.get_account(ata)) is not None:
                out.append(ata)
        return out

    @property
    def known_mints(self) -> list[Pubkey]:
        return list(self._mints)

    def register_mint(self, mint: Pubkey, holders: Sequence[Pubkey] = ()) -> None:
        self._mints.append(mint)
        self._holders.setdefault(mint, []).extend(holders)

    def token_holders(self, mint: Pubkey) -> list[tuple[Pubkey, int]]:
        """(token account, amount) for known holders of ``mint``, largest first."""
        seen = []
        for owner in self._holders.get(mint, []):
            ta_addr = self.ata(owner, mint)
            ta = parse_token_account(self.svm.get_account(ta_addr))
            if ta is not None:
                seen.append((ta_addr, ta.amount))
        return sorted(seen, key=lambda t: -t[1])

    def note_holder(self, mint: Pubkey, owner: Pubkey) -> None:
        lst = self._holders.setdefault(mint, [])
        if owner not in lst:
            lst.append(owner)


def write_keypair_file(kp: Keypair, path: str | Path) -> Path:
    """Write ``kp`` in Solana CLI format (JSON array of the 64 secret bytes), mode 0600."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(list(bytes(kp)), f)
    os.chmod(path, 0o600)
    return path
