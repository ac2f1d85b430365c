"""Parse throughput of a 30-pair DexScreener ``/tokens/v1`` response, on one core.

Measures JSON decode + ``parse_pairs`` + ``group_by_token`` (what the live feed does per call) and
reports pairs/s. Target: at least 50,000 pairs/s.

    .venv/bin/python bench/bench_feed_parse.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.feeds.dexscreener import group_by_token, parse_pairs

FIXTURE = Path(__file__).resolve().parents[1] / "tests/feeds/fixtures/dexscreener_pairs_solana_real_2024-08.json"
TARGET = 50_000


def body_30_pairs() -> bytes:
    pairs = json.loads(FIXTURE.read_text())["pairs"]
    out = []
    for i in range(30):
        p = json.loads(json.dumps(pairs[i % len(pairs)]))
        p["pairAddress"] = f"{p['pairAddress'][:-3]}{i:03d}"
        p["baseToken"]["address"] = f"{p['baseToken']['address'][:-3]}{i:03d}"
        out.append(p)
    return json.dumps(out).encode()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    raw = body_30_pairs()
    calls = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.seconds:
        for _ in range(100):
            parsed = parse_pairs(orjson.loads(raw))
            group_by_token(parsed.items, 0)
        calls += 100
    dt = time.perf_counter() - t0
    rate = calls * 30 / dt
    body = orjson.loads(raw)
    stages = {}
    for name, fn in (("decode", lambda: orjson.loads(raw)), ("parse", lambda: parse_pairs(body)),
                     ("group", lambda: group_by_token(parse_pairs(body).items, 0))):
        n, s0 = 0, time.perf_counter()
        while time.perf_counter() - s0 < args.seconds / 3:
            fn()
            n += 1
        stages[name] = (time.perf_counter() - s0) / n * 1e6
    stages["group"] -= stages["parse"]
    print("per 30-pair call: " + ", ".join(f"{k} {v:.0f} us" for k, v in stages.items())
          + f"; parse alone {30 / stages['parse'] * 1e6:,.0f} pairs/s")
    print(f"dexscreener /tokens/v1 30-pair response ({len(raw)} bytes): {calls / dt:,.0f} responses/s, "
          f"{rate:,.0f} pairs/s (decode + parse + group; target >= {TARGET:,})")
    return 0 if rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
