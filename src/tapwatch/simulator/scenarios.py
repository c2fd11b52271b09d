"""App behaviours: how each simulated app's accounts use it on one local day.

Every (app, day) is generated alone from a seed derived with hashlib, so any day of any
app can be produced on demand, in any order, with the same result: the fleet never holds
its whole history in memory. A behaviour also records the forced-usage patterns it plants
(`Plant`), which become the ground truth the detectors are scored against.

Times are Asia/Shanghai wall clock (UTC+08:00, no daylight saving).
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

LOCAL_OFFSET_S = 8 * 3600
DAY_S = 86400
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

#: District centre (the examples' coordinates).
CENTRE = (30.2741, 120.1551)
#: Raw account ids come from one district-wide pool, so one official can appear in
#: several apps (as in real life) and the same clerk files in every duplicate-form app.
ACCOUNT_POOL = 50_000

PHONE_MODELS = (
    "HUAWEI Mate 60",
    "HUAWEI nova 12",
    "HONOR 90",
    "Xiaomi 14",
    "Redmi Note 13",
    "OPPO Reno11",
    "vivo X100",
    "vivo Y36",
    "iPhone 13",
    "iPhone 15",
    "OnePlus 12",
    "Redmi 12C",
)
#: The cheap phone bought in bulk by people who carry a dozen of them.
RING_MODEL = "Redmi 12C"
FARM_MODEL = "Redmi 9A"


def derive_seed(*parts: object) -> int:
    """A 64-bit seed from parts, stable across runs and machines (never Python's hash())."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode())
    return int.from_bytes(h.digest()[:8], "big")


def unit_random(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by parts."""
    return derive_seed(*parts) / 2**64


def local_day(ts: float) -> int:
    """Local (UTC+8) day number: days since 1970-01-01 on the Shanghai wall clock."""
    return math.floor((ts + LOCAL_OFFSET_S) / DAY_S)


def day_date(day: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + day)


def day_of_date(d: date) -> int:
    return d.toordinal() - _EPOCH_ORDINAL


def midnight(day: int) -> float:
    """Epoch seconds of local midnight starting `day`."""
    return float(day * DAY_S - LOCAL_OFFSET_S)


def rfc3339(ts: float, millis: bool = False) -> str:
    """Epoch seconds as RFC 3339 on the Shanghai wall clock (+08:00)."""
    day = local_day(ts)
    sod = ts - midnight(day)
    whole = int(sod)
    h, rem = divmod(whole, 3600)
    m, s = divmod(rem, 60)
    frac = f".{int((sod - whole) * 1000):03d}" if millis else ""
    return f"{day_date(day).isoformat()}T{h:02d}:{m:02d}:{s:02d}{frac}+08:00"


def offset_m(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    """A point `north_m`/`east_m` metres away (flat-earth, fine below a few km)."""
    dlat = north_m / 111_320.0
    dlon = east_m / (111_320.0 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Equirectangular distance in metres (accurate at the scale of a check-in point)."""
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return 6_371_000.0 * math.hypot(x, y)


@lru_cache(maxsize=1 << 18)
def phone_of(account: str) -> tuple[str, str]:
    """The account's own phone: (device id, model), fixed for life."""
    d = hashlib.sha256(b"phone\0" + account.encode()).hexdigest()
    return "dev-" + d[:12], PHONE_MODELS[int(d[12:16], 16) % len(PHONE_MODELS)]


def hex_id(*parts: object, n: int = 16) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:n]


@dataclass(frozen=True, slots=True)
class PointSpec:
    """A declared check-in point (written to the registry)."""

    id: str
    lat: float
    lon: float
    radius_m: float = 50.0


@dataclass(slots=True)
class AppSpec:
    """One simulated app: its registry entry, its behaviour and what it should score."""

    id: str
    name: str
    owner: str
    region: str
    category: str
    launched: date
    annual_cost_cny: int
    intended_users: int
    declared_features: tuple[str, ...]
    behaviour: str
    expected_band: str
    #: finding kinds that must stay silent for this app (by construction)
    silent_kinds: tuple[str, ...] = ()
    exempt: bool = False
    season_months: tuple[int, ...] | None = None
    points: tuple[PointSpec, ...] = ()
    ts_format: str = "rfc3339"  # "rfc3339", "rfc3339_ms" or "epoch"
    registered_accounts: int = 0
    reports_active: bool = True
    release_age_days: float = 30.0
    content_age_days: float = 2.0
    usage_features: tuple[str, ...] = ()
    #: features the behaviour uses without the registry declaring them: tapwatch should
    #: find them in the events (the banned ones are ground truth for banned_feature)
    undeclared_features: tuple[str, ...] = ()
    include_app_field: bool = False
    fault: str | None = None
    #: accounts the behaviour draws from (intended users times scale, with a floor)
    users: int = 0
    #: index of the app's first account in the district pool
    account_base: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def account(self, i: int) -> str:
        """Raw id of the app's i-th account."""
        return f"u{(self.account_base + i) % ACCOUNT_POOL:06d}"


@dataclass(slots=True)
class Plant:
    """One planted pattern (or one day's share of an app-wide pattern)."""

    kind: str
    event_ids: list[str]
    accounts: list[str]
    window: tuple[float, float]
    detail: dict[str, Any]


@dataclass(slots=True)
class DayBatch:
    """What a behaviour produced for one (app, day): events sorted by (ts, id)."""

    times: list[float]
    events: list[dict[str, Any]]
    plants: list[Plant]


class DayBuilder:
    """Collects one app-day's events; ids are `<day>-<seq>`, unique within the app."""

    def __init__(self, spec: AppSpec, seed: int, day: int) -> None:
        self.spec = spec
        self.seed = seed
        self.day = day
        self.date = day_date(day)
        self.weekday = self.date.weekday()
        self.workday = self.weekday < 5
        self.midnight = midnight(day)
        self.rng = random.Random(derive_seed(seed, spec.id, day))
        self._rows: list[tuple[float, str, dict[str, Any]]] = []
        self._t: dict[str, float] = {}
        self.plants: list[Plant] = []
        self._prefix = self.date.isoformat() + "T"
        fmt = spec.ts_format
        self._epoch = fmt == "epoch"
        self._millis = fmt == "rfc3339_ms"

    def _ts(self, sod: float) -> str | float:
        if self._epoch:
            return round(self.midnight + sod, 3)
        whole = int(sod)
        h, rem = divmod(whole, 3600)
        m, s = divmod(rem, 60)
        if self._millis:
            ms = int((sod - whole) * 1000)
            return f"{self._prefix}{h:02d}:{m:02d}:{s:02d}.{ms:03d}+08:00"
        return f"{self._prefix}{h:02d}:{m:02d}:{s:02d}+08:00"

    def emit(self, etype: str, account: str, sod: float, **fields: Any) -> str:
        """Add one event at `sod` seconds after local midnight; returns its id."""
        sod = min(max(sod, 0.0), DAY_S - 0.001)
        if not self._millis and not self._epoch:
            sod = float(int(sod))
        eid = f"{self.day}-{len(self._rows):05d}"
        ev: dict[str, Any] = {"id": eid, "ts": self._ts(sod), "type": etype, "account": account}
        if self.spec.include_app_field:
            ev["app"] = self.spec.id
        for k, v in fields.items():
            if v is not None:
                ev[k] = v
        t = self.midnight + sod
        self._rows.append((t, eid, ev))
        self._t[eid] = t
        return eid

    def plant(self, kind: str, ids: list[str], accounts: list[str], **detail: Any) -> None:
        """Record a planted pattern made of the given events."""
        ts = [self._t[i] for i in ids]
        window = (min(ts), max(ts)) if ts else (self.midnight, self.midnight + DAY_S)
        self.plants.append(Plant(kind, list(ids), sorted(set(accounts)), window, detail))

    def time_of(self, eid: str) -> float:
        return self._t[eid]

    def batch(self) -> DayBatch:
        rows = sorted(self._rows, key=lambda r: (r[0], r[1]))
        return DayBatch([r[0] for r in rows], [r[2] for r in rows], self.plants)

    # -- sampling helpers --------------------------------------------------------------
    def clock(self, mean_h: float, sd_min: float, lo_h: float = 0.0, hi_h: float = 24.0) -> float:
        """A time of day (seconds) around mean_h hours, clamped to [lo_h, hi_h)."""
        s = self.rng.gauss(mean_h * 3600, sd_min * 60)
        return min(max(s, lo_h * 3600), hi_h * 3600 - 1)

    def uniform_h(self, lo_h: float, hi_h: float) -> float:
        return self.rng.uniform(lo_h * 3600, hi_h * 3600)


# -- shared fragments ------------------------------------------------------------------


def _unit_of(spec: AppSpec, i: int, n_units: int) -> str:
    return f"{spec.params.get('unit_prefix', 'unit')}-{i % n_units + 1:03d}"


def _office_net(unit: str) -> str:
    h = int(hex_id("net", unit, n=6), 16)
    return f"10.{(h >> 8) % 250 + 1}.{h % 250 + 1}.0/24"


def _mobile_net(rng: random.Random) -> str:
    return f"223.104.{rng.randrange(1, 255)}.0/24"


def _wifi(name: str) -> str:
    return "wifi:" + hex_id("wifi", name, n=12)


def _office_workday(
    b: DayBuilder,
    accounts: range,
    p_active: float,
    n_actions: tuple[int, int],
    weights: tuple[float, float, float, float],
    n_units: int = 20,
    hours: tuple[float, float] = (8.9, 17.6),
) -> None:
    """Organic office use: a session per active account, meaningful actions spread through
    the working day. weights: form_submit, action, appointment, read."""
    spec, rng = b.spec, b.rng
    kinds = ("form_submit", "action", "appointment", "read")
    for i in accounts:
        if rng.random() >= p_active:
            continue
        acc = spec.account(i)
        dev, model = phone_of(acc)
        unit = _unit_of(spec, i, n_units)
        net = _office_net(unit) if rng.random() < 0.8 else _mobile_net(rng)
        start = b.clock(hours[0], 25, 6.5, 12)
        end = max(start + 600, b.clock(hours[1], 35, 13, 23.5))
        common = {"unit": unit, "device": dev, "device_model": model, "network": net}
        b.emit("session_start", acc, start, **common)
        k = rng.randint(*n_actions)
        for t in sorted(rng.uniform(start + 30, end - 30) for _ in range(k)):
            kind = rng.choices(kinds, weights)[0]
            target = f"task-{rng.randrange(1, 400):04d}"
            extra: dict[str, Any] = {}
            if kind == "read":
                extra["duration_s"] = round(rng.uniform(20, 400), 1)
            if kind == "form_submit":
                extra["content_hash"] = hex_id(spec.id, b.day, i, t)
            b.emit(kind, acc, t, target=target, **common, **extra)
        b.emit("session_end", acc, end, **common)


# -- healthy apps ----------------------------------------------------------------------


def daily_work(b: DayBuilder) -> None:
    """A daily work app: most intended users, every workday, real work through the day."""
    p = 0.85 if b.workday else 0.07
    _office_workday(b, range(b.spec.users), p, (2, 8), (0.3, 0.55, 0.1, 0.05), n_units=25)


def seasonal_tax(b: DayBuilder) -> None:
    """Heavy use in its declared season, a trickle otherwise."""
    in_season = b.date.month in (b.spec.season_months or ())
    # (workday, weekend) activity shares, in and out of season
    p = ((0.7, 0.1) if in_season else (0.012, 0.0))[0 if b.workday else 1]
    _office_workday(b, range(b.spec.users), p, (1, 5), (0.6, 0.25, 0.05, 0.1), n_units=12)


def specialist_lab(b: DayBuilder) -> None:
    """A small specialist app: most of its few users use it daily, intensively."""
    p = 0.92 if b.workday else 0.45
    _office_workday(b, range(b.spec.users), p, (5, 15), (0.35, 0.6, 0.0, 0.05), n_units=3)


def meeting_hall(b: DayBuilder) -> None:
    """Legitimate crowds that look like rings to a careless detector: a 40-person meeting
    checking in over 10 minutes, the same colleagues clocking in at the office each
    morning (times vary day to day), friends arriving together. Each on their own phone."""
    spec, rng = b.spec, b.rng
    n = spec.users
    office, hall = spec.points[0], spec.points[1]
    staff = range(min(25, n))
    hall_wifi = _wifi(spec.id + "-hall")
    office_wifi = _wifi(spec.id + "-office")

    def checkin(i: int, t: float, pt: PointSpec, net: str, spread_m: float) -> str:
        acc = spec.account(i)
        dev, model = phone_of(acc)
        r, a = spread_m * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        lat, lon = offset_m(pt.lat, pt.lon, r * math.cos(a), r * math.sin(a))
        return b.emit(
            "checkin",
            acc,
            t,
            unit=_unit_of(spec, i, 8),
            device=dev,
            device_model=model,
            network=net,
            lat=lat,
            lon=lon,
            accuracy_m=round(rng.uniform(4, 25), 1),
            point=pt.id,
            photo_hash=hex_id("photo", spec.id, b.day, i, t, n=20),
        )

    if b.workday:
        for i in staff:
            if rng.random() < 0.9:
                # Arrival varies by tens of minutes from day to day: commuting, not a script.
                checkin(i, b.clock(8.55, 12, 7.8, 9.8), office, office_wifi, 25)
        _office_workday(b, staff, 0.9, (2, 5), (0.3, 0.6, 0.1, 0.0), n_units=8)
    if b.weekday in (1, 3) and n >= 65:
        start = 14.5 * 3600 - 600
        attendees = rng.sample(range(25, n), 40)
        for i in attendees:
            net = hall_wifi if rng.random() < 0.6 else _mobile_net(rng)
            checkin(i, start + rng.uniform(0, 600), hall, net, 35)
        for i in rng.sample(attendees, 15):
            acc = spec.account(i)
            dev, model = phone_of(acc)
            b.emit(
                "form_submit",
                acc,
                start + 600 + rng.uniform(3000, 5400),
                target="meeting-feedback",
                device=dev,
                device_model=model,
                content_hash=hex_id("fb", spec.id, b.day, i),
            )
    # Friends arriving together: small groups, own phones, tens of seconds apart.
    for _ in range(rng.randint(1, 4) if n > 30 else 0):
        t = b.uniform_h(9, 20)
        for j, i in enumerate(rng.sample(range(25, n), rng.randint(2, 4))):
            checkin(i, t + j * rng.uniform(5, 40), hall, _mobile_net(rng), 20)
    # Room bookings by other users.
    for i in range(25, n):
        if rng.random() < (0.04 if b.workday else 0.01):
            acc = spec.account(i)
            dev, model = phone_of(acc)
            b.emit(
                "appointment",
                acc,
                b.uniform_h(8, 19),
                target=f"room-{rng.randint(1, 6)}",
                device=dev,
                device_model=model,
                network=_mobile_net(rng),
            )


# -- forced usage and empty shells -----------------------------------------------------


def _ritual_burst(
    b: DayBuilder, acc: str, t: float, targets: list[tuple[str, str]], unit: str | None = None
) -> list[str]:
    """Open, check in, read and like old articles, close: a compliance tap, seconds long."""
    rng = b.rng
    dev, model = phone_of(acc)
    common = {"device": dev, "device_model": model, "network": _mobile_net(rng), "unit": unit}
    ids = [b.emit("session_start", acc, t, **common)]
    t += rng.uniform(0.5, 2)
    ids.append(b.emit("checkin", acc, t, **common))
    for target, chash in targets:
        t += rng.uniform(0.8, 2.5)
        ids.append(
            b.emit(
                "read",
                acc,
                t,
                target=target,
                content_hash=chash,
                duration_s=round(rng.uniform(1, 4), 1),
                **common,
            )
        )
        t += rng.uniform(0.3, 1.5)
        ids.append(b.emit("like", acc, t, target=target, **common))
    ids.append(b.emit("session_end", acc, t + rng.uniform(0.5, 2), **common))
    return ids


def _month_end(d: date, days: int = 3) -> bool:
    return (d + timedelta(days=days)).month != d.month


def empty_shell(b: DayBuilder) -> None:
    """An app nobody needs: a handful of real users whose use dies out (none in the last
    five weeks), the rest forced check-ins, reads and likes of articles not updated for
    months; check-ins surge at month end (rankings)."""
    spec, rng = b.spec, b.rng
    real = spec.params["real_users"]
    real_p = 0.25 if b.day < spec.params["real_until_day"] else 0.0
    for i in range(real):
        if b.workday and rng.random() < real_p:
            acc = spec.account(i)
            dev, model = phone_of(acc)
            for _ in range(rng.randint(1, 2)):
                b.emit(
                    "form_submit",
                    acc,
                    b.uniform_h(9, 17),
                    target="report",
                    device=dev,
                    device_model=model,
                    content_hash=hex_id(spec.id, b.day, i),
                )
    p = 0.16 if _month_end(b.date) else 0.05
    articles = [(f"art-old-{k:02d}", hex_id("article", spec.id, k)) for k in range(12)]
    ritual_ids: list[str] = []
    ritual_accounts: list[str] = []
    for i in range(real, spec.users):
        if rng.random() < p:
            acc = spec.account(i)
            t = b.clock(21.0, 50, 19.5, 23.9) if rng.random() < 0.7 else b.clock(8.0, 20)
            ritual_ids += _ritual_burst(b, acc, t, [rng.choice(articles)])
            ritual_accounts.append(acc)
    if ritual_ids:
        b.plant(
            "ritual_usage",
            ritual_ids,
            ritual_accounts,
            sessions=len(ritual_accounts),
            max_session_s=15,
        )


def risk_point_checkin(b: DayBuilder) -> None:
    """Daily photo check-ins at risk points. Organic ones are scattered; on some days each
    ring carrier checks in their 10+ accounts from one spot, seconds apart, on one network,
    phones of one cheap model and often the same photo."""
    spec, rng = b.spec, b.rng
    rings: list[list[int]] = spec.params["rings"]
    ring_accounts = {i for r in rings for i in r}
    organic = [i for i in range(spec.users) if i not in ring_accounts]
    p = 0.07 if b.workday else 0.02
    for i in organic:
        if rng.random() >= p:
            continue
        acc = spec.account(i)
        dev, model = phone_of(acc)
        pt = rng.choice(spec.points)
        r, a = rng.uniform(0, pt.radius_m * 0.8), rng.uniform(0, 2 * math.pi)
        lat, lon = offset_m(pt.lat, pt.lon, r * math.cos(a), r * math.sin(a))
        t = b.uniform_h(7.5, 18.5)
        b.emit(
            "checkin",
            acc,
            t,
            device=dev,
            device_model=model,
            network=_mobile_net(rng),
            lat=lat,
            lon=lon,
            accuracy_m=round(rng.uniform(5, 30), 1),
            point=pt.id,
            photo_hash=hex_id("photo", spec.id, b.day, i, n=20),
        )
        if rng.random() < 0.3:
            b.emit(
                "form_submit",
                acc,
                t + rng.uniform(60, 900),
                device=dev,
                device_model=model,
                target="risk-report",
                content_hash=hex_id("rr", spec.id, b.day, i),
            )
    for r, members in enumerate(rings):
        if not b.workday or unit_random(b.seed, spec.id, "ring-day", r, b.day) >= 0.3:
            continue
        pt = spec.points[r % len(spec.points)]
        start = b.clock(7.6 + r * 0.7, 20, 6.5, 10.5)
        plant_ring(b, pt, [spec.account(i) for i in members], start, carrier=f"ring-{r + 1}")


def plant_ring(
    b: DayBuilder | LiveBuilder, pt: PointSpec, accounts: list[str], start: float, carrier: str
) -> None:
    """One person checks in every account from one spot, 1-15 s apart."""
    rng = b.rng
    a = rng.uniform(0, 2 * math.pi)
    spot = offset_m(pt.lat, pt.lon, 20 * math.cos(a), 20 * math.sin(a))
    net = _mobile_net(rng)
    photo = hex_id("ring-photo", b.spec.id, carrier, start, n=20)
    t = start
    ids: list[str] = []
    gaps: list[float] = []
    spread = 0.0
    same_model = same_photo = 0
    for k, acc in enumerate(accounts):
        if k:
            gap = round(rng.uniform(1, 15), 1)
            gaps.append(gap)
            t += gap
        dev, model = phone_of(acc)
        if rng.random() < 0.7:
            model = RING_MODEL
        same_model += model == RING_MODEL
        # Phones held in two hands: within 7 m of the spot, so within ~14 m of each other.
        r, ang = rng.uniform(0, 7), rng.uniform(0, 2 * math.pi)
        lat, lon = offset_m(spot[0], spot[1], r * math.cos(ang), r * math.sin(ang))
        spread = max(spread, distance_m(spot[0], spot[1], lat, lon))
        ph = photo if rng.random() < 0.6 else hex_id("photo", b.spec.id, acc, t, n=20)
        same_photo += ph == photo
        ids.append(
            b.emit(
                "checkin",
                acc,
                t,
                device=dev,
                device_model=model,
                network=net,
                lat=lat,
                lon=lon,
                accuracy_m=round(rng.uniform(5, 15), 1),
                point=pt.id,
                photo_hash=ph,
            )
        )
    b.plant(
        "bulk_checkin",
        ids,
        accounts,
        point=pt.id,
        carrier=carrier,
        network=net,
        gaps_s=gaps,
        max_distance_from_spot_m=round(spread, 2),
        shared_model_share=round(same_model / len(accounts), 3),
        shared_photo_share=round(same_photo / len(accounts), 3),
    )


def deadline_reports(b: DayBuilder) -> None:
    """Units file reports because a work group said "due before 17:00": submissions pile
    into the last hour before five and the last days of the month."""
    spec, rng = b.spec, b.rng
    if not b.workday:
        return
    n_units = spec.params["units"]
    month_end = _month_end(b.date)
    ids: list[str] = []
    accs: list[str] = []
    last_hour = 0
    for u in range(n_units):
        due = rng.randint(3, 5) if month_end else (1 if rng.random() < 0.5 else 0)
        for _ in range(due):
            clerk = u * 3 + rng.randrange(3)
            if clerk >= spec.users:
                clerk %= spec.users
            acc = spec.account(clerk)
            dev, model = phone_of(acc)
            if rng.random() < 0.68:
                t = 17 * 3600 - 1 - min(rng.expovariate(1 / 900), 3599)
                last_hour += 1
            else:
                t = b.uniform_h(9, 16)
            unit = f"unit-{u + 1:03d}"
            b.emit(
                "session_start",
                acc,
                t - rng.uniform(60, 300),
                unit=unit,
                device=dev,
                device_model=model,
            )
            eid = b.emit(
                "form_submit",
                acc,
                t,
                unit=unit,
                device=dev,
                device_model=model,
                target=f"report-{rng.randrange(1, 30):02d}",
                content_hash=hex_id(spec.id, b.day, u, t),
            )
            ids.append(eid)
            accs.append(acc)
    if ids:
        b.plant(
            "deadline_concentration",
            ids,
            accs,
            forms=len(ids),
            forms_16_to_17=last_hour,
            forms_month_end=len(ids) if month_end else 0,
            deadline_local="17:00",
        )


def cadre_academy(b: DayBuilder) -> None:
    """Online study hours. Inflators play videos at 2-16x (allowed: 1.0-1.5), are credited
    more than the wall clock, run lessons in parallel, stop just past the 30-minute credit
    threshold, and surge towards the year-end ranking."""
    spec, rng = b.spec, b.rng
    threshold = spec.params["credit_threshold_s"]
    n_inflators = spec.params["inflators"]
    doy = b.date.timetuple().tm_yday
    surge = max(0.0, (doy - 300) / 65)  # from late October to 31 December
    ids: list[str] = []
    accs: list[str] = []
    max_rate = 0.0
    credited = wall = 0.0
    parallel = 0
    for i in range(spec.users):
        acc = spec.account(i)
        dev, model = phone_of(acc)
        if i < n_inflators:
            if rng.random() >= 0.08 + 0.6 * surge:
                continue
            t0 = b.clock(20.5, 60, 12, 23.2) if rng.random() < 0.7 else b.clock(12.3, 20)
            lessons = rng.randint(2, 4)
            parallel += lessons > 1
            for k in range(lessons):
                rate = rng.choice((2.0, 4.0, 8.0, 16.0))
                dur = threshold + round(rng.uniform(1, 90), 1)
                w = dur / rate
                s = t0 + k * rng.uniform(5, 60)  # lessons overlap: parallel tabs
                d = dev if k % 2 == 0 else f"pc-{hex_id(acc, n=10)}"
                course = f"course-{rng.randrange(1, 120):03d}"
                ids.append(
                    b.emit("session_start", acc, s, device=d, device_model=model, target=course)
                )
                ids.append(
                    b.emit(
                        "study",
                        acc,
                        s + w,
                        device=d,
                        device_model=model,
                        target=course,
                        duration_s=dur,
                        playback_rate=rate,
                        position_s=round(dur, 1),
                    )
                )
                ids.append(b.emit("session_end", acc, s + w + 1, device=d, target=course))
                max_rate = max(max_rate, rate)
                credited += dur
                wall += w
            accs.append(acc)
        elif rng.random() < 0.12 + 0.1 * surge:
            rate = rng.choice((1.0, 1.0, 1.25, 1.5))
            w = rng.uniform(600, 3000)
            s = b.clock(19.5, 70, 8, 22)
            course = f"course-{rng.randrange(1, 120):03d}"
            b.emit("session_start", acc, s, device=dev, device_model=model, target=course)
            b.emit(
                "study",
                acc,
                s + w,
                device=dev,
                device_model=model,
                target=course,
                duration_s=round(w, 1),
                playback_rate=rate,
                position_s=round(w * rate, 1),
            )
            end = s + w + 2
            if rng.random() < 0.5:  # a real learner sits the lesson's quiz
                end = s + w + rng.uniform(30, 600)
                b.emit(
                    "form_submit",
                    acc,
                    end,
                    device=dev,
                    device_model=model,
                    target=f"quiz:{course}",
                    content_hash=hex_id("quiz", spec.id, b.day, i),
                )
            b.emit("session_end", acc, end + 2, device=dev, target=course)
    if ids:
        b.plant(
            "study_inflation",
            ids,
            accs,
            allowed_rate=[1.0, 1.5],
            max_rate=max_rate,
            credit_threshold_s=threshold,
            credited_s=round(credited, 1),
            wall_s=round(wall, 1),
            accounts_parallel=parallel,
        )


#: Official accounts one official is told to open every day, in the order of the round
#: (the background's "~20 official accounts"): the party account and two added for it.
OA_ROUND = ("party-official-account", "tax-official-account", "legal-official-account")


def oa_round_visit(seed: int, acc: str, day: int, app: str) -> float | None:
    """When `acc` opens `app` in its daily round of official accounts (seconds after local
    midnight), or None on the rare day it skips the round. The same for every app of the
    round, whichever app's day is generated: drawn from (seed, account, day) alone."""
    r = random.Random(derive_seed(seed, "oa-round", acc, day))
    if r.random() >= 0.985:
        return None
    if r.random() < 0.6:
        t = min(max(r.gauss(8.2 * 3600, 40 * 60), 6.5 * 3600), 23 * 3600)
    else:
        t = min(max(r.gauss(16.6 * 3600, 15 * 60), 12 * 3600), 23 * 3600)
    for name in OA_ROUND:  # one after another, 20-120 s apart
        if name == app:
            return t
        t += r.uniform(20, 120)
    raise ValueError(f"{app} is not in the round")


def _ritual_read(
    b: DayBuilder, acc: str, t: float, articles: list[tuple[str, str]]
) -> list[str]:
    """Open, read and like every article in a second or two each, close."""
    rng = b.rng
    dev, model = phone_of(acc)
    common = {"device": dev, "device_model": model}
    ids = [b.emit("session_start", acc, t, **common)]
    for target, chash in articles:
        t += rng.uniform(0.8, 1.8)
        ids.append(
            b.emit("read", acc, t, target=target, content_hash=chash,
                   duration_s=round(rng.uniform(0.5, 2), 1), **common)
        )
        t += rng.uniform(0.2, 0.8)
        ids.append(b.emit("like", acc, t, target=target, **common))
    ids.append(b.emit("session_end", acc, t + rng.uniform(0.3, 1), **common))
    return ids


def _plant_oa_ritual(b: DayBuilder, ids: list[str], accs: list[str], articles: int) -> None:
    if ids:
        b.plant("flat_reads", ids, accs, articles=articles, ritual_reads=len(accs),
                max_session_s=10)
        b.plant("ritual_usage", ids, accs, sessions=len(accs), max_session_s=10)
        b.plant("ritual_rounds", ids, accs, apps=list(OA_ROUND), sessions=len(accs))


def party_official_account(b: DayBuilder) -> None:
    """Every article gets read and liked by nearly every member, whatever it says, in
    sessions under ten seconds, as part of a daily round of official accounts: the numbers
    look good, nobody reads."""
    spec, rng = b.spec, b.rng
    n_articles = 2 + (b.day % 3 == 0)
    articles = [(f"art-{b.day}-{k}", hex_id("article", spec.id, b.day, k)) for k in range(3)]
    articles = articles[:n_articles]
    n_ritual = spec.params["ritual_readers"]
    ids: list[str] = []
    accs: list[str] = []
    for i in range(spec.users):
        acc = spec.account(i)
        dev, model = phone_of(acc)
        if i < n_ritual:
            t = oa_round_visit(b.seed, acc, b.day, spec.id)
            if t is not None:
                ids += _ritual_read(b, acc, t, articles)
                accs.append(acc)
        elif rng.random() < 0.3:
            target, chash = rng.choice(articles)
            t = b.uniform_h(7, 23)
            dur = rng.uniform(60, 420)
            b.emit("session_start", acc, t, device=dev, device_model=model)
            b.emit(
                "read",
                acc,
                t + 2,
                target=target,
                content_hash=chash,
                duration_s=round(dur, 1),
                device=dev,
                device_model=model,
            )
            b.emit("session_end", acc, t + dur + 3, device=dev, device_model=model)
    _plant_oa_ritual(b, ids, accs, len(articles))


def official_account_round(b: DayBuilder) -> None:
    """Another department's official account in the same daily round: the party account's
    ritual readers open today's post seconds after the party's (`round_readers` accounts
    from `round_base`), while its own users come for its services (an application form)
    and read now and then."""
    spec, rng = b.spec, b.rng
    post = [(f"post-{b.day}", hex_id("post", spec.id, b.day))]
    ids: list[str] = []
    accs: list[str] = []
    for i in range(spec.params["round_readers"]):
        acc = f"u{(spec.params['round_base'] + i) % ACCOUNT_POOL:06d}"
        t = oa_round_visit(b.seed, acc, b.day, spec.id)
        if t is not None:
            ids += _ritual_read(b, acc, t, post)
            accs.append(acc)
    for i in range(spec.users):
        acc = spec.account(i)
        dev, model = phone_of(acc)
        if b.workday and rng.random() < 0.1:
            t = b.uniform_h(8.5, 17.5)
            b.emit("session_start", acc, t, device=dev, device_model=model)
            b.emit("form_submit", acc, t + rng.uniform(30, 300), target="service-application",
                   content_hash=hex_id("service", spec.id, b.day, i), device=dev,
                   device_model=model)
        elif rng.random() < 0.1:
            t = b.uniform_h(7, 22)
            b.emit("read", acc, t, target=post[0][0], content_hash=post[0][1],
                   duration_s=round(rng.uniform(60, 400), 1), device=dev, device_model=model)
    _plant_oa_ritual(b, ids, accs, 1)


def township_appointments(b: DayBuilder) -> None:
    """Staff book appointments with the leader sitting across the desk (approved from the
    same spot and network within a minute or two), each at the same minute every day."""
    spec, rng = b.spec, b.rng
    if not b.workday:
        return
    office = spec.points[0]
    wifi = _wifi(spec.id + "-office")
    leaders = [spec.account(spec.users + k) for k in range(3)]
    n_ritual = spec.params["ritual_staff"]
    ritual_ids: list[str] = []
    first_ids: list[str] = []
    accs: list[str] = []
    minutes: dict[str, int] = {}
    for i in range(n_ritual):
        if rng.random() >= 0.92:
            continue
        acc = spec.account(i)
        dev, model = phone_of(acc)
        minute = 8 * 60 + 20 + int(unit_random(b.seed, spec.id, "minute", i) * 50)
        minutes[acc] = minute
        t = minute * 60 + rng.uniform(0, 15)
        leader = leaders[i % len(leaders)]
        r, a = rng.uniform(0, 4), rng.uniform(0, 2 * math.pi)
        lat, lon = offset_m(office.lat, office.lon, r * math.cos(a), r * math.sin(a))
        common = {"network": wifi, "lat": lat, "lon": lon, "accuracy_m": 8.0}
        s = b.emit("session_start", acc, t, device=dev, device_model=model, **common)
        ap = b.emit(
            "appointment",
            acc,
            t + rng.uniform(8, 35),
            device=dev,
            device_model=model,
            target=f"leader:{leader}",
            **common,
        )
        ldev, lmodel = phone_of(leader)
        ok = b.emit(
            "action",
            leader,
            b.time_of(ap) - b.midnight + rng.uniform(20, 90),
            device=ldev,
            device_model=lmodel,
            target=f"approve:{ap}",
            **common,
        )
        ritual_ids += [s, ap, ok]
        first_ids.append(s)
        accs.append(acc)
    for i in range(n_ritual, spec.users):
        if rng.random() < 0.05:
            acc = spec.account(i)
            dev, model = phone_of(acc)
            t = b.uniform_h(7, 21)
            leader = rng.choice(leaders)
            ap = b.emit(
                "appointment",
                acc,
                t,
                device=dev,
                device_model=model,
                network=_mobile_net(rng),
                target=f"leader:{leader}",
            )
            ldev, lmodel = phone_of(leader)
            b.emit(
                "action",
                leader,
                min(t + rng.uniform(3600, 6 * 3600), DAY_S - 1),
                device=ldev,
                device_model=lmodel,
                network=wifi,
                target=f"approve:{ap}",
            )
    if accs:
        b.plant(
            "ritual_usage",
            ritual_ids,
            accs,
            appointments=len(accs),
            approved_within_s=125,
            same_network_as_leader=True,
        )
        b.plant(
            "clockwork_timing",
            first_ids,
            accs,
            first_action_minute={a: f"{m // 60:02d}:{m % 60:02d}" for a, m in minutes.items()},
        )


DUPLICATE_APPS = ("duplicate-forms-a", "duplicate-forms-b", "duplicate-forms-c")


def duplicate_forms(b: DayBuilder) -> None:
    """The same unit re-reports the same item (same content hash) to 2-3 of these apps in
    one region, hours apart; plus each app's own distinct forms."""
    spec, rng = b.spec, b.rng
    if not b.workday:
        return
    n_units = spec.params["units"]
    shared = random.Random(derive_seed(b.seed, "duplicate-group", b.day))
    for g in range(shared.randint(2, 5)):
        unit_i = shared.randrange(n_units)
        apps = shared.sample(DUPLICATE_APPS, shared.randint(2, 3))
        first = shared.uniform(9 * 3600, 14 * 3600)
        offsets = {
            a: (0.0 if k == 0 else shared.uniform(300, 3 * 3600)) for k, a in enumerate(apps)
        }
        chash = hex_id("activity", b.seed, b.day, g, n=24)
        if spec.id not in apps:
            continue
        clerk = _clerk(unit_i)
        dev, model = phone_of(clerk)
        unit = f"town-{unit_i + 1:02d}"
        t = first + offsets[spec.id]
        b.emit(
            "session_start",
            clerk,
            t - rng.uniform(60, 240),
            unit=unit,
            device=dev,
            device_model=model,
        )
        eid = b.emit(
            "form_submit",
            clerk,
            t,
            unit=unit,
            device=dev,
            device_model=model,
            target="activity-report",
            content_hash=chash,
        )
        b.plant(
            "duplicate_reporting", [eid], [clerk], content_hash=chash, unit=unit, apps=sorted(apps)
        )
    for _ in range(rng.randint(3, 10)):
        unit_i = rng.randrange(n_units)
        clerk = _clerk(unit_i)
        dev, model = phone_of(clerk)
        b.emit(
            "form_submit",
            clerk,
            b.uniform_h(9, 17.5),
            unit=f"town-{unit_i + 1:02d}",
            device=dev,
            device_model=model,
            target="own-form",
            content_hash=hex_id("own", spec.id, b.day, rng.random(), n=24),
        )


def _clerk(unit_i: int) -> str:
    # One clerk per unit, the same raw account in every app of the region.
    return f"u{(40_000 + unit_i) % ACCOUNT_POOL:06d}"


def device_farm(b: DayBuilder) -> None:
    """Organic use on own phones, plus farm phones: one device logs in to account after
    account, taps the required check-in, read and like, logs out."""
    spec, rng = b.spec, b.rng
    farm_pool: list[int] = spec.params["farm_accounts"]
    farm_set = set(farm_pool)
    for i in range(spec.users):
        if i in farm_set or rng.random() >= (0.12 if b.workday else 0.04):
            continue
        acc = spec.account(i)
        dev, model = phone_of(acc)
        t = b.uniform_h(8, 21)
        b.emit("checkin", acc, t, device=dev, device_model=model, network=_mobile_net(rng))
        if rng.random() < 0.6:
            b.emit(
                "action",
                acc,
                t + rng.uniform(30, 1800),
                device=dev,
                device_model=model,
                target=f"task-{rng.randrange(100)}",
            )
    for k in range(3):
        if unit_random(b.seed, spec.id, "farm-day", k, b.day) >= 0.5:
            continue
        device = f"farm-{hex_id(spec.id, 'farm', k, n=10)}"
        net = _wifi(f"{spec.id}-farm-{k}")
        members = rng.sample(farm_pool, min(len(farm_pool), rng.randint(15, 30)))
        t = b.clock(19 + k, 30, 12, 22.5)
        ids: list[str] = []
        accs: list[str] = []
        for i in members:
            acc = spec.account(i)
            ids.append(
                b.emit("session_start", acc, t, device=device, device_model=FARM_MODEL, network=net)
            )
            t += rng.uniform(3, 8)
            ids.append(
                b.emit("checkin", acc, t, device=device, device_model=FARM_MODEL, network=net)
            )
            t += rng.uniform(2, 6)
            ids.append(
                b.emit(
                    "read",
                    acc,
                    t,
                    device=device,
                    device_model=FARM_MODEL,
                    network=net,
                    target="notice-board",
                    duration_s=2.0,
                )
            )
            t += rng.uniform(1, 3)
            ids.append(
                b.emit(
                    "like",
                    acc,
                    t,
                    device=device,
                    device_model=FARM_MODEL,
                    network=net,
                    target="notice-board",
                )
            )
            t += rng.uniform(1, 4)
            ids.append(b.emit("session_end", acc, t, device=device, network=net))
            t += rng.uniform(10, 40)  # log out, log in as the next account
            accs.append(acc)
        b.plant("device_farm", ids, accs, device=device, accounts_on_device=len(accs))


def emergency_duty(b: DayBuilder) -> None:
    """An exempt emergency app: duty staff check in at their posts at shift change."""
    spec, rng = b.spec, b.rng
    on_duty = rng.sample(range(spec.users), min(spec.users, 8))
    for i in on_duty:
        acc = spec.account(i)
        dev, model = phone_of(acc)
        pt = spec.points[i % len(spec.points)]
        for hour in (8.0, 20.0):
            lat, lon = offset_m(pt.lat, pt.lon, rng.uniform(-20, 20), rng.uniform(-20, 20))
            b.emit(
                "checkin",
                acc,
                b.clock(hour, 8),
                device=dev,
                device_model=model,
                lat=lat,
                lon=lon,
                accuracy_m=round(rng.uniform(5, 20), 1),
                point=pt.id,
            )
        if rng.random() < 0.3:
            b.emit(
                "form_submit",
                acc,
                b.uniform_h(8.5, 19.5),
                device=dev,
                device_model=model,
                target="incident",
                content_hash=hex_id("incident", spec.id, b.day, i),
            )


def pilot_launch(b: DayBuilder) -> None:
    """A pilot launched days ago: real use, but too little history to judge."""
    if b.date < b.spec.launched:
        return
    p = 0.5 if b.workday else 0.05
    _office_workday(b, range(b.spec.users), p, (1, 4), (0.4, 0.5, 0.05, 0.05), n_units=5)


def load_healthy(b: DayBuilder) -> None:
    """A generic healthy app for load tests and fault apps."""
    p = 0.7 if b.workday else 0.06
    _office_workday(b, range(b.spec.users), p, (2, 6), (0.3, 0.55, 0.1, 0.05), n_units=10)


def load_empty(b: DayBuilder) -> None:
    """A generic empty shell for load tests: a trickle of real use that stopped five weeks
    ago, and forced taps."""
    spec, rng = b.spec, b.rng
    articles = [(f"art-old-{k:02d}", hex_id("article", spec.id, k)) for k in range(5)]
    for i in range(spec.users):
        r = rng.random()
        if i < 3 and b.workday and r < 0.3 and b.day < spec.params["real_until_day"]:
            acc = spec.account(i)
            b.emit("action", acc, b.uniform_h(9, 17), target="report")
        elif i >= 3 and r < 0.04:
            _ritual_burst(b, spec.account(i), b.clock(21, 40, 19, 23.9), [rng.choice(articles)])


Behaviour = Callable[[DayBuilder], None]

BEHAVIOURS: dict[str, Behaviour] = {
    "daily_work": daily_work,
    "seasonal_tax": seasonal_tax,
    "specialist_lab": specialist_lab,
    "meeting_hall": meeting_hall,
    "empty_shell": empty_shell,
    "risk_point_checkin": risk_point_checkin,
    "deadline_reports": deadline_reports,
    "cadre_academy": cadre_academy,
    "party_official_account": party_official_account,
    "official_account_round": official_account_round,
    "township_appointments": township_appointments,
    "duplicate_forms": duplicate_forms,
    "device_farm": device_farm,
    "emergency_duty": emergency_duty,
    "pilot_launch": pilot_launch,
    "load_healthy": load_healthy,
    "load_empty": load_empty,
}


def generate_day(spec: AppSpec, seed: int, day: int) -> DayBatch:
    """All events of one app on one local day, sorted by (ts, id), with its plants."""
    b = DayBuilder(spec, seed, day)
    if day >= day_of_date(spec.launched):
        BEHAVIOURS[spec.behaviour](b)
    return b.batch()


class LiveBuilder:
    """Builds events planted on demand at the current simulated time (POST /admin/plant).

    Same interface as DayBuilder for `plant_ring`; ids are `live-<n>-<k>`, times are
    absolute and end at or before `now`, so they are never in the future.
    """

    def __init__(self, spec: AppSpec, seed: int, n: int, now: float) -> None:
        self.spec = spec
        self.rng = random.Random(derive_seed(seed, spec.id, "live", n))
        self.n = n
        self.now = now
        self.rows: list[tuple[float, str, dict[str, Any]]] = []
        self.plants: list[Plant] = []
        self.day = local_day(now)
        self.midnight = midnight(self.day)

    def emit(self, etype: str, account: str, sod: float, **fields: Any) -> str:
        eid = f"live-{self.n:04d}-{len(self.rows):03d}"
        t = self.midnight + sod
        ts: str | float = (
            round(t, 3)
            if self.spec.ts_format == "epoch"
            else rfc3339(t, millis=self.spec.ts_format == "rfc3339_ms")
        )
        ev: dict[str, Any] = {"id": eid, "ts": ts, "type": etype, "account": account}
        ev.update({k: v for k, v in fields.items() if v is not None})
        self.rows.append((t, eid, ev))
        return eid

    def plant(self, kind: str, ids: list[str], accounts: list[str], **detail: Any) -> None:
        wanted = set(ids)
        ts = [r[0] for r in self.rows if r[1] in wanted]
        self.plants.append(
            Plant(kind, list(ids), sorted(set(accounts)), (min(ts), max(ts)), detail)
        )
