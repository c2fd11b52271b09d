"""Lint of the generated Grafana dashboards (the committed JSON) and of the query list."""

from __future__ import annotations

import importlib
import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
queries = importlib.import_module("monitoring.queries")

UIDS = {"tapwatch-fleet", "tapwatch-app", "tapwatch-forced", "tapwatch-collector"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__data", "__field", "__value"}
BOARDS = {
    p.name: json.loads(p.read_text()) for p in sorted((MONITORING / "dashboards").glob("*.json"))
}
PANELS = [
    (name, panel) for name, board in BOARDS.items() for panel in board["panels"]
]


def _keys(node: Any) -> set[str]:
    if isinstance(node, dict):
        return set(node) | {k for v in node.values() for k in _keys(v)}
    if isinstance(node, list):
        return {k for v in node for k in _keys(v)}
    return set()


def test_uids_are_fixed_unique_and_name_the_files() -> None:
    assert {b["uid"] for b in BOARDS.values()} == UIDS
    assert len(BOARDS) == len(UIDS)
    for name, board in BOARDS.items():
        assert name == f"{board['uid']}.json"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_dashboard_has_datasource_variable_and_no_inputs(name: str) -> None:
    board = BOARDS[name]
    assert "__inputs" not in _keys(board) and "__requires" not in _keys(board)
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == DATASOURCE
    assert board["title"] and board["description"]


@pytest.mark.parametrize(
    ("name", "panel"), PANELS, ids=[f"{n}:{p['title']}" for n, p in PANELS]
)
def test_panel_has_title_description_unit_and_uses_the_datasource_variable(
    name: str, panel: dict[str, Any]
) -> None:
    assert panel["title"].strip()
    assert panel["description"].strip()
    assert panel["fieldConfig"]["defaults"]["unit"]
    assert panel["datasource"] == DATASOURCE
    assert panel["targets"]
    for target in panel["targets"]:
        assert target["datasource"] == DATASOURCE
        assert target["expr"].strip()


@pytest.mark.parametrize(
    ("name", "panel"), PANELS, ids=[f"{n}:{p['title']}" for n, p in PANELS]
)
def test_every_range_uses_rate_interval_and_every_variable_is_defined(
    name: str, panel: dict[str, Any]
) -> None:
    defined = {v["name"] for v in BOARDS[name]["templating"]["list"]} | GRAFANA_BUILTINS
    for target in panel["targets"]:
        expr = target["expr"]
        for fn in re.findall(r"\b(rate|irate|increase)\s*\(", expr):
            assert "[$__rate_interval]" in expr, f"{fn}() without $__rate_interval: {expr}"
        # every range selector in a dashboard is the rate interval (no fixed windows)
        assert set(re.findall(r"\[([^\]]+)\]", expr)) <= {"$__rate_interval"}, expr
        for var in re.findall(r"\$\{?(\w+)", expr):
            assert var in defined, f"${var} is not a variable of {name}"


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panels_have_unique_ids_and_fit_the_grid_without_overlap(name: str) -> None:
    panels = BOARDS[name]["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert g["x"] + g["w"] <= 24
        xs, ys = range(g["x"], g["x"] + g["w"]), range(g["y"], g["y"] + g["h"])
        area = {(x, y) for x in xs for y in ys}
        assert not cells & area, f"{p['title']} overlaps another panel"
        cells |= area


def test_alert_dashboard_links_point_at_dashboards_with_the_app_variable() -> None:
    alerts = [
        r for g in yaml.safe_load((MONITORING / "rules" / "alerts.yaml").read_text())["groups"]
        for r in g["rules"]
    ]
    by_uid = {b["uid"]: b for b in BOARDS.values()}
    for rule in alerts:
        url = rule["annotations"]["dashboard_url"]
        uid = re.search(r"/d/([a-z-]+)/", url).group(1)
        variables = {v["name"] for v in by_uid[uid]["templating"]["list"]}
        if "var-app=" in url:
            assert "app" in variables, f"{rule['alert']} links {uid} with var-app"


def test_query_list_covers_every_target_and_renders_runnable_promql() -> None:
    listed = queries.panel_queries()
    assert len(listed) == sum(len(p["targets"]) for _, p in PANELS)
    assert {q.expr for q in listed} == {t["expr"] for _, p in PANELS for t in p["targets"]}
    for q in listed:
        expr = q.render(app="pa-checkin", rate_interval="2m")
        assert "$" not in expr
        if "[$__rate_interval]" in q.expr:
            assert "[2m]" in expr
    # recorded queries are flagged so the integration test loads the recording rules
    assert {q.recorded for q in listed} == {True, False}
    with pytest.raises(ValueError, match="unknown variable"):
        queries.PanelQuery("d", "p", "A", "up{x=\"$nope\"}", True, False, False, False).render()


def test_findings_links_use_the_configured_tapwatch_url() -> None:
    for board in BOARDS.values():
        links = [link for link in board["links"] if link["type"] == "link"]
        assert links and all(
            link["url"].startswith("http://localhost:9817/findings") for link in links
        )


def test_source_kinds_of_panels_are_the_kinds_whose_apps_have_the_series() -> None:
    """A panel limited to some source kinds names real kinds; the skipped-records panel
    names exactly the sources the exporter gives that series to (else the e2e check for an
    app without findings would skip a panel that should have data, or demand data where
    there can be none)."""
    from tapwatch.config import SOURCE_KINDS
    from tapwatch.exporters.metrics import SKIPPING_SOURCES

    limited = {q.panel: set(q.source_kinds) for q in queries.panel_queries() if q.source_kinds}
    assert limited, "no panel is limited to some source kinds"
    for panel, kinds in limited.items():
        assert kinds <= set(SOURCE_KINDS), (panel, kinds - set(SOURCE_KINDS))
    skipped = [q for q in queries.panel_queries() if "tapwatch_app_records_skipped" in q.expr]
    assert skipped
    assert all(set(q.source_kinds) == SKIPPING_SOURCES for q in skipped)
