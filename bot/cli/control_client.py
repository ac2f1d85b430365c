"""The client side of the control socket (``bot.ops.control_socket``), for the commands that talk
to a running bot: ``pause``, ``resume``, ``close``, ``reset-breaker``, ``breakers``.

Standard library only, like ``solbot health``. Exit status: 0 when the bot answered and did (or
queued) what was asked; 1 when no bot is running, the bot refused (bad name, full queue) or the
operator declined the confirmation; 2 for an operator error (config unreadable, a destructive
command without ``--yes`` and no terminal to ask on).

Destructive commands follow Telegram's confirmation: the bot asks, the operator answers on the
same connection. ``--yes`` answers yes (for scripts); without it the question is asked on the
terminal, and refused when stdin is not a terminal.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from bot.cli.state_paths import ledger_path, where
from bot.errors import OperatorError

#: Seconds to wait for the bot's answer (it answers from its event loop; reports read the ledger).
TIMEOUT_SECONDS = 30.0
MAX_UNIX_PATH = 107  # as bot.ops.control_socket (imported there with asyncio; kept light here)


def add_yes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", "-y", action="store_true",
                   help="answer the confirmation with yes (for scripts; otherwise asked on the terminal)")


class NoBot(Exception):
    pass


def _connect(path: Path, timeout: float) -> socket.socket:
    import os

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    fd = None
    try:
        address = str(path)
        if len(os.fsencode(path)) > MAX_UNIX_PATH:  # see bot.ops.control_socket.unix_address
            fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
            address = f"/proc/self/fd/{fd}/{path.name}"
        sock.connect(address)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError) as exc:
        sock.close()
        raise NoBot(type(exc).__name__) from None
    except PermissionError:
        sock.close()
        raise OperatorError(f"not allowed to use the control socket {path}: run as the bot's user "
                            "(sudo -u solbot ...)") from None
    except BaseException:
        sock.close()
        raise
    finally:
        if fd is not None:
            os.close(fd)
    return sock


class Session:
    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._file = sock.makefile("rwb")

    def ask(self, body: dict[str, Any]) -> dict[str, Any]:
        self._file.write(json.dumps(body).encode() + b"\n")
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise OperatorError("the bot closed the control connection without answering")
        answer = json.loads(line)
        if not isinstance(answer, dict) or "ok" not in answer:
            raise OperatorError(f"unexpected answer from the bot: {line[:200]!r}")
        return answer

    def close(self) -> None:
        self._file.close()
        self._sock.close()


def confirm_on_terminal(question: str, stdin: TextIO, stdout: TextIO) -> bool:
    stdout.write(f"{question} [y/N] ")
    stdout.flush()
    return stdin.readline().strip().lower() in ("y", "yes")


def confirmed(question: str, yes: bool, stdin: TextIO, stdout: TextIO) -> bool:
    """The confirmation rule of the destructive commands: ``--yes`` answers yes; otherwise the
    question is asked on the terminal, and refused (``OperatorError``) when stdin is not one."""
    if yes:
        return True
    if not stdin.isatty():
        raise OperatorError(f"{question} Refusing without a confirmation: pass --yes "
                            "(stdin is not a terminal to ask on)")
    return confirm_on_terminal(question, stdin, stdout)


def run_command(args: argparse.Namespace, name: str, command: str, argv: Sequence[str] = (), *,
                stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Send ``command argv`` to the bot of ``args``' config and print the answer."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    ledger = ledger_path(args)
    path = Path(f"{ledger}.sock")
    try:
        sock = _connect(path, TIMEOUT_SECONDS)
    except NoBot:
        print(f"solbot {name}: no running solbot: no control socket at {where(path)} (the bot of ledger "
              f"{where(ledger)} creates it when it starts; start it with `solbot run`)", file=sys.stderr)
        return 1
    session = Session(sock)
    try:
        try:
            answer = session.ask({"command": command, "args": list(argv)})
            if "question" in answer:
                try:
                    yes = confirmed(answer["question"], bool(getattr(args, "yes", False)), stdin, stdout)
                except OperatorError:
                    session.ask({"nonce": answer["nonce"], "answer": "no"})  # the bot drops the question
                    raise
                answer = session.ask({"nonce": answer["nonce"], "answer": "yes" if yes else "no"})
        except TimeoutError:
            raise OperatorError(f"the bot did not answer within {TIMEOUT_SECONDS:.0f} s (is it hung? "
                                "`solbot health` says)") from None
        except (ConnectionError, json.JSONDecodeError) as exc:
            raise OperatorError(f"the control connection failed: {type(exc).__name__}") from None
    finally:
        session.close()
    text = str(answer.get("text", ""))
    print(text, file=stdout if answer["ok"] else sys.stderr)
    return 0 if answer["ok"] else 1
