"""What every strategy shares: the ``Strategy`` protocol and safe construction of votes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from strategies.stream.state import Needs, StreamState
from strategies.types import Inputs, MarketView, Reasons, StrategyVotes

NO_SIGNAL = "no signal"

#: ``np.clip(x, lo, hi)`` for float ``x`` and bounds: the ufunc it ends in, called directly (the same
#: values, without the Python dispatch of ``np.clip`` that costs more than clipping 200 floats).
clip = np._core.umath.clip


class Strategy(Protocol):
    """A strategy has two implementations of the same votes: ``evaluate`` recomputes everything
    from the view (the full-window reference), ``stream_votes`` reads the state the incremental
    path carries bar by bar (``strategies.stream``), after ``needs`` said what to carry."""

    name: str
    inputs: Inputs  # the market columns it reads (see ``Inputs``)

    def evaluate(self, view: MarketView) -> StrategyVotes:
        """One call for all tokens; votes aligned with ``view.mints``."""
        ...

    def needs(self, need: Needs) -> None:
        """Declare what the incremental state must carry for ``stream_votes``."""
        ...

    def stream_votes(self, st: StreamState, view: MarketView) -> StrategyVotes:
        """The votes ``evaluate(view)`` gives, from the incremental state (rows follow ``view.mints``)."""
        ...


def make_votes(name: str, score: np.ndarray, confidence: np.ndarray,
               reason: Callable[[int], str], abstain_reason: np.ndarray | Callable[[int], int] | None = None,
               abstain_text: tuple[str, ...] = ()) -> StrategyVotes:
    """Votes with every score in [-1, 1] and confidence in [0, 1]; NaN/inf become an abstention
    (0, 0). ``reason(i)`` is called only for tokens that vote; abstaining tokens get
    ``abstain_text[abstain_reason[i]]`` (or ``"no signal"``; ``abstain_reason`` may be a function
    of the token giving that index). Reasons are formatted lazily, on first access (see
    ``Reasons``): ``reason`` must read only per-token arrays that are not mutated afterwards (it is
    kept with the votes, so it should not hold whole candle panels)."""
    score = np.asarray(score, dtype=np.float64)
    confidence = np.asarray(confidence, dtype=np.float64)
    # a token votes where both are finite, the clipped score is not 0 and the clipped confidence is
    # positive (clipping keeps NaN and maps inf to a bound, so finiteness is tested on the inputs)
    s = clip(score, -1.0, 1.0)
    c = clip(confidence, 0.0, 1.0)
    voting = s != 0
    voting &= c > 0
    voting &= np.isfinite(score)
    voting &= np.isfinite(confidence)
    s = np.where(voting, s, 0.0)
    c = np.where(voting, c, 0.0)
    # per-token reads happen only when a reason is formatted (a few per cycle)
    if abstain_reason is not None and abstain_text:
        if callable(abstain_reason):
            code = abstain_reason

            def text(i: int) -> str:
                return reason(i) if voting[i] else abstain_text[int(code(i))]
        else:
            why = np.asarray(abstain_reason)

            def text(i: int) -> str:
                return reason(i) if voting[i] else abstain_text[int(why[i])]
    else:
        def text(i: int) -> str:
            return reason(i) if voting[i] else NO_SIGNAL
    return StrategyVotes(name, s, c, Reasons(s.shape[0], text))


def abstain(name: str, n: int, texts: tuple[str, ...] = ("too little history",), code: int = 0) -> StrategyVotes:
    """Every token abstains for ``texts[code]``."""
    return make_votes(name, np.zeros(n), np.zeros(n), str, np.full(n, code), texts)


def last(a: np.ndarray) -> np.ndarray:
    """The last bar of each row (NaN for an empty panel)."""
    return a[:, -1] if a.shape[1] else np.full(a.shape[0], np.nan)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` with 0 where ``den`` is 0 or not finite."""
    ok = np.isfinite(den)
    ok &= den != 0
    if isinstance(num, np.ndarray) and isinstance(den, np.ndarray) and num.shape == den.shape:
        out = np.zeros(den.shape)  # divided only where ``ok``: no warning, 0 elsewhere
        return np.divide(num, den, out=out, where=ok)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, num / np.where(ok, den, 1.0), 0.0)


def lag(a: np.ndarray, k: int) -> np.ndarray:
    """Value ``k`` bars before the last (NaN when the row is shorter)."""
    if a.shape[1] <= k:
        return np.full(a.shape[0], np.nan)
    return a[:, -1 - k]
