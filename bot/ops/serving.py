"""What the bot's in-loop servers (``bot.ops.health``, ``bot.ops.control_socket``) share: stopping
an ``asyncio.Server`` together with the connections it is serving."""

from __future__ import annotations

import asyncio


async def close_server(server: asyncio.Server, connections: set[asyncio.Task[None]]) -> None:
    """Stop accepting, cancel every connection task still being served and wait for them, then for
    the server (which would otherwise wait for idle clients to hang up)."""
    server.close()
    for task in list(connections):
        task.cancel()
    if connections:
        await asyncio.gather(*connections, return_exceptions=True)
    await server.wait_closed()
