"""Run the local world standalone for an operator rehearsal or a benchmark.

    .venv/bin/python -m tests.world --nodes 3 --port-file /tmp/world.json

Prints (and writes to --port-file, as JSON) the RPC/websocket URLs, the Jupiter URL, the local
Jito block engine's URL (its tip floor is ``<url>/api/v1/bundles/tip_floor``), the wallet keypair
path and the mints, then runs until interrupted (Ctrl-C / SIGTERM).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
from pathlib import Path

from . import LocalWorld, TokenSpec


def _write(path: str, text: str) -> None:
    Path(path).write_text(text)


async def _main(args: argparse.Namespace) -> None:
    tokens = [TokenSpec(name, decimals=6) for name in args.tokens]
    if args.fee_token:
        tokens.append(TokenSpec("FEE", decimals=9, token_2022=True, transfer_fee_bps=100, pool_tokens=10**18))
    workdir = Path(args.workdir) if args.workdir else None
    if workdir:
        workdir.mkdir(parents=True, exist_ok=True)
    async with LocalWorld.start(
        nodes=args.nodes, tokens=tokens, wallet_sol=args.wallet_sol, slot_ms=args.slot_ms, workdir=workdir,
        block_engine=True,
    ) as world:
        info = {
            "rpc_urls": world.rpc_urls,
            "ws_urls": world.ws_urls,
            "jupiter_url": world.jupiter_url,
            "block_engine_url": world.block_engine.url if world.block_engine else None,
            "wallet_keypair_path": str(world.wallet_keypair_path),
            "wallet_pubkey": world.wallet_pubkey,
            "mints": world.mints,
        }
        text = json.dumps(info, indent=2)
        print(text, flush=True)
        if args.port_file:
            _write(args.port_file, text)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m tests.world", description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--tokens", nargs="*", default=["TEST"], help="names of SPL tokens to create (6 decimals)")
    p.add_argument("--fee-token", action="store_true", help="also create FEE, a Token-2022 mint with a 1%% fee")
    p.add_argument("--wallet-sol", type=float, default=10.0)
    p.add_argument("--slot-ms", type=int, default=400)
    p.add_argument("--workdir", help="where wallet.json goes (default: a temporary directory)")
    p.add_argument("--port-file", help="write the URLs as JSON here")
    asyncio.run(_main(p.parse_args()))


if __name__ == "__main__":
    main()
