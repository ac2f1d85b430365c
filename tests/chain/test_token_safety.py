from __future__ import annotations

import json
from pathlib import Path

import pytest

from chain.errors import ChainDataError
from chain.token_safety import associated_token_address, parse_mint_account
from chain.tx_check import TOKEN_2022_PROGRAM

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


def test_ata_derivation_gives_the_account_a_node_reported():
    # solana_getTokenAccountsByOwner_jsonParsed_response (api-samples): owner, mint, its account
    owner, mint = "A1TMhSGzQxMr1TboBKtgixKz1sS6REASMxPo1qsyTSJd", "2cHr7QS3xfuSV8wdxo3ztuF4xbiarF6Nrgx3qpx3HzXR"
    assert associated_token_address(owner, mint) == "BGocb4GEpbTFm8UFV2VsDSaBXHELPfAXrvd4vtt8QWrA"
    assert associated_token_address(owner, mint, TOKEN_2022_PROGRAM) != associated_token_address(owner, mint)
    with pytest.raises(ValueError):
        associated_token_address(owner, mint, "11111111111111111111111111111111")
