"""The local test world: one LiteSVM chain, several JSON-RPC nodes, a local Jupiter.

Usage (tests and bench scripts)::

    from tests.world import LocalWorld, TokenSpec, Fault

    async with LocalWorld.start(nodes=3, tokens=[TokenSpec("BONK", decimals=5)]) as world:
        world.rpc_urls, world.ws_urls, world.jupiter_url
        world.wallet_keypair_path  # Solana CLI JSON array, mode 0600
        world.wallet_pubkey, world.wallet  # the bot's wallet (funded)
        world.mints["BONK"]  # str mint address
        world.node(1).set_fault(Fault.SLOW, delay_ms=400)
        world.node(2).set_fault(Fault.BEHIND, slots=50)
        await world.node(0).kill(); await world.node(0).revive()
        world.sol_balance(), world.token_balance("BONK")
        world.gift_tokens("BONK", 1_000)  # from a holder to the wallet: tokens the bot never bought
        world.advance(151)  # produce blocks at once (expire a blockhash)
        world.jupiter.controls.rate_limited = True  # 429 + x-ratelimit-reset
        world.pair_address("BONK")  # the token's Raydium AMM v4 pool state (the feed's pairAddress)

    async with LocalWorld.start(block_engine=True) as world:  # also a local Jito block engine
        world.block_engine.url, world.block_engine.controls.drop_rate = 0.5
        await world.block_engine.kill(); await world.block_engine.revive()

Faults per node (``rpc_server.Fault``): DEAD, SLOW(delay_ms), RATE_LIMIT(retry_after),
HTTP_ERROR(status), MALFORMED, BEHIND(slots), BLACKHOLE, DROP_CONNECTION(after_processing);
each takes ``methods={...}`` and ``probability=``. Chain-wide: ``LocalWorld.start(drop_rate=p)``
makes the leader drop forwarded copies (rebroadcasts then matter; Jito bundles are not dropped by
it, see ``block_engine``). Limits: a BEHIND node reports
an older slot/height/blockhash, hides recent signature statuses and refuses sends/health with
-32005, but account reads (balances, accounts) come from the current state.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from solders.keypair import Keypair
from solders.pubkey import Pubkey

from .block_engine import BlockEngineServer
from .chain import Chain, write_keypair_file
from .jupiter_server import WSOL_MINT, JupiterServer, Pool, QuoteError, sign_user_slot
from .pools import (
    RAYDIUM_AMM_V4,
    WSOL,
    WorldPool,
    add_lp_mint,
    amm_v4_bytes,
    ensure_wsol_mint,
    put,
    put_token_account,
    set_token_amount,
)
from .rpc_server import Fault, FaultSpec, RpcNode

LAMPORTS_PER_SOL = 1_000_000_000
INCINERATOR = Pubkey.from_string("1nc1nerator11111111111111111111111111111111")


@dataclass(frozen=True)
class TokenSpec:
    """A token to create, with its SOL pool.

    The supply is minted in full: ``pool_tokens`` go to the pool's vault (a token account owned
    by a program-derived address, as AMM vaults are on mainnet), ``holders`` to one extra wallet
    each, ``burned`` to the incinerator's token account (all visible to
    ``getTokenLargestAccounts``). ``pool_sol`` is the pool's SOL reserve in SOL.

    ``pool_state``: the pool as mainnet shows it to a reader, a Raydium AMM v4 ``AmmInfo`` account
    (``tests.world.pools``) over the local Jupiter's reserves: its coin vault is the pool's token
    vault, its pc vault a WSOL token account kept equal to the pool's SOL reserve every block, and
    its LP mint has ``lp_burned`` of the issued LP burned (and ``lp_locked`` held by Raydium's LP
    lock). ``None``: no pool state account (readers see an unknown pool).
    """

    name: str
    decimals: int = 6
    token_2022: bool = False
    transfer_fee_bps: int | None = None
    pool_sol: float = 100.0
    pool_tokens: int = 1_000_000_000 * 10**6
    holders: Sequence[int] = ()
    pool_fee_bps: int = 25
    keep_mint_authority: bool = False
    freeze_authority: bool = False
    tradable: bool = True
    burned: int = 0
    pool_state: str | None = "raydium_amm_v4"
    lp_burned: float = 1.0
    lp_locked: float = 0.0


class LocalWorld:
    def __init__(self, chain: Chain, nodes: list[RpcNode], jupiter: JupiterServer, workdir: Path,
                 block_engine: BlockEngineServer | None = None) -> None:
        self.chain = chain
        self.block_engine = block_engine
        self.nodes = nodes
        self.jupiter = jupiter
        self.workdir = workdir
        self.wallet = Keypair()
        self.wallet_keypair_path = workdir / "wallet.json"
        self.mints: dict[str, str] = {}
        self.pools: dict[str, Pool] = {}
        self.holders: dict[str, list[Keypair]] = {}  # per token: the TokenSpec.holders wallets
        self.pool_states: dict[str, WorldPool] = {}  # per token: its AMM v4 pool state (TokenSpec.pool_state)
        self._tmp: tempfile.TemporaryDirectory | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    @contextlib.asynccontextmanager
    async def start(
        cls,
        *,
        nodes: int = 3,
        tokens: Sequence[TokenSpec] = (TokenSpec("TEST"),),
        wallet_sol: float = 10.0,
        slot_ms: int = 80,
        finalize_depth: int = 32,
        drop_rate: float = 0.0,
        workdir: str | Path | None = None,
        seed: int = 0,
        block_engine: bool = False,
    ) -> AsyncIterator[LocalWorld]:
        """Start everything; stop it all on exit."""
        world = await cls.create(
            nodes=nodes,
            tokens=tokens,
            wallet_sol=wallet_sol,
            slot_ms=slot_ms,
            finalize_depth=finalize_depth,
            drop_rate=drop_rate,
            workdir=workdir,
            seed=seed,
            block_engine=block_engine,
        )
        try:
            yield world
        finally:
            await world.stop()

    @classmethod
    async def create(
        cls,
        *,
        nodes: int = 3,
        tokens: Sequence[TokenSpec] = (TokenSpec("TEST"),),
        wallet_sol: float = 10.0,
        slot_ms: int = 80,
        finalize_depth: int = 32,
        drop_rate: float = 0.0,
        workdir: str | Path | None = None,
        seed: int = 0,
        block_engine: bool = False,
    ) -> LocalWorld:
        """Like :meth:`start` but returns the running world; call ``await world.stop()``."""
        tmp = None
        if workdir is None:
            tmp = tempfile.TemporaryDirectory(prefix="solbot-world-")
            workdir = tmp.name
        chain = Chain(slot_ms=slot_ms, finalize_depth=finalize_depth, drop_rate=drop_rate, seed=seed)
        rpc_nodes = [RpcNode(chain, f"node{i}", seed=seed + i) for i in range(nodes)]
        jup = JupiterServer(chain)
        engine = BlockEngineServer(chain, seed=seed) if block_engine else None
        world = cls(chain, rpc_nodes, jup, Path(workdir), engine)
        world._tmp = tmp
        chain.airdrop(world.wallet.pubkey(), int(wallet_sol * LAMPORTS_PER_SOL))
        write_keypair_file(world.wallet, world.wallet_keypair_path)
        for spec in tokens:
            world.add_token(spec)
        for n in rpc_nodes:
            await n.start()
        await jup.start()
        if engine is not None:
            await engine.start()
        await chain.start()
        return world

    def add_token(self, spec: TokenSpec) -> str:
        chain = self.chain
        mint = chain.create_mint(
            decimals=spec.decimals,
            token_2022=spec.token_2022,
            transfer_fee_bps=spec.transfer_fee_bps,
            freeze_authority=chain.faucet.pubkey() if spec.freeze_authority else None,
        )
        chain.register_mint(mint)
        pool = self.jupiter.create_pool(
            mint,
            sol_reserve=int(spec.pool_sol * LAMPORTS_PER_SOL),
            token_reserve=spec.pool_tokens,
            fee_bps=spec.pool_fee_bps,
        )
        holders = []
        for amount in spec.holders:
            holder = Keypair()
            chain.mint_to(mint, holder.pubkey(), amount)
            chain.note_holder(mint, holder.pubkey())
            holders.append(holder)
        if spec.burned:
            chain.mint_to(mint, INCINERATOR, spec.burned)
            chain.note_holder(mint, INCINERATOR)
        chain.note_holder(mint, self.wallet.pubkey())
        self.holders[spec.name] = holders
        if not spec.keep_mint_authority:
            chain.revoke_mint_authority(mint)
        if not spec.tradable:
            self.jupiter.controls.not_tradable.add(str(mint))
        self.mints[spec.name] = str(mint)
        self.pools[spec.name] = pool
        if spec.pool_state == "raydium_amm_v4":
            self.pool_states[spec.name] = self._amm_v4_state(spec, pool)
        elif spec.pool_state is not None:
            raise ValueError(f"TokenSpec.pool_state {spec.pool_state!r}: only 'raydium_amm_v4' or None")
        return str(mint)

    def _amm_v4_state(self, spec: TokenSpec, pool: Pool) -> WorldPool:
        chain = self.chain
        ensure_wsol_mint(chain)
        sol_vault = put_token_account(chain, WSOL, pool.vault_authority, self.jupiter.reserves(pool)[0])
        lp_total = 10**12
        lp = add_lp_mint(chain, total=lp_total, burned=spec.lp_burned, locked=spec.lp_locked)
        address = put(chain, Keypair().pubkey(), RAYDIUM_AMM_V4, amm_v4_bytes(
            coin_mint=pool.mint, pc_mint=WSOL, coin_vault=pool.token_account, pc_vault=sol_vault, lp_mint=lp,
            lp_amount=lp_total, coin_decimals=spec.decimals))
        if not self.pool_states:
            chain.add_listener(lambda block: self._sync_pool_states())
        return WorldPool(address, lp, sol_vault)

    def _sync_pool_states(self) -> None:
        """Keep each AMM v4 state's WSOL vault at its pool's SOL reserve (the local Jupiter moves
        native lamports)."""
        for name, st in self.pool_states.items():
            set_token_amount(self.chain, st.sol_vault, self.jupiter.reserves(self.pools[name])[0])

    def pair_address(self, name: str) -> str:
        """The token's pool state address: what DexScreener reports as the pair's ``pairAddress``."""
        return str(self.pool_states[name].address)

    async def stop(self) -> None:
        await self.chain.stop()
        for n in self.nodes:
            await n.stop()
        await self.jupiter.stop()
        if self.block_engine is not None:
            await self.block_engine.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> LocalWorld:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ accessors
    @property
    def rpc_urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    @property
    def ws_urls(self) -> list[str]:
        return [n.ws_url for n in self.nodes]

    @property
    def jupiter_url(self) -> str:
        return self.jupiter.url

    @property
    def wallet_pubkey(self) -> str:
        return str(self.wallet.pubkey())

    def node(self, i: int) -> RpcNode:
        return self.nodes[i]

    def clear_all_faults(self) -> None:
        for n in self.nodes:
            n.clear_faults()

    def mint(self, name_or_mint: str) -> Pubkey:
        return Pubkey.from_string(self.mints.get(name_or_mint, name_or_mint))

    def sol_balance(self, owner: str | Pubkey | None = None) -> int:
        """Lamports of ``owner`` (default: the bot's wallet)."""
        pk = self.wallet.pubkey() if owner is None else Pubkey.from_string(str(owner))
        return self.chain.balance(pk)

    def token_balance(self, name_or_mint: str, owner: str | Pubkey | None = None) -> int:
        """Raw token units in ``owner``'s ATA (default: the bot's wallet)."""
        pk = self.wallet.pubkey() if owner is None else Pubkey.from_string(str(owner))
        return self.chain.token_balance(pk, self.mint(name_or_mint))

    def gift_tokens(self, name: str, amount: int, owner: str | Pubkey | None = None) -> int:
        """Send ``amount`` raw units of token ``name`` from one of its ``TokenSpec.holders`` to
        ``owner`` (default: the bot's wallet) with a real transfer: tokens the bot never bought.
        Returns what arrived (less any Token-2022 transfer fee)."""
        to = self.wallet.pubkey() if owner is None else Pubkey.from_string(str(owner))
        donor = next((h for h in self.holders.get(name, []) if self.token_balance(name, h.pubkey()) >= amount), None)
        if donor is None:
            raise ValueError(f"no holder of {name} has {amount} raw units to give; add one in TokenSpec.holders")
        before = self.token_balance(name, to)
        self.chain.transfer_tokens(self.mint(name), donor, to, amount)
        return self.token_balance(name, to) - before

    def pool_reserves(self, name_or_mint: str) -> tuple[int, int]:
        return self.jupiter.reserves(self.jupiter.pools[str(self.mint(name_or_mint))])

    def advance(self, blocks: int) -> None:
        """Produce ``blocks`` blocks at once (e.g. to push a blockhash past its lastValidBlockHeight)."""
        for _ in range(blocks):
            self.chain.produce_block()

    def new_funded_keypair(self, sol: float = 10.0) -> Keypair:
        kp = Keypair()
        self.chain.airdrop(kp.pubkey(), int(sol * LAMPORTS_PER_SOL))
        return kp


__all__ = [
    "INCINERATOR",
    "LAMPORTS_PER_SOL",
    "WSOL_MINT",
    "BlockEngineServer",
    "Chain",
    "Fault",
    "FaultSpec",
    "JupiterServer",
    "LocalWorld",
    "QuoteError",
    "RpcNode",
    "TokenSpec",
    "sign_user_slot",
    "write_keypair_file",
]
