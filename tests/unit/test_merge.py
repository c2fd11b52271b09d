"""One finding seen by two passes or windows: merged by id, all its days kept."""

from __future__ import annotations

from tapwatch.detectors.base import Finding, Reason
from tapwatch.detectors.merge import merge_findings, merge_into


def ring(days: list[str], score: float, start: float, end: float, ids: list[str]) -> Finding:
    return Finding(
        id="r1",
        kind="bulk_checkin",
        app="a",
        severity="critical" if score > 0.8 else "warning",
        score=score,
        window_start=start,
        window_end=end,
        summary=f"12 accounts checked in at point p1 on {len(days)} days",
        reasons=[Reason(code="many_accounts", text="t", value=12, threshold=3)],
        evidence={
            "days": days,
            "event_ids": ids,
            "event_ids_total": len(ids),
            "bursts": [{"start": start, "accounts": 12}],
            "point": "p1",
        },
        confidence=0.5,
    )


def test_the_stronger_view_with_every_day_and_event() -> None:
    early = ring(["2026-01-07", "2026-01-08"], 0.9, 100.0, 200.0, ["e1", "e2"])
    late = ring(["2026-01-09"], 0.7, 300.0, 400.0, ["e3"])
    m = merge_findings(early, late)
    assert m.evidence["days"] == ["2026-01-07", "2026-01-08", "2026-01-09"]
    assert m.evidence["event_ids"] == ["e1", "e2", "e3"]
    assert m.evidence["event_ids_total"] == 3
    assert [b["start"] for b in m.evidence["bursts"]] == [100.0, 300.0]
    assert (m.window_start, m.window_end, m.score, m.severity) == (100.0, 400.0, 0.9, "critical")
    assert m.summary == (
        "12 accounts checked in at point p1 on 2 days "
        "(seen on 3 days in all: 2026-01-07 to 2026-01-09)"
    )
    # seen again: the note is replaced, not repeated
    again = merge_findings(m, ring(["2026-01-10"], 0.5, 500.0, 600.0, ["e4"]))
    assert again.summary.endswith("(seen on 4 days in all: 2026-01-07 to 2026-01-10)")
    assert again.summary.count("seen on") == 1


def test_merging_in_order_is_what_the_store_keeps() -> None:
    found: dict[str, Finding] = {}
    views = [
        ring(["2026-01-07"], 0.6, 100.0, 150.0, ["e1"]),
        ring(["2026-01-07", "2026-01-08"], 0.8, 100.0, 250.0, ["e1", "e2"]),
    ]
    merge_into(found, views)
    assert list(found) == ["r1"] and found["r1"].evidence["days"] == ["2026-01-07", "2026-01-08"]


def test_an_assessment_is_replaced_not_merged() -> None:
    old = ring([], 0.9, 0.0, 1.0, [])
    old = Finding(**{f: getattr(old, f) for f in Finding.__struct_fields__} | {
        "kind": "shutdown_candidate", "evidence": {"signals": [1]}})
    new = Finding(**{f: getattr(old, f) for f in Finding.__struct_fields__} | {
        "score": 0.2, "evidence": {"signals": [2]}})
    assert merge_findings(old, new) is new
