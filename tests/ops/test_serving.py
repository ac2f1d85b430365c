"""close_server, the stop sequence the health server and the control socket share: a connection a
client holds open is cancelled and awaited, not left running after stop."""

from __future__ import annotations

import asyncio

from bot.ops.serving import close_server


async def test_open_connections_are_cancelled_and_awaited_before_it_returns():
    conns: set[asyncio.Task[None]] = set()
    served = asyncio.Event()
    cleaned_up: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        conns.add(task)
        served.set()
        try:
            await reader.read()  # the client never sends or hangs up
        finally:
            cleaned_up.append("handler")
            writer.close()
            conns.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    _, client = await asyncio.open_connection("127.0.0.1", port)
    try:
        await asyncio.wait_for(served.wait(), 5)
        [task] = conns
        await asyncio.wait_for(close_server(server, conns), 5)
        assert task.cancelled() and cleaned_up == ["handler"] and not conns
        assert not server.is_serving()
    finally:
        client.close()


async def test_a_server_with_no_connections_just_closes():
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    await asyncio.wait_for(close_server(server, set()), 5)
    assert not server.is_serving()
