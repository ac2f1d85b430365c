"""Pre-sign checks of a router-built swap transaction (pure; money-safety rule 5).

A transaction is signed only if:

- the fee payer (first account key) is our wallet, and our wallet is a required signer;
- every top-level instruction calls a program in the allowed set;
- lamports leaving our wallet through top-level System transfers/account creations stay within
  ``max_lamports_out``, and tokens leaving accounts we own (Transfer/TransferChecked with our
  wallet as authority) stay within ``max_tokens_out``;
- no instruction hands control of our wallet or token accounts to someone else (System
  Assign/Allocate on our wallet, token Approve/SetAuthority/Burn by us, CloseAccount by us that
  pays the rent elsewhere);
- the compute-budget priority fee (``ceil(price × limit / 1e6)``) is within the cap;
- a Jito tip (``expected_tip_lamports`` > 0: send path "jito"/"both") is exactly one top-level
  System transfer from our wallet to one of ``tip_accounts`` (a static key, never an address
  lookup table entry), of exactly the tip asked and within ``max_tip_lamports``. That transfer is
  the only thing the tip adds: it is not counted in ``max_lamports_out``, and a transfer to a tip
  account when no tip is expected counts as an ordinary lamport outflow (so it breaks that cap).

Routed swaps move most value inside program CPIs that cannot be decoded generically; the quote
checks (``chain.jupiter.check_quote``) bound those amounts, and the fill is read from the chain.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Collection
from dataclasses import dataclass

from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from chain.errors import TxCheckFailed

COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
SYSTEM_PROGRAM = "11111111111111111111111111111111"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
#: Protocol: a transaction without SetComputeUnitLimit gets at most this many compute units.
MAX_COMPUTE_UNITS = 1_400_000
MICRO_LAMPORTS_PER_LAMPORT = 1_000_000

_SYS_CREATE, _SYS_ASSIGN, _SYS_TRANSFER, _SYS_CREATE_SEED, _SYS_ALLOCATE = 0, 1, 2, 3, 8
_SYS_ALLOCATE_SEED, _SYS_ASSIGN_SEED, _SYS_TRANSFER_SEED = 9, 10, 11
_TOK_TRANSFER, _TOK_APPROVE, _TOK_SET_AUTHORITY, _TOK_BURN, _TOK_CLOSE = 3, 4, 6, 8, 9
_TOK_TRANSFER_CHECKED, _TOK_APPROVE_CHECKED, _TOK_BURN_CHECKED = 12, 13, 15


@dataclass(frozen=True, slots=True)
class TxFacts:
    program_ids: tuple[str, ...]  # per top-level instruction (decodes InstructionError indexes)
    signer_index: int  # our signature slot
    lamports_out: int
    tokens_out: int
    compute_unit_limit: int
    compute_unit_price_micro_lamports: int
    priority_fee_lamports: int
    num_signatures: int
    tip_lamports: int = 0
    tip_account: str = ""


def priority_fee_lamports(cu_limit: int, cu_price_micro: int) -> int:
    return math.ceil(cu_price_micro * cu_limit / MICRO_LAMPORTS_PER_LAMPORT)


def check_swap_tx(tx: VersionedTransaction, *, wallet: Pubkey, allowed_programs: Collection[str],
                  max_lamports_out: int, max_tokens_out: int, max_priority_fee_lamports: int,
                  expected_tip_lamports: int = 0, max_tip_lamports: int = 0,
                  tip_accounts: Collection[str] = ()) -> TxFacts:
    msg = tx.message
    keys = list(msg.account_keys)
    n_sig = msg.header.num_required_signatures
    if not keys or keys[0] != wallet:
        raise TxCheckFailed("fee payer is not our wallet", kind="fee_payer")
    signer_index = keys.index(wallet)
    if signer_index >= n_sig:
        raise TxCheckFailed("our wallet is not a required signer", kind="not_signer")
    me = signer_index
    allowed = set(allowed_programs)
    progs: list[str] = []
    lamports_out = tokens_out = 0
    cu_limit, cu_price = MAX_COMPUTE_UNITS, 0
    tipping = expected_tip_lamports > 0
    tip_keys = frozenset(tip_accounts) if tipping else frozenset()
    if tipping and expected_tip_lamports > max_tip_lamports:
        raise TxCheckFailed(f"tip {expected_tip_lamports} lamports exceeds the cap {max_tip_lamports}",
                            kind="tip_cap")
    if tipping and not tip_keys:
        raise TxCheckFailed("a tip is expected but no tip account is known", kind="tip_missing")
    tips: list[tuple[int, str]] = []

    def key(i: int) -> int:
        if i >= len(keys):  # an account from an address lookup table: never our wallet (static)
            return -1
        return i

    for ix_index, ix in enumerate(msg.instructions):
        if ix.program_id_index >= len(keys):
            raise TxCheckFailed(f"instruction {ix_index}: program id not a static key", kind="program")
        prog = str(keys[ix.program_id_index])
        progs.append(prog)
        if prog not in allowed:
            raise TxCheckFailed(f"instruction {ix_index} calls {prog}, not in the allowed programs",
                                kind="program_not_allowed")
        data = bytes(ix.data)
        accts = [key(a) for a in bytes(ix.accounts)]
        if prog == COMPUTE_BUDGET_PROGRAM and data:
            if data[0] == 2 and len(data) >= 5:
                cu_limit = struct.unpack_from("<I", data, 1)[0]
            elif data[0] == 3 and len(data) >= 9:
                cu_price = struct.unpack_from("<Q", data, 1)[0]
        elif prog == SYSTEM_PROGRAM and len(data) >= 4:
            tag = struct.unpack_from("<I", data, 0)[0]
            if (tag == _SYS_TRANSFER and tip_keys and len(accts) >= 2 and accts[0] == me and accts[1] >= 0
                    and str(keys[accts[1]]) in tip_keys and len(data) >= 12):
                tips.append((struct.unpack_from("<Q", data, 4)[0], str(keys[accts[1]])))
            elif tag in (_SYS_TRANSFER, _SYS_CREATE) and accts and accts[0] == me and len(data) >= 12:
                lamports_out += struct.unpack_from("<Q", data, 4)[0]
            elif tag in (_SYS_CREATE_SEED, _SYS_TRANSFER_SEED) and me in accts:
                raise TxCheckFailed(f"instruction {ix_index}: seeded system op on our wallet",
                                    kind="forbidden_instruction")
            elif tag in (_SYS_ASSIGN, _SYS_ALLOCATE, _SYS_ALLOCATE_SEED, _SYS_ASSIGN_SEED) and me in accts:
                raise TxCheckFailed(f"instruction {ix_index}: would reassign our wallet",
                                    kind="forbidden_instruction")
        elif prog in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM) and data:
            tag = data[0]
            if tag == _TOK_TRANSFER and len(accts) >= 3 and accts[2] == me and len(data) >= 9:
                tokens_out += struct.unpack_from("<Q", data, 1)[0]
            elif tag == _TOK_TRANSFER_CHECKED and len(accts) >= 4 and accts[3] == me and len(data) >= 9:
                tokens_out += struct.unpack_from("<Q", data, 1)[0]
            elif tag in (_TOK_APPROVE, _TOK_APPROVE_CHECKED, _TOK_SET_AUTHORITY, _TOK_BURN,
                         _TOK_BURN_CHECKED) and me in accts:
                raise TxCheckFailed(f"instruction {ix_index}: token approve/authority/burn by our wallet",
                                    kind="forbidden_instruction")
            elif tag == _TOK_CLOSE and len(accts) >= 3 and accts[2] == me and accts[1] != me:
                raise TxCheckFailed(f"instruction {ix_index}: closes our token account to another wallet",
                                    kind="forbidden_instruction")
    if lamports_out > max_lamports_out:
        raise TxCheckFailed(f"transaction moves {lamports_out} lamports out of the wallet, cap "
                            f"{max_lamports_out}", kind="cap_exceeded")
    if tokens_out > max_tokens_out:
        raise TxCheckFailed(f"transaction moves {tokens_out} token units out of the wallet, cap "
                            f"{max_tokens_out}", kind="cap_exceeded")
    fee = priority_fee_lamports(cu_limit, cu_price)
    if fee > max_priority_fee_lamports:
        raise TxCheckFailed(f"priority fee {fee} lamports exceeds the cap {max_priority_fee_lamports}",
                            kind="priority_fee_cap")
    tip, tip_account = 0, ""
    if tipping:
        if len(tips) != 1:
            raise TxCheckFailed(f"expected exactly one tip transfer to a tip account, found {len(tips)}",
                                kind="tip_missing" if not tips else "tip_mismatch")
        tip, tip_account = tips[0]
        if tip != expected_tip_lamports:
            raise TxCheckFailed(f"the transaction tips {tip} lamports, {expected_tip_lamports} were asked",
                                kind="tip_mismatch")
    return TxFacts(tuple(progs), signer_index, lamports_out, tokens_out, cu_limit, cu_price, fee, n_sig,
                   tip, tip_account)
