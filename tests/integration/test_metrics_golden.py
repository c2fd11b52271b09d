"""Golden /metrics: a fixed upstream app (its usage body and event pages) → the exact
exposition, minus the samples that measure time (durations, lags, timestamps, sizes).

Regenerate after a deliberate change with:
    UPDATE_GOLDEN=1 pytest tests/integration/test_metrics_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import aiohttp
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from tapwatch.daemon.runtime import Daemon
from tests.integration.conftest import app_entry, scrape, wait_for, write_daemon_config
from tests.integration.fakeapps import FakeApp, FakeFleet

GOLDEN = Path(__file__).parent / "golden" / "metrics.prom"
T0 = 1_780_000_000.0  # fixed: events at T0 + 10 s * i
#: families whose values are measurements of this run, not of the input
VOLATILE = (
    "tapwatch_build_info",
    "tapwatch_app_scrape_duration_seconds",
    "tapwatch_app_poll_lag_seconds",
    "tapwatch_app_last_success_timestamp_seconds",
    "tapwatch_config_last_reload_success_timestamp_seconds",
    "tapwatch_store_size_bytes",
    "tapwatch_event_loop_lag_seconds",
    "tapwatch_detect_duration_seconds",
    "tapwatch_detect_last_run_timestamp_seconds",
)


def _name(line: str) -> str:
    """The metric name of an exposition line (a sample, or a HELP/TYPE comment)."""
    if line.startswith("#"):
        return line.split(" ")[2]
    return line.split("{")[0].split(" ")[0]


def _stable(text: str) -> str:
    return "\n".join(ln for ln in text.splitlines() if not _name(ln).startswith(VOLATILE)) + "\n"


async def test_metrics_match_golden(tmp_path: Path) -> None:
    fleet = FakeFleet(
        [FakeApp("golden-a", n_events=40, start_ts=T0), FakeApp("golden-b", mode="http_500")]
    )
    await fleet.start()
    now = T0 + 40 * 10 + 60
    entries = [
        app_entry("golden-a", fleet.url("golden-a"), annual_cost_cny=120000,
                  declared_features=["checkin", "forms"]),
        app_entry("golden-b", fleet.url("golden-b")),
    ]
    d = Daemon(write_daemon_config(tmp_path, entries), clock=lambda: now)
    await d.start()
    try:
        await wait_for(lambda: sum(d.states["golden-a"].ingested.values()) == 40
                       and d.states["golden-b"].up == 0)
        await d.detect_once()
        await d.render_metrics()
        text = _stable(await scrape(d.port))
        await check_openmetrics_matches_text(d.port)
    finally:
        await d.stop()
        await fleet.stop()
    # errors keep counting while the test waits: pin the failing app's counter
    text = "\n".join(
        'tapwatch_app_scrape_errors_total{app="golden-b",reason="http_status"} N'
        if line.startswith('tapwatch_app_scrape_errors_total{app="golden-b",reason="http_status"}')
        else line
        for line in text.splitlines()
    ) + "\n"
    if os.environ.get("UPDATE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


async def check_openmetrics_matches_text(port: int) -> None:
    """The OpenMetrics form of the same render carries the same samples, and parses."""
    url = f"http://127.0.0.1:{port}/metrics"
    async with aiohttp.ClientSession() as s:
        async with s.get(url, headers={"Accept-Encoding": "identity"}) as r:
            assert r.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
            text = await r.text()
        om_accept = {"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"}
        async with s.get(url, headers=om_accept) as r:
            assert r.headers["Content-Type"] == (
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            )
            assert r.headers["Content-Encoding"] == "gzip"  # aiohttp asks for it
            om = await r.text()

    def samples(families: object) -> set[tuple[str, tuple[tuple[str, str], ...], float]]:
        return {
            (x.name, tuple(sorted(x.labels.items())), x.value)
            for f in families  # type: ignore[attr-defined]
            for x in f.samples
        }

    assert om.endswith("# EOF\n")
    both = samples(parse_om(om))
    assert both == samples(parse_text(text))
    assert any(name == "tapwatch_findings_total" for name, _, _ in both)
