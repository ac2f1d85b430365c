"""The metric names a PromQL expression reads (for checking shipped rules and dashboards against a
real scrape). Not a PromQL parser: strings, label matchers, range/subquery brackets and the label
lists of ``by``/``without``/``on``/``ignoring``/``group_*`` are removed, then every identifier that
is not a function call, a keyword or a Grafana variable is a metric name (Grafana's
``label_values(metric, label)`` reads ``metric``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from tests.conftest import ROOT

RULES = ROOT / "config" / "prometheus" / "solbot-rules.yml"
DASHBOARD = ROOT / "config" / "grafana" / "solbot.json"

KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                      "unless", "offset", "inf", "nan"})
#: Series Prometheus makes itself for every target (not exported by the bot).
SYNTHETIC = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_GRAFANA_VARS = re.compile(r"\$\{?\w+\}?|\$__\w+")
_LABEL_VALUES = re.compile(r"\blabel_values\(\s*([^,()]+?)\s*(?:,[^()]*)?\)")  # Grafana: (metric, label)
_IDENT = re.compile(r"(?<![\w.:$])([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?")


def metric_names(expr: str) -> set[str]:
    text = _LABEL_VALUES.sub(r"\1", expr)
    text = _STRING.sub('""', text)
    text = _GRAFANA_VARS.sub("1", text)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _LABEL_LISTS.sub("", text)
    return {m.group(1) for m in _IDENT.finditer(text)
            if not m.group(2) and m.group(1).lower() not in KEYWORDS}



def rule_expressions(path: Path) -> dict[str, str]:
    """``{alert or record name: expr}`` of a Prometheus rules file."""
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {r.get("alert") or r.get("record"): r["expr"] for g in doc["groups"] for r in g["rules"]}


def dashboard_expressions(path: Path) -> dict[str, str]:
    """``{where: PromQL}`` of every panel target and templating query of a Grafana dashboard."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, str] = {}

    def panels(items: list[dict]) -> None:
        for p in items:
            for t in p.get("targets", []):
                out[f"panel {p['title']!r} target {t['refId']}"] = t["expr"]
            panels(p.get("panels", []))

    panels(doc["panels"])
    for v in doc.get("templating", {}).get("list", []):
        if v.get("type") == "query":
            q = v["query"]
            out[f"variable {v['name']}"] = q["query"] if isinstance(q, dict) else q
    return out


def shipped_metric_names() -> dict[str, set[str]]:
    """Every metric name the shipped rules and dashboard read, and where it is read."""
    where: dict[str, set[str]] = {}
    for name, expr in [*((f"rule {k}", v) for k, v in rule_expressions(RULES).items()),
                       *dashboard_expressions(DASHBOARD).items()]:
        for metric in metric_names(expr):
            where.setdefault(metric, set()).add(name)
    return where
