"""The daemon's /metrics over the demo fleet, as Prometheus's own tools read it: the text
format passes `promtool check metrics`, and Prometheus (which asks for OpenMetrics first)
scrapes it without a parse error."""

from __future__ import annotations

import gzip
import subprocess
import urllib.request

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.helpers import find_binary, http_get

pytestmark = pytest.mark.e2e


def get(url: str, headers: dict[str, str]) -> tuple[dict[str, str], bytes]:
    req = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(req, timeout=10) as r:
        return dict(r.headers), r.read()


def test_promtool_check_metrics_passes_on_the_demo_fleet(steady_stack: Stack) -> None:
    promtool = find_binary(["promtool"])
    if promtool is None:
        pytest.skip("promtool not installed (scripts/setup-test-deps)")
    status, body = http_get(f"{steady_stack.daemon_url}/metrics")
    assert status == 200
    assert b"tapwatch_app_shutdown_score{" in body  # judged: the whole page, not a stub
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()
    assert proc.stdout.strip() == b"" and proc.stderr.strip() == b"", "lint warnings"


def test_gzip_and_openmetrics_as_asked(steady_stack: Stack) -> None:
    url = f"{steady_stack.daemon_url}/metrics"
    headers, plain = get(url, {})
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    headers, packed = get(url, {"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    text = gzip.decompress(packed)
    assert text.startswith(b"# HELP") and len(packed) * 5 < len(text)
    # the same render (a poll may end between the two requests: compare the families)
    assert [x for x in text.splitlines() if x.startswith(b"# TYPE")] == [
        x for x in plain.splitlines() if x.startswith(b"# TYPE")
    ]
    headers, om = get(url, {"Accept": "application/openmetrics-text;version=1.0.0"})
    assert headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert om.endswith(b"# EOF\n")
    # Prometheus 2.42 asks for OpenMetrics first on every scrape: it read ours
    prom = steady_stack.prom
    target = prom.get("/api/v1/targets")["activeTargets"][0]
    assert target["health"] == "up" and target["lastError"] == "", target
    assert (prom.value('scrape_samples_scraped{job="tapwatch"}') or 0) > 100
