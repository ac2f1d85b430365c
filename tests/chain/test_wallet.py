from __future__ import annotations

import json
import logging
import os

import pytest
from solders.keypair import Keypair

from chain.errors import WalletError
from chain.wallet import load_wallet, load_wallet_from_env


def write(tmp_path, data, mode=0o600):
    p = tmp_path / "id.json"
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    os.chmod(p, mode)
    return p


def test_loads_cli_keypair_and_never_shows_the_secret(tmp_path, caplog):
    kp = Keypair()
    p = write(tmp_path, list(bytes(kp)))
    w = load_wallet_from_env({"SOLBOT_KEYPAIR": str(p)})
    assert w.pubkey == kp.pubkey()
    assert w.sign_message(b"m") == kp.sign_message(b"m")
    secret = json.dumps(list(bytes(kp))[:32])[1:-1]
    logging.getLogger("t").warning("wallet %s %r", w, w)
    for text in (repr(w), str(w), caplog.text):
        assert secret not in text and str(bytes(kp)) not in text
    with pytest.raises(TypeError):
        import pickle
        pickle.dumps(w)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644])
def test_refuses_group_or_other_accessible_file(tmp_path, mode):
    p = write(tmp_path, list(bytes(Keypair())), mode)
    with pytest.raises(WalletError, match="chmod 600"):
        load_wallet(p)


@pytest.mark.parametrize("data", ["not json", [1, 2, 3], [256] * 64, "{}", [True] * 64])
def test_refuses_malformed_file_without_echoing_it(tmp_path, data):
    p = write(tmp_path, data)
    with pytest.raises(WalletError) as ei:
        load_wallet(p)
    # the file's content (here a value 256) must not be echoed; the path in the message may contain
    # anything (pytest's temp dirs are numbered, e.g. pytest-256), so look only past it
    assert "256" not in str(ei.value).replace(str(p), "<path>")


def test_refuses_mismatched_public_half(tmp_path):
    raw = list(bytes(Keypair()))[:32] + list(bytes(Keypair().pubkey()))
    with pytest.raises(WalletError):
        load_wallet(write(tmp_path, raw))


def test_refuses_missing_file_or_unset_variable(tmp_path):
    with pytest.raises(WalletError, match="does not exist"):
        load_wallet(tmp_path / "nope.json")
    with pytest.raises(WalletError, match="SOLBOT_KEYPAIR"):
        load_wallet_from_env({})
