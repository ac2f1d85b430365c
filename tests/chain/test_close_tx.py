"""The account-close transaction (chain.account_closer.build_close_tx), pure."""

from __future__ import annotations

import pytest
from solders.keypair import Keypair
from solders.transaction import VersionedTransaction

from chain.account_closer import build_close_tx
from chain.token_safety import associated_token_address
from chain.tx_check import TOKEN_2022_PROGRAM, TOKEN_PROGRAM

MINT = "2cHr7QS3xfuSV8wdxo3ztuF4xbiarF6Nrgx3qpx3HzXR"
BLOCKHASH = "4uQeVj5tqViQh7yWWGStvkEG1Zmhx6uasJtWCJziofM"


@pytest.mark.parametrize("program", [TOKEN_PROGRAM, TOKEN_2022_PROGRAM])
def test_close_is_one_signed_close_account_on_the_wallets_ata(program: str) -> None:
    kp = Keypair()
    raw, sig, account = build_close_tx(kp.pubkey(), MINT, program, BLOCKHASH, kp.sign_message)
    tx = VersionedTransaction.from_bytes(raw)
    msg = tx.message
    keys = [str(k) for k in msg.account_keys]
    (ix,) = msg.instructions
    assert keys[ix.program_id_index] == program
    assert bytes(ix.data) == bytes([9])  # CloseAccount, no data
    wallet = str(kp.pubkey())
    assert account == associated_token_address(wallet, MINT, program)
    # account (writable), destination = wallet (writable), owner = wallet (signer)
    assert [keys[i] for i in ix.accounts] == [account, wallet, wallet]
    assert keys[0] == wallet and msg.header.num_required_signatures == 1
    assert msg.is_maybe_writable(keys.index(account)) and not msg.is_signer(keys.index(account))
    assert str(tx.signatures[0]) == sig and tx.verify_with_results() == [True]


def test_close_refuses_a_program_that_is_not_spl_token() -> None:
    kp = Keypair()
    with pytest.raises(ValueError):
        build_close_tx(kp.pubkey(), MINT, "11111111111111111111111111111111", BLOCKHASH, kp.sign_message)
