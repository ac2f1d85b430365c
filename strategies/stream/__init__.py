"""The incremental decision path: every token's indicators carried from bar to bar.

``state.StreamState`` holds, one row per token (in the view's order), the cleaned one-minute bars
in rings, their coarser resamples (updated when a bucket closes), and the recursive indicators
(EMA, Wilder RSI/ATR/ADX: O(1) per bar) and rolling statistics the strategies and the regime
declare (``Needs``). ``decider.Incremental`` moves it one bar per cycle and lets the strategies vote
from it; ``decider.FullWindow`` is the reference that recomputes everything from the view.
Each carried value repeats its full-window computation's arithmetic, so both paths agree bit for
bit when the reference sees the whole history the state was built from (tests/strategies).
"""
