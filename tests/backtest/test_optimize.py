"""solbot optimize: a search space checked against the config's bounds, trials chosen on in-sample
folds and scored out-of-sample, run by worker processes or Ray, and an overlay check-config takes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from bot.backtest.evaluate import split_folds
from bot.backtest.research import Job, Study, TrialRow, evaluate_params, shares
from bot.backtest.space import apply, overlay_toml, parse_space
from bot.config import ConfigError
from bot.dataset import write_dataset
from bot.feeds.simulator import simulate

ROOT = Path(__file__).resolve().parents[2]

SPACE = """
["risk.risk_per_trade"]
low = 0.005
high = 0.03
log = true

["ensemble.entry_threshold"]
low = 0.2
high = 0.6
step = 0.05

["risk.portfolio.cooldown_minutes"]
low = 0.0
high = 120.0

["strategies.momentum_breakout.lookback_bars"]
low = 10
high = 40

["risk.exits.ensemble_exit"]
choices = [true, false]
"""


def space_errors(base_config, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_space(tomllib.loads(text), base_config, "space.toml")
    return err.value.lines


def test_a_valid_space_is_read_with_kinds_from_the_config_models(base_config):
    space = {p.key: p for p in parse_space(tomllib.loads(SPACE), base_config)}
    assert space["risk.risk_per_trade"].kind == "float" and space["risk.risk_per_trade"].log
    assert space["strategies.momentum_breakout.lookback_bars"].kind == "int"
    assert space["risk.exits.ensemble_exit"].choices == (True, False)


@pytest.mark.parametrize("text, expect", [
    ('["risk.risk_per_trade"]\nlow = 0.01\nhigh = 0.5',
     "space.toml: risk.risk_per_trade: range [0.01, 0.5] falls outside the key's bounds: it must be > 0 and <= 0.2"),
    ('["ensemble.entry_threshold"]\nlow = 0.0\nhigh = 0.5',
     "ensemble.entry_threshold: range [0.0, 0.5] falls outside the key's bounds: it must be > 0 and <= 1"),
    ('["risk.max_open_positions"]\nlow = 1.5\nhigh = 4', "is an integer key: low must be an integer"),
    ('["risk.sizing.min_order_sol"]\nlow = 0.01\nhigh = 50.0', "does not give a valid config"),
    ('["risk.sizng.kelly_fraction"]\nlow = 0.1\nhigh = 0.5', "risk.sizng.kelly_fraction: no such config key"),
    ('["risk.exits.ensemble_exit"]\nlow = 0\nhigh = 1', "is a bool key: give choices"),
    ('["risk.sizing"]\nlow = 0\nhigh = 1', "risk.sizing is a table"),
    ('["risk.max_slippage_bps"]\nlow = 100\nhigh = 50', "low (100) must be below high (50)"),
    ('["risk.portfolio.cooldown_minutes"]\nlow = 0.0\nhigh = 60.0\nlog = true', "log = true needs low > 0"),
    ('["risk.exits.ensemble_exit"]\nchoices = [true, "maybe"]', "'maybe' does not give a valid config"),
])
def test_space_errors_name_the_key_and_its_bounds(base_config, text, expect):
    lines = space_errors(base_config, text)
    assert len(lines) == 1 and expect in lines[0], lines


def test_every_bad_key_is_reported_at_once(base_config):
    lines = space_errors(base_config, '["a.b"]\nlow = 1\nhigh = 2\n["risk.risk_per_trade"]\nlow = 0.1\nhigh = 0.9')
    assert len(lines) == 2 and "a.b" in lines[0] and "risk.risk_per_trade" in lines[1]


def test_overlay_round_trips_through_toml_onto_the_config(base_config):
    params = {"risk.risk_per_trade": 0.0123, "risk.portfolio.cooldown_minutes": 15.0,
              "strategies.momentum_breakout.lookback_bars": 22, "risk.exits.ensemble_exit": False}
    text = overlay_toml(params, ["made by a test"])
    assert text.startswith("# made by a test\n") and text.index("[risk]") < text.index("[risk.exits]")
    cfg = apply(base_config, {k: v for k, v in _flatten(tomllib.loads(text)).items()})
    assert cfg.risk.risk_per_trade == 0.0123 and cfg.risk.exits.ensemble_exit is False
    assert cfg.strategies.momentum_breakout.lookback_bars == 22


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else k
        out.update(_flatten(v, key) if isinstance(v, dict) else {key: v})
    return out


def test_the_best_trial_is_chosen_in_sample_never_out_of_sample():
    rows = (TrialRow(0, "COMPLETE", {"x": 1}, 0.10, 0.50), TrialRow(1, "COMPLETE", {"x": 2}, 0.30, -0.20),
            TrialRow(2, "PRUNED", {"x": 3}, None, None, note="invalid config"),
            TrialRow(3, "COMPLETE", {"x": 4}, 0.20, 0.10))
    s = Study("total_return", 3, 2, "processes", 2, rows, 1.0)
    assert s.best.number == 1  # the out-of-sample leader (trial 0) is not picked
    assert s.rank_correlation() == pytest.approx(-1.0)  # in-sample order reversed out-of-sample
    assert json.loads(json.dumps(s.to_json()))["best"]["out_of_sample"] == -0.20
    assert shares(8, 2) == [4, 4] and shares(7, 3) == [3, 2, 2] and shares(2, 5) == [1, 1]


def test_a_combination_the_config_refuses_is_not_scored(base_config):
    data = simulate(2, 2, 1).frame
    job = Job(base_config, (), tuple(split_folds(data, 2, 1)), "total_return")
    s = evaluate_params(job, data, {"risk.sizing.min_stop_fraction": 0.2, "risk.sizing.max_stop_fraction": 0.1})
    assert s.in_sample is None and s.out_of_sample is None and "invalid config" in s.note
    assert "min_stop_fraction" in s.note


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def sim_data(tmp_path_factory):
    d = tmp_path_factory.mktemp("opt")
    data = write_dataset(simulate(3, 4, 5).frame, d / "m.parquet")
    space = d / "space.toml"
    space.write_text(SPACE)
    return data, space


@pytest.mark.integration
@pytest.mark.parametrize("mode", ["processes", "ray"])
def test_optimize_8_trials_2_workers_under_two_minutes_and_the_overlay_passes_check_config(
        sim_data, tmp_path, mode):
    data, space = sim_data
    out, overlay = tmp_path / "results.json", tmp_path / "best.toml"
    extra = ["--ray", "local"] if mode == "ray" else []
    t0 = time.monotonic()
    res = run_cli("optimize", "--data", str(data), "--space", str(space), "--trials", "8", "--workers", "2",
                  "--out", str(out), "--write-overlay", str(overlay), *extra, timeout=180)
    elapsed = time.monotonic() - t0
    assert res.returncode == 0, res.stderr[-3000:]
    assert elapsed < 120, f"optimize took {elapsed:.0f} s"
    body = json.loads(out.read_text())
    assert body["mode"] == mode and body["workers"] == 2 and len(body["trials"]) == 8
    assert {t["state"] for t in body["trials"]} <= {"COMPLETE", "PRUNED"}
    done = [t for t in body["trials"] if t["state"] == "COMPLETE"]
    assert done and all(len(t["fold_returns"]) == 3 and t["out_of_sample"] is not None for t in done)
    assert body["best"]["in_sample"] == max(t["in_sample"] for t in done)
    assert body["inputs"]["tokens"] == 3 and body["folds"] == 3 and body["in_sample_folds"] == 2
    assert "best (*): trial" in res.stdout and "out-of-sample" in res.stdout
    params = tomllib.loads(overlay.read_text())
    assert _flatten(params) == body["best"]["params"]
    check = run_cli("check-config", "--overlay", str(overlay))
    assert check.returncode == 0, check.stderr
    assert f"+ overlay {overlay} is valid" in check.stdout
    assert f"risk_per_trade = {body['best']['params']['risk.risk_per_trade']!r}" in check.stdout


def test_check_config_refuses_an_overlay_with_a_bad_key(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[risk]\nrisk_per_trade = 0.9\n")
    res = run_cli("check-config", "--overlay", str(bad))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert f"with overlay {bad}" in res.stderr and "risk.risk_per_trade" in res.stderr


def test_the_shipped_example_space_fits_the_shipped_config(base_config):
    from bot.backtest.space import load_space

    space = load_space(ROOT / "config" / "optimize-space.toml", base_config)
    assert {p.key for p in space} >= {"risk.risk_per_trade", "ensemble.entry_threshold"}
