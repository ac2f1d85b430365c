"""``solbot run``: the long-running bot process.

Start-up order matters for money safety: the config is validated and the ledger lock taken
before anything connects anywhere; the executor resolves unfinished intents from a previous run
before the engine may trade; only then does the engine start cycling.

Signals: SIGTERM/SIGINT stop cleanly (the cycle in progress finishes, so an order in flight is
either completed or left journaled; the engine checkpoints its learned and breaker state, so a
stop loses no learning; the ledger is closed; exit code 0). SIGHUP re-reads the
config and applies the hot-reloadable sections.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.clock import WallClock
from bot.config import Config, ConfigError, LoadedConfig, Secrets, load_config, plan_reload
from bot.control import ControlQueue
from bot.engine import CycleReport, Engine, EngineEvent, EventKind
from bot.errors import MissingDependencyError, OperatorError
from bot.ledger import Ledger
from bot.ops.alerts import Alert, AlertBus, AlertFanout, AlertKind, Severity, event_sink
from bot.ops.control_socket import ControlServer, socket_path
from bot.ops.engine_status import EngineStatus
from bot.ops.health import HealthServer
from bot.ops.metrics import Metrics
from bot.ops.operator import About, OperatorCommands
from bot.ops.reports import LedgerReports
from bot.ops.sdnotify import Notifier
from bot.ops.status import Heartbeat
from bot.ops.telegram import service_class as telegram_service_class
from bot.wiring import build_engine, build_executor, build_feed, recover_intents
from strategies.registry import build_strategies

if TYPE_CHECKING:
    from bot.ops.webhook import WebhookSink

log = logging.getLogger("solbot.run")

_EVENT_LEVELS = (logging.INFO, logging.WARNING, logging.ERROR)  # by Severity.rank


def cycle_line(report: CycleReport, engine: Engine) -> str:
    """One log line per cycle: what was looked at, who voted, what was decided and done."""
    voting = [v for v in engine.last_votes if ((v.score != 0) & (v.confidence > 0)).any()]
    n_votes = sum(int(((v.score != 0) & (v.confidence > 0)).sum()) for v in voting)
    actions = [str(d.action) for d in engine.last_decisions]
    return (f"cycle {engine.cycles}: {report.tokens} token(s) with enough history, {n_votes} vote(s) from "
            f"{len(voting)} strateg{'y' if len(voting) == 1 else 'ies'}, {actions.count('buy')} buy / "
            f"{actions.count('sell')} sell decision(s); {report.entries} entered, {report.exits} exited, "
            f"{report.rejections} rejected")


def _webhook_class(cfg: Config) -> type[WebhookSink] | None:
    """The webhook sink's class when ``[webhook] enabled`` (its module, with httpx, imported now)."""
    if not cfg.webhook.enabled:
        return None
    try:
        from bot.ops.webhook import WebhookSink
    except ImportError as exc:
        raise MissingDependencyError("the alert webhook ([webhook] enabled = true)", "httpx", exc,
                                     "set [webhook] enabled = false") from exc
    return WebhookSink


@dataclass
class Runner:
    loaded: LoadedConfig
    secrets: Secrets
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _reload_requested: bool = False

    async def run(self, *, on_ready: Callable[[Runner], None] | None = None) -> int:
        cfg = self.loaded.config
        # Optional features' packages are imported only when configured, and here, before anything
        # is locked or connected: a configured feature whose package is missing stops the start.
        telegram_cls = telegram_service_class(cfg.telegram, self.secrets)
        webhook_cls = _webhook_class(cfg)
        wall = WallClock()
        ledger = Ledger.open(cfg.ledger.path, wall.now, lock=True)
        self.ledger = ledger
        closers: list[Callable[[], Any]] = []
        notifier = Notifier()
        try:
            ledger.record_config("start", self.loaded.sha256, self.loaded.text)
            held: set[str] = {p.mint for p in ledger.open_positions()}  # kept current after each cycle
            feed, clock = build_feed(cfg, self.secrets, ledger, lambda: held)
            ledger.use_clock(clock.now)  # ledger timestamps follow the engine's clock
            side = await build_executor(cfg, self.secrets, ledger, clock)
            executor, rpc_health, rpc_stats = side.executor, side.rpc_health, side.rpc_stats
            closers.append(executor.aclose)
            for line in await recover_intents(executor, ledger, cfg.market.sol_usd_fallback):
                log.warning("start-up recovery: %s", line)
            await feed.start()
            closers.append(feed.aclose)

            alerts = AlertBus(cfg.alerts)  # Telegram's
            self.alerts = alerts
            url = self.secrets.alert_webhook_url
            webhook = None if webhook_cls is None else webhook_cls.from_config(cfg.webhook, cfg.alerts, url.get_secret_value() if url else None,
                                              mode=cfg.environment.execution_mode, secrets=self.secrets.values())
            self.webhook = webhook
            if webhook is not None:
                await webhook.start()
                closers.append(webhook.stop)
            publish = AlertFanout(alerts, *([webhook] if webhook is not None else []))
            control = ControlQueue(cfg.telegram.command_queue_size)
            heartbeat = Heartbeat()
            metrics = Metrics(cfg.health, mode=cfg.environment.execution_mode)

            def beat() -> None:
                heartbeat.beat(time.monotonic())
                notifier.watchdog()

            sink = event_sink(publish, time.monotonic)

            def on_event(ev: EngineEvent) -> None:
                sink(ev)
                # in the log too: without Telegram this is where trades and breakers show up
                log.log(_EVENT_LEVELS[ev.severity.rank], "%s", ev.text, extra={"event": str(ev.kind)})
                if ev.kind in (EventKind.TRADE_OPENED, EventKind.TRADE_CLOSED, EventKind.TRADE_REDUCED):
                    metrics.record_trade("buy" if ev.kind is EventKind.TRADE_OPENED else "sell")

            status_box: dict[str, EngineStatus] = {}
            # An RPC pool that does not answer at start was said once by the wiring (log); the
            # alert sinks hear it here, and the cycles report only changes from this state.
            rpc_ok = rpc_health is None or rpc_health()[0] >= 1
            feed_state = {"fresh": True, "rpc_ok": rpc_ok}
            if not rpc_ok and rpc_health is not None:
                sink(EngineEvent(EventKind.RPC_DEGRADED, Severity.CRITICAL,
                                 f"RPC pool unreachable at start: 0/{rpc_health()[1]} endpoint(s) healthy"))

            async def after_cycle(report: CycleReport) -> None:
                metrics.observe_cycle(report.seconds)
                log.info("%s", cycle_line(report, engine), extra={"cycle": engine.cycles})
                await status_box["status"].refresh()
                held.clear()
                held.update(p.mint for p in status_box["status"].positions())
                fresh = all(h.fresh for h in feed.health(clock.now()))
                if fresh != feed_state["fresh"]:
                    feed_state["fresh"] = fresh
                    on_event(EngineEvent(EventKind.FEEDS_RECOVERED if fresh else EventKind.FEEDS_STALE,
                                         Severity.INFO if fresh else Severity.WARNING,
                                         "feeds recovered" if fresh else "feeds are stale: " + "; ".join(
                                             f"{h.source}: {h.detail}" for h in feed.health(clock.now())
                                             if not h.fresh)))
                if rpc_health is not None:
                    healthy, total = rpc_health()
                    ok = healthy >= 1
                    if ok != feed_state["rpc_ok"]:
                        feed_state["rpc_ok"] = ok
                        on_event(EngineEvent(EventKind.RPC_RECOVERED if ok else EventKind.RPC_DEGRADED,
                                             Severity.INFO if ok else Severity.CRITICAL,
                                             f"RPC pool {'recovered' if ok else 'degraded'}: "
                                             f"{healthy}/{total} endpoint(s) healthy"))
                if self._reload_requested:
                    self._reload_requested = False
                    self._reload(engine)

            engine = build_engine(cfg, clock=clock, feed=feed, executor=executor, ledger=ledger,
                                  rpc_healthy=(lambda: True) if rpc_health is None else (lambda: rpc_health()[0] >= 1),
                                  on_event=on_event,
                                  heartbeat=beat, commands=control, after_cycle=after_cycle,
                                  chain_safety=side.chain_safety)
            self.engine = engine
            status = EngineStatus(engine, feed, mode=cfg.environment.execution_mode, heartbeat=heartbeat,
                                  rpc_health=rpc_health, started_at=wall.now(), rpc_stats=rpc_stats)
            status_box["status"] = status
            metrics.register_status(status)
            metrics.register_feed_stats(feed.stats)
            metrics.register_feed_health(lambda: feed.health(clock.now()))
            if rpc_stats is not None:
                metrics.register_rpc_stats(rpc_stats)
            metrics.register_execution(status.execution_quality)
            if side.jito_stats is not None:
                metrics.register_jito_stats(side.jito_stats)

            metrics.register_gauge("solbot_telegram_queue_depth", "alerts waiting for Telegram",
                                   lambda: float(alerts.depth))
            metrics.register_gauge("solbot_alerts_dropped_total", "alerts dropped because the queue was full",
                                   lambda: float(alerts.dropped))
            if webhook is not None:
                metrics.register_gauge("solbot_webhook_queue_depth", "alerts waiting for the webhook",
                                       lambda: float(webhook.bus.depth))
                metrics.register_gauge("solbot_webhook_sent_total", "alerts the webhook delivered",
                                       lambda: float(webhook.sent))
                metrics.register_gauge("solbot_webhook_failed_total", "alerts the webhook gave up on",
                                       lambda: float(webhook.failed))
            health = HealthServer(cfg.health, status, metrics)
            try:
                await health.start()
            except OSError as exc:
                raise OperatorError(f"health server cannot listen on {cfg.health.host}:{cfg.health.port} "
                                    f"({exc.strerror}); is another solbot running? Change [health] port") from None
            closers.append(health.stop)
            self.health = health
            commands = OperatorCommands(status, control, confirm_timeout_seconds=cfg.telegram.confirm_timeout_seconds,
                                        trades_shown=cfg.telegram.trades_shown,
                                        reports=LedgerReports(ledger, clock.now, cfg.engine.cycle_seconds),
                                        about=About(feed=feed.name))
            control_socket = ControlServer(socket_path(cfg.ledger.path), commands,
                                           idle_timeout_seconds=cfg.telegram.confirm_timeout_seconds)
            try:
                await control_socket.start()
            except OSError as exc:
                raise OperatorError(f"control socket {control_socket.path} cannot be created "
                                    f"({exc.strerror or exc}); the ledger's directory must be writable") from None
            closers.append(control_socket.stop)
            telegram = None if telegram_cls is None else telegram_cls.from_config(
                cfg.telegram, self.secrets, status, control, alerts, commands=commands)
            if telegram is not None:
                await telegram.start()
                closers.append(telegram.stop)

            self._install_signals()
            await status.refresh()
            beat()
            notifier.ready(f"solbot {cfg.environment.execution_mode} on {feed.name}")
            publish.publish(Alert(Severity.INFO, AlertKind.STARTED,
                                  f"solbot started ({cfg.environment.execution_mode}, {feed.name})"), time.monotonic())
            log.info("solbot running: mode=%s feed=%s ledger=%s health=%s:%s", cfg.environment.execution_mode,
                     feed.name, cfg.ledger.path, cfg.health.host, health.port)
            if on_ready is not None:
                on_ready(self)
            await engine.run(self.stop)  # returns after its last cycle and the stop checkpoint
            log.info("stopping: engine loop finished its last cycle; learned state checkpointed at %s",
                     engine.last_checkpoint)
            notifier.stopping("solbot stopping")
            publish.publish(Alert(Severity.INFO, AlertKind.STOPPED, "solbot stopped"), time.monotonic())
            return 0
        finally:
            for close in reversed(closers):
                with contextlib.suppress(Exception):
                    await close()
            notifier.close()
            ledger.close()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_hup)

    def _on_stop(self, sig: signal.Signals) -> None:
        log.info("received %s: finishing the current cycle, then stopping", sig.name)
        self.stop.set()

    def _on_hup(self) -> None:
        log.info("received SIGHUP: the config will be re-read after the current cycle")
        self._reload_requested = True

    def _reload(self, engine: Engine) -> None:
        path = self.loaded.path
        try:
            new = load_config(path)
        except ConfigError as exc:
            for line in exc.lines:
                log.error("reload rejected, running config kept: %s", line)
            return
        plan = plan_reload(self.loaded.config, new.config)
        engine.reconfigure(plan.effective, build_strategies(plan.effective.strategies))
        self.alerts.reconfigure(plan.effective.alerts)
        if self.webhook is not None:
            self.webhook.reconfigure(plan.effective.alerts)
        self.loaded = LoadedConfig(plan.effective, path, new.text, new.sha256)
        self.ledger.record_config("reload", new.sha256, new.text, plan.applied, plan.pending_restart)
        log.info("reload applied %d key(s): %s", len(plan.applied), ", ".join(plan.applied) or "none")
        if plan.pending_restart:
            log.warning("reload: %d key(s) need a restart and were NOT applied: %s",
                        len(plan.pending_restart), ", ".join(plan.pending_restart))
