"""Every dashboard panel query against a real Prometheus that has scraped the demo fleet.

Each query of `monitoring.queries.panel_queries()` is run as an instant query; it must
return data unless its panel is marked `sparse` (empty while nothing is wrong), in which
case it must still parse and run.
"""

from __future__ import annotations

import pytest
from monitoring.queries import panel_queries

from tests.e2e.conftest import SCRAPE_S, Stack
from tests.e2e.helpers import wait_until

pytestmark = pytest.mark.e2e

#: an app with data behind every per-app panel: a candidate with findings and banned features
APP = "empty-shell"
#: what `$__rate_interval` becomes; Grafana would use max(4 x scrape interval, step + scrape)
RATE_INTERVAL = "1m"
#: scrapes Prometheus should hold before the queries run, so rate() has points to work on
MIN_SCRAPES = 20


@pytest.fixture(scope="module")
def scraped_stack(steady_stack: Stack) -> Stack:
    """The steady stack once Prometheus holds enough scrapes and evaluated the rules."""
    prom = steady_stack.prom
    wait_until(
        lambda: (prom.value('count_over_time(up{job="tapwatch"}[1m])') or 0) >= MIN_SCRAPES,
        MIN_SCRAPES * SCRAPE_S + 30,
        f"{MIN_SCRAPES} scrapes of tapwatch",
    )
    # the recording rules have been evaluated on judged apps
    wait_until(
        lambda: prom.query('band:tapwatch_app_assessment:sum{band="candidate"} > 0'),
        30,
        "the candidate band recorded",
    )
    return steady_stack


def test_every_panel_query_returns_data(scraped_stack: Stack) -> None:
    prom = scraped_stack.prom
    queries = panel_queries()
    assert queries
    rows: list[tuple[str, str, str]] = []
    missing: list[str] = []
    for q in queries:
        expr = q.render(app=APP, rate_interval=RATE_INTERVAL)
        result = prom.query(expr)  # fails the test if Prometheus rejects the query
        where = f"{q.dashboard} / {q.panel} / {q.ref_id}"
        if result:
            rows.append((where, f"{len(result)} series", ""))
        elif q.sparse:
            rows.append((where, "empty", "sparse"))
        else:
            rows.append((where, "EMPTY", ""))
            missing.append(f"{where}: {expr}")
    width = max(len(r[0]) for r in rows)
    print(f"\n{len(rows)} panel queries (app={APP}, $__rate_interval={RATE_INTERVAL}):")
    for where, got, note in rows:
        print(f"  {where.ljust(width)}  {got}{'  (' + note + ')' if note else ''}")
    sparse_empty = [r[0] for r in rows if r[2] == "sparse"]
    print(f"sparse panels with no data: {len(sparse_empty)}: {', '.join(sparse_empty) or '-'}")
    assert not missing, "panel queries without data:\n" + "\n".join(missing)


def quiet_app(stack: Stack) -> str:
    """A healthy app the detectors found nothing on (polled, judged, no finding at all)."""
    d = stack.daemon
    result = d.detect.result
    assert result is not None
    with_findings = {f.app for f in result.findings}
    quiet = sorted(
        a
        for a, m in result.metrics.items()
        if a not in with_findings and m.band == "keep" and d.states[a].up == 1
    )
    assert quiet, "the demo fleet has no healthy app without findings"
    return quiet[0]


def test_per_app_panels_have_data_for_an_app_without_findings(scraped_stack: Stack) -> None:
    """Zero-valued series, not absent ones: an app nobody has a finding on still fills its
    panels (open findings 0, findings raised 0, duplicate filings 0...)."""
    app = quiet_app(scraped_stack)
    prom = scraped_stack.prom
    empty = []
    checked = 0
    for q in panel_queries():
        if "$app" not in q.expr or q.lists_problems or q.source_kinds:
            continue  # empty for a healthy app, or only for apps of other source kinds
        checked += 1
        expr = q.render(app=app, rate_interval=RATE_INTERVAL)
        if not prom.query(expr):
            empty.append(f"{q.dashboard} / {q.panel} / {q.ref_id}: {expr}")
    print(f"\n{checked} per-app panel queries for {app}, {len(empty)} empty")
    assert checked >= 15
    assert not empty, f"panel queries without data for {app}:\n" + "\n".join(empty)
