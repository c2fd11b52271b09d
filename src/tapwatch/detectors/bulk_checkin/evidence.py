"""Step 5 of bulk check-in: the finding an inspector reads.

The reasons say what the ring physically is (how many accounts, how tight the spot, how
short the moment, standing apart from other arrivals) and which signals raised or lowered
the score; the evidence holds what the inspector page plots (positions in metres around the
centre, the arrivals timeline, one row per burst) and every signal measured, present or
not. The id keys on the place and the sorted account pseudonyms, so a ring keeps its id as
new days arrive.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.bulk_checkin.linking import Ring, place_label
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.bulk_checkin.signal import RULE_CHECKIN, RULE_UPLOADS, Measures, Signal
from tapwatch.detectors.geo import offsets_m
from tapwatch.detectors.stats import EVIDENCE_LIMIT, bounded_event_ids, data_confidence
from tapwatch.window import EventWindow

KIND = "bulk_checkin"


def finding(
    inp: DetectorInput,
    ring: Ring,
    score: float,
    signals: list[Signal],
    m: Measures,
    s: Settings,
) -> Finding:
    """The finding for one scored ring."""
    win = inp.events
    main = ring.main
    names = sorted(win.accounts[a] for a in ring.accounts)
    reasons = _physical(ring, s) + [
        Reason(code=g.code, text=g.text, value=g.value, threshold=g.threshold, rule=g.rule)
        for g in signals
        if g.present
    ]
    located = int(np.isfinite(win.lat[ring.rows]).sum())
    return Finding(
        id=finding_id(KIND, win.app, place_label(main), *names),
        kind=KIND,
        app=win.app,
        severity="critical" if score >= s.critical_score else "warning",
        score=score,
        window_start=float(win.ts[ring.rows[0]]),
        window_end=float(win.ts[ring.rows[-1]]),
        summary=_summary(ring, signals),
        reasons=reasons,
        evidence=_evidence(win, ring, signals, m, names),
        confidence=data_confidence((located, ring.rows.size), (ring.size, s.strong_accounts)),
    )


def _physical(ring: Ring, s: Settings) -> list[Reason]:
    """What every finding is: many accounts, one spot, one moment, standing apart."""
    b = ring.main
    spread = f"{b.spread_m:.0f} m" if math.isfinite(b.spread_m) else "unmeasured"
    return [
        Reason(
            code="many_accounts",
            text=f"{ring.size} distinct accounts checked in within one burst",
            value=float(ring.size),
            threshold=float(s.min_accounts),
            rule=RULE_CHECKIN,
        ),
        Reason(
            code="tight_spread",
            text=f"80 % of phones within {spread} of one spot net of GPS noise "
            f"({b.accuracy_m:.0f} m accuracy): phones in one hand or on one table, not "
            "people spread about a room",
            value=round(b.spread_m, 1) if math.isfinite(b.spread_m) else -1.0,
            threshold=s.max_spread_m,
            rule=RULE_UPLOADS,
        ),
        Reason(
            code="one_moment",
            text=f"all within {_duration(b.duration_s)}, {b.seconds_per_phone:.1f} s per phone",
            value=round(b.seconds_per_phone, 2),
            threshold=s.max_seconds_per_phone,
            rule=RULE_CHECKIN,
        ),
        Reason(
            code="stands_alone",
            text=f"{b.context} other check-ins at the place within "
            f"{s.context_s / 60:.0f} min of the burst (not part of a crowd)",
            value=float(b.context),
            threshold=s.max_context_share * b.rows.size,
        ),
    ]


def _duration(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def _summary(ring: Ring, signals: list[Signal]) -> str:
    b = ring.main
    where = f"point {b.point}" if b.point else f"{b.lat:.5f},{b.lon:.5f}"
    present = {g.code for g in signals if g.present}
    if "all_at_once" in present:
        how = f"all at once ({_duration(b.duration_s)})"
    elif "steady_rhythm" in present:
        how = f"one at a time {b.median_gap:.1f} s apart"
    else:
        how = f"within {_duration(b.duration_s)}"
    # under a metre net of GPS noise: the fixes are as close as GPS can tell
    phones = (
        "phones at one spot (within GPS accuracy)"
        if math.isfinite(b.spread_m) and b.spread_m < 1.0
        else f"phones within {b.spread_m:.0f} m"
        if math.isfinite(b.spread_m)
        else "phones at one point"
    )
    days = (
        f" on {len(ring.days)} days ({', '.join(ring.days)})"
        if len(ring.days) > 1
        else f" on {ring.days[0]}"
    )
    return (
        f"{ring.size} accounts checked in at {where} {how} with {phones}{days}: several "
        "accounts' phones at one spot at one moment, checked in by one operator."
    )


def _evidence(
    win: EventWindow, ring: Ring, signals: list[Signal], m: Measures, names: list[str]
) -> dict[str, Any]:
    main, rows = ring.main, ring.rows
    timeline = []
    for i, b in enumerate(ring.bursts):
        if math.isfinite(b.lat):
            dx, dy = offsets_m(win.lat[b.rows], win.lon[b.rows], b.lat, b.lon)
        else:
            dx = dy = np.full(b.rows.size, np.nan)
        for j, r in enumerate(b.rows.tolist()):
            timeline.append(
                {
                    "burst": i,
                    "account": win.accounts[int(win.account[r])],
                    "ts": float(win.ts[r]),
                    "dx_m": _num(dx[j]),
                    "dy_m": _num(dy[j]),
                }
            )
    coords = [
        [float(win.lat[r]), float(win.lon[r])] if np.isfinite(win.lat[r]) else None
        for r in rows[:EVIDENCE_LIMIT].tolist()
    ]
    gaps = np.concatenate([np.diff(win.ts[b.rows]) for b in ring.bursts])
    return {
        **bounded_event_ids(win, rows),
        "accounts": names,
        "devices": sorted({win.strings[c] for c in win.device[rows].tolist() if c >= 0}),
        "point": main.point,
        "centre": {"lat": _deg(main.lat), "lon": _deg(main.lon)},
        "coordinates": coords,
        "timeline": timeline[:EVIDENCE_LIMIT],
        "days": ring.days,
        "bursts": [
            {
                "start": float(win.ts[b.rows[0]]),
                "end": float(win.ts[b.rows[-1]]),
                "accounts": b.n_accounts,
                "events": int(b.rows.size),
                "seconds_per_phone": round(b.seconds_per_phone, 2),
                "median_gap_s": round(b.median_gap, 2),
                "gap_cv": round(b.gap_cv, 3),
                "overlap_share": round(b.overlap_share, 3),
                "spread_m": _num(b.spread_m),
                "radius_m": _num(b.radius_m),
                "accuracy_m": round(b.accuracy_m, 1),
                "others_around": b.context,
            }
            for b in ring.bursts
        ],
        "gaps": {
            "median_s": round(float(np.median(gaps)), 2),
            "cv": round(float(gaps.std() / gaps.mean()), 3) if gaps.mean() > 0 else None,
            "min_s": round(float(gaps.min()), 2),
            "max_s": round(float(gaps.max()), 2),
            "overlap_share": round(float(np.mean(gaps < 1.0)), 3),
        },
        "shared": {
            "network_share": round(m.network_share, 3),
            "device_model_share": round(m.device_model_share, 3),
            "photo_dup_share": round(m.photo_dup_share, 3),
            "accounts_per_device": round(m.accounts_per_device, 2),
        },
        "accounts_elsewhere": sorted(win.accounts[a] for a in m.elsewhere),
        "accounts_never_here": m.never_here,
        "accounts_on_borrowed_phones": m.borrowed,
        "habit_ratio": _num(ring.habit_ratio),
        "common_shift": _num(ring.common_shift),
        "signals": [
            {"code": g.code, "value": g.value, "threshold": g.threshold, "present": g.present}
            for g in signals
        ],
    }


def _deg(v: float) -> float | None:
    """JSON-safe coordinate (None for NaN), to 1e-6 degrees (about 10 cm)."""
    v = float(v)
    return round(v, 6) if math.isfinite(v) else None


def _num(v: float) -> float | None:
    """JSON-safe float (None for NaN or infinity), rounded to centimetres."""
    v = float(v)
    return round(v, 2) if math.isfinite(v) else None
