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


def test_every_panel_query_returns_data(steady_stack: Stack) -> None:
    stack = steady_stack
    prom = stack.prom
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
