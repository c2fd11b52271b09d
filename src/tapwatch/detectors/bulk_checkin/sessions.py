"""Step 3a of bulk check-in: a bag worked in sessions over one morning.

An official who keeps the phones in a drawer checks them in a few at a time between other
work: two to four sessions at the same desk, tens of minutes apart, each a share of the bag
handled one at a time. Each session is a small burst of its own, and on other days the
phones fall into other sessions, so no session's set comes again; what comes again is the
day's union, the bag.

A *day's sessions* are bursts at one spot (centres within ``bag_spot_m``), each starting
within ``bag_session_gap_s`` of the previous one's end, whose account sets are disjoint
(one phone in common at most: a check-in retried later): one hand working through one
bag. People do this too (squads taking turns at one station), so the union is only
evidence when it comes again: linking (`linking`) compares days' unions, never joins one
day's sessions on their own.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from tapwatch.detectors.bulk_checkin.bursts import Burst
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.geo import distance_m

#: Accounts two sessions of one bag may share: a phone whose check-in failed, tapped again.
_SHARED_AT_MOST = 1
#: Coarse cell (degrees) for finding open sessions near a burst without a declared point.
_CELL_DEG = 0.01


def day_sessions(bursts: list[Burst], s: Settings) -> list[int]:
    """A session group per burst (an index; bursts alone have a group of their own)."""
    order = sorted(range(len(bursts)), key=lambda i: bursts[i].start)
    group = list(range(len(bursts)))
    #: open groups by place: (representative burst, union of accounts, last end)
    open_at: dict[tuple, list[list]] = defaultdict(list)
    for i in order:
        b = bursts[i]
        joined = None
        for g in _open_near(open_at, b, b.start - s.bag_session_gap_s):
            rep, accounts, _end = g
            if not same_spot(bursts[rep], b, s):
                continue
            if len(accounts & b.accounts) <= _SHARED_AT_MOST:
                joined = g
                break
        if joined is None:
            open_at[_place(b)].append([i, set(b.accounts), b.end])
            continue
        group[i] = joined[0]
        joined[1] |= b.accounts
        joined[2] = max(joined[2], b.end)
    return group


def _place(b: Burst) -> tuple:
    if b.place_key >= 0 or not math.isfinite(b.lat):
        return ("point", b.place_key, b.key)
    return ("cell", math.floor(b.lat / _CELL_DEG), math.floor(b.lon / _CELL_DEG))


def _open_near(open_at: dict[tuple, list[list]], b: Burst, since: float) -> list[list]:
    """Session groups still open (last end at or after `since`) that may be at b's spot:
    its coarse cell and the neighbouring ones. Closed groups are dropped on the way."""
    kind, x, y = _place(b)
    keys = [(kind, x, y)]
    if kind == "cell":
        keys = [(kind, x + dx, y + dy) for dx in (-1, 0, 1) for dy in (-1, 0, 1)]
    out = []
    for k in keys:
        if k in open_at:
            open_at[k] = [g for g in open_at[k] if g[2] >= since]
            out.extend(open_at[k])
    return out


def same_spot(a: Burst, b: Burst, s: Settings) -> bool:
    """At one desk: the same declared point if any, and centres within bag_spot_m."""
    if a.place_key != b.place_key:
        return False
    if not (math.isfinite(a.lat) and math.isfinite(b.lat)):
        return a.place_key >= 0
    return float(distance_m(np.array(a.lat), np.array(a.lon), b.lat, b.lon)) <= s.bag_spot_m
