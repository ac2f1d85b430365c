"""Closing the wallet's empty token account after a full exit, to reclaim its rent.

``build_close_tx`` is pure: an SPL Token / Token-2022 ``CloseAccount`` instruction (solana-py's
``spl.token``) on the wallet's associated token account for the mint (destination = owner = fee
payer = wallet), compiled into a v0 message and signed in our (only) slot.

``AccountCloser`` does the I/O with the same money-safety rules as swaps:

1. the account is closed only when its on-chain token balance is exactly 0 (read at the pool's
   commitment right before building); anything else is ``REFUSED``;
2. the signature, raw signed bytes and ``lastValidBlockHeight`` are journaled (``CloseJournal``)
   BEFORE the first send;
3. the same bytes are rebroadcast until the close lands or provably expires (``chain.confirm``);
   a close still able to land is never followed by a second one for the same mint;
4. refund and fee are read from the confirmed transaction: ``meta.fee`` and the wallet's
   ``preBalances/postBalances`` (``refund = Δwallet + fee``), so the ledger can match the wallet.
"""

from __future__ import annotations

from collections.abc import Callable

from solders.hash import Hash
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.transaction import VersionedTransaction
from spl.token.instructions import CloseAccountParams, close_account

from chain.config import LiveExecutionConfig
from chain.confirm import Landing, Outcome, land, landed_transaction
from chain.errors import ChainError
from chain.rpc_methods import ChainRpc
from chain.rpc_pool import RpcPool
from chain.token_safety import associated_token_address
from chain.tx_check import TOKEN_2022_PROGRAM, TOKEN_PROGRAM
from chain.types import WSOL_MINT, CloseEntry, CloseJournal, CloseResult, CloseState, CloseStatus


def build_close_tx(wallet: Pubkey, mint: str, token_program: str, blockhash: str,
                   sign: Callable[[bytes], Signature]) -> tuple[bytes, str, str]:
    """``(raw signed bytes, signature, account)``: close the wallet's ATA for ``mint`` under
    ``token_program``, rent to the wallet, the wallet paying the fee and signing its only slot."""
    owner = str(wallet)
    account = associated_token_address(owner, mint, token_program)  # ValueError: not a token program
    ix = close_account(CloseAccountParams(program_id=Pubkey.from_string(token_program),
                                          account=Pubkey.from_string(account), dest=wallet, owner=wallet))
    msg = MessageV0.try_compile(wallet, [ix], [], Hash.from_string(blockhash))
    sig = sign(to_bytes_versioned(msg))
    tx = VersionedTransaction.populate(msg, [sig])
    return bytes(tx), str(sig), account


class AccountCloser:
    """Closes empty token accounts for ``LiveExecutor`` (which serialises it with its swaps)."""

    def __init__(self, *, rpc: ChainRpc, pool: RpcPool, live: LiveExecutionConfig, commitment: str,
                 wallet: Pubkey, sign: Callable[[bytes], Signature], journal: CloseJournal) -> None:
        self.rpc = rpc
        self.pool = pool
        self.live = live
        self.commitment = commitment
        self.wallet = wallet
        self._sign = sign
        self.journal = journal

    async def close(self, mint: str) -> CloseResult:
        if mint == WSOL_MINT:
            return CloseResult(mint, CloseStatus.SKIPPED, detail="wrapped SOL accounts are not closed here")
        pending = [e for e in self.journal.unfinished_closes() if e.mint == mint]
        if pending:  # never a second close while an earlier one can still land
            return await self.resolve(pending[0])
        owner = str(self.wallet)
        try:
            accounts = await self.rpc.token_accounts(owner, mint=mint)
        except ChainError as exc:
            return CloseResult(mint, CloseStatus.REFUSED, detail=f"token accounts unreadable ({exc.kind}); not closed")
        ata = None
        for a in accounts:
            program = TOKEN_2022_PROGRAM if a.program == "spl-token-2022" else TOKEN_PROGRAM
            if a.pubkey == associated_token_address(owner, mint, program):
                ata = (a, program)
        if ata is None:
            return CloseResult(mint, CloseStatus.SKIPPED, detail="no associated token account to close")
        acc, program = ata
        if acc.amount != 0:
            return CloseResult(mint, CloseStatus.REFUSED, account=acc.pubkey,
                               detail=f"account holds {acc.amount} raw units; only an empty account is closed")
        try:
            bh = await self.rpc.latest_blockhash()
        except ChainError as exc:
            return CloseResult(mint, CloseStatus.REFUSED, account=acc.pubkey,
                               detail=f"no blockhash ({exc.kind}); not closed")
        raw, sig, account = build_close_tx(self.wallet, mint, program, bh.blockhash, self._sign)
        self.journal.journal_close(signature=sig, mint=mint, account=account, signed_tx=raw,
                                   last_valid_block_height=bh.last_valid_block_height)
        await self.pool.send_transaction(raw)
        self.journal.close_sent(sig)
        landing = await land(self.rpc, self.pool, self.live, signature=sig, raw=raw,
                             last_valid_block_height=bh.last_valid_block_height, commitment=self.commitment,
                             first_send_done=True)
        return await self._outcome(mint, account, landing)

    async def resolve(self, e: CloseEntry) -> CloseResult:
        """Rebroadcast a journaled close until it lands or provably expires (recovery)."""
        if e.state is CloseState.SIGNED:
            self.journal.close_sent(e.signature)
        landing = await land(self.rpc, self.pool, self.live, signature=e.signature, raw=e.signed_tx,
                             last_valid_block_height=e.last_valid_block_height, commitment=self.commitment)
        return await self._outcome(e.mint, e.account, landing)

    async def recover(self) -> list[CloseResult]:
        return [await self.resolve(e) for e in self.journal.unfinished_closes()]

    async def _outcome(self, mint: str, account: str, landing: Landing) -> CloseResult:
        sig = landing.signature
        if landing.outcome is Outcome.EXPIRED:
            return CloseResult(mint, CloseStatus.EXPIRED, account, sig, detail=landing.detail)
        tx = await landed_transaction(self.rpc, sig, self.live.status_poll_interval_seconds)
        owner = str(self.wallet)
        delta = 0
        if owner in tx.account_keys:
            w = tx.account_keys.index(owner)
            delta = tx.post_balances[w] - tx.pre_balances[w]
        if landing.outcome is Outcome.FAILED or tx.err is not None:
            return CloseResult(mint, CloseStatus.FAILED, account, sig, 0, tx.fee,
                               f"landed but failed on chain: {tx.err}; fee {tx.fee} lamports paid")
        return CloseResult(mint, CloseStatus.CLOSED, account, sig, delta + tx.fee, tx.fee,
                           f"rent {delta + tx.fee} lamports back, fee {tx.fee}")
