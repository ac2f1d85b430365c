from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.errors import ChainDataError
from chain.token_safety import associated_token_address, parse_mint_account

SAMPLE = Path("/work/shared/reference/api-samples/solana_getAccountInfo_mint_jsonParsed_real.json")


def test_real_mint_sample_renounced_authorities():
    v = json.loads(SAMPLE.read_text())["result"]["value"]
    m = parse_mint_account("M", v)
    assert (m.decimals, m.supply, m.mint_authority, m.freeze_authority) == (9, 999717986436501, None, None)
    assert not m.token_2022 and m.transfer_fee_bps is None


def test_token_2022_extensions_are_read():
    v = {"data": {"program": "spl-token-2022", "parsed": {"type": "mint", "info": {
        "decimals": 6, "supply": "1000", "mintAuthority": "Auth1", "freezeAuthority": None,
        "extensions": [
            {"extension": "transferFeeConfig", "state": {"newerTransferFee": {"transferFeeBasisPoints": 250},
                                                          "olderTransferFee": {"transferFeeBasisPoints": 100}}},
            {"extension": "permanentDelegate", "state": {"delegate": "Del1"}},
            {"extension": "transferHook", "state": {"programId": "Hook1"}},
            {"extension": "defaultAccountState", "state": {"accountState": "frozen"}},
            {"extension": "nonTransferable"}]}}}}
    m = parse_mint_account("M", v)
    assert m.token_2022 and m.mint_authority == "Auth1" and m.transfer_fee_bps == 250
    assert m.permanent_delegate and m.transfer_hook and m.default_frozen and m.non_transferable


def test_non_mint_is_a_data_error():
    with pytest.raises(ChainDataError):
        parse_mint_account("M", {"data": {"program": "spl-token", "parsed": {"type": "account", "info": {}}}})


def test_ata_derivation_matches_spl():
    from solders.pubkey import Pubkey
    from spl.token.instructions import get_associated_token_address
    o, m = Pubkey.new_unique(), Pubkey.new_unique()
    assert associated_token_address(str(o), str(m)) == str(get_associated_token_address(o, m))
