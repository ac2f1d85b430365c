"""``solbot simulate --out FILE``: generate a synthetic market dataset.

One-minute bars of ``--tokens`` tokens over ``--hours`` hours from the stochastic DEX-token model
(pumps, rugs, regimes), in the dataset schema ``solbot backtest`` and ``[feeds] source = "replay"``
read; ``--events`` also writes the ground truth. Same seed, same dataset. No network, no ledger,
nothing paper- or live-specific.

Exit status: 0 when the dataset was written; 2 for bad arguments or an unwritable output path.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.dataset import write_dataset
from bot.errors import OperatorError
from bot.feeds.simulator import simulate

NAME = "simulate"
HELP = "generate a synthetic market dataset (Parquet) from the stochastic DEX-token model"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, type=Path, help="output .parquet path")
    p.add_argument("--tokens", type=int, default=50, help="number of tokens (default 50)")
    p.add_argument("--hours", type=float, default=24.0, help="hours of one-minute bars (default 24)")
    p.add_argument("--seed", type=int, default=1, help="random seed; same seed, same dataset (default 1)")
    p.add_argument("--events", type=Path, default=None,
                   help="also write the ground-truth event log (pumps, rugs, regimes...) to this .parquet")


def run(args: argparse.Namespace) -> int:
    if args.tokens < 1:
        raise OperatorError(f"--tokens must be >= 1, got {args.tokens}")
    if not args.hours > 0:
        raise OperatorError(f"--hours must be > 0, got {args.hours}")
    result = simulate(args.tokens, args.hours, args.seed)
    try:
        write_dataset(result.frame, args.out)
        if args.events:
            args.events.parent.mkdir(parents=True, exist_ok=True)
            result.events.write_parquet(args.events)
    except OSError as exc:
        raise OperatorError(f"cannot write {args.out}: {exc.strerror}") from None
    kinds = result.events.group_by("kind").len().sort("kind")
    summary = ", ".join(f"{k}={n}" for k, n in kinds.iter_rows())
    print(f"wrote {result.frame.height} rows ({args.tokens} tokens x {args.hours:g} h, seed {args.seed}) "
          f"to {args.out}\nevents: {summary}")
    return 0
