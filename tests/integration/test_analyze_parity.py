"""`tapwatch analyze` gives the daemon's findings for the same events.

Two statements of it:
- its final judgement is the daemon's pass at the same instant, over HTTP and the real
  collector (the pass at the end of the dump, `SweepResult.final`);
- its whole-dump findings are what the daemon's store holds after passes at the instants of
  analyze's windows, had it ingested the dump's events as they happened (the events fed
  page by page through the daemon's normaliser and store, the passes through the detector
  worker's input cache, the findings through the store's upsert).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import msgspec

from tapwatch.analyze import DEFAULT_STEP_DAYS, analyze_files, load_registry
from tapwatch.analyze.sweep import midnight, window_dates
from tapwatch.config import app_profile, load_config
from tapwatch.daemon.detect_worker import InputCache, run_detect_pass
from tapwatch.daemon.runtime import Daemon
from tapwatch.events import decode_page
from tapwatch.pseudonym import Pseudonymizer, load_key
from tapwatch.simulator import Simulator, SimulatorOptions
from tapwatch.simulator.fleet import SimClock
from tapwatch.sources.normalise import EventNormaliser
from tapwatch.store.sqlite import IngestBatch, Store
from tapwatch.timestamps import parse_one
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


async def _fleet(tmp_path: Path, frozen: float) -> tuple[Simulator, Path, Path]:
    """The simulated fleet stopped at `frozen` (serving), its registry, a daemon config and
    a dump of its events."""
    sim = Simulator(
        SimulatorOptions(seed=1, history_days=40, include=APPS),
        clock=SimClock(40, 0.0, real=lambda: frozen),
    )
    await sim.start()
    (tmp_path / "apps.d").mkdir()
    sim.write_registry(tmp_path / "apps.d" / "fleet.yaml")
    cfg = write_daemon_config(tmp_path, [], extra={"apps_dir": "apps.d"})
    dump = tmp_path / "dump.jsonl"
    with dump.open("w") as f:
        for app in APPS:
            for ev in sim.iter_events(app):
                f.write(json.dumps({**ev, "app": app}) + "\n")
    return sim, cfg, dump


def _analyze(tmp_path: Path, cfg: Path, dump: Path, now: float):
    registry, daemon = load_registry(cfg)
    key = load_key(tmp_path / "pseudonym.key")
    return analyze_files([dump], Pseudonymizer(key), registry=registry, daemon=daemon, now=now)


async def test_final_pass_matches_the_daemon(tmp_path: Path) -> None:
    frozen = time.time() - 120  # the simulated fleet stops here: both see the same events
    sim, cfg, dump = await _fleet(tmp_path, frozen)
    try:
        d = Daemon(cfg)
        await d.start()
        try:
            await wait_for(lambda: all(d.states[a].caught_up for a in APPS), timeout=90)
            d.clock = lambda: frozen + 1
            await d.detect_once()
            daemon_findings = msgspec.to_builtins(d.detect.result.findings)
        finally:
            await d.stop()
    finally:
        await sim.stop()
    report = _analyze(tmp_path, cfg, dump, frozen + 1)
    offline = _comparable(msgspec.to_builtins(report.sweep.final.findings))
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


async def test_whole_dump_matches_the_daemon_replayed_over_its_span(tmp_path: Path) -> None:
    frozen = time.time() - 120
    sim, cfg, dump = await _fleet(tmp_path, frozen)
    await sim.stop()
    end = frozen + 1
    report = _analyze(tmp_path, cfg, dump, end)

    config = load_config(cfg)
    apps = [a.config for a in config.apps]
    profiles = {a.id: app_profile(a, config.daemon) for a in apps}
    events = sorted(
        ({**e, "app": a} for a in APPS for e in sim.iter_events(a)),
        key=lambda e: (parse_one(e["ts"]), e["id"]),
    )
    first = parse_one(events[0]["ts"])
    days = window_dates(first, end, list(profiles.values()), DEFAULT_STEP_DAYS)
    instants = [midnight(d, profiles[APPS[0]]) for d in days] + [end]
    assert len({p.timezone for p in profiles.values()}) == 1  # one instant fits every app
    assert len(instants) == report.sweep.windows > 5

    p = Pseudonymizer(load_key(tmp_path / "pseudonym.key"))
    store = Store(tmp_path / "replay.sqlite")
    cache = InputCache()
    i = 0
    for at in instants:
        pages: dict[str, list[dict]] = defaultdict(list)
        while i < len(events) and parse_one(events[i]["ts"]) < at:
            pages[events[i]["app"]].append(events[i])
            i += 1
        for app_id, evs in pages.items():
            norm = EventNormaliser(app_id, p, at, 600.0, at - 400 * 86400)
            for k in range(0, len(evs), 1000):
                body = msgspec.json.encode({"events": evs[k : k + 1000], "has_more": False})
                batch = IngestBatch(events=norm.from_page(decode_page(body)))
                store.ingest(app_id, batch, at)
            assert not norm.take_rejected()
        result = run_detect_pass(store, apps, config, at, cache).result
        store.upsert_findings(result.findings, at)
    assert i == len(events)

    stored = _comparable(msgspec.to_builtins(store.findings()))
    # as stored: JSON (an infinite histogram edge becomes null there)
    offline = _comparable(msgspec.json.decode(msgspec.json.encode(report.sweep.findings)))
    final = _comparable(msgspec.to_builtins(result.findings))
    assert stored.keys() == offline.keys()
    for fid, f in stored.items():
        assert offline[fid] == f, fid
    # the whole span was judged: far more than the last window holds
    assert len(offline) > 2 * len(final)
    kinds = {f["kind"] for f in offline.values()}
    assert {"bulk_checkin", "deadline_concentration", *CROSS_APP_KINDS} <= kinds
    assert _comparable(msgspec.to_builtins(report.sweep.final.findings)) == final
    # neither has the apps' own snapshots: the assessments are the same, their long view
    # (daily totals over the rollup retention) included
    assert msgspec.to_builtins(report.sweep.final.assessments) == msgspec.to_builtins(
        result.assessments
    )
