"""The generated rules and Alertmanager configs pass Prometheus's and Alertmanager's own tools.

promtool and amtool come from Debian's prometheus and prometheus-alertmanager packages,
installed by scripts/setup-test-deps (CI runs it first).
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
queries = importlib.import_module("monitoring.queries")

PROMTOOL = shutil.which("promtool")
AMTOOL = shutil.which("amtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool not installed: run scripts/setup-test-deps"
)
needs_amtool = pytest.mark.skipif(
    AMTOOL is None, reason="amtool not installed: run scripts/setup-test-deps"
)
RULE_FILES = sorted((MONITORING / "rules").glob("*.yaml")) + sorted(
    (MONITORING / "e2e" / "rules").glob("*.yaml")
)
AM_CONFIGS = [MONITORING / "alertmanager" / "alertmanager.example.yml",
              MONITORING / "e2e" / "alertmanager.yml"]


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=ROOT, capture_output=True, text=True, timeout=240
    )


@needs_promtool
def test_promtool_check_rules() -> None:
    result = _run(PROMTOOL, "check", "rules", *RULE_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    tests = sorted((MONITORING / "tests").glob("*_test.yaml"))
    assert len(tests) >= 5
    result = _run(PROMTOOL, "test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(tests)


@needs_promtool
def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses rule expressions, so each rendered panel query becomes a recording rule
    rules = [
        {"record": f"tapwatch_dashboard_query_{i}", "expr": q.render(app="pa-checkin")}
        for i, q in enumerate(queries.panel_queries())
    ]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = _run(PROMTOOL, "check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


@needs_amtool
@pytest.mark.parametrize("config", AM_CONFIGS, ids=lambda p: p.name)
def test_amtool_check_config(config: Path) -> None:
    result = _run(AMTOOL, "check-config", config)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_amtool
@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (
            ["alertname=TapwatchAppShutdownCandidate", "owner=District Party School", "app=a"],
            "owner-district-party-school,consolidation-office",
        ),
        (
            ["alertname=TapwatchBulkCheckin", "owner=unknown-unit", "app=a"],
            "consolidation-office",
        ),
        (
            ["alertname=TapwatchAppScrapeFailing", "component=collector",
             "owner=District Party School", "app=a"],
            "tapwatch-ops",
        ),
        (
            ["alertname=TapwatchFleetCandidateJump", "component=assessment"],
            "tapwatch-ops,consolidation-office",
        ),
    ],
)
def test_alertmanager_example_routes(labels: list[str], receivers: str) -> None:
    result = _run(
        AMTOOL, "config", "routes", "test",
        f"--config.file={AM_CONFIGS[0]}", *labels,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers
