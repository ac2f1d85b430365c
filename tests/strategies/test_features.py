"""Gap cleaning is per value: what a bar becomes depends on that token's own earlier bars only."""

from __future__ import annotations

import numpy as np

from strategies.features import Clean
from tests.strategies.paths import panel

NAN = np.nan


def test_levels_carry_and_flows_zero_after_the_first_bar_whatever_the_other_tokens() -> None:
    close = np.array([[NAN, NAN, NAN, 1.0, 2.0, 3.0, 4.0, 5.0],
                      [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    alt = np.array([[9.0, 9.5, 9.6, 9.7, NAN, 9.9, 9.9, 9.9],  # a level known before the close
                    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    vol = np.array([[1.0, 1.0, 1.0, 1.0, NAN, 1.0, 1.0, 1.0],  # one NaN, fewer than bars before the first
                    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]])
    c = Clean(panel({"close": close, "alt_close": alt, "volume_usd": vol}))
    assert c["alt_close"][0, 4] == 9.7  # carried, although the row has fewer NaN than leading bars
    assert c["volume_usd"][0, 4] == 0.0  # after the token's first bar: nothing traded
    assert c["volume_usd"][0, 0] == 1.0 and np.isnan(c.close[0, :3]).all()
    np.testing.assert_array_equal(c["alt_close"][1], alt[1])
