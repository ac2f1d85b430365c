"""The control socket: operator commands without Telegram (``solbot pause``, ``close``, ``breakers``...).

A Unix stream socket beside the ledger (``<ledger path>.sock``, in the service's state directory),
mode 0600, served inside the bot's event loop. Only the bot's own user (and root) may talk to it:
the file mode keeps other users out, and each connection's peer credentials (``SO_PEERCRED``) are
checked too. Commands are answered by :class:`bot.ops.operator.OperatorCommands`, the layer Telegram
uses, with the same confirmation rules.

Protocol: one JSON object per line each way (UTF-8, at most :data:`MAX_LINE` bytes a line).

- ``{"command": "close", "args": ["all"]}`` → ``{"ok": true, "text": "..."}`` or, for a destructive
  command, ``{"ok": true, "question": "Close ALL open positions?", "nonce": "..."}``;
- then, on the same connection, ``{"nonce": "...", "answer": "yes"}`` (or ``"no"``) →
  ``{"ok": ..., "text": "..."}``. A question is bound to its connection: another connection cannot
  answer it, and it expires after ``telegram.confirm_timeout_seconds``.

A connection idle for longer than that is closed; at most :data:`MAX_CONNECTIONS` are served at
once. The socket file is removed on stop; a stale one left by a crash is replaced at start (the
ledger lock, taken before, guarantees no other bot serves it).

Paths longer than a Unix socket address allows (108 bytes) are bound and connected through
``/proc/self/fd/<directory fd>/<name>`` (:func:`unix_address`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bot.ops.operator import OperatorCommands, Question
from bot.ops.serving import close_server

log = logging.getLogger(__name__)

MAX_LINE = 65536
MAX_CONNECTIONS = 8
#: ``sun_path`` holds 108 bytes with its terminating NUL.
MAX_UNIX_PATH = 107


def socket_path(ledger_path: str | os.PathLike[str]) -> Path:
    """Where the control socket of the bot using ``ledger_path`` lives."""
    return Path(f"{os.fspath(ledger_path)}.sock")


@contextlib.contextmanager
def unix_address(path: Path) -> Iterator[str]:
    """An address for ``path`` that fits ``sun_path``: the path itself, or, when it is too long,
    the same file reached through an open descriptor of its directory."""
    if len(os.fsencode(path)) <= MAX_UNIX_PATH:
        yield str(path)
        return
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{path.name}"
    finally:
        os.close(fd)


def peer_uid(sock: socket.socket) -> int | None:
    try:
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


class ControlServer:
    def __init__(self, path: Path, commands: OperatorCommands, *, idle_timeout_seconds: float) -> None:
        self.path = path
        self._commands = commands
        self._idle = idle_timeout_seconds
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self.refused = 0

    async def start(self) -> None:
        sock = self._bind()
        try:
            self._server = await asyncio.start_unix_server(self._accept, sock=sock, limit=MAX_LINE)
        except BaseException:
            sock.close()
            raise
        log.info("control socket listening on %s", self.path)

    def _bind(self) -> socket.socket:
        """The listening socket, born 0600 (at start-up, before the loop serves anything)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_socket():
            self.path.unlink()  # left by a crash; the ledger lock says no other bot serves it
        elif os.path.lexists(self.path):
            raise FileExistsError(f"{self.path} exists and is not a socket; move it away")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            old = os.umask(0o177)  # never a moment with wider permissions
            try:
                with unix_address(self.path) as addr:
                    sock.bind(addr)
            finally:
                os.umask(old)
            os.chmod(self.path, 0o600)
            sock.listen(MAX_CONNECTIONS)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        return sock

    async def stop(self) -> None:
        if self._server is None:
            return
        await close_server(self._server, self._conns)
        self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        sock = writer.get_extra_info("socket")
        uid = peer_uid(sock) if sock is not None else None
        if uid not in (os.getuid(), 0) or len(self._conns) >= MAX_CONNECTIONS:
            self.refused += 1
            why = "busy" if uid in (os.getuid(), 0) else "not allowed"
            log.warning("control socket: refused a connection from uid %s (%s)", uid, why)
            await self._send(writer, {"ok": False, "text": f"refused: {why}"})
            writer.close()
            return
        self._conns.add(task)
        origin = f"socket:uid={uid}#{next(self._ids)}"
        try:
            await self._serve(reader, writer, origin)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug here must never take the bot down
            log.exception("control socket: unexpected error")
        finally:
            self._conns.discard(task)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, origin: str) -> None:
        while True:
            try:
                async with asyncio.timeout(self._idle):
                    line = await reader.readline()
            except TimeoutError:
                return
            except (ValueError, asyncio.LimitOverrunError):  # a line longer than MAX_LINE
                await self._send(writer, {"ok": False, "text": "request too long"})
                return
            if not line:
                return
            await self._send(writer, await self._answer(line, origin))

    async def _answer(self, line: bytes, origin: str) -> dict[str, Any]:
        try:
            req = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return {"ok": False, "text": "not a JSON request"}
        if not isinstance(req, dict):
            return {"ok": False, "text": "not a JSON object"}
        if "nonce" in req:
            if not isinstance(req["nonce"], str) or req.get("answer") not in ("yes", "no"):
                return {"ok": False, "text": 'an answer is {"nonce": ..., "answer": "yes" | "no"}'}
            reply = self._commands.confirm(req["nonce"], origin, req["answer"] == "yes")
            return {"ok": reply.ok, "text": reply.text}
        name, args = req.get("command"), req.get("args", [])
        if not isinstance(name, str) or not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            return {"ok": False, "text": 'a request is {"command": NAME, "args": [STRING, ...]}'}
        log.info("control socket: %s %s from %s", name, " ".join(args), origin)
        answer = await self._commands.handle(name, args, origin)
        if isinstance(answer, Question):
            return {"ok": True, "question": answer.text, "nonce": answer.nonce}
        return {"ok": answer.ok, "text": answer.text}

    async def _send(self, writer: asyncio.StreamWriter, body: dict[str, Any]) -> None:
        writer.write(json.dumps(body).encode() + b"\n")
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(self._idle):
                await writer.drain()
