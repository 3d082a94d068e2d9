"""Metric names in PromQL expressions, and the expressions of the chart's dashboards and rules.

A small scanner, not a parser (promtool checks the syntax): it drops string literals, label
matchers, range/subquery brackets and the label lists of by/without/on/ignoring/group_*, then
takes the identifiers not followed by `(` and not PromQL keywords.
"""

from __future__ import annotations

import re
from typing import Any

from conftest import Rendered, dashboards, load_yaml

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan", "atan2"}
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def grafana_to_promql(expr: str) -> str:
    """Grafana variables replaced by values, as Grafana would before sending the query."""
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", "value", expr)


def metric_names(expr: str) -> set[str]:
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        word = m.group(0)
        before = e[m.start() - 1] if m.start() else " "
        if before.isdigit() or before == ".":
            continue  # part of a number such as 1e9 or 0.5
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or word.lower() in KEYWORDS:
            continue
        names.add(word)
    return names


def label_values_selector(query: str) -> str | None:
    """The series selector of a Grafana `label_values(selector, label)` variable query."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*", query)
    return m.group(1) if m else None


def dashboard_queries(r: Rendered) -> list[tuple[str, str, str]]:
    """(dashboard file, where, expression) of every PromQL query, variables included."""
    out = []
    for name, board in dashboards(r).items():
        for var in board["templating"]["list"]:
            if var["type"] == "query":
                sel = label_values_selector(var["query"]["query"])
                assert sel, f"{name}: variable {var['name']}: not a label_values query"
                out.append((name, f"variable {var['name']}", sel))
        for panel in all_panels(board):
            for t in panel.get("targets", []):
                if panel["datasource"]["type"] == "prometheus":
                    out.append((name, f"panel {panel['title']!r} {t['refId']}", t["expr"]))
    return out


def all_panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in board["panels"]:
        out.append(p)
        out += p.get("panels", [])
    return [p for p in out if p["type"] != "row"]


def metric_names_in_dashboards(r: Rendered) -> set[str]:
    return {n for _, _, q in dashboard_queries(r) for n in metric_names(grafana_to_promql(q))}


def rule_exprs(r: Rendered) -> list[str]:
    cm = r.find("ConfigMap", r.daemonset["metadata"]["name"] + "-rules")
    if cm is None:
        return []
    return [rule["expr"] for text in cm["data"].values() for g in load_yaml(text)["groups"]
            for rule in g["rules"]]


def metric_names_in_rules(r: Rendered) -> set[str]:
    return {n for e in rule_exprs(r) for n in metric_names(str(e))}
