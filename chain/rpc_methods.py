"""Typed Solana JSON-RPC methods over the pool: pure parsers at the edge, one I/O call each.

Each parser turns a ``result`` into a frozen value or raises ``ChainDataError``; the pool treats
such an answer as a faulty node and moves the read to the next endpoint.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from chain.errors import ChainDataError
from chain.rpc_pool import RpcPool


@dataclass(frozen=True, slots=True)
class Blockhash:
    blockhash: str
    last_valid_block_height: int


@dataclass(frozen=True, slots=True)
class SignatureStatus:
    slot: int
    err: Any  # None when the transaction succeeded
    confirmation_status: str | None  # processed | confirmed | finalized

    def reached(self, commitment: str) -> bool:
        order = {"processed": 0, "confirmed": 1, "finalized": 2}
        return order.get(self.confirmation_status or "", -1) >= order[commitment]


@dataclass(frozen=True, slots=True)
class TokenBalance:
    account_index: int
    mint: str
    owner: str | None
    amount: int
    decimals: int


@dataclass(frozen=True, slots=True)
class ConfirmedTx:
    signature: str
    slot: int
    err: Any
    fee: int
    account_keys: tuple[str, ...]  # static keys, then loaded writable, then loaded readonly
    pre_balances: tuple[int, ...]
    post_balances: tuple[int, ...]
    pre_token_balances: tuple[TokenBalance, ...]
    post_token_balances: tuple[TokenBalance, ...]
    log_messages: tuple[str, ...]
    num_signatures: int


@dataclass(frozen=True, slots=True)
class TokenAccount:
    pubkey: str
    mint: str
    owner: str
    amount: int
    decimals: int
    program: str  # spl-token | spl-token-2022


@dataclass(frozen=True, slots=True)
class LargestTokenAccount:
    address: str  # the token account (not its owner)
    amount: int  # raw units


@dataclass(frozen=True, slots=True)
class RawAccount:
    """An account as stored: its owner program, lamports and raw data bytes (base64 on the wire)."""

    pubkey: str
    owner: str
    lamports: int
    data: bytes


@dataclass(frozen=True, slots=True)
class SimulationResult:
    err: Any
    logs: tuple[str, ...]
    units_consumed: int | None


# --- tiny typed accessors ---------------------------------------------------------------------


def _obj(v: Any, what: str) -> dict[str, Any]:
    if not isinstance(v, dict):
        raise ChainDataError(f"{what}: expected an object, got {type(v).__name__}")
    return v


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ChainDataError(f"{what}: expected an integer, got {type(v).__name__}")
    return v


def _int_str(v: Any, what: str) -> int:
    if isinstance(v, str) and v.isdigit():
        return int(v)
    raise ChainDataError(f"{what}: expected a decimal string, got {v!r:.40}")


def _list(v: Any, what: str) -> list[Any]:
    if not isinstance(v, list):
        raise ChainDataError(f"{what}: expected a list, got {type(v).__name__}")
    return v


def _str(v: Any, what: str) -> str:
    if not isinstance(v, str):
        raise ChainDataError(f"{what}: expected a string, got {type(v).__name__}")
    return v


def _value(result: Any, what: str) -> Any:
    r = _obj(result, what)
    if "value" not in r:
        raise ChainDataError(f"{what}: no 'value' in context response")
    return r["value"]


# --- parsers ------------------------------------------------------------------------------------


def parse_int(result: Any) -> int:
    return _int(result, "integer result")


def parse_blockhash(result: Any) -> Blockhash:
    v = _obj(_value(result, "getLatestBlockhash"), "getLatestBlockhash.value")
    return Blockhash(_str(v.get("blockhash"), "blockhash"),
                     _int(v.get("lastValidBlockHeight"), "lastValidBlockHeight"))


def parse_balance(result: Any) -> int:
    return _int(_value(result, "getBalance"), "getBalance.value")


def parse_signature_statuses(result: Any) -> list[SignatureStatus | None]:
    out: list[SignatureStatus | None] = []
    for item in _list(_value(result, "getSignatureStatuses"), "getSignatureStatuses.value"):
        if item is None:
            out.append(None)
            continue
        o = _obj(item, "signature status")
        cs = o.get("confirmationStatus")
        if cs is not None and cs not in ("processed", "confirmed", "finalized"):
            raise ChainDataError(f"confirmationStatus: unexpected {cs!r:.20}")
        out.append(SignatureStatus(_int(o.get("slot"), "status.slot"), o.get("err"), cs))
    return out


def parse_priority_fees(result: Any) -> list[int]:
    return [_int(_obj(x, "fee sample").get("prioritizationFee"), "prioritizationFee")
            for x in _list(result, "getRecentPrioritizationFees")]


def _token_balances(v: Any, what: str) -> tuple[TokenBalance, ...]:
    out = []
    for x in _list(v if v is not None else [], what):
        o = _obj(x, what)
        ui = _obj(o.get("uiTokenAmount"), f"{what}.uiTokenAmount")
        out.append(TokenBalance(_int(o.get("accountIndex"), "accountIndex"), _str(o.get("mint"), "mint"),
                                o.get("owner") if isinstance(o.get("owner"), str) else None,
                                _int_str(ui.get("amount"), "uiTokenAmount.amount"),
                                _int(ui.get("decimals"), "uiTokenAmount.decimals")))
    return tuple(out)


def parse_transaction(signature: str, result: Any) -> ConfirmedTx | None:
    if result is None:
        return None
    r = _obj(result, "getTransaction")
    meta = _obj(r.get("meta"), "getTransaction.meta")
    tx = _obj(r.get("transaction"), "getTransaction.transaction")
    msg = _obj(tx.get("message"), "transaction.message")
    keys = [_str(k, "accountKey") if isinstance(k, str) else _str(_obj(k, "accountKey").get("pubkey"), "pubkey")
            for k in _list(msg.get("accountKeys"), "accountKeys")]
    loaded = meta.get("loadedAddresses") or {}
    if isinstance(loaded, dict):
        keys += [_str(k, "loaded") for k in loaded.get("writable") or []]
        keys += [_str(k, "loaded") for k in loaded.get("readonly") or []]
    pre = tuple(_int(b, "preBalances") for b in _list(meta.get("preBalances"), "preBalances"))
    post = tuple(_int(b, "postBalances") for b in _list(meta.get("postBalances"), "postBalances"))
    if len(pre) != len(keys) or len(post) != len(keys):
        raise ChainDataError("getTransaction: balances do not match account keys")
    return ConfirmedTx(
        signature=signature, slot=_int(r.get("slot"), "slot"), err=meta.get("err"),
        fee=_int(meta.get("fee"), "meta.fee"), account_keys=tuple(keys), pre_balances=pre,
        post_balances=post,
        pre_token_balances=_token_balances(meta.get("preTokenBalances"), "preTokenBalances"),
        post_token_balances=_token_balances(meta.get("postTokenBalances"), "postTokenBalances"),
        log_messages=tuple(str(x) for x in (meta.get("logMessages") or [])),
        num_signatures=len(_list(tx.get("signatures"), "transaction.signatures")))


def _token_account(pubkey: str, account: Any) -> TokenAccount:
    """A jsonParsed token account (``{"data": {"program", "parsed": {"info": ...}}, ...}``)."""
    data = _obj(_obj(account, "account").get("data"), "account.data")
    info = _obj(_obj(data.get("parsed"), "parsed").get("info"), "parsed.info")
    amt = _obj(info.get("tokenAmount"), "tokenAmount")
    return TokenAccount(pubkey, _str(info.get("mint"), "mint"), _str(info.get("owner"), "owner"),
                        _int_str(amt.get("amount"), "amount"), _int(amt.get("decimals"), "decimals"),
                        _str(data.get("program"), "program"))


def parse_token_accounts(result: Any) -> list[TokenAccount]:
    out = []
    for item in _list(_value(result, "getTokenAccountsByOwner"), "value"):
        o = _obj(item, "token account")
        out.append(_token_account(_str(o.get("pubkey"), "pubkey"), o.get("account")))
    return out


def parse_token_accounts_at(addresses: Sequence[str], result: Any) -> list[TokenAccount | None]:
    """``getMultipleAccounts`` (jsonParsed) of token accounts, in request order; None where an
    account does not exist (any other account is malformed here)."""
    values = _list(_value(result, "getMultipleAccounts"), "getMultipleAccounts.value")
    if len(values) != len(addresses):
        raise ChainDataError("getMultipleAccounts: answer length differs from the request")
    return [None if v is None else _token_account(a, v) for a, v in zip(addresses, values, strict=True)]


def _raw_account(pubkey: str, v: Any) -> RawAccount:
    o = _obj(v, "account")
    data = _list(o.get("data"), "account.data")
    if len(data) != 2 or data[1] != "base64" or not isinstance(data[0], str):
        raise ChainDataError("account.data: expected [<base64>, \"base64\"]")
    try:
        raw = base64.b64decode(data[0], validate=True)
    except ValueError:
        raise ChainDataError("account.data: not base64") from None
    return RawAccount(pubkey, _str(o.get("owner"), "account.owner"), _int(o.get("lamports"), "account.lamports"), raw)


def parse_raw_accounts(addresses: Sequence[str], result: Any) -> list[RawAccount | None]:
    """``getMultipleAccounts`` (base64) in request order; None where an account does not exist."""
    values = _list(_value(result, "getMultipleAccounts"), "getMultipleAccounts.value")
    if len(values) != len(addresses):
        raise ChainDataError("getMultipleAccounts: answer length differs from the request")
    return [None if v is None else _raw_account(a, v) for a, v in zip(addresses, values, strict=True)]


def parse_parsed_accounts(addresses: Sequence[str], result: Any) -> list[dict[str, Any] | None]:
    """``getMultipleAccounts`` (jsonParsed) in request order: each account object, unread (the
    caller knows which kind each is), or None where it does not exist."""
    values = _list(_value(result, "getMultipleAccounts"), "getMultipleAccounts.value")
    if len(values) != len(addresses):
        raise ChainDataError("getMultipleAccounts: answer length differs from the request")
    return [None if v is None else _obj(v, "account") for v in values]


def token_account_of(pubkey: str, account: dict[str, Any]) -> TokenAccount:
    """A jsonParsed token account (raises ChainDataError for anything else)."""
    return _token_account(pubkey, account)


def parse_largest_accounts(result: Any) -> list[LargestTokenAccount]:
    out = []
    for x in _list(_value(result, "getTokenLargestAccounts"), "getTokenLargestAccounts.value"):
        o = _obj(x, "largest account")
        out.append(LargestTokenAccount(_str(o.get("address"), "address"), _int_str(o.get("amount"), "amount")))
    return out


def parse_simulation(result: Any) -> SimulationResult:
    v = _obj(_value(result, "simulateTransaction"), "simulateTransaction.value")
    units = v.get("unitsConsumed")
    return SimulationResult(v.get("err"), tuple(str(x) for x in (v.get("logs") or [])),
                            units if isinstance(units, int) else None)


# --- the typed client -------------------------------------------------------------------------


class ChainRpc:
    """Typed reads over an ``RpcPool`` at the configured commitment."""

    def __init__(self, pool: RpcPool, commitment: str) -> None:
        self.pool = pool
        self.commitment = commitment

    async def latest_blockhash(self) -> Blockhash:
        return await self.pool.call("getLatestBlockhash", [{"commitment": self.commitment}],
                                    parse=parse_blockhash)

    async def block_height(self) -> int:
        return await self.pool.call("getBlockHeight", [{"commitment": self.commitment}], parse=parse_int)

    async def balance(self, pubkey: str) -> int:
        return await self.pool.call("getBalance", [pubkey, {"commitment": self.commitment}],
                                    parse=parse_balance)

    async def signature_statuses(self, signatures: Sequence[str], *, search_history: bool = False
                                 ) -> list[SignatureStatus | None]:
        params = [list(signatures), {"searchTransactionHistory": search_history}]
        res = await self.pool.call("getSignatureStatuses", params, parse=parse_signature_statuses)
        if len(res) != len(signatures):
            raise ChainDataError("getSignatureStatuses: answer length differs from the request")
        return res

    async def transaction(self, signature: str) -> ConfirmedTx | None:
        params = [signature, {"encoding": "json", "maxSupportedTransactionVersion": 0,
                              "commitment": "finalized" if self.commitment == "finalized" else "confirmed"}]
        return await self.pool.call("getTransaction", params,
                                    parse=lambda r: parse_transaction(signature, r))

    async def recent_prioritization_fees(self, accounts: Sequence[str]) -> list[int]:
        return await self.pool.call("getRecentPrioritizationFees", [list(accounts)],
                                    parse=parse_priority_fees)

    async def token_accounts(self, owner: str, *, mint: str | None = None,
                             program_id: str | None = None) -> list[TokenAccount]:
        flt = {"mint": mint} if mint else {"programId": program_id}
        params = [owner, flt, {"encoding": "jsonParsed", "commitment": self.commitment}]
        return await self.pool.call("getTokenAccountsByOwner", params, parse=parse_token_accounts)

    async def account_info_parsed(self, pubkey: str) -> dict[str, Any] | None:
        params = [pubkey, {"encoding": "jsonParsed", "commitment": self.commitment}]
        v = await self.pool.call("getAccountInfo", params, parse=lambda r: _value(r, "getAccountInfo"))
        return _obj(v, "getAccountInfo.value") if v is not None else None

    async def largest_token_accounts(self, mint: str) -> list[LargestTokenAccount]:
        """The mint's largest token accounts (the node answers up to 20), largest first."""
        return await self.pool.call("getTokenLargestAccounts", [mint, {"commitment": self.commitment}],
                                    parse=parse_largest_accounts)

    async def token_accounts_at(self, addresses: Sequence[str]) -> list[TokenAccount | None]:
        """Several token accounts in one ``getMultipleAccounts`` call (jsonParsed, at most 100)."""
        params = [list(addresses), {"encoding": "jsonParsed", "commitment": self.commitment}]
        return await self.pool.call("getMultipleAccounts", params,
                                    parse=lambda r: parse_token_accounts_at(addresses, r))

    async def raw_accounts(self, addresses: Sequence[str]) -> list[RawAccount | None]:
        """Several accounts' raw data in one ``getMultipleAccounts`` call (base64, at most 100)."""
        params = [list(addresses), {"encoding": "base64", "commitment": self.commitment}]
        return await self.pool.call("getMultipleAccounts", params,
                                    parse=lambda r: parse_raw_accounts(addresses, r))

    async def parsed_accounts(self, addresses: Sequence[str]) -> list[dict[str, Any] | None]:
        """Several accounts in one ``getMultipleAccounts`` call (jsonParsed, at most 100)."""
        params = [list(addresses), {"encoding": "jsonParsed", "commitment": self.commitment}]
        return await self.pool.call("getMultipleAccounts", params,
                                    parse=lambda r: parse_parsed_accounts(addresses, r))

    async def simulate(self, raw: bytes) -> SimulationResult:
        params = [base64.b64encode(raw).decode(),
                  {"encoding": "base64", "commitment": self.commitment, "sigVerify": False,
                   "replaceRecentBlockhash": False}]
        return await self.pool.call("simulateTransaction", params, parse=parse_simulation)
