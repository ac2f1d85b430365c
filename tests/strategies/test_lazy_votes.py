"""Reasons and per-token votes are built on first access, with the same values as built eagerly."""

from __future__ import annotations

import copy
import pickle
from dataclasses import asdict, replace

import numpy as np
import pytest

from strategies.ensemble import Ensemble
from strategies.registry import build_strategies
from strategies.types import Action, Decision, Reasons, Vote
from tests.strategies.paths import random_market, view


def test_reasons_format_once_on_access_and_compare_as_a_sequence() -> None:
    calls: list[int] = []

    def fn(i: int) -> str:
        calls.append(i)
        return f"r{i}"

    r = Reasons(4, fn)
    assert calls == [] and len(r) == 4
    assert r[2] == "r2" and r[-1] == "r3" and r[2] == "r2"
    assert calls == [2, 3]
    assert r[1:3] == ("r1", "r2") and list(r) == ["r0", "r1", "r2", "r3"]
    assert r == ("r0", "r1", "r2", "r3") and r == Reasons(4, lambda i: f"r{i}") and r != ("r0",)
    assert hash(r) == hash(("r0", "r1", "r2", "r3"))
    with pytest.raises(IndexError):
        r[4]


def _cycle(ecfg, scfg, n: int = 60, bars: int = 400):
    v = view(random_market(n, bars, seed=11))
    votes = [s.evaluate(v) for s in build_strategies(scfg)]
    return Ensemble(ecfg, scfg), v, votes


def test_lazy_votes_equal_the_eager_construction(ecfg, scfg) -> None:
    ens, v, votes = _cycle(ecfg, scfg)
    decisions = ens.decide(v, votes)
    by_name = {x.strategy: x for x in votes}
    w = ens.weights
    assert any(d.action is not Action.HOLD for d in decisions)
    for j, d in enumerate(decisions):
        assert isinstance(d.votes, tuple) and all(isinstance(x, Vote) for x in d.votes)
        assert [x.strategy for x in d.votes] == list(w)
        for x in d.votes:
            sv = by_name[x.strategy]
            assert x.reason == sv.reasons[j] and isinstance(x.reason, str)
            assert x.weight in (0.0, w[x.strategy])
            if sv.score[j] == 0:
                assert (x.score, x.confidence) == (0.0, 0.0)
            else:
                assert (x.score, x.confidence) == (float(sv.score[j]), float(sv.confidence[j]))
        eager = Decision(d.mint, d.action, d.score, d.confidence, d.regime, tuple(d.votes))
        assert d == eager and hash(d) == hash(eager) and repr(d) == repr(eager)
        assert d.explain() == eager.explain()


def test_lazy_decisions_copy_pickle_replace_and_asdict_like_plain_ones(ecfg, scfg) -> None:
    ens, v, votes = _cycle(ecfg, scfg, 20, 300)
    first = ens.decide(v, votes)
    ens2, v2, votes2 = _cycle(ecfg, scfg, 20, 300)
    second = ens2.decide(v2, votes2)
    assert first == second  # deterministic, and equality compares the built votes
    d = first[0]
    for other in (copy.deepcopy(d), pickle.loads(pickle.dumps(d)), replace(d)):
        assert other == d and other.votes == d.votes
    assert asdict(d)["votes"] == tuple(asdict(x) for x in d.votes)
    with pytest.raises(AttributeError):
        d.votes = ()  # type: ignore[misc]


def test_reason_closures_keep_only_per_token_data(ecfg, scfg) -> None:
    """Lazy reasons keep what they format from alive as long as a decision is: never a panel."""
    _ens, v, votes = _cycle(ecfg, scfg, 40, 400)
    n = len(v.mints)
    for sv in votes:
        fn = sv.reasons._fn  # the make_votes wrapper, then the strategy's own reason()
        seen = [fn]
        while seen:
            f = seen.pop()
            for cell in f.__closure__ or ():
                x = cell.cell_contents
                if callable(x) and getattr(x, "__closure__", None):
                    seen.append(x)
                elif isinstance(x, np.ndarray):
                    assert x.size <= 16 * n, (sv.strategy, x.shape)
                else:
                    assert not hasattr(x, "columns") and not hasattr(x, "candles"), (sv.strategy, type(x))


def test_overridden_decisions_take_new_codes_and_replacements_and_keep_the_rest(ecfg, scfg) -> None:
    ens, v, votes = _cycle(ecfg, scfg, 20, 300)
    ds = ens.decide(v, votes)
    codes = np.full(len(ds), 2, dtype=np.int8)  # every token HOLD ...
    codes[3] = 0  # ... but token 3, bought with a decision of our own
    mine = Decision(ds.mints[3], Action.BUY, 1.0, 0.25, ds.regimes[3], votes=())
    out = ds.overridden(codes, {3: mine})
    assert out.where(Action.BUY) == [mine] and out[3] is mine and out.get(ds.mints[3]) is mine
    assert [d.action for i, d in enumerate(out) if i != 3] == [Action.HOLD] * (len(ds) - 1)
    kept = next(i for i in range(len(ds)) if i != 3 and ds.action_codes[i] == 2)
    assert out[kept] == ds[kept] and out[kept].votes == ds[kept].votes  # same votes, same numbers
    assert ds.where(Action.BUY) == [d for d in ds if d.action is Action.BUY]  # the original is untouched
    with pytest.raises(ValueError, match="disagrees"):
        ds.overridden(codes, {4: mine})
    with pytest.raises(ValueError, match="action codes for"):
        ds.overridden(codes[:-1], {})


def test_make_votes_cleans_scores_and_names_abstentions_from_an_array_or_a_function() -> None:
    from strategies.base import make_votes, ratio

    score = np.array([0.5, np.nan, 2.0, -np.inf, 0.3, 0.0, -0.7])
    conf = np.array([0.8, 0.9, 1.5, 0.5, np.nan, 0.4, -1.0])
    codes = np.array([0, 1, 0, 1, 0, 1, 0])
    texts = ("a", "b")
    asked: list[int] = []

    def code(i: int) -> int:
        asked.append(i)
        return int(codes[i])

    eager = make_votes("x", score, conf, lambda i: f"vote {i}", codes, texts)
    lazy = make_votes("x", score, conf, lambda i: f"vote {i}", code, texts)
    # finite, non-zero clipped score, positive clipped confidence: tokens 0 and 2 vote
    np.testing.assert_array_equal(eager.score, [0.5, 0, 1.0, 0, 0, 0, 0])
    np.testing.assert_array_equal(eager.confidence, [0.8, 0, 1.0, 0, 0, 0, 0])
    assert not np.signbit(eager.score).any() and not np.signbit(eager.confidence).any()
    assert asked == []
    assert list(lazy.reasons) == list(eager.reasons) == ["vote 0", "b", "vote 2", "b", "a", "b", "a"]
    assert sorted(asked) == [1, 3, 4, 5, 6]
    # ratio: 0 where the denominator is 0 or not finite, for arrays and scalars alike
    num = np.array([1.0, -2.0, 3.0, 4.0, 0.0])
    den = np.array([2.0, 0.0, np.inf, np.nan, -5.0])
    np.testing.assert_array_equal(ratio(num, den), [0.5, 0.0, 0.0, 0.0, -0.0])
    assert np.signbit(ratio(num, den)[4]) and not np.signbit(ratio(num, den)[1])
    np.testing.assert_array_equal(ratio(num, 2.0), num / 2.0)
    np.testing.assert_array_equal(ratio(np.array([3, 4]), np.array([2, 0])), [1.5, 0.0])
