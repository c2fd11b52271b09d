"""Findings queries, status changes with their audit log, and the evidence hold against
raw retention, on findings the real detectors produce from synthetic check-ins."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest

from tapwatch.columns import EventColumns
from tapwatch.detectors.base import AppProfile, DetectorInput
from tapwatch.detectors.engine import run_fleet
from tapwatch.store.findings import (
    FindingNotFound,
    FindingQuery,
    StatusError,
    audit_log,
    evidence_event_ids,
    evidence_events,
    get_finding,
    held_events,
    iter_findings,
    query_findings,
    set_status,
)
from tapwatch.store.sqlite import IngestBatch, Store
from tapwatch.window import DAY, local_day_of
from tests.unit.test_bulk_checkin import APP, BASE, Scenario, people

TZ = ZoneInfo("Asia/Shanghai")
NOW = BASE + 3 * DAY


def rings_store(tmp: Path) -> Store:
    """A store holding three rings' check-ins (one ring per day) and the findings the
    detectors made of them."""
    sc = Scenario(seed=7)
    for day, prefix in enumerate(("a", "b", "c")):
        sc.ring(BASE + day * DAY + 600, people(prefix, 10), at=(day * 5000.0, 0.0))
    # The scenario draws positions with numpy; the store takes plain floats, as decoded.
    events = [
        msgspec.structs.replace(e, ts=float(e.ts), lat=float(e.lat), lon=float(e.lon))
        for e in sc.events
    ]
    store = Store(tmp / "store.sqlite")
    store.ingest(APP, IngestBatch(events=EventColumns.from_events(events)), now=BASE)
    store.fold_rollups(lambda _app: TZ)
    inp = DetectorInput(
        app=AppProfile(id=APP),
        now=NOW,
        events=store.event_window(APP, BASE - DAY),
        account_days=store.account_days(APP, local_day_of(BASE, TZ) - 120),
        app_hours=store.app_hours(APP, local_day_of(BASE, TZ) - 120),
    )
    result = run_fleet([inp])
    rings = [f for f in result.findings if f.kind == "bulk_checkin"]
    assert len(rings) == 3
    for i, f in enumerate(rings):  # first seen on different passes: a defined order
        store.upsert_findings([f], now=NOW + i)
    store.upsert_findings(result.findings, now=NOW + 10)
    return store


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = rings_store(tmp_path)
    yield s
    s.close()


def test_query_filters_orders_and_pages(store: Store) -> None:
    page = query_findings(store, FindingQuery(kinds=("bulk_checkin",)))
    assert page.total == 3 and page.next_after is None
    firsts = [r.first_seen for r in page.records]
    assert firsts == sorted(firsts, reverse=True)  # newest first
    ids = [r.finding.id for r in page.records]
    walked, after = [], None
    while True:
        p = query_findings(store, FindingQuery(kinds=("bulk_checkin",), limit=2, after=after))
        walked += [r.finding.id for r in p.records]
        after = p.next_after
        if after is None:
            break
    assert walked == ids
    assert [r.finding.id for r in iter_findings(store, FindingQuery(), chunk=1)] == [
        r.finding.id for r in query_findings(store, FindingQuery(limit=500)).records
    ]
    assert query_findings(store, FindingQuery(apps=())).total == 0
    assert query_findings(store, FindingQuery(apps=("other",))).total == 0
    assert query_findings(store, FindingQuery(statuses=("confirmed",))).total == 0
    # the window overlaps [since, until): the second day's ring only
    day2 = page.records[1].finding
    q = FindingQuery(kinds=("bulk_checkin",), since=BASE + DAY, until=BASE + 2 * DAY)
    assert [r.finding.id for r in query_findings(store, q).records] == [day2.id]
    q = FindingQuery(time_field="first_seen", since=NOW + 1, until=NOW + 2)
    assert [r.finding.id for r in query_findings(store, q).records] == [day2.id]
    q = FindingQuery(kinds=("bulk_checkin",), offset=2, limit=1)
    assert query_findings(store, q).records[0].finding.id == ids[2]


def test_status_changes_append_audit_entries_and_hold_evidence(store: Store) -> None:
    f = query_findings(store, FindingQuery(kinds=("bulk_checkin",))).records[0].finding
    ids = evidence_event_ids(f)[APP]
    assert len(ids) == 10
    entry, held = set_status(store, f.id, "confirmed", "li.wei", "saw the phones", NOW + 20)
    assert held == 10
    assert (entry.from_status, entry.to_status, entry.actor) == ("open", "confirmed", "li.wei")
    assert {e.id for e in held_events(store, f.id)} == ids
    with pytest.raises(StatusError, match="already confirmed") as err:
        set_status(store, f.id, "confirmed", "li.wei", None, NOW + 21)
    assert err.value.conflict
    with pytest.raises(StatusError, match="a dismissal needs a reason"):
        set_status(store, f.id, "dismissed", "li.wei", " ", NOW + 21)
    with pytest.raises(StatusError, match="status must be one of"):
        set_status(store, f.id, "closed", "li.wei", None, NOW + 21)
    with pytest.raises(FindingNotFound):
        set_status(store, "nope", "confirmed", "li.wei", None, NOW + 21)
    set_status(store, f.id, "dismissed", "wang.fang", "a drill", NOW + 22)
    assert held_events(store, f.id) == []
    log = audit_log(store, f.id)
    assert [(a.from_status, a.to_status, a.actor, a.reason) for a in log] == [
        ("open", "confirmed", "li.wei", "saw the phones"),
        ("confirmed", "dismissed", "wang.fang", "a drill"),
    ]
    # the detector produces it again: the dismissal stays, and nothing auto-resolves it
    store.upsert_findings([f], now=NOW + 30)
    store.resolve_absent_findings([APP], set(), NOW + 30)
    rec = get_finding(store, f.id)
    assert rec is not None and rec.status == "dismissed"
    assert len(audit_log(store, f.id)) == 2


def test_prune_deletes_unheld_raw_events_and_keeps_confirmed_evidence(store: Store) -> None:
    recs = query_findings(store, FindingQuery(kinds=("bulk_checkin",))).records
    confirmed, other = recs[0], recs[1]
    set_status(store, confirmed.finding.id, "confirmed", "li.wei", None, NOW)
    events, source = evidence_events(store, other)
    assert source == "raw" and len(events) == 10
    pruned = store.prune(NOW + 30 * DAY, raw_retention=7 * DAY, rollup_retention=400 * DAY)
    assert pruned["event_batches"] >= 1
    assert store.raw_event_count() == 0
    events, source = evidence_events(store, confirmed)
    assert source == "held"
    assert {e.id for e in events} == evidence_event_ids(confirmed.finding)[APP]
    assert all(
        e.account == t
        for e, t in zip(
            events, [e.account for e in held_events(store, confirmed.finding.id)], strict=True
        )
    )
    assert evidence_events(store, other) == ([], "none")
    # releasing after the prune leaves nothing behind
    set_status(store, confirmed.finding.id, "resolved", "li.wei", "unit warned", NOW + 31 * DAY)
    assert evidence_events(store, confirmed) == ([], "none")


def test_cross_app_finding_counts_and_lists_for_each_of_its_apps(tmp_path: Path) -> None:
    """A duplicate-reporting finding about a pair of apps: filed under one, listed,
    counted and filtered for both; filed under the other next time, still one finding."""
    from tapwatch.detectors.base import Finding

    store = Store(tmp_path / "store.sqlite")

    def pair(first: str, second: str, score: float) -> Finding:
        return Finding(
            id="dup-pair-w47", kind="duplicate_reporting", app=first, apps=[first, second],
            severity="warning", score=score, window_start=NOW - DAY, window_end=NOW,
            summary="both received the same reports", reasons=[], evidence={},
            confidence=1.0,
        )

    store.upsert_findings([pair("culture", "tourism", 0.2)], now=NOW)
    assert store.open_findings_by_kind() == {
        ("culture", "duplicate_reporting"): 1, ("tourism", "duplicate_reporting"): 1
    }
    assert [f.id for f in store.findings(app="tourism")] == ["dup-pair-w47"]
    page = query_findings(store, FindingQuery(apps=("tourism",)))
    assert page.total == 1 and page.records[0].finding.app == "culture"
    assert query_findings(store, FindingQuery(apps=("other",))).total == 0
    assert store.finding_totals() == {
        ("culture", "duplicate_reporting", "warning"): 1,
        ("tourism", "duplicate_reporting", "warning"): 1,
    }
    # Next pass it is filed under tourism: one finding, the same two apps.
    assert store.upsert_findings([pair("tourism", "culture", 0.3)], now=NOW + 60) == []
    assert store.open_findings_by_kind() == {
        ("culture", "duplicate_reporting"): 1, ("tourism", "duplicate_reporting"): 1
    }
    [f] = store.findings(app="culture")
    assert f.app == "tourism" and f.score == 0.3
    set_status(store, "dup-pair-w47", "dismissed", "inspector", "known, being merged", NOW + 90)
    assert store.open_findings_by_kind() == {}
