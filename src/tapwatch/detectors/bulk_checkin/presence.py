"""Step 4b of bulk check-in: where the ring's accounts are when they are not in the ring.
Active too far away to have reached the place in time (elsewhere); coming to the place on
their own at other times (they belong there: counter-evidence); never otherwise at the
place; checking in here on phones they use nowhere else (borrowed, spare); phones that
came, or went, their own ways shortly before or after (people coming from home, leaving
for their work: counter-evidence, `travel`). Only the
accounts' activity within presence_days of the ring is looked at, so the
signals mean the same in a 7-day window and in a long dump."""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from tapwatch.detectors.base import DetectorInput
from tapwatch.detectors.bulk_checkin.bursts import Burst
from tapwatch.detectors.bulk_checkin.linking import Ring
from tapwatch.detectors.bulk_checkin.places import Surroundings
from tapwatch.detectors.bulk_checkin.rhythm import by_one_hand
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.bulk_checkin.signal import RULE_CHECKIN, Measures, Signal
from tapwatch.detectors.bulk_checkin.travel import (
    Sightings,
    Stay,
    came_from,
    day_apart,
    sightings,
    travel_signals,
    went_to,
)
from tapwatch.detectors.geo import distance_m
from tapwatch.detectors.stats import local_day_and_second, local_days
from tapwatch.events import EventType
from tapwatch.window import DAY, EventWindow


class Context:
    """Window-wide facts the signals compare the rings with: how common each network and
    device model is, who else comes to the rings' places, and every event of the rings'
    accounts."""

    def __init__(
        self, win: EventWindow, rings: list[Ring], around: Surroundings, s: Settings
    ) -> None:
        self.win, self.around = win, around
        # Check-ins in any burst: phones checked in together, never a visit of one's own.
        self.in_burst = np.zeros(len(win), dtype=bool)
        self.rings_of: dict[int, list[Ring]] = defaultdict(list)
        # ... and those of bursts timed by one hand: a bag checked in (or out) again, not
        # its owners' own doing.
        self.by_hand = np.zeros(len(win), dtype=bool)
        for r in rings:
            self.in_burst[r.rows] = True
            for a in r.accounts:
                self.rings_of[int(a)].append(r)
            for b in r.bursts:
                if by_one_hand(b, s):
                    self.by_hand[b.rows] = True
        ck = win.type == np.uint8(EventType.checkin)
        self.network = _counts(win.network[ck])
        self.device_model = _counts(win.device_model[ck])
        accounts = sorted({a for r in rings for a in r.accounts})
        rows = np.flatnonzero(np.isin(win.account, np.asarray(accounts, win.account.dtype)))
        rows = rows[np.argsort(win.account[rows], kind="stable")]
        acc = win.account[rows]
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(acc)) + 1, [rows.size]))
        self.by_account: dict[int, np.ndarray] = {
            int(acc[lo]): rows[lo:hi]
            for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
            if hi > lo
        }

    def with_us(self, ring: Ring) -> np.ndarray:
        """Rows of the rings that hold half of `ring`'s accounts or more (sorted): the
        same group checked in together, here or at another spot."""
        shared: dict[int, int] = defaultdict(int)
        by_id: dict[int, Ring] = {}
        for a in ring.accounts:
            for r in self.rings_of.get(int(a), ()):
                shared[id(r)] += 1
                by_id[id(r)] = r
        half = 0.5 * len(ring.accounts)
        rows = [by_id[k].rows for k, n in shared.items() if n >= half]
        return np.unique(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)

    def of(self, account: int) -> np.ndarray:
        return self.by_account.get(account, np.zeros(0, dtype=np.int64))

    def others_at_place(self, ring: Ring, radius_m: float, days: float) -> np.ndarray:
        """Check-ins of other accounts at the ring's place (within radius_m of a burst
        centre) within `days` of the ring: the people who come there on their own."""
        n = len(ring.bursts)
        _, rows = self.around.near(
            np.array([b.lat for b in ring.bursts]),
            np.array([b.lon for b in ring.bursts]),
            np.full(n, self.win.ts[ring.rows[0]] - days * DAY),
            np.full(n, self.win.ts[ring.rows[-1]] + days * DAY),
            radius_m,
        )
        rows = np.unique(rows)
        return rows[~np.isin(self.win.account[rows], ring.accounts)]


def _counts(codes: np.ndarray) -> np.ndarray:
    known = codes[codes >= 0]
    return np.bincount(known) if known.size else np.zeros(0, dtype=np.int64)


def presence_signals(
    inp: DetectorInput, ring: Ring, ctx: Context, s: Settings, m: Measures, one_hand: bool
) -> list[Signal]:
    """Where the ring's accounts are outside the ring: too far away to have been there
    (elsewhere), at the place on their own at other times (they belong there), never
    otherwise at the place, or coming or going their own ways right before or after (not
    counted when the timing shows `one_hand` tapped every phone: the phones were then
    collected from and went back to their owners)."""
    win = ctx.win
    in_ring = np.zeros(len(win), dtype=bool)
    in_ring[ring.rows] = True
    radius = place_radius(inp, ring.main, s)
    first, last = float(win.ts[ring.rows[0]]), float(win.ts[ring.rows[-1]])
    elsewhere: list[int] = []
    here_t, here_a, here_ck = [], [], []  # the accounts' other activity at the place
    never = seen_on_own = borrowed = stayed = 0
    came: list[tuple[float, float]] = []  # where each account's phone came from, on its own
    by_day: list[tuple[float, float, float]] = []  # where and when it was hours before
    gone: list[tuple[float, float]] = []  # where it went next
    gone_late: list[tuple[float, float]] = []  # the same, after the group's stay
    # Where and when each account's phone was seen away, before or else after (pooled).
    away: dict[int, tuple[float, float, float]] = {}
    afterwards: list[tuple[int, Sightings, np.ndarray]] = []  # the phone away, its times here
    ours = ctx.with_us(ring)  # this group's check-ins, here or at its other stops
    for a in ring.accounts:
        other = ctx.of(a)
        other = other[~in_ring[other]]
        t = win.ts[other]
        near = (t >= first - s.presence_days * DAY) & (t <= last + s.presence_days * DAY)
        own, used = _own_devices(win, other[near]), _ring_devices(win, ring, a)
        if own.size and used.size:
            seen_on_own += 1
            borrowed += not np.isin(used, own).any()
        other = other[
            np.isfinite(win.lat[other])
            & np.isfinite(win.lon[other])
            & (t >= first - s.presence_days * DAY)
            & (t <= last + s.presence_days * DAY)
        ]
        # An account on another phone far away at the same time: its owner's own phone
        # while the bag's was checked in. One phone seen at two places too far apart is
        # that phone's position gone wrong (a bad fix, a venue picked from afar), not two.
        if _too_far(win, ring, a, other[~np.isin(win.device[other], used)], s):
            elsewhere.append(a)
        on_ring_phone = other[np.isin(win.device[other], used)]
        # A phone checked in with others at another spot before is still with them (the
        # bag at its last stop, a patrol at its last checkpoint), not its owner using it:
        # coming is looked for before the group formed.
        seen = sightings(
            win,
            ring,
            a,
            on_ring_phone,
            ctx.in_burst[on_ring_phone],
            np.isin(on_ring_phone, ours),
        )
        # A place of one's own need only be away from the place: a home round the
        # corner is one as much as a home across town.
        row = came_from(seen, s, away_m=s.one_place_m)
        if row is not None:
            came.append((float(win.lat[row]), float(win.lon[row])))
            away[a] = (float(win.lat[row]), float(win.lon[row]), float(win.ts[row]))
        row = came_from(seen, s, s.leave_s, s.day_apart_s, away_m=s.one_place_m)
        if row is not None:  # at work or school, hours before
            by_day.append((float(win.lat[row]), float(win.lon[row]), float(win.ts[row])))
        near = _near_ring(win, ring, other)
        at = other[near <= radius]
        # Staying is judged over the site (`stay_site_m`, as far as a place of one's own
        # begins): a worker reading the app in the canteen 200 m inside the gate hours
        # later has stayed, though not at the spot (`at`: "never otherwise here", visits).
        site = other[near <= max(radius, s.stay_site_m)]
        afterwards.append((a, seen, win.ts[site]))
        never += at.size == 0
        rows = np.concatenate((ring.rows[win.account[ring.rows] == a], site))
        stayed += _stays(win, rows, ~ctx.by_hand[rows], inp, s)
        is_ck = win.type[at] == np.uint8(EventType.checkin)
        alone = ~(is_ck & ctx.in_burst[at])  # another session of phones is no visit
        here_t.append(win.ts[at[alone]])
        here_a.append(np.full(int(alone.sum()), a))
        here_ck.append(is_ck[alone])
    ends = _stay_ends(ring, [t for _, _, t in afterwards], inp, s)
    stayed_on = bool(ends)  # the group was at the place again hours later the same day
    late = one_hand and stayed_on  # going then counts only after the group's stay
    for a, seen, here in afterwards:
        stay = Stay(ends, here)
        row = went_to(seen, stay, s, away_m=s.one_place_m)
        if row is not None:
            gone.append((float(win.lat[row]), float(win.lon[row])))
        if row is not None and not late:
            away.setdefault(a, (float(win.lat[row]), float(win.lon[row]), float(win.ts[row])))
        row = went_to(seen, stay, s, after_stay=True, away_m=s.one_place_m)
        if row is not None:
            gone_late.append((float(win.lat[row]), float(win.lon[row])))
        if row is not None and late:
            away.setdefault(a, (float(win.lat[row]), float(win.lon[row]), float(win.ts[row])))
    n = len(ring.accounts)
    solo = _belonging(
        np.concatenate(here_t), np.concatenate(here_a), np.concatenate(here_ck), ring, s
    )
    m.elsewhere, m.never_here, m.borrowed = elsewhere, never, borrowed
    return [
        *travel_signals(
            came,
            gone,
            gone_late,
            list(away.values()),
            (ring.main.lat, ring.main.lon),
            n,
            one_hand,
            stayed_on,
            s,
        ),
        day_apart(by_day, n, s),
        _share(
            "people_stay",
            stayed,
            n,
            s.stay_share,
            -s.weight_stay,
            f"{stayed} of {n} accounts were at the place again {s.stay_s / 3600:g} h or more "
            "after their check-in the same day, on their own (people who stayed, checking out or "
            "using the app there; a bag of phones is checked in and goes, and checked out "
            "by one hand again is no stay)",
        ),
        Signal(
            "borrowed_phones",
            float(borrowed),
            float(s.min_borrowed),
            s.weight_borrowed,
            borrowed >= s.min_borrowed and borrowed >= 0.5 * seen_on_own,
            f"{borrowed} of the {seen_on_own} accounts seen on their own phones elsewhere "
            "checked in here on phones they use nowhere else (a bag of spare phones)",
        ),
        _share(
            "accounts_elsewhere",
            len(elsewhere),
            n,
            s.elsewhere_share,
            s.weight_elsewhere,
            f"{len(elsewhere)} of {n} accounts were active over {s.elsewhere_m:.0f} m away too "
            f"soon to reach the place at {s.max_travel_speed_mps:g} m/s",
        ),
        _share(
            "never_otherwise_here",
            never,
            n,
            s.never_here_share,
            s.weight_never_here,
            f"{never} of {n} accounts are never otherwise at the place",
        ),
        _share(
            "belong_here",
            solo,
            n,
            s.belong_share,
            -s.weight_belong,
            f"{solo} of {n} accounts come to the place on their own at other times (people "
            "who belong there, like staff at their office)",
        ),
    ]


def _share(code: str, k: int, n: int, threshold: float, weight: float, text: str) -> Signal:
    """A signal present when k of the ring's n accounts is a share at or over threshold;
    counter-evidence (weight < 0) touches no rule."""
    return Signal(
        code,
        round(k / n, 3),
        threshold,
        weight,
        k / n >= threshold,
        text,
        RULE_CHECKIN if weight > 0 else None,
    )


def _stays(
    win: EventWindow, rows: np.ndarray, own: np.ndarray, inp: DetectorInput, s: Settings
) -> bool:
    """Whether one account's activity at the place (its check-ins in the ring and its
    other activity there) spans stay_s or more on one local day, with the account's `own`
    doing at one end at least: a bag checked in by one hand in the morning and out by one
    hand in the evening spans the day too, but nobody stayed with it."""
    ts = win.ts[rows]
    if not own.any() or ts.max() - ts.min() < s.stay_s:
        return False
    day, sec = local_day_and_second(ts, inp.app.timezone)
    day = (day - day.min()).astype(np.intp)
    sec = sec.astype(np.float64)
    days = int(day.max()) + 1
    first, last = _day_bounds(day, sec, days)
    own_first, own_last = _day_bounds(day[own], sec[own], days)
    return bool(np.any(np.maximum(own_last - first, last - own_first) >= s.stay_s))


def _day_bounds(day: np.ndarray, sec: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each of n days' first and last second (inf and -inf on a day without any)."""
    first, last = np.full(n, np.inf), np.full(n, -np.inf)
    np.minimum.at(first, day, sec)
    np.maximum.at(last, day, sec)
    return first, last


def _stay_ends(
    ring: Ring, here: list[np.ndarray], inp: DetectorInput, s: Settings
) -> dict[int, float]:
    """Per burst (by index), the end of the group's stay: when at least min_leave of the
    ring's accounts were at the place again stay_s or more after the burst's end, the same
    local day (`here`: each account's other activity at the place), the last time one of
    them was. One account back at the place (a passer-by chained into the burst, who
    works there) is not the group staying on."""
    tz = inp.app.timezone
    starts = local_days(np.array([b.start for b in ring.bursts]), tz)
    later: dict[int, list[float]] = defaultdict(list)  # burst -> each returning account's last
    for times in here:
        if not times.size:
            continue
        days = local_days(times, tz)
        for i, (b, day) in enumerate(zip(ring.bursts, starts.tolist(), strict=True)):
            back = times[(days == day) & (times >= b.end + s.stay_s)]
            if back.size:
                later[i].append(float(back.max()))
    return {i: max(t) for i, t in later.items() if len(t) >= s.min_leave}


def _own_devices(win: EventWindow, rows: np.ndarray) -> np.ndarray:
    dev = win.device[rows]
    return np.unique(dev[dev >= 0])


def _ring_devices(win: EventWindow, ring: Ring, a: int) -> np.ndarray:
    """The devices account `a` checked in on in the ring (unknown devices left out)."""
    rows = ring.rows[win.account[ring.rows] == a]
    dev = win.device[rows]
    return dev[dev >= 0]


def _near_ring(win: EventWindow, ring: Ring, rows: np.ndarray) -> np.ndarray:
    """Distance (m) of each row's fix from the nearest burst centre of the ring."""
    d = np.full(rows.size, np.inf)
    for b in ring.bursts:
        if math.isfinite(b.lat):
            d = np.minimum(d, distance_m(win.lat[rows], win.lon[rows], b.lat, b.lon))
    return d


def _too_far(win: EventWindow, ring: Ring, a: int, rows: np.ndarray, s: Settings) -> bool:
    """Whether account `a` was active (`rows`: on phones other than its ring phones)
    somewhere it could not have come from in time to its own check-in in one of the
    ring's bursts, within elsewhere_within_s of it (further apart in time, a flight
    explains any distance)."""
    for b in ring.bursts:
        if a not in b.accounts or not math.isfinite(b.lat):
            continue
        d = distance_m(win.lat[rows], win.lon[rows], b.lat, b.lon)
        own = win.ts[b.rows[win.account[b.rows] == a]]
        dt = np.abs(win.ts[rows][:, None] - own[None, :]).min(axis=1)
        too_fast = d > s.max_travel_speed_mps * np.maximum(dt, 1.0)
        if np.any((d > s.elsewhere_m) & too_fast & (dt <= s.elsewhere_within_s)):
            return True
    return False


def _belonging(
    t: np.ndarray, acc: np.ndarray, is_checkin: np.ndarray, ring: Ring, s: Settings
) -> int:
    """Accounts that come to the place on their own: activity there away from the ring's
    bursts (further than visit_gap_s) that is either something other than a check-in
    (using the app there, like staff at their desks) or a check-in with no other of the
    ring's accounts there within session_gap_s. A ring's phones only ever check in,
    together; a day of the ring that was not linked, another session of phones (check-ins
    in any burst, left out by the caller), a sitting of one or two of its phones within
    the session gap of another, or a check-in within bag_session_gap_s of the ring's (a
    session of one phone of a bag worked over a morning) is not a visit of one's own."""
    spans = np.array([(b.start, b.end) for b in ring.bursts])
    # A check-in within bag_session_gap_s of the ring's: another session of the bag.
    gap = np.where(is_checkin, max(s.visit_gap_s, s.bag_session_gap_s), s.visit_gap_s)
    away = np.all(
        (t[:, None] < spans[None, :, 0] - gap[:, None])
        | (t[:, None] > spans[None, :, 1] + gap[:, None]),
        axis=1,
    )
    t, acc, is_checkin = t[away], acc[away], is_checkin[away]
    belong = set(acc[~is_checkin].tolist())
    t, acc = t[is_checkin], acc[is_checkin]
    order = np.argsort(t)
    t, acc = t[order], acc[order]
    lo = np.searchsorted(t, t - s.session_gap_s, side="left")
    hi = np.searchsorted(t, t + s.session_gap_s, side="right")
    for i in range(t.size):
        if set(acc[lo[i] : hi[i]].tolist()) == {int(acc[i])}:
            belong.add(int(acc[i]))
    return len(belong)


def place_radius(inp: DetectorInput, b: Burst, s: Settings) -> float:
    if 0 <= b.place_key < len(inp.app.points):
        return inp.app.points[b.place_key].radius_m
    return s.link_distance_m
