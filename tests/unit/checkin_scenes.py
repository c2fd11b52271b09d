"""Scenes for the bulk check-in tests: check-ins as metre offsets around one spot in
Hangzhou, with rings tapped at different tempos and legitimate groups. Independent of the
evaluation's generators (bench/bulk_scenes.py): small, readable, one behaviour each."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np

from tapwatch.detectors import bulk_checkin
from tapwatch.detectors.base import AppProfile, CheckinPoint, DetectorInput
from tapwatch.detectors.bulk_checkin.bursts import Burst
from tapwatch.events import Event, EventType
from tapwatch.window import AccountDays, AppHours, EventWindow

APP = "app-risk"
BASE = datetime(2026, 11, 16, 1, 0, tzinfo=UTC).timestamp()  # 09:00 Asia/Shanghai, Monday
DAY = 86400.0
LAT, LON = 30.27, 120.15  # Hangzhou
M_LAT = 1.0 / 110_574.0
M_LON = 1.0 / (111_320.0 * math.cos(math.radians(LAT)))
MODELS = ["HUAWEI Mate 60", "iPhone 15", "Xiaomi 14", "OPPO Reno11", "vivo X100", "HONOR 90"]


def detect(sc: Scenario, **overrides: object) -> list:
    """Bulk check-in findings for the scene, with `overrides` of the default settings."""
    return bulk_checkin.detect(sc.input(), bulk_checkin.Settings(**overrides))


def signal(f: object, code: str) -> dict:
    """The measured signal `code` of a finding (present or not), from its evidence."""
    return next(g for g in f.evidence["signals"] if g["code"] == code)  # type: ignore[attr-defined]


def people(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


class Scenario:
    """Builds events with unique ids; positions are metre offsets from (LAT, LON)."""

    def __init__(self, seed: int = 1) -> None:
        self.rng = np.random.default_rng(seed)
        self.events: list[Event] = []

    def checkin(
        self,
        ts: float,
        account: str,
        dx: float,
        dy: float,
        *,
        device: str | None = None,
        network: str | None = None,
        model: str | None = None,
        point: str | None = None,
        photo: str | None = None,
        accuracy: float | None = 8.0,
        type: EventType = EventType.checkin,
    ) -> Event:
        """One event at (dx, dy) metres; the fix is exactly there (no GPS noise added)."""
        e = Event(
            app=APP,
            id=f"e{len(self.events):06d}",
            ts=ts,
            type=type,
            account=account,
            device=device or f"dev-{account}",
            device_model=model or str(self.rng.choice(MODELS)),
            network=network or f"mob-{account}",
            lat=LAT + dy * M_LAT,
            lon=LON + dx * M_LON,
            accuracy_m=accuracy,
            point=point,
            photo_hash=photo or f"ph{len(self.events)}",
        )
        self.events.append(e)
        return e

    def days_at_work(self, family: list[str], evening: float, d: int) -> None:
        """Each of `family` reading the app on their own phone at work or school 3-8 km
        out, each in a direction of their own (turning a little from day `d` to the
        next), 4-8 h before `evening`."""
        for k, a in enumerate(family):
            angle = 2 * math.pi * (k + 0.3 * d) / len(family)
            far = self.rng.uniform(3000, 8000)
            ts = evening - self.rng.uniform(4, 8) * 3600
            self.checkin(ts, a, far * math.cos(angle), far * math.sin(angle), type=EventType.read)

    def taps(
        self,
        times: np.ndarray,
        accounts: list[str],
        spots: np.ndarray,
        *,
        network: str | None = None,
        point: str | None = None,
        devices: list[str] | None = None,
    ) -> list[Event]:
        """Phones checked in at `times`, each at its spot (metres), by one operator; each
        account on its own phone unless `devices` are given."""
        devs = devices or [None] * len(accounts)
        return [
            self.checkin(float(t), a, float(x), float(y), network=network, point=point, device=d)
            for t, a, (x, y), d in zip(times, accounts, spots, devs, strict=True)
        ]

    def ring(
        self,
        start: float,
        accounts: list[str],
        *,
        gap: float = 6.0,
        at: tuple[float, float] = (0.0, 0.0),
        network: str | None = "wifi-risk-point",
        point: str | None = None,
    ) -> list[Event]:
        """One person tapping phones in turn: steady gaps, phones within a few metres."""
        n = len(accounts)
        times = start + np.concatenate(([0.0], np.cumsum(gap * self.rng.uniform(0.8, 1.2, n - 1))))
        spots = np.asarray(at) + self.rng.normal(0, 3, (n, 2))
        return self.taps(times, accounts, spots, network=network, point=point)

    def table_ring(
        self, start: float, accounts: list[str], *, gap: float = 0.5, network: str | None = None
    ) -> list[Event]:
        """Phones laid out on one table and tapped in quick succession, `gap` s apart on
        average (irregular), each on its own mobile data unless `network` is given."""
        n = len(accounts)
        gaps = gap * self.rng.uniform(0.3, 1.7, n - 1)
        times = start + np.concatenate(([0.0], np.cumsum(gaps)))
        return self.taps(times, accounts, self.rng.normal(0, 0.5, (n, 2)), network=network)

    def group_control_ring(self, start: float, accounts: list[str]) -> list[Event]:
        """Group-control software firing every phone within one second."""
        n = len(accounts)
        times = np.sort(start + self.rng.uniform(0, 1.0, n))
        return self.taps(times, accounts, self.rng.normal(0, 0.5, (n, 2)))

    def careful_ring(
        self,
        start: float,
        accounts: list[str],
        *,
        network: str | None = None,
        at: tuple[float, float] = (0.0, 0.0),
        gap_range: tuple[float, float] = (10.0, 90.0),
        devices: list[str] | None = None,
    ) -> list[Event]:
        """A careful operator: irregular gaps (uniform over `gap_range`, 10-90 s), one pause
        of about four minutes halfway, moving about the spot between phones (a walk of up
        to 6 m)."""
        n = len(accounts)
        gaps = self.rng.uniform(*gap_range, n - 1)
        gaps[n // 2 - 1] += 240.0
        times = start + np.concatenate(([0.0], np.cumsum(gaps)))
        walk = np.cumsum(self.rng.normal(0, 1.0, (n, 2)), axis=0)
        walk *= np.minimum(1.0, 6.0 / np.maximum(np.hypot(*walk.T), 1e-9))[:, None]
        return self.taps(times, accounts, np.asarray(at) + walk, network=network, devices=devices)

    def bag_ring(
        self,
        start: float,
        accounts: list[str],
        *,
        operators: int,
        gap: float = 6.0,
        network: str | None = None,
    ) -> list[Event]:
        """Several operators sharing one bag of phones at the same moment: each takes a
        share and checks them in one at a time at a steady pace of their own (about `gap`
        s apart), standing a metre or two apart, each starting within a few seconds."""
        share = self.rng.permutation(len(accounts)) % operators
        out = []
        for k in range(operators):
            mine = [a for a, o in zip(accounts, share.tolist(), strict=True) if o == k]
            pace = gap * self.rng.uniform(0.7, 1.4)
            gaps = pace * self.rng.uniform(0.8, 1.2, len(mine) - 1)
            times = start + self.rng.uniform(0, 5) + np.concatenate(([0.0], np.cumsum(gaps)))
            spot = self.rng.normal(0, 1.0, 2)
            spots = spot + self.rng.normal(0, 0.3, (len(mine), 2))
            out += self.taps(times, mine, spots, network=network)
        return out

    def crowd(
        self,
        start: float,
        accounts: list[str],
        *,
        duration: float,
        radius: float,
        together: float = 0.0,
        network: str | None = None,
        at: tuple[float, float] = (0.0, 0.0),
    ) -> list[Event]:
        """People arriving independently over `duration` within `radius` metres; a share
        `together` arrives in the same second as the one before (groups walking in)."""
        times = np.sort(self.rng.uniform(0, duration, len(accounts)))
        out = []
        for i, a in enumerate(accounts):
            if i and self.rng.random() < together:
                times[i] = times[i - 1] + float(self.rng.uniform(0, 0.9))
            r = radius * math.sqrt(self.rng.random())
            th = self.rng.uniform(0, 2 * math.pi)
            out.append(
                self.checkin(
                    start + float(times[i]),
                    a,
                    at[0] + r * math.cos(th),
                    at[1] + r * math.sin(th),
                    network=network if network and self.rng.random() < 0.5 else None,
                )
            )
        return out

    def colleagues_at_door(
        self, accounts: list[str], n_days: int, *, desk_reads: bool
    ) -> list[Event]:
        """Colleagues badging in at one door (a 2 m spot) every morning, each at a habitual
        time of their own spread over 20 minutes (daily jitter about a minute), on the
        office Wi-Fi; with `desk_reads`, each also opens the app at their desk, 25 m away,
        in the afternoon."""
        habit = np.sort(self.rng.uniform(0, 1200, len(accounts)))
        out = []
        for d in range(n_days):
            for a, h in zip(accounts, habit.tolist(), strict=True):
                t = BASE + d * DAY + h + float(self.rng.normal(0, 60))
                dx, dy = self.rng.normal(0, 1.0, 2)
                out.append(self.checkin(t, a, dx, dy, network="wifi-office"))
                if desk_reads:
                    self.checkin(
                        t + 6 * 3600, a, 25.0, 0.0, network="wifi-office", type=EventType.read
                    )
        return out

    def input(self, points: tuple[CheckinPoint, ...] = ()) -> DetectorInput:
        win = EventWindow.from_events(APP, self.events)
        return DetectorInput(
            app=AppProfile(id=APP, points=points),
            now=BASE + 10 * DAY,
            events=win,
            account_days=AccountDays.from_rows([], []),
            app_hours=AppHours.from_rows([]),
        )


def burst(
    *,
    rows: list[int] | None = None,
    accounts: set[int] | None = None,
    start: float | None = None,
    lat: float = LAT,
    lon: float = LON,
) -> Burst:
    """A burst that passed the gates, for tests of what follows it (sessions, linking,
    its core): window `rows` and `accounts`, from `start` for two minutes (without a
    `start`, the rows' numbers stand for their times), at (lat, lon); its measures are
    neutral."""
    r = np.asarray(rows or [], dtype=np.int64)
    return Burst(
        rows=r,
        key=0,
        place_key=-1,
        point=None,
        lat=lat,
        lon=lon,
        start=float(r[0]) if start is None else start,
        end=float(r[-1]) if start is None else start + 120.0,
        n_accounts=len(accounts) if accounts is not None else int(r.size),
        median_gap=20.0,
        gap_cv=0.5,
        overlap_share=0.0,
        spread_m=2.0,
        radius_m=5.0,
        accuracy_m=10.0,
        context=0,
        accounts=frozenset(accounts or ()),
    )


def walk_route(sc: Scenario, team: list[str], start: float, within_s: float) -> list[str]:
    """`team` walking one route of six checkpoints 400 m apart along a street from
    `start`, ten minutes between checkpoints; at each, everyone checks in on their own
    phone, on their own data, within `within_s` of getting there, at moments of their own
    (as people answering "check in here"). The ids of the second checkpoint's check-ins."""
    second: list[str] = []
    for k in range(6):
        times = np.sort(start + k * 600 + sc.rng.uniform(0, within_s, len(team)))
        spots = np.array([400.0 * k, 0.0]) + sc.rng.normal(0, 1.5, (len(team), 2))
        taps = sc.taps(times, team, spots)
        if k == 1:
            second += [e.id for e in taps]
    return second
