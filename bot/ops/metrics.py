"""Prometheus metrics on a registry owned by a :class:`Metrics` object (never the global one).

Two kinds of metrics:

- recorded by the engine as things happen: ``observe_cycle(seconds)`` (histogram
  ``solbot_cycle_seconds``) and ``record_trade(side)`` (``solbot_trades_total{side}``);
- read at scrape time from typed snapshots, so no stage imports this module:

  ``register_feed_stats(fn)``: ``fn() -> bot.contracts.FeedStats`` (``FeedSource.stats``). Per
  HTTP source (``source`` label): requests, successes, retries, errors by ``kind``, item errors,
  requests by rate-limit ``bucket``, a latency histogram and the circuit breaker state; then the
  refresh scheduler, the token universe, the Helius websocket and a replay's progress.

  ``register_feed_health(fn)``: ``fn() -> Sequence[FeedHealth]``: ``solbot_feed_fresh{source}``.

  ``register_rpc_stats(fn)``: ``fn() -> chain.rpc_pool.PoolStats`` (``RpcPool.stats``). Per endpoint
  (``endpoint`` label = the pool's label ``host[:port]#index``, which never carries the path or
  query where providers put API keys): requests, errors by ``kind``, a latency histogram, the
  latency EWMA, health, breaker, slot, slot lag and rate-limit cooldown.

  ``register_status(source)``: a :class:`bot.ops.status.StatusSource`, read for open positions,
  equity and its high-water mark, today's PnL, breaker states, trading state, the market regime,
  the last cycle (duration, time, count) and heartbeat age.

  ``register_execution(fn)``: ``fn() -> bot.orders.quality.ExecutionSummary`` (the engine status's
  snapshot of the recent fills): ``solbot_execution_*`` — realised slippage p50/p95 against the
  quote and the decision price, the landing rate of sent intents, quote→landed and sent→landed
  latency p50/p95, send cost per trade as a fraction of its size, fees and tips paid.

  ``register_jito_stats(fn)``: ``fn() -> chain.jito.JitoStats``: ``solbot_jito_*`` — the block
  engine's state (ok | rate_limited | down), requests by method, errors by kind, bundles accepted.

  ``register_gauge(name, help, fn)``: any other ``fn() -> float`` (the runner registers
  ``solbot_telegram_queue_depth``, ``solbot_alerts_dropped_total`` and, with the webhook on,
  ``solbot_webhook_queue_depth``/``_sent_total``/``_failed_total`` this way).

Always there: ``process_*`` (RSS, CPU, fds; see :mod:`bot.ops.process_metrics` for why it works
under ``ProcSubset=pid``), ``python_info``, ``python_gc_*`` and ``solbot_build_info``.

A callable that raises is logged and skipped; a scrape never fails because of one source.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from bot.config.ops import HealthConfig
from bot.contracts import FeedHealth, FeedStats, LatencyHistogram
from bot.ops.process_metrics import register_process_metrics
from bot.ops.status import StatusSource
from strategies.config import REGIMES

if TYPE_CHECKING:
    from bot.orders.quality import Dist, ExecutionSummary
    from chain.jito import JitoStats
    from chain.rpc_pool import PoolStats

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

BREAKER_STATES = ("closed", "half_open", "open")


def _histogram_buckets(pairs: Iterable[tuple[float, int]], scale: float = 1.0) -> list[tuple[str, float]]:
    """Cumulative ``(upper bound, count)`` pairs as Prometheus buckets (bounds times ``scale``)."""
    out = [("+Inf" if math.isinf(le) else floatToGoString(le * scale), float(n)) for le, n in pairs]
    if not out or out[-1][0] != "+Inf":
        raise ValueError("a histogram's last bucket must be +Inf")
    return out


def _latency(fam: HistogramMetricFamily, labels: list[str], h: LatencyHistogram) -> None:
    fam.add_metric(labels, _histogram_buckets(h.buckets), h.sum_seconds)


def feed_families(st: FeedStats) -> Iterator[Metric]:
    """Every ``solbot_feed_*`` family for one feed snapshot."""
    info = GaugeMetricFamily("solbot_feed_info", "The feed source in use", labels=["feed"])
    info.add_metric([st.feed], 1.0)
    yield info
    if st.requests:
        yield from _request_families(st)
    if (s := st.scheduler) is not None:
        for name, help_, value in (
                ("tokens", "Tokens the DexScreener refresh plan covers", s.tokens),
                ("calls_per_cycle", "DexScreener calls one refresh cycle needs", s.calls_per_cycle),
                ("planned_cycle_seconds", "Planned time between two refreshes of one token", s.planned_cycle_seconds),
                ("target_seconds", "Target refresh interval (poll_interval_seconds)", s.target_seconds),
                ("meets_target", "1 when the rate limit allows the target refresh interval", float(s.meets_target)),
                ("planned_requests_per_minute", "DexScreener requests per minute the plan spends", s.requests_per_minute),
                ("rate_limit_per_minute", "DexScreener requests per minute allowed", s.rate_limit_per_minute),
                ("interval_mean_seconds", "Achieved refresh interval, mean of the recent window", s.interval_mean_seconds),
                ("interval_p95_seconds", "Achieved refresh interval, 95th percentile", s.interval_p95_seconds),
                ("interval_max_seconds", "Achieved refresh interval, maximum", s.interval_max_seconds),
                ("oldest_age_seconds", "Age of the least recently refreshed token", s.oldest_age_seconds),
                ("never_refreshed", "Tracked tokens not refreshed yet", s.never_refreshed)):
            yield GaugeMetricFamily(f"solbot_feed_scheduler_{name}", help_, value=float(value))
        yield CounterMetricFamily("solbot_feed_scheduler_batches", "Refresh batches dispatched",
                                  value=float(s.batches))
    if (u := st.universe) is not None:
        yield GaugeMetricFamily("solbot_feed_universe_tracked", "Tokens tracked", value=float(u.tracked))
        yield GaugeMetricFamily("solbot_feed_universe_candidates", "Discovered tokens waiting for a snapshot",
                                value=float(u.candidates))
        yield CounterMetricFamily("solbot_feed_universe_dropped", "Tokens dropped from tracking",
                                  value=float(u.dropped))
        rej = CounterMetricFamily("solbot_feed_universe_rejections", "Discovery filter rejections by rule",
                                  labels=["rule"])
        for rule, n in sorted(u.rejections.items()):
            rej.add_metric([rule], float(n))
        yield rej
    if (w := st.websocket) is not None:
        yield GaugeMetricFamily("solbot_feed_ws_connected", "1 while the Helius websocket is connected",
                                value=float(w.connected))
        yield GaugeMetricFamily("solbot_feed_ws_subscriptions", "Active websocket subscriptions",
                                value=float(w.subscriptions))
        yield CounterMetricFamily("solbot_feed_ws_reconnects", "Websocket reconnects", value=float(w.reconnects))
        errs = CounterMetricFamily("solbot_feed_ws_errors", "Websocket errors by kind", labels=["kind"])
        for kind, n in sorted(w.errors.items()):
            errs.add_metric([kind], float(n))
        yield errs
    if (r := st.replay) is not None:
        yield GaugeMetricFamily("solbot_feed_replay_bars", "Bars in the replayed dataset", value=float(r.bars_total))
        yield CounterMetricFamily("solbot_feed_replay_bars_served", "Bars handed to the engine by this run",
                                  value=float(r.bars_served))
        yield GaugeMetricFamily("solbot_feed_replay_exhausted", "1 when the replay has no more data",
                                value=float(r.exhausted))
        if r.last_bar_ts is not None:
            yield GaugeMetricFamily("solbot_feed_replay_last_bar_timestamp_seconds",
                                    "Time of the last bar handed out", value=float(r.last_bar_ts))


def _request_families(st: FeedStats) -> Iterator[Metric]:
    lab = ["source"]
    requests = CounterMetricFamily("solbot_feed_requests", "Feed HTTP attempts sent (retries included)", labels=lab)
    ok = CounterMetricFamily("solbot_feed_successes", "Feed requests that ended with a usable answer", labels=lab)
    retries = CounterMetricFamily("solbot_feed_retries", "Feed request retries", labels=lab)
    errors = CounterMetricFamily("solbot_feed_errors", "Failed feed attempts by kind", labels=["source", "kind"])
    items = CounterMetricFamily("solbot_feed_item_errors", "Items of a good answer that did not parse",
                                labels=["source", "item"])
    buckets = CounterMetricFamily("solbot_feed_bucket_requests", "Feed attempts by rate-limit bucket",
                                  labels=["source", "bucket"])
    latency = HistogramMetricFamily("solbot_feed_latency_seconds", "Feed HTTP request latency", labels=lab)
    breaker = GaugeMetricFamily("solbot_feed_breaker_state", "1 for the feed client's circuit breaker state",
                                labels=["source", "state"])
    for r in st.requests:
        requests.add_metric([r.source], float(r.requests))
        ok.add_metric([r.source], float(r.ok))
        retries.add_metric([r.source], float(r.retries))
        for kind, n in sorted(r.errors.items()):
            errors.add_metric([r.source, kind], float(n))
        for item, n in sorted(r.item_errors.items()):
            items.add_metric([r.source, item], float(n))
        for bucket, n in sorted(r.requests_by_bucket.items()):
            buckets.add_metric([r.source, bucket], float(n))
        _latency(latency, [r.source], r.latency)
        for state in BREAKER_STATES:
            breaker.add_metric([r.source, state], 1.0 if r.breaker == state else 0.0)
    yield from (requests, ok, retries, errors, items, buckets, latency, breaker)


def feed_health_families(health: Sequence[FeedHealth]) -> Iterator[Metric]:
    fresh = GaugeMetricFamily("solbot_feed_fresh", "1 when the source's data is fresh", labels=["source"])
    last = GaugeMetricFamily("solbot_feed_last_ok_timestamp_seconds", "Last time the source answered",
                             labels=["source"])
    for h in health:
        fresh.add_metric([h.source], 1.0 if h.fresh else 0.0)
        if h.last_ok_ts is not None:
            last.add_metric([h.source], float(h.last_ok_ts))
    yield from (fresh, last)


def rpc_families(st: PoolStats) -> Iterator[Metric]:
    """Every ``solbot_rpc_*`` family for one pool snapshot."""
    lab = ["endpoint"]
    info = GaugeMetricFamily("solbot_rpc_endpoint_info", "RPC endpoints, their role and provider",
                             labels=["endpoint", "role", "provider"])
    requests = CounterMetricFamily("solbot_rpc_requests", "RPC requests per endpoint", labels=lab)
    errors = CounterMetricFamily("solbot_rpc_errors", "Failed RPC requests per endpoint by kind",
                                 labels=["endpoint", "kind"])
    latency = HistogramMetricFamily("solbot_rpc_latency_seconds", "RPC request latency per endpoint", labels=lab)
    ewma = GaugeMetricFamily("solbot_rpc_latency_ewma_seconds", "Latency EWMA the pool ranks endpoints by",
                             labels=lab)
    healthy = GaugeMetricFamily("solbot_rpc_healthy", "1 when the endpoint is healthy", labels=lab)
    breaker = GaugeMetricFamily("solbot_rpc_breaker_open", "1 while the endpoint's breaker is open", labels=lab)
    slot = GaugeMetricFamily("solbot_rpc_slot", "Last slot the endpoint reported", labels=lab)
    lag = GaugeMetricFamily("solbot_rpc_slot_lag", "Slots behind the best endpoint", labels=lab)
    cooldown = GaugeMetricFamily("solbot_rpc_rate_limited_seconds", "Seconds the endpoint is still paused by a 429",
                                 labels=lab)
    for e in st.endpoints:
        ep = [e.label]
        info.add_metric([e.label, e.role, e.provider], 1.0)
        requests.add_metric(ep, float(e.requests))
        for kind, n in sorted(e.errors.items()):
            errors.add_metric([e.label, str(kind)], float(n))
        latency.add_metric(ep, _histogram_buckets(e.latency_buckets, 1e-3), e.latency_sum_ms / 1000.0)
        if e.latency_ewma_ms is not None:
            ewma.add_metric(ep, e.latency_ewma_ms / 1000.0)
        healthy.add_metric(ep, 1.0 if e.health == "healthy" else 0.0)
        breaker.add_metric(ep, 1.0 if e.breaker_open else 0.0)
        if e.slot is not None:
            slot.add_metric(ep, float(e.slot))
        if e.slot_lag is not None:
            lag.add_metric(ep, float(e.slot_lag))
        cooldown.add_metric(ep, e.rate_limited_for_s)
    yield from (info, requests, errors, latency, ewma, healthy, breaker, slot, lag, cooldown)
    healthy_n = GaugeMetricFamily("solbot_rpc_healthy_endpoints", "Healthy endpoints by role", labels=["role"])
    healthy_n.add_metric(["read"], float(st.healthy_read))
    healthy_n.add_metric(["send"], float(st.healthy_send))
    yield healthy_n
    if st.best_slot is not None:
        yield GaugeMetricFamily("solbot_rpc_best_slot", "Highest slot any endpoint reported", value=float(st.best_slot))


def _quantiles(fam: GaugeMetricFamily, labels: list[str], d: Dist, scale: float = 1.0) -> None:
    for q, v in (("0.5", d.p50), ("0.95", d.p95)):
        if v is not None:
            fam.add_metric([*labels, q], v * scale)


def execution_families(s: ExecutionSummary) -> Iterator[Metric]:
    """Every ``solbot_execution_*`` family for one summary of recent fills."""
    fills = GaugeMetricFamily("solbot_execution_fills", "Recent fills with execution quality, by send path",
                              labels=["path"])
    for path, n in sorted(s.by_path.items()):
        fills.add_metric([path], float(n))
    slip = GaugeMetricFamily("solbot_execution_slippage_bps",
                             "Realised slippage of recent fills in bps (positive = worse than expected)",
                             labels=["against", "quantile"])
    _quantiles(slip, ["quote"], s.slippage_vs_quote_bps)
    _quantiles(slip, ["decision"], s.slippage_vs_decision_bps)
    latency = GaugeMetricFamily("solbot_execution_latency_seconds", "Latency of recent live fills",
                                labels=["span", "quantile"])
    _quantiles(latency, ["quote_to_landed"], s.quote_to_landed_ms, 1e-3)
    _quantiles(latency, ["sent_to_landed"], s.sent_to_landed_ms, 1e-3)
    cost = GaugeMetricFamily("solbot_execution_cost_fraction",
                             "Network fee + tip of recent fills as a fraction of the trade's size",
                             labels=["quantile"])
    _quantiles(cost, [], s.cost_fraction)
    yield from (fills, slip, latency, cost)
    if s.cost_fraction.mean is not None:
        yield GaugeMetricFamily("solbot_execution_cost_fraction_mean", "Mean send cost per trade as a fraction "
                                "of its size", value=s.cost_fraction.mean)
    paid = GaugeMetricFamily("solbot_execution_paid_lamports", "Fees and tips paid by recent fills",
                             labels=["kind"])
    paid.add_metric(["network_fee"], float(s.network_fee_lamports))
    paid.add_metric(["priority_fee"], float(s.priority_fee_lamports))
    paid.add_metric(["tip"], float(s.tip_lamports))
    yield paid
    if s.landing is not None:
        sent = GaugeMetricFamily("solbot_execution_sent_intents", "Intents whose transaction was sent, by outcome",
                                 labels=["outcome"])
        sent.add_metric(["landed"], float(s.landing.landed))
        sent.add_metric(["expired"], float(s.landing.expired))
        sent.add_metric(["pending"], float(s.landing.pending))
        yield sent
        if s.landing_rate is not None:
            yield GaugeMetricFamily("solbot_execution_landing_rate", "Landed / (landed + expired) of sent intents",
                                    value=s.landing_rate)


def jito_families(st: JitoStats) -> Iterator[Metric]:
    """Every ``solbot_jito_*`` family for the block engine client."""
    state = GaugeMetricFamily("solbot_jito_state", "1 for the block engine's state", labels=["engine", "state"])
    for name in ("ok", "rate_limited", "down"):
        state.add_metric([st.label, name], 1.0 if st.state == name else 0.0)
    requests = CounterMetricFamily("solbot_jito_requests", "Block engine requests by method", labels=["method"])
    for method, n in sorted(st.requests.items()):
        requests.add_metric([method], float(n))
    errors = CounterMetricFamily("solbot_jito_errors", "Block engine failures by kind", labels=["kind"])
    for kind, n in sorted(st.errors.items()):
        errors.add_metric([kind], float(n))
    yield from (state, requests, errors)
    yield CounterMetricFamily("solbot_jito_bundles_accepted", "Bundles the block engine accepted",
                              value=float(st.bundles_accepted))
    yield GaugeMetricFamily("solbot_jito_rate_limited_seconds", "Seconds the block engine is still paused by a 429",
                            value=st.rate_limited_for_s)


class _SnapshotCollector(Collector):
    def __init__(self) -> None:
        self.feeds: Callable[[], FeedStats] | None = None
        self.feed_health: Callable[[], Sequence[FeedHealth]] | None = None
        self.rpc: Callable[[], PoolStats] | None = None
        self.status: StatusSource | None = None
        self.execution: Callable[[], ExecutionSummary | None] | None = None
        self.jito: Callable[[], JitoStats] | None = None
        self.gauges: list[tuple[str, str, Callable[[], float]]] = []

    def collect(self) -> Iterator[Metric]:
        if self.feeds is not None:
            yield from self._guard("feeds", lambda f=self.feeds: feed_families(f()))
        if self.feed_health is not None:
            yield from self._guard("feed health", lambda f=self.feed_health: feed_health_families(f()))
        if self.rpc is not None:
            yield from self._guard("rpc", lambda f=self.rpc: rpc_families(f()))
        yield from self._guard("status", self._status)
        if self.execution is not None:
            yield from self._guard("execution", lambda f=self.execution: self._execution(f()))
        if self.jito is not None:
            yield from self._guard("jito", lambda f=self.jito: jito_families(f()))
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
        regime = GaugeMetricFamily("solbot_market_regime", "1 for the market-wide regime of the last cycle",
                                   labels=["regime"])
        for name in (*REGIMES, *([s.market_regime] if s.market_regime not in REGIMES else [])):
            regime.add_metric([name], 1.0 if s.market_regime == name else 0.0)
        yield regime
        yield GaugeMetricFamily("solbot_market_regime_confidence", "Confidence in the market regime, 0..1",
                                value=s.market_regime_confidence)
        if s.equity_peak_sol is not None:
            yield GaugeMetricFamily("solbot_equity_peak_sol", "The book's high-water mark in SOL (the "
                                    "max_drawdown breaker measures from it)", value=s.equity_peak_sol)
        yield CounterMetricFamily("solbot_cycles", "Engine cycles run since start", value=float(s.cycles))
        if s.last_cycle_seconds is not None:
            yield GaugeMetricFamily("solbot_last_cycle_seconds", "Duration of the last engine cycle",
                                    value=s.last_cycle_seconds)
        if s.last_cycle_ts is not None:
            yield GaugeMetricFamily("solbot_last_cycle_timestamp_seconds",
                                    "Engine clock time of the last cycle", value=float(s.last_cycle_ts))

    @staticmethod
    def _execution(s: ExecutionSummary | None) -> Iterator[Metric]:
        return iter(()) if s is None else execution_families(s)

    @staticmethod
    def _gauge(name: str, help_: str, fn: Callable[[], float]) -> Iterator[Metric]:
        if name.endswith("_total"):
            yield CounterMetricFamily(name.removesuffix("_total"), help_, value=float(fn()))
        else:
            yield GaugeMetricFamily(name, help_, value=float(fn()))


class Metrics:
    def __init__(self, cfg: HealthConfig, *, mode: str = "paper", proc: str = "/proc") -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        register_process_metrics(self.registry, mode=mode, proc=proc)
        self.cycle_seconds = Histogram(
            "solbot_cycle_seconds", "Duration of one engine cycle",
            buckets=list(cfg.cycle_latency_buckets_seconds), registry=self.registry)
        self.trades = Counter("solbot_trades", "Fills recorded by the engine", ["side"],
                              registry=self.registry)
        for side in ("buy", "sell"):  # exported as 0 from the start, so rate() has a first point
            self.trades.labels(side=side)
        self._snap = _SnapshotCollector()
        self.registry.register(self._snap)

    def observe_cycle(self, seconds: float) -> None:
        self.cycle_seconds.observe(seconds)

    def record_trade(self, side: str) -> None:
        self.trades.labels(side=side).inc()

    def register_feed_stats(self, fn: Callable[[], FeedStats]) -> None:
        self._snap.feeds = fn

    def register_feed_health(self, fn: Callable[[], Sequence[FeedHealth]]) -> None:
        self._snap.feed_health = fn

    def register_rpc_stats(self, fn: Callable[[], PoolStats]) -> None:
        self._snap.rpc = fn

    def register_status(self, source: StatusSource) -> None:
        self._snap.status = source

    def register_execution(self, fn: Callable[[], ExecutionSummary | None]) -> None:
        self._snap.execution = fn

    def register_jito_stats(self, fn: Callable[[], JitoStats]) -> None:
        self._snap.jito = fn

    def register_gauge(self, name: str, help_: str, fn: Callable[[], float]) -> None:
        self._snap.gauges = [g for g in self._snap.gauges if g[0] != name]
        self._snap.gauges.append((name, help_, fn))

    def render(self) -> bytes:
        return generate_latest(self.registry)
