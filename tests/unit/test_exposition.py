"""Golden files: a fixture upstream body → the exact expected exposition."""

from __future__ import annotations

import asyncio
import gzip
import math
from pathlib import Path

import pytest

from tapwatch.exporters import scrape
from tapwatch.exporters.exposition import OPENMETRICS, TEXT, Exposition, format_value
from tapwatch.exporters.scrape import MetricsPage, accepts_gzip, negotiate_format
from tapwatch.sources.prometheus_text import parse_exposition
from tapwatch.sources.usage_api import parse_usage

GOLDEN = Path(__file__).parent / "golden"


def sample_exposition() -> Exposition:
    x = Exposition()
    x.family("t_info", "gauge", "Help with a \\ and\nnewline.",
             [({"app": 'a"b', "name": "x\\y\nz"}, 1)])
    x.family("t_events", "counter", "Counted.", [({"app": "a"}, 3), ({"app": "b"}, 0.5)])
    x.family("t_empty", "gauge", "No samples yet.", [])
    return x


def test_values_and_escaping() -> None:
    x = sample_exposition()
    assert x.render().decode() == (GOLDEN / "escaping.prom").read_text()
    # OpenMetrics: a counter's family has no _total, HELP escapes quotes, # EOF ends it
    assert x.render(OPENMETRICS).decode() == (GOLDEN / "escaping.om").read_text()
    q = Exposition()
    q.family("t", "gauge", 'say "hi"', [])
    assert q.render(OPENMETRICS).startswith(b'# HELP t say \\"hi\\"\n')
    assert q.render(TEXT).startswith(b'# HELP t say "hi"\n')
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


PROMETHEUS_2_42_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


@pytest.mark.parametrize(
    ("accept", "fmt"),
    [
        (PROMETHEUS_2_42_ACCEPT, OPENMETRICS),
        ("application/openmetrics-text", OPENMETRICS),
        ("application/openmetrics-text; version=0.0.1", OPENMETRICS),
        (None, TEXT),
        ("", TEXT),
        ("*/*", TEXT),
        ("text/plain;version=0.0.4", TEXT),
        ("application/openmetrics-text;version=1.0.0;q=0.2, text/plain;q=0.5", TEXT),
        ("application/openmetrics-text;version=2.0.0", TEXT),
        ("application/openmetrics-text;q=0", TEXT),
        ("application/openmetrics-text;q=bogus", TEXT),
        ("application/json", TEXT),
    ],
)
def test_openmetrics_only_when_the_scraper_prefers_it(accept: str | None, fmt: str) -> None:
    assert negotiate_format(accept) == fmt


@pytest.mark.parametrize(
    ("header", "gz"),
    [
        ("gzip", True),
        ("gzip, deflate, br", True),
        ("deflate, gzip;q=0.5", True),
        ("*", True),
        ("gzip;q=0", False),
        ("*, gzip;q=0", False),
        ("identity", False),
        ("br", False),
        (None, False),
    ],
)
def test_gzip_only_when_accepted(header: str | None, gz: bool) -> None:
    assert accepts_gzip(header) is gz


async def test_each_form_of_a_render_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = gzip.compress

    def counting(data: bytes, *args: object, **kw: object) -> bytes:
        calls.append(len(data))
        return real(data, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(scrape.gzip, "compress", counting)
    page = MetricsPage(sample_exposition())
    bodies = await asyncio.gather(*(page.body(TEXT, True) for _ in range(20)))
    assert len(calls) == 1
    assert all(b is bodies[0] for b in bodies)
    assert gzip.decompress(bodies[0]) == page.text == await page.body(TEXT, False)
    om = await page.body(OPENMETRICS, True)
    assert gzip.decompress(om) == await page.body(OPENMETRICS, False)
    assert gzip.decompress(om).endswith(b"# EOF\n")
    assert len(calls) == 2
