"""Anchor account decoding from the programs' published IDLs (``chain/idl/*.json``, sources in
``chain/idl/SOURCES.md``), with anchorpy.

The IDLs are kept exactly as their publishers ship them: the Anchor 0.30+ format (``"spec":
"0.1.0"``, ``"address"``, explicit discriminators, ``"pubkey"``, ``{"defined": {"name": ...}}``).
anchorpy 0.21 (the release that goes with solana 0.36 / solders 0.26) parses only the format
before it, so :func:`legacy_idl` restates the accounts asked for, and the type definitions they
reach, in that format: the same fields, in the same order, with the same types; nothing is
invented. Two checks keep that honest:

- each account's discriminator as anchorpy computes it (``sha256("account:<Name>")[:8]``) must
  equal the one the IDL states, or the account is refused;
- zero-copy accounts (``"serialization": "bytemuck"`` / ``"bytemuckunsafe"``) are decoded as
  Borsh only when their memory layout has no implicit padding, i.e. ``bytemuck`` (a ``Pod`` type
  cannot have any) or ``repr(packed)``; then the in-memory bytes and the Borsh encoding coincide.

:class:`AccountDecoder` decodes one account's raw bytes (discriminator included) into anchorpy's
container. Malformed data (short, wrong discriminator, undecodable) raises ``ChainDataError``.

anchorpy (with solana-py, borsh-construct and, through its pytest plugin, pytest: ~55 MB resident)
is imported by the first :class:`AccountDecoder`, not with this module: a process that reads no
pool account (backtests, replays) never loads it. The wiring builds the decoders at start where the
chain is read (``chain.pool_layouts.load_decoders``), so a missing anchorpy fails there, not at
the first pool read.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from chain.errors import ChainDataError

IDL_DIR = Path(__file__).with_name("idl")
DISCRIMINATOR_SIZE = 8


def account_discriminator(name: str) -> bytes:
    return hashlib.sha256(f"account:{name}".encode()).digest()[:DISCRIMINATOR_SIZE]


def _type(t: Any) -> Any:
    """One IDL type expression in the legacy spelling."""
    if isinstance(t, str):
        return "publicKey" if t == "pubkey" else t
    if not isinstance(t, dict) or len(t) != 1:
        raise ValueError(f"unsupported IDL type {t!r:.80}")
    (kind, inner), = t.items()
    if kind == "defined":
        if isinstance(inner, dict):
            if inner.get("generics"):
                raise ValueError(f"generic IDL type {inner!r:.80} is not supported")
            return {"defined": inner["name"]}
        return {"defined": inner}
    if kind == "array":
        return {"array": [_type(inner[0]), inner[1]]}
    if kind in ("option", "vec", "coption"):
        return {kind: _type(inner)}
    raise ValueError(f"unsupported IDL type {t!r:.80}")


def _fields(fields: list[Any]) -> list[Any]:
    out = []
    for f in fields:
        if isinstance(f, dict) and "name" in f:
            out.append({"name": f["name"], "type": _type(f["type"])})
        else:  # a tuple field (enum variants)
            out.append(_type(f))
    return out


def _typedef(td: dict[str, Any]) -> dict[str, Any]:
    body = td["type"]
    ser = td.get("serialization", "borsh")
    if ser != "borsh":
        packed = bool((td.get("repr") or {}).get("packed"))
        if not (ser == "bytemuck" or packed):
            raise ValueError(f"{td['name']}: {ser} without repr(packed) may carry padding Borsh does not")
    if body["kind"] == "struct":
        return {"name": td["name"], "type": {"kind": "struct", "fields": _fields(body.get("fields") or [])}}
    if body["kind"] == "enum":
        variants = []
        for v in body["variants"]:
            variant: dict[str, Any] = {"name": v["name"]}
            if v.get("fields"):
                variant["fields"] = _fields(v["fields"])
            variants.append(variant)
        return {"name": td["name"], "type": {"kind": "enum", "variants": variants}}
    raise ValueError(f"{td['name']}: unsupported type kind {body['kind']!r}")


def _references(t: Any, out: set[str]) -> None:
    if isinstance(t, dict):
        if "defined" in t:
            d = t["defined"]
            out.add(d["name"] if isinstance(d, dict) else d)
        for v in t.values():
            _references(v, out)
    elif isinstance(t, list):
        for v in t:
            _references(v, out)


def legacy_idl(published: dict[str, Any], accounts: tuple[str, ...]) -> dict[str, Any]:
    """The named accounts of a published (Anchor 0.30+) IDL, in the format anchorpy 0.21 reads."""
    if "address" not in published or (published.get("metadata") or {}).get("spec") is None:
        raise ValueError("not an Anchor 0.30+ IDL (no address / metadata.spec)")
    types = {t["name"]: t for t in published.get("types") or []}
    declared = {a["name"]: bytes(a["discriminator"]) for a in published.get("accounts") or []}
    acc_defs, seen, todo = [], set(), []
    for name in accounts:
        if name not in declared or name not in types:
            raise ValueError(f"IDL {published['metadata']['name']} has no account {name}")
        if account_discriminator(name) != declared[name]:
            raise ValueError(f"{name}: the IDL's discriminator differs from sha256('account:{name}')")
        acc_defs.append(_typedef(types[name]))
        seen.add(name)
        todo.append(types[name]["type"])
    refs: list[str] = []
    while todo:
        found: set[str] = set()
        _references(todo.pop(), found)
        for r in sorted(found - seen):
            if r not in types:
                raise ValueError(f"IDL type {r} is referenced but not defined")
            seen.add(r)
            refs.append(r)
            todo.append(types[r]["type"])
    meta = published["metadata"]
    return {"version": meta.get("version", "0.0.0"), "name": meta["name"], "instructions": [],
            "accounts": acc_defs, "types": [_typedef(types[r]) for r in refs]}


@cache
def published_idl(filename: str) -> dict[str, Any]:
    return json.loads((IDL_DIR / filename).read_text())


class AccountDecoder:
    """``AccountDecoder("pump.json", ("BondingCurve", "Global")).decode(raw)`` → (name, fields).

    ``zero_extend`` pads an account shorter than its struct with zero bytes: programs that grow an
    account type (Pump.fun's ``extend_account``) leave older accounts short, and the fields added
    later then read as zero, as the program's own realloc leaves them. Without it a short account
    is malformed."""

    def __init__(self, filename: str, accounts: tuple[str, ...], *, zero_extend: bool = False) -> None:
        from anchorpy import Idl
        from anchorpy.coder.accounts import AccountsCoder

        published = published_idl(filename)
        self.program_id: str = published["address"]
        self.version: str = published["metadata"].get("version", "")
        self._names = {account_discriminator(n): n for n in accounts}
        self._coder = AccountsCoder(Idl.from_json(json.dumps(legacy_idl(published, accounts))))
        self._sizes = {n: DISCRIMINATOR_SIZE + self._coder._accounts_layout[n].sizeof() for n in accounts}
        self._zero_extend = zero_extend

    def decode(self, raw: bytes, expect: str | None = None) -> tuple[str, Any]:
        name = self._names.get(bytes(raw[:DISCRIMINATOR_SIZE]))
        if name is None:
            raise ChainDataError(f"account data does not start with a known discriminator of {self.program_id}")
        if expect is not None and name != expect:
            raise ChainDataError(f"expected a {expect} account, got {name}")
        data = bytes(raw)
        if self._zero_extend and len(data) < self._sizes[name]:
            data = data + bytes(self._sizes[name] - len(data))
        try:
            return name, self._coder.decode(data)
        except Exception as exc:  # construct raises its own StreamError/... on short or bad data
            raise ChainDataError(f"{name} account of {self.program_id} does not decode "
                                 f"({type(exc).__name__})") from None
