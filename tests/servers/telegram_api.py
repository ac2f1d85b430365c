"""A local server that speaks enough of the Telegram Bot API for PTB v22.

Methods: getMe, getUpdates (long polling with ``offset``/``timeout``), deleteWebhook,
setMyCommands, sendMessage, answerCallbackQuery, editMessageText. Unknown methods answer
``{"ok": false, "error_code": 404}`` like the real one.

Fault injection: ``flood(retry_after, times)`` answers the next sendMessage calls with the real
429 body (``api-samples/telegram_429_flood.json`` shape); ``delay`` slows every answer;
``stop()`` takes the server down (connections refused) and ``start()`` brings it back on the
same port.

Tests drive it with ``push_command`` / ``push_callback`` and read ``sent``, ``calls`` and
``callback_answers``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

BOT_ID = 4242


@dataclass
class Sent:
    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    at: float
    message_id: int


@dataclass
class TelegramApiServer:
    token: str
    host: str = "127.0.0.1"
    port: int = 0
    delay: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    edits: list[tuple[int, int, str]] = field(default_factory=list)
    callback_answers: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)  # method names, in order
    my_commands: list[str] = field(default_factory=list)  # the last setMyCommands' command names
    rejected_token_calls: int = 0

    def __post_init__(self) -> None:
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._new_update = asyncio.Condition()
        self._flood: list[int] = []
        self._runner: web.AppRunner | None = None

    # -- control from tests ----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def flood(self, retry_after: int, times: int = 1) -> None:
        self._flood.extend([retry_after] * times)

    async def push_command(self, chat_id: int, text: str, user_id: int | None = None) -> int:
        cmd = text.split()[0]
        msg = {**self._message(chat_id, text, user_id or chat_id),
               "entities": [{"type": "bot_command", "offset": 0, "length": len(cmd)}]}
        return await self._push({"message": msg})

    async def push_callback(self, chat_id: int, data: str, message_id: int) -> int:
        msg = {**self._message(chat_id, "confirm?", BOT_ID, is_bot=True), "message_id": message_id}
        return await self._push({"callback_query": {
            "id": f"cq{next(self._update_ids)}", "from": self._user(chat_id), "chat_instance": "ci",
            "data": data, "message": msg}})

    async def wait_sent(self, pred, within: float = 5.0) -> Sent:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for s in self.sent:
                if pred(s):
                    return s
            await asyncio.sleep(0.01)
        raise AssertionError(f"no matching sendMessage within {within}s; sent: "
                             f"{[(s.chat_id, s.text[:40]) for s in self.sent]}")

    # -- wire ------------------------------------------------------------------------------------

    def _user(self, uid: int, is_bot: bool = False) -> dict[str, Any]:
        return {"id": uid, "is_bot": is_bot, "first_name": "bot" if is_bot else "operator"}

    def _message(self, chat_id: int, text: str, user_id: int, is_bot: bool = False) -> dict[str, Any]:
        return {"message_id": next(self._message_ids), "date": int(time.time()),
                "chat": {"id": chat_id, "type": "private"}, "from": self._user(user_id, is_bot),
                "text": text}

    async def _push(self, body: dict[str, Any]) -> int:
        uid = next(self._update_ids)
        async with self._new_update:
            self._updates.append({"update_id": uid, **body})
            self._new_update.notify_all()
        return uid

    @staticmethod
    def _ok(result: Any) -> web.Response:
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _err(code: int, description: str, **params: Any) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if params:
            body["parameters"] = params
        return web.json_response(body, status=code)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        out: dict[str, Any] = {}
        for k, v in (await request.post()).items():
            if isinstance(v, str):
                try:
                    out[k] = json.loads(v)
                except json.JSONDecodeError:
                    out[k] = v
        return out

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            self.rejected_token_calls += 1
            return self._err(401, "Unauthorized")
        method = request.match_info["method"]
        self.calls.append(method)
        p = await self._params(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return self._err(404, "Not Found")
        return await handler(p)

    async def _m_getMe(self, p: dict[str, Any]) -> web.Response:
        return self._ok({**self._user(BOT_ID, True), "username": "solbot_test_bot",
                         "can_join_groups": False, "can_read_all_group_messages": False,
                         "supports_inline_queries": False})

    async def _m_deleteWebhook(self, p: dict[str, Any]) -> web.Response:
        return self._ok(True)

    async def _m_setMyCommands(self, p: dict[str, Any]) -> web.Response:
        cmds = p.get("commands") or []
        self.my_commands = [c["command"] for c in (json.loads(cmds) if isinstance(cmds, str) else cmds)]
        return self._ok(True)

    async def _m_getUpdates(self, p: dict[str, Any]) -> web.Response:
        offset = int(p.get("offset", 0) or 0)
        timeout = float(p.get("timeout", 0) or 0)
        async with self._new_update:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            if not self._updates and timeout > 0:
                try:
                    await asyncio.wait_for(self._new_update.wait(), timeout)
                except TimeoutError:
                    pass
            return self._ok(list(self._updates))

    async def _m_sendMessage(self, p: dict[str, Any]) -> web.Response:
        if self._flood:
            ra = self._flood.pop(0)
            return self._err(429, f"Too Many Requests: retry after {ra}", retry_after=ra)
        chat_id = int(p["chat_id"])
        msg = self._message(chat_id, str(p["text"]), BOT_ID, is_bot=True)
        self.sent.append(Sent(chat_id, str(p["text"]), p.get("reply_markup"), time.monotonic(),
                              msg["message_id"]))
        return self._ok(msg)

    async def _m_answerCallbackQuery(self, p: dict[str, Any]) -> web.Response:
        self.callback_answers.append(str(p["callback_query_id"]))
        return self._ok(True)

    async def _m_editMessageText(self, p: dict[str, Any]) -> web.Response:
        chat_id, mid = int(p["chat_id"]), int(p["message_id"])
        self.edits.append((chat_id, mid, str(p["text"])))
        return self._ok({**self._message(chat_id, str(p["text"]), BOT_ID, is_bot=True), "message_id": mid})
