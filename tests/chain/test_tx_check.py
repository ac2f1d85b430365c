from __future__ import annotations

import pytest
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import ApproveParams, TransferCheckedParams, approve, transfer_checked

from chain.errors import TxCheckFailed
from chain.tx_check import check_swap_tx

ME = Keypair().pubkey()
POOL = Keypair().pubkey()
ALLOWED = {"ComputeBudget111111111111111111111111111111", "11111111111111111111111111111111",
           str(TOKEN_PROGRAM_ID)}


def tx(*ixs: Instruction, payer: Pubkey = ME) -> VersionedTransaction:
    msg = MessageV0.try_compile(payer, list(ixs), [], Hash.default())
    return VersionedTransaction.populate(msg, [Signature.default()] * msg.header.num_required_signatures)


def check(t: VersionedTransaction, **kw):
    args = dict(wallet=ME, allowed_programs=ALLOWED, max_lamports_out=1_000, max_tokens_out=0,
                max_priority_fee_lamports=10_000)
    args.update(kw)
    return check_swap_tx(t, **args)


def buy_ixs(lamports: int = 1_000, cu: int = 200_000, price: int = 10_000):
    return (set_compute_unit_limit(cu), set_compute_unit_price(price),
            transfer(TransferParams(from_pubkey=ME, to_pubkey=POOL, lamports=lamports)))


def test_a_swap_within_caps_passes_and_reports_facts():
    f = check(tx(*buy_ixs()))
    assert (f.lamports_out, f.priority_fee_lamports, f.signer_index) == (1_000, 2_000, 0)


@pytest.mark.parametrize(("t", "kw", "kind"), [
    (lambda: tx(*buy_ixs(lamports=1_001)), {}, "cap_exceeded"),
    (lambda: tx(*buy_ixs(), payer=POOL), {}, "fee_payer"),
    (lambda: tx(*buy_ixs(price=1_000_000)), {}, "priority_fee_cap"),
    (lambda: tx(Instruction(Pubkey.new_unique(), b"", [AccountMeta(ME, True, True)])), {}, "program_not_allowed"),
    (lambda: tx(approve(ApproveParams(program_id=TOKEN_PROGRAM_ID, source=Pubkey.new_unique(),
                                      delegate=POOL, owner=ME, amount=5))), {}, "forbidden_instruction"),
    (lambda: tx(transfer_checked(TransferCheckedParams(program_id=TOKEN_PROGRAM_ID, source=Pubkey.new_unique(),
                                                       mint=Pubkey.new_unique(), dest=Pubkey.new_unique(),
                                                       owner=ME, amount=6, decimals=0))),
     {"max_tokens_out": 5}, "cap_exceeded"),
])
def test_transactions_breaking_a_rule_are_refused_before_signing(t, kw, kind):
    with pytest.raises(TxCheckFailed) as ei:
        check(t(), **kw)
    assert ei.value.kind == kind


def test_token_transfer_by_someone_else_is_not_ours():
    t = tx(transfer_checked(TransferCheckedParams(program_id=TOKEN_PROGRAM_ID, source=Pubkey.new_unique(),
                                                  mint=Pubkey.new_unique(), dest=Pubkey.new_unique(),
                                                  owner=POOL, amount=10**9, decimals=0)))
    assert check(t).tokens_out == 0


# --- the Jito tip: exactly one transfer to a tip account, exactly the tip asked, within its cap ---

TIP = Keypair().pubkey()
OTHER_TIP = Keypair().pubkey()


def tip_ix(lamports: int, to: Pubkey = TIP) -> Instruction:
    return transfer(TransferParams(from_pubkey=ME, to_pubkey=to, lamports=lamports))


def check_tip(t: VersionedTransaction, tip: int = 5_000, cap: int = 10_000, **kw):
    return check(t, expected_tip_lamports=tip, max_tip_lamports=cap, tip_accounts={str(TIP), str(OTHER_TIP)}, **kw)


def test_the_tip_transfer_is_accepted_apart_from_the_swap_outflow():
    f = check_tip(tx(*buy_ixs(), tip_ix(5_000)))
    assert (f.lamports_out, f.tip_lamports, f.tip_account) == (1_000, 5_000, str(TIP))


@pytest.mark.parametrize(("ixs", "kw", "kind"), [
    (lambda: (*buy_ixs(), tip_ix(5_000)), {"tip": 5_000, "cap": 4_999}, "tip_cap"),
    (lambda: (*buy_ixs(), tip_ix(6_000)), {}, "tip_mismatch"),
    (lambda: (*buy_ixs(), tip_ix(2_500), tip_ix(2_500, OTHER_TIP)), {}, "tip_mismatch"),
    (lambda: buy_ixs(), {}, "tip_missing"),
    # a "tip" to an account that is not a tip account is an ordinary outflow: it breaks the cap
    (lambda: (*buy_ixs(), tip_ix(5_000, POOL)), {}, "cap_exceeded"),
])
def test_a_tip_other_than_asked_is_refused_before_signing(ixs, kw, kind):
    with pytest.raises(TxCheckFailed) as ei:
        check_tip(tx(*ixs()), **kw)
    assert ei.value.kind == kind


def test_without_a_tip_asked_a_transfer_to_a_tip_account_counts_as_outflow():
    with pytest.raises(TxCheckFailed) as ei:
        check(tx(*buy_ixs(), tip_ix(5_000)), tip_accounts={str(TIP)})
    assert ei.value.kind == "cap_exceeded"


def test_a_tip_account_loaded_from_a_lookup_table_is_not_a_tip():
    from solders.address_lookup_table_account import AddressLookupTableAccount

    alt = AddressLookupTableAccount(Keypair().pubkey(), [TIP, POOL])
    msg = MessageV0.try_compile(ME, [*buy_ixs(), tip_ix(5_000)], [alt], Hash.default())
    assert TIP not in list(msg.account_keys)  # the tip account is behind the table
    t = VersionedTransaction.populate(msg, [Signature.default()] * msg.header.num_required_signatures)
    with pytest.raises(TxCheckFailed) as ei:
        check_tip(t)
    assert ei.value.kind in ("tip_missing", "cap_exceeded")
