"""Step 3 of bulk check-in: linking bursts across days into rings.

Bursts at one place whose account sets overlap by Jaccard similarity of at least
``link_jaccard`` are one ring (union-find over the pairs that share an account): the same
set of phones together again (CopyCatch, WWW'13; SynchroTrap, CCS'14).

A repeated set is only lockstep if the accounts arrive *together*, not each at a habit of
their own. Colleagues clocking in at one door every morning are the same set daily, but
each person keeps their own time: their times of day vary little from day to day compared
with how far apart they are within a day. A ring's phones have no times of their own: the
operator's session moves them all together, in whatever order. `habit_ratio` measures
this: the median (over accounts) of an account's day-to-day spread of time of day, over
the median (over days) of the spread of the accounts' times within a day. Near or above 1:
lockstep; well below 1: habits.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from tapwatch.detectors.bulk_checkin.bursts import Burst
from tapwatch.detectors.bulk_checkin.sessions import day_sessions
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.geo import distance_m
from tapwatch.detectors.stats import day_to_date, local_day_and_second
from tapwatch.window import DAY, EventWindow


@dataclass(slots=True)
class Ring:
    """Bursts of one set of accounts at one place."""

    bursts: list[Burst]
    rows: np.ndarray  # all check-ins of the ring, time order
    accounts: list[int]  # account codes, ascending
    days: list[str]  # local dates (ISO) with a burst
    habit_ratio: float  # NaN unless the same accounts came on two days or more
    common_shift: float = math.nan  # F ratio of the accounts' day-to-day shifts moving together

    @property
    def main(self) -> Burst:
        """The largest burst that passed the spot gate itself (`again`: a day added with
        the spot widened is never the one described)."""
        return max(self.bursts, key=lambda b: (not b.loose, b.rows.size))

    @property
    def size(self) -> int:
        """The most accounts in one burst."""
        return max(b.n_accounts for b in self.bursts)

    @property
    def phones(self) -> int:
        """The accounts over every burst of the ring: the phones in the bag, of which a
        day's burst may miss a few (left at home, worked in a sitting too small to see)."""
        return len(self.accounts)


def link(
    win: EventWindow,
    bursts: list[Burst],
    tz: object,
    s: Settings,
    shares: list[tuple[int, int]] | None = None,
) -> list[Ring]:
    """Rings: groups of bursts at one place with similar account sets, or `shares` of one
    bag on other days (pairs of indices into `bursts`, `shares.share_pairs`)."""
    groups = _groups(bursts, s, shares)
    return [ring_of(win, [bursts[i] for i in group], tz) for group in groups]


def identity(ring: Ring) -> tuple[str, tuple[int, ...]]:
    """What a finding's id is made of: the place label and the account set. Two rings
    with one identity (the same phones at one place more than link_days apart) must be
    reported as one finding."""
    return place_label(ring.main), tuple(ring.accounts)


def place_label(b: Burst) -> str:
    """The place a finding's id names: the declared point, or the burst's centre rounded
    to 0.01 degree (a ring keeps its id as its spot wanders by metres)."""
    if b.point:
        return f"point:{b.point}"
    return f"cell:{round(b.lat, 2):.2f},{round(b.lon, 2):.2f}"


def ring_of(win: EventWindow, bursts: list[Burst], tz: object) -> Ring:
    """The ring made of these bursts (in any order)."""
    members = sorted(bursts, key=lambda b: float(win.ts[b.rows[0]]))
    rows = np.concatenate([b.rows for b in members])
    rows = rows[np.argsort(win.ts[rows], kind="stable")]
    starts = np.array([float(win.ts[b.rows[0]]) for b in members])
    day_nums, _ = local_day_and_second(starts, tz)  # type: ignore[arg-type]
    days = sorted({day_to_date(int(d)).isoformat() for d in day_nums.tolist()})
    habit, shift = _habits(win, members, tz, len(days))
    return Ring(
        bursts=members,
        rows=rows,
        accounts=sorted({a for b in members for a in b.accounts}),
        days=days,
        habit_ratio=habit,
        common_shift=shift,
    )


def same_place(a: Burst, b: Burst, s: Settings) -> bool:
    if a.place_key >= 0 or b.place_key >= 0:
        return a.place_key == b.place_key
    if not (math.isfinite(a.lat) and math.isfinite(b.lat)):
        return False
    return float(distance_m(np.array(a.lat), np.array(a.lon), b.lat, b.lon)) <= s.link_distance_m


def _groups(
    bursts: list[Burst], s: Settings, shares: list[tuple[int, int]] | None = None
) -> list[list[int]]:
    """Union-find over the pairs of bursts that share an account: linked when their sets,
    or their days' unions (a bag worked in sessions, `sessions`), are the same set again.
    A day's sessions linked to another day are one ring together, and so are `shares`
    (shares of one bag on other days, `shares`)."""
    parent = list(range(len(bursts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    session = day_sessions(bursts, s)
    day_set: dict[int, set[int]] = defaultdict(set)
    for i, b in enumerate(bursts):
        day_set[session[i]] |= b.accounts
    worked = Counter(session)  # bursts per session group
    by_account: dict[int, list[int]] = defaultdict(list)
    for i, b in enumerate(bursts):
        for a in b.accounts:
            by_account[a].append(i)
    seen: set[tuple[int, int]] = set()
    bagged: set[int] = set()  # session groups linked through their union
    for members in by_account.values():
        for x, i in enumerate(members):
            for j in members[x + 1 :]:
                if (i, j) in seen:
                    continue
                seen.add((i, j))
                a, b = bursts[i], bursts[j]
                if abs(a.start - b.start) > s.link_days * DAY or not same_place(a, b, s):
                    continue
                if _jaccard(a.accounts, b.accounts) >= s.link_jaccard:
                    parent[root(j)] = root(i)
                # Whether or not the two bursts match, their days' unions may: then the
                # days' sessions are one bag (a squad coming again whole is one too).
                if session[i] != session[j] and _same_bag(
                    day_set[session[i]],
                    day_set[session[j]],
                    worked[session[i]],
                    worked[session[j]],
                    s,
                ):
                    parent[root(j)] = root(i)
                    bagged.update((session[i], session[j]))
    for i, j in shares or ():
        # A share is phones not worked on the other's day: a set already worked there
        # that day (another session) is that set again, linked or not by itself.
        a, b = bursts[i].accounts, bursts[j].accounts
        a_new = _within(a, day_set[session[j]]) < s.link_jaccard  # a not worked on b's day
        b_new = _within(b, day_set[session[i]]) < s.link_jaccard  # nor b on a's
        if a_new and b_new:
            parent[root(j)] = root(i)
    for i in range(len(bursts)):
        if session[i] in bagged:
            parent[root(i)] = root(session[i])
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(bursts)):
        groups[root(i)].append(i)
    return sorted(groups.values())


def _same_bag(a: set[int], b: set[int], sessions_a: int, sessions_b: int, s: Settings) -> bool:
    """Two days' unions are one bag: the same set again (Jaccard), or, when both days
    were worked in two sessions or more, the one's phones nearly all among the other's
    (bag_within_share: a day's sessions of one or two phones go unseen, so each day shows
    a different part of the bag)."""
    if _jaccard(a, b) >= s.link_jaccard:
        return True
    small = min(len(a), len(b))
    return (
        min(sessions_a, sessions_b) >= 2
        and small >= s.min_accounts
        and len(a & b) >= s.bag_within_share * small
    )


def _jaccard(a: frozenset[int] | set[int], b: frozenset[int] | set[int]) -> float:
    return len(a & b) / len(a | b)


def _within(a: frozenset[int], b: set[int]) -> float:
    """The share of a's accounts that are in b."""
    return len(a & b) / len(a)


def _habits(win: EventWindow, bursts: list[Burst], tz: object, n_days: int) -> tuple[float, float]:
    """The habit ratio and the common shift of a ring seen on several days (NaN else)."""
    if n_days < 2:
        return math.nan, math.nan
    acc, tod, day = _times_of_day(win, bursts, tz)
    return _habit_ratio(acc, tod, day), _common_shift(acc, tod, day)


def _times_of_day(
    win: EventWindow, bursts: list[Burst], tz: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each account's first check-in in each burst: account, local second of day, day."""
    acc_parts, tod_parts, day_parts = [], [], []
    for b in bursts:
        ts = win.ts[b.rows]
        acc = win.account[b.rows]
        _, first = np.unique(acc, return_index=True)  # each account's first check-in
        day, sec = local_day_and_second(ts[first], tz)  # type: ignore[arg-type]
        acc_parts.append(acc[first])
        tod_parts.append(sec)
        day_parts.append(day)
    return np.concatenate(acc_parts), np.concatenate(tod_parts), np.concatenate(day_parts)


def _habit_ratio(acc: np.ndarray, tod: np.ndarray, day: np.ndarray) -> float:
    """How much each account's time of day varies from day to day, over how far apart the
    accounts are within a day (see the module docstring), as the square root of a ratio
    of pooled variances (unbiased with only two days: about 1 for phones tapped in any
    order, small for people keeping habits); NaN when no account came on two days."""
    across = _pooled_variance(acc, tod)
    within = _pooled_variance(day, tod)
    if not (math.isfinite(across) and math.isfinite(within)):
        return math.nan
    return math.sqrt(across / within) if within > 0 else math.inf


def _common_shift(acc: np.ndarray, tod: np.ndarray, day: np.ndarray) -> float:
    """Whether the accounts' day-to-day shifts move together: each account's deviation
    from its own usual time of day, and the F ratio of the spread of the days' mean
    deviations to the spread within a day. About 1 when everyone varies on their own
    (people keeping habits, each with their own jitter); large when the whole set moves
    with one session (an operator who came earlier or later that day, the same order of
    phones or not); NaN when it cannot be told."""
    _, inv, counts = np.unique(acc, return_inverse=True, return_counts=True)
    again = counts[inv] >= 2
    if again.sum() < 4:
        return math.nan
    dev = tod - (np.bincount(inv, weights=tod) / counts)[inv]
    dev, day = dev[again], day[again]
    days, d_inv, d_counts = np.unique(day, return_inverse=True, return_counts=True)
    if days.size < 2 or dev.size <= days.size:
        return math.nan
    day_mean = np.bincount(d_inv, weights=dev) / d_counts
    between = float(np.sum(d_counts * day_mean**2)) / (days.size - 1)
    within = float(np.sum((dev - day_mean[d_inv]) ** 2)) / (dev.size - days.size)
    return between / within if within > 0 else math.inf


def _pooled_variance(groups: np.ndarray, values: np.ndarray) -> float:
    """Variance of values around their group means, pooled over groups (n - 1 per group);
    NaN if no group has two values."""
    _, inv, counts = np.unique(groups, return_inverse=True, return_counts=True)
    dof = int(np.sum(counts - 1))
    if dof <= 0:
        return math.nan
    means = np.bincount(inv, weights=values) / counts
    return float(np.sum((values - means[inv]) ** 2) / dof)
