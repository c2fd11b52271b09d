"""Evaluate the bulk check-in detector on real organic check-ins with planted rings of
every tempo and planted legitimate groups (see bench/bulk_scenes.py for the families).

Each seed runs four times: check-ins placed by grid cells (no declared points) or with the
venues as declared points (check-ins carry the venue code), with the apps' reported GPS
accuracy or with none. Settings are chosen on development seeds (1-3) only; held-out seeds
and the held-out families are run for the final figures.

    .venv/bin/python bench/eval_bulk_checkin.py [--seeds 1 2 3] [--holdout 99 100 101]
        [--holdout 200 201 202]
        [--heldout-families] [--write-doc] [--settings JSON]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec

from bulk_scenes import (
    APP,
    CROWD_FAMILIES,
    DIAGNOSTIC_FAMILIES,
    HELDOUT_CROWD_FAMILIES,
    HELDOUT_RING_FAMILIES,
    RING_FAMILIES,
    SIZE_BUCKETS,
    build,
)
from tapwatch.detectors import bulk_checkin
from tapwatch.detectors.base import AppProfile, CheckinPoint, DetectorInput
from tapwatch.window import AccountDays, AppHours, EventWindow

DOC = Path(__file__).resolve().parent.parent / "docs" / "evaluation-bulk-checkin.md"
TZ = ZoneInfo("America/New_York")
RING_LIKE = (*RING_FAMILIES, *HELDOUT_RING_FAMILIES, *DIAGNOSTIC_FAMILIES)
BIG = 8  # rings of this many phones or more carry the recall goal


@dataclass
class Result:
    """One run: counts from which every rate is pooled."""

    name: str
    n_organic: int = 0
    organic_flagged: int = 0
    flagged: int = 0
    ring_flagged: int = 0
    findings: int = 0
    seconds: float = 0.0
    n_events: int = 0
    #: (family, size bucket or "1 day"/"2+ days") -> [found, total] ring-days
    recall: dict[tuple[str, str], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    #: family -> [flagged, total] group-days
    crowds: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))


def bucket_of(size: int) -> str:
    lo, hi = next(b for b in SIZE_BUCKETS if b[0] <= size <= b[1])
    return f"{lo}-{hi}"


def run(
    seed: int,
    with_points: bool,
    accuracy: bool,
    families: tuple[str, ...],
    settings: bulk_checkin.Settings,
) -> Result:
    w = build(seed, with_points, families)
    events = w.events
    if not accuracy:  # an app that reports no accuracy: the fixes are as noisy, unlabelled
        events = [msgspec.structs.replace(e, accuracy_m=None) for e in events]
    win = EventWindow.from_events(APP, events)
    points: tuple[CheckinPoint, ...] = ()
    if with_points:
        points = tuple(
            CheckinPoint(id=f"v{v}", lat=la, lon=lo, radius_m=50.0)
            for v, (la, lo) in sorted(w.venue_ll.items())
        )
    inp = DetectorInput(
        app=AppProfile(id=APP, points=points, timezone=TZ),
        now=float(win.ts[-1]) + 60,
        events=win,
        account_days=AccountDays.from_rows([], []),
        app_hours=AppHours.from_rows([]),
    )
    t = time.perf_counter()
    findings = bulk_checkin.detect(inp, settings)
    secs = time.perf_counter() - t
    flagged = {i for f in findings for i in f.evidence["event_ids"]}
    fam_of = w.truth.family_of
    r = Result(
        name=f"seed {seed}, {'points' if with_points else 'grid'}, "
        f"{'accuracy' if accuracy else 'no accuracy'}",
        n_organic=w.n_organic,
        organic_flagged=sum(1 for e in flagged if e not in fam_of),
        flagged=len(flagged),
        ring_flagged=sum(1 for e in flagged if e in fam_of and fam_of[e][0] in RING_LIKE),
        findings=len(findings),
        seconds=secs,
        n_events=len(win),
    )
    for inst, ids in w.truth.instances.items():
        fam = fam_of[next(iter(ids))][0]
        if inst in w.truth.ring_size:
            size = w.truth.ring_size[inst]
            found = len(ids & flagged) >= 0.5 * len(ids)
            keys = [bucket_of(size)]
            if size >= BIG:
                keys.append("1 day" if w.truth.ring_days[inst] == 1 else "2+ days")
            for k in keys:
                r.recall[(fam, k)][0] += found
                r.recall[(fam, k)][1] += 1
        elif fam in CROWD_FAMILIES or fam in HELDOUT_CROWD_FAMILIES:
            r.crowds[fam][0] += bool(ids & flagged)
            r.crowds[fam][1] += 1
    return r


def frac(num: int, den: int, pct: bool = False) -> str:
    if not den:
        return "-"
    return f"{num / den:.1%} ({num}/{den})" if pct else f"{num / den:.3f} ({num}/{den})"


def runs_table(results: list[Result]) -> str:
    lines = [
        "| run | precision (check-ins) | organic flagged /100k | findings | detect s |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        prec = r.ring_flagged / r.flagged if r.flagged else float("nan")
        lines.append(
            f"| {r.name} | {prec:.3f} | {r.organic_flagged / r.n_organic * 1e5:.1f} "
            f"| {r.findings} | {r.seconds:.2f} |"
        )
    flagged = sum(r.flagged for r in results)
    prec = sum(r.ring_flagged for r in results) / flagged if flagged else float("nan")
    org = sum(r.organic_flagged for r in results) / sum(r.n_organic for r in results) * 1e5
    lines.append(
        f"| **pooled** | {prec:.3f} | {org:.1f} | {sum(r.findings for r in results)} "
        f"| {sum(r.seconds for r in results):.2f} |"
    )
    return "\n".join(lines)


def rings_table(results: list[Result], families: tuple[str, ...]) -> str:
    cols = [f"{lo}-{hi}" for lo, hi in SIZE_BUCKETS] + ["1 day", "2+ days"]
    head = ["ring family", f"**recall {BIG}+** (goal 0.95)"]
    head += [f"recall {c}" for c in cols[:4]] + [f"recall {BIG}+, {c}" for c in cols[4:]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    big = [f"{lo}-{hi}" for lo, hi in SIZE_BUCKETS if lo >= BIG]
    for fam in families:
        found = sum(r.recall[(fam, c)][0] for r in results for c in big)
        total = sum(r.recall[(fam, c)][1] for r in results for c in big)
        cells = [fam, f"**{frac(found, total)}**"]
        for c in cols:
            found = sum(r.recall[(fam, c)][0] for r in results)
            total = sum(r.recall[(fam, c)][1] for r in results)
            cells.append(frac(found, total))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def crowds_table(results: list[Result], families: tuple[str, ...]) -> str:
    lines = ["| group family | flagged (group-days with any check-in flagged) |", "|---|---|"]
    for fam in families:
        fl = sum(r.crowds[fam][0] for r in results)
        total = sum(r.crowds[fam][1] for r in results)
        lines.append(f"| {fam} | {frac(fl, total, pct=True)} |")
    return "\n".join(lines)


def section(
    title: str,
    seeds: list[int],
    families: tuple[str, ...],
    settings: bulk_checkin.Settings,
    modes: list[tuple[bool, bool]],
) -> str:
    rings = tuple(f for f in families if f in RING_LIKE)
    crowds = tuple(f for f in families if f not in RING_LIKE)
    parts = [f"### {title}"]
    for accuracy in (True, False):
        results = []
        for seed in seeds:
            for with_points, acc in modes:
                if acc != accuracy:
                    continue
                r = run(seed, with_points, acc, families, settings)
                results.append(r)
                print(f"{r.name}: detect {r.seconds:.2f} s, {r.findings} findings", flush=True)
        if not results:
            continue
        label = "accuracy reported" if accuracy else "no accuracy reported"
        parts += [
            f"**{label}** (seeds {', '.join(map(str, seeds))}, grid cells and declared points)",
            runs_table(results),
        ]
        if rings:
            parts.append(rings_table(results, rings))
        if crowds:
            parts.append(crowds_table(results, crowds))
    return "\n\n".join(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="*", default=[1, 2, 3])
    ap.add_argument(
        "--holdout",
        type=int,
        nargs="*",
        action="append",
        default=[],
        help="held-out seeds; repeat for several groups, each reported on its own",
    )
    ap.add_argument(
        "--heldout-families",
        action="store_true",
        help="also plant the held-out families (in the held-out seeds' runs only)",
    )
    ap.add_argument("--diagnostic", action="store_true", help="plant rings inside crowds too")
    ap.add_argument("--write-doc", action="store_true", help="rewrite the doc's results")
    ap.add_argument("--settings", default="{}", help="detector settings as JSON (to compare)")
    ap.add_argument("--grid-only", action="store_true", help="skip the declared-points runs")
    ap.add_argument("--accuracy-only", action="store_true", help="skip the no-accuracy runs")
    ap.add_argument("--families", nargs="*", help="plant only these families (to iterate on a few)")
    args = ap.parse_args()
    settings = bulk_checkin.Settings(**json.loads(args.settings))
    modes = [
        (p, a)
        for p in ((False,) if args.grid_only else (False, True))
        for a in ((True,) if args.accuracy_only else (True, False))
    ]
    dev = RING_FAMILIES + CROWD_FAMILIES + (DIAGNOSTIC_FAMILIES if args.diagnostic else ())
    if args.families:
        dev = tuple(args.families)
    sections = []
    if args.seeds:
        sections.append(section("Development seeds", args.seeds, dev, settings, modes))
    fams = dev
    if args.heldout_families and not args.families:
        fams = dev + HELDOUT_RING_FAMILIES + HELDOUT_CROWD_FAMILIES
    for group in args.holdout:
        title = f"Held-out seeds {', '.join(map(str, group))}"
        sections.append(section(title, group, fams, settings, modes))
    text = "\n\n".join(sections)
    print()
    print(text)
    if args.write_doc:
        doc = DOC.read_text()
        a, b = "<!-- results:start -->", "<!-- results:end -->"
        pre, rest = doc.split(a, 1)
        _, post = rest.split(b, 1)
        DOC.write_text(f"{pre}{a}\n{text}\n{b}{post}")
        print(f"\nwrote {DOC}")


if __name__ == "__main__":
    main()
