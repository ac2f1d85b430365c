"""Token safety reads for the risk manager: the mint account (jsonParsed) and the largest holders.

Returns ``MintSafety`` (chain-side values); the engine maps it to ``bot.contracts.TokenSafety``:
``mint_authority_set``, ``freeze_authority_set``, ``token_2022``, ``transfer_fee_bps``,
``permanent_delegate``, ``transfer_hook``, ``non_transferable``, ``default_frozen``,
``top10_holder_share``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from chain.errors import ChainDataError
from chain.rpc_methods import ChainRpc
from chain.tx_check import TOKEN_2022_PROGRAM, TOKEN_PROGRAM

TOP_HOLDERS = 10  # the "top 10 holders" share the risk rules speak of


@dataclass(frozen=True, slots=True)
class MintSafety:
    mint: str
    decimals: int
    supply: int
    token_program: str
    mint_authority: str | None
    freeze_authority: str | None
    extensions: tuple[str, ...]
    transfer_fee_bps: int | None
    permanent_delegate: bool
    transfer_hook: bool
    non_transferable: bool
    default_frozen: bool
    top10_holder_share: float | None

    @property
    def token_2022(self) -> bool:
        return self.token_program == TOKEN_2022_PROGRAM


def associated_token_address(owner: str, mint: str, token_program: str = TOKEN_PROGRAM) -> str:
    """The owner's associated token account for ``mint`` under SPL Token or Token-2022 (solana-py's
    ``spl.token`` derivation, on base58 strings); ``ValueError`` for any other program."""
    return str(get_associated_token_address(Pubkey.from_string(owner), Pubkey.from_string(mint),
                                            Pubkey.from_string(token_program)))


def parse_mint_account(mint: str, value: dict[str, Any]) -> MintSafety:
    data = value.get("data")
    if not isinstance(data, dict) or data.get("program") not in ("spl-token", "spl-token-2022"):
        raise ChainDataError(f"{mint} is not an SPL token mint")
    parsed = data.get("parsed") or {}
    info = parsed.get("info") if isinstance(parsed, dict) else None
    if not isinstance(info, dict) or parsed.get("type") != "mint":
        raise ChainDataError(f"{mint}: account is not a mint")
    supply, decimals = info.get("supply"), info.get("decimals")
    if not isinstance(supply, str) or not supply.isdigit() or not isinstance(decimals, int):
        raise ChainDataError(f"{mint}: malformed supply/decimals")
    exts: dict[str, Any] = {}
    for e in info.get("extensions") or []:
        if isinstance(e, dict) and isinstance(e.get("extension"), str):
            exts[e["extension"]] = e.get("state") or {}
    fee_bps = None
    tfc = exts.get("transferFeeConfig")
    if isinstance(tfc, dict):
        newer = tfc.get("newerTransferFee") or {}
        older = tfc.get("olderTransferFee") or {}
        bps = [x.get("transferFeeBasisPoints") for x in (newer, older) if isinstance(x, dict)]
        fee_bps = max((b for b in bps if isinstance(b, int)), default=None)
    pd = exts.get("permanentDelegate")
    hook = exts.get("transferHook")
    dstate = exts.get("defaultAccountState")
    return MintSafety(
        mint=mint, decimals=decimals, supply=int(supply),
        token_program=TOKEN_2022_PROGRAM if data["program"] == "spl-token-2022" else TOKEN_PROGRAM,
        mint_authority=info.get("mintAuthority") or None, freeze_authority=info.get("freezeAuthority") or None,
        extensions=tuple(sorted(exts)), transfer_fee_bps=fee_bps,
        permanent_delegate=isinstance(pd, dict) and bool(pd.get("delegate")),
        transfer_hook=isinstance(hook, dict) and bool(hook.get("programId")),
        non_transferable="nonTransferable" in exts,
        default_frozen=isinstance(dstate, dict) and dstate.get("accountState") == "frozen",
        top10_holder_share=None)


class TokenSafetyReader:
    """``await TokenSafetyReader(ChainRpc(pool, commitment)).read(mint)`` → ``MintSafety``."""

    def __init__(self, rpc: ChainRpc) -> None:
        self._rpc = rpc

    async def read(self, mint: str) -> MintSafety:
        value = await self._rpc.account_info_parsed(mint)
        if value is None:
            raise ChainDataError(f"mint {mint} does not exist")
        safety = parse_mint_account(mint, value)
        holders = await self._rpc.largest_token_accounts(mint)
        share = (sum(sorted(holders, reverse=True)[:TOP_HOLDERS]) / safety.supply) if safety.supply else None
        return MintSafety(**{**{f: getattr(safety, f) for f in safety.__slots__}, "top10_holder_share": share})
