from __future__ import annotations

import asyncio

import pytest

from bot.config.ops import AlertsConfig
from bot.ops.alerts import Alert, AlertBus, AlertKind, Severity


def cfg(window: float = 300.0, size: int = 3, min_sev: str = "info") -> AlertsConfig:
    return AlertsConfig(dedupe_window_seconds=window, queue_size=size, min_severity=min_sev)


def alert(text: str, kind: AlertKind = AlertKind.ERROR, key: str = "",
          sev: Severity = Severity.WARNING) -> Alert:
    return Alert(sev, kind, text, key)


def test_full_queue_drops_oldest_and_reports_the_count_with_the_next_delivery():
    bus = AlertBus(cfg(size=3))
    for i in range(5):
        assert bus.publish(alert(f"a{i}"), now=float(i))
    assert bus.depth == 3 and bus.dropped == 2
    first = bus.get_nowait()
    assert first is not None and first.alert.text == "a2" and first.dropped_before == 2
    second = bus.get_nowait()
    assert second is not None and second.alert.text == "a3" and second.dropped_before == 0


def test_duplicates_within_the_window_are_collapsed_and_counted_on_the_next_one():
    bus = AlertBus(cfg(window=60, size=10))
    assert bus.publish(alert("rpc down", key="rpc"), now=0)
    assert not bus.publish(alert("rpc down again", key="rpc"), now=30)
    assert not bus.publish(alert("rpc down", key="rpc"), now=59.9)
    assert bus.publish(alert("other"), now=59.9)  # another key is not affected
    assert bus.publish(alert("rpc still down", key="rpc"), now=60.0)  # window over
    got = [bus.get_nowait() for _ in range(3)]
    assert [d.alert.text for d in got] == ["rpc down", "other", "rpc still down"]
    assert got[2].collapsed == 2 and bus.collapsed == 2


def test_without_a_key_identical_kind_and_text_are_duplicates():
    bus = AlertBus(cfg(window=10, size=10))
    assert bus.publish(alert("x"), now=0)
    assert not bus.publish(alert("x"), now=1)
    assert bus.publish(alert("x", kind=AlertKind.STARTED), now=1)


def test_zero_window_collapses_nothing():
    bus = AlertBus(cfg(window=0, size=10))
    assert bus.publish(alert("x"), now=0) and bus.publish(alert("x"), now=0)


def test_below_min_severity_is_filtered():
    bus = AlertBus(cfg(min_sev="warning", size=10))
    assert not bus.publish(alert("fyi", sev=Severity.INFO), now=0)
    assert bus.publish(alert("careful", sev=Severity.WARNING), now=0)
    assert bus.publish(alert("fire", sev=Severity.CRITICAL), now=0)
    assert bus.filtered == 1 and bus.depth == 2


def test_reconfigure_to_a_smaller_queue_drops_oldest():
    bus = AlertBus(cfg(size=5))
    for i in range(5):
        bus.publish(alert(f"a{i}"), now=i)
    bus.reconfigure(cfg(size=2))
    assert bus.depth == 2 and bus.dropped == 3


async def test_get_waits_for_a_publish():
    bus = AlertBus(cfg())
    waiter = asyncio.create_task(bus.get())
    await asyncio.sleep(0.01)
    assert not waiter.done()
    bus.publish(alert("hello"), now=0)
    got = await asyncio.wait_for(waiter, 1)
    assert got.alert.text == "hello"


def test_publish_never_blocks_even_with_no_consumer():
    bus = AlertBus(cfg(window=0, size=10))
    for i in range(100_000):
        bus.publish(alert(f"a{i}"), now=float(i))
    assert bus.depth == 10 and bus.dropped == 99_990


@pytest.mark.parametrize("kind", list(AlertKind))
def test_every_kind_from_the_issue_exists(kind):
    assert kind.value in {"trade_opened", "trade_closed", "breaker_tripped", "breaker_reset",
                          "rpc_degraded", "rpc_recovered", "feeds_stale", "feeds_recovered", "error",
                          "started", "stopped", "daily_report"}


def test_event_sink_turns_engine_events_into_alerts():
    from dataclasses import dataclass, field

    from bot.ops.alerts import event_sink

    @dataclass(frozen=True)
    class EngineEvent:  # the shape of bot.engine.EngineEvent
        kind: str
        severity: str
        text: str
        data: dict = field(default_factory=dict)

    bus = AlertBus(cfg(window=60, size=10))
    sink = event_sink(bus, lambda: 0.0)
    sink(EngineEvent("trade_opened", "info", "bought BONK", {"key": "t1"}))
    sink(EngineEvent("something_new", "loud", "??"))
    sink(object())  # garbage never raises
    a, b = bus.get_nowait(), bus.get_nowait()
    assert a.alert == Alert(Severity.INFO, AlertKind.TRADE_OPENED, "bought BONK", "t1")
    assert b.alert.kind is AlertKind.ERROR and b.alert.text == "[something_new] ??"
