"""Bulk check-in: several accounts' phones checked in at one spot at one moment.

A district app demanded photo check-ins at "risk points" every day; officials answered by
having one person carry 10+ phones and check everyone in. A ring is not defined by how fast
it is tapped (group-control software fires all phones at once, a hand taps phones laid out
on a table in quick succession, a careful operator spaces them out over minutes while
moving about the spot); it is defined by what it physically is:

* several accounts at **one spot** at **one moment**: the phones' fixes agree within GPS
  noise around one point, far tighter than independent people spread about a room, all
  within a couple of minutes per phone at most, standing apart from other arrivals;
* **devices that are not otherwise there**: shared networks, device models, devices or
  photos beyond chance; accounts active too far away to have been there; accounts never
  otherwise at the place;
* when it repeats, **the same set again**, arriving together in lockstep rather than each
  at a habit of their own (CopyCatch, WWW'13; SynchroTrap, CCS'14).

Arrivals in step (all at once, or a steady one-at-a-time rhythm) raise the score; they are
never required. Legitimate groups are held off by the physics (spread about a room, a
stream of arrivals, too slow per person) and by counter-evidence (the accounts belong at
the place, keep habitual times, check in with many hands or answering one call, stay, or
come or go their own ways).

The steps, one module each, each readable on its own:

1. `places`: check-ins at declared points or in three shifted grids, a density prefilter
   that drops those that cannot be part of a burst, and an index by (cell, time) of who
   else was around;
2. `chains` and `bursts`: chaining at several gaps into candidate bursts with their
   measures (grouped numpy reductions), the physical gates, one burst per set of
   check-ins;
3. `sessions`, `shares` and `linking`: a day's sessions of one bag (disjoint sets at one
   spot over a morning), a share of the bag a day (other sets at one spot, one hand each
   day), the same accounts (or the same day's union) at one place on other days, and
   whether they come in lockstep or by habit;
4. `scoring`, with `rhythm` (what the timing says), `hardware` (what the phones share),
   `presence` (where the accounts are otherwise, and whether they stay) and `travel`
   (whether the phones came and went each their own way): signals and counter-evidence
   (`signal`) into a score;
5. `evidence`: the finding an inspector reads.
"""

from __future__ import annotations

from collections import defaultdict

from tapwatch.detectors.base import DetectorInput, Finding
from tapwatch.detectors.bulk_checkin.again import days_again, near_rings
from tapwatch.detectors.bulk_checkin.bursts import Burst, dedupe, gated_bursts
from tapwatch.detectors.bulk_checkin.evidence import KIND, finding
from tapwatch.detectors.bulk_checkin.linking import Ring, identity, link, ring_of
from tapwatch.detectors.bulk_checkin.places import Placing, Surroundings, placings
from tapwatch.detectors.bulk_checkin.presence import Context
from tapwatch.detectors.bulk_checkin.scoring import Scored, score
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.bulk_checkin.shares import share_pairs
from tapwatch.detectors.bulk_checkin.signal import Measures, Signal

__all__ = ["KIND", "Settings", "detect"]


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """Bulk check-in findings for one app (see the module docstring)."""
    win = inp.events
    if len(win) == 0:
        return []
    places, point_names = placings(win, inp.app.points, settings)
    around = Surroundings(win, settings)
    bursts: list[Burst] = []
    for placing in places:
        bursts.extend(gated_bursts(win, placing, point_names, around, settings))
    if not bursts:
        return []
    bursts = dedupe(bursts, settings)
    shares = share_pairs(win, bursts, settings)
    rings = link(win, bursts, inp.app.timezone, settings, shares)
    ctx = Context(win, rings, around, settings)
    reported: dict[tuple, list[tuple[Ring, Scored]]] = defaultdict(list)
    for ring in rings:
        scored = score(inp, ring, ctx, settings)
        if scored is not None and scored[0] >= settings.min_score:
            reported[identity(ring)].append((ring, scored))
    chosen = [_one_per_identity(inp, same, ctx, settings) for same in reported.values()]
    extra = _days_again(inp, places, point_names, around, [c[0] for c in chosen], settings)
    findings = [
        finding(
            inp,
            ring_of(win, [*c[0].bursts, *add], inp.app.timezone) if add else c[0],
            *c[1:],
            settings,
        )
        for c, add in zip(chosen, extra, strict=True)
    ]
    findings.sort(key=lambda f: (f.window_start, f.id))
    return findings


def _days_again(
    inp: DetectorInput,
    places: list[Placing],
    point_names: dict[int, str],
    around: Surroundings,
    rings: list[Ring],
    s: Settings,
) -> list[list[Burst]]:
    """Per reported ring, its set's other days that pass the gates only with the spot
    widened to again_spread_m (`again`), looked for only where a ring is. They join the
    finding, never its score: a day too spread to pass on its own is no evidence, only
    more of a ring found without it."""
    if s.again_spread_m <= s.max_spread_m or not rings:
        return [[] for _ in rings]
    wide = s.model_copy(update={"max_spread_m": s.again_spread_m})
    near = near_rings(inp.events, places, rings, s)
    loose = [b for p in near for b in gated_bursts(inp.events, p, point_names, around, wide)]
    for b in loose:
        b.loose = True
    return days_again(rings, dedupe(loose, s), s)


def _one_per_identity(
    inp: DetectorInput, same: list[tuple[Ring, Scored]], ctx: Context, s: Settings
) -> tuple[Ring, float, list[Signal], Measures]:
    """One reported ring per identity (the finding id): the same phones at one place on
    days too far apart to be linked are one ring, scored as such (or, should that score
    fall short, the best of its parts)."""
    if len(same) > 1:
        ring = ring_of(inp.events, [b for r, _ in same for b in r.bursts], inp.app.timezone)
        scored = score(inp, ring, ctx, s)
        if scored is not None and scored[0] >= s.min_score:
            return (ring, *scored)
    ring, scored = max(same, key=lambda x: x[1][0])
    return (ring, *scored)
