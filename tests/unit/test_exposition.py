"""Golden files: a fixture upstream body → the exact expected exposition."""

from __future__ import annotations

import math
from pathlib import Path

from tapwatch.exporters.exposition import Exposition, format_value
from tapwatch.sources.prometheus_text import parse_exposition
from tapwatch.sources.usage_api import parse_usage

GOLDEN = Path(__file__).parent / "golden"


def test_values_and_escaping() -> None:
    x = Exposition()
    x.family("t_info", "gauge", "Help with a \\ and\nnewline.",
             [({"app": 'a"b', "name": "x\\y\nz"}, 1)])
    x.family("t_events", "counter", "Counted.", [({"app": "a"}, 3), ({"app": "b"}, 0.5)])
    x.family("t_empty", "gauge", "No samples yet.", [])
    assert x.render().decode() == (GOLDEN / "escaping.prom").read_text()
    assert [format_value(v) for v in (math.nan, math.inf, -math.inf, 2.0, 1e20, True)] == [
        "NaN", "+Inf", "-Inf", "2", "1e+20", "1"]


def test_usage_body_to_snapshot_golden() -> None:
    snap = parse_usage((GOLDEN / "usage.json").read_bytes(), at=1.0)
    assert snap.registered_accounts == 1200
    assert snap.active_accounts_30d == 37
    assert snap.last_release_at == 1735660800.0  # 2025-01-01T00:00:00+08:00
    assert snap.features == frozenset({"checkin", "points_ranking"})


def test_prometheus_text_source_golden() -> None:
    text = (GOLDEN / "app-metrics.prom").read_text()
    snap = parse_exposition(
        text,
        {"registered_accounts": "hall_registered_users",
         "active_accounts_30d": "hall_active_users_30d"},
        at=5.0,
    )
    assert (snap.registered_accounts, snap.active_accounts_30d) == (5100, 850)
