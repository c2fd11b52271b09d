"""Every PromQL query the dashboards run, ready to send to a real Prometheus.

For the integration test that scrapes the demo fleet and checks each panel returns data:

    from monitoring.queries import RULE_FILES, panel_queries
    for q in panel_queries():
        expr = q.render(app="some-app", rate_interval="1m")
        ...  # GET /api/v1/query?query=expr; expect data unless q.sparse

Load RULE_FILES into that Prometheus first: queries with `recorded=True` read recording rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from monitoring.mixin.config import DEFAULT, MixinConfig
from monitoring.mixin.dashboards import dashboards
from monitoring.mixin.recording import recording_groups

MONITORING_DIR = Path(__file__).resolve().parent
RULE_FILES = (MONITORING_DIR / "rules" / "recording.yaml", MONITORING_DIR / "rules" / "alerts.yaml")

_VARIABLE = re.compile(r"\$\{?(\w+)\}?")
_RECORDED = {rule["record"] for group in recording_groups() for rule in group["rules"]}


@dataclass(frozen=True, slots=True)
class PanelQuery:
    """One target of one panel, with what the test needs to judge an empty result."""

    dashboard: str  # uid
    panel: str  # title
    ref_id: str
    expr: str  # as in the dashboard, with Grafana variables
    instant: bool
    #: may show no data without anything broken (see grafana.Panel): no data is fine
    sparse: bool
    #: lists apps with something wrong: empty for a healthy app
    lists_problems: bool
    #: reads a recording rule, so Prometheus must have the rules loaded and evaluated once
    recorded: bool
    #: only apps of these source kinds have the series (empty: every app)
    source_kinds: tuple[str, ...] = ()

    def render(self, app: str = ".*", rate_interval: str = "1m") -> str:
        """The expression with Grafana's variables replaced; `app` may be a regex for `=~`."""
        values = {"app": app, "__rate_interval": rate_interval}

        def substitute(m: re.Match[str]) -> str:
            if m.group(1) not in values:
                raise ValueError(f"unknown variable ${m.group(1)} in {self.expr!r}")
            return values[m.group(1)]

        return _VARIABLE.sub(substitute, self.expr)


def panel_queries(cfg: MixinConfig = DEFAULT) -> list[PanelQuery]:
    """Every panel target of every dashboard, in dashboard and panel order."""
    out = []
    for board in dashboards(cfg):
        rendered = board.render()["panels"]
        for panel, panel_json in zip(board.panels, rendered, strict=True):
            for target in panel_json["targets"]:
                expr = target["expr"]
                out.append(
                    PanelQuery(
                        dashboard=board.uid,
                        panel=panel.title,
                        ref_id=target["refId"],
                        expr=expr,
                        instant=target["instant"],
                        sparse=panel.sparse,
                        lists_problems=panel.lists_problems,
                        source_kinds=panel.source_kinds,
                        recorded=any(name in expr for name in _RECORDED),
                    )
                )
    return out


def variable_queries(cfg: MixinConfig = DEFAULT) -> list[tuple[str, str, str]]:
    """(dashboard uid, variable name, Grafana query) of every query variable."""
    return [
        (board.uid, name, query)
        for board in dashboards(cfg)
        for name, _label, query, _multi in board.variables
    ]
