"""Part of step 4 of bulk check-in: where the phones came from and went to.

People come to a place each their own way and leave each their own way: a phone that
checked in is seen, within a couple of hours before or after, away from the place (over
one_place_m: a home round the corner is a place of one's own), at a pace one can travel,
and the phones of a group kilometres apart from each other (a crew going out to
its jobs; a field team coming from their homes). A bag of phones arrives and leaves
together (or is never seen elsewhere at all). Neither is counted when the timing shows one
hand tapped every phone: the phones were then collected from their owners and handed back,
which looks the same from the phones; nor when the phones were seen at many places all
one way from the place (a collector's round out and back: homes lie all round).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tapwatch.detectors.bulk_checkin.bursts import Burst
from tapwatch.detectors.bulk_checkin.linking import Ring
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.bulk_checkin.signal import Signal
from tapwatch.detectors.geo import distance_m
from tapwatch.window import EventWindow

#: Places, at least, phones must be seen at coming (or going) to be read as one round.
ROUND_PLACES = 5
#: Rayleigh's k R^2 at or over which places all one way are no chance of homes all round.
ROUND_Z = 4.5


@dataclass(frozen=True, slots=True)
class Stay:
    """The group's stay at the place, as one account's phone saw it: `ends`, per burst
    index, the last time the group was at the place again hours later that day
    (`presence._stay_ends`; no entry when it was not), and `here`, the times of the
    account's other activity at the place."""

    ends: dict[int, float]
    here: np.ndarray


@dataclass(frozen=True, slots=True)
class Sightings:
    """Account `a`'s phone seen away from the ring, measured once for every look before
    and after it: `rows`, its other located activity on the devices it checked in on in
    the ring, with their times `t` and, per row, whether it was a check-in with a group
    (`grouped`: in a burst); and, per burst of the ring the account is in (with a
    located centre): the burst's index, the burst, the account's check-in times in it and
    each row's distance (m) from its centre; `with_us`, per row, whether it was a
    check-in with this very group (a burst holding half the ring's accounts or more)."""

    rows: np.ndarray
    t: np.ndarray
    grouped: np.ndarray
    bursts: list[tuple[int, Burst, np.ndarray, np.ndarray]]
    with_us: np.ndarray


def sightings(
    win: EventWindow,
    ring: Ring,
    a: int,
    rows: np.ndarray,
    grouped: np.ndarray,
    with_us: np.ndarray,
) -> Sightings:
    """Account `a`'s `rows` (its other located activity on its ring phones; `grouped`:
    per row, in a burst; `with_us`: in a burst with half the ring's accounts or more)
    with their distances from each of its bursts, measured once."""
    bursts = [
        (
            i,
            b,
            win.ts[b.rows[win.account[b.rows] == a]],
            distance_m(win.lat[rows], win.lon[rows], b.lat, b.lon),
        )
        for i, b in enumerate(ring.bursts)
        if a in b.accounts and math.isfinite(b.lat)
    ]
    return Sightings(rows, win.ts[rows], grouped, bursts, with_us)


#: Which of an account's rows count for one burst, and how long before or after it each
#: was (None: the burst does not count): (burst index, burst, the account's check-in
#: times in it, the rows' times) -> (seconds between, counted).
_Window = Callable[[int, Burst, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]


def came_from(
    seen: Sightings,
    s: Settings,
    since_s: float = 0.0,
    until_s: float | None = None,
    away_m: float | None = None,
) -> int | None:
    """The row, nearest in time, of the account's phone (a device it checked in on in the
    ring) seen over `away_m` (elsewhere_m unless given) from the burst more than `since_s`
    and at most `until_s` (leave_s unless given) before one of its check-ins, no faster
    than one can travel; None when there is none.

    A phone checked in with a group at another spot before (`seen.grouped`) was still
    with that group, not with its owner on their own way (a patrol at its last
    checkpoint, a bag at its last stop): the group's stops are followed back, each within
    leave_s of the next, and coming is looked for before the first of them, in the
    phone's use on its own."""
    with_group = seen.t[seen.grouped]  # the phone's check-ins with a group elsewhere
    until_s = s.leave_s if until_s is None else until_s

    def before(_i: int, _b: Burst, own: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        dt = _formed(with_group, float(own.min()), s.leave_s) - t
        return dt, (dt > since_s) & (dt <= until_s)

    return _nearest_away(seen, s, before, seen.grouped, away_m)


def went_to(
    seen: Sightings,
    stay: Stay,
    s: Settings,
    after_stay: bool = False,
    away_m: float | None = None,
) -> int | None:
    """As `came_from`, within leave_s after the account's check-ins, measured from the
    end of the stay: when the group was at the place again hours later that day
    (`stay.ends`), a phone seen away after its own last time there (its check-in, or
    `stay.here`: its other activity at the place) and within leave_s of the group's last
    time there left with its owner (a candidate checking out after the paper, then
    reading the app at home). With `after_stay`, only bursts the group stayed on after
    count, and only sightings after the stay.

    As coming is looked for before the group formed, going is looked for after it broke
    up: a phone checked in with this same group at another spot after (`seen.with_us`:
    half the ring's accounts or more together again, a patrol at its next checkpoint, a
    bag at its next stop) was still with it, not with its owner on their own way. The
    group's stops are followed on, each within leave_s of the last, and going is
    measured from the last of them. A check-in with a few others (a crew of two or three
    out of a team at a job) is a way of one's own."""
    with_group = seen.t[seen.with_us]

    def after(
        i: int, b: Burst, own: np.ndarray, t: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray] | None:
        if after_stay and i not in stay.ends:
            return None
        end = stay.ends.get(i, b.end)
        last = float(own.max())
        if stay.here.size:
            later = stay.here[(stay.here > last) & (stay.here <= end)]
            last = float(later.max()) if later.size else last
        last = _broke_up(with_group, last, s.leave_s)
        dt = t - last
        ok = (dt > 0) & (t - max(end, last) <= s.leave_s)
        if after_stay:
            ok &= t > end
        return dt, ok

    return _nearest_away(seen, s, after, seen.with_us, away_m)


def _nearest_away(
    seen: Sightings, s: Settings, window: _Window, grouped: np.ndarray, away_m: float | None
) -> int | None:
    """The fix of the row nearest in time to one of the account's bursts, among those
    `window` counts, not with a group (`grouped`), over `away_m` (elsewhere_m unless
    given) from the burst and no faster than one can travel."""
    if not seen.rows.size:
        return None
    away_m = s.elsewhere_m if away_m is None else away_m
    for i, b, own, d in seen.bursts:
        counted = window(i, b, own, seen.t)
        if counted is None:
            continue
        dt, ok = counted
        ok = ok & ~grouped & (d > away_m) & (d <= s.max_travel_speed_mps * dt)
        if ok.any():
            k = int(np.flatnonzero(ok)[np.argmin(np.abs(dt[ok]))])
            return int(seen.rows[k])
    return None


def _formed(with_group: np.ndarray, t: float, gap_s: float) -> float:
    """When the phone first checked in with a group, following its group's stops back
    from `t` (`with_group`: its check-ins in bursts), each within `gap_s` of the next."""
    while True:
        earlier = with_group[(with_group < t) & (with_group >= t - gap_s)]
        if not earlier.size:
            return t
        t = float(earlier.min())


def _broke_up(with_group: np.ndarray, t: float, gap_s: float) -> float:
    """When the phone last checked in with a group, following its group's stops on from
    `t` (`with_group`: its check-ins in bursts), each within `gap_s` of the last."""
    while True:
        later = with_group[(with_group > t) & (with_group <= t + gap_s)]
        if not later.size:
            return t
        t = float(later.max())


def travel_signals(
    came: list[tuple[float, float]],
    gone: list[tuple[float, float]],
    gone_after_stay: list[tuple[float, float]],
    away: list[tuple[float, float, float]],
    place: tuple[float, float],
    n: int,
    one_hand: bool,
    stayed_on: bool,
    s: Settings,
) -> list[Signal]:
    """Counter-evidence from where the `n` accounts' phones were seen before (`came`: in
    use on their own, before the group formed) and after (`gone`; only after the group
    was at the place again hours later: `gone_after_stay`) their check-ins: people who
    came, or went, each their own way, or came over together.

    One hand's timing means the phones were gathered into one hand and went back to
    their owners: phones coming over from one place, or from their owners' homes, and
    going their own ways right after, say nothing then. Unless the group was at the
    place again hours later the same day (`stayed_on`: someone checking out, using the
    app there): a bag is checked in and goes, so phones that came each their own way and
    left each their own way after that stay came and went with their owners (an
    invigilator checking a queue's IDs one at a time is one hand's timing too). Phones
    that came each their own way *and* went each their own way right after are not
    enough: an official gathering colleagues' phones at the office for ten minutes and
    handing them back shows that too.

    Phones seen before or after (`away`: one sighting per account, before when there is
    one, with its time) are pooled when neither side alone shows enough
    (`people_come_and_go`): people each come from or go to a place of their own."""
    hours = s.stay_s / 3600
    after_stay = (
        f"; counted although the timing shows one hand: the group was at the place again "
        f"{hours:g} h or more later (a bag is checked in and goes)"
        if one_hand
        else ""
    )
    sides = [
        _own_ways(
            "people_arrive",
            came,
            n,
            one_hand and not stayed_on,
            "before",
            "came",
            "arrives",
            s,
            after_stay,
        ),
        _came_together(came, n, one_hand, s),
        _own_ways(
            "people_leave",
            gone_after_stay if one_hand and stayed_on else gone,
            n,
            one_hand and not stayed_on,
            "after the group's stay" if one_hand and stayed_on else "after",
            "went",
            "leaves",
            s,
            after_stay,
        ),
    ]
    for g, fixes in ((sides[0], came), (sides[2], gone)):
        if g.present and _out_and_back(fixes, place, s):
            g.present = False
            g.text += (
                f"; not counted: seen at {len(_distinct(fixes, s.one_place_m))} places all one "
                "way from the place (a collector's round out and back; homes lie all round)"
            )
    counted = any(g.present for g in sides)
    return [*sides, _come_and_go(away, place, n, one_hand and not stayed_on, counted, s)]


def _come_and_go(
    away: list[tuple[float, float, float]],
    place: tuple[float, float],
    n: int,
    one_hand: bool,
    counted: bool,
    s: Settings,
) -> Signal:
    """People each come from, or go to, a place of their own: phones seen before or after
    their check-ins (`away`: lat, lon, time; one per account) over one_place_m from the
    place and from each other (a home round the corner is a place of one's own as much
    as one across town), the farthest two kilometres apart, pooled over both sides (a
    patrol's volunteers, a few seen at home before and a few after). A bag's phones come
    and go together (or are never seen); collected phones lie along the collector's
    round, each near the one seen before (`_on_one_round`), which does not count, nor do
    phones at a place with another (a bag at the stop before or after), nor places that
    all lie one way from here (a round out one way and back: the directions from the
    place to them, as unit vectors, average over one_way_share in length; people's homes
    lie all round). Present only when neither people_arrive nor people_leave is
    (`counted`): the same sightings are not counted twice; not when the timing shows one
    hand (the phones were collected from and handed back to their owners)."""
    away = _own_places(away, s.one_place_m)
    fixes = [(la, lo) for la, lo, _ in away]
    apart = _farthest_apart(fixes)
    enough = len(away) >= s.min_leave and len(away) / n >= s.leave_share
    enough &= apart >= s.elsewhere_m
    round_ = enough and _on_one_round(away, s.round_hop_share)
    one_way = enough and _one_way(fixes, place) >= s.one_way_share
    why = (
        "; not counted: seen one after another along one round, each near the one before "
        "(a collector's round)"
        if round_
        else "; not counted: all one way from the place (a round out and back)"
        if one_way
        else "; not counted: the timing shows one operator tapping every phone"
        if one_hand
        else "; not counted: people_arrive or people_leave counts these already"
        if counted
        else ""
    )
    return Signal(
        "people_come_and_go",
        round(len(away) / n, 3),
        s.leave_share,
        -s.weight_leave,
        enough and not (round_ or one_way or one_hand or counted),
        f"{len(away)} of {n} phones that checked in were seen over {s.one_place_m:.0f} m from "
        f"the place and from each other, within {s.leave_s / 3600:g} h "
        f"before or after, up to {apart / 1000:.1f} km apart "
        "from each other (people each coming from or going to a place of their own; a bag "
        "of phones comes and goes together)" + (why if enough else ""),
        None,
    )


def _own_places(
    away: list[tuple[float, float, float]], radius_m: float
) -> list[tuple[float, float, float]]:
    """The sightings with no other within `radius_m`: each at a place of its own."""
    if len(away) < 2:
        return away
    lat, lon, _ = np.array(away).T
    return [
        x
        for i, x in enumerate(away)
        if np.delete(distance_m(lat, lon, lat[i], lon[i]), i).min() > radius_m
    ]


def _out_and_back(
    fixes: list[tuple[float, float]], place: tuple[float, float], s: Settings
) -> bool:
    """Phones seen coming or going at ROUND_PLACES places or more (over one_place_m apart:
    a work site the group went to together is one), all one way from the place: the
    mean of the unit vectors from the place to them at least one_way_share long and too
    long for homes all round (k R^2 >= ROUND_Z, Rayleigh's test: p about 0.01). What a
    collector's round out one way and back shows, whatever order the phones were seen
    in; people's homes lie all round."""
    spots = _distinct(fixes, s.one_place_m)
    k = len(spots)
    if k < ROUND_PLACES:
        return False
    return _one_way(spots, place) >= max(s.one_way_share, math.sqrt(ROUND_Z / k))


def _distinct(fixes: list[tuple[float, float]], radius_m: float) -> list[tuple[float, float]]:
    """One fix per place: each fix over `radius_m` from every one kept before it."""
    kept: list[tuple[float, float]] = []
    for la, lo in fixes:
        if not kept or distance_m(*np.array(kept).T, la, lo).min() > radius_m:
            kept.append((la, lo))
    return kept


def _one_way(fixes: list[tuple[float, float]], place: tuple[float, float]) -> float:
    """The length of the mean unit vector from `place` to the fixes: 1 when all lie in one
    direction, near 0 when they lie all round."""
    lat, lon = np.array(fixes).T
    east = (lon - place[1]) * math.cos(math.radians(place[0]))
    north = lat - place[0]
    norm = np.hypot(east, north)
    return float(np.hypot((east / norm).mean(), (north / norm).mean()))


def day_apart(seen_at: list[tuple[float, float, float]], n: int, s: Settings) -> Signal:
    """Phones seen hours before their check-in (`seen_at`: lat, lon, time; between leave_s
    and day_apart_s: a day at work or school; over one_place_m from the place: a campus
    building round the corner is a place of one's own), at places apart (the farthest two over
    elsewhere_m, and not along one round): they spent the day apart, with their owners,
    and were not kept together (a family home in the evening). A collector's round shows
    the phones apart before too, but one after another along a road: taken in the order
    they were seen, each is near the one before (`_on_one_round`), and they were
    gathered, so that does not count. Counter-evidence (people with days of their own),
    and it says a network the phones share is the place's, not a bag's (`scoring`).

    Counted whatever the timing: one hand's timing says who tapped the phones at the
    check-in (a grandchild checking in the family's phones at the dinner table), not
    where the phones spent the day. To gather phones that were with their owners hours
    before at places kilometres apart, someone must fetch them, which is the round; and
    phones gathered from owners who were all at one place (colleagues at the office) were
    not apart."""
    fixes = [(la, lo) for la, lo, _ in seen_at]
    apart = _farthest_apart(fixes)
    seen = len(fixes) >= s.min_leave and len(fixes) / n >= s.day_apart_share
    seen &= apart >= s.elsewhere_m
    round_ = seen and _on_one_round(seen_at, s.round_hop_share)
    return Signal(
        "day_apart",
        round(len(fixes) / n, 3),
        s.day_apart_share,
        -s.weight_day_apart,
        seen and not round_,
        f"{len(fixes)} of {n} phones that checked in were seen over {s.one_place_m:.0f} m "
        f"away {s.leave_s / 3600:g}-{s.day_apart_s / 3600:g} h before, up to "
        f"{apart / 1000:.1f} km apart from each other (a day apart, each with its owner; a "
        "bag's phones are kept together)"
        + (
            "; not counted: seen one after another along one round, each near the one "
            "before (a collector's round)"
            if round_
            else ""
        ),
        None,
    )


def _on_one_round(seen_at: list[tuple[float, float, float]], hop_share: float) -> bool:
    """Whether places seen at different times lie along one round: taken in time order,
    the mean hop from each to the next is under `hop_share` of the median distance
    between any two (a collector going from door to door); people each at a place of
    their own are as far from the next seen as from any other."""
    lat, lon, _ = np.array(sorted(seen_at, key=lambda x: x[2])).T
    hops = distance_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    pair = [distance_m(lat[i + 1 :], lon[i + 1 :], lat[i], lon[i]) for i in range(lat.size - 1)]
    return float(hops.mean()) < hop_share * float(np.median(np.concatenate(pair)))


def _came_together(came: list[tuple[float, float]], n: int, one_hand: bool, s: Settings) -> Signal:
    """People who waited together elsewhere with their phones in hand and came over (a
    unit from its barracks, a class off its bus): as many phones as `people_arrive` asks
    for, seen away from the place (over one_place_m) shortly before, within one_place_m of
    where most of them were. A bag of spare phones is never seen before; one of collected
    phones shows one hand."""
    k = _at_one_place(came, s.one_place_m)
    together = k >= s.min_leave and k / n >= s.leave_share
    return Signal(
        "came_together",
        round(k / n, 3),
        s.leave_share,
        -s.weight_leave,
        together and not one_hand,
        f"{k} of {n} phones that checked in were in use at one place (within "
        f"{s.one_place_m:.0f} m) over {s.one_place_m:.0f} m from the place within "
        f"{s.leave_s / 3600:g} h "
        "before (people who waited together elsewhere, each with their own phone, and "
        "came over)"
        + (
            "; not counted: the timing shows one operator tapping every phone, so they "
            "were collected from their owners"
            if together and one_hand
            else ""
        ),
        None,
    )


def _at_one_place(fixes: list[tuple[float, float]], radius_m: float) -> int:
    """How many of the fixes lie within `radius_m` of their median point (where most were)."""
    if not fixes:
        return 0
    lat, lon = np.array(fixes).T
    return int(
        (distance_m(lat, lon, float(np.median(lat)), float(np.median(lon))) <= radius_m).sum()
    )


def _own_ways(
    code: str,
    fixes: list[tuple[float, float]],
    n: int,
    one_hand: bool,
    when: str,
    verb: str,
    bag_does: str,
    s: Settings,
    note: str = "",
) -> Signal:
    """Phones seen `when` their check-ins at places kilometres apart: people who `verb`
    each their own way (present unless `one_hand` rules it out; `note` says why it
    counts anyway)."""
    apart = _farthest_apart(fixes)
    own_ways = len(fixes) >= s.min_leave and len(fixes) / n >= s.leave_share
    own_ways &= apart >= s.elsewhere_m
    return Signal(
        code,
        round(len(fixes) / n, 3),
        s.leave_share,
        -s.weight_leave,
        own_ways and not one_hand,
        f"{len(fixes)} of {n} phones that checked in were seen over {s.one_place_m:.0f} m "
        f"from the place within {s.leave_s / 3600:g} h {when}, at a pace one can travel, up to "
        f"{apart / 1000:.1f} km apart from each other (people who {verb} their own ways; a "
        f"bag of phones {bag_does} together)"
        + (
            "; not counted: the timing shows one operator tapping every phone, so they "
            "were collected from and handed back to their owners"
            if own_ways and one_hand
            else note
            if own_ways
            else ""
        ),
        None,
    )


def _farthest_apart(fixes: list[tuple[float, float]]) -> float:
    """The largest distance (m) between two of the fixes; 0 for fewer than two."""
    if len(fixes) < 2:
        return 0.0
    lat, lon = np.array(fixes).T
    return float(max(distance_m(lat, lon, la, lo).max() for la, lo in fixes))
