"""Token safety reads for the risk manager: the mint account (jsonParsed) and the largest holders.

Returns ``MintSafety`` (chain-side values); ``bot.orders.mint_facts.to_token_safety`` maps it to
``bot.contracts.TokenSafety`` for the engine and for ``solbot trade`` alike:
``mint_authority_set``, ``freeze_authority_set``, ``token_2022``, ``transfer_fee_bps``,
``permanent_delegate``, ``transfer_hook``, ``non_transferable``, ``default_frozen``,
``top10_holder_share``.

The top-10 holder share is decided here, once. ``getTokenLargestAccounts`` names the largest
token accounts (up to 20); one ``getMultipleAccounts`` (jsonParsed) call reads who owns each.
Accounts that are not a holder's stake are left out before the ten largest are summed:

- the owner (token-account authority) is off the ed25519 curve, i.e. a program-derived address:
  a pool vault, a bonding curve, a program's escrow; no private key can move those tokens;
- the owner is a known AMM / launchpad authority (named in ``KNOWN_POOL_AUTHORITIES``);
- the owner is the incinerator (burned tokens).

The share is the sum of the ten largest remaining accounts over the mint's whole supply. When
either holder read fails the share is unknown (``None``), never a guess; the mint facts still
stand. A stake held by a program (a multisig vault, a vesting contract) is left out as well:
the rule measures wallets.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from solders.pubkey import Pubkey
from spl.token.instructions import get_associated_token_address

from chain.errors import ChainDataError, ChainError
from chain.rpc_methods import ChainRpc, LargestTokenAccount, TokenAccount
from chain.tx_check import TOKEN_2022_PROGRAM, TOKEN_PROGRAM

log = logging.getLogger(__name__)

TOP_HOLDERS = 10  # the "top 10 holders" share the risk rules speak of

#: The burn address: tokens sent to its token accounts are out of circulation.
INCINERATOR = "1nc1nerator11111111111111111111111111111111"

#: Token-account owners of the big AMMs and launchpads: what they hold is pool reserve, not a
#: holder's stake. (They are program-derived too; listed so the reason has a name.)
KNOWN_POOL_AUTHORITIES: dict[str, str] = {
    "5Q544fKrFoe6tsEbD7S8EmxGTJYAKtTVhAW5Q5pge4j1": "Raydium AMM v4 authority",
    "GpMZbSM2GgvTKHJirzeGfMFoaZ8UR2X7F4v8vHTvxFbL": "Raydium CPMM authority",
    "WLHv2UAZm6z4KyaaELi5pjdbJh6RESMva1Rnn8pJVVh": "Raydium LaunchLab authority",
}


class HolderKind(StrEnum):
    WALLET = "wallet"  # owner on the curve: a key can move these tokens (counted)
    GONE = "gone"  # the account closed between the two reads (counted: it held that amount)
    POOL = "pool"  # a known AMM / launchpad authority
    PROGRAM = "program"  # owner off the curve: a program-derived address (pool vault, bonding curve...)
    BURNED = "burned"  # the incinerator

    @property
    def counted(self) -> bool:
        return self in (HolderKind.WALLET, HolderKind.GONE)


@dataclass(frozen=True, slots=True)
class TokenHolder:
    account: str  # the token account
    amount: int  # raw units
    owner: str | None  # the token account's owner (authority); None when the account is gone
    kind: HolderKind


def holder_kind(owner: str) -> HolderKind:
    """What kind of holder a token account's owner is (see the module docstring)."""
    if owner == INCINERATOR:
        return HolderKind.BURNED
    if owner in KNOWN_POOL_AUTHORITIES:
        return HolderKind.POOL
    try:
        on_curve = Pubkey.from_string(owner).is_on_curve()
    except ValueError:
        raise ChainDataError(f"token account owner {owner!r:.50} is not an address") from None
    return HolderKind.WALLET if on_curve else HolderKind.PROGRAM


def classify_holders(mint: str, largest: list[LargestTokenAccount],
                     accounts: list[TokenAccount | None]) -> tuple[TokenHolder, ...]:
    """Pair each largest account with its parsed account (same order) and name its holder kind."""
    if len(accounts) != len(largest):
        raise ChainDataError("holder accounts: answer length differs from the request")
    out = []
    for la, acc in zip(largest, accounts, strict=True):
        if acc is None:
            out.append(TokenHolder(la.address, la.amount, None, HolderKind.GONE))
            continue
        if acc.mint != mint:
            raise ChainDataError(f"largest account {la.address} of {mint} holds mint {acc.mint}")
        out.append(TokenHolder(la.address, la.amount, acc.owner, holder_kind(acc.owner)))
    return tuple(sorted(out, key=lambda h: -h.amount))


def top10_holder_share(holders: tuple[TokenHolder, ...], supply: int) -> float | None:
    """The ten largest counted holders' share of the whole supply (None for a zero supply)."""
    if supply <= 0:
        return None
    counted = sorted((h.amount for h in holders if h.kind.counted), reverse=True)[:TOP_HOLDERS]
    return sum(counted) / supply


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
    top10_holder_share: float | None  # None: unknown (the holder reads failed)
    holders: tuple[TokenHolder, ...] = ()  # the largest accounts, classified (empty when unknown)

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
    """``await TokenSafetyReader(ChainRpc(pool, commitment)).read(mint)`` → ``MintSafety``.

    The mint account must be readable (``ChainError`` otherwise: decimals and authorities are not
    optional); a failed holder read only leaves the holder share unknown."""

    def __init__(self, rpc: ChainRpc) -> None:
        self._rpc = rpc

    async def read(self, mint: str) -> MintSafety:
        value = await self._rpc.account_info_parsed(mint)
        if value is None:
            raise ChainDataError(f"mint {mint} does not exist")
        safety = parse_mint_account(mint, value)
        try:
            holders = await self.holders(mint)
        except ChainError as exc:
            log.warning("holder read for %s failed (%s); top-10 holder share unknown", mint, exc.kind)
            return safety
        return replace(safety, holders=holders, top10_holder_share=top10_holder_share(holders, safety.supply))

    async def holders(self, mint: str) -> tuple[TokenHolder, ...]:
        """The mint's largest accounts with their owners' kinds (two RPC calls). Raises ChainError."""
        largest = await self._rpc.largest_token_accounts(mint)
        if not largest:
            return ()
        accounts = await self._rpc.token_accounts_at([a.address for a in largest])
        return classify_holders(mint, largest, accounts)
