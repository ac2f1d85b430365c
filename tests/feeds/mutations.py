"""Mutated variants of a JSON sample: missing keys, nulls, strings for numbers, wrong types,
empty arrays. Used to show parsers never raise anything but their typed errors."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

Path_ = tuple[Any, ...]


def _paths(node: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield (*prefix, k)
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node[:3]):
            yield (*prefix, i)
            yield from _paths(v, (*prefix, i))


def _get_parent(root: Any, path: Path_) -> Any:
    node = root
    for p in path[:-1]:
        node = node[p]
    return node


def _replacements(value: Any) -> list[Any]:
    out: list[Any] = [None, [], {}, "garbage", True]
    if isinstance(value, int | float) and not isinstance(value, bool):
        out += [str(value), -1, 0, float("nan"), 10**30]
    if isinstance(value, str):
        out += [123, "", "1e400"]
    if isinstance(value, list):
        out += [[None], ["x"], [[]]]
    return out


def mutations(sample: Any, limit: int = 600) -> Iterator[tuple[str, Path_, Any]]:
    """(description, path, mutated body) triples: the whole body replaced (path ``()``), then at
    each path (keys and list indexes from the root) the value deleted and each replacement."""
    yield "empty list", (), []
    yield "empty object", (), {}
    yield "null", (), None
    yield "string", (), "<html><body>502 Bad Gateway</body></html>"
    yield "number", (), 42
    n = 0
    for path in _paths(sample):
        for repl in ["<delete>", *_replacements(_get_parent(sample, path)[path[-1]])]:
            body = copy.deepcopy(sample)
            parent = _get_parent(body, path)
            if repl == "<delete>":
                if isinstance(parent, dict):
                    del parent[path[-1]]
                else:
                    parent.pop(path[-1])
            else:
                parent[path[-1]] = repl
            yield f"{'/'.join(map(str, path))} -> {repl!r}"[:120], path, body
            n += 1
            if n >= limit:
                return
