"""Generated monitoring files match the generator; Alertmanager and Grafana configs hold."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
render = importlib.import_module("monitoring.mixin.render")
alertmanager = importlib.import_module("monitoring.mixin.alertmanager")

GENERATED_DIRS = ("rules", "dashboards", "e2e", "alertmanager")


def test_committed_files_equal_the_generator_output() -> None:
    expected = render.committed_files()
    for rel, text in expected.items():
        path = MONITORING / rel
        assert path.exists(), f"monitoring/{rel} missing: run python -m monitoring.generate"
        assert path.read_text(encoding="utf-8") == text, (
            f"monitoring/{rel} is out of date: run python -m monitoring.generate"
        )
    on_disk = {
        str(p.relative_to(MONITORING))
        for d in GENERATED_DIRS
        for p in (MONITORING / d).rglob("*")
        if p.is_file()
    }
    assert on_disk == set(expected), "stray files in generated directories"


def test_generate_check_and_out_from_the_command_line(tmp_path: Path) -> None:
    check = subprocess.run(
        [sys.executable, "-m", "monitoring.generate", "--check"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert check.returncode == 0, check.stderr
    out = subprocess.run(
        [
            sys.executable, "-m", "monitoring.generate", "--out", str(tmp_path),
            "--set", "grafana_url=https://grafana.example.gov", "--set", "candidate_for=2d",
            "--set", "fleet_jump_lookback=3d",
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    alerts = (tmp_path / "rules" / "alerts.yaml").read_text()
    assert "https://grafana.example.gov/d/tapwatch-app/" in alerts
    assert "http://localhost:3000" not in alerts
    assert (tmp_path / "dashboards" / "tapwatch-fleet.json").exists()
    assert not (tmp_path / "e2e").exists()
    refused = subprocess.run(
        [sys.executable, "-m", "monitoring.generate", "--set", "candidate_for=2d"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert refused.returncode == 2 and "--set only applies with --out" in refused.stderr


def _example() -> dict:
    return yaml.safe_load((MONITORING / "alertmanager" / "alertmanager.example.yml").read_text())


def test_alertmanager_example_routes_by_owner_with_the_office_as_default() -> None:
    cfg = _example()
    route = cfg["route"]
    assert route["receiver"] == "consolidation-office"
    assert route["group_by"] == ["alertname", "app"]
    receivers = {r["name"] for r in cfg["receivers"]}
    owner_routes = [r for r in route["routes"] if any("owner=" in m for m in r.get("matchers", []))]
    assert {r["matchers"][0] for r in owner_routes} == {
        f'owner="{o}"' for o in alertmanager.EXAMPLE_OWNERS
    }
    for r in owner_routes:
        assert r["receiver"] in receivers and r["continue"] is True
    # the last route catches everything so the office sees every app-level alert
    assert route["routes"][-1] == {"receiver": "consolidation-office"}
    assert {r["receiver"] for r in route["routes"]} <= receivers


def test_alertmanager_example_inhibits_candidates_on_a_jump_and_apps_when_down() -> None:
    inhibit = {
        (r["source_matchers"][0], r["target_matchers"][0]): r.get("equal", [])
        for r in _example()["inhibit_rules"]
    }
    assert inhibit[
        ('alertname="TapwatchFleetCandidateJump"', 'alertname="TapwatchAppShutdownCandidate"')
    ] == []
    assert inhibit[('alertname="TapwatchDown"', 'app=~".+"')] == ["instance"]
    assert inhibit[
        ('alertname="TapwatchAppDataStale"', 'component=~"assessment|forced_usage|compliance"')
    ] == ["app"]


def test_alertmanager_config_for_a_test_webhook() -> None:
    cfg = alertmanager.alertmanager_config(
        webhook_base="http://127.0.0.1:4321/hook", owners=("Qingshan Township Government",),
        timing=alertmanager.E2E_TIMING,
    )
    urls = {r["name"]: r["webhook_configs"][0]["url"] for r in cfg["receivers"]}
    assert urls == {
        "consolidation-office": "http://127.0.0.1:4321/hook/consolidation-office",
        "tapwatch-ops": "http://127.0.0.1:4321/hook/ops",
        "owner-qingshan-township-government":
            "http://127.0.0.1:4321/hook/owner/qingshan-township-government",
    }
    assert cfg["route"]["group_wait"] == "1s"


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards() -> None:
    prov = MONITORING / "grafana" / "provisioning"
    ds = yaml.safe_load((prov / "datasources" / "prometheus.yaml").read_text())["datasources"]
    assert [(d["type"], d["uid"], d["url"]) for d in ds] == [
        ("prometheus", "prometheus", "http://localhost:9090")
    ]
    providers = yaml.safe_load((prov / "dashboards" / "tapwatch.yaml").read_text())["providers"]
    assert providers[0]["type"] == "file"
    assert providers[0]["options"]["path"].endswith("/dashboards/tapwatch")
