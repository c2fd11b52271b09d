"""A small builder for Grafana dashboard JSON: only what tapwatch's dashboards use."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRID_WIDTH = 24


@dataclass(frozen=True, slots=True)
class Target:
    """One PromQL query of a panel."""

    expr: str
    legend: str = ""
    #: instant queries for tables, stats and bar gauges that show the current value
    instant: bool = False


@dataclass(slots=True)
class Panel:
    """One panel.

    `sparse`: the panel may show no data without anything being broken (nothing to list
    fleet-wide, or a value that does not exist for this app); `no_value` then says what
    no data means. `lists_problems`: a list of apps with something wrong, empty for a
    healthy app even though all of its series are there (zero-valued). `source_kinds`:
    the series exist only for apps polled by these source kinds (empty: every app).
    """

    title: str
    description: str
    unit: str
    targets: list[Target]
    type: str = "timeseries"
    width: int = 12
    height: int = 8
    sparse: bool = False
    lists_problems: bool = False
    source_kinds: tuple[str, ...] = ()
    no_value: str | None = None
    stacked: bool = False
    bars: bool = False
    table_columns: dict[str, str] = field(default_factory=dict)  # field name -> display name
    overrides: list[dict[str, Any]] = field(default_factory=list)
    #: per-value links, e.g. a table row to the app's findings page
    data_links: list[dict[str, Any]] = field(default_factory=list)
    text_mode: str = "value_and_name"
    min: float | None = None
    max: float | None = None

    def render(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        """Grafana JSON for this panel at grid position (x, y)."""
        defaults: dict[str, Any] = {"unit": self.unit}
        if self.min is not None:
            defaults["min"] = self.min
        if self.max is not None:
            defaults["max"] = self.max
        if self.data_links:
            defaults["links"] = self.data_links
        if self.no_value is not None:
            defaults["noValue"] = self.no_value
        if self.type == "timeseries":
            defaults["custom"] = {
                "drawStyle": "bars" if self.bars else "line",
                "fillOpacity": 60 if self.bars or self.stacked else 10,
                "stacking": {"mode": "normal" if self.stacked else "none", "group": "A"},
                "showPoints": "never",
            }
        panel: dict[str, Any] = {
            "id": panel_id,
            "type": self.type,
            "title": self.title,
            "description": self.description,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": self.width, "h": self.height},
            "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
            "options": self._options(),
            "targets": [self._target(i, t) for i, t in enumerate(self.targets)],
        }
        if self.type == "table":
            panel["transformations"] = self._table_transformations()
        return panel

    def _target(self, index: int, t: Target) -> dict[str, Any]:
        out: dict[str, Any] = {
            "refId": chr(ord("A") + index),
            "datasource": DATASOURCE,
            "expr": t.expr,
            "legendFormat": t.legend or "__auto",
            "range": not t.instant,
            "instant": t.instant,
        }
        if self.type == "table":
            out["format"] = "table"
        return out

    def _options(self) -> dict[str, Any]:
        if self.type == "timeseries":
            return {
                "legend": {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull"]},
                "tooltip": {"mode": "multi", "sort": "desc"},
            }
        if self.type == "stat":
            return {
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "textMode": self.text_mode,
                "colorMode": "value",
                "graphMode": "none",
            }
        if self.type == "bargauge":
            return {
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                "orientation": "horizontal",
                "displayMode": "gradient",
                "showUnfilled": True,
            }
        if self.type == "table":
            return {"showHeader": True, "cellHeight": "sm"}
        raise ValueError(f"unsupported panel type {self.type}")

    def _table_transformations(self) -> list[dict[str, Any]]:
        """Merge the instant queries into one row per app; queries aggregate away other labels."""
        return [
            {"id": "merge", "options": {}},
            {
                "id": "organize",
                "options": {
                    "excludeByName": {"Time": True},
                    "renameByName": self.table_columns,
                },
            },
        ]


@dataclass(slots=True)
class Dashboard:
    """A dashboard with a fixed uid, a `datasource` variable and optional query variables."""

    uid: str
    title: str
    description: str
    panels: list[Panel]
    #: query variables: (name, label, query, multi)
    variables: list[tuple[str, str, str, bool]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    time_from: str = "now-7d"
    tags: tuple[str, ...] = ("tapwatch",)

    def render(self) -> dict[str, Any]:
        """Grafana JSON (schema 39) for the whole dashboard, panels laid out left to right."""
        x = y = row_height = 0
        rendered = []
        for panel_id, panel in enumerate(self.panels, start=1):
            if x + panel.width > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            rendered.append(panel.render(panel_id, x, y))
            x += panel.width
            row_height = max(row_height, panel.height)
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "timezone": "browser",
            "editable": False,
            "graphTooltip": 1,
            "refresh": "1m",
            "schemaVersion": 39,
            "version": 1,
            "time": {"from": self.time_from, "to": "now"},
            "links": self.links,
            "templating": {"list": [_datasource_variable(), *self._query_variables()]},
            "annotations": {"list": []},
            "panels": rendered,
        }

    def _query_variables(self) -> list[dict[str, Any]]:
        out = []
        for name, label, query, multi in self.variables:
            var: dict[str, Any] = {
                "name": name,
                "label": label,
                "type": "query",
                "datasource": DATASOURCE,
                "query": {"query": query, "refId": f"{name}-variable"},
                "definition": query,
                "refresh": 2,
                "sort": 1,
                "multi": multi,
                "includeAll": multi,
                "current": {},
                "hide": 0,
            }
            if multi:
                var["allValue"] = ".*"
            out.append(var)
        return out


def _datasource_variable() -> dict[str, Any]:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
    }
