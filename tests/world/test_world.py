"""The test world itself: real swaps land, statuses and balances are right, faults behave."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import stat
import time

import httpx
import pytest
import websockets
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from . import WSOL_MINT, Fault, LocalWorld, sign_user_slot

pytestmark = pytest.mark.integration


async def rpc(client: httpx.AsyncClient, url: str, method: str, *params) -> dict:
    r = await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    return r.json()


def b64(tx: VersionedTransaction) -> str:
    return base64.b64encode(bytes(tx)).decode()


async def quote_and_swap(c: httpx.AsyncClient, w: LocalWorld, *, buy: bool, token: str, amount: int,
                         slippage_bps: int = 50, keypair: Keypair | None = None, **swap_opts) -> tuple[dict, dict]:
    kp = keypair or w.wallet
    mint = w.mints[token]
    params = {
        "inputMint": WSOL_MINT if buy else mint,
        "outputMint": mint if buy else WSOL_MINT,
        "amount": str(amount),
        "slippageBps": str(slippage_bps),
        "restrictIntermediateTokens": "true",
    }
    q = (await c.get(f"{w.jupiter_url}/swap/v1/quote", params=params)).json()
    body = {"quoteResponse": q, "userPublicKey": str(kp.pubkey()), "wrapAndUnwrapSol": True,
            "dynamicComputeUnitLimit": True, "prioritizationFeeLamports": 5000, **swap_opts}
    s = (await c.post(f"{w.jupiter_url}/swap/v1/swap", json=body)).json()
    return q, s


async def wait_status(c: httpx.AsyncClient, url: str, sig: str, level: str = "confirmed", within: float = 5.0) -> dict:
    order = {"processed": 0, "confirmed": 1, "finalized": 2}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        st = (await rpc(c, url, "getSignatureStatuses", [sig]))["result"]["value"][0]
        if st is not None and order[st["confirmationStatus"]] >= order[level]:
            return st
        await asyncio.sleep(0.03)
    raise AssertionError(f"{sig} not {level} within {within}s")


def simple_transfer(w: LocalWorld, kp: Keypair, lamports: int = 1000, blockhash: str | None = None) -> VersionedTransaction:
    ix = transfer(TransferParams(from_pubkey=kp.pubkey(), to_pubkey=w.chain.faucet.pubkey(), lamports=lamports))
    msg = MessageV0.try_compile(kp.pubkey(), [ix], [], Hash.from_string(blockhash or w.chain.blockhash))
    return VersionedTransaction(msg, [kp])


# --------------------------------------------------------------------------- swaps


async def test_buy_lands_and_moves_real_balances(world: LocalWorld) -> None:
    w = world
    async with httpx.AsyncClient() as c:
        q, s = await quote_and_swap(c, w, buy=True, token="TEST", amount=200_000_000)
        assert s["simulationError"] is None and s["dynamicSlippageReport"] is None
        assert isinstance(s["lastValidBlockHeight"], int) and s["computeUnitLimit"] < 1_400_000
        raw = VersionedTransaction.from_bytes(base64.b64decode(s["swapTransaction"]))
        assert raw.message.account_keys[0] == w.wallet.pubkey()  # user is fee payer, first signer
        tx = sign_user_slot(s["swapTransaction"], w.wallet)
        sol0, pool0 = w.sol_balance(), w.pool_reserves("TEST")
        w.chain.paused = True  # hold the next slot boundary: sent is not landed
        sig = (await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx),
                         {"encoding": "base64", "skipPreflight": True, "maxRetries": 0}))["result"]
        assert sig == str(tx.signatures[0])
        assert (await rpc(c, w.rpc_urls[1], "getSignatureStatuses", [sig]))["result"]["value"] == [None]
        w.chain.paused = False
        st = await wait_status(c, w.rpc_urls[2], sig)
        assert st["err"] is None and st["status"] == {"Ok": None}
        got = await rpc(c, w.rpc_urls[1], "getTransaction", sig,
                        {"encoding": "jsonParsed", "commitment": "confirmed", "maxSupportedTransactionVersion": 0})
        meta = got["result"]["meta"]
        assert meta["err"] is None
        assert meta["fee"] == 2 * 5000 + s["prioritizationFeeLamports"]
        mine = [b for b in meta["postTokenBalances"] if b["owner"] == w.wallet_pubkey]
        assert mine[0]["uiTokenAmount"]["amount"] == q["outAmount"] and mine[0]["mint"] == w.mints["TEST"]
        assert not [b for b in meta["preTokenBalances"] if b["owner"] == w.wallet_pubkey]
        assert w.token_balance("TEST") == int(q["outAmount"])
        ata_rent = w.chain.rent_exempt(165)
        assert sol0 - w.sol_balance() == 200_000_000 + meta["fee"] + ata_rent
        assert meta["preBalances"][0] - meta["postBalances"][0] == 200_000_000 + meta["fee"] + ata_rent
        pool1 = w.pool_reserves("TEST")
        assert pool1 == (pool0[0] + 200_000_000, pool0[1] - int(q["outAmount"]))
        # getTransaction without maxSupportedTransactionVersion is refused for v0, as on mainnet
        err = (await rpc(c, w.rpc_urls[0], "getTransaction", sig, {"commitment": "confirmed"}))["error"]
        assert err["code"] == -32015

        # sell it all back
        q2, s2 = await quote_and_swap(c, w, buy=False, token="TEST", amount=w.token_balance("TEST"))
        tx2 = sign_user_slot(s2["swapTransaction"], w.wallet)
        sol1 = w.sol_balance()
        sig2 = (await rpc(c, w.rpc_urls[1], "sendTransaction", b64(tx2), {"encoding": "base64"}))["result"]
        await wait_status(c, w.rpc_urls[0], sig2)
        assert w.token_balance("TEST") == 0
        fee2 = w.chain.records[sig2].fee
        assert w.sol_balance() - sol1 == int(q2["outAmount"]) - fee2


async def test_token_2022_transfer_fee_buy(world: LocalWorld) -> None:
    w = world
    async with httpx.AsyncClient() as c:
        q, s = await quote_and_swap(c, w, buy=True, token="FEE", amount=50_000_000)
        tx = sign_user_slot(s["swapTransaction"], w.wallet)
        sig = (await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx), {"encoding": "base64"}))["result"]
        await wait_status(c, w.rpc_urls[0], sig)
        assert w.token_balance("FEE") == int(q["outAmount"])  # net of the 1 % transfer fee
        info = (await rpc(c, w.rpc_urls[0], "getAccountInfo", w.mints["FEE"], {"encoding": "jsonParsed"}))["result"]
        data = info["value"]["data"]
        assert data["program"] == "spl-token-2022"
        assert data["parsed"]["info"]["extensions"][0]["extension"] == "transferFeeConfig"
        accs = (await rpc(c, w.rpc_urls[0], "getTokenAccountsByOwner", w.wallet_pubkey,
                          {"programId": "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"}, {"encoding": "jsonParsed"}))
        amounts = [a["account"]["data"]["parsed"]["info"]["tokenAmount"]["amount"] for a in accs["result"]["value"]]
        assert amounts == [q["outAmount"]]


async def test_slippage_beyond_threshold_fails_on_chain(world: LocalWorld) -> None:
    w = world
    other = w.new_funded_keypair(50)
    async with httpx.AsyncClient() as c:
        _, mine = await quote_and_swap(c, w, buy=True, token="TEST", amount=100_000_000, slippage_bps=50)
        _, theirs = await quote_and_swap(c, w, buy=True, token="TEST", amount=5_000_000_000, keypair=other)
        # the other buyer lands first and moves the price by far more than 0.5 %
        t_sig = (await rpc(c, w.rpc_urls[0], "sendTransaction", b64(sign_user_slot(theirs["swapTransaction"], other)),
                           {"encoding": "base64"}))["result"]
        await wait_status(c, w.rpc_urls[0], t_sig, "processed")
        tx = sign_user_slot(mine["swapTransaction"], w.wallet)
        # preflight rejects it with the real -32002 shape
        pre = await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx), {"encoding": "base64"})
        assert pre["error"]["code"] == -32002
        assert pre["error"]["data"]["err"] == {"InstructionError": [3, {"Custom": 1}]}
        assert pre["error"]["message"].startswith("Transaction simulation failed: Error processing Instruction 3")
        # without preflight it lands as a failed transaction: fee charged, no tokens
        sol0 = w.sol_balance()
        sig = (await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx), {"encoding": "base64", "skipPreflight": True}))["result"]
        st = await wait_status(c, w.rpc_urls[0], sig)
        assert st["err"] == {"InstructionError": [3, {"Custom": 1}]}
        assert w.token_balance("TEST") == 0
        assert sol0 - w.sol_balance() == w.chain.records[sig].fee


async def test_duplicate_send_lands_once(world: LocalWorld) -> None:
    w = world
    async with httpx.AsyncClient() as c:
        q, s = await quote_and_swap(c, w, buy=True, token="TEST", amount=100_000_000)
        tx = sign_user_slot(s["swapTransaction"], w.wallet)
        cfg = {"encoding": "base64", "skipPreflight": True, "maxRetries": 0}
        sigs = await asyncio.gather(*[rpc(c, u, "sendTransaction", b64(tx), cfg) for u in w.rpc_urls * 2])
        assert {r["result"] for r in sigs} == {str(tx.signatures[0])}
        await wait_status(c, w.rpc_urls[0], str(tx.signatures[0]))
        await w.chain.wait_slots(2)
        again = await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx), cfg)
        assert again["result"] == str(tx.signatures[0])
        pf = await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx), {"encoding": "base64"})
        assert pf["error"]["data"]["err"] == "AlreadyProcessed"
        await w.chain.wait_slots(2)
        assert w.token_balance("TEST") == int(q["outAmount"])
        landed = [r for r in w.chain.records.values() if r.tx.message.account_keys[0] == w.wallet.pubkey()]
        assert len(landed) == 1


async def test_expired_blockhash_is_rejected(world: LocalWorld) -> None:
    w = world
    kp = w.new_funded_keypair(1)
    old = w.chain.blocks[-1]
    async with httpx.AsyncClient() as c:
        bh = (await rpc(c, w.rpc_urls[0], "getLatestBlockhash", {"commitment": "confirmed"}))["result"]
        assert bh["context"]["apiVersion"] and bh["value"]["lastValidBlockHeight"] > w.chain.height
        # jump the chain forward past the blockhash's validity
        w.advance(151)
        assert w.chain.height > w.chain.blockhash_lvbh[old.blockhash]
        tx = simple_transfer(w, kp, blockhash=old.blockhash)
        r = await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx), {"encoding": "base64"})
        assert r["error"]["code"] == -32002 and r["error"]["data"]["err"] == "BlockhashNotFound"
        assert r["error"]["message"] == "Transaction simulation failed: Blockhash not found"
        r = await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx), {"encoding": "base64", "skipPreflight": True})
        sig = r["result"]
        await w.chain.wait_slots(3)
        assert (await rpc(c, w.rpc_urls[0], "getSignatureStatuses", [sig]))["result"]["value"] == [None]
        assert w.chain.dropped[sig] == "BlockhashNotFound"
        valid = await rpc(c, w.rpc_urls[0], "isBlockhashValid", old.blockhash, {"commitment": "processed"})
        assert valid["result"]["value"] is False


async def test_wallet_file_and_reads(world: LocalWorld) -> None:
    w = world
    mode = stat.S_IMODE(os.stat(w.wallet_keypair_path).st_mode)
    assert mode == 0o600
    secret = json.loads(w.wallet_keypair_path.read_text())
    assert len(secret) == 64 and str(Keypair.from_bytes(bytes(secret)).pubkey()) == w.wallet_pubkey
    async with httpx.AsyncClient() as c:
        u = w.rpc_urls[0]
        assert (await rpc(c, u, "getHealth"))["result"] == "ok"
        before = w.chain.slot
        slot = (await rpc(c, u, "getSlot", {"commitment": "processed"}))["result"]
        assert before <= slot <= w.chain.slot  # the chain produces slots while the request is served
        assert (await rpc(c, u, "getBalance", w.wallet_pubkey))["result"]["value"] == 10 * 10**9
        largest = (await rpc(c, u, "getTokenLargestAccounts", w.mints["TEST"]))["result"]["value"]
        assert [int(a["amount"]) for a in largest][:1] == [w.pool_reserves("TEST")[1]]
        assert len(largest) == 3
        multi = (await rpc(c, u, "getMultipleAccounts", [w.mints["TEST"], str(Keypair().pubkey())],
                           {"encoding": "base64"}))["result"]["value"]
        assert multi[0]["data"][1] == "base64" and multi[1] is None
        assert (await rpc(c, u, "getMinimumBalanceForRentExemption", 165))["result"] == 2039280
        fees = (await rpc(c, u, "getRecentPrioritizationFees", [w.mints["TEST"]]))["result"]
        assert fees and set(fees[0]) == {"slot", "prioritizationFee"}
        bad = await rpc(c, u, "getBalance", "not-a-key")
        assert bad["error"]["code"] == -32602
        assert (await rpc(c, u, "noSuchMethod"))["error"]["code"] == -32601


async def test_signature_subscribe_notifies(world: LocalWorld) -> None:
    w = world
    kp = w.new_funded_keypair(1)
    tx = simple_transfer(w, kp)
    sig = str(tx.signatures[0])
    async with websockets.connect(w.ws_urls[1]) as ws, httpx.AsyncClient() as c:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 7, "method": "signatureSubscribe",
                                  "params": [sig, {"commitment": "confirmed"}]}))
        sub = json.loads(await ws.recv())
        assert sub["id"] == 7 and isinstance(sub["result"], int)
        await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx), {"encoding": "base64"})
        note = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert note["method"] == "signatureNotification"
        assert note["params"]["subscription"] == sub["result"]
        assert note["params"]["result"]["value"] == {"err": None}
        assert w.chain.signature_status(sig)["confirmationStatus"] in ("confirmed", "finalized")


# --------------------------------------------------------------------------- faults


async def test_fault_dead_refuses_and_revives(world: LocalWorld) -> None:
    w = world
    n = w.node(0)
    async with httpx.AsyncClient() as c:
        await n.kill()
        with pytest.raises(httpx.ConnectError):
            await rpc(c, n.url, "getHealth")
        assert (await rpc(c, w.rpc_urls[1], "getHealth"))["result"] == "ok"
        await n.revive()
        assert (await rpc(c, n.url, "getHealth"))["result"] == "ok"
        # set_fault(DEAD) also cuts a request already in flight
        n.set_fault(Fault.SLOW, delay_ms=300)
        pending = asyncio.create_task(rpc(c, n.url, "getSlot"))
        await asyncio.sleep(0.1)
        n.set_fault(Fault.DEAD)
        with pytest.raises(httpx.TransportError):
            await pending
        n.clear_faults()
        await asyncio.sleep(0.05)
        assert (await rpc(c, n.url, "getHealth"))["result"] == "ok"


async def test_fault_slow(world: LocalWorld) -> None:
    w = world
    w.node(1).set_fault(Fault.SLOW, delay_ms=300, methods={"getSlot"})
    async with httpx.AsyncClient() as c:
        t0 = time.monotonic()
        await rpc(c, w.rpc_urls[1], "getSlot")
        assert time.monotonic() - t0 >= 0.3
        t0 = time.monotonic()
        await rpc(c, w.rpc_urls[1], "getHealth")
        assert time.monotonic() - t0 < 0.25
        with pytest.raises(httpx.ReadTimeout):
            await c.post(w.rpc_urls[1], json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"}, timeout=0.1)


async def test_fault_rate_limit_http_error_malformed(world: LocalWorld) -> None:
    w = world
    n = w.node(2)
    async with httpx.AsyncClient() as c:
        n.set_fault(Fault.RATE_LIMIT, retry_after=3)
        r = await c.post(n.url, json={"jsonrpc": "2.0", "id": 5, "method": "getSlot"})
        assert r.status_code == 429 and r.headers["Retry-After"] == "3"
        assert r.json()["error"]["code"] == 429 and r.json()["id"] == 5
        n.clear_faults()
        n.set_fault(Fault.HTTP_ERROR, status=502)
        r = await c.post(n.url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})
        assert r.status_code == 502
        n.clear_faults()
        n.set_fault(Fault.MALFORMED)
        r = await c.post(n.url, json={"jsonrpc": "2.0", "id": 1, "method": "getSlot"})
        assert r.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            r.json()
        n.clear_faults()
        assert (await rpc(c, n.url, "getSlot"))["result"] > 0


async def test_fault_behind(world: LocalWorld) -> None:
    w = world
    n = w.node(1)
    kp = w.new_funded_keypair(1)
    async with httpx.AsyncClient() as c:
        tx = simple_transfer(w, kp)
        sig = (await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx), {"encoding": "base64"}))["result"]
        await wait_status(c, w.rpc_urls[0], sig, "processed")
        n.set_fault(Fault.BEHIND, slots=40)
        w.chain.paused = True
        best = (await rpc(c, w.rpc_urls[0], "getSlot", {"commitment": "processed"}))["result"]
        lag = (await rpc(c, n.url, "getSlot", {"commitment": "processed"}))["result"]
        assert best - lag == 40
        w.chain.paused = False
        assert (await rpc(c, n.url, "getSignatureStatuses", [sig]))["result"]["value"] == [None]
        h = await rpc(c, n.url, "getHealth")
        assert h["error"] == {"code": -32005, "message": "Node is behind by 40 slots", "data": {"numSlotsBehind": 40}}
        s = await rpc(c, n.url, "sendTransaction", b64(simple_transfer(w, kp, 7)), {"encoding": "base64"})
        assert s["error"]["code"] == -32005
        bh = (await rpc(c, n.url, "getLatestBlockhash", {"commitment": "processed"}))["result"]
        assert bh["context"]["slot"] == lag or bh["context"]["slot"] <= best - 39
        n.clear_faults()
        assert (await rpc(c, n.url, "getHealth"))["result"] == "ok"


async def test_fault_blackhole_never_lands(world: LocalWorld) -> None:
    w = world
    n = w.node(0)
    n.set_fault(Fault.BLACKHOLE)
    kp = w.new_funded_keypair(1)
    async with httpx.AsyncClient() as c:
        tx = simple_transfer(w, kp)
        sig = (await rpc(c, n.url, "sendTransaction", b64(tx), {"encoding": "base64"}))["result"]
        assert sig == str(tx.signatures[0])
        await w.chain.wait_slots(4)
        assert (await rpc(c, n.url, "getSignatureStatuses", [sig]))["result"]["value"] == [None]
        # a rebroadcast through a healthy node lands it
        await rpc(c, w.rpc_urls[1], "sendTransaction", b64(tx), {"encoding": "base64", "skipPreflight": True})
        await wait_status(c, w.rpc_urls[2], sig)


async def test_fault_drop_connection_mid_request(world: LocalWorld) -> None:
    w = world
    n = w.node(2)
    kp = w.new_funded_keypair(1)
    n.set_fault(Fault.DROP_CONNECTION, methods={"sendTransaction"})
    async with httpx.AsyncClient() as c:
        tx = simple_transfer(w, kp)
        with pytest.raises(httpx.TransportError):
            await rpc(c, n.url, "sendTransaction", b64(tx), {"encoding": "base64"})
        # the node had forwarded it before the connection dropped: it lands anyway
        await wait_status(c, w.rpc_urls[0], str(tx.signatures[0]))
        assert (await rpc(c, n.url, "getSlot"))["result"] > 0
        n.set_fault(Fault.DROP_CONNECTION, after_processing=False)
        tx2 = simple_transfer(w, kp, 2)
        with pytest.raises(httpx.TransportError):
            await rpc(c, n.url, "sendTransaction", b64(tx2), {"encoding": "base64"})
        await w.chain.wait_slots(3)
        assert w.chain.signature_status(str(tx2.signatures[0])) is None


async def test_jupiter_errors(world: LocalWorld) -> None:
    w = world
    j = w.jupiter_url + "/swap/v1/quote"
    async with httpx.AsyncClient() as c:
        r = await c.get(j, params={"inputMint": w.mints["TEST"], "outputMint": w.mints["FEE"], "amount": "1000",
                                   "onlyDirectRoutes": "true"})
        assert r.status_code == 400 and r.json() == {"error": "No routes found", "errorCode": "NO_ROUTES_FOUND"}
        r = await c.get(j, params={"inputMint": w.mints["TEST"], "outputMint": w.mints["FEE"], "amount": "1000"})
        assert r.json()["errorCode"] == "COULD_NOT_FIND_ANY_ROUTE"
        unknown = str(Keypair().pubkey())
        r = await c.get(j, params={"inputMint": WSOL_MINT, "outputMint": unknown, "amount": "1000"})
        assert r.json() == {"error": f"The token {unknown} is not tradable", "errorCode": "TOKEN_NOT_TRADABLE"}
        w.jupiter.controls.rate_limited = True
        r = await c.get(j, params={"inputMint": WSOL_MINT, "outputMint": w.mints["TEST"], "amount": "1000"})
        assert r.status_code == 429 and int(r.headers["x-ratelimit-reset"]) > time.time()
        w.jupiter.controls.rate_limited = False
        _, s = await quote_and_swap(c, w, buy=True, token="TEST", amount=1000,
                                    computeUnitPriceMicroLamports=10)
        assert s["errorCode"] == "INVALID_COMPUTE_UNIT_PRICE_AND_PRIORITIZATION_FEE"


async def test_solana_py_clients_parse_every_answer(world: LocalWorld) -> None:
    """solana-py's AsyncClient and websocket client (solders typed parsers) accept our shapes."""
    from solana.rpc.async_api import AsyncClient
    from solana.rpc.commitment import Confirmed
    from solana.rpc.types import TokenAccountOpts, TxOpts
    from solana.rpc.websocket_api import connect

    w = world
    mint = w.mint("TEST")
    client = AsyncClient(w.rpc_urls[0], commitment=Confirmed)
    try:
        assert await client.is_connected()
        assert (await client.get_latest_blockhash()).value.last_valid_block_height > w.chain.height
        assert (await client.get_account_info_json_parsed(w.mint("FEE"))).value.data.program == "spl-token-2022"
        assert len((await client.get_multiple_accounts([mint, w.wallet.pubkey()])).value) == 2
        assert (await client.get_token_largest_accounts(mint)).value
        async with httpx.AsyncClient() as c:
            _, s = await quote_and_swap(c, w, buy=True, token="TEST", amount=10**8)
        tx = sign_user_slot(s["swapTransaction"], w.wallet)
        assert (await client.simulate_transaction(tx)).value.err is None
        async with connect(w.ws_urls[0]) as ws:
            await ws.signature_subscribe(tx.signatures[0], commitment=Confirmed)
            await ws.recv()
            await client.send_raw_transaction(bytes(tx), opts=TxOpts(skip_preflight=True, max_retries=0))
            note = (await asyncio.wait_for(ws.recv(), 5))[0]
            assert note.result.value.err is None
        got = await client.get_transaction(tx.signatures[0], encoding="jsonParsed", commitment=Confirmed,
                                           max_supported_transaction_version=0)
        meta = got.value.transaction.meta
        assert meta.fee == w.chain.records[str(tx.signatures[0])].fee
        assert any(b.ui_token_amount.amount == str(w.token_balance("TEST")) for b in meta.post_token_balances)
        accs = await client.get_token_accounts_by_owner_json_parsed(w.wallet.pubkey(), TokenAccountOpts(mint=mint))
        assert accs.value[0].account.data.parsed["info"]["tokenAmount"]["amount"] == str(w.token_balance("TEST"))
    finally:
        await client.close()


async def test_leader_drops_and_node_retries() -> None:
    """With drop_rate, a maxRetries=0 send may never land; a node's own retry queue re-forwards."""
    async with LocalWorld.start(nodes=1, slot_ms=30, drop_rate=0.7, seed=3) as w:
        w.node(0).retry_interval_slots = 2
        kp = w.new_funded_keypair(1)
        async with httpx.AsyncClient() as c:
            txs = [simple_transfer(w, kp, 1000 + i) for i in range(6)]
            for tx in txs:
                await rpc(c, w.rpc_urls[0], "sendTransaction", b64(tx), {"encoding": "base64"})
            for tx in txs:
                await wait_status(c, w.rpc_urls[0], str(tx.signatures[0]), "processed", within=10)
            assert w.node(0).stats.forwarded == 6


async def test_kill_closes_websockets_and_jupiter_5xx(world: LocalWorld) -> None:
    w = world
    async with websockets.connect(w.ws_urls[0]) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "slotSubscribe"}))
        assert isinstance(json.loads(await ws.recv())["result"], int)
        note = json.loads(await asyncio.wait_for(ws.recv(), 2))
        assert note["method"] == "slotNotification" and set(note["params"]["result"]) == {"parent", "root", "slot"}
        await w.node(0).kill()
        with pytest.raises(websockets.ConnectionClosed):
            while True:
                await asyncio.wait_for(ws.recv(), 2)
    with pytest.raises(OSError):
        await websockets.connect(w.ws_urls[0])
    w.jupiter.controls.http_error = 500
    async with httpx.AsyncClient() as c:
        r = await c.get(w.jupiter_url + "/swap/v1/quote",
                        params={"inputMint": WSOL_MINT, "outputMint": w.mints["TEST"], "amount": "1000"})
        assert r.status_code == 500 and r.json() == {"error": "Something unexpected occurred"}
