"""Input coverage of a dataset: for each strategy and each entry rule, the share of token-bars where
its inputs are present, and the warnings ``solbot backtest`` prints before it runs.

The inputs come from the one declaration each has: ``Strategy.inputs`` (``strategies.types.Inputs``)
and ``bot.risk.safety.entry_rule_inputs``. A column is present on a token-bar when the dataset has it
and the value is neither null nor NaN. A strategy whose required inputs are present nowhere is
*silent*: it cannot vote, and the report says so instead of showing it with no PnL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from bot.risk.config import SafetyConfig
from bot.risk.safety import entry_rule_inputs
from strategies.registry import Strategy

#: The safety facts a recording carries; named in the "no safety columns" warning.
SAFETY_FACT_COLUMNS = ("mint_authority_set", "freeze_authority_set", "top10_holder_share")


@dataclass(frozen=True, slots=True)
class Coverage:
    name: str
    kind: str  # "strategy" | "risk_rule"
    required: tuple[str, ...]
    optional: tuple[str, ...]
    coverage: float  # share of token-bars with every required column present
    columns: dict[str, float]  # each input column's own share
    missing: tuple[str, ...]  # required columns the dataset does not have at all
    unknown: str | None = None  # risk rules: the rejection without the inputs (reject_unknown)
    assumed: str = ""  # risk rules: what a replay assumes without them

    @property
    def silent(self) -> bool:
        return self.kind == "strategy" and self.coverage == 0.0

    @property
    def absent(self) -> tuple[str, ...]:
        """The required columns present on no token-bar (missing, or all null)."""
        return tuple(c for c in self.required if self.columns.get(c, 0.0) == 0.0)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["silent"] = self.silent
        d["absent"] = list(self.absent)
        return d


def _present(schema: pl.Schema, col: str) -> pl.Expr:
    if col not in schema:
        return pl.lit(False)
    e = pl.col(col).is_not_null()
    if schema[col].is_float():
        e = e & pl.col(col).is_not_nan()
    return e


def _judged(schema: pl.Schema, cols: tuple[str, ...], gate: str = "") -> pl.Expr:
    """Rows where these inputs let a rule judge: all present; with a ``gate`` column (first), a
    false gate settles it without the others (``bot.risk.safety.RuleInputs``)."""
    if not cols:
        return pl.lit(True)
    if gate and cols[0] == gate and len(cols) > 1 and gate in schema:
        rest = pl.all_horizontal([_present(schema, c) for c in cols[1:]])
        return _present(schema, gate) & (~pl.col(gate).fill_null(True) | rest)
    return pl.all_horizontal([_present(schema, c) for c in cols])


def _count(expr: pl.Expr) -> pl.Expr:
    """Rows where ``expr`` holds (a literal counts once per row, not once)."""
    return (pl.int_range(pl.len()).is_not_null() & expr).sum()


class CoverageCounter:
    """Input coverage counted slice by slice (``add`` each slice of a dataset, then ``result``): what
    ``input_coverage`` gives for the whole frame, without holding it. Shares are counts over rows."""

    def __init__(self, schema: pl.Schema, strategies: Sequence[Strategy], safety: SafetyConfig) -> None:
        self._strategies = list(strategies)
        self._rules = entry_rule_inputs(safety)
        groups = {f"s:{s.name}": (s.inputs.required, "") for s in self._strategies}
        groups.update({f"r:{r.rule}": (r.columns, r.gate) for r in self._rules})
        columns = {c for s in self._strategies for c in s.inputs.columns} | {
            c for r in self._rules for c in r.columns}
        self._names = set(schema.names())
        self._exprs = [_count(_judged(schema, cols, gate)).alias(f"group:{k}") for k, (cols, gate) in groups.items()]
        self._exprs += [_count(_present(schema, c)).alias(f"col:{c}") for c in sorted(columns)]
        self._counts = dict.fromkeys((e.meta.output_name() for e in self._exprs), 0)
        self.rows = 0

    def add(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        for k, v in frame.select(self._exprs).row(0, named=True).items():
            self._counts[k] += int(v or 0)
        self.rows += frame.height

    def result(self) -> list[Coverage]:
        n = self.rows
        got = {k.split(":", 1)[1]: (v / n if n else 0.0) for k, v in self._counts.items()}
        names = self._names
        out = []
        for s in self._strategies:
            out.append(Coverage(s.name, "strategy", s.inputs.required, s.inputs.optional, got[f"s:{s.name}"],
                                {c: got[c] for c in s.inputs.columns},
                                tuple(c for c in s.inputs.required if c not in names)))
        for r in self._rules:
            assumed = bool(r.assumed_without) and r.assumed_without not in names
            out.append(Coverage(r.rule, "risk_rule", r.columns, (), got[f"r:{r.rule}"],
                                {c: got[c] for c in r.columns}, tuple(c for c in r.columns if c not in names),
                                None if assumed else r.unknown, r.assumed if assumed else ""))
        return out


def input_coverage(frame: pl.DataFrame, strategies: Sequence[Strategy], safety: SafetyConfig) -> list[Coverage]:
    """Coverage of every strategy given and every enabled entry rule."""
    counter = CoverageCounter(frame.schema, strategies, safety)
    counter.add(frame)
    return counter.result()


def coverage_warnings(coverage: Sequence[Coverage]) -> list[str]:
    """What a user must know before a backtest runs on this dataset (one line each)."""
    lines: list[str] = []
    rules = {c.name: c for c in coverage if c.kind == "risk_rule"}
    facts = [rules[r] for r in ("mint_authority", "freeze_authority", "top10_holder_share") if r in rules]
    rejecting = [c for c in facts if c.unknown]
    if rejecting and all(c.coverage == 0.0 for c in rejecting):
        lines.append("no safety columns: every entry will be rejected as *_unknown (risk.safety.reject_unknown); "
                     "record with `solbot record` or add " + "/".join(SAFETY_FACT_COLUMNS))
        named = {c.name for c in rejecting}
    else:
        named = set()
    assumed_said = False
    for c in rules.values():
        if c.name in named:
            continue
        if c.unknown and c.coverage < 1.0:
            have = "/".join(c.required)
            if c.coverage == 0.0:
                lines.append(f"no {have}: every entry will be rejected as {c.unknown} (risk.safety.reject_unknown)")
            else:
                lines.append(f"{have} present on {c.coverage:.0%} of token-bars: entries elsewhere are rejected as "
                             f"{c.unknown} (risk.safety.reject_unknown)")
        elif c.assumed and not assumed_said:
            lines.append(c.assumed)
            assumed_said = True
    for c in coverage:
        if c.silent:
            lines.append(f"strategy {c.name} is silent: no {'/'.join(c.absent or c.required)} in the dataset, "
                         "it cannot vote")
    return lines


def coverage_json(coverage: Sequence[Coverage]) -> dict[str, dict[str, Any]]:
    """The report's ``input_coverage``: ``{"strategies": {name: ...}, "risk_rules": {rule: ...}}``."""
    return {"strategies": {c.name: c.to_json() for c in coverage if c.kind == "strategy"},
            "risk_rules": {c.name: c.to_json() for c in coverage if c.kind == "risk_rule"}}


def coverage_lines(report_coverage: dict[str, dict[str, Any]]) -> list[str]:
    """The printed table, from the report's ``input_coverage``."""
    out = ["  input coverage (share of token-bars with the inputs present):"]
    for kind, label in (("strategies", "strategy"), ("risk_rules", "rule")):
        for name, c in report_coverage.get(kind, {}).items():
            share = "silent" if c["silent"] else f"{c['coverage']:6.1%}"
            detail = ", ".join(c["required"]) or "-"
            if c["optional"]:
                opt = ", ".join(f"{k} {c['columns'][k]:.0%}" for k in c["optional"])
                detail += f" (+ {opt})"
            if c["coverage"] < 1.0 and c.get("unknown"):
                detail += f"; else {c['unknown']}"
            elif c.get("assumed"):
                share = "assumed"
            out.append(f"    {label:<8} {name:<22} {share:>7}  {detail}")
    return out
