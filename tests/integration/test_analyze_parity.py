"""`tapwatch analyze` over a dump gives the daemon's findings for the same events."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import msgspec

from tapwatch.analyze import run_analyze
from tapwatch.daemon.runtime import Daemon
from tapwatch.simulator import Simulator, SimulatorOptions
from tapwatch.simulator.fleet import SimClock
from tests.integration.conftest import wait_for, write_daemon_config

APPS = ["risk-point-checkin", "deadline-reports", "empty-shell", "daily-work",
        "duplicate-forms-a", "duplicate-forms-b", "duplicate-forms-c", "cadre-academy",
        "party-official-account", "tax-official-account", "legal-official-account"]
#: cross-app findings: the fleet-level passes (consolidation after the assessment)
CROSS_APP_KINDS = {"duplicate_reporting", "ritual_rounds", "consolidation"}
#: these read the app's own usage snapshot (release dates, features), which a dump lacks:
#: the assessment's band, and where a banned feature was seen (its id does not change)
SNAPSHOT_KINDS = {"shutdown_candidate", "needs_review"}
SNAPSHOT_EVIDENCE = {"banned_feature"}


def _comparable(findings: list[dict]) -> dict[str, dict]:
    return {
        f["id"]: ({"kind": f["kind"], "app": f["app"]} if f["kind"] in SNAPSHOT_EVIDENCE else f)
        for f in findings
        if f["kind"] not in SNAPSHOT_KINDS
    }


async def test_analyze_matches_daemon(tmp_path: Path) -> None:
    frozen = time.time() - 120  # the simulated fleet stops here: both see the same events
    sim = Simulator(
        SimulatorOptions(seed=1, history_days=40, include=APPS),
        clock=SimClock(40, 0.0, real=lambda: frozen),
    )
    await sim.start()
    try:
        (tmp_path / "apps.d").mkdir()
        sim.write_registry(tmp_path / "apps.d" / "fleet.yaml")
        cfg = write_daemon_config(tmp_path, [], extra={"apps_dir": "apps.d"})
        d = Daemon(cfg)
        await d.start()
        try:
            await wait_for(lambda: all(d.states[a].caught_up for a in APPS), timeout=90)
            d.clock = lambda: frozen + 1
            await d.detect_once()
            daemon_findings = msgspec.to_builtins(d.detect.result.findings)
        finally:
            await d.stop()
        dump = tmp_path / "dump.jsonl"
        with dump.open("w") as f:
            for app in APPS:
                for ev in sim.iter_events(app):
                    f.write(json.dumps({**ev, "app": app}) + "\n")
    finally:
        await sim.stop()
    out = tmp_path / "analyze.json"
    args = argparse.Namespace(
        files=[str(dump)], registry=str(cfg), app=None, json_out=str(out), now=str(frozen + 1),
        key_file=str(tmp_path / "pseudonym.key"), quiet=True, log_level="warning",
    )
    assert run_analyze(args) == 0
    offline = _comparable(json.loads(out.read_text())["findings"])
    online = _comparable(daemon_findings)
    kinds = {f["kind"] for f in online.values()}
    assert {"bulk_checkin", "deadline_concentration", *CROSS_APP_KINDS} <= kinds
    assert offline.keys() == online.keys()
    for fid, f in online.items():
        assert offline[fid] == f, fid
    # one finding per group of apps, naming the same apps, filed under the same app
    # (offline == online above); the groups are the planted ones
    groups = {f["kind"]: sorted(f["apps"]) for f in online.values()
              if f["kind"] in {"ritual_rounds", "consolidation"}}
    assert groups == {
        "ritual_rounds": ["legal-official-account", "party-official-account",
                          "tax-official-account"],
        "consolidation": ["duplicate-forms-a", "duplicate-forms-b", "duplicate-forms-c"],
    }
    assert sum(f["kind"] == "ritual_rounds" for f in online.values()) == 1
