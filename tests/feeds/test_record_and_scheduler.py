"""`solbot record` against local servers; the scheduler's plan at the real 1,000-token scale;
discovery filters and grace; bars from snapshots."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from bot.cli.main import main
from bot.dataset import conform, read_dataset
from bot.feeds.bars import BarBuilder
from bot.feeds.dexscreener import group_by_token, parse_pairs
from bot.feeds.discovery import TokenUniverse, check_filters
from bot.feeds.http import bucket_for
from bot.feeds.scheduler import RefreshScheduler, make_plan
from tests.feeds.conftest import REPO, FakeTime, feeds_cfg
from tests.servers.feeds import DexScreenerServer, make_pair
from tests.servers.geckoterminal import GeckoTerminalServer

MINTS = [f"Rec{i:04d}{'y' * 37}"[:44] for i in range(1000)]


def test_plan_1000_tokens_at_300_per_minute_meets_10_seconds() -> None:
    shipped = feeds_cfg()
    plan = make_plan(1000, shipped.poll_interval_seconds, shipped.dexscreener.pairs_rate.requests_per_minute)
    assert plan.calls_per_cycle == 34 and plan.meets_target and plan.cycle_seconds <= 10.0
    assert plan.requests_per_minute <= shipped.dexscreener.pairs_rate.requests_per_minute
    too_many = make_plan(2000, 10.0, 280.0)
    assert not too_many.meets_target and too_many.cycle_seconds == pytest.approx(67 * 60 / 280)


async def test_scheduler_at_real_scale_with_fake_clock() -> None:
    """60 simulated seconds, 1,000 tokens, the shipped 280/min + 5 burst bucket, 10 s target."""
    ft = FakeTime()
    shipped = feeds_cfg()
    bucket = bucket_for("pairs", shipped.dexscreener.pairs_rate, monotonic=ft.mono, sleep=ft.sleep)
    sched = RefreshScheduler(10.0, 280.0, monotonic=ft.mono, sleep=ft.sleep)
    sched.set_tokens(MINTS)
    sent: list[float] = []

    async def fetch(batch: list[str]) -> bool:
        await bucket.acquire()
        sent.append(ft.t)
        return True

    task = asyncio.create_task(sched.run(fetch, 4))
    start = ft.t
    while ft.t < start + 60.0:  # noqa: ASYNC110 - fake clock: yielding is what advances it
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    rep = sched.report()
    assert rep["never_refreshed"] == 0 and rep["interval_max_seconds"] <= 10.0
    for i, t0 in enumerate(sent):  # never more than 300 in any 60 s window (the documented limit)
        assert sum(1 for t in sent[i:] if t < t0 + 60.0) <= 300


def test_filters_and_grace_and_watch_list() -> None:
    cfg = feeds_cfg(discovery={"watch_list": ["W"], "deny_list": ["D"], "drop_grace_seconds": 100.0})
    now = 1_800_000_000
    good = make_pair("GOOD", created_ms=(now - 3600) * 1000)
    thin = make_pair("THIN", liquidity=100.0, created_ms=(now - 3600) * 1000)
    young = make_pair("YOUNG", created_ms=(now - 60) * 1000)
    snaps = group_by_token(parse_pairs([good, thin, young]).items, now)
    assert check_filters(snaps["GOOD"], cfg.filters, now) is None
    assert "liquidity" in check_filters(snaps["THIN"], cfg.filters, now)
    assert "age" in check_filters(snaps["YOUNG"], cfg.filters, now)
    u = TokenUniverse(cfg.discovery, cfg.filters, max_tracked=3)
    u.offer(["GOOD", "THIN", "YOUNG", "D"], now)
    assert "D" not in u.candidates and u.refresh_set()[0] == "W"
    u.observe(snaps, now, held=set())
    assert set(u.tracked) == {"W", "GOOD"}
    # GOOD starts failing: dropped only after the grace period, and never while held
    bad = group_by_token(parse_pairs([make_pair("GOOD", liquidity=1.0, created_ms=(now - 3600) * 1000)]).items, now)
    u.observe(bad, now + 10, held=set())
    u.observe(bad, now + 50, held={"GOOD"})
    assert "GOOD" in u.tracked
    u.observe(bad, now + 200, held={"GOOD"})
    assert "GOOD" in u.tracked
    u.observe(bad, now + 200, held=set())
    assert "GOOD" not in u.tracked and u.dropped == 1


def test_bars_from_snapshots_revise_current_minute_only() -> None:
    b = BarBuilder()
    t = 1_800_000_000 - 1_800_000_000 % 60
    for i, (dt, px) in enumerate([(1, 1.0), (20, 1.2), (40, 0.9)]):
        snap = group_by_token(parse_pairs([make_pair("M", price=px, tick=3)]).items, t + dt)["M"]
        b.update(snap, sol_usd=150.0)
        frame = b.drain()
        assert frame.height == 1, i
    row = frame.row(0, named=True)
    assert (row["open"], row["high"], row["low"], row["close"]) == pytest.approx((1.0, 1.2, 0.9, 0.9))
    assert row["volume_usd"] == pytest.approx(7500.0 / 5) and row["buys"] == 10 and row["sells"] == 8
    late = group_by_token(parse_pairs([make_pair("M", price=5.0, tick=3)]).items, t - 5)["M"]
    b.update(late)
    assert b.drain().height == 0  # finished bars are never revised
    nxt = group_by_token(parse_pairs([make_pair("M", price=2.0, tick=3)]).items, t + 61)["M"]
    b.update(nxt)
    assert conform(b.drain()).height == 1


async def test_record_command_writes_a_dataset_backtest_accepts(tmp_path: Path, monkeypatch, log_output,
                                                               capsys) -> None:
    # log_output: `solbot record` sets up logging (with redaction) like every networked command;
    # the fixture restores the test process's logging afterwards
    async with DexScreenerServer() as srv, GeckoTerminalServer() as gt:
        text = (REPO / "config" / "trading.toml").read_text()
        text = text.replace('base_url = "https://api.dexscreener.com"', f'base_url = "{srv.url}"')
        text = text.replace('base_url = "https://api.geckoterminal.com/api/v2"', f'base_url = "{gt.base_url}"')
        # no chain here: the recording has no mint facts (tests/cli/test_record_backtest_world.py has them)
        text = text.replace('url = "https://api.mainnet-beta.solana.com", ws_url = "wss://api.mainnet-beta.solana.com"',
                            'url = "http://127.0.0.1:9", ws_url = "ws://127.0.0.1:9"')
        text = re.sub(r"watch_list = \[\]", f"watch_list = {json.dumps(MINTS[:5])}", text, count=1)
        text = re.sub(r"(\[feeds\][^\[]*?)poll_interval_seconds = [0-9.]+", r"\1poll_interval_seconds = 0.5",
                      text, count=1, flags=re.S)
        text = re.sub(r"(\[feeds.discovery\]\s*\n(?:#.*\n)*)enabled = true", r"\1enabled = false", text)
        cfg_path = tmp_path / "trading.toml"
        cfg_path.write_text(text)
        for var in ("BIRDEYE_API_KEY", "HELIUS_API_KEY"):
            monkeypatch.setenv(var, "")
        monkeypatch.chdir(tmp_path)
        out = tmp_path / "rec" / "session.parquet"
        rc = await asyncio.to_thread(main, ["record", "--config", str(cfg_path), "--out", str(out),
                                            "--minutes", "0.03"])
    assert rc == 0
    said = [ln for ln in capsys.readouterr().err.splitlines() if "RPC endpoint" in ln or "rpc endpoint" in ln]
    assert len(said) == 1 and "record: no RPC endpoint answers (127.0.0.1:9#0: probe: " in said[0] \
        and "the recording gets no facts from the chain" in said[0], said  # one line, from the wiring
    ds = read_dataset(out)
    assert set(ds["mint"]) == set(MINTS[:5])
    raw = (tmp_path / "rec" / "session.parquet.raw.jsonl").read_text().splitlines()
    first = json.loads(raw[0])
    assert first["source"] == "dexscreener" and first["status"] == 200 and json.loads(first["body"])
    # and `solbot backtest` accepts the recording
    assert await asyncio.to_thread(main, ["backtest", "--config", str(cfg_path), "--data", str(out),
                                          "--report", str(tmp_path / "report.json")]) == 0
