"""Scenes for the bulk check-in evaluation: a real organic background (Foursquare
check-ins) with rings and legitimate groups planted into it.

A **ring** is several accounts' phones at one spot at one moment, checked in by one
operator; each *tempo family* is a different way of doing it (software firing them all at
once, phones laid out and tapped in quick succession, one person walking from phone to
phone, a careful operator with long irregular gaps who moves a little, mixtures). A
**crowd family** is a legitimate group: meetings, colleagues at a door every morning,
friends, transit peaks, concert entrances, delegations stepping off a bus.

Every instance draws its own parameters from broad ranges (tempo, scatter, days, hardware,
GPS accuracy), so no single rhythm or layout defines a family. Each family has its own
random stream, so adding or removing a family never changes what another one plants.

Held-out families (`HELDOUT_RING_FAMILIES`, `HELDOUT_CROWD_FAMILIES`) were written down in
docs/evaluation-bulk-checkin.md before any tuning and are planted only when asked for.
"""

from __future__ import annotations

import hashlib
import math
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tapwatch.events import Event, EventType

DATA = Path("/work/shared/data/foursquare-lbsn")
APP = "eval-app"
TIME_FIX_S = 28_800.0  # the data's times are 8 h early (see its README)
M_PER_DEG_LAT = 110_574.0
SIZE_BUCKETS = ((3, 4), (5, 7), (8, 15), (16, 40))

#: Development families: tuned on (seeds 1-3). `walking` and `service_queue` were held out
#: for the first round (seeds 99-101), `sittings` and `class_roll` for the second (seeds
#: 200-202), `shared_bag` and `shift_briefing` for the third (seeds 300-302), `tour` and
#: `site_visit` for the fourth (seeds 400-402), `drawer` and `field_team` for the fifth
#: (seeds 500-502), `rotation` and `drill_squads` for the sixth (seeds 600-602),
#: `two_handed` and `exam_sitting` for the seventh (seeds 700-702), `door_to_door` and
#: `patrol` for the eighth (seeds 800-802), `round_trip` and `team_bus` for the ninth
#: (seeds 900-902), `mock_location` and `coach_tour` for the tenth (seeds 1000-1002),
#: `two_operators` and `household` for the eleventh (seeds 1100-1102), `locker_bank` and
#: `wedding_tables` for the twelfth (seeds 1200-1202), `car_park` and `carpool` for the
#: thirteenth (seeds 1300-1302), `helpers` and `dorm_roll` for the fourteenth (seeds
#: 1400-1402), `phone_rack` and `square_dance` for the fifteenth (seeds 1500-1502),
#: `charging_cart` and `ward_shift` for the seventeenth (seeds 1700-1702), `two_floors` and
#: `poll_workers` for the eighteenth (seeds 1800-1802), `round_table` and `choir` for the
#: nineteenth (seeds 1900-1902), `reboot_waves` and `factory_gate` for the twentieth (seeds
#: 2000-2002), `elders_bench` and `village_assembly` for the twenty-first (seeds
#: 2100-2102); each has been looked at since and is a development family now.
RING_FAMILIES = (
    "simultaneous",
    "fast",
    "serial",
    "careful",
    "mixed",
    "walking",
    "sittings",
    "shared_bag",
    "tour",
    "drawer",
    "rotation",
    "two_handed",
    "door_to_door",
    "round_trip",
    "mock_location",
    "two_operators",
    "locker_bank",
    "car_park",
    "helpers",
    "phone_rack",
    "charging_cart",
    "two_floors",
    "round_table",
    "reboot_waves",
    "elders_bench",
)
CROWD_FAMILIES = (
    "meeting",
    "colleagues",
    "friends",
    "transit",
    "concert",
    "delegation",
    "service_queue",
    "class_roll",
    "shift_briefing",
    "site_visit",
    "field_team",
    "drill_squads",
    "exam_sitting",
    "patrol",
    "team_bus",
    "coach_tour",
    "household",
    "wedding_tables",
    "carpool",
    "dorm_roll",
    "square_dance",
    "ward_shift",
    "poll_workers",
    "choir",
    "factory_gate",
    "village_assembly",
)
#: Defined before tuning and never looked at while tuning (see the evaluation doc):
#: `family_evening` and `market_opening` were written on 2026-12-01 before the
#: twenty-second round of tuning, for held-out seeds 2200-2202 (`elders_bench` and
#: `village_assembly`, held out in the twenty-first round, are development families now).
HELDOUT_RING_FAMILIES = ("family_evening",)
HELDOUT_CROWD_FAMILIES = ("market_opening",)
#: Reported for what still fails; no goal.
DIAGNOSTIC_FAMILIES = ("ring_in_crowd",)

# Device models and their shares, roughly the Chinese market mix.
MODELS = [
    ("HUAWEI Mate 60 Pro", 0.12),
    ("HUAWEI nova 12", 0.08),
    ("iPhone 15", 0.10),
    ("iPhone 14", 0.08),
    ("iPhone 13", 0.06),
    ("Xiaomi 14", 0.07),
    ("Redmi K70", 0.07),
    ("OPPO Reno11", 0.07),
    ("OPPO A2", 0.05),
    ("vivo X100", 0.06),
    ("vivo Y36", 0.06),
    ("HONOR 90", 0.06),
    ("HONOR X50", 0.05),
    ("realme GT5", 0.04),
    ("other", 0.03),
]
MODEL_NAMES = [m for m, _ in MODELS]
MODEL_P = np.array([p for _, p in MODELS]) / sum(p for _, p in MODELS)

Person = tuple[str, str, str, int | None]  # account, own device, model, Foursquare user


@dataclass
class Truth:
    """What was planted: event id -> (family, instance); ring sizes and days per instance."""

    family_of: dict[str, tuple[str, str]] = field(default_factory=dict)
    ring_size: dict[str, int] = field(default_factory=dict)
    ring_days: dict[str, int] = field(default_factory=dict)
    instances: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))


def family_rng(seed: int, family: str) -> np.random.Generator:
    """A random stream of its own per (seed, family)."""
    return np.random.default_rng([seed, zlib.crc32(family.encode())])


def log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


class World:
    """The organic background plus planted scenes, as Events."""

    def __init__(self, seed: int, with_points: bool) -> None:
        self.seed = seed
        self.with_points = with_points
        self.events: list[Event] = []
        self.truth = Truth()
        rng = family_rng(seed, "organic")
        ck = np.loadtxt(DATA / "Foursquare_checkins.txt")
        poi = np.loadtxt(DATA / "Foursquare_poi_coos.txt")
        self.venue_ll = {int(v): (la, lo) for v, la, lo in poi}
        self.users = np.unique(ck[:, 0]).astype(int)
        # Each user's home area: the median of their venues (people planted into a scene
        # are drawn from users living within 30 km, not teleported from another city).
        ll = np.array([self.venue_ll[int(v)] for v in ck[:, 1]])
        order = np.argsort(ck[:, 0], kind="stable")
        cut = np.flatnonzero(np.diff(ck[order, 0])) + 1
        self.user_home = np.array([np.median(part, axis=0) for part in np.split(ll[order], cut)])
        self.user_model = {int(u): model(rng) for u in self.users}
        # Scenes happen at venues in proportion to their popularity (busy places).
        venues, counts = np.unique(ck[:, 1].astype(int), return_counts=True)
        self.venues, self.venue_p = venues, counts / counts.sum()
        self.t0, self.t1 = float(ck[:, 2].min()) + TIME_FIX_S, float(ck[:, 2].max()) + TIME_FIX_S
        self.user_day_net: dict[tuple[int, int], str] = {}
        self._organic(ck, rng)

    # --- building blocks -------------------------------------------------------------

    def fix(
        self,
        rng: np.random.Generator,
        lat: float,
        lon: float,
        dx: float,
        dy: float,
        acc: float,
    ) -> tuple[float, float]:
        """A phone fix at (dx, dy) metres from (lat, lon) with GPS noise matching acc (the
        68 % radius of a 2-D normal error, sigma = acc / 1.51)."""
        sx, sy = rng.normal(0, acc / 1.51, 2)
        m_lon = M_PER_DEG_LAT * math.cos(math.radians(lat))
        return lat + (dy + sy) / M_PER_DEG_LAT, lon + (dx + sx) / m_lon

    def network(self, rng: np.random.Generator, user: int | None, ts: float) -> str:
        """A person's own network: per user per day home Wi-Fi or one of 64 mobile /24s of
        one of three carriers; accounts seen only in a scene are on mobile data."""
        if user is None:
            return mobile(rng)
        day = int(ts // 86400)
        net = self.user_day_net.get((user, day))
        if net is None:
            # Drawn from (seed, user, day) alone, not from the calling family's stream: a
            # user-day another family met first must not move this family's draws.
            h = int.from_bytes(
                hashlib.blake2b(f"{self.seed}/{user}/{day}".encode(), digest_size=8).digest()
            )
            home = (h % 10_000) / 10_000 < 0.4
            net = f"home-{user}" if home else f"mob-{(h >> 16) % 3}-{(h >> 24) % 64}"
            self.user_day_net[(user, day)] = net
        return net

    def add(
        self,
        ts: float,
        account: str,
        lat: float,
        lon: float,
        acc: float,
        *,
        venue: int | None,
        device: str,
        model: str,
        network: str,
        photo: str | None = None,
        type: EventType = EventType.checkin,
        truth: tuple[str, str] | None = None,
    ) -> None:
        eid = f"e{len(self.events):07d}"
        self.events.append(
            Event(
                app=APP,
                id=eid,
                ts=ts,
                type=type,
                account=account,
                device=device,
                device_model=model,
                network=network,
                lat=lat,
                lon=lon,
                accuracy_m=acc,
                point=f"v{venue}" if self.with_points and venue is not None else None,
                photo_hash=photo or f"ph{eid}",
            )
        )
        if truth is not None:
            self.truth.family_of[eid] = truth
            if type == EventType.checkin:
                self.truth.instances[truth[1]].add(eid)

    def read(
        self,
        rng: np.random.Generator,
        person: Person,
        ts: float,
        at: tuple[float, float],
        net_ts: float,
        truth: tuple[str, str],
    ) -> None:
        """`person` reading the app on their own phone at `at` (a fix good to 10 m), on
        their own network of the day of `net_ts`."""
        acc, dev, m, u = person
        self.add(
            ts,
            acc,
            *at,
            10.0,
            venue=None,
            device=dev,
            model=m,
            network=self.network(rng, u, net_ts),
            type=EventType.read,
            truth=truth,
        )

    def _organic(self, ck: np.ndarray, rng: np.random.Generator) -> None:
        accs = accuracy(rng, 12.0, ck.shape[0])
        for (u, v, t), a in zip(ck.tolist(), accs.tolist(), strict=True):
            u, v = int(u), int(v)
            la, lo = self.venue_ll[v]
            ts = t + TIME_FIX_S
            fla, flo = self.fix(rng, la, lo, 0.0, 0.0, a)
            self.add(
                ts,
                f"u{u}",
                fla,
                flo,
                a,
                venue=v,
                device=f"d{u}",
                model=self.user_model[u],
                network=self.network(rng, u, ts),
            )
        self.n_organic = len(self.events)

    def people(
        self, rng: np.random.Generator, n: int, tag: str, near: tuple[float, float]
    ) -> list[Person]:
        """Half real Foursquare users living within 30 km of `near` (so they have organic
        activity around), half accounts seen only here."""
        la, lo = near
        dy = (self.user_home[:, 0] - la) * M_PER_DEG_LAT
        dx = (self.user_home[:, 1] - lo) * M_PER_DEG_LAT * math.cos(math.radians(la))
        local = self.users[np.hypot(dx, dy) < 30_000]
        out = []
        for i in range(n):
            if local.size and rng.random() < 0.5:
                u = int(rng.choice(local))
                out.append((f"u{u}", f"d{u}", self.user_model[u], u))
            else:
                out.append((f"{tag}-{i}", f"{tag}-d{i}", model(rng), None))
        return out

    def venue_near(
        self, rng: np.random.Generator, la: float, lo: float, lo_m: float, hi_m: float
    ) -> tuple[int | None, float, float]:
        """Another venue lo_m-hi_m metres from (la, lo) (the next stop of a round), or a
        spot that far with no venue when there is none."""
        if not hasattr(self, "_venue_arr"):
            self._venue_arr = np.array([(v, a, b) for v, (a, b) in self.venue_ll.items()])
        arr = self._venue_arr
        dy = (arr[:, 1] - la) * M_PER_DEG_LAT
        dx = (arr[:, 2] - lo) * M_PER_DEG_LAT * math.cos(math.radians(la))
        ok = np.flatnonzero((np.hypot(dx, dy) >= lo_m) & (np.hypot(dx, dy) <= hi_m))
        if ok.size:
            k = int(rng.choice(ok))
            return int(arr[k, 0]), float(arr[k, 1]), float(arr[k, 2])
        r, a = rng.uniform(lo_m, hi_m), rng.uniform(0, 2 * math.pi)
        m_lon = M_PER_DEG_LAT * math.cos(math.radians(la))
        return None, la + r * math.sin(a) / M_PER_DEG_LAT, lo + r * math.cos(a) / m_lon

    def scene(self, rng: np.random.Generator, days: int = 7) -> tuple[int, float, float, float]:
        """A venue (by popularity) and a day start with `days` days of data after it."""
        v = int(rng.choice(self.venues, p=self.venue_p))
        la, lo = self.venue_ll[v]
        day = self.t0 + float(rng.uniform(0, self.t1 - self.t0 - (days + 1) * 86400))
        return v, la, lo, day - day % 86400


def model(rng: np.random.Generator) -> str:
    return MODEL_NAMES[int(rng.choice(len(MODEL_NAMES), p=MODEL_P))]


def mobile(rng: np.random.Generator) -> str:
    return f"mob-{int(rng.integers(3))}-{int(rng.integers(64))}"


def accuracy(rng: np.random.Generator, median_m: float, k: int = 1) -> np.ndarray:
    """Reported accuracy: lognormal around `median_m`, 3-60 m."""
    return np.clip(rng.lognormal(math.log(median_m), 0.5, k), 3, 60)


# --- ring tempo families ------------------------------------------------------------------
#
# A tempo draws its parameters once per ring (a ring keeps its habits from day to day) and
# returns, per day, taps: (phone index, seconds from the first tap, east m, north m) around
# the ring's spot. A phone may tap twice (a failed check-in retried).

Tap = tuple[int, float, float, float]
Tempo = Callable[[np.random.Generator, int], list[Tap]]


def _scatter(rng: np.random.Generator, n: int, sd: float) -> np.ndarray:
    return rng.normal(0.0, sd, (n, 2))


def simultaneous(rng: np.random.Generator) -> Tempo:
    """Group-control software fires every phone at once (within 0.05-3 s); a few phones
    lag by a slow network (1-10 s); the phones lie on one table."""
    window, lag_p, table = rng.uniform(0.05, 3.0), rng.uniform(0, 0.15), rng.uniform(0.2, 1.5)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        t = rng.uniform(0, window, n)
        lag = rng.random(n) < lag_p
        t[lag] += rng.uniform(1, 10, int(lag.sum()))
        xy = _scatter(rng, n, table)
        return [(i, float(t[i]), *xy[i]) for i in range(n)]

    return day


def _gapped(
    median_s: float, sigma: float, pause_p: float, pause_s: tuple[float, float]
) -> Callable[[np.random.Generator, int], np.ndarray]:
    """Tap times: lognormal gaps around `median_s`, with pauses now and then."""

    def times(rng: np.random.Generator, n: int) -> np.ndarray:
        g = median_s * rng.lognormal(0.0, sigma, n)
        pause = rng.random(n) < pause_p
        g[pause] += rng.uniform(*pause_s, int(pause.sum()))
        g[0] = 0.0
        return np.cumsum(g)

    return times


def fast(rng: np.random.Generator) -> Tempo:
    """Phones laid out on a table and tapped in quick succession: gaps around 0.3-3 s."""
    times = _gapped(log_uniform(rng, 0.3, 3.0), rng.uniform(0.2, 0.8), 0.0, (0, 0))
    table = rng.uniform(0.2, 1.5)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        t, xy = times(rng, n), _scatter(rng, n, table)
        return [(i, float(t[i]), *xy[i]) for i in range(n)]

    return day


def serial(rng: np.random.Generator) -> Tempo:
    """One person checking each phone in turn, 3-12 s apart (30 %: anything 1-15 s)."""
    uniform = rng.random() < 0.3
    times = _gapped(rng.uniform(3, 12), rng.uniform(0.15, 0.6), 0.0, (0, 0))
    hands = rng.uniform(0.5, 3.0)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        if uniform:
            t = np.concatenate(([0.0], np.cumsum(rng.uniform(1, 15, n - 1))))
        else:
            t = times(rng, n)
        xy = _scatter(rng, n, hands)
        return [(i, float(t[i]), *xy[i]) for i in range(n)]

    return day


def _drift(rng: np.random.Generator, n: int, step: float, bound: float) -> np.ndarray:
    """The operator's position at each tap: a random walk kept within `bound` metres."""
    pos = np.zeros((n, 2))
    for i in range(1, n):
        nxt = pos[i - 1] + rng.normal(0, step, 2)
        r = float(np.hypot(*nxt))
        pos[i] = nxt if r <= bound else nxt * (bound / r)
    return pos


def careful(rng: np.random.Generator) -> Tempo:
    """A careful operator: irregular gaps around 8-45 s with pauses of 1-4 minutes, moving
    a little about the spot between phones (a random walk kept within 3-8 m)."""
    times = _gapped(
        log_uniform(rng, 8, 45), rng.uniform(0.3, 0.9), rng.uniform(0.05, 0.2), (60, 240)
    )
    step, bound, hands = rng.uniform(0.3, 1.5), rng.uniform(3, 8), rng.uniform(0.3, 1.5)
    return _about_the_spot(times, step, bound, hands)


def _about_the_spot(
    times: Callable[[np.random.Generator, int], np.ndarray], step: float, bound: float, hands: float
) -> Tempo:
    """Taps at `times`, the operator moving about the spot between phones (a random walk
    of `step` m per phone kept within `bound` m), each phone `hands` m from the operator."""

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        t = times(rng, n)
        xy = _drift(rng, n, step, bound) + _scatter(rng, n, hands)
        return [(i, float(t[i]), *xy[i]) for i in range(n)]

    return day


def mixed(rng: np.random.Generator) -> Tempo:
    """The phones in 2-4 lots, each lot at its own tempo (any of the above), 10-120 s
    between lots, the operator moving 1-5 m between them."""
    parts = [simultaneous, fast, serial, careful]
    lots = int(rng.integers(2, 5))
    tempos = [parts[int(rng.integers(len(parts)))](rng) for _ in range(lots)]

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        cuts = np.sort(rng.choice(np.arange(1, n), size=min(lots - 1, n - 1), replace=False))
        out: list[Tap] = []
        t0, origin = 0.0, np.zeros(2)
        for k, idx in enumerate(np.split(np.arange(n), cuts)):
            if not idx.size:
                continue
            taps = tempos[k % len(tempos)](rng, int(idx.size))
            for i, t, x, y in taps:
                out.append((int(idx[i]), t0 + t, x + origin[0], y + origin[1]))
            t0 = max(t for _, t, _, _ in out) + rng.uniform(10, 120)
            a = rng.uniform(0, 2 * math.pi)
            origin = origin + rng.uniform(1, 5) * np.array([math.cos(a), math.sin(a)])
        return out

    return day


def walking(rng: np.random.Generator) -> Tempo:
    """Held out. The operator paces slowly back and forth along a 4-15 m stretch through
    the spot while checking phones in one by one (gaps around 4-30 s, irregular); now and
    then a check-in fails and the phone is tapped again 10-60 s later."""
    times = _gapped(log_uniform(rng, 4, 30), rng.uniform(0.3, 0.9), 0.0, (0, 0))
    length, speed = rng.uniform(4, 15), rng.uniform(0.05, 0.3)
    a = rng.uniform(0, math.pi)
    axis = np.array([math.cos(a), math.sin(a)])
    retry_p, hands = rng.uniform(0, 0.2), rng.uniform(0.3, 1.5)

    def at(t: float) -> np.ndarray:
        s = (speed * t) % (2 * length)
        return axis * ((s if s <= length else 2 * length - s) - length / 2)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        t = times(rng, n)
        out: list[Tap] = []
        for i in range(n):
            xy = at(float(t[i])) + rng.normal(0, hands, 2)
            out.append((i, float(t[i]), *xy))
            if rng.random() < retry_p:
                tr = float(t[i]) + rng.uniform(10, 60)
                out.append((i, tr, *(at(tr) + rng.normal(0, hands, 2))))
        return out

    return day


def sittings(rng: np.random.Generator) -> Tempo:
    """Held out (second round). The operator sits at a table (or stands at a wall shelf)
    and works through the phones from a bag in 2-3 sittings, with a break of 2-12 min
    between them (a call, tea, a walk round), possibly at another table 0-8 m away. Each
    phone is taken out, unlocked and checked in: gaps around 15-60 s (sigma 0.3-0.8); some
    phones (0-25 %) first need a log-in (40-150 s more); some check-ins fail and are tapped
    again 20-90 s later. The phones lie on the table (0.2-1 m) and never move otherwise."""
    sessions = int(rng.integers(2, 4))
    times = _gapped(
        log_uniform(rng, 15, 60), rng.uniform(0.3, 0.8), rng.uniform(0, 0.25), (40, 150)
    )
    table, retry_p = rng.uniform(0.2, 1.0), rng.uniform(0, 0.15)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        k = min(sessions, n)
        cuts = np.sort(rng.choice(np.arange(1, n), size=k - 1, replace=False)) if k > 1 else []
        out: list[Tap] = []
        t0, spot = 0.0, np.zeros(2)
        for idx in np.split(np.arange(n), cuts):
            t = t0 + times(rng, int(idx.size))
            for i, ti in zip(idx.tolist(), t.tolist(), strict=True):
                out.append((i, ti, *(spot + rng.normal(0, table, 2))))
                if rng.random() < retry_p:
                    tr = ti + rng.uniform(20, 90)
                    out.append((i, tr, *(spot + rng.normal(0, table, 2))))
            t0 = max(tt for _, tt, _, _ in out) + rng.uniform(120, 720)
            if rng.random() < 0.6:  # another table, a bench by the wall
                a = rng.uniform(0, 2 * math.pi)
                spot = spot + rng.uniform(1, 8) * np.array([math.cos(a), math.sin(a)])
        return out

    return day


def shared_bag(rng: np.random.Generator) -> Tempo:
    """Held out (third round). Two or three operators share one bag of phones: each takes
    a share and checks them in one at a time, all at the same moment, standing 0.5-3 m
    apart (at one table, or side by side on a step); each keeps a pace of their own (gaps
    around 2-30 s, sigma 0.2-0.8; a pause of 30-120 s now and then) and starts 0-20 s
    after the first. Several hands that are one ring."""
    k = int(rng.integers(2, 4))
    paces = [
        _gapped(log_uniform(rng, 2, 30), rng.uniform(0.2, 0.8), rng.uniform(0, 0.1), (30, 120))
        for _ in range(k)
    ]
    spots = disk(rng, k, rng.uniform(0.5, 3.0))
    hands = rng.uniform(0.2, 1.0)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        share = rng.permutation(n) % k  # who handles which phone today
        out: list[Tap] = []
        for j in range(k):
            idx = np.flatnonzero(share == j)
            if not idx.size:
                continue
            t = rng.uniform(0, 20) + paces[j](rng, int(idx.size))
            xy = spots[j] + _scatter(rng, int(idx.size), hands)
            out.extend((int(i), float(ti), *p) for i, ti, p in zip(idx, t, xy, strict=True))
        t_min = min(t for _, t, _, _ in out)
        return sorted(((i, t - t_min, x, y) for i, t, x, y in out), key=lambda tap: tap[1])

    return day


def tour(rng: np.random.Generator) -> Tempo:
    """Held out (fourth round). One stop of a round: the operator drives the bag to 2-3
    risk points in a row (the first, then others 0.3-4 km away, 5-25 min between stops)
    and at each checks every phone in one at a time, gaps around 2-40 s (sigma 0.3-0.8, a
    pause of 30-120 s on 0-10 % of gaps), standing at one 1-4 m spot. `plant_ring` makes
    the round; this is the tempo at each stop."""
    times = _gapped(log_uniform(rng, 2, 40), rng.uniform(0.3, 0.8), rng.uniform(0, 0.1), (30, 120))
    step, bound, hands = rng.uniform(0.1, 0.8), rng.uniform(0.5, 2.0), rng.uniform(0.3, 1.5)
    return _about_the_spot(times, step, bound, hands)


def drawer(rng: np.random.Generator) -> Tempo:
    """Held out (fifth round). A village official keeps the phones in a desk drawer at the
    office and checks them in over the morning between other work: 2-4 short sessions
    (each a handful of phones taken out at the desk, gaps around 5-40 s, sigma 0.3-0.8),
    20-90 min apart; the phones are laid on the desk (0.2-1 m), the official sits at the
    same desk every session (now and then at the window or a colleague's desk, 2-6 m away).
    `plant_ring` starts it at 8-10 h; the official's own day sets its times."""
    sessions = int(rng.integers(2, 5))
    times = _gapped(log_uniform(rng, 5, 40), rng.uniform(0.3, 0.8), 0.0, (0, 0))
    desk = rng.uniform(0.2, 1.0)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        k = min(sessions, n)
        cuts = np.sort(rng.choice(np.arange(1, n), size=k - 1, replace=False)) if k > 1 else []
        out: list[Tap] = []
        t0 = 0.0
        for idx in np.split(rng.permutation(n), cuts):
            spot = np.zeros(2)
            if rng.random() < 0.2:  # the window sill, a colleague's desk
                a = rng.uniform(0, 2 * math.pi)
                spot = rng.uniform(2, 6) * np.array([math.cos(a), math.sin(a)])
            t = t0 + times(rng, int(idx.size))
            out.extend(
                (int(i), float(ti), *(spot + rng.normal(0, desk, 2)))
                for i, ti in zip(idx.tolist(), t.tolist(), strict=True)
            )
            t0 = float(t[-1]) + rng.uniform(1200, 5400)
        return sorted(out, key=lambda tap: tap[1])

    return day


def rotation(rng: np.random.Generator) -> Tempo:
    """Held out (sixth round). The app asks each account for a check-in two or three times
    a week, so the official works a rotating share of the bag each day (`plant_ring`
    picks the share); at the spot, one phone at a time, gaps around 3-40 s (sigma 0.3-0.8),
    standing at a 1-4 m spot, moving a little."""
    times = _gapped(log_uniform(rng, 3, 40), rng.uniform(0.3, 0.8), 0.0, (0, 0))
    step, bound, hands = rng.uniform(0.1, 0.8), rng.uniform(0.5, 2.0), rng.uniform(0.3, 1.5)
    return _about_the_spot(times, step, bound, hands)


def rotating_share(rng: np.random.Generator, size: int, days: int) -> list[list[int]]:
    """The phones worked on each of `days` days when the bag is worked in shares: the bag
    cut once into 2-3 fixed shares taken in turn (70 %), or each day a fresh random third
    to half of it."""
    if rng.random() < 0.7:
        k = int(rng.integers(2, 4))
        shares = np.array_split(rng.permutation(size), k)
        return [[int(i) for i in shares[d % k]] for d in range(days)]
    frac = rng.uniform(1 / 3, 1 / 2)
    return [
        [int(i) for i in rng.permutation(size)[: max(1, round(frac * size))]] for _ in range(days)
    ]


def two_handed(rng: np.random.Generator) -> Tempo:
    """Held out (seventh round). The operator, seated at the spot (a bench, a parked car),
    takes two phones at a time, one in each hand, and taps them 0.2-2.5 s apart; now and
    then (0-25 % of lots) a third laid on the knee a moment later; the next lot follows
    every 6-30 s (lognormal, sigma 0.3-0.7) while the next phones are picked up; the
    phones within 0.3-1 m of the operator. One hand's pairs within seconds are what two
    people walking in together make."""
    lot_gap, sigma = log_uniform(rng, 6, 30), rng.uniform(0.3, 0.7)
    within, third_p, hands = rng.uniform(0.2, 2.5), rng.uniform(0, 0.25), rng.uniform(0.3, 1.0)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        t: list[float] = []
        clock = 0.0
        while len(t) < n:
            lot = min(3 if rng.random() < third_p else 2, n - len(t))
            for j in range(lot):
                t.append(clock + (rng.uniform(0.2, within) if j else 0.0))
                clock = t[-1]
            clock += lot_gap * float(rng.lognormal(0.0, sigma))
        xy = _scatter(rng, n, hands)
        return [(i, t[i], *xy[i]) for i in range(n)]

    return day


def door_to_door(rng: np.random.Generator) -> Tempo:
    """Held out (eighth round). The official goes round the owners' homes collecting their
    own phones (`plant_ring` walks the round and has some owners use the app at home
    before handing the phone over), then checks them in at the risk point one at a time,
    gaps around 4-40 s (sigma 0.3-0.8), standing at a 1-4 m spot, moving a little."""
    times = _gapped(log_uniform(rng, 4, 40), rng.uniform(0.3, 0.8), 0.0, (0, 0))
    step, bound, hands = rng.uniform(0.1, 0.8), rng.uniform(0.5, 2.0), rng.uniform(0.3, 1.5)
    return _about_the_spot(times, step, bound, hands)


def round_trip(rng: np.random.Generator) -> Tempo:
    """Held out (ninth round). As `door_to_door` (the owners' own phones collected round
    their homes, checked in one at a time at the risk point), and the official then takes
    each phone back round the homes (`plant_ring` walks both rounds)."""
    return door_to_door(rng)


def collection_round(rng: np.random.Generator, n: int) -> np.ndarray:
    """The owners' homes (east, north metres from the spot) in the order the official
    visits them: the first 1-5 km away, each next one 100-800 m on along a winding road."""
    a = rng.uniform(0, 2 * math.pi)
    r0 = rng.uniform(1000, 5000)
    at = r0 * np.array([math.cos(a), math.sin(a)])
    heading = rng.uniform(0, 2 * math.pi)
    homes = []
    for _ in range(n):
        homes.append(at.copy())
        heading += rng.normal(0, 0.6)
        at = at + rng.uniform(100, 800) * np.array([math.cos(heading), math.sin(heading)])
    return np.array(homes)


def mock_location(rng: np.random.Generator) -> Tempo:
    """Held out (tenth round). The official never goes to the risk point: at the office
    desk, a mock-location app on each phone reports the risk point's coordinates, and the
    phones are checked in one at a time (gaps around 3-30 s, sigma 0.3-0.8). The app
    reports the set coordinate exactly (40 %) or adds its own jitter to look real, spread
    evenly over a disk of 3-25 m drawn per ring; `plant_ring` adds no GPS noise and
    reports the app's fixed accuracy."""
    times = _gapped(log_uniform(rng, 3, 30), rng.uniform(0.3, 0.8), 0.0, (0, 0))
    jitter = 0.0 if rng.random() < 0.4 else rng.uniform(3, 25)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        t, xy = times(rng, n), disk(rng, n, jitter)
        return [(i, float(t[i]), *xy[i]) for i in range(n)]

    return day


def two_operators(rng: np.random.Generator) -> Tempo:
    """Held out (eleventh round). Two officials share the duty of one bag and take turns
    by day (alternate days, 60 %, or two days each): each has a way of their own (one of
    `fast`, `serial`, `careful`, drawn per official), a spot of their own at the risk
    point (one at the gate, the other at the guardhouse 5-25 m away) and an hour of their
    own (the second official 2 h earlier to 3 h later than the first). The same phones,
    checked in by a different hand at a different spot and time on alternate days.
    `plant_ring` always gives it 2-6 days."""
    kinds = [("fast", "serial", "careful")[int(k)] for k in rng.integers(0, 3, 2)]
    hands = [TEMPOS[k](rng) for k in kinds]
    a = rng.uniform(0, 2 * math.pi)
    away = rng.uniform(5, 25) * np.array([math.cos(a), math.sin(a)])
    later_s, block = rng.uniform(-2, 3) * 3600, 1 if rng.random() < 0.6 else 2
    days_done = [0]

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        who = (days_done[0] // block) % 2
        days_done[0] += 1
        taps = hands[who](rng, n)
        if not who:
            return taps
        return [(i, t + later_s, x + away[0], y + away[1]) for i, t, x, y in taps]

    return day


def locker_bank(rng: np.random.Generator) -> Tempo:
    """Held out (twelfth round). The bag lives in a charging locker bank in a corridor: a
    row of compartments along a wall, 3-6 stacked in a column, columns 0.4 m apart; every
    morning the operator opens the compartments in the row's order (`plant_ring` keeps
    each phone in its compartment), takes out each phone, unlocks it and checks it in
    before putting it back (gaps around 6-25 s, sigma 0.2-0.6), walking along the row;
    0-15 % of the phones are flat and go on charge, and are checked in after the last,
    2-5 min later, from the end of the row. Spare phones only; fixes indoors."""
    times = _gapped(log_uniform(rng, 6, 25), rng.uniform(0.2, 0.6), 0.0, (0, 0))
    stack, flat_p = int(rng.integers(3, 7)), rng.uniform(0, 0.15)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        t = times(rng, n)
        x = (np.arange(n) // stack) * 0.4 + rng.normal(0, 0.1, n)
        y = rng.normal(0, 0.1, n)
        taps = [(i, float(t[i]), float(x[i]), float(y[i])) for i in range(n)]
        flat = np.flatnonzero(rng.random(n) < flat_p)
        later = float(t[-1]) + rng.uniform(120, 300)
        for k, i in enumerate(flat.tolist()):
            taps.append((i, later + 8.0 * k, float(x[-1]), float(y[-1])))
        return taps

    return day


def car_park(rng: np.random.Generator) -> Tempo:
    """Held out (thirteenth round). The operator checks the bag in from a parked car at the
    risk point's car park: the phones in a box on the passenger seat (0.2-0.5 m), taken
    out and tapped one after another (gaps around 2-15 s, sigma 0.3-0.7), 0-10 % of them
    retried 20-90 s later when a tap did not register. `plant_ring` parks the car in a
    different bay every day (5-60 m from the first day's), puts the phones on the
    operator's own phone's hotspot (one mobile carrier's address, 70 % of rings) and
    gives them fixes from inside a car (accuracy around 10-30 m)."""
    times = _gapped(log_uniform(rng, 2, 15), rng.uniform(0.3, 0.7), 0.0, (0, 0))
    box, retry_p = rng.uniform(0.2, 0.5), rng.uniform(0, 0.1)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        t, xy = times(rng, n), _scatter(rng, n, box)
        taps = [(i, float(t[i]), float(xy[i, 0]), float(xy[i, 1])) for i in range(n)]
        for i in np.flatnonzero(rng.random(n) < retry_p).tolist():
            taps.append((i, float(t[i]) + rng.uniform(20, 90), float(xy[i, 0]), float(xy[i, 1])))
        return taps

    return day


def helpers(rng: np.random.Generator) -> Tempo:
    """Held out (fourteenth round). The official hands the bag to two helpers (a village
    cleaner, the gatekeeper) at the risk point: each takes a share (a third to two thirds
    of the phones present) and checks it in at a spot of their own, the first by the sign
    board, the second 4-15 m away at the gate, who gets their share 30-180 s after the
    first started (the official walks it over); each at a pace of their own (one of the
    `fast`, `serial` or `careful` tempos, drawn per helper, so the two may differ). Two
    hands a few metres apart working one bag at the same time."""
    kinds = [("fast", "serial", "careful")[int(k)] for k in rng.integers(0, 3, 2)]
    hands = [TEMPOS[k](rng) for k in kinds]
    a = rng.uniform(0, 2 * math.pi)
    away = rng.uniform(4, 15) * np.array([math.cos(a), math.sin(a)])
    share, handover_s = rng.uniform(1 / 3, 2 / 3), rng.uniform(30, 180)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        if n < 2:
            return hands[0](rng, n)
        k = min(max(round(share * n), 1), n - 1)
        first = hands[0](rng, k)
        second = [
            (k + i, t + handover_s, x + away[0], y + away[1]) for i, t, x, y in hands[1](rng, n - k)
        ]
        return sorted(first + second, key=lambda tap: tap[1])

    return day


def phone_rack(rng: np.random.Generator) -> Tempo:
    """Held out (fifteenth round). Group-control software with a random-delay setting, so
    that the check-ins look like people arriving: the phones stand in a rack in a back room
    by the risk point (rows of 8-12 phones 8 cm apart, rows 25 cm apart, each phone in its
    slot every day) and the software fires each at a random moment of its own over a
    window of 1-10 min (uniform: gaps as irregular as independent people's, pairs within a
    second among them); 0-10 % of the check-ins fail and are retried by the software
    30-120 s later. `plant_ring` puts spare phones in the rack, on the room's router (80 %
    of rings), with indoor fixes. One spot, no hand and no rhythm."""
    window, per_row, retry_p = (
        log_uniform(rng, 60, 600),
        int(rng.integers(8, 13)),
        rng.uniform(0, 0.1),
    )

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        t = rng.uniform(0, window, n)
        slot = np.arange(n)
        x, y = (slot % per_row) * 0.08, (slot // per_row) * 0.25
        taps = [(i, float(t[i]), float(x[i]), float(y[i])) for i in range(n)]
        for i in np.flatnonzero(rng.random(n) < retry_p).tolist():
            taps.append((i, float(t[i]) + rng.uniform(30, 120), float(x[i]), float(y[i])))
        return sorted(taps, key=lambda tap: tap[1])

    return day


def charging_cart(rng: np.random.Generator) -> Tempo:
    """Held out (seventeenth round). The bag lives in a charging cart (a trolley of
    slots, rows of 6 phones 10 cm apart, rows 15 cm apart, every phone in its slot every
    day) in the storeroom at one end of the township building's corridor; the official
    checks the phones in one at a time while wheeling the cart along the corridor to the
    duty room at the other end (15-45 m, straight, the same corridor every day; on 30 %
    of days the other way, taking it back), a few steps between phones: gaps around
    4-20 s (sigma 0.3-0.7), 0-15 % of them a stop of 20-90 s (a door, a colleague).
    `plant_ring` keeps each phone in its slot (the order of the slots), with indoor
    fixes. One hand, one phone at a time, the spot moving steadily along a line."""
    times = _gapped(log_uniform(rng, 4, 20), rng.uniform(0.3, 0.7), rng.uniform(0, 0.15), (20, 90))
    length, a = rng.uniform(15, 45), rng.uniform(0, 2 * math.pi)
    along = np.array([math.cos(a), math.sin(a)])
    across = np.array([-along[1], along[0]])

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        t = times(rng, n)
        walked = length * np.arange(n) / max(n - 1, 1) + rng.normal(0, 0.5, n)
        if rng.random() < 0.3:  # the cart taken back, from the duty room to the storeroom
            walked = length - walked
        slot = np.arange(n)
        xy = np.outer(walked + (slot // 6) * 0.15, along) + np.outer(
            (slot % 6) * 0.10 - 0.25, across
        )
        return [(i, float(t[i]), *xy[i]) for i in range(n)]

    return day


def two_floors(rng: np.random.Generator) -> Tempo:
    """Held out (eighteenth round). The officials' own phones, left on their desks in a
    township office on two floors (one room on each, the upper room 0-15 m off the lower
    one across the ground, each room's desks 1.5-3 m apart in rows of 3-5), checked in by
    a colleague going desk to desk: the first room's desks in the order they stand (40-70 %
    of the phones), then the stairs (1-4 min), then the other room's; a few steps between
    desks, gaps around 8-30 s (sigma 0.3-0.7), 0-10 % of them a word with someone (20-90
    s). On 30 % of days the colleague starts upstairs. Each phone lies on its desk (within
    0.3 m). `plant_ring` gives the phones' owners' devices, with indoor fixes. One hand,
    one phone at a time, two rooms a floor apart: no spot of one table."""
    times = _gapped(log_uniform(rng, 8, 30), rng.uniform(0.3, 0.7), rng.uniform(0, 0.1), (20, 90))
    spacing, per_row, first = rng.uniform(1.5, 3.0), int(rng.integers(3, 6)), rng.uniform(0.4, 0.7)
    a = rng.uniform(0, 2 * math.pi)
    upstairs = rng.uniform(0, 15) * np.array([math.cos(a), math.sin(a)])
    stairs = (60.0, 240.0)

    def desks(k: int) -> np.ndarray:
        j = np.arange(k)
        col = np.where((j // per_row) % 2 == 0, j % per_row, per_row - 1 - j % per_row)
        return np.column_stack((col, j // per_row)) * spacing

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        k = min(n, max(1, round(first * n)))
        t = times(rng, n)
        t[k:] += rng.uniform(*stairs)
        rooms = (np.zeros(2), upstairs) if rng.random() >= 0.3 else (upstairs, np.zeros(2))
        xy = np.vstack((desks(k) + rooms[0], desks(n - k) + rooms[1]))
        xy += rng.normal(0, 0.3, (n, 2))
        return [(i, float(t[i]), *xy[i]) for i in range(n)]

    return day


def round_table(rng: np.random.Generator) -> Tempo:
    """Held out (nineteenth round). The bag is worked round a table in the village
    committee's back room by 3-5 helpers (clerks, the official's relatives), seated round
    it (a table 1.2-2.4 m across); the phones are in a crate in the middle and each helper
    takes the next one as soon as their hands are free, unlocks it and checks it in in
    front of their seat (within 0.3 m), a pace of their own (lognormal around 0.7-1.4
    times the ring's 6-25 s per phone, sigma 0.3-0.7), starting 0-20 s apart; which helper
    gets which phone depends on who is free, so it changes every day; 0-10 % of the
    check-ins fail and are retried by the same helper after their last phone.
    `plant_ring` gives indoor fixes. Several hands at one table at the same time: the
    check-ins interleave like people's, the phones stay at one table."""
    k, per_phone = int(rng.integers(3, 6)), log_uniform(rng, 6, 25)
    paces = per_phone * rng.uniform(0.7, 1.4, k)
    sigma, retry_p = rng.uniform(0.3, 0.7), rng.uniform(0, 0.1)
    seats = rng.uniform(0.6, 1.2) * np.array(
        [
            [math.cos(a), math.sin(a)]
            for a in rng.uniform(0, 2 * math.pi) + np.arange(k) * 2 * math.pi / k
        ]
    )

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        free = rng.uniform(0, 20, k)
        done: list[list[int]] = [[] for _ in range(k)]
        taps: list[Tap] = []
        for i in range(n):  # the crate's next phone to whoever is free first
            h = int(np.argmin(free))
            t = float(free[h] + paces[h] * rng.lognormal(0.0, sigma))
            taps.append((i, t, *(seats[h] + rng.normal(0, 0.3, 2))))
            done[h].append(i)
            free[h] = t + rng.uniform(1, 3)  # put it back, reach for the next
        for h in range(k):
            for i in [i for i in done[h] if rng.random() < retry_p]:
                free[h] += paces[h] * rng.lognormal(0.0, sigma)
                taps.append((i, float(free[h]), *(seats[h] + rng.normal(0, 0.3, 2))))
        return sorted(taps, key=lambda tap: tap[1])

    return day


def reboot_waves(rng: np.random.Generator) -> Tempo:
    """Held out (twentieth round). Cheap spare phones on a shelf in a back room (rows of
    8-12 phones 6-10 cm apart, 2-4 shelves 0.3-0.4 m apart one above the other: on the
    ground all within about a metre), each in its slot every day, driven by group-control
    software over USB hubs. Cheap phones hang, so the operator reboots them a batch at a
    time and the software fires a batch when it is back up: waves of 3-10 phones (which
    phones, and so how many waves, changes every day), each wave's check-ins spread
    uniformly over 0.5-8 s (the software's per-phone delay), waves 1.5-6 min apart
    (lognormal around the ring's reboot-and-reconnect time, sigma 0.2-0.5); 5-20 % of the
    check-ins fail (a phone not yet on the network) and are fired again in the next wave
    (1-3 min after the last wave if it was in the last). `plant_ring` puts spare phones
    on the shelf, on the room's router (80 % of rings), with indoor fixes. One spot,
    no hand; bursts minutes apart."""
    per_row, pitch, shelf = int(rng.integers(8, 13)), rng.uniform(0.06, 0.10), rng.uniform(0.3, 0.4)
    spread, reboot, sigma = rng.uniform(0.5, 8), rng.uniform(90, 360), rng.uniform(0.2, 0.5)
    retry_p = rng.uniform(0.05, 0.2)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        slot = np.arange(n)
        x, y = (slot % per_row) * pitch, (slot // per_row % 4) * shelf * 0.5
        sizes: list[int] = []
        while sum(sizes) < n:
            sizes.append(min(int(rng.integers(3, 11)), n - sum(sizes)))
        starts = np.concatenate(([0.0], np.cumsum(reboot * rng.lognormal(0, sigma, len(sizes)))))
        who = rng.permutation(n)
        taps: list[Tap] = []
        for k, i in enumerate(np.repeat(np.arange(len(sizes)), sizes).tolist()):
            p = int(who[k])
            t = float(starts[i] + rng.uniform(0, spread))
            taps.append((p, t, float(x[p]), float(y[p])))
            if rng.random() < retry_p:  # failed: fired again with the next wave
                nxt = starts[i + 1] if i + 1 < len(sizes) else starts[i] + rng.uniform(60, 180)
                taps.append((p, float(nxt + rng.uniform(0, spread)), float(x[p]), float(y[p])))
        return sorted(taps, key=lambda tap: tap[1])

    return day


def elders_bench(rng: np.random.Generator) -> Tempo:
    """Held out (twenty-first round). The app's photo check-in wants a face, so the
    official takes the bag to where the village's old people sit every afternoon (one
    bench row along a wall, 55 %, or two benches facing each other across a path 1.5-3 m
    wide) and hands each elder a phone to hold up for one tap: 6-15 elders seated 0.5-0.8
    m apart, each on their own spot every day (within 0.3 m). The official walks down the
    row handing out phones (3-8 s per elder: a step, the phone, a word, lognormal sigma
    0.2-0.5) with the app already open; each elder taps when ready, after a delay of their
    own (around 3-25 s per elder, drawn once, lognormal sigma 0.3-0.8 on the day), and
    10-25 % fumble and tap again 10-40 s later; the official then walks back collecting
    (2-5 s per elder) and, when the bag holds more phones than there are elders, starts
    the next pass with the next lot 30-90 s later. Which elder holds which phone changes
    every day (the bag's order). Many slow hands in a row a few metres long, one phone
    each, in passes: no one hand's rhythm and no table."""
    k = int(rng.integers(6, 16))
    pitch, row = rng.uniform(0.5, 0.8), rng.random() < 0.55
    across = rng.uniform(1.5, 3.0)
    if row:
        seats = np.column_stack((np.arange(k) * pitch, np.zeros(k)))
    else:  # two benches facing each other, the official down one side and back the other
        half = (k + 1) // 2
        j = np.arange(k)
        x = np.where(j < half, j, k - 1 - j) * pitch
        seats = np.column_stack((x, np.where(j < half, 0.0, across)))
    delay = log_uniform(rng, 3, 25) * rng.lognormal(0.0, 0.3, k)  # each elder's own speed
    hand_s, sigma = rng.uniform(3, 8), rng.uniform(0.2, 0.5)
    day_sigma, fumble_p = rng.uniform(0.3, 0.8), rng.uniform(0.10, 0.25)
    back_s, swap = rng.uniform(2, 5), (30.0, 90.0)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        taps: list[Tap] = []
        clock = 0.0
        for first in range(0, n, k):
            lot = range(first, min(first + k, n))
            done = clock
            for e, i in enumerate(lot):  # down the row, a phone to each elder
                clock += hand_s * float(rng.lognormal(0.0, sigma)) if e else 0.0
                t = clock + float(delay[e] * rng.lognormal(0.0, day_sigma))
                xy = seats[e] + rng.normal(0, 0.3, 2)
                taps.append((i, t, *xy))
                done = max(done, t)
                if rng.random() < fumble_p:
                    t += rng.uniform(10, 40)
                    taps.append((i, t, *(seats[e] + rng.normal(0, 0.3, 2))))
                    done = max(done, t)
            clock = done + back_s * len(lot) + rng.uniform(*swap)  # back, collecting
        return sorted(taps, key=lambda tap: tap[1])

    return day


def family_evening(rng: np.random.Generator) -> Tempo:
    """Held out (twenty-second round). The official takes the bag home and splits it among
    the family after dinner (19:30-22 h): 2-5 members (spouse, children, a grandparent)
    seated round the living room (a dining table, a sofa, an armchair: seats 1-4 m apart
    in a room of 3-5 m), each given a share of the phones (dealt round, 60 %, or a lot
    each) and working through it at their own pace (around 4-20 s a phone, each member's
    speed drawn once, lognormal sigma 0.3-0.7 on the day), some joining late (0-3 min,
    clearing the table), each phone put down on the member's lap or the table near them
    (within 0.4 m); 5-15 % of the taps fail and are tapped again 20-90 s later by whoever
    holds the phone. Who gets which phones changes every day. `plant_ring` puts the phones
    on the home's Wi-Fi (85 % of rings), with indoor fixes. Several hands at once in one
    room, interleaved, no one rhythm."""
    k = int(rng.integers(2, 6))
    room = rng.uniform(3, 5)
    seats = rng.uniform(0, room, (k, 2))
    pace = np.array([log_uniform(rng, 4, 20) for _ in range(k)])
    sigma, dealt = rng.uniform(0.3, 0.7), rng.random() < 0.6
    retry_p = rng.uniform(0.05, 0.15)

    def day(rng: np.random.Generator, n: int) -> list[Tap]:
        who = np.arange(n) % k if dealt else np.minimum(np.arange(n) * k // max(n, 1), k - 1)
        taps: list[Tap] = []
        for h in range(k):
            clock = rng.uniform(0, 180) if h else 0.0
            for i in np.flatnonzero(who == h).tolist():
                clock += pace[h] * float(rng.lognormal(0.0, sigma))
                xy = seats[h] + rng.normal(0, 0.4, 2)
                taps.append((i, clock, *xy))
                if rng.random() < retry_p:
                    clock += rng.uniform(20, 90)
                    taps.append((i, clock, *(seats[h] + rng.normal(0, 0.4, 2))))
        return sorted(taps, key=lambda tap: tap[1])

    return day


TEMPOS: dict[str, Callable[[np.random.Generator], Tempo]] = {
    "simultaneous": simultaneous,
    "fast": fast,
    "serial": serial,
    "careful": careful,
    "mixed": mixed,
    "walking": walking,
    "sittings": sittings,
    "shared_bag": shared_bag,
    "tour": tour,
    "drawer": drawer,
    "rotation": rotation,
    "two_handed": two_handed,
    "door_to_door": door_to_door,
    "round_trip": round_trip,
    "mock_location": mock_location,
    "two_operators": two_operators,
    "locker_bank": locker_bank,
    "car_park": car_park,
    "helpers": helpers,
    "phone_rack": phone_rack,
    "charging_cart": charging_cart,
    "two_floors": two_floors,
    "round_table": round_table,
    "reboot_waves": reboot_waves,
    "elders_bench": elders_bench,
    "family_evening": family_evening,
}


@dataclass
class RingHardware:
    """What a ring's phones share, drawn per ring."""

    devices: list[str]
    models: list[str]
    network: str | None  # one network for the ring's phones, or None (each its own)
    network_share: float  # share of the phones on it
    photo_reuse: bool
    elsewhere: bool  # the officials read the app on their own phones far away


def ring_hardware(rng: np.random.Generator, key: str, people: list[Person]) -> RingHardware:
    n = len(people)
    if rng.random() < 0.5:  # spare phones kept for the purpose
        devices = [f"{key}-ph{i}" for i in range(n)]
    else:  # the officials' own phones, collected
        devices = [d for _, d, _, _ in people]
    if rng.random() < 0.1:  # accounts switched on fewer phones
        phones = max(1, n // 2)
        devices = [f"{key}-ph{i % phones}" for i in range(n)]
    one = model(rng)
    models = [one] * n if rng.random() < 0.3 else [m for _, _, m, _ in people]
    mode = rng.random()
    net, share = (f"{key}-wifi", 1.0) if mode < 0.6 else (f"{key}-wifi", 0.5)
    if mode >= 0.75:
        net, share = None, 0.0
    return RingHardware(devices, models, net, share, rng.random() < 0.25, rng.random() < 0.2)


def plant_ring(
    w: World,
    rng: np.random.Generator,
    family: str,
    key: str,
    size: int,
    *,
    at: tuple[int, float, float, float] | None = None,
    hour: float | None = None,
) -> None:
    """One ring of `size` phones at one spot, on one day or repeated on several."""
    v, la, lo, day0 = at or w.scene(rng)
    tempo = TEMPOS[family](rng)
    people = w.people(rng, size, key, (la, lo))
    hw = ring_hardware(rng, key, people)
    if family in ("walking", "sittings"):  # a careful operator keeps phones on their own data
        hw.network, hw.network_share = None, 0.0
    homes: np.ndarray | None = None
    if family == "two_floors":  # the officials' own phones, on their desks
        hw.devices = [d for _, d, _, _ in people]
        hw.models = [m for _, _, m, _ in people]
    if family in ("door_to_door", "round_trip"):  # the owners' own phones, from their homes
        hw.devices = [d for _, d, _, _ in people]
        hw.models = [m for _, _, m, _ in people]
        homes = collection_round(rng, size)
        home_use_p, per_home_s = rng.uniform(0, 0.6), rng.uniform(120, 600)
    one_day_p = 0.2 if family == "shared_bag" else 0.4  # a team shares the bag day after day
    n_days = 1 if rng.random() < one_day_p else int(rng.integers(2, 6))
    if family == "two_operators":  # turns need days
        n_days = int(rng.integers(2, 7))
    if family == "locker_bank":  # spare phones kept in their compartments, on its Wi-Fi (80 %)
        hw.devices = [f"{key}-ph{i}" for i in range(size)]
        hw.network, hw.network_share = (f"{key}-corridor", 1.0) if rng.random() < 0.8 else (None, 0)
    if family in ("phone_rack", "reboot_waves"):  # spare phones, the back room's router (80 %)
        hw.devices = [f"{key}-ph{i}" for i in range(size)]
        hw.network, hw.network_share = (f"{key}-router", 1.0) if rng.random() < 0.8 else (None, 0)
    if family == "car_park":  # the operator's own phone as hotspot: a carrier's address
        hw.network, hw.network_share = (mobile(rng), 1.0) if rng.random() < 0.7 else (None, 0.0)
    shares: list[list[int]] | None = None
    if family == "rotation":  # a share a day: the bag takes 3-6 days to go round
        n_days = int(rng.integers(3, 7))
        shares = rotating_share(rng, size, n_days)
    hour_s = hour if hour is not None else rng.uniform(7, 20) * 3600
    if family in ("drawer", "locker_bank"):  # the official's morning at the office
        hour_s = rng.uniform(8, 10) * 3600
    if family == "elders_bench":  # the old people's afternoon in the sun
        hour_s = rng.uniform(14, 17) * 3600
    if family == "family_evening":  # after dinner at home, on the home's Wi-Fi (85 %)
        hour_s = rng.uniform(19.5, 22) * 3600
        hw.network, hw.network_share = (f"{key}-home", 1.0) if rng.random() < 0.85 else (None, 0)
    mocked_acc: float | None = None
    if family == "mock_location":  # at the office desk, on its Wi-Fi (70 %)
        hour_s = rng.uniform(8, 11) * 3600
        if rng.random() < 0.7:
            hw.network, hw.network_share = f"{key}-office-wifi", 1.0
        mocked_acc = float(rng.choice([1.0, 3.0, 5.0, 10.0]))
    day_sd = rng.uniform(0, 1800)
    present_p = rng.uniform(0.85, 1.0)
    fixed_order = rng.random() < 0.3 or family in (
        "locker_bank",
        "phone_rack",
        "charging_cart",
        "two_floors",
        "reboot_waves",
    )
    spot = rng.uniform(-20, 20, 2)
    stops: list[tuple[int | None, float, float, np.ndarray]] = [(v, la, lo, spot)]
    if family == "tour":  # a round of 2-3 risk points with the same bag
        for _ in range(int(rng.integers(1, 3))):
            stops.append((*w.venue_near(rng, la, lo, 300, 4000), rng.uniform(-20, 20, 2)))
    # Indoors (at a table in an office) fixes are worse.
    indoor = family in (
        "sittings",
        "drawer",
        "locker_bank",
        "phone_rack",
        "charging_cart",
        "two_floors",
        "round_table",
        "reboot_waves",
        "family_evening",
    )
    acc_median = rng.uniform(8, 25) if indoor else rng.uniform(6, 18)
    if family == "car_park":  # fixes from inside a car
        acc_median = rng.uniform(10, 30)
    order = rng.permutation(size)
    for d in range(n_days):
        inst = f"{key}/day{d}"
        w.truth.ring_size[inst] = size
        w.truth.ring_days[inst] = n_days
        if not fixed_order:
            order = rng.permutation(size)
        present = [int(i) for i in order if rng.random() < present_p] or [int(order[0])]
        if shares is not None:
            present = [int(i) for i in rng.permutation(shares[d])]
        start = day0 + d * 86400 + hour_s + (rng.normal(0, day_sd) if hour is None else 0.0)
        photo = f"{key}-photo{d}" if hw.photo_reuse else None
        t0 = 0.0
        bay = np.zeros(2)
        if family == "car_park" and d:  # another bay of the car park
            b = rng.uniform(0, 2 * math.pi)
            bay = rng.uniform(5, 60) * np.array([math.cos(b), math.sin(b)])
        for sv, sla, slo, sspot in stops:
            sspot = sspot + bay
            taps = tempo(rng, len(present))
            for i, t, dx, dy in taps:
                p = present[i]
                acc, dev = people[p][0], hw.devices[p]
                if mocked_acc is None:
                    a = float(accuracy(rng, acc_median)[0])
                    fla, flo = w.fix(rng, sla, slo, sspot[0] + dx, sspot[1] + dy, a)
                else:  # the mock app's coordinates: no GPS noise, its fixed accuracy
                    a = mocked_acc
                    fla, flo = w.fix(rng, sla, slo, sspot[0] + dx, sspot[1] + dy, 0.0)
                shared = hw.network is not None and rng.random() < hw.network_share
                w.add(
                    start + t0 + t,
                    acc,
                    fla,
                    flo,
                    a,
                    venue=sv,
                    device=dev,
                    model=hw.models[p],
                    network=hw.network
                    if shared and hw.network
                    else w.network(rng, people[p][3], start),
                    photo=photo,
                    truth=(family, inst),
                )
            if homes is not None:
                _collect(
                    w,
                    rng,
                    people,
                    present,
                    homes,
                    start + min(t for _, t, _, _ in taps),
                    per_home_s,
                    home_use_p,
                    (la, lo),
                    (family, inst),
                )
            if homes is not None and family == "round_trip":
                _hand_back(
                    w,
                    rng,
                    people,
                    present,
                    homes,
                    start + max(t for _, t, _, _ in taps),
                    per_home_s,
                    (la, lo),
                    (family, inst),
                )
            t0 += max(t for _, t, _, _ in taps) + rng.uniform(300, 1500)  # to the next stop
        if hw.elsewhere:
            # The officials themselves, reading the app on their own phones at home or at
            # work 3-15 km away, within a few minutes of "their" check-in.
            for p in present[: int(rng.integers(1, 4))]:
                acc, _dev, m, u = people[p]
                far = rng.uniform(3000, 15000) * np.array([1, -1])[rng.integers(2)]
                fla, flo = w.fix(rng, la, lo, far, far / 2, 10.0)
                w.add(
                    start + float(rng.uniform(-300, 300)),
                    acc,
                    fla,
                    flo,
                    10.0,
                    venue=None,
                    device=f"own-{acc}",
                    model=m,
                    network=w.network(rng, u, start),
                    type=EventType.read,
                    truth=(family, inst),
                )


def _collect(
    w: World,
    rng: np.random.Generator,
    people: list[Person],
    present: list[int],
    homes: np.ndarray,
    first_tap: float,
    per_home_s: float,
    use_p: float,
    spot: tuple[float, float],
    truth: tuple[str, str],
) -> None:
    """The official's round before the check-in: the homes of the present phones' owners
    visited in road order, `per_home_s` apart (lognormal, sigma 0.4), ending 10-40 min
    before the first tap; each owner, with probability `use_p`, used the app on the phone
    at home 5-60 min before handing it over."""
    visit = sorted(present)  # the homes are indexed in road order
    gaps = per_home_s * rng.lognormal(0.0, 0.4, len(visit))
    end = first_tap - rng.uniform(600, 2400)
    when = end - np.cumsum(gaps[::-1])[::-1]
    for p, t in zip(visit, when.tolist(), strict=True):
        if rng.random() < use_p:
            fla, flo = w.fix(rng, *spot, float(homes[p, 0]), float(homes[p, 1]), 10.0)
            w.read(rng, people[p], t - rng.uniform(300, 3600), (fla, flo), t, truth)


def _hand_back(
    w: World,
    rng: np.random.Generator,
    people: list[Person],
    present: list[int],
    homes: np.ndarray,
    last_tap: float,
    per_home_s: float,
    spot: tuple[float, float],
    truth: tuple[str, str],
) -> None:
    """The official's round after the check-in (`round_trip`): leaving the risk point
    5-20 min after the last tap, the homes visited again in reverse road order,
    `per_home_s` apart (lognormal, sigma 0.4), the first 1-5 km away; each owner, with a
    probability of 0-60 % drawn per ring, uses the app on the phone at home 5-60 min
    after getting it back."""
    use_p = rng.uniform(0, 0.6)
    visit = sorted(present, reverse=True)
    gaps = per_home_s * rng.lognormal(0.0, 0.4, len(visit))
    when = last_tap + rng.uniform(300, 1200) + np.cumsum(gaps)
    for p, t in zip(visit, when.tolist(), strict=True):
        if rng.random() < use_p:
            fla, flo = w.fix(rng, *spot, float(homes[p, 0]), float(homes[p, 1]), 10.0)
            w.read(rng, people[p], t + rng.uniform(300, 3600), (fla, flo), t, truth)


# --- legitimate groups ---------------------------------------------------------------


@dataclass
class Gathering:
    """Where and how a group checks in: the venue, its Wi-Fi (and the share of people who
    join it) and how accurate the phones' fixes are."""

    w: World
    rng: np.random.Generator
    family: str
    venue: tuple[int | None, float, float]
    wifi: str | None
    wifi_share: float
    acc_median: float

    def arrive(self, inst: str, people: list[Person], times: np.ndarray, xy: np.ndarray) -> None:
        """People checking in at their own times and places (metres from the venue)."""
        w, rng = self.w, self.rng
        v, la, lo = self.venue
        for (acc, dev, m, u), ts, (dx, dy) in zip(people, times.tolist(), xy, strict=True):
            a = float(accuracy(rng, self.acc_median)[0])
            fla, flo = w.fix(rng, la, lo, float(dx), float(dy), a)
            shared = self.wifi and rng.random() < self.wifi_share
            net = self.wifi if shared else w.network(rng, u, ts)
            w.add(
                ts,
                acc,
                fla,
                flo,
                a,
                venue=v,
                device=dev,
                model=m,
                network=net,
                truth=(self.family, inst),
            )


def disk(rng: np.random.Generator, n: int, radius: float) -> np.ndarray:
    """Points spread evenly over a disk (people across a room or a square)."""
    r = radius * np.sqrt(rng.random(n))
    th = rng.uniform(0, 2 * math.pi, n)
    return np.column_stack((r * np.cos(th), r * np.sin(th)))


def together(
    rng: np.random.Generator, times: np.ndarray, xy: np.ndarray, share: float, near_m: float
) -> None:
    """A share of people walk in with the one before: within a second, beside them."""
    for i in range(1, times.size):
        if rng.random() < share:
            times[i] = times[i - 1] + rng.uniform(0, 1.0)
            xy[i] = xy[i - 1] + rng.normal(0, near_m, 2)


def meeting(w: World, rng: np.random.Generator, key: str) -> None:
    """15-60 people arriving over 5-20 min across a room of 8-25 m radius, some walking in
    together; a share on the hall's Wi-Fi; half the meetings recur weekly (same people)."""
    v, la, lo, day = w.scene(rng, days=28)
    people = w.people(rng, int(rng.integers(15, 61)), key, (la, lo))
    radius, dur = rng.uniform(8, 25), rng.uniform(300, 1200)
    share, wifi_share = rng.uniform(0.1, 0.4), rng.uniform(0, 0.7)
    start = day + rng.uniform(8, 18) * 3600
    acc_median = rng.uniform(6, 18)
    for d in range(1 if rng.random() < 0.5 else int(rng.integers(2, 5))):
        here = [p for p in people if rng.random() < 0.9]
        times = start + d * 7 * 86400 + np.sort(rng.uniform(0, dur, len(here)))
        xy = disk(rng, len(here), radius)
        together(rng, times, xy, share, 1.0)
        Gathering(w, rng, "meeting", (v, la, lo), f"{key}-wifi", wifi_share, acc_median).arrive(
            f"{key}/day{d}", here, times, xy
        )


def at_desk(
    w: World,
    rng: np.random.Generator,
    person: Person,
    office: tuple[float, float],
    xy: np.ndarray,
    after: tuple[float, float, float],
    network: str,
    truth: tuple[str, str],
) -> None:
    """`person` reading the app at their desk (`xy` metres from `office`, a fix good to
    15 m), on the office's Wi-Fi, `after` = (t, lo, hi): between lo and hi seconds after
    t."""
    acc, dev, m, _u = person
    fla, flo = w.fix(rng, *office, float(xy[0]), float(xy[1]), 15.0)
    ts = after[0] + rng.uniform(after[1], after[2])
    w.add(
        ts,
        acc,
        fla,
        flo,
        15.0,
        venue=None,
        device=dev,
        model=m,
        network=network,
        type=EventType.read,
        truth=truth,
    )


def colleagues(w: World, rng: np.random.Generator, key: str) -> None:
    """5-25 colleagues clocking in at the same door (half the offices: a 1-4 m spot) or
    across a lobby (8-30 m) every workday morning, each at a habitual time of their own
    within a 10-40 min spread (daily jitter 1-5 min); most on the office Wi-Fi; some use
    the app from the office later in the day."""
    v, la, lo, day = w.scene(rng)
    people = w.people(rng, int(rng.integers(5, 26)), key, (la, lo))
    door = rng.random() < 0.5
    radius = rng.uniform(1, 4) if door else rng.uniform(8, 30)
    habit = rng.uniform(0, rng.uniform(600, 2400), len(people))
    jitter, wifi_share = rng.uniform(60, 300), rng.uniform(0.5, 0.95)
    start, later_p = rng.uniform(7.5, 9.5) * 3600, rng.uniform(0, 0.6)
    acc_median = rng.uniform(6, 18)
    desk = disk(rng, len(people), 30)
    for d in range(5):
        here = [i for i in range(len(people)) if rng.random() < 0.9]
        times = day + d * 86400 + start + habit[here] + rng.normal(0, jitter, len(here))
        Gathering(w, rng, "colleagues", (v, la, lo), f"{key}-wifi", wifi_share, acc_median).arrive(
            f"{key}/day{d}", [people[i] for i in here], times, disk(rng, len(here), radius)
        )
        for i, t in zip(here, times.tolist(), strict=True):
            if rng.random() < later_p:  # at their desk later on
                at_desk(
                    w,
                    rng,
                    people[i],
                    (la, lo),
                    desk[i],
                    (t, 3600, 8 * 3600),
                    f"{key}-wifi",
                    ("colleagues", f"{key}/day{d}"),
                )


def friends(w: World, rng: np.random.Generator, key: str) -> None:
    """2-5 friends meeting at a cafe table (1-6 m), arriving within 5-120 s, some together,
    some on the cafe's Wi-Fi; 1-3 weekly visits."""
    v, la, lo, day = w.scene(rng, days=21)
    people = w.people(rng, int(rng.integers(2, 6)), key, (la, lo))
    radius, hour = rng.uniform(1, 6), rng.uniform(11, 22) * 3600
    acc_median = rng.uniform(6, 18)
    for d in range(int(rng.integers(1, 4))):
        times = (
            day + d * 7 * 86400 + hour + np.sort(rng.uniform(0, rng.uniform(5, 120), len(people)))
        )
        xy = disk(rng, len(people), radius)
        together(rng, times, xy, 0.3, 0.5)
        Gathering(w, rng, "friends", (v, la, lo), f"{key}-wifi", 0.3, acc_median).arrive(
            f"{key}/day{d}", people, times, xy
        )


def transit(w: World, rng: np.random.Generator, key: str) -> None:
    """A hub at rush hour on 3 mornings: 100-200 people over 30 min across 30-150 m, 60
    regulars every day, some arriving together."""
    v, la, lo, day = w.scene(rng)
    regulars = w.people(rng, 60, f"{key}-reg", (la, lo))
    radius, acc_median = rng.uniform(30, 150), rng.uniform(6, 18)
    for d in range(3):
        people = regulars + w.people(rng, int(rng.integers(40, 141)), f"{key}-{d}", (la, lo))
        times = day + d * 86400 + 7.5 * 3600 + np.sort(rng.uniform(0, 1800, len(people)))
        xy = disk(rng, len(people), radius)
        together(rng, times, xy, 0.15, 1.0)
        Gathering(w, rng, "transit", (v, la, lo), f"{key}-wifi", 0.2, acc_median).arrive(
            f"{key}/day{d}", people, times, xy
        )


def concert(w: World, rng: np.random.Generator, key: str) -> None:
    """An evening concert: 200-600 people entering over 30-90 min across a forecourt of
    30-120 m, mostly in groups of 2-6 standing together and checking in within seconds."""
    v, la, lo, day = w.scene(rng)
    people = w.people(rng, int(rng.integers(200, 601)), key, (la, lo))
    dur, radius = rng.uniform(1800, 5400), rng.uniform(30, 120)
    n = len(people)
    times = np.empty(n)
    xy = np.empty((n, 2))
    i = 0
    while i < n:
        g = min(int(rng.integers(1, 7)), n - i)
        t, spot = rng.uniform(0, dur), disk(rng, 1, radius)[0]
        times[i : i + g] = t + np.sort(rng.uniform(0, rng.uniform(1, 30), g))
        xy[i : i + g] = spot + rng.normal(0, 1.0, (g, 2))
        i += g
    order = np.argsort(times)
    Gathering(w, rng, "concert", (v, la, lo), None, 0.0, rng.uniform(6, 18)).arrive(
        f"{key}/day0", [people[k] for k in order], day + 19 * 3600 + times[order], xy[order]
    )


def delegation(w: World, rng: np.random.Generator, key: str) -> None:
    """A delegation or tour group of 8-40 stepping off a bus and checking in within 1-5 min,
    standing about within 3-12 m of their guide; a share on the site's Wi-Fi; one day."""
    v, la, lo, day = w.scene(rng)
    people = w.people(rng, int(rng.integers(8, 41)), key, (la, lo))
    start = day + rng.uniform(9, 16) * 3600
    times = start + np.sort(rng.uniform(0, rng.uniform(60, 300), len(people)))
    xy = disk(rng, len(people), rng.uniform(3, 12)) + rng.uniform(-20, 20, 2)
    together(rng, times, xy, 0.2, 0.5)
    Gathering(
        w, rng, "delegation", (v, la, lo), f"{key}-wifi", rng.uniform(0, 0.5), rng.uniform(6, 18)
    ).arrive(f"{key}/day0", people, times, xy)


def service_queue(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out. A service counter: people queue and check in one at a time at the window
    (a 1-3 m spot), one served every 30-180 s (fairly regular), for 1-4 hours on 2-5 days;
    different people each day except a few regulars; now and then a companion checks in
    within a few seconds; some on the hall's Wi-Fi."""
    v, la, lo, day = w.scene(rng)
    regulars = w.people(rng, 10, f"{key}-reg", (la, lo))
    service, sigma = rng.uniform(30, 180), rng.uniform(0.3, 0.6)
    spot, radius = rng.uniform(-20, 20, 2), rng.uniform(1, 3)
    hours, open_h = rng.uniform(1, 4), rng.uniform(8.5, 14)
    wifi_share, acc_median = rng.uniform(0, 0.4), rng.uniform(6, 18)
    for d in range(int(rng.integers(2, 6))):
        n = max(3, int(hours * 3600 / service))
        gaps = service * rng.lognormal(0, sigma, n)
        times = day + d * 86400 + open_h * 3600 + np.cumsum(gaps)
        companion = rng.random(n) < 0.15
        times = np.sort(
            np.concatenate((times, times[companion] + rng.uniform(1, 5, int(companion.sum()))))
        )
        pool = regulars + w.people(rng, times.size, f"{key}-{d}", (la, lo))
        pick = rng.choice(len(pool), times.size, replace=False)
        Gathering(
            w, rng, "service_queue", (v, la, lo), f"{key}-wifi", wifi_share, acc_median
        ).arrive(
            f"{key}/day{d}",
            [pool[int(k)] for k in pick],
            times,
            disk(rng, times.size, radius) + spot,
        )


def class_roll(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (second round). A training course: 10-40 trainees at desks in one room
    (1.5-4 m² each, any shape), checking in at their seats when the instructor asks at the
    start (each after a delay around 20-90 s, irregular; 0-20 % already on arrival in the
    15 min before; 0-15 % coming in 5-30 min late); one day (40 %) or 2-5 consecutive days
    with the same people, most in the same seats; half the courses also check out at the
    end, 2-4 h later, within a few minutes; 0-80 % on the centre's Wi-Fi; indoor fixes."""
    v, la, lo, day = w.scene(rng)
    n = int(rng.integers(10, 41))
    people = w.people(rng, n, key, (la, lo))
    area, aspect = n * rng.uniform(1.5, 4.0), rng.uniform(0.6, 1.6)
    width, depth = math.sqrt(area * aspect), math.sqrt(area / aspect)
    room = rng.uniform(-20, 20, 2)
    seats = rng.uniform(0, 1, (n, 2)) * [width, depth] - [width / 2, depth / 2] + room
    delay, sigma = rng.uniform(20, 90), rng.uniform(0.5, 1.0)
    early_p, late_p = rng.uniform(0, 0.2), rng.uniform(0, 0.15)
    start, checkout = rng.uniform(8.5, 14) * 3600, rng.random() < 0.5
    wifi_share, acc_median = rng.uniform(0, 0.8), rng.uniform(8, 25)
    for d in range(1 if rng.random() < 0.4 else int(rng.integers(2, 6))):
        here = np.array([i for i in range(n) if rng.random() < 0.92], dtype=int)
        if here.size == 0:
            continue
        t = delay * rng.lognormal(0, sigma, here.size)
        early, late = rng.random(here.size) < early_p, rng.random(here.size) < late_p
        t[early] = -rng.uniform(0, 900, int(early.sum()))
        t[late] = rng.uniform(300, 1800, int(late.sum()))
        xy = seats[here].copy()
        moved = rng.random(here.size) < 0.3  # some sit elsewhere today
        xy[moved] = seats[rng.integers(0, n, int(moved.sum()))]
        times = day + d * 86400 + start + t
        if checkout:
            end = start + rng.uniform(2, 4) * 3600
            times = np.concatenate((times, day + d * 86400 + end + rng.uniform(0, 240, here.size)))
            xy, here = np.vstack((xy, xy)), np.concatenate((here, here))
        g = Gathering(w, rng, "class_roll", (v, la, lo), f"{key}-wifi", wifi_share, acc_median)
        g.arrive(
            f"{key}/day{d}", [people[i] for i in here], times, xy + rng.normal(0, 0.3, xy.shape)
        )


def shift_briefing(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (third round). A shift briefing: 10-30 workers (most the same each day, a
    few temps) in a yard or a hall at the start of the shift on 3-5 consecutive workdays.
    Some check in as they arrive over the 5-20 min before (30-70 %), the rest when the
    supervisor calls the roll (each 5-60 s after the call, irregular), standing about an
    area 4-20 m across; 0-60 % on the site's Wi-Fi; outdoor or hall fixes; some (0-50 %)
    leave for the field right after and use the app 1-10 km away 15-60 min later."""
    v, la, lo, day = w.scene(rng)
    crew = w.people(rng, int(rng.integers(10, 31)), key, (la, lo))
    radius, spot = rng.uniform(2, 10), rng.uniform(-20, 20, 2)
    arrive_p, arrive_s = rng.uniform(0.3, 0.7), rng.uniform(300, 1200)
    call_s, sigma = rng.uniform(5, 60), rng.uniform(0.4, 1.0)
    start, field_p = rng.uniform(6.5, 9) * 3600, rng.uniform(0, 0.5)
    wifi_share, acc_median = rng.uniform(0, 0.6), rng.uniform(6, 20)
    for d in range(int(rng.integers(3, 6))):
        here = [p for p in crew if rng.random() < 0.9]
        here += w.people(rng, int(rng.integers(0, 4)), f"{key}-temp{d}", (la, lo))
        n = len(here)
        t = call_s * rng.lognormal(0, sigma, n)
        early = rng.random(n) < arrive_p
        t[early] = -rng.uniform(0, arrive_s, int(early.sum()))
        times = day + d * 86400 + start + t
        Gathering(
            w, rng, "shift_briefing", (v, la, lo), f"{key}-wifi", wifi_share, acc_median
        ).arrive(f"{key}/day{d}", here, times, disk(rng, n, radius) + spot)
        for person, ts in zip(here, times.tolist(), strict=True):
            if rng.random() < field_p:  # out to the field after the briefing
                far = rng.uniform(1000, 10000) * np.array([1, -1])[rng.integers(2)]
                fla, flo = w.fix(rng, la, lo, far, far / 3, 10.0)
                when = max(ts, day + d * 86400 + start) + rng.uniform(900, 3600)
                w.read(rng, person, when, (fla, flo), ts, ("shift_briefing", f"{key}/day{d}"))


def site_visit(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (fourth round). An inspection team or a study tour of 8-30 people (the
    same all day) visiting 2-4 sites 1-10 km apart by bus, 40-120 min at each; at every
    site each person checks in within 1-5 min of getting off the bus, some together,
    standing within 3-12 m of the guide; 0-50 % on the site's Wi-Fi; 30 % of the teams go
    on to other sites the next day. The same set together at several spots, like a
    ring's round."""
    v, la, lo, day = w.scene(rng)
    people = w.people(rng, int(rng.integers(8, 31)), key, (la, lo))
    acc_median = rng.uniform(6, 18)
    for d in range(2 if rng.random() < 0.3 else 1):
        k = int(rng.integers(2, 5))
        sites = [(v, la, lo)] if d == 0 else []
        while len(sites) < k:
            sites.append(w.venue_near(rng, la, lo, 1000, 10000))
        here = [p for p in people if rng.random() < 0.95] or people[:1]
        t = day + d * 86400 + rng.uniform(8.5, 10.5) * 3600
        for j, site in enumerate(sites):
            times = t + np.sort(rng.uniform(0, rng.uniform(60, 300), len(here)))
            xy = disk(rng, len(here), rng.uniform(3, 12)) + rng.uniform(-20, 20, 2)
            together(rng, times, xy, 0.2, 0.5)
            Gathering(
                w,
                rng,
                "site_visit",
                site,
                f"{key}-wifi{d}-{j}",
                rng.uniform(0, 0.5),
                acc_median,
            ).arrive(f"{key}/day{d}", here, times, xy)
            t = float(times.max()) + rng.uniform(40, 120) * 60 + rng.uniform(10, 40) * 60


def field_team(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (fifth round). A team of field workers (8-25: a road crew, rangers, meter
    readers; most the same each day, 0-2 stand-ins) meeting at a checkpoint (a depot gate,
    a roadside post) at the start of each workday on 3-5 consecutive days, to leave
    together in the team's van. They come each their own way over the 10-30 min before
    it leaves: on foot or by bike one by one (each at a time of their own, daily jitter
    1-5 min), or, for 0-60 % of them, off the same bus within a minute (its delay, 0-5 min,
    moves its riders together); each checks in on arrival and waits about an area 3-15 m
    across; 0-40 % read the app at home (2-15 km away) 20-60 min before; 0-30 % on the
    post's Wi-Fi. The van leaves 2-8 min after the last arrival, and 0-60 % of the team
    check in again at the day's work site 3-20 km away 20-60 min later, within a few
    minutes of each other, standing 5-20 m apart: the same set together again elsewhere."""
    v, la, lo, day = w.scene(rng)
    team = w.people(rng, int(rng.integers(8, 26)), key, (la, lo))
    n = len(team)
    lead = rng.uniform(600, 1800)  # how long before the van the first ones come
    bus = rng.random(n) < rng.uniform(0, 0.6)  # riders of the one bus line
    habit = rng.uniform(0, lead, n)
    bus_at = rng.uniform(0.2, 0.9) * lead
    jitter, radius = rng.uniform(60, 300), rng.uniform(1.5, 7.5)
    depart = rng.uniform(6.5, 8.5) * 3600
    home_p, wifi_share = rng.uniform(0, 0.4), rng.uniform(0, 0.3)
    site_p, acc_median = rng.uniform(0, 0.6), rng.uniform(6, 18)
    for d in range(int(rng.integers(3, 6))):
        keep = [i for i in range(n) if rng.random() < 0.9]
        here = [team[i] for i in keep]
        before = habit[keep] + rng.normal(0, jitter, len(keep))
        delay = rng.uniform(0, 300)
        riders = bus[keep]
        before[riders] = bus_at - delay - rng.uniform(0, 60, int(riders.sum()))
        extra = int(rng.integers(0, 3))
        here += w.people(rng, extra, f"{key}-sub{d}", (la, lo))
        before = np.concatenate((np.maximum(before, 0.0), rng.uniform(0, lead, extra)))
        van = day + d * 86400 + depart
        times = van - rng.uniform(120, 480) - before  # the van leaves after the last one
        inst = f"{key}/day{d}"
        Gathering(w, rng, "field_team", (v, la, lo), f"{key}-wifi", wifi_share, acc_median).arrive(
            inst, here, times, disk(rng, len(here), radius) + rng.uniform(-20, 20, 2)
        )
        for person, ts in zip(here, times.tolist(), strict=True):
            if rng.random() < home_p:  # reading the app at home before setting out
                far = rng.uniform(2000, 15000) * np.array([1, -1])[rng.integers(2)]
                fla, flo = w.fix(rng, la, lo, far / 2, far, 10.0)
                when = ts - rng.uniform(1200, 3600)
                w.read(rng, person, when, (fla, flo), ts, ("field_team", inst))
        at_site = [p for p in here if rng.random() < site_p]
        if at_site:
            site = w.venue_near(rng, la, lo, 3000, 20000)
            st = (
                van
                + rng.uniform(1200, 3600)
                + np.sort(rng.uniform(0, rng.uniform(60, 300), len(at_site)))
            )
            xy = disk(rng, len(at_site), rng.uniform(5, 20))
            Gathering(w, rng, "field_team", site, None, 0.0, acc_median).arrive(
                inst, at_site, st, xy
            )


def drill_squads(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (sixth round). A unit of 12-40 (auxiliary police, militia, firefighters) on
    a training week: every morning its 3-4 squads (the same members all week) go through
    one station (a range, a fitness-test point) in turn, 20-60 min apart, in the same order
    on most days (70 %); each member checks in on reaching the station, the squad within
    1-4 min of each other (some together), standing about 3-10 m; 3-5 consecutive days;
    0-50 % on the station's Wi-Fi; between turns the squads wait at the barracks 0.5-3 km
    away, where 0-50 % read the app. Disjoint sets at one spot on one day, each a group of
    its own, the day's union the same set again on other days."""
    v, la, lo, day = w.scene(rng)
    unit = w.people(rng, int(rng.integers(12, 41)), key, (la, lo))
    k = int(rng.integers(3, 5))
    squads = [
        [unit[int(i)] for i in part] for part in np.array_split(rng.permutation(len(unit)), k)
    ]
    turn_s, start = rng.uniform(1200, 3600), rng.uniform(7.5, 10) * 3600
    fixed_order = rng.random() < 0.7
    wifi_share, acc_median = rng.uniform(0, 0.5), rng.uniform(6, 18)
    read_p, spot = rng.uniform(0, 0.5), rng.uniform(-20, 20, 2)
    barracks = rng.uniform(500, 3000) * np.array([1, -1])[rng.integers(2)]
    for d in range(int(rng.integers(3, 6))):
        inst = f"{key}/day{d}"
        order = range(k) if fixed_order else rng.permutation(k).tolist()
        for j, s in enumerate(order):
            here = [p for p in squads[s] if rng.random() < 0.92] or squads[s][:1]
            t0 = day + d * 86400 + start + j * turn_s + rng.normal(0, 120)
            times = t0 + np.sort(rng.uniform(0, rng.uniform(60, 240), len(here)))
            xy = disk(rng, len(here), rng.uniform(1.5, 5)) + spot
            together(rng, times, xy, 0.2, 0.5)
            Gathering(
                w, rng, "drill_squads", (v, la, lo), f"{key}-wifi", wifi_share, acc_median
            ).arrive(inst, here, times, xy)
            for person, ts in zip(here, times.tolist(), strict=True):
                if rng.random() < read_p:  # waiting at the barracks before their turn
                    fla, flo = w.fix(rng, la, lo, barracks, barracks / 2, 10.0)
                    w.read(
                        rng,
                        person,
                        ts - rng.uniform(300, 1200),
                        (fla, flo),
                        ts,
                        ("drill_squads", inst),
                    )


def exam_sitting(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (seventh round). A certification exam (a civil-service or licence paper):
    15-50 candidates, the same ones on 2-3 consecutive days (one paper a day), check in
    one at a time at the hall door as the invigilator checks their ID (one every 8-30 s,
    lognormal sigma 0.3-0.7: a queue at the door, a 1-3 m spot) over the 15-40 min
    before the paper, in a different order every day; 0-20 % come as a pair (the second
    1-5 s after the first). They come each their own way: 0-40 % read the app at home
    or on the way 2-20 km away 30-120 min before. Phones are handed in, so nobody uses
    the app during the paper (2-3 h); after it 0-50 % check out at the door within 10
    min as they leave, and 0-40 % read the app 2-20 km away within 2 h. 0-30 % on the
    centre's Wi-Fi; fixes at a doorway (accuracy around 8-20 m). A group-day is one day's
    intake."""
    v, la, lo, day = w.scene(rng)
    people = w.people(rng, int(rng.integers(15, 51)), key, (la, lo))
    gap, sigma = rng.uniform(8, 30), rng.uniform(0.3, 0.7)
    pair_p, home_p = rng.uniform(0, 0.2), rng.uniform(0, 0.4)
    out_p, after_p = rng.uniform(0, 0.5), rng.uniform(0, 0.4)
    door, radius = rng.uniform(-20, 20, 2), rng.uniform(1, 3)
    start, paper = rng.uniform(8, 14) * 3600, rng.uniform(2, 3) * 3600
    wifi_share, acc_median = rng.uniform(0, 0.3), rng.uniform(8, 20)
    for d in range(int(rng.integers(2, 4))):
        inst = f"{key}/day{d}"
        here = [people[int(i)] for i in rng.permutation(len(people)) if rng.random() < 0.95]
        g = gap * rng.lognormal(0, sigma, len(here))
        paired = rng.random(len(here)) < pair_p
        g[paired] = rng.uniform(1, 5, int(paired.sum()))
        g[0] = 0.0
        times = day + d * 86400 + start + np.cumsum(g)
        hall = Gathering(w, rng, "exam_sitting", (v, la, lo), f"{key}-wifi", wifi_share, acc_median)
        hall.arrive(inst, here, times, disk(rng, len(here), radius) + door)
        end = float(times[-1]) + paper
        leaving = [p for p in here if rng.random() < out_p]
        if leaving:
            t_out = end + np.sort(rng.uniform(0, 600, len(leaving)))
            hall.arrive(inst, leaving, t_out, disk(rng, len(leaving), radius) + door)
        for person, ts in zip(here, times.tolist(), strict=True):
            far = rng.uniform(2000, 20000) * np.array([1, -1])[rng.integers(2)]
            if rng.random() < home_p:  # at home or on the way, before the paper
                fla, flo = w.fix(rng, la, lo, far, far / 3, 10.0)
                w.read(
                    rng,
                    person,
                    ts - rng.uniform(1800, 7200),
                    (fla, flo),
                    ts,
                    ("exam_sitting", inst),
                )
            if rng.random() < after_p:  # on the way home, after it
                fla, flo = w.fix(rng, la, lo, -far / 2, far, 10.0)
                w.read(
                    rng,
                    person,
                    end + rng.uniform(600, 7200),
                    (fla, flo),
                    ts,
                    ("exam_sitting", inst),
                )


def _home(rng: np.random.Generator) -> np.ndarray:
    """A volunteer's home, 0.5-3 km from the route's start in any direction."""
    a = rng.uniform(0, 2 * math.pi)
    return rng.uniform(500, 3000) * np.array([math.cos(a), math.sin(a)])


def _turnout(
    w: World,
    rng: np.random.Generator,
    team: list[Person],
    homes: list[np.ndarray],
    home: Callable[[np.random.Generator], np.ndarray],
    tag: str,
    near: tuple[float, float],
) -> tuple[list[Person], list[np.ndarray]]:
    """Who turns out on one day, and their homes: each member with probability 0.9 (the
    first if nobody else), and 0-2 stand-ins with homes of their own (`home`)."""
    keep = [i for i in range(len(team)) if rng.random() < 0.9] or [0]
    extra = int(rng.integers(0, 3))
    here = [team[i] for i in keep] + w.people(rng, extra, tag, near)
    return here, [homes[i] for i in keep] + [home(rng) for _ in range(extra)]


def patrol(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (eighth round). A neighbourhood volunteer patrol (4-12 volunteers or grid
    workers, most the same every evening, 0-2 stand-ins) walks one route of 3-6
    checkpoints 150-600 m apart every evening at about the same hour on 3-5 consecutive
    days, in the same order; at each checkpoint everyone checks in within 10-90 s of
    getting there (30 % of them with the one before, within a second), standing 1-4 m
    about a post; 5-15 min of walking between checkpoints. 0-50 % read the app at home
    0.5-3 km away 10-60 min before the first checkpoint, 0-40 % 15-90 min after the
    last; no Wi-Fi (outdoors). The same small set together at several spots, one after
    the other at a walking pace, evening after evening. A group-day is one evening."""
    v, la, lo, day = w.scene(rng)
    team = w.people(rng, int(rng.integers(4, 13)), key, (la, lo))
    route: list[tuple[int | None, float, float]] = [(v, la, lo)]
    for _ in range(int(rng.integers(2, 6))):
        route.append(w.venue_near(rng, *route[-1][1:], 150, 600))
    legs = rng.uniform(300, 900, len(route))
    start, home_p, after_p = rng.uniform(18.5, 21) * 3600, rng.uniform(0, 0.5), rng.uniform(0, 0.4)
    posts = [rng.uniform(-20, 20, 2) for _ in route]
    acc_median = rng.uniform(6, 18)
    homes = [_home(rng) for _ in team]
    for d in range(int(rng.integers(3, 6))):
        inst = f"{key}/day{d}"
        here, where = _turnout(w, rng, team, homes, _home, f"{key}-sub{d}", (la, lo))
        t = day + d * 86400 + start + rng.normal(0, 300)
        first = t
        for stop, post, leg in zip(route, posts, legs, strict=True):
            times = t + np.sort(rng.uniform(0, rng.uniform(10, 90), len(here)))
            xy = disk(rng, len(here), rng.uniform(1, 4)) + post
            together(rng, times, xy, 0.3, 0.5)
            Gathering(w, rng, "patrol", stop, None, 0.0, acc_median).arrive(inst, here, times, xy)
            t = float(times.max()) + leg * rng.uniform(0.8, 1.2)
        for person, home in zip(here, where, strict=True):
            fla, flo = w.fix(rng, la, lo, float(home[0]), float(home[1]), 10.0)
            if rng.random() < home_p:
                w.read(
                    rng, person, first - rng.uniform(600, 3600), (fla, flo), first, ("patrol", inst)
                )
            if rng.random() < after_p:
                w.read(rng, person, t + rng.uniform(900, 5400), (fla, flo), first, ("patrol", inst))


def _home_far(rng: np.random.Generator) -> np.ndarray:
    """A player's home, 2-8 km from the pitch in any direction."""
    a = rng.uniform(0, 2 * math.pi)
    return rng.uniform(2000, 8000) * np.array([math.cos(a), math.sin(a)])


def team_bus(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (ninth round). A youth or amateur sports team (10-22 players, the same
    each session, 90 % present, 0-2 guests) whose club minibus collects the players from
    their homes (2-8 km from the pitch, 2-5 min per stop, the last pickup 10-25 min
    before arrival) for training on 3 evenings in 5 days (or 3-5 consecutive evenings,
    50 %); 0-50 % of them use the app at home 5-40 min before their pickup. Off the bus
    each checks in within 5-60 s (30 % with the one before, within a second), standing
    within 2-6 m of the bus door; training lasts 75-120 min; 0-50 % check out as they
    board again within 3 min; the bus drops them home in reverse order (2-5 min per
    stop) and 0-50 % use the app at home 5-40 min after. 0-30 % on the clubhouse Wi-Fi.
    People carried together both ways by one vehicle, each from and to their own home:
    physically what `round_trip` is, except that the people stay. A group-day is one
    session."""
    v, la, lo, day = w.scene(rng)
    team = w.people(rng, int(rng.integers(10, 23)), key, (la, lo))
    homes = [_home_far(rng) for _ in team]
    sessions = (
        list(range(int(rng.integers(3, 6))))
        if rng.random() < 0.5
        else sorted(int(d) for d in rng.choice(5, 3, replace=False))
    )
    start, length = rng.uniform(17, 19.5) * 3600, rng.uniform(75, 120) * 60
    stop_s, before_p = rng.uniform(120, 300), rng.uniform(0, 0.5)
    out_p, after_p = rng.uniform(0, 0.5), rng.uniform(0, 0.5)
    door, acc_median = rng.uniform(-20, 20, 2), rng.uniform(6, 18)
    pitch = Gathering(
        w, rng, "team_bus", (v, la, lo), f"{key}-wifi", rng.uniform(0, 0.3), acc_median
    )
    for d in sessions:
        inst = f"{key}/day{d}"
        here, where = _turnout(w, rng, team, homes, _home_far, f"{key}-guest{d}", (la, lo))
        arrive = day + d * 86400 + start + rng.normal(0, 180)
        pickup = arrive - rng.uniform(600, 1500) - stop_s * np.arange(len(here))[::-1]
        times = arrive + np.sort(rng.uniform(5, 60, len(here)))
        xy = disk(rng, len(here), rng.uniform(2, 6)) + door
        together(rng, times, xy, 0.3, 0.5)
        pitch.arrive(inst, here, times, xy)
        end = float(times.max()) + length
        leaving = [p for p in here if rng.random() < out_p]
        if leaving:
            t_out = end + np.sort(rng.uniform(0, 180, len(leaving)))
            pitch.arrive(inst, leaving, t_out, disk(rng, len(leaving), 3.0) + door)
        drop = end + 600 + stop_s * np.arange(1, len(here) + 1)
        for k, (person, home) in enumerate(zip(here, where, strict=True)):
            fla, flo = w.fix(rng, la, lo, float(home[0]), float(home[1]), 10.0)
            if rng.random() < before_p:
                t = float(pickup[k]) - rng.uniform(300, 2400)
                w.read(rng, person, t, (fla, flo), arrive, ("team_bus", inst))
            if rng.random() < after_p:
                t = float(drop[-1 - k]) + rng.uniform(300, 2400)
                w.read(rng, person, t, (fla, flo), arrive, ("team_bus", inst))


def coach_tour(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (tenth round). A coach tour (15-45 tourists, a third to two thirds of them
    couples or families travelling together) on a one-day itinerary, or 2-3 days (40 %)
    through one region: 3-5 sights a day, each 2-25 km from the last by coach (25-60 min
    on the road); at each sight the group gets off and gathers round the guide, 3-15 m,
    and each checks in on their own phone within 1-8 min of arriving (a couple within a
    second of each other, side by side), then 45-120 min at the sight; the same people
    every day. Evenings at one hotel, 0-50 % of them reading the
    app on its Wi-Fi 2-4 h after the last sight. The same set together at several spots
    kilometres apart at the pace of one vehicle, all with their own phones: what a bag
    driven between risk points (`tour`) is, except that they are people. A group-day is
    one day."""
    v, la, lo, day = w.scene(rng)
    group = w.people(rng, int(rng.integers(15, 46)), key, (la, lo))
    pair_share, read_p = rng.uniform(1 / 3, 2 / 3), rng.uniform(0, 0.5)
    acc_median, start = rng.uniform(6, 18), rng.uniform(8.5, 10) * 3600
    here: tuple[float, float] = (la, lo)
    first: tuple[int | None, float, float] = (v, la, lo)
    for d in range(1 if rng.random() < 0.6 else int(rng.integers(2, 4))):
        inst = f"{key}/day{d}"
        t = day + d * 86400 + start + rng.normal(0, 900)
        for k in range(int(rng.integers(3, 6))):
            stop = first if d == 0 and k == 0 else w.venue_near(rng, *here, 2000, 25000)
            here = stop[1:]
            guide = rng.uniform(-20, 20, 2)
            times = t + np.sort(rng.uniform(0, rng.uniform(60, 480), len(group)))
            xy = disk(rng, len(group), rng.uniform(3, 15)) + guide
            together(rng, times, xy, pair_share, 0.5)
            Gathering(w, rng, "coach_tour", stop, None, 0.0, acc_median).arrive(
                inst, group, times, xy
            )
            t = float(times.max()) + rng.uniform(45, 120) * 60 + rng.uniform(25, 60) * 60
        hotel = w.venue_near(rng, *here, 500, 5000)
        for person in group:
            if rng.random() < read_p:
                fla, flo = w.fix(rng, hotel[1], hotel[2], 0.0, 0.0, 10.0)
                ts = t + rng.uniform(2, 4) * 3600
                acc, dev, m, _u = person
                w.add(
                    ts,
                    acc,
                    fla,
                    flo,
                    10.0,
                    venue=None,
                    device=dev,
                    model=m,
                    network=f"{key}-hotel{d}",
                    type=EventType.read,
                    truth=("coach_tour", inst),
                )


def household(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (eleventh round). A family at home (a community or residence check-in the
    app asks of everyone each evening): 3-7 members (parents, grandparents, children),
    90 % at home on a given evening, on 3-7 consecutive evenings at about the same hour
    (19-22 h, +- 0-20 min). Someone says "time to check in" and they all do within
    10-120 s, in any order, round the dinner table (1-2 m, 50 %) or about the flat
    (3-8 m); 0-40 % of them hand their phone to another member (a grandchild tapping a
    grandparent's phone), within 1-5 s of their own, side by side. 70-100 % on the home
    Wi-Fi; indoor fixes (accuracy around 8-25 m). The home is 200-2,000 m from a busy
    venue, never a venue itself. By day each member goes out with a probability of
    30-100 % (drawn per member): work or school 2-15 km away, where they read the app
    once or twice between 9 and 17 h. The same small set, tight, on one Wi-Fi, together
    again every evening: a small ring's every sign, except that the people live there
    and go their own ways by day. A group-day is one evening."""
    _v, la, lo, day = w.scene(rng)
    a = rng.uniform(0, 2 * math.pi)
    r = rng.uniform(200, 2000)
    m_lon = M_PER_DEG_LAT * math.cos(math.radians(la))
    home = (la + r * math.sin(a) / M_PER_DEG_LAT, lo + r * math.cos(a) / m_lon)
    members = w.people(rng, int(rng.integers(3, 8)), key, home)
    radius = rng.uniform(1, 2) if rng.random() < 0.5 else rng.uniform(3, 8)
    hand_p, hour = rng.uniform(0, 0.4), rng.uniform(19, 22) * 3600
    drift_s = rng.uniform(0, 1200)
    flat = Gathering(
        w, rng, "household", (None, *home), f"{key}-home", rng.uniform(0.7, 1.0), rng.uniform(8, 25)
    )
    out_p = rng.uniform(0.3, 1.0, len(members))
    work = []
    for _ in members:
        b = rng.uniform(0, 2 * math.pi)
        work.append(rng.uniform(2000, 15000) * np.array([math.cos(b), math.sin(b)]))
    for d in range(int(rng.integers(3, 8))):
        inst = f"{key}/day{d}"
        idx = [i for i in range(len(members)) if rng.random() < 0.9] or [0]
        here = [members[i] for i in rng.permutation(idx)]
        t = day + d * 86400 + hour + rng.normal(0, drift_s)
        times = t + np.sort(rng.uniform(0, rng.uniform(10, 120), len(here)))
        xy = disk(rng, len(here), radius)
        together(rng, times, xy, hand_p, 0.5)
        flat.arrive(inst, here, times, xy)
        for i in range(len(members)):  # by day, at work or school
            if rng.random() < out_p[i]:
                at = w.fix(rng, *home, float(work[i][0]), float(work[i][1]), 10.0)
                for _ in range(int(rng.integers(1, 3))):
                    ts = day + d * 86400 + rng.uniform(9, 17) * 3600
                    w.read(rng, members[i], ts, at, ts, ("household", inst))


def carpool(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (thirteenth round). Colleagues sharing one car to work: 3-6 of them, on 3-5
    consecutive workdays. The driver picks each up at home (homes 1-8 km from the
    workplace, 3-10 min between pick-ups, the same round every day, 7-9 h); 0-60 % of
    them read the app at home 5-40 min before their pick-up, on their own network. At the
    workplace's car park (the car in a different bay each day, 5-40 m apart) they get out
    and check in by the car within 5-40 s of each other, 1-3 m apart, the driver last
    (after locking up, 10-60 s later); each on their own mobile data, 0-50 % of them on
    the office Wi-Fi that reaches the car park; outdoor fixes (accuracy around 6-18 m).
    By day 0-60 % read the app at their desks 20-80 m away, on the office Wi-Fi. People
    collected from their homes and brought together, the same set every morning: what a
    round collecting phones looks like, except that the phones stay with their owners. A
    group-day is one morning."""
    v, la, lo, day = w.scene(rng)
    people = w.people(rng, int(rng.integers(3, 7)), key, (la, lo))
    n = len(people)
    homes = []
    for _ in range(n - 1):  # the driver's passengers; the driver is the last
        b = rng.uniform(0, 2 * math.pi)
        homes.append(rng.uniform(1000, 8000) * np.array([math.cos(b), math.sin(b)]))
    pickup_gap = rng.uniform(180, 600, n - 1)
    arrive_h = rng.uniform(7, 9) * 3600
    home_p, desk_p = rng.uniform(0, 0.6), rng.uniform(0, 0.6)
    wifi_share, acc_median = rng.uniform(0, 0.5), rng.uniform(6, 18)
    span = rng.uniform(5, 40)
    lot = Gathering(w, rng, "carpool", (v, la, lo), f"{key}-office-wifi", wifi_share, acc_median)
    desk = disk(rng, n, 60) + 20
    for d in range(int(rng.integers(3, 6))):
        inst = f"{key}/day{d}"
        t = day + d * 86400 + arrive_h + rng.normal(0, 300)
        b = rng.uniform(0, 2 * math.pi)
        bay = rng.uniform(5, 40) * np.array([math.cos(b), math.sin(b)]) if d else np.zeros(2)
        times = t + np.sort(rng.uniform(0, span, n))
        times[-1] = times[-2] + rng.uniform(10, 60)  # the driver locks up
        xy = bay + disk(rng, n, rng.uniform(1, 3))
        lot.arrive(inst, people, times, xy)
        # Before: each passenger at home, picked up in turn on the way in.
        picks = t - np.cumsum(pickup_gap[::-1])[::-1]
        for i in range(n - 1):
            pick = float(picks[i])
            if rng.random() < home_p:
                at = w.fix(rng, la, lo, float(homes[i][0]), float(homes[i][1]), 10.0)
                ts = pick - rng.uniform(300, 2400)
                w.read(rng, people[i], ts, at, ts, ("carpool", inst))
        for i in range(n):  # at their desks later on
            if rng.random() < desk_p:
                at_desk(
                    w,
                    rng,
                    people[i],
                    (la, lo),
                    desk[i],
                    (float(times[i]), 1800, 8 * 3600),
                    f"{key}-office-wifi",
                    ("carpool", inst),
                )


def wedding_tables(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (twelfth round). A wedding banquet: 60-200 guests seated at round tables
    of 8-10 (a table 0.8-1.2 m in radius, tables 2.5-4 m apart in rows); the host calls a
    check-in lottery and every guest checks in on their own phone within 30-150 s of the
    call, the tables in no order, couples within a second of each other; one day only,
    at lunch (11-13 h) or dinner (17-19 h). Guests came from far: 0-50 % read the app
    2-50 km away 20-90 min before the call; 0-60 % on the hall's Wi-Fi; indoor fixes
    (accuracy around 8-20 m); 0-30 % check in again at a second call 60-120 min later.
    Many tight groups of 8-10 at one moment, side by side in one room. A group-day is one
    banquet."""
    v, la, lo, day = w.scene(rng)
    n = int(rng.integers(60, 201))
    guests = w.people(rng, n, key, (la, lo))
    per_table = int(rng.integers(8, 11))
    tables = math.ceil(n / per_table)
    cols, pitch = math.ceil(math.sqrt(tables)), rng.uniform(2.5, 4.0)
    centre = np.array([[(k % cols) * pitch, (k // cols) * pitch] for k in range(tables)])
    seat_r = rng.uniform(0.8, 1.2)
    a = rng.uniform(0, 2 * math.pi, n)
    xy = centre[np.arange(n) // per_table] + seat_r * np.column_stack((np.cos(a), np.sin(a)))
    xy -= xy.mean(axis=0)
    call = day + (rng.uniform(11, 13) if rng.random() < 0.5 else rng.uniform(17, 19)) * 3600
    times = call + rng.uniform(0, rng.uniform(30, 150), n)
    order = np.argsort(times)
    times, order_xy = times[order], xy[order]
    together(rng, times, order_xy, 0.3, 0.4)
    wifi_share, acc_median = rng.uniform(0, 0.6), rng.uniform(8, 20)
    hall = Gathering(w, rng, "wedding_tables", (v, la, lo), f"{key}-wifi", wifi_share, acc_median)
    inst = f"{key}/day0"
    seated = [guests[int(i)] for i in order]
    hall.arrive(inst, seated, times, order_xy)
    again = rng.random(n) < rng.uniform(0, 0.3)
    if again.any():
        second = call + rng.uniform(3600, 7200)
        k = int(again.sum())
        hall.arrive(
            inst,
            [p for p, g in zip(seated, again, strict=True) if g],
            second + rng.uniform(0, rng.uniform(30, 150), k),
            order_xy[again],
        )
    read_p = rng.uniform(0, 0.5)
    for person, ts in zip(seated, times.tolist(), strict=True):
        if rng.random() < read_p:
            b = rng.uniform(0, 2 * math.pi)
            far = rng.uniform(2000, 50000) * np.array([math.cos(b), math.sin(b)])
            at = w.fix(rng, la, lo, float(far[0]), float(far[1]), 10.0)
            w.read(rng, person, call - rng.uniform(1200, 5400), at, ts, ("wedding_tables", inst))


def dorm_roll(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (fourteenth round). A university dormitory's nightly roll call: one floor's
    corridor of 6-12 rooms side by side (3.5 m wide, 6 m deep), 4-6 students a room, the
    same students every night, on 5-7 consecutive nights. At the counsellor's message
    (22-23 h, the same time each night +- 0-5 min) every student in checks in on their own
    phone from their desk or bed, each after a delay of their own (lognormal around
    30-180 s, sigma 0.8, at most 10 min); 0-30 % of them right after a roommate (within a
    second, side by side: a phone handed across); 75-95 % are in at the message, the
    others come back 10-60 min later and check in at their room's door. 40-90 % on the
    campus Wi-Fi (one network for every room and every campus building), the rest on
    their own mobile data; indoor fixes (accuracy around 10-25 m). The building is
    200-2,000 m from a busy venue and never a declared point. By day each student (with
    a probability of 20-80 % drawn per student) reads the app 1-3 times between 8 and
    18 h in one of the campus's 4-8 buildings (lecture halls, library, canteen) 150-1,200
    m from the dormitory. Many small tight sets side by side at one moment, the same sets
    every night, on one network: a building's worth of small rings, except that the
    students live there and spend the day about the campus, close by. A group-day is one
    room's night."""
    _v, la, lo, day = w.scene(rng)
    a = rng.uniform(0, 2 * math.pi)
    r = rng.uniform(200, 2000)
    m_lon = M_PER_DEG_LAT * math.cos(math.radians(la))
    hall = (la + r * math.sin(a) / M_PER_DEG_LAT, lo + r * math.cos(a) / m_lon)
    rooms = int(rng.integers(6, 13))
    students = [w.people(rng, int(rng.integers(4, 7)), f"{key}-r{k}", hall) for k in range(rooms)]
    wifi, wifi_share = f"{key}-campus", rng.uniform(0.4, 0.9)
    floor = Gathering(w, rng, "dorm_roll", (None, *hall), wifi, wifi_share, rng.uniform(10, 25))
    message_s, drift_s = rng.uniform(22, 23) * 3600, rng.uniform(0, 300)
    delay_s, in_p, hand_p = log_uniform(rng, 30, 180), rng.uniform(0.75, 0.95), rng.uniform(0, 0.3)
    campus = []
    for _ in range(int(rng.integers(4, 9))):
        b = rng.uniform(0, 2 * math.pi)
        campus.append(rng.uniform(150, 1200) * np.array([math.cos(b), math.sin(b)]))
    out_p = [rng.uniform(0.2, 0.8, len(room)) for room in students]
    for d in range(int(rng.integers(5, 8))):
        night = day + d * 86400
        message = night + message_s + rng.normal(0, drift_s)
        for k, room in enumerate(students):
            inst = f"{key}-room{k}/day{d}"
            corner = np.array([k * 3.5, 0.0])
            inside = rng.random(len(room)) < in_p
            delays = np.minimum(delay_s * rng.lognormal(0.0, 0.8, len(room)), 600.0)
            times = message + delays
            xy = corner + np.column_stack(
                (rng.uniform(0.3, 3.2, len(room)), rng.uniform(0.5, 5.8, len(room)))
            )
            late = ~inside
            times[late] = message + rng.uniform(600, 3600, int(late.sum()))
            xy[late] = corner + np.array([1.75, 0.3]) + rng.normal(0, 0.3, (int(late.sum()), 2))
            order = np.argsort(times)
            times, xy = times[order], xy[order]
            here = [room[int(i)] for i in order]
            together(rng, times, xy, hand_p, 0.3)
            floor.arrive(inst, here, times, xy)
            for i, person in enumerate(room):  # by day, about the campus
                if rng.random() >= out_p[k][i]:
                    continue
                for _ in range(int(rng.integers(1, 4))):
                    spot = campus[int(rng.integers(len(campus)))] + rng.normal(0, 15, 2)
                    at = w.fix(rng, *hall, float(spot[0]), float(spot[1]), 15.0)
                    ts = night + rng.uniform(8, 18) * 3600
                    if rng.random() < wifi_share:
                        acc, dev, m, _u = person
                        w.add(
                            ts,
                            acc,
                            *at,
                            15.0,
                            venue=None,
                            device=dev,
                            model=m,
                            network=wifi,
                            type=EventType.read,
                            truth=("dorm_roll", inst),
                        )
                    else:
                        w.read(rng, person, ts, at, ts, ("dorm_roll", inst))


def _next_door(rng: np.random.Generator) -> np.ndarray:
    """A dancer's home, 100-800 m from the square in any direction (the estate around it)."""
    a = rng.uniform(0, 2 * math.pi)
    return rng.uniform(100, 800) * np.array([math.cos(a), math.sin(a)])


def in_time_order(
    times: np.ndarray, xy: np.ndarray, people: list[Person], homes: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, list[Person], list[np.ndarray]]:
    """Check-ins (times, spots, people, their homes) sorted by time."""
    order = np.argsort(times)
    ranked = [int(i) for i in order]
    return times[order], xy[order], [people[i] for i in ranked], [homes[i] for i in ranked]


def square_dance(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (fifteenth round). A neighbourhood square-dance group (10-30 residents of
    the estates around a square, most the same every evening, 0-2 newcomers) dances on
    4-7 consecutive evenings at the same hour (19-20 h, +- 0-3 min); the community's
    volunteer-points app asks each to check in, and the leader calls for it as the music
    starts: each checks in on their own phone from their place in the formation (3-6
    rows, 1.5-2.2 m between places, each dancer 0-0.4 m off their mark), after a delay of
    their own (lognormal around 10-60 s, sigma 0.8, at most 5 min), 0-20 % right after
    the neighbour beside them (within a second). Each walks over from home (100-800 m
    away): 0-40 % read the app at home 10-60 min before the music, 0-30 % 60-150 min
    after it (the dance lasts 60-90 min); no Wi-Fi (outdoors), outdoor fixes (6-18 m).
    The same set tight at one moment evening after evening, the people living close by:
    nobody comes or goes kilometres. A group-day is one evening."""
    v, la, lo, day = w.scene(rng)
    team = w.people(rng, int(rng.integers(10, 31)), key, (la, lo))
    homes = [_next_door(rng) for _ in team]
    spacing, rows = rng.uniform(1.5, 2.2), int(rng.integers(3, 7))
    per_row = math.ceil(len(team) / rows) + 1
    square = rng.uniform(-20, 20, 2)
    music_s, drift_s = rng.uniform(19, 20) * 3600, rng.uniform(0, 180)
    delay_s, hand_p = log_uniform(rng, 10, 60), rng.uniform(0, 0.2)
    home_p, after_p = rng.uniform(0, 0.4), rng.uniform(0, 0.3)
    dance = Gathering(w, rng, "square_dance", (v, la, lo), None, 0.0, rng.uniform(6, 18))
    for d in range(int(rng.integers(4, 8))):
        inst = f"{key}/day{d}"
        here, where = _turnout(w, rng, team, homes, _next_door, f"{key}-sub{d}", (la, lo))
        n = len(here)
        music = day + d * 86400 + music_s + rng.normal(0, drift_s)
        place = np.arange(n)
        marks = np.column_stack((place % per_row, place // per_row)) * spacing
        xy = square + marks - marks.mean(axis=0) + rng.normal(0, 0.2, (n, 2))
        times = music + np.minimum(delay_s * rng.lognormal(0.0, 0.8, n), 300.0)
        times, xy, dancers, homes_today = in_time_order(times, xy, here, where)
        together(rng, times, xy, hand_p, 0.4)
        dance.arrive(inst, dancers, times, xy)
        for person, home in zip(dancers, homes_today, strict=True):
            fla, flo = w.fix(rng, la, lo, float(home[0]), float(home[1]), 10.0)
            if rng.random() < home_p:
                w.read(
                    rng,
                    person,
                    music - rng.uniform(600, 3600),
                    (fla, flo),
                    music,
                    ("square_dance", inst),
                )
            if rng.random() < after_p:
                w.read(
                    rng,
                    person,
                    music + rng.uniform(3600, 9000),
                    (fla, flo),
                    music,
                    ("square_dance", inst),
                )


def read_on_site(
    w: World,
    rng: np.random.Generator,
    person: Person,
    place: tuple[float, float],
    spot: np.ndarray,
    after: tuple[float, float, float],
    truth: tuple[str, str],
) -> None:
    """`person` reading the app at `spot` (metres from `place`, a fix good to 15 m),
    `after` = (t, lo, hi): between lo and hi seconds after t, on their own network of
    t's day."""
    at = w.fix(rng, *place, float(spot[0]), float(spot[1]), 15.0)
    w.read(rng, person, after[0] + rng.uniform(after[1], after[2]), at, after[0], truth)


def ward_shift(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (seventeenth round). A hospital ward's shift change: the ward's nursing
    staff (12-25 nurses) work by a roster, so each day's shift is 5-10 of them (a fresh
    draw from the staff every day, and 0-1 agency nurse), at the ward's handover hour
    (07:00 or 19:00, the same every day, +- 0-5 min) on 3-7 consecutive days. The
    hospital's staff app asks each for a check-in at the nurses' station: 40-80 % as
    they arrive over the 5-25 min before (each at a moment of their own), the rest when
    the charge nurse starts the handover (each 5-60 s after it, lognormal, sigma 0.4-1.0),
    standing about the station (1.5-4 m); 50-95 % on the hospital's Wi-Fi, indoor fixes
    (accuracy around 10-25 m). During the 12 h shift 30-80 % of them (per ward) read the
    app on the ward 1-11 h after handover, 5-40 m from the station; 0-40 % read it at
    home (2-15 km away) 30-90 min before the shift. A different share of one staff every
    day, tight at one moment, staying for hours: a group-day is one handover."""
    v, la, lo, day = w.scene(rng)
    staff = w.people(rng, int(rng.integers(12, 26)), key, (la, lo))
    shift = int(rng.integers(5, 11))
    handover_s = (7.0 if rng.random() < 0.5 else 19.0) * 3600
    drift_s, arrive_p = rng.uniform(0, 300), rng.uniform(0.4, 0.8)
    call_s, sigma = rng.uniform(5, 60), rng.uniform(0.4, 1.0)
    station, radius = rng.uniform(-20, 20, 2), rng.uniform(1.5, 4)
    on_ward_p, home_p = rng.uniform(0.3, 0.8), rng.uniform(0, 0.4)
    ward = Gathering(
        w,
        rng,
        "ward_shift",
        (v, la, lo),
        f"{key}-hospital",
        rng.uniform(0.5, 0.95),
        rng.uniform(10, 25),
    )
    for d in range(int(rng.integers(3, 8))):
        inst = f"{key}/day{d}"
        pick = rng.choice(len(staff), size=min(shift, len(staff)), replace=False)
        here = [staff[int(i)] for i in pick]
        here += w.people(rng, int(rng.integers(0, 2)), f"{key}-agency{d}", (la, lo))
        n = len(here)
        handover = day + d * 86400 + handover_s + rng.normal(0, drift_s)
        t = call_s * rng.lognormal(0.0, sigma, n)
        early = rng.random(n) < arrive_p
        t[early] = -rng.uniform(300, 1500, int(early.sum()))
        times = handover + t
        ward.arrive(inst, here, times, disk(rng, n, radius) + station)
        for person in here:
            if rng.random() < on_ward_p:  # on the ward during the shift
                a = rng.uniform(0, 2 * math.pi)
                spot = station + rng.uniform(5, 40) * np.array([math.cos(a), math.sin(a)])
                read_on_site(
                    w, rng, person, (la, lo), spot, (handover, 3600, 39600), ("ward_shift", inst)
                )
            if rng.random() < home_p:  # at home before the shift
                far = rng.uniform(2000, 15000) * np.array([1, -1])[rng.integers(2)]
                at = w.fix(rng, la, lo, float(far), float(far) / 2, 10.0)
                w.read(
                    rng,
                    person,
                    handover - rng.uniform(1800, 5400),
                    at,
                    handover,
                    ("ward_shift", inst),
                )


def poll_workers(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (eighteenth round). A polling station's crew (5-12 poll workers: the
    presiding officer, clerks, agents; the same crew every polling day, 95 % present,
    0-1 stand-in) on polling day only (60 %) or on 2-4 consecutive days of early voting;
    the station opens at the same hour every day (06-08 h). The election commission's app
    asks each to check in. They come from their homes (1-10 km, all round) over the 5-60
    min before opening, each at a moment of their own (0-50 % read the app at home 15-90
    min before): 30-70 % (per station) check in as they come in, at their table (the hall
    6-15 m across, 0-20 % right after a colleague they came with); the rest when the
    presiding officer takes the roll at the opening, a name every 5-20 s (lognormal,
    sigma 0.3-0.6), standing at the presiding table (1-3 m). 0-30 % on the hall's Wi-Fi,
    indoor fixes (10-25 m). They stay all day: 50-90 % read the app at their table (the
    hall) 1-13 h after opening, 30-70 % at home 1-3 h after the close (14 h after
    opening). The same small crew, a roll called one at a time: a group-day is one
    polling day."""
    v, la, lo, day = w.scene(rng)
    crew = w.people(rng, int(rng.integers(5, 13)), key, (la, lo))
    homes = [
        rng.uniform(1000, 10000) * np.array([math.cos(a), math.sin(a)])
        for a in rng.uniform(0, 2 * math.pi, len(crew))
    ]
    opening_s, days = rng.uniform(6, 8) * 3600, 1 if rng.random() < 0.6 else int(rng.integers(2, 5))
    come_p, pair_p, home_p = rng.uniform(0.3, 0.7), rng.uniform(0, 0.2), rng.uniform(0, 0.5)
    roll_s, sigma = rng.uniform(5, 20), rng.uniform(0.3, 0.6)
    day_p, after_p = rng.uniform(0.5, 0.9), rng.uniform(0.3, 0.7)
    hall, table = rng.uniform(6, 15), rng.uniform(-20, 20, 2)
    station = Gathering(
        w, rng, "poll_workers", (v, la, lo), f"{key}-hall", rng.uniform(0, 0.3), rng.uniform(10, 25)
    )
    for d in range(days):
        inst = f"{key}/day{d}"
        keep = [i for i in range(len(crew)) if rng.random() < 0.95] or [0]
        here = [crew[i] for i in keep]
        where = [homes[i] for i in keep]
        extra = w.people(rng, int(rng.integers(0, 2)), f"{key}-sub{d}", (la, lo))
        here += extra
        where += [rng.uniform(1000, 10000) * np.array([1.0, 0.0]) for _ in extra]
        n = len(here)
        opening = day + d * 86400 + opening_s
        came = rng.random(n) < come_p
        times = np.empty(n)
        times[came] = opening - rng.uniform(300, 3600, int(came.sum()))
        roll = np.flatnonzero(~came)
        times[roll] = opening + np.cumsum(roll_s * rng.lognormal(0.0, sigma, roll.size))
        xy = disk(rng, n, hall / 2) + table
        xy[roll] = disk(rng, roll.size, rng.uniform(1, 3)) + table
        times, xy, people, where = in_time_order(times, xy, here, where)
        together(rng, times, xy, pair_p, 0.5)
        station.arrive(inst, people, times, xy)
        first = float(times.min())
        for person, home in zip(people, where, strict=True):
            at_home = w.fix(rng, la, lo, float(home[0]), float(home[1]), 10.0)
            if rng.random() < home_p:
                w.read(
                    rng,
                    person,
                    first - rng.uniform(900, 5400),
                    at_home,
                    first,
                    ("poll_workers", inst),
                )
            if rng.random() < day_p:
                spot = table + disk(rng, 1, hall / 2)[0]
                read_on_site(
                    w, rng, person, (la, lo), spot, (opening, 3600, 46800), ("poll_workers", inst)
                )
            if rng.random() < after_p:
                closing = opening + 14 * 3600
                w.read(
                    rng,
                    person,
                    closing + rng.uniform(3600, 10800),
                    at_home,
                    closing,
                    ("poll_workers", inst),
                )


def choir(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (nineteenth round). A work unit's choir (16-40 staff, the same singers
    every rehearsal, 90 % present, 0-2 guests) rehearses for the year-end contest in the
    unit's hall on 2-4 evenings 2-4 days apart (19-20 h, the same hour every time, +- 0-10
    min). The unit's activity app asks each singer to check in and the conductor calls for
    it at the start: the singers stand on risers in their places (3-4 rows 0.5-0.7 m
    apart, 0.45-0.6 m between neighbours, a block a few metres across), each taking out
    the phone and checking in at a moment of their own within the 15-120 s the conductor
    waits (lognormal delays, sigma 0.4-0.9), 0-30 % (per choir) within a second of the
    neighbour beside them; 0-15 % come late and check in at their place as they arrive,
    1-15 min after the start. 40-90 % on the hall's Wi-Fi, indoor fixes (10-25 m). They
    come from their homes (1-10 km, all round; 0-40 % read the app at home 20-90 min
    before) and stay for the rehearsal (1.5-2.5 h): 20-60 % read the app in the hall
    during the break (45-75 min in, within 15 m of the risers), 20-60 % at home 30-90 min
    after the end. The same people packed in one block at one moment, again and again: a
    group-day is one rehearsal; 40 choirs per seed."""
    v, la, lo, day = w.scene(rng, days=14)
    choir_ = w.people(rng, int(rng.integers(16, 41)), key, (la, lo))
    homes = [
        rng.uniform(1000, 10000) * np.array([math.cos(a), math.sin(a)])
        for a in rng.uniform(0, 2 * math.pi, len(choir_))
    ]
    rows, row_m, seat_m = int(rng.integers(3, 5)), rng.uniform(0.5, 0.7), rng.uniform(0.45, 0.6)
    slots = len(choir_) + 2  # the guests stand at the end of the last row
    per_row = -(-slots // rows)
    places = np.array([((j % per_row) * seat_m, (j // per_row) * row_m) for j in range(slots)])
    places += rng.uniform(-20, 20, 2)
    start_s, drift_s = rng.uniform(19, 20) * 3600, rng.uniform(0, 600)
    wait_s, sigma, late_p = rng.uniform(15, 120), rng.uniform(0.4, 0.9), rng.uniform(0, 0.15)
    pair_p = rng.uniform(0, 0.3)
    home_p, break_p, after_p = rng.uniform(0, 0.4), rng.uniform(0.2, 0.6), rng.uniform(0.2, 0.6)
    hall = Gathering(
        w, rng, "choir", (v, la, lo), f"{key}-hall", rng.uniform(0.4, 0.9), rng.uniform(10, 25)
    )
    offset = 0
    for d in range(int(rng.integers(2, 5))):
        inst = f"{key}/day{d}"
        keep = [i for i in range(len(choir_)) if rng.random() < 0.9] or [0]
        guests = w.people(rng, int(rng.integers(0, 3)), f"{key}-guest{d}", (la, lo))
        here = [choir_[i] for i in keep] + guests
        where = [homes[i] for i in keep] + [homes[0] * 0.5 for _ in guests]
        n = len(here)
        xy = places[keep + list(range(len(choir_), len(choir_) + len(guests)))].copy()
        start = day + offset * 86400 + start_s + rng.normal(0, drift_s)
        t = np.minimum(wait_s / 3 * rng.lognormal(0.0, sigma, n), wait_s)
        for i in range(1, n):  # with the neighbour beside them
            if rng.random() < pair_p:
                t[i] = t[i - 1] + rng.uniform(0, 1.0)
        late = rng.random(n) < late_p
        t[late] = rng.uniform(60, 900, int(late.sum()))
        risers = places[0]
        times, xy, people, where = in_time_order(start + t, xy, here, where)
        hall.arrive(inst, people, times, xy)
        end = start + rng.uniform(1.5, 2.5) * 3600
        for person, home in zip(people, where, strict=True):
            at_home = w.fix(rng, la, lo, float(home[0]), float(home[1]), 10.0)
            if rng.random() < home_p:
                w.read(
                    rng, person, start - rng.uniform(1200, 5400), at_home, start, ("choir", inst)
                )
            if rng.random() < break_p:
                spot = risers + disk(rng, 1, 15.0)[0]
                read_on_site(w, rng, person, (la, lo), spot, (start, 2700, 4500), ("choir", inst))
            if rng.random() < after_p:
                w.read(rng, person, end + rng.uniform(1800, 5400), at_home, end, ("choir", inst))
        offset += int(rng.integers(2, 5))


def factory_gate(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (twentieth round). A factory's morning shift through its gate: 40-120
    workers (the same every workday, 92 % present, 0-3 temps) on 4-6 consecutive days at
    the same shift start (06:30-08:00). The attendance app asks each to scan the QR code
    on the turnstile's post with their own phone as they pass: one turnstile, one worker
    at a time, each scanning within 0.3-1 m of the post when their turn comes (1.5-4 s
    per worker when there is a queue, lognormal sigma 0.2-0.5). 50-80 % come on 1-3
    company shuttle buses that pull up 10-40 min before the start (the same bus times
    every day, +- 0-3 min) 20-60 m from the gate, everyone off within 30-90 s and at the
    turnstile 15-60 s later at their own pace, so a bus load queues; the rest come on foot,
    by bike or scooter, each at a habitual time of their own in the 45 min before the
    start (daily jitter 1-4 min). 0-30 % on the factory's Wi-Fi (it reaches the gate),
    outdoor fixes (6-15 m). They live 1-12 km away all round; 0-30 % of bus riders read
    the app on the bus 5-25 min before it pulls up (1-8 km away along its road), and they
    stay the shift (8-9 h): 20-50 % read it in the canteen (80-250 m into the plant)
    4-5 h in, 20-50 % at home 30-120 min after the end. The same set one at a time at one
    post, a steady pace, day after day, on their own phones: a group-day is one shift's
    arrival; 30 factories per seed."""
    v, la, lo, day = w.scene(rng)
    crew = w.people(rng, int(rng.integers(40, 121)), key, (la, lo))
    homes = [
        rng.uniform(1000, 12000) * np.array([math.cos(a), math.sin(a)])
        for a in rng.uniform(0, 2 * math.pi, len(crew))
    ]
    buses = int(rng.integers(1, 4))
    bus_of = np.where(
        rng.random(len(crew)) < rng.uniform(0.5, 0.8), rng.integers(0, buses, len(crew)), -1
    )
    bus_s = -np.sort(rng.uniform(600, 2400, buses))
    roads = [np.array([math.cos(b), math.sin(b)]) for b in rng.uniform(0, 2 * math.pi, buses)]
    habit = -rng.uniform(0, 2700, len(crew))  # walkers' own times before the start
    start_s, serve_s, sigma = (
        rng.uniform(6.5, 8.0) * 3600,
        rng.uniform(1.5, 4),
        rng.uniform(0.2, 0.5),
    )
    post, a = rng.uniform(-20, 20, 2), rng.uniform(0, 2 * math.pi)
    canteen = post + rng.uniform(80, 250) * np.array([math.cos(a), math.sin(a)])
    bus_p, lunch_p, home_p = rng.uniform(0, 0.3), rng.uniform(0.2, 0.5), rng.uniform(0.2, 0.5)
    gate = Gathering(
        w, rng, "factory_gate", (v, la, lo), f"{key}-plant", rng.uniform(0, 0.3), rng.uniform(6, 15)
    )
    for d in range(int(rng.integers(4, 7))):
        inst = f"{key}/day{d}"
        start = day + d * 86400 + start_s
        keep = [i for i in range(len(crew)) if rng.random() < 0.92] or [0]
        temps = w.people(rng, int(rng.integers(0, 4)), f"{key}-temp{d}", (la, lo))
        here = [crew[i] for i in keep] + temps
        where = [homes[i] for i in keep] + [homes[0] for _ in temps]
        rides = [int(bus_of[i]) for i in keep] + [-1] * len(temps)
        own = [float(habit[i]) for i in keep] + list(-rng.uniform(0, 2700, len(temps)))
        pulls = start + bus_s + rng.normal(0, 180, buses)
        reach = np.array(
            [
                pulls[b] + rng.uniform(0, 90) + rng.uniform(15, 60)
                if b >= 0
                else start + o + rng.normal(0, rng.uniform(60, 240))
                for b, o in zip(rides, own, strict=True)
            ]
        )
        order = np.argsort(reach)
        times, free = np.empty(len(here)), -math.inf
        for i in order.tolist():  # one turnstile: each when the one before has passed
            times[i] = max(reach[i], free)
            free = times[i] + serve_s * rng.lognormal(0.0, sigma)
        xy = post + disk(rng, len(here), rng.uniform(0.3, 1.0))
        times, xy, people, where = in_time_order(times, xy, here, where)
        rides = [rides[i] for i in order.tolist()]
        gate.arrive(inst, people, times, xy)
        end = start + rng.uniform(8, 9) * 3600
        for person, home, b in zip(people, where, rides, strict=True):
            if b >= 0 and rng.random() < bus_p:  # on the bus, along its road
                at = w.fix(rng, la, lo, *(roads[b] * rng.uniform(1000, 8000)).tolist(), 10.0)
                w.read(
                    rng,
                    person,
                    pulls[b] - rng.uniform(300, 1500),
                    at,
                    start,
                    ("factory_gate", inst),
                )
            if rng.random() < lunch_p:
                spot = canteen + disk(rng, 1, 15.0)[0]
                read_on_site(
                    w, rng, person, (la, lo), spot, (start, 14400, 18000), ("factory_gate", inst)
                )
            if rng.random() < home_p:
                at = w.fix(rng, la, lo, float(home[0]), float(home[1]), 10.0)
                w.read(rng, person, end + rng.uniform(1800, 7200), at, end, ("factory_gate", inst))


def village_assembly(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (twenty-first round). A village assembly in the square before the village
    committee: 40-150 villagers (one or two from each household, the same people on each
    evening, 85 % present, 0-3 newcomers) on one evening (40 %) or on 2-4 consecutive
    evenings of a campaign (land registration explained a hamlet at a time), at the same
    hour (19-20 h, +- 0-10 min). The town's app asks everyone to scan the QR code on a
    poster on the stage's easel: each scans it standing 0.5-2 m in front of it as they
    come in, over the 15-40 min before the start. They walk from their homes in the
    village (100-1,500 m all round) in households of 1-4, a household's members at the
    poster 2-10 s after one another (side by side); 10-30 % of the villagers (elders
    without a smartphone) are scanned for by their household's younger member, on that
    member's phone, 5-20 s after its own scan (typing the elder's ID); 1-2 village cadres
    standing at the poster scan, on the cadre's own phone (10-30 s each), for the elders
    who came without a younger member and for 0-15 % of the others (a phone that will
    not scan). 0-40 % on the committee's Wi-Fi (it reaches the square); outdoor fixes
    (5-15 m). They sit through the meeting (60-120 min) on benches across the square
    (within 30 m): 20-40 % read the app there; 0-30 % read it at home 10-60 min before
    setting out, 20-50 % at home 10-90 min after the end. One spot, dozens of phones,
    one device for several accounts, the same set again on the next evenings: the people
    of one village at one poster. A group-day is one evening's arrival; 30 villages per
    seed."""
    v, la, lo, day = w.scene(rng)
    n = int(rng.integers(40, 151))
    village = w.people(rng, n, key, (la, lo))
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(int(rng.integers(1, 5)))
    household = np.repeat(np.arange(len(sizes)), sizes)[:n]
    elder = rng.random(n) < rng.uniform(0.10, 0.30)
    homes = [
        rng.uniform(100, 1500) * np.array([math.cos(a), math.sin(a)])
        for a in rng.uniform(0, 2 * math.pi, len(sizes))
    ]
    cadres = w.people(rng, int(rng.integers(1, 3)), f"{key}-cadre", (la, lo))
    by_cadre_p, poster = rng.uniform(0, 0.15), rng.uniform(-20, 20, 2)
    window, start_s, jitter = (
        rng.uniform(900, 2400),
        rng.uniform(19, 20) * 3600,
        rng.uniform(0, 600),
    )
    before_p, during_p, after_p = rng.uniform(0, 0.3), rng.uniform(0.2, 0.4), rng.uniform(0.2, 0.5)
    acc_median, wifi = rng.uniform(5, 15), rng.uniform(0, 0.4)
    for d in range(1 if rng.random() < 0.4 else int(rng.integers(2, 5))):
        inst = f"{key}/day{d}"
        truth = ("village_assembly", inst)
        start = day + d * 86400 + start_s + rng.normal(0, jitter)
        here = [i for i in range(n) if rng.random() < 0.85] or [0]
        news = w.people(rng, int(rng.integers(0, 4)), f"{key}-new{d}", (la, lo))
        # (person, scanning phone's person, home, elder) per household that came
        homes_d = [*homes, *(_home(rng) for _ in news)]
        members: dict[int, list[tuple[Person, int, bool]]] = defaultdict(list)
        for i in here:
            members[int(household[i])].append((village[i], int(household[i]), bool(elder[i])))
        for j, p in enumerate(news):
            members[len(sizes) + j].append((p, len(sizes) + j, False))
        scans: list[tuple[float, Person, Person, np.ndarray, bool]] = []
        for group in members.values():
            t = start - rng.uniform(0, window)
            young = next((p for p, _, old in group if not old), None)
            for k, (person, h, old) in enumerate(sorted(group, key=lambda m: m[2])):
                t += rng.uniform(2, 10) if k else 0.0
                phone = person
                if old and young is not None:  # typed in on the younger member's phone
                    t += rng.uniform(5, 20)
                    phone = young
                elif old or rng.random() < by_cadre_p:  # the cadre at the poster
                    t += rng.uniform(10, 30)
                    phone = cadres[int(rng.integers(len(cadres)))]
                scans.append((t, person, phone, homes_d[h], old))
        scans.sort(key=lambda sc: sc[0])
        xy = poster + rng.uniform(0.5, 2.0, len(scans))[:, None] * disk(rng, len(scans), 1.0)
        for (ts, person, phone, _, _), (dx, dy) in zip(scans, xy, strict=True):
            a = float(accuracy(rng, acc_median)[0])
            fla, flo = w.fix(rng, la, lo, float(dx), float(dy), a)
            net = f"{key}-committee" if rng.random() < wifi else w.network(rng, phone[3], ts)
            w.add(
                ts,
                person[0],
                fla,
                flo,
                a,
                venue=v,
                device=phone[1],
                model=phone[2],
                network=net,
                truth=truth,
            )
        end = start + rng.uniform(3600, 7200)
        for _, person, _, home, old in scans:
            if old:  # no phone of their own to read the app on
                continue
            at_home = w.fix(rng, la, lo, float(home[0]), float(home[1]), 10.0)
            if rng.random() < before_p:
                w.read(rng, person, start - window - rng.uniform(600, 3600), at_home, start, truth)
            if rng.random() < during_p:
                spot = poster + disk(rng, 1, 30.0)[0]
                read_on_site(w, rng, person, (la, lo), spot, (start, 600, 3600), truth)
            if rng.random() < after_p:
                w.read(rng, person, end + rng.uniform(600, 5400), at_home, end, truth)


def market_opening(w: World, rng: np.random.Generator, key: str) -> None:
    """Held out (twenty-second round). A covered market's stall keepers opening up: 20-70
    keepers (the same every market day, 90 % present, 0-2 stand-ins) on 3-6 consecutive
    days. The market office's app asks each to scan the QR code on the office door (by
    the main entrance) as they come in: each scans standing within 0.3-1.5 m of the door.
    They come at habitual times of their own over 05:00-07:00 (daily jitter 1-5 min),
    50-70 % of them with the wholesale run: 1-3 vans from the wholesale market pull up at
    the loading bay (30-60 m from the door) at the same times every day (+- 0-5 min), and
    the 3-8 keepers riding each come through the door 5-25 s apart within 1-3 min of it
    (unloading first, at their own pace). 0-20 % on the market's Wi-Fi (weak by the door),
    outdoor fixes (6-18 m). They live 0.5-6 km away all round; they stay the morning at
    their own stalls (rows across the hall, 20-80 m from the door): 30-60 % read the app
    at their stall 1-4 h after opening, 0-30 % at home 30-90 min before coming in (the
    van riders at the wholesale market, 2-10 km away, instead), 20-40 % at home in the
    afternoon. The same set at one door at dawn day after day, van loads arriving
    together: a group-day is one morning's opening; 30 markets per seed."""
    v, la, lo, day = w.scene(rng)
    crew = w.people(rng, int(rng.integers(20, 71)), key, (la, lo))
    homes = [
        rng.uniform(500, 6000) * np.array([math.cos(a), math.sin(a)])
        for a in rng.uniform(0, 2 * math.pi, len(crew))
    ]
    vans = int(rng.integers(1, 4))
    van_of = np.where(
        rng.random(len(crew)) < rng.uniform(0.5, 0.7), rng.integers(0, vans, len(crew)), -1
    )
    van_s = rng.uniform(5, 7, vans) * 3600
    a = rng.uniform(0, 2 * math.pi)
    wholesale = rng.uniform(2000, 10000) * np.array([math.cos(a), math.sin(a)])
    habit = rng.uniform(5, 7, len(crew)) * 3600
    door = rng.uniform(-20, 20, 2)
    stalls = [
        door + rng.uniform(20, 80) * np.array([math.cos(b), math.sin(b)])
        for b in rng.uniform(0, 2 * math.pi, len(crew))
    ]
    stall_p, before_p, after_p = rng.uniform(0.3, 0.6), rng.uniform(0, 0.3), rng.uniform(0.2, 0.4)
    jitter = rng.uniform(60, 300)
    gate = Gathering(
        w,
        rng,
        "market_opening",
        (v, la, lo),
        f"{key}-market",
        rng.uniform(0, 0.2),
        rng.uniform(6, 18),
    )
    for d in range(int(rng.integers(3, 7))):
        inst = f"{key}/day{d}"
        base = day + d * 86400
        keep = [i for i in range(len(crew)) if rng.random() < 0.9] or [0]
        subs = w.people(rng, int(rng.integers(0, 3)), f"{key}-sub{d}", (la, lo))
        here = [crew[i] for i in keep] + subs
        where = [homes[i] for i in keep] + [homes[0] for _ in subs]
        rides = [int(van_of[i]) for i in keep] + [-1] * len(subs)
        pulls = base + van_s + rng.normal(0, rng.uniform(0, 300), vans)
        lag = {b: rng.uniform(60, 180) for b in range(vans)}
        step = {b: 0.0 for b in range(vans)}
        times = []
        for j, b in enumerate(rides):
            if b >= 0:
                step[b] += rng.uniform(5, 25)
                times.append(pulls[b] + lag[b] + step[b])
            else:
                i = keep[j] if j < len(keep) else None
                own = habit[i] if i is not None else rng.uniform(5, 7) * 3600
                times.append(base + own + rng.normal(0, jitter))
        times_a = np.array(times)
        xy = door + disk(rng, len(here), rng.uniform(0.3, 1.5))
        stall_of = [stalls[i] for i in keep] + [stalls[0] for _ in subs]
        order = np.argsort(times_a)
        people = [here[i] for i in order]
        where = [where[i] for i in order]
        rides = [rides[i] for i in order]
        stall_of = [stall_of[i] for i in order]
        times_a, xy = times_a[order], xy[order]
        gate.arrive(inst, people, times_a, xy)
        truth = ("market_opening", inst)
        for person, home, b, stall, ts in zip(
            people, where, rides, stall_of, times_a.tolist(), strict=True
        ):
            if rng.random() < before_p:
                src = wholesale if b >= 0 else home
                at = w.fix(rng, la, lo, float(src[0]), float(src[1]), 10.0)
                w.read(rng, person, ts - rng.uniform(1800, 5400), at, ts, truth)
            if rng.random() < stall_p:
                read_on_site(
                    w, rng, person, (la, lo), stall + disk(rng, 1, 2.0)[0], (ts, 3600, 14400), truth
                )
            if rng.random() < after_p:
                at = w.fix(rng, la, lo, float(home[0]), float(home[1]), 10.0)
                w.read(rng, person, base + rng.uniform(13, 17) * 3600, at, ts, truth)


def ring_in_crowd(w: World, rng: np.random.Generator, key: str, size: int) -> None:
    """Diagnostic. A serial or fast ring at a transit hub in the middle of its rush hour."""
    v, la, lo, day = w.scene(rng)
    people = w.people(rng, int(rng.integers(100, 181)), f"{key}-crowd", (la, lo))
    times = day + 7.5 * 3600 + np.sort(rng.uniform(0, 1800, len(people)))
    xy = disk(rng, len(people), rng.uniform(30, 100))
    Gathering(w, rng, "ring_in_crowd_crowd", (v, la, lo), None, 0.0, rng.uniform(6, 18)).arrive(
        f"{key}/crowd", people, times, xy
    )
    family = "serial" if rng.random() < 0.5 else "fast"
    plant_ring(
        w, rng, family, key, size, at=(v, la, lo, day), hour=7.5 * 3600 + rng.uniform(300, 1500)
    )
    # Relabel: these taps belong to the diagnostic family.
    for inst in [i for i in w.truth.ring_size if i.startswith(f"{key}/")]:
        for eid in w.truth.instances[inst]:
            w.truth.family_of[eid] = ("ring_in_crowd", inst)


CROWDS: dict[str, Callable[[World, np.random.Generator, str], None]] = {
    "meeting": meeting,
    "colleagues": colleagues,
    "friends": friends,
    "transit": transit,
    "concert": concert,
    "delegation": delegation,
    "service_queue": service_queue,
    "class_roll": class_roll,
    "shift_briefing": shift_briefing,
    "site_visit": site_visit,
    "field_team": field_team,
    "drill_squads": drill_squads,
    "exam_sitting": exam_sitting,
    "patrol": patrol,
    "team_bus": team_bus,
    "coach_tour": coach_tour,
    "household": household,
    "wedding_tables": wedding_tables,
    "carpool": carpool,
    "dorm_roll": dorm_roll,
    "square_dance": square_dance,
    "ward_shift": ward_shift,
    "poll_workers": poll_workers,
    "choir": choir,
    "factory_gate": factory_gate,
    "village_assembly": village_assembly,
    "market_opening": market_opening,
}
#: Instances planted per seed.
CROWD_COUNT = {
    "meeting": 80,
    "colleagues": 50,
    "friends": 200,
    "transit": 20,
    "concert": 10,
    "delegation": 60,
    "service_queue": 30,
    "class_roll": 60,
    "shift_briefing": 50,
    "site_visit": 50,
    "field_team": 50,
    "drill_squads": 50,
    "exam_sitting": 50,
    "patrol": 50,
    "team_bus": 50,
    "coach_tour": 40,
    "household": 60,
    "wedding_tables": 20,
    "carpool": 50,
    "dorm_roll": 10,
    "square_dance": 40,
    "ward_shift": 40,
    "poll_workers": 40,
    "choir": 40,
    "factory_gate": 30,
    "village_assembly": 30,
    "market_opening": 30,
}
RINGS_PER_BUCKET = 10  # per ring family and size bucket, per seed


def build(seed: int, with_points: bool, families: tuple[str, ...]) -> World:
    """The background plus every family in `families`, each from its own random stream."""
    w = World(seed, with_points)
    for fam in families:
        rng = family_rng(seed, fam)
        if fam in TEMPOS or fam == "ring_in_crowd":
            for b, (lo, hi) in enumerate(SIZE_BUCKETS):
                for k in range(RINGS_PER_BUCKET):
                    size = int(rng.integers(lo, hi + 1))
                    key = f"{fam}{b}-{k}"
                    if fam == "ring_in_crowd":
                        ring_in_crowd(w, rng, key, size)
                    else:
                        plant_ring(w, rng, fam, key, size)
        else:
            for k in range(CROWD_COUNT[fam]):
                CROWDS[fam](w, rng, f"{fam}{k}")
    return w
