from __future__ import annotations

import asyncio

import pytest

from bot.config.ops import AlertsConfig
from bot.engine import EngineEvent, EventKind
from bot.ops import format as fmt
from bot.ops.alerts import EVENT_ALERTS, Alert, AlertBus, AlertKind, Delivery, Severity, event_sink, to_alert


def cfg(window: float = 300.0, size: int = 3, min_sev: str = "info") -> AlertsConfig:
    return AlertsConfig(dedupe_window_seconds=window, queue_size=size, min_severity=min_sev)


def alert(text: str, kind: AlertKind = AlertKind.EXECUTION_FAILED, key: str = "",
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


@pytest.mark.parametrize("kind", list(EventKind))
def test_every_engine_event_kind_becomes_its_own_alert_kind(kind):
    assert kind in EVENT_ALERTS
    got = to_alert(EngineEvent(kind, Severity.WARNING, f"about {kind}"))
    assert got == Alert(Severity.WARNING, EVENT_ALERTS[kind], f"about {kind}")
    assert got.kind.value == kind.value  # its own kind, never a generic one
    text = fmt.alert(Delivery(got, 0.0, 0, 0))
    assert kind.value.replace("_", " ") in text.splitlines()[0]


def test_the_mapping_names_each_engine_kind_once():
    assert set(EVENT_ALERTS) == set(EventKind)
    assert len(set(EVENT_ALERTS.values())) == len(EventKind)


def test_event_sink_publishes_engine_events_with_their_severity():
    bus = AlertBus(cfg(window=60, size=10))
    sink = event_sink(bus, lambda: 5.0)
    sink(EngineEvent(EventKind.TRADE_REDUCED, Severity.INFO, "SELL BONK (take_profit_1)", mint="M"))
    sink(EngineEvent(EventKind.EXECUTION_FAILED, Severity.CRITICAL, "landed, unreadable"))
    sink(EngineEvent(EventKind.ACCOUNT_CLOSE_FAILED, Severity.WARNING, "not closed"))
    got = [bus.get_nowait() for _ in range(3)]
    assert [(d.alert.kind, d.alert.severity) for d in got] == [
        (AlertKind.TRADE_REDUCED, Severity.INFO), (AlertKind.EXECUTION_FAILED, Severity.CRITICAL),
        (AlertKind.ACCOUNT_CLOSE_FAILED, Severity.WARNING)]
    assert got[0].published_at == 5.0 and got[0].alert.text == "SELL BONK (take_profit_1)"


def test_event_sink_never_raises(caplog):
    bus = AlertBus(cfg(window=60, size=10))
    sink = event_sink(bus, lambda: 0.0)
    sink(object())  # type: ignore[arg-type]  # not an event: logged, not raised
    assert bus.depth == 0 and "alert sink failed" in caplog.text


def test_a_real_engine_run_reaches_the_bus_with_each_events_own_kind(base_config):
    """Partial exits (trade_reduced) used to reach Telegram as a generic error."""
    from bot.clock import SimClock
    from bot.feeds.replay import ReplayFeed
    from bot.feeds.simulator import simulate
    from bot.ledger import Ledger
    from bot.wiring import build_engine, build_paper_executor

    bus = AlertBus(cfg(window=0, size=10_000))
    events: list[EngineEvent] = []
    sink = event_sink(bus, lambda: 0.0)

    def on_event(ev: EngineEvent) -> None:
        events.append(ev)
        sink(ev)

    async def go() -> None:
        feed = ReplayFeed(simulate(8, 6, 11).frame, history_bars=base_config.market.window_bars)
        clock = SimClock(feed.start_time())
        ledger = Ledger.open(":memory:", clock.now, durable=False)
        engine = build_engine(base_config, clock=clock, feed=feed, ledger=ledger, on_event=on_event,
                              executor=build_paper_executor(base_config, ledger))
        await engine.run(asyncio.Event(), until_exhausted=True)
        ledger.close()

    asyncio.run(go())
    kinds = {e.kind for e in events}
    assert {EventKind.TRADE_OPENED, EventKind.TRADE_REDUCED, EventKind.TRADE_CLOSED} <= kinds
    delivered = [d.alert for d in iter(bus.get_nowait, None)]
    assert [a.kind.value for a in delivered] == [e.kind.value for e in events]
    reduced = [a for a in delivered if a.kind is AlertKind.TRADE_REDUCED]
    assert reduced and all(a.text.startswith("SELL ") and a.severity is Severity.INFO for a in reduced)
