"""Step 3c of bulk check-in: a ring's set again on another day, a little more spread.

The spot gate (``max_spread_m``) is what tells a bag from people about a room, and indoor
fixes of 15-30 m (an office, a storeroom, a cart wheeled down a corridor) can push one
day of a bag just past it while its other days pass. That day's check-ins are still the
same phones at the same place: once a ring is reported, a burst of *its* accounts (the
same set again, ``link_jaccard``) at its place on another day within ``link_days`` joins
its finding if it passes the gates with the spot widened to ``again_spread_m``. It never
enters the score (a day too spread to pass on its own is no evidence, and a meeting
tight on one day by chance would otherwise be "the same set again"), and a set never
tight on any day gains nothing: the looser gate only adds days to rings already found.
"""

from __future__ import annotations

from tapwatch.detectors.bulk_checkin.bursts import Burst
from tapwatch.detectors.bulk_checkin.linking import Ring, same_place
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.window import DAY


def days_again(rings: list[Ring], loose: list[Burst], s: Settings) -> list[list[Burst]]:
    """Per ring, the loose bursts (rows disjoint from every ring's) that are its set again
    at its place on a day it has no burst, within link_days of one of its bursts."""
    taken = {r for ring in rings for r in ring.rows.tolist()}
    spare = [b for b in loose if taken.isdisjoint(b.rows.tolist())]
    out: list[list[Burst]] = []
    used: set[int] = set()
    for ring in rings:
        mine = set(ring.accounts)
        days = {int(b.start // DAY) for b in ring.bursts}
        add = []
        for k, b in enumerate(spare):
            if k in used or int(b.start // DAY) in days:
                continue
            near = any(
                abs(b.start - x.start) <= s.link_days * DAY and same_place(b, x, s)
                for x in ring.bursts
            )
            if near and len(b.accounts & mine) / len(b.accounts | mine) >= s.link_jaccard:
                add.append(b)
                used.add(k)
                days.add(int(b.start // DAY))
        out.append(add)
    return out
