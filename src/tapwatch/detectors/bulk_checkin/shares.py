"""Step 3b of bulk check-in: a bag worked a share a day.

An app that asks each account for a check-in two or three times a week has the official
work a share of the bag each day: a third one day, another third the next, or a fresh
random half. No day's set comes again, so linking by shared accounts never joins them;
what comes again is the spot and the hand: the same desk or table (centres within
``bag_spot_m``), on another day within ``link_days``, each day's phones checked in by one
hand (all at once, a steady rhythm, or one phone at a time, over more than
``min_accounts`` phones). A handful keeps step as friends do, so a share of at most
``group_accounts`` phones joins another only with a phone in common: the same bag's
phones again, in a fresh share (a random half a day). People do not do this: a
group whose members change from day to day arrives each at a moment of their own, with
pairs walking in together, so their timing is not one hand's; a queue served one at a
time is (an invigilator checking IDs), and its people are then told apart by where they
came from and went (`travel`, `presence`) once the days are one ring.
"""

from __future__ import annotations

import math
from collections import defaultdict

from tapwatch.detectors.bulk_checkin.bursts import Burst
from tapwatch.detectors.bulk_checkin.rhythm import by_one_hand, one_at_a_time
from tapwatch.detectors.bulk_checkin.sessions import same_spot
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.window import DAY, EventWindow

#: Coarse cell (degrees) for finding bursts near another without a declared point.
_CELL_DEG = 0.01
#: Bursts at least this far apart in time are on different days, not one day's sessions.
_APART_S = 12 * 3600.0


def share_pairs(win: EventWindow, bursts: list[Burst], s: Settings) -> list[tuple[int, int]]:
    """Pairs of bursts that are shares of one bag: at one spot on different days within
    link_days, both checked in by one hand, their sets not alike (alike sets are linked
    by their accounts already) and together no more than one bag (share_max_phones); a
    handful (group_accounts or fewer) only with a phone in common."""
    hand = [i for i, b in enumerate(bursts) if _one_hand(win, b, s)]
    big = {i for i in hand if bursts[i].n_accounts > s.group_accounts}
    by_cell: dict[tuple, list[int]] = defaultdict(list)
    for i in hand:
        by_cell[_cell(bursts[i])].append(i)
    pairs = []
    for i in hand:
        a = bursts[i]
        kind, x, y = _cell(a)
        near = [(kind, x, y)]
        if kind == "cell":
            near = [(kind, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
        for j in (j for k in near for j in by_cell.get(k, ()) if j > i):
            b = bursts[j]
            apart = abs(a.start - b.start)
            if _APART_S <= apart <= s.link_days * DAY and same_spot(a, b, s):
                union = len(a.accounts | b.accounts)
                alike = len(a.accounts & b.accounts) / union >= s.link_jaccard
                if (i not in big or j not in big) and a.accounts.isdisjoint(b.accounts):
                    continue  # a handful keeping step, and another: friends do that
                if not alike and union <= s.share_max_phones:
                    pairs.append((i, j))
    return pairs


def _one_hand(win: EventWindow, b: Burst, s: Settings) -> bool:
    """The burst's timing is one hand's: all at once, steady, or one phone at a time,
    over more phones than min_accounts."""
    if b.n_accounts <= s.min_accounts:
        return False
    return by_one_hand(b, s) or one_at_a_time(win.ts, win.account, b, 1.0, s).present


def _cell(b: Burst) -> tuple:
    if b.place_key >= 0 or not math.isfinite(b.lat):
        return ("point", b.place_key, 0)
    return ("cell", math.floor(b.lat / _CELL_DEG), math.floor(b.lon / _CELL_DEG))
