"""Prometheus metrics on a registry owned by a :class:`Metrics` object (never the global one).

Two kinds of metrics:

- recorded by the engine as things happen: ``observe_cycle(seconds)`` (histogram
  ``solbot_cycle_seconds``) and ``record_trade(side)`` (``solbot_trades_total{side}``);
- read at scrape time through callables the engine registers, so no stage imports this module:

  ``register_feed_stats(fn)``: ``fn() -> Mapping[source, Mapping[field, number]]``, one entry per
  feed source (``"dexscreener"``, ``"birdeye"``...). Fields (all optional):
  ``requests`` (total so far), ``errors`` (total so far), ``latency_seconds`` (recent mean),
  ``fresh`` (1/0).

  ``register_rpc_stats(fn)``: ``fn() -> Mapping[endpoint_url, Mapping[field, number]]``. Fields
  (all optional): ``requests``, ``errors`` (totals), ``latency_seconds`` (recent mean),
  ``healthy`` (1/0), ``slot_lag`` (slots behind the best endpoint). The URL is reduced to its
  host (``endpoint`` label), because provider URLs carry API keys in the query or path.

  ``register_status(source)``: a :class:`bot.ops.status.StatusSource`, read for open positions,
  equity, today's PnL, breaker states, trading state and heartbeat age.

  ``register_gauge(name, help, fn)``: any other ``fn() -> float`` (the Telegram layer registers
  ``solbot_telegram_queue_depth`` and ``solbot_alerts_dropped_total`` this way).

A callable that raises is logged and skipped; a scrape never fails because of one source.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import urlsplit

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.config.ops import HealthConfig
from bot.ops.status import StatusSource

log = logging.getLogger(__name__)

Snapshot = Mapping[str, Mapping[str, float]]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def endpoint_label(url: str) -> str:
    """``https://user:key@host:8899/KEY/?api-key=X`` → ``host:8899`` (no credentials)."""
    parts = urlsplit(url)
    host = parts.hostname or "unknown"
    return f"{host}:{parts.port}" if parts.port else host


class _SnapshotCollector(Collector):
    def __init__(self) -> None:
        self.feeds: Callable[[], Snapshot] | None = None
        self.rpc: Callable[[], Snapshot] | None = None
        self.status: StatusSource | None = None
        self.gauges: list[tuple[str, str, Callable[[], float]]] = []

    def collect(self) -> Iterator[Metric]:
        yield from self._guard("feeds", self._feeds)
        yield from self._guard("rpc", self._rpc)
        yield from self._guard("status", self._status)
        for name, help_, fn in self.gauges:
            yield from self._guard(name, lambda n=name, h=help_, f=fn: self._gauge(n, h, f))

    @staticmethod
    def _guard(what: str, fn: Callable[[], Iterator[Metric]]) -> Iterator[Metric]:
        try:
            metrics = list(fn())
        except Exception as exc:
            log.warning("metrics source %s failed: %s", what, type(exc).__name__)
            return iter(())
        return iter(metrics)

    def _feeds(self) -> Iterator[Metric]:
        if self.feeds is None:
            return
        snap = self.feeds()
        yield from _families(snap, "solbot_feed", "source", lambda k: k, {
            "requests": ("counter", "Feed HTTP requests"),
            "errors": ("counter", "Feed requests that failed (error status, timeout, malformed)"),
            "latency_seconds": ("gauge", "Recent mean feed request latency"),
            "fresh": ("gauge", "1 when the source's data is fresh"),
        })

    def _rpc(self) -> Iterator[Metric]:
        if self.rpc is None:
            return
        snap = self.rpc()
        yield from _families(snap, "solbot_rpc", "endpoint", endpoint_label, {
            "requests": ("counter", "RPC requests per endpoint"),
            "errors": ("counter", "RPC requests that failed per endpoint"),
            "latency_seconds": ("gauge", "Recent mean RPC latency per endpoint"),
            "healthy": ("gauge", "1 when the endpoint is healthy"),
            "slot_lag": ("gauge", "Slots behind the best endpoint"),
        })

    def _status(self) -> Iterator[Metric]:
        if self.status is None:
            return
        age = self.status.heartbeat_age(time.monotonic())
        yield GaugeMetricFamily("solbot_heartbeat_age_seconds", "Seconds since the engine loop ticked",
                                value=age if math.isfinite(age) else float("nan"))
        s = self.status.status()
        yield GaugeMetricFamily("solbot_open_positions", "Open positions", value=s.open_positions)
        yield GaugeMetricFamily("solbot_equity_sol", "Equity in SOL (cash + marked positions)",
                                value=s.equity_sol)
        yield GaugeMetricFamily("solbot_pnl_today_sol", "PnL since 00:00 UTC in SOL", value=s.pnl_today_sol)
        yield GaugeMetricFamily("solbot_uptime_seconds", "Seconds since the engine started",
                                value=s.uptime_seconds)
        state = GaugeMetricFamily("solbot_trading_state", "1 for the current trading state",
                                  labels=["state"])
        for name in ("active", "reducing", "halted"):
            state.add_metric([name], 1.0 if s.trading_state == name else 0.0)
        yield state
        yield GaugeMetricFamily("solbot_paused", "1 while an operator pause is in force",
                                value=1.0 if s.paused else 0.0)
        br = GaugeMetricFamily("solbot_breaker_tripped", "1 when the circuit breaker is tripped",
                               labels=["breaker"])
        for b in s.breakers:
            br.add_metric([b.name], 1.0 if b.tripped else 0.0)
        yield br

    @staticmethod
    def _gauge(name: str, help_: str, fn: Callable[[], float]) -> Iterator[Metric]:
        if name.endswith("_total"):
            yield CounterMetricFamily(name.removesuffix("_total"), help_, value=float(fn()))
        else:
            yield GaugeMetricFamily(name, help_, value=float(fn()))


def _families(snap: Snapshot, prefix: str, label: str, label_fn: Callable[[str], str],
              fields: dict[str, tuple[str, str]]) -> Iterator[Metric]:
    for field_name, (kind, help_) in fields.items():
        name = f"{prefix}_{field_name}"
        fam: Metric = (CounterMetricFamily(name, help_, labels=[label]) if kind == "counter"
                       else GaugeMetricFamily(name, help_, labels=[label]))
        seen: set[str] = set()
        for key, stats in snap.items():
            if field_name not in stats:
                continue
            lab = label_fn(key)
            n = 2
            base = lab
            while lab in seen:  # two endpoints on one host: keep both series
                lab, n = f"{base}#{n}", n + 1
            seen.add(lab)
            fam.add_metric([lab], float(stats[field_name]))
        yield fam


class Metrics:
    def __init__(self, cfg: HealthConfig) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.cycle_seconds = Histogram(
            "solbot_cycle_seconds", "Duration of one engine cycle",
            buckets=list(cfg.cycle_latency_buckets_seconds), registry=self.registry)
        self.trades = Counter("solbot_trades", "Fills recorded by the engine", ["side"],
                              registry=self.registry)
        self._snap = _SnapshotCollector()
        self.registry.register(self._snap)

    def observe_cycle(self, seconds: float) -> None:
        self.cycle_seconds.observe(seconds)

    def record_trade(self, side: str) -> None:
        self.trades.labels(side=side).inc()

    def register_feed_stats(self, fn: Callable[[], Snapshot]) -> None:
        self._snap.feeds = fn

    def register_rpc_stats(self, fn: Callable[[], Snapshot]) -> None:
        self._snap.rpc = fn

    def register_status(self, source: StatusSource) -> None:
        self._snap.status = source

    def register_gauge(self, name: str, help_: str, fn: Callable[[], float]) -> None:
        self._snap.gauges = [g for g in self._snap.gauges if g[0] != name]
        self._snap.gauges.append((name, help_, fn))

    def render(self) -> bytes:
        return generate_latest(self.registry)
