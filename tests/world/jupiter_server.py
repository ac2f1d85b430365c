"""A local Jupiter Metis v1 server (``GET /swap/v1/quote``, ``POST /swap/v1/swap``).

Each tradable token has one constant-product pool against native SOL: a pool keypair (a system
account holding the SOL reserve) and its associated token account (the token reserve). Quotes
read those real on-chain reserves. ``/swap`` returns an unsigned-by-the-user v0 transaction that
really moves lamports and tokens on the shared chain; the pool keypair co-signs its side and
the user (fee payer, first signer) fills only its own signature slot.

Transaction layout (instruction indexes matter for ``InstructionError``):

buy (SOL -> token):  0 SetComputeUnitLimit, 1 SetComputeUnitPrice, 2 ATA CreateIdempotent (user),
                     3 min-out guard, 4 System transfer user -> pool (inAmount),
                     5 TransferChecked pool ATA -> user ATA (outAmount)
sell (token -> SOL): 0 SetComputeUnitLimit, 1 SetComputeUnitPrice, 2 min-out guard,
                     3 TransferChecked user ATA -> pool ATA (inAmount),
                     4 System transfer pool -> user (outAmount)

``prioritizationFeeLamports: {"jitoTipLamports": N}`` appends a System transfer of N lamports from
the user to a Jito tip account as the last instruction and sets a compute-unit price of 0, as
Metis does ("a tip instruction will be included to Jito and no priority fee will be set").

Min-out check: without a custom on-chain program there is no swap program to check slippage, so
the fill is fixed at the quote's ``outAmount`` and a *guard* instruction asserts on chain that the
pool has not moved beyond the slippage tolerance: a pool self-transfer of ``R_min`` (token
TransferChecked for a buy, System transfer for a sell), which fails with
``InstructionError [guard_index, {"Custom": 1}]`` (insufficient funds) when the pool's output-side
reserve at landing is below the reserve at which the constant-product output would still reach
``otherAmountThreshold``. So a swap whose pool moved too far (e.g. another buyer landed first)
fails on chain, with the fee charged, as a real slippage failure does; the error code is the
token/system program's 1, not Jupiter's 6001.

``wrapAndUnwrapSol`` is accepted and ignored: SOL moves as native lamports (no wSOL account).
``priceImpactPct`` is the constant-product impact as a fraction string (``"0.0123"``).
"""

from __future__ import annotations

import asyncio
import base64
import math
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams as SysTransferParams
from solders.system_program import transfer as sys_transfer
from solders.transaction import VersionedTransaction
from spl.token.instructions import (
    TransferCheckedParams,
    create_idempotent_associated_token_account,
    get_associated_token_address,
    transfer_checked,
)

from .chain import Chain, parse_mint, parse_token_account, transfer_fee

WSOL_MINT = "So11111111111111111111111111111111111111112"
MAX_CU = 1_400_000
JITO_TIP_ACCOUNT = Pubkey.from_string("96gYZGLnJYVFmbjzopPSU6QiEV5fGqZNyN9nmNhvrZU5")


#: Stands in for an AMM program: pool vaults are owned by addresses derived from it (nothing is
#: deployed there; the pool keypair moves the vault's tokens as its delegate).
LOCAL_AMM_PROGRAM = Pubkey.from_bytes(bytes([0x4C] * 32))


def vault_authority(mint: Pubkey, pool: Pubkey) -> Pubkey:
    """The program-derived owner of a pool's token vault, off the ed25519 curve as on mainnet."""
    return Pubkey.find_program_address([b"vault", bytes(mint), bytes(pool)], LOCAL_AMM_PROGRAM)[0]


@dataclass
class Pool:
    mint: Pubkey
    keypair: Keypair
    token_program: Pubkey
    decimals: int
    fee_bps: int = 25

    @property
    def address(self) -> Pubkey:
        return self.keypair.pubkey()

    @property
    def vault_authority(self) -> Pubkey:
        return vault_authority(self.mint, self.address)

    @property
    def token_account(self) -> Pubkey:
        """The pool's token vault: owned by a program-derived address, the pool keypair is its delegate."""
        return get_associated_token_address(self.vault_authority, self.mint, self.token_program)


@dataclass
class JupiterControls:
    """Runtime switches for tests."""

    #: mints answered with 400 TOKEN_NOT_TRADABLE
    not_tradable: set[str] = field(default_factory=set)
    #: honeypots: buys quote normally, selling the mint answers 400 TOKEN_NOT_TRADABLE
    unsellable: set[str] = field(default_factory=set)
    #: 429 with x-ratelimit-reset = now + rate_limit_reset_s
    rate_limited: bool = False
    rate_limit_reset_s: int = 2
    #: HTTP status to answer every request with (e.g. 500, 503), None = off
    http_error: int | None = None
    delay_ms: int = 0
    #: when set, requests must carry this x-api-key (401 otherwise)
    api_key: str | None = None
    #: a misbehaving router: tip this many lamports instead of the ``jitoTipLamports`` asked
    tip_override_lamports: int | None = None
    #: a misbehaving router: send the Jito tip to this account instead of a tip account
    tip_account_override: str | None = None


def _isqrt_ceil(n: int) -> int:
    r = math.isqrt(n)
    return r if r * r == n else r + 1


def min_reserve_for(threshold: int, amount_in_net: int, k: int) -> int:
    """Smallest output-side reserve R with R^2*a/(k + a*R) >= threshold (constant product)."""
    if threshold <= 0 or amount_in_net <= 0:
        return 0
    t, a = threshold, amount_in_net
    return (t * a + _isqrt_ceil(t * t * a * a + 4 * a * t * k)) // (2 * a) + 1


class JupiterServer:
    def __init__(self, chain: Chain, *, host: str = "127.0.0.1") -> None:
        self.chain = chain
        self.host = host
        self.port = 0
        self.pools: dict[str, Pool] = {}
        self.controls = JupiterControls()
        self.requests: dict[str, int] = {"quote": 0, "swap": 0}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_get("/swap/v1/quote", self._quote)
        app.router.add_post("/swap/v1/swap", self._swap)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # ------------------------------------------------------------------ pools
    def create_pool(self, mint: Pubkey, *, sol_reserve: int, token_reserve: int, fee_bps: int = 25) -> Pool:
        """Fund a pool for ``mint`` (the chain's faucet must be the mint authority)."""
        kp = Keypair()
        m = parse_mint(self.chain.svm.get_account(mint))
        assert m is not None, "not a mint"
        pool = Pool(mint=mint, keypair=kp, token_program=m.program, decimals=m.decimals, fee_bps=fee_bps)
        self.chain.airdrop(kp.pubkey(), sol_reserve + self._rent_floor())
        vault = self.chain.mint_to(mint, pool.vault_authority, token_reserve)
        self.chain.set_delegate(vault, kp.pubkey())
        self.chain.note_holder(mint, pool.vault_authority)
        self.pools[str(mint)] = pool
        return pool

    def _rent_floor(self) -> int:
        return self.chain.rent_exempt(0)

    def reserves(self, pool: Pool) -> tuple[int, int]:
        """(SOL reserve in lamports above the rent floor, token reserve in raw units)."""
        sol = self.chain.balance(pool.address) - self._rent_floor()
        ta = parse_token_account(self.chain.svm.get_account(pool.token_account))
        return max(sol, 0), ta.amount if ta else 0

    def _tfee(self, pool: Pool, amount: int) -> int:
        m = parse_mint(self.chain.svm.get_account(pool.mint))
        return transfer_fee(amount, m.transfer_fee_bps, m.transfer_fee_max) if m else 0

    # ------------------------------------------------------------------ HTTP plumbing
    @staticmethod
    def _err(status: int, msg: str, code: str | None = None, headers: dict | None = None) -> web.Response:
        body: dict[str, Any] = {"error": msg}
        if code:
            body["errorCode"] = code
        return web.json_response(body, status=status, headers=headers)

    async def _gate(self, request: web.Request) -> web.Response | None:
        c = self.controls
        if c.delay_ms:
            await asyncio.sleep(c.delay_ms / 1000)
        if c.api_key is not None and request.headers.get("x-api-key") != c.api_key:
            return self._err(401, "Unauthorized")
        if c.rate_limited:
            reset = int(time.time()) + c.rate_limit_reset_s
            return self._err(
                429,
                "Rate limit exceeded",
                headers={"x-ratelimit-reset": str(reset), "x-ratelimit-remaining": "0", "x-ratelimit-current": "31"},
            )
        if c.http_error is not None:
            return web.Response(status=c.http_error, text='{"error":"Something unexpected occurred"}', content_type="application/json")
        return None

    # ------------------------------------------------------------------ quote
    def quote(self, input_mint: str, output_mint: str, amount: int, slippage_bps: int = 50, only_direct: bool = False) -> dict:
        """The quote as a dict, or raise ``QuoteError``."""
        t0 = time.perf_counter()
        for m in (input_mint, output_mint):
            if m in self.controls.not_tradable or (m != WSOL_MINT and m not in self.pools):
                raise QuoteError(f"The token {m} is not tradable", "TOKEN_NOT_TRADABLE")
        if input_mint in self.controls.unsellable:
            raise QuoteError(f"The token {input_mint} is not tradable", "TOKEN_NOT_TRADABLE")
        if input_mint == output_mint:
            raise QuoteError("Circular arbitrage is disabled", "CIRCULAR_ARBITRAGE_IS_DISABLED")
        if WSOL_MINT not in (input_mint, output_mint):
            if only_direct:
                raise QuoteError("No routes found", "NO_ROUTES_FOUND")
            raise QuoteError("Could not find any route", "COULD_NOT_FIND_ANY_ROUTE")
        buy = input_mint == WSOL_MINT
        pool = self.pools[output_mint if buy else input_mint]
        r_sol, r_tok = self.reserves(pool)
        if r_sol <= 0 or r_tok <= 0:
            raise QuoteError("No routes found", "NO_ROUTES_FOUND")
        if buy:
            lp_fee = amount * pool.fee_bps // 10_000
            a = amount - lp_fee
            gross = r_tok * a // (r_sol + a)
            out = gross - self._tfee(pool, gross)
            impact = a / (r_sol + a)
        else:
            received = amount - self._tfee(pool, amount)
            lp_fee = received * pool.fee_bps // 10_000
            a = received - lp_fee
            out = r_sol * a // (r_tok + a)
            impact = a / (r_tok + a)
        if out <= 0:
            raise QuoteError("Could not find any route", "COULD_NOT_FIND_ANY_ROUTE")
        threshold = out * (10_000 - slippage_bps) // 10_000
        return {
            "inputMint": input_mint,
            "inAmount": str(amount),
            "outputMint": output_mint,
            "outAmount": str(out),
            "otherAmountThreshold": str(threshold),
            "swapMode": "ExactIn",
            "slippageBps": slippage_bps,
            "platformFee": None,
            "priceImpactPct": f"{impact:.10f}".rstrip("0").rstrip(".") or "0",
            "routePlan": [
                {
                    "swapInfo": {
                        "ammKey": str(pool.address),
                        "label": "Local CPMM",
                        "inputMint": input_mint,
                        "outputMint": output_mint,
                        "inAmount": str(amount),
                        "outAmount": str(out),
                        "feeAmount": str(lp_fee),
                        "feeMint": input_mint,
                    },
                    "percent": 100,
                    "bps": 10_000,
                }
            ],
            "contextSlot": self.chain.slot,
            "timeTaken": time.perf_counter() - t0,
            "mostReliableAmmsQuoteReport": {"info": {str(pool.address): str(out)}},
        }

    async def _quote(self, request: web.Request) -> web.Response:
        self.requests["quote"] += 1
        if (resp := await self._gate(request)) is not None:
            return resp
        q = request.query
        try:
            input_mint, output_mint = q["inputMint"], q["outputMint"]
            amount = int(q["amount"])
            slippage = int(q.get("slippageBps", "50"))
            if amount <= 0 or not 0 <= slippage <= 10_000:
                raise ValueError("amount and slippageBps out of range")
            Pubkey.from_string(input_mint)
            Pubkey.from_string(output_mint)
        except (KeyError, ValueError) as e:
            return self._err(400, f"Query parameter error: {e}", "INVALID_REQUEST")
        if q.get("swapMode", "ExactIn") != "ExactIn":
            return self._err(400, "ExactOut is not supported for this route", "NOT_SUPPORTED")
        try:
            body = self.quote(input_mint, output_mint, amount, slippage, q.get("onlyDirectRoutes", "false") == "true")
        except QuoteError as e:
            return self._err(400, str(e), e.code)
        return web.json_response(body, headers={"x-ratelimit-remaining": "29", "x-ratelimit-current": "1"})

    # ------------------------------------------------------------------ swap
    def build_swap(self, body: dict) -> dict:
        quote = body.get("quoteResponse")
        user_s = body.get("userPublicKey")
        if not isinstance(quote, dict) or not isinstance(user_s, str):
            raise QuoteError("quoteResponse and userPublicKey are required", "INVALID_REQUEST")
        if body.get("computeUnitPriceMicroLamports") is not None and body.get("prioritizationFeeLamports") is not None:
            raise QuoteError(
                "Cannot use computeUnitPriceMicroLamports together with prioritizationFeeLamports",
                "INVALID_COMPUTE_UNIT_PRICE_AND_PRIORITIZATION_FEE",
            )
        try:
            user = Pubkey.from_string(user_s)
            input_mint, output_mint = quote["inputMint"], quote["outputMint"]
            in_amount, out_amount = int(quote["inAmount"]), int(quote["outAmount"])
            threshold = int(quote["otherAmountThreshold"])
        except (KeyError, ValueError, TypeError) as e:
            raise QuoteError(f"Invalid quoteResponse: {e}", "INVALID_REQUEST") from e
        buy = input_mint == WSOL_MINT
        pool = self.pools.get(output_mint if buy else input_mint)
        if pool is None or WSOL_MINT not in (input_mint, output_mint):
            raise QuoteError("Could not find any route", "COULD_NOT_FIND_ANY_ROUTE")
        r_sol, r_tok = self.reserves(pool)
        k = r_sol * r_tok
        user_ata = get_associated_token_address(user, pool.mint, pool.token_program)
        extra = []
        if buy:
            a = in_amount - in_amount * pool.fee_bps // 10_000
            gross_out = out_amount
            m = parse_mint(self.chain.svm.get_account(pool.mint))
            if m and m.transfer_fee_bps:
                # smallest gross whose net (after the transfer fee) reaches outAmount
                bps, mx = m.transfer_fee_bps, m.transfer_fee_max
                gross_out = min(-(-out_amount * 10_000 // (10_000 - bps)), out_amount + (mx or 0))
                while gross_out - self._tfee(pool, gross_out) < out_amount:
                    gross_out += 1
                while gross_out > out_amount and gross_out - 1 - self._tfee(pool, gross_out - 1) >= out_amount:
                    gross_out -= 1
            r_min = min_reserve_for(threshold, a, k)
            swap_ixs = [
                create_idempotent_associated_token_account(user, user, pool.mint, pool.token_program),
                transfer_checked(
                    TransferCheckedParams(
                        program_id=pool.token_program,
                        source=pool.token_account,
                        mint=pool.mint,
                        dest=pool.token_account,
                        owner=pool.address,
                        amount=max(r_min, 0),
                        decimals=pool.decimals,
                    )
                ),
                sys_transfer(SysTransferParams(from_pubkey=user, to_pubkey=pool.address, lamports=in_amount)),
                transfer_checked(
                    TransferCheckedParams(
                        program_id=pool.token_program,
                        source=pool.token_account,
                        mint=pool.mint,
                        dest=user_ata,
                        owner=pool.address,
                        amount=gross_out,
                        decimals=pool.decimals,
                    )
                ),
            ]
        else:
            received = in_amount - self._tfee(pool, in_amount)
            a = received - received * pool.fee_bps // 10_000
            s_min = min_reserve_for(threshold, a, k)
            swap_ixs = [
                sys_transfer(
                    SysTransferParams(
                        from_pubkey=pool.address, to_pubkey=pool.address, lamports=s_min + self._rent_floor()
                    )
                ),
                transfer_checked(
                    TransferCheckedParams(
                        program_id=pool.token_program,
                        source=user_ata,
                        mint=pool.mint,
                        dest=pool.token_account,
                        owner=user,
                        amount=in_amount,
                        decimals=pool.decimals,
                    )
                ),
                sys_transfer(SysTransferParams(from_pubkey=pool.address, to_pubkey=user, lamports=out_amount)),
            ]
        tip = body.get("prioritizationFeeLamports")
        if isinstance(tip, dict) and "jitoTipLamports" in tip:
            c = self.controls
            to = Pubkey.from_string(c.tip_account_override) if c.tip_account_override else JITO_TIP_ACCOUNT
            lamports = c.tip_override_lamports if c.tip_override_lamports is not None else int(tip["jitoTipLamports"])
            extra.append(sys_transfer(SysTransferParams(from_pubkey=user, to_pubkey=to, lamports=lamports)))

        def assemble(cu_limit: int, cu_price: int) -> VersionedTransaction:
            ixs = [set_compute_unit_limit(cu_limit), set_compute_unit_price(cu_price), *swap_ixs, *extra]
            bh = self.chain.blockhash
            msg = MessageV0.try_compile(user, ixs, [], Hash.from_string(bh))
            n = msg.header.num_required_signatures
            signers = list(msg.account_keys[:n])
            sigs = [Signature.default()] * n
            sigs[signers.index(pool.address)] = pool.keypair.sign_message(to_bytes_versioned(msg))
            return VersionedTransaction.populate(msg, sigs)

        cu_limit = MAX_CU
        simulation_error = None
        if body.get("dynamicComputeUnitLimit"):
            sim = self.chain.simulate(assemble(MAX_CU, 0))
            if sim["err"] is not None:
                simulation_error = {"errorCode": "TRANSACTION_ERROR", "error": f"{sim['err']}"}
            else:
                cu_limit = min(MAX_CU, int(sim["unitsConsumed"] * 1.2) + 1_000)
        cu_price = self._cu_price(body, cu_limit)
        tx = assemble(cu_limit, cu_price)
        bh = str(tx.message.recent_blockhash)
        return {
            "swapTransaction": base64.b64encode(bytes(tx)).decode(),
            "lastValidBlockHeight": self.chain.blockhash_lvbh[bh],
            "prioritizationFeeLamports": math.ceil(cu_price * cu_limit / 1_000_000),
            "computeUnitLimit": cu_limit,
            "prioritizationType": {"computeBudget": {"microLamports": cu_price, "estimatedMicroLamports": cu_price}},
            "dynamicSlippageReport": None,
            "simulationError": simulation_error,
        }

    def _cu_price(self, body: dict, cu_limit: int) -> int:
        if body.get("computeUnitPriceMicroLamports") is not None:
            return int(body["computeUnitPriceMicroLamports"])
        p = body.get("prioritizationFeeLamports", "auto")
        if isinstance(p, int):
            lamports = p
        elif isinstance(p, dict) and "priorityLevelWithMaxLamports" in p:
            lamports = int(p["priorityLevelWithMaxLamports"].get("maxLamports", 0)) // 2
        elif isinstance(p, dict):
            lamports = 0  # Jito tip instead of a priority fee
        else:
            lamports = 10_000  # "auto"
        return lamports * 1_000_000 // cu_limit

    async def _swap(self, request: web.Request) -> web.Response:
        self.requests["swap"] += 1
        if (resp := await self._gate(request)) is not None:
            return resp
        try:
            body = await request.json()
        except ValueError:
            return self._err(400, "Invalid JSON body", "INVALID_REQUEST")
        try:
            return web.json_response(self.build_swap(body))
        except QuoteError as e:
            return self._err(400, str(e), e.code)


class QuoteError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def sign_user_slot(tx: VersionedTransaction | str, keypair: Keypair) -> VersionedTransaction:
    """Fill only ``keypair``'s signature slot of a partially signed transaction (what the bot does)."""
    if isinstance(tx, str):
        tx = VersionedTransaction.from_bytes(base64.b64decode(tx))
    msg = tx.message
    n = msg.header.num_required_signatures
    idx = list(msg.account_keys[:n]).index(keypair.pubkey())
    sigs = list(tx.signatures)
    sigs[idx] = keypair.sign_message(to_bytes_versioned(msg))
    return VersionedTransaction.populate(msg, sigs)
