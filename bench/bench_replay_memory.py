"""Memory of a paper replay of 1,000 tokens: `solbot run` on a replay feed, its RSS sampled from /proc.

    .venv/bin/python bench/bench_replay_memory.py [--tokens 1000] [--hours 16] [--seed 2718] [--data FILE]

The market: ``bot.feeds.simulator.simulate`` (seed 2718, used by no test), 1,000 tokens x 16 h of
one-minute candles with every column the simulator writes, written as a Parquet dataset by a child
process (or ``--data`` names one). The bot: ``solbot run`` with the shipped config in paper mode,
``[feeds] source = "replay"`` on that file with ``replay_seconds_per_bar = 0`` (as fast as it
cycles), its ledger in a temporary directory, Telegram and the HTTP server off. The replay reads
the file by time slice (``bot.feeds.replay_source``), the market state holds ``window_bars`` per
token in ring buffers (``bot.market.state``).

Sampled every 0.25 s until the feed says it has no more data: the process's resident set
(``VmRSS``); then its peak (``VmHWM``, the kernel's high-water mark). Steady RSS is the median of the
samples taken once the market window is full (after ``window_bars`` cycles) until the end. Targets
(issue 13): steady <= 250 MB, peak <= 350 MB. Other processes share the CPUs: the load average is
printed; it changes the run's duration, not its memory.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SEED = 2718
STEADY_TARGET_MB, PEAK_TARGET_MB = 250.0, 350.0


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of a process, in MB."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0]) / 1024
    return out


def make_config(tmp: Path, data: Path) -> Path:
    text = (ROOT / "config" / "trading.toml").read_text()
    for old, new in (('source = "live"', 'source = "replay"'), ('replay_path = ""', f'replay_path = "{data}"'),
                     ("replay_seconds_per_bar = 0.5", "replay_seconds_per_bar = 0.0"),
                     ('path = "data/solbot.sqlite3"', f'path = "{tmp / "ledger.sqlite3"}"'),
                     ("port = 8080", "port = 0"), ("enabled = true ", "enabled = false ")):
        if old not in text:
            raise SystemExit(f"config/trading.toml has no {old!r}: the bench's overrides need updating")
        text = text.replace(old, new, 1)
    p = tmp / "trading.toml"
    p.write_text(text)
    return p


def generate(path: Path, tokens: int, hours: float, seed: int) -> None:
    code = ("import sys; from bot.feeds.simulator import simulate; from bot.dataset import write_dataset; "
            "write_dataset(simulate(int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])).frame, sys.argv[4])")
    subprocess.run([sys.executable, "-c", code, str(tokens), str(hours), str(seed), str(path)], cwd=ROOT, check=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=16.0)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument("--data", type=Path, default=None, help="replay this dataset instead of generating one")
    ap.add_argument("--timeout", type=float, default=1800.0, help="give up after this many seconds")
    args = ap.parse_args()
    from bot.config import load_config

    window = load_config(ROOT / "config" / "trading.toml").config.market.window_bars
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = args.data
        if data is None:
            data = tmp / "market.parquet"
            t = time.perf_counter()
            generate(data, args.tokens, args.hours, args.seed)
            print(f"generated {args.tokens} tokens x {args.hours:g} h (seed {args.seed}) in "
                  f"{time.perf_counter() - t:.0f} s -> {data.stat().st_size / 1e6:.0f} MB of Parquet")
        cfg = make_config(tmp, data)
        print(f"{os.cpu_count()} CPUs; load average {_load()}; window_bars {window}")
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(cfg), "run"], cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        done = threading.Event()
        cycles = [0]

        def read() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                if '"cycle"' in line or "cycle " in line:
                    cycles[0] += 1
                if "has no more data" in line:
                    done.set()
            done.set()

        threading.Thread(target=read, daemon=True).start()
        samples: list[tuple[float, int, float]] = []  # (seconds, cycles seen, RSS MB)
        peak = 0.0
        try:
            while not done.wait(0.25):
                if proc.poll() is not None or time.perf_counter() - t0 > args.timeout:
                    break
                st = _status(proc.pid)
                samples.append((time.perf_counter() - t0, cycles[0], st["VmRSS"]))
                peak = max(peak, st["VmHWM"])
            if proc.poll() is None:
                peak = max(peak, _status(proc.pid)["VmHWM"])
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
        elapsed = time.perf_counter() - t0
        if not done.is_set() or not samples:
            raise SystemExit(f"the replay did not finish (exit status {proc.returncode}, {elapsed:.0f} s)")
    steady = [rss for _, c, rss in samples if c >= window]
    if not steady:
        raise SystemExit("the replay ended before the market window filled; use more --hours")
    median = statistics.median(steady)
    print(f"solbot run (paper, replay of {args.tokens} tokens): {cycles[0]} cycles in {elapsed:.0f} s, "
          f"{len(samples)} RSS samples; load average {_load()}")
    print(f"RSS: start-up {samples[0][2]:.0f} MB, steady (median once {window} bars are held) {median:.0f} MB "
          f"(min {min(steady):.0f}, max {max(steady):.0f}), peak {peak:.0f} MB")
    marks, timeline = list(range(100, cycles[0] + 1, max(100, cycles[0] // 10 // 100 * 100))), []
    for mark in marks:
        got = next((rss for _, c, rss in samples if c >= mark), None)
        if got is not None:
            timeline.append(f"{mark}: {got:.0f}")
    print("RSS by cycle (MB): " + ", ".join(timeline))
    print(f"targets: steady <= {STEADY_TARGET_MB:.0f} MB {'met' if median <= STEADY_TARGET_MB else 'NOT met'}, "
          f"peak <= {PEAK_TARGET_MB:.0f} MB {'met' if peak <= PEAK_TARGET_MB else 'NOT met'}")


if __name__ == "__main__":
    main()
