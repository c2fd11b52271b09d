"""The simulated fleet: app specs, the simulated clock, the bounded day cache, cursor
paging, usage snapshots, ground truth and the registry the daemon reads."""

from __future__ import annotations

import base64
import binascii
import bisect
import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import msgspec

from tapwatch.simulator.faults import BLOCKING_MODES, FaultMode, parse_fault, render_event
from tapwatch.simulator.scenarios import (
    CENTRE,
    DAY_S,
    DUPLICATE_APPS,
    AppSpec,
    LiveBuilder,
    Plant,
    PointSpec,
    day_date,
    day_of_date,
    derive_seed,
    generate_day,
    hex_id,
    local_day,
    midnight,
    offset_m,
    plant_ring,
    rfc3339,
)

ALL_KINDS = (
    "shutdown",
    "bulk_checkin",
    "deadline_concentration",
    "ritual_usage",
    "clockwork_timing",
    "study_inflation",
    "device_farm",
    "flat_reads",
    "duplicate_reporting",
    "banned_feature",
    "ritual_rounds",
    "consolidation",
)
#: Kinds planted as one app-wide pattern (merged over days in the ground truth); the
#: others are discrete occurrences listed one by one.
AGGREGATE_KINDS = frozenset(
    {
        "deadline_concentration",
        "ritual_usage",
        "clockwork_timing",
        "study_inflation",
        "flat_reads",
        "ritual_rounds",
    }
)
#: Features the 2026 measures ban (unless the app is exempt).
BANNED_FEATURES = ("checkin", "points_ranking", "online_duration")
_SUM_KEYS = frozenset(
    {
        "sessions",
        "forms",
        "forms_16_to_17",
        "forms_month_end",
        "credited_s",
        "wall_s",
        "accounts_parallel",
        "appointments",
        "ritual_reads",
        "events",
        "articles",
    }
)
AGGREGATE_IDS_MAX = 500
REGION = "Demo District"


@dataclass(slots=True)
class SimulatorOptions:
    """Options of `tapwatch simulate` and of the Simulator used by tests and benchmarks."""

    seed: int = 1
    history_days: int = 100
    #: 0 = all history at once, then real time; S > 0 = the clock starts `history_days`
    #: ago and runs S times faster until it reaches real time, then 1x.
    speed: float = 0.0
    #: multiplies user counts (and so event volume)
    scale: float = 1.0
    #: extra generic apps (`load-00001`...) for load tests: 3 healthy for 1 empty shell
    extra_apps: int = 0
    #: app id -> fault mode; unknown ids of the form `fault-<mode>` add a generic app
    faults: dict[str, str] = field(default_factory=dict)
    token: str | None = None
    #: only these app ids (default: all)
    include: list[str] | None = None
    #: how long a `slow` app waits before answering (more than the registry timeout)
    slow_delay_s: float = 30.0
    #: body size of a `huge` app
    huge_bytes: int = 50 * 1024 * 1024
    #: bound on events held rendered in memory (about 300 bytes each)
    cache_events: int = 500_000
    #: poll interval and timeout written to the registry
    poll_interval: str = "30s"
    poll_timeout: str = "10s"


class SimClock:
    """Simulated time. speed 0: the real clock. speed S: starts `history_days` before the
    real time it was created at, runs S times as fast, and never passes the real clock."""

    def __init__(
        self, history_days: int, speed: float, real: Callable[[], float] = time.time
    ) -> None:
        self._real = real
        self.t0 = real()
        self.start = self.t0 - history_days * DAY_S
        self.speed = speed

    def now(self) -> float:
        r = self._real()
        if self.speed <= 0:
            return r
        return min(r, self.start + self.speed * (r - self.t0))


@dataclass(slots=True)
class RenderedDay:
    """One app-day as served: times ascending and pre-encoded JSON bodies."""

    times: list[float]
    bodies: list[bytes]
    first_seen: dict[str, float]  # account -> time of its first event that day

    def __len__(self) -> int:
        return len(self.times)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a client is: generated stream (day, offset) and planted-live index."""

    day: int
    off: int
    live: int


class BadCursor(ValueError):
    pass


@dataclass(slots=True)
class PageResult:
    bodies: list[bytes]
    next: Position
    has_more: bool


# -- the fixed fleet -------------------------------------------------------------------


def _points(
    prefix: str, n: int, spacing_m: float, north0: float, east0: float, radius_m: float = 50.0
) -> tuple[PointSpec, ...]:
    out = []
    for k in range(n):
        lat, lon = offset_m(
            CENTRE[0], CENTRE[1], north0 + (k // 3) * spacing_m, east0 + (k % 3) * spacing_m
        )
        out.append(PointSpec(f"{prefix}-{k + 1:02d}", lat, lon, radius_m))
    return tuple(out)


def _season(today: date) -> tuple[int, ...]:
    """The two full months before the current one: visible in 100 days of history, and the
    app is off-season (nearly idle) now."""
    m = today.month
    return tuple(sorted(((m - 3) % 12 + 1, (m - 2) % 12 + 1)))


def _users(intended: int, scale: float, floor: int) -> int:
    return max(floor, round(intended * scale))


def build_fleet(opts: SimulatorOptions, today: date) -> list[AppSpec]:
    """Every simulated app, in a fixed order: the named scenarios, extra load apps, then
    fault apps that do not name an existing app."""
    s, seed = opts.scale, opts.seed
    everything_silent = tuple(k for k in ALL_KINDS if k != "shutdown")

    def spec(**kw: Any) -> AppSpec:
        kw.setdefault("region", REGION)
        a = AppSpec(**kw)
        a.account_base = derive_seed(seed, "accounts", a.id) % 40_000
        if not a.registered_accounts:
            a.registered_accounts = round(a.users * 1.05)
        if not a.usage_features:
            a.usage_features = a.declared_features
        return a

    apps = [
        spec(
            id="daily-work",
            name="District daily work",
            owner="District Government Office",
            category="office-work",
            launched=date(2021, 3, 1),
            annual_cost_cny=380_000,
            intended_users=300,
            declared_features=("forms", "appointment", "messaging"),
            behaviour="daily_work",
            expected_band="keep",
            silent_kinds=everything_silent,
            users=_users(300, s, 20),
            release_age_days=12,
            content_age_days=1,
        ),
        spec(
            id="seasonal-tax",
            name="Small-business tax filing",
            owner="District Taxation Bureau",
            category="tax",
            launched=date(2020, 1, 15),
            annual_cost_cny=260_000,
            intended_users=150,
            declared_features=("forms",),
            behaviour="seasonal_tax",
            expected_band="keep",
            silent_kinds=everything_silent,
            season_months=_season(today),
            users=_users(150, s, 20),
            release_age_days=70,
            content_age_days=40,
            ts_format="rfc3339_ms",
        ),
        spec(
            id="specialist-lab",
            name="Food-safety lab sample tracking",
            owner="District Market Supervision Bureau",
            category="lab",
            launched=date(2022, 9, 1),
            annual_cost_cny=150_000,
            intended_users=40,
            declared_features=("forms", "messaging"),
            behaviour="specialist_lab",
            expected_band="keep",
            silent_kinds=everything_silent,
            users=_users(40, s, 10),
            release_age_days=25,
            content_age_days=3,
        ),
        spec(
            id="meeting-hall",
            name="Civic centre meetings and rooms",
            owner="District Government Office",
            category="meetings",
            launched=date(2021, 6, 1),
            annual_cost_cny=200_000,
            intended_users=250,
            declared_features=("appointment", "forms", "messaging"),
            behaviour="meeting_hall",
            expected_band="keep",
            # staff clock in at the office every morning and attendees sign in at meetings:
            # a check-in feature the registry does not declare, banned by the 2026 Measures
            # (only security and emergency apps are excepted)
            undeclared_features=("checkin",),
            silent_kinds=(
                "bulk_checkin",
                "device_farm",
                "clockwork_timing",
                "ritual_usage",
                "study_inflation",
                "flat_reads",
                "duplicate_reporting",
                "deadline_concentration",
            ),
            points=(
                PointSpec("office-a", *offset_m(*CENTRE, -800, 300), 60),
                PointSpec("hall-main", *offset_m(*CENTRE, -400, -900), 80),
            ),
            users=_users(250, s, 70),
            release_age_days=40,
            content_age_days=5,
        ),
        spec(
            id="empty-shell",
            name="Grid-member daily learning and points",
            owner="District Grid Management Centre",
            category="grid-management",
            launched=date(2022, 2, 20),
            annual_cost_cny=820_000,
            intended_users=2000,
            declared_features=("checkin", "points_ranking", "articles"),
            behaviour="empty_shell",
            expected_band="candidate",
            silent_kinds=(
                "bulk_checkin",
                "study_inflation",
                "device_farm",
                "duplicate_reporting",
                "clockwork_timing",
            ),
            registered_accounts=round(1850 * s) or 1,
            users=_users(2000, s, 60),
            release_age_days=400,
            content_age_days=190,
            params={"real_users": 15, "real_until_day": day_of_date(today) - 35},
        ),
        spec(
            id="risk-point-checkin",
            name="District risk-point check-in",
            owner="District Party Committee Organisation Dept",
            category="party-affairs",
            launched=date(2022, 5, 1),
            annual_cost_cny=450_000,
            intended_users=1200,
            declared_features=("checkin", "photo_upload", "points_ranking"),
            behaviour="risk_point_checkin",
            expected_band="keep",
            silent_kinds=(
                "study_inflation",
                "flat_reads",
                "duplicate_reporting",
                "deadline_concentration",
            ),
            points=_points("rp", 6, 600, 900, 500),
            users=_users(1200, s, 80),
            release_age_days=60,
            content_age_days=20,
        ),
        spec(
            id="deadline-reports",
            name="Township work-report collection",
            owner="District Party and Government Office",
            category="reporting",
            launched=date(2021, 11, 1),
            annual_cost_cny=300_000,
            intended_users=400,
            declared_features=("forms",),
            behaviour="deadline_reports",
            expected_band="keep",
            silent_kinds=(
                "bulk_checkin",
                "study_inflation",
                "device_farm",
                "flat_reads",
                "banned_feature",
            ),
            users=_users(400, s, 30),
            release_age_days=90,
            content_age_days=10,
            params={"units": max(8, round(40 * s))},
        ),
        spec(
            id="cadre-academy",
            name="Online cadre academy",
            owner="District Party School",
            category="training",
            launched=date(2019, 9, 1),
            annual_cost_cny=1_100_000,
            intended_users=800,
            declared_features=("study", "online_duration", "points_ranking"),
            behaviour="cadre_academy",
            expected_band="keep",
            silent_kinds=(
                "bulk_checkin",
                "device_farm",
                "flat_reads",
                "duplicate_reporting",
                "deadline_concentration",
            ),
            users=_users(800, s, 40),
            release_age_days=150,
            content_age_days=30,
            ts_format="epoch",
            params={
                "credit_threshold_s": 1800,
                "inflators": max(10, round(0.55 * _users(800, s, 40))),
            },
        ),
        spec(
            id="party-official-account",
            name="District Party-building official account",
            owner="District Party Committee Propaganda Dept",
            category="party-publicity",
            launched=date(2018, 7, 1),
            annual_cost_cny=180_000,
            intended_users=300,
            declared_features=("articles", "messaging"),
            behaviour="party_official_account",
            # No organic use (every read is ritual or casual, no work is done in it) at
            # 180k CNY a year: an empty shell by reach and cost alone (calibrated on the
            # background's cases, docs/detectors.md), though it is posted to daily.
            expected_band="candidate",
            silent_kinds=(
                "bulk_checkin",
                "study_inflation",
                "device_farm",
                "duplicate_reporting",
                "banned_feature",
            ),
            users=_users(300, s, 30),
            release_age_days=200,
            content_age_days=0.3,
            reports_active=False,
            params={"ritual_readers": round(0.92 * _users(300, s, 30))},
        ),
        *(
            spec(
                id=f"{dept}-official-account",
                name=f"District {name} official account",
                owner=f"District {name}",
                category=f"{dept}-publicity",
                launched=date(2019, 3, 1),
                annual_cost_cny=cost,
                intended_users=150,
                declared_features=("articles", "forms"),
                behaviour="official_account_round",
                expected_band="keep",
                silent_kinds=(
                    "bulk_checkin",
                    "study_inflation",
                    "device_farm",
                    "duplicate_reporting",
                    "banned_feature",
                    "deadline_concentration",
                    "consolidation",
                ),
                users=_users(100, s, 20),
                release_age_days=60,
                content_age_days=0.5,
            )
            for dept, name, cost in (
                ("tax", "Taxation Bureau", 30_000),
                ("legal", "Justice Bureau", 25_000),
            )
        ),
        spec(
            id="township-appointments",
            name="Township leader appointments",
            owner="Qingshan Township Government",
            category="appointments",
            launched=date(2023, 3, 1),
            annual_cost_cny=120_000,
            intended_users=120,
            declared_features=("appointment", "forms"),
            behaviour="township_appointments",
            expected_band="keep",
            silent_kinds=(
                "bulk_checkin",
                "study_inflation",
                "device_farm",
                "flat_reads",
                "duplicate_reporting",
                "banned_feature",
            ),
            points=(PointSpec("township-office", *offset_m(*CENTRE, 2500, -1800), 40),),
            users=_users(120, s, 40),
            release_age_days=220,
            content_age_days=60,
            params={"ritual_staff": max(10, round(30 * s))},
        ),
    ]
    dup_common: dict[str, Any] = {
        "category": "culture-events",
        "declared_features": ("forms",),
        "behaviour": "duplicate_forms",
        "expected_band": "keep",
        "silent_kinds": (
            "bulk_checkin",
            "study_inflation",
            "device_farm",
            "flat_reads",
            "banned_feature",
            "clockwork_timing",
        ),
        "include_app_field": True,
        "release_age_days": 80,
        "content_age_days": 15,
    }
    for suffix, name, owner, cost in (
        ("a", "Cultural activity filing", "District Propaganda Dept", 160_000),
        (
            "b",
            "Culture and tourism activity reports",
            "District Culture and Tourism Bureau",
            210_000,
        ),
        ("c", "Township event approvals", "District Civil Affairs Bureau", 90_000),
    ):
        apps.append(
            spec(
                id=f"duplicate-forms-{suffix}",
                name=name,
                owner=owner,
                launched=date(2022, 4, 1),
                annual_cost_cny=cost,
                intended_users=150,
                users=_users(150, s, 25),
                params={"units": 25},
                **dup_common,
            )
        )
    apps += [
        spec(
            id="device-farm",
            name="Village affairs check-in",
            owner="District Agriculture and Rural Affairs Bureau",
            category="village-affairs",
            launched=date(2022, 8, 1),
            annual_cost_cny=350_000,
            intended_users=600,
            declared_features=("checkin", "articles"),
            behaviour="device_farm",
            expected_band="keep",
            silent_kinds=("study_inflation", "duplicate_reporting", "deadline_concentration"),
            users=_users(600, s, 80),
            ts_format="epoch",
            release_age_days=120,
            content_age_days=30,
            params={"farm_accounts": list(range(max(30, round(60 * s))))},
        ),
        spec(
            id="emergency-duty",
            name="Flood-season emergency duty",
            owner="District Emergency Management Bureau",
            category="emergency",
            launched=date(2020, 5, 1),
            annual_cost_cny=500_000,
            intended_users=60,
            declared_features=("checkin", "gps_upload", "messaging"),
            behaviour="emergency_duty",
            expected_band="exempt",
            exempt=True,
            silent_kinds=(
                "bulk_checkin",
                "device_farm",
                "study_inflation",
                "flat_reads",
                "duplicate_reporting",
                "banned_feature",
            ),
            points=_points("post", 3, 1500, -2000, -2000, 100),
            users=_users(60, s, 12),
            release_age_days=45,
            content_age_days=7,
        ),
        spec(
            id="pilot-launch",
            name="Community services pilot",
            owner="District Civil Affairs Bureau",
            category="community-services",
            launched=today - timedelta(days=5),
            annual_cost_cny=100_000,
            intended_users=200,
            declared_features=("forms", "appointment"),
            behaviour="pilot_launch",
            expected_band="insufficient_data",
            silent_kinds=everything_silent,
            users=_users(200, s, 20),
            release_age_days=5,
            content_age_days=1,
        ),
    ]
    party = next(a for a in apps if a.id == "party-official-account")
    for a in apps:
        if a.id == "risk-point-checkin":
            a.params["rings"] = _rings(seed, a.users)
        if a.behaviour == "official_account_round":
            # the party account's ritual readers take this account in the same round
            a.params["round_base"] = party.account_base
            a.params["round_readers"] = party.params["ritual_readers"]
    for k in range(1, opts.extra_apps + 1):
        empty = k % 4 == 0
        intended = 30 + derive_seed(seed, "load", k) % 570
        apps.append(
            spec(
                id=f"load-{k:05d}",
                name=f"Load test app {k:05d}",
                owner="Load Test Unit",
                region="Load Region",
                category=f"load-{k % 50:02d}",
                launched=date(2022, 1, 1),
                annual_cost_cny=100_000,
                intended_users=intended * (5 if empty else 1),
                declared_features=("checkin", "articles") if empty else ("forms",),
                behaviour="load_empty" if empty else "load_healthy",
                expected_band="candidate" if empty else "keep",
                users=_users(intended, s, 10),
                release_age_days=500 if empty else 20,
                content_age_days=300 if empty else 2,
                params={"real_until_day": day_of_date(today) - 35},
            )
        )
    known = {a.id for a in apps}
    faults = {fault_app_id(k): v for k, v in opts.faults.items()}
    for app_id, mode_name in faults.items():
        mode = parse_fault(mode_name)
        if app_id not in known:
            if not app_id.startswith("fault-"):
                raise ValueError(
                    f"fault for unknown app {app_id!r} (extra fault apps are named fault-<mode>)"
                )
            apps.append(
                spec(
                    id=app_id,
                    name=f"Fault app ({mode.value})",
                    owner="Collector Test Unit",
                    region="Test Region",
                    category=f"fault-{mode.value}",
                    launched=date(2022, 1, 1),
                    annual_cost_cny=0,
                    intended_users=40,
                    declared_features=("forms",),
                    behaviour="load_healthy",
                    expected_band="keep",
                    users=_users(40, s, 10),
                    release_age_days=20,
                    content_age_days=2,
                )
            )
            known.add(app_id)
    history_start = today - timedelta(days=opts.history_days)
    for a in apps:
        if a.id in faults:
            a.fault = parse_fault(faults[a.id]).value
            if FaultMode(a.fault) in BLOCKING_MODES:
                a.expected_band = "insufficient_data"
        if not a.exempt and _too_little_history(a, history_start, today):
            a.expected_band = "insufficient_data"
    if opts.include is not None:
        wanted = set(opts.include)
        missing = wanted - {a.id for a in apps}
        if missing:
            raise ValueError(f"include names unknown apps: {sorted(missing)}")
        apps = [a for a in apps if a.id in wanted]
    return apps


#: Days of data an app needs before it can be judged (the assessment's default).
MIN_DATA_DAYS = 30


def _too_little_history(a: AppSpec, history_start: date, today: date) -> bool:
    """Whether the served history is too short to judge the app: under a month of data,
    or, for a seasonal app off-season, not covering the last month of its last season."""
    if (today - max(history_start, a.launched)).days < MIN_DATA_DAYS:
        return True
    if a.season_months and today.month not in a.season_months:
        last = today.replace(day=1)
        while last.month not in a.season_months:
            last = (last - timedelta(days=1)).replace(day=1)
        return history_start > last
    return False


def fault_app_id(app_id: str) -> str:
    """The registry id (a slug) of an app named in `faults`: `fault-http_500` becomes
    `fault-http-500`, so fault apps can be named after their mode as written."""
    return app_id.replace("_", "-")


def _rings(seed: int, users: int) -> list[list[int]]:
    """Three rings of 10-14 accounts drawn from the end of the population (fixed per seed)."""
    rings: list[list[int]] = []
    nxt = users - 1
    for r in range(3):
        size = 10 + derive_seed(seed, "ring-size", r) % 5
        rings.append(list(range(nxt, nxt - size, -1)))
        nxt -= size
    return rings


# -- serving ---------------------------------------------------------------------------

_enc = msgspec.json.Encoder()


class Fleet:
    """Generated, cached and paged events of every simulated app."""

    def __init__(self, opts: SimulatorOptions, clock: SimClock | None = None) -> None:
        self.opts = opts
        self.clock = clock or SimClock(opts.history_days, opts.speed)
        self.first_day = local_day(self.clock.start)
        self.apps = build_fleet(opts, day_date(local_day(self.clock.t0)))
        self.by_id = {a.id: a for a in self.apps}
        # Fault apps may be named with the mode's underscore (`fault-http_500`).
        self.by_id.update(
            {k: self.by_id[fault_app_id(k)] for k in opts.faults if fault_app_id(k) in self.by_id}
        )
        self._cache: OrderedDict[tuple[str, int], RenderedDay] = OrderedDict()
        self._cached_events = 0
        self._plants: dict[tuple[str, int], list[Plant]] = {}
        self._live: dict[str, list[tuple[float, bytes]]] = {}
        self._live_plants: dict[str, list[Plant]] = {}
        self._live_n = 0
        # Ground truth may be computed in a worker thread (it walks the whole history).
        self._truth_lock = threading.Lock()
        # From the seed alone: cursors stay valid across a restart with the same seed.
        self._cursor_key = hex_id("cursor-key", opts.seed, n=32).encode()

    # -- days ---------------------------------------------------------------------------
    def day(self, app_id: str, day: int) -> RenderedDay:
        """The rendered day, from the LRU cache or generated now."""
        app_id = self.by_id[app_id].id
        key = (app_id, day)
        rd = self._cache.get(key)
        if rd is not None:
            self._cache.move_to_end(key)
            return rd
        spec = self.by_id[app_id]
        batch = generate_day(spec, self.opts.seed, day)
        mode = FaultMode(spec.fault) if spec.fault else None
        render = mode in (FaultMode.skewed_clock, FaultMode.bad_events)
        bodies = [
            _enc.encode(render_event(ev, t, app_id, mode, spec.ts_format) if render else ev)
            for t, ev in zip(batch.times, batch.events, strict=True)
        ]
        first: dict[str, float] = {}
        for t, ev in zip(batch.times, batch.events, strict=True):
            first.setdefault(ev["account"], t)
        rd = RenderedDay(batch.times, bodies, first)
        self._remember_plants(app_id, day, batch.plants)
        self._cache[key] = rd
        self._cached_events += len(rd)
        while self._cached_events > self.opts.cache_events and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached_events -= len(old)
        return rd

    def _remember_plants(self, app_id: str, day: int, plants: list[Plant]) -> None:
        if (app_id, day) in self._plants or app_id.startswith("load-"):
            return
        kept = []
        for p in plants:
            if p.kind in AGGREGATE_KINDS and len(p.event_ids) > 100:
                # Keep the ground truth small: app-wide patterns keep a sample of ids.
                p = Plant(
                    p.kind,
                    p.event_ids[:100],
                    p.accounts,
                    p.window,
                    {**p.detail, "events": len(p.event_ids)},
                )
            elif p.kind in AGGREGATE_KINDS:
                p = Plant(
                    p.kind,
                    p.event_ids,
                    p.accounts,
                    p.window,
                    {**p.detail, "events": len(p.event_ids)},
                )
            kept.append(p)
        self._plants[(app_id, day)] = kept

    def events_for_day(self, app_id: str, day: int, now: float | None = None) -> list[dict]:
        """Events of one app-day as dicts (scenario events, without HTTP faults), sorted by
        time, up to the simulated clock; planted live events of that day included."""
        app_id = self.by_id[app_id].id
        now = self.clock.now() if now is None else now
        spec = self.by_id[app_id]
        batch = generate_day(spec, self.opts.seed, day)
        self._remember_plants(app_id, day, batch.plants)
        out = [(t, ev) for t, ev in zip(batch.times, batch.events, strict=True) if t <= now]
        lo, hi = midnight(day), midnight(day) + DAY_S
        out += [
            (t, msgspec.json.decode(b))
            for t, b in self._live.get(app_id, ())
            if lo <= t < hi and t <= now
        ]
        out.sort(key=lambda r: r[0])
        return [ev for _, ev in out]

    def iter_events(self, app_id: str) -> Iterator[dict]:
        """Every event of the app's history up to the simulated clock (for file drops)."""
        now = self.clock.now()
        for day in range(self.first_day, local_day(now) + 1):
            yield from self.events_for_day(app_id, day, now)

    # -- cursors ------------------------------------------------------------------------
    def _mac(self, app_id: str, raw: str) -> str:
        return hmac.new(self._cursor_key, f"{app_id}|{raw}".encode(), "sha256").hexdigest()[:8]

    def encode_cursor(self, app_id: str, pos: Position) -> str:
        app_id = self.by_id[app_id].id
        raw = f"{pos.day}.{pos.off}.{pos.live}"
        return base64.urlsafe_b64encode(f"{raw}.{self._mac(app_id, raw)}".encode()).decode()

    def decode_cursor(self, app_id: str, cursor: str | None, now: float) -> Position:
        """The position a cursor names; BadCursor if it is not one this app handed out."""
        app_id = self.by_id[app_id].id
        if not cursor:
            return Position(self.first_day, 0, 0)
        try:
            text = base64.urlsafe_b64decode(cursor.encode() + b"==").decode()
            day_s, off_s, live_s, mac = text.split(".")
            pos = Position(int(day_s), int(off_s), int(live_s))
        except (ValueError, binascii.Error, UnicodeError):
            raise BadCursor("cursor is not one this server issued") from None
        if not hmac.compare_digest(mac, self._mac(app_id, f"{day_s}.{off_s}.{live_s}")):
            raise BadCursor("cursor is not one this server issued for this app")
        if pos.day > local_day(now) + 1 or pos.off < 0 or pos.live < 0:
            raise BadCursor("cursor is out of range")
        if pos.day < self.first_day:
            # Older than the history kept (a restart on a later day): serve what is left.
            pos = Position(self.first_day, 0, pos.live)
        if pos.day <= local_day(now) and pos.off > len(self.day(app_id, pos.day)):
            raise BadCursor("cursor is out of range")
        # Events planted live do not survive a restart: a cursor past them starts anew.
        return Position(pos.day, pos.off, min(pos.live, len(self._live.get(app_id, ()))))

    # -- paging -------------------------------------------------------------------------
    def page(self, app_id: str, pos: Position, limit: int, now: float) -> PageResult:
        """Up to `limit` events from `pos` with ts <= now: generated days first, then events
        planted live. Caught up: has_more is false and the next position stays valid."""
        app_id = self.by_id[app_id].id
        clock_day = local_day(now)
        out: list[bytes] = []
        d, o = pos.day, pos.off
        while len(out) < limit and d <= clock_day:
            rd = self.day(app_id, d)
            end = bisect.bisect_right(rd.times, now) if d == clock_day else len(rd)
            take = min(end - o, limit - len(out))
            if take > 0:
                out += rd.bodies[o : o + take]
                o += take
            if o < len(rd):
                break  # the limit, or events still in the future
            d, o = d + 1, 0
        live = self._live.get(app_id, [])
        li = pos.live
        if len(out) < limit and li < len(live):
            chunk = live[li : li + limit - len(out)]
            out += [b for _, b in chunk]
            li += len(chunk)
        nxt = Position(d, o, li)
        return PageResult(out, nxt, self._has_more(app_id, nxt, now))

    def _has_more(self, app_id: str, pos: Position, now: float) -> bool:
        if pos.live < len(self._live.get(app_id, ())):
            return True
        clock_day = local_day(now)
        d, o = pos.day, pos.off
        while d <= clock_day:
            rd = self.day(app_id, d)
            end = bisect.bisect_right(rd.times, now) if d == clock_day else len(rd)
            if o < end:
                return True
            d, o = d + 1, 0
        return False

    def back(self, app_id: str, pos: Position, by: int) -> Position:
        """A position `by` events earlier in the generated stream (for cursor_backwards)."""
        app_id = self.by_id[app_id].id
        d, o = pos.day, pos.off
        while by > 0 and (d > self.first_day or o > 0):
            if o == 0:
                d -= 1
                o = len(self.day(app_id, d))
                continue
            step = min(by, o)
            o -= step
            by -= step
        return Position(d, o, pos.live)

    # -- usage snapshot -------------------------------------------------------------------
    def usage(self, app_id: str, now: float) -> dict[str, Any]:
        """The app's own figures (`GET /v1/usage`): active counts over local calendar days
        ending today, up to now, for apps that compute them."""
        app_id = self.by_id[app_id].id
        spec = self.by_id[app_id]
        out: dict[str, Any] = {"registered_accounts": spec.registered_accounts}
        if spec.reports_active:
            today = local_day(now)
            seen: set[str] = set()
            for back in range(30):
                d = today - back
                if d < self.first_day:
                    break
                rd = self.day(app_id, d)
                if d == today:
                    seen.update(a for a, t in rd.first_seen.items() if t <= now)
                else:
                    seen.update(rd.first_seen)
                if back == 0:
                    out["active_accounts_1d"] = len(seen)
                elif back == 6:
                    out["active_accounts_7d"] = len(seen)
            out.setdefault("active_accounts_1d", 0)
            out.setdefault("active_accounts_7d", len(seen))
            out["active_accounts_30d"] = len(seen)
        out["last_release_at"] = _age(now, spec.release_age_days, spec.launched)
        out["last_content_update_at"] = _age(now, spec.content_age_days, spec.launched)
        out["features"] = list(spec.usage_features)
        return out

    # -- live planting --------------------------------------------------------------------
    def plant(self, app_id: str, scenario: str, accounts: int, now: float) -> Plant:
        """Plant a pattern ending at `now` (simulated); returns its ground truth."""
        spec = self.by_id.get(app_id)
        if spec is None:
            raise KeyError(app_id)
        app_id = spec.id
        if scenario != "bulk_checkin":
            raise ValueError(f"unknown scenario {scenario!r} (supported: bulk_checkin)")
        if not 2 <= accounts <= 200:
            raise ValueError("accounts must be between 2 and 200")
        self._live_n += 1
        n = self._live_n
        pt = spec.points[0] if spec.points else PointSpec("live-spot", *CENTRE, 50)
        lb = LiveBuilder(spec, self.opts.seed, n, now)
        picked = lb.rng.sample(range(max(spec.users, accounts)), accounts)
        accs = [spec.account(i) for i in picked]
        # Gaps are at most 15 s: starting this early ends the ring at or before now - 1 s.
        start = now - lb.midnight - 15 * (accounts - 1) - 1
        plant_ring(lb, pt, accs, start, carrier=f"live-{n}")
        mode = FaultMode(spec.fault) if spec.fault else None
        live = self._live.setdefault(app_id, [])
        for t, _, ev in lb.rows:
            live.append((t, _enc.encode(render_event(ev, t, app_id, mode, spec.ts_format))))
        p = lb.plants[0]
        self._live_plants.setdefault(app_id, []).append(p)
        return p

    # -- ground truth ---------------------------------------------------------------------
    def ground_truth(self, now: float | None = None) -> dict[str, Any]:
        """What was planted, per app, up to the simulated clock (see docs/usage-api.md)."""
        with self._truth_lock:
            return self._ground_truth(self.clock.now() if now is None else now)

    def _ground_truth(self, now: float) -> dict[str, Any]:
        today = local_day(now)
        apps: dict[str, Any] = {}
        for spec in self.apps:
            planted: list[dict[str, Any]] = []
            if not spec.id.startswith("load-"):
                agg: dict[str, dict[str, Any]] = {}
                for day in range(self.first_day, today + 1):
                    if (spec.id, day) not in self._plants or day >= today:
                        self._plants.pop((spec.id, day), None)
                        self._remember_plants(
                            spec.id, day, generate_day(spec, self.opts.seed, day).plants
                        )
                    for p in self._plants[(spec.id, day)]:
                        if p.window[1] > now:
                            continue
                        if p.kind in AGGREGATE_KINDS:
                            _merge(agg, p)
                        else:
                            planted.append(_plant_json(p))
                for p in self._live_plants.get(spec.id, []):
                    planted.append({**_plant_json(p), "live": True})
                for entry in agg.values():
                    del entry["_acc"]
                    planted.append(entry)
            live_checkins = any(
                p.kind == "bulk_checkin" for p in self._live_plants.get(spec.id, [])
            )
            planted += _static_plants(spec, self.clock.start, now, live_checkins)
            apps[spec.id] = {
                "expected_band": spec.expected_band,
                "planted": planted,
                "healthy_kinds_expected_silent": list(spec.silent_kinds),
            }
        return {
            "generated_at": rfc3339(now),
            "seed": self.opts.seed,
            "history_start": self.clock.start,
            "clock": now,
            "apps": apps,
        }

    # -- registry -------------------------------------------------------------------------
    def registry(self, url_of: Callable[[str], str], token_file: Path | None) -> dict:
        """The app registry as the daemon reads it."""
        out = []
        for a in self.apps:
            entry: dict[str, Any] = {
                "id": a.id,
                "name": a.name,
                "owner": a.owner,
                "region": a.region,
                "category": a.category,
                "launched": a.launched,
                "annual_cost_cny": a.annual_cost_cny,
                "intended_users": a.intended_users,
                "declared_features": list(a.declared_features),
                "exempt": a.exempt,
                "timezone": "Asia/Shanghai",
            }
            if a.season_months:
                entry["season_months"] = list(a.season_months)
            if a.points:
                entry["points"] = [
                    {"id": p.id, "lat": p.lat, "lon": p.lon, "radius_m": p.radius_m}
                    for p in a.points
                ]
            source: dict[str, Any] = {
                "kind": "usage_api",
                "url": url_of(a.id),
                "interval": self.opts.poll_interval,
                "timeout": self.opts.poll_timeout,
            }
            if token_file is not None:
                source["auth"] = {"bearer_token_file": str(token_file)}
            entry["source"] = source
            out.append(entry)
        return {"apps": out}


def _age(now: float, age_days: float | None, launched: date) -> str | None:
    if age_days is None:
        return None
    t = max(now - age_days * DAY_S, midnight(day_of_date(launched)) + 10 * 3600)
    return rfc3339(float(int(t)))


def _plant_json(p: Plant) -> dict[str, Any]:
    return {
        "kind": p.kind,
        "event_ids": p.event_ids,
        "accounts": p.accounts,
        "window": [p.window[0], p.window[1]],
        "detail": p.detail,
    }


def _merge(agg: dict[str, dict[str, Any]], p: Plant) -> None:
    """Fold one day's share of an app-wide pattern into the app's single entry."""
    cur = agg.get(p.kind)
    if cur is None:
        agg[p.kind] = {
            "kind": p.kind,
            "event_ids": list(p.event_ids[:AGGREGATE_IDS_MAX]),
            "accounts": list(p.accounts),
            "window": [p.window[0], p.window[1]],
            "detail": {**p.detail, "days": 1},
            "_acc": set(p.accounts),
        }
        agg[p.kind]["event_ids_complete"] = False
        return
    room = AGGREGATE_IDS_MAX - len(cur["event_ids"])
    if room > 0:
        cur["event_ids"] += p.event_ids[:room]
    new = [a for a in p.accounts if a not in cur["_acc"]]
    cur["_acc"].update(new)
    cur["accounts"] = sorted(cur["_acc"])
    cur["window"] = [min(cur["window"][0], p.window[0]), max(cur["window"][1], p.window[1])]
    det = cur["detail"]
    det["days"] += 1
    for k, v in p.detail.items():
        if k in _SUM_KEYS:
            det[k] = round(det.get(k, 0) + v, 3)
        elif k.startswith("max_"):
            det[k] = max(det.get(k, v), v)
        elif isinstance(v, dict):
            det[k] = {**v, **det.get(k, {})}


def _static_plants(
    spec: AppSpec, start: float, now: float, live_checkins: bool = False
) -> list[dict[str, Any]]:
    """Whole-history ground truth: banned features (declared, used undeclared, or brought
    in by a ring planted live) and the shutdown candidate."""
    out: list[dict[str, Any]] = []
    undeclared = list(spec.undeclared_features)
    if live_checkins and "checkin" not in (*spec.declared_features, *undeclared):
        undeclared.append("checkin")  # a live ring's check-ins are check-in events
    used = (*spec.declared_features, *undeclared)
    banned = [f for f in used if f in BANNED_FEATURES]
    if banned and not spec.exempt:
        out.append(
            {
                "kind": "banned_feature",
                "event_ids": [],
                "accounts": [],
                "window": [start, now],
                "detail": {
                    "features": banned,
                    "undeclared": [f for f in undeclared if f in banned],
                },
            }
        )
    if spec.id in DUPLICATE_APPS:
        out.append(
            {
                "kind": "consolidation",
                "event_ids": [],
                "accounts": [],
                "window": [start, now],
                "detail": {"apps": list(DUPLICATE_APPS), "reason": "the same clerks re-report"
                           " the same items to all three (same category and forms)"},
            }
        )
    if spec.expected_band == "candidate":
        out.append(
            {
                "kind": "shutdown",
                "event_ids": [],
                "accounts": [],
                "window": [start, now],
                "detail": {
                    "intended_users": spec.intended_users,
                    "registered_accounts": spec.registered_accounts,
                    "real_users": spec.params.get("real_users", 3),
                    "release_age_days": spec.release_age_days,
                    "content_age_days": spec.content_age_days,
                },
            }
        )
    return out
