"""Bulk check-in detector: one person checking in many phones is found; crowds are not."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pytest
from pydantic import ValidationError

from tapwatch.detectors import bulk_checkin
from tapwatch.detectors.base import AppProfile, CheckinPoint, DetectorInput
from tapwatch.events import Event, EventType
from tapwatch.window import AccountDays, AppHours, EventWindow

APP = "app-risk"
BASE = datetime(2026, 11, 16, 1, 0, tzinfo=UTC).timestamp()  # 09:00 Asia/Shanghai, Monday
DAY = 86400.0
LAT, LON = 30.27, 120.15  # Hangzhou
M_LAT = 1.0 / 110_574.0
M_LON = 1.0 / (111_320.0 * math.cos(math.radians(LAT)))


MODELS = ["HUAWEI Mate 60", "iPhone 15", "Xiaomi 14", "OPPO Reno11", "vivo X100", "HONOR 90"]


class Scenario:
    """Builds events with unique ids; positions are given as metre offsets."""

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
        accuracy: float = 8.0,
    ) -> Event:
        e = Event(
            app=APP,
            id=f"e{len(self.events):06d}",
            ts=ts,
            type=EventType.checkin,
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
        out = []
        t = start
        for a in accounts:
            dx, dy = self.rng.normal(0, 3, 2)
            out.append(self.checkin(t, a, at[0] + dx, at[1] + dy, network=network, point=point))
            t += gap * float(self.rng.uniform(0.8, 1.2))
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

    def input(self, points: tuple[CheckinPoint, ...] = ()) -> DetectorInput:
        win = EventWindow.from_events(APP, self.events)
        return DetectorInput(
            app=AppProfile(id=APP, points=points),
            now=BASE + 10 * DAY,
            events=win,
            account_days=AccountDays.from_rows([], []),
            app_hours=AppHours.from_rows([]),
        )


def people(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i:03d}" for i in range(n)]


def detect(inp: DetectorInput, **overrides: object) -> list:
    return bulk_checkin.detect(inp, bulk_checkin.Settings(**overrides))


def test_settings_are_strict_and_consistent() -> None:
    with pytest.raises(ValidationError):
        bulk_checkin.Settings(cel_m=50)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="min_tap_gap_s must be below"):
        bulk_checkin.Settings(min_tap_gap_s=20, max_tap_gap_s=10)


def test_empty_window_gives_no_findings() -> None:
    assert detect(Scenario().input()) == []


def test_planted_ring_is_found_with_its_accounts_and_events() -> None:
    sc = Scenario()
    sc.crowd(BASE - 3600, people("bg", 30), duration=3 * 3600, radius=2000)  # background
    ring = sc.ring(BASE + 1800, people("ring", 10), gap=7.0, at=(300.0, -200.0))
    findings = detect(sc.input())
    assert len(findings) == 1
    f = findings[0]
    assert f.kind == "bulk_checkin"
    assert sorted(f.evidence["event_ids"]) == sorted(e.id for e in ring)
    assert f.evidence["accounts"] == sorted(e.account for e in ring)
    assert f.evidence["devices"] == sorted(f"dev-{e.account}" for e in ring)
    assert len(f.evidence["timeline"]) == 10
    assert all(abs(p["dx_m"]) < 15 and abs(p["dy_m"]) < 15 for p in f.evidence["timeline"])
    assert 5.0 < f.evidence["gaps"]["median_s"] < 9.0
    assert f.evidence["gaps"]["overlap_share"] == 0.0
    codes = {r.code for r in f.reasons}
    assert {"many_accounts", "serial_arrivals", "no_overlap", "tight_spread"} <= codes
    assert "shared_network" in codes
    assert f.severity == "critical" and f.score >= 0.85
    assert f.window_start == ring[0].ts and f.window_end == ring[-1].ts
    assert "10 accounts" in f.summary
    # Same ring, same id, whatever else is in the window.
    again = Scenario(seed=7)
    ring2 = again.ring(BASE + 1800, people("ring", 10), gap=5.0, at=(300.0, -200.0))
    assert [e.account for e in ring2] == [e.account for e in ring]
    assert detect(again.input())[0].id == f.id


def test_ring_split_by_a_cell_edge_is_found_whole() -> None:
    sc = Scenario()
    # Centred on a cell corner of the unshifted grid: lat/lon multiples of the cell size.
    s = bulk_checkin.Settings()
    from tapwatch.detectors.geo import cell_scale

    dlat, dlon = cell_scale(np.array([LAT]), s.cell_m)
    corner = (
        (math.floor(LON / dlon) * dlon - LON) / M_LON,
        (math.floor(LAT / dlat) * dlat - LAT) / M_LAT,
    )
    ring = sc.ring(BASE, people("edge", 8), at=corner)
    [f] = detect(sc.input())
    assert sorted(f.evidence["event_ids"]) == sorted(e.id for e in ring)


def test_ring_at_declared_point_uses_the_point() -> None:
    sc = Scenario()
    ring = sc.ring(BASE, people("pt", 6), point="RP-7")
    # No point code, but within the point's radius; carried on the carrier's own hotspot.
    far = sc.ring(BASE + 3600, people("nopt", 6), at=(30.0, 0.0), network="hotspot-2")
    points = (CheckinPoint(id="RP-7", lat=LAT, lon=LON, radius_m=80.0),)
    findings = detect(sc.input(points))
    assert {f.evidence["point"] for f in findings} == {"RP-7"}
    ids = sorted(i for f in findings for i in f.evidence["event_ids"])
    assert ids == sorted(e.id for e in ring + far)


def test_same_ring_on_several_days_is_one_finding_with_the_days() -> None:
    sc = Scenario()
    accounts = people("daily", 5)
    for d in range(3):
        # A different carrier order each day, one member missing on day 2.
        members = accounts if d != 1 else accounts[:-1]
        sc.ring(BASE + d * DAY + 600 * d, list(reversed(members)) if d else members)
    [f] = detect(sc.input())
    assert f.evidence["days"] == ["2026-11-16", "2026-11-17", "2026-11-18"]
    assert len(f.evidence["bursts"]) == 3
    assert len(f.evidence["event_ids"]) == 14
    assert "repeated_days" in {r.code for r in f.reasons}


def test_small_ring_needs_corroboration() -> None:
    # Three phones, own mobile networks, one day: indistinguishable from friends.
    sc = Scenario()
    sc.ring(BASE, people("tri", 3), network=None)
    assert detect(sc.input()) == []
    # The same three phones sharing one network on three days are reported.
    sc = Scenario()
    for d in range(3):
        sc.ring(BASE + d * DAY, people("tri", 3))
    [f] = detect(sc.input())
    assert len(f.evidence["days"]) == 3


def test_meeting_with_simultaneous_arrivals_is_silent() -> None:
    sc = Scenario(seed=3)
    for d in range(3):
        sc.crowd(
            BASE + d * DAY,
            people(f"m{d}-", 40),
            duration=600,
            radius=20,
            together=0.3,
            network="wifi-hall",
        )
    assert detect(sc.input()) == []


def test_colleagues_clocking_in_every_morning_are_silent() -> None:
    sc = Scenario(seed=4)
    staff = people("staff", 12)
    for d in range(5):
        sc.crowd(BASE + d * DAY, staff, duration=1500, radius=25, network="wifi-office")
    assert detect(sc.input()) == []


def test_friends_arriving_together_are_silent() -> None:
    sc = Scenario(seed=5)
    for d in range(4):
        sc.crowd(BASE + d * DAY, people("fr", 3), duration=40, radius=5, network="wifi-cafe")
    assert detect(sc.input()) == []


def test_transit_hub_at_rush_hour_is_silent() -> None:
    sc = Scenario(seed=6)
    for d in range(3):
        sc.crowd(BASE + d * DAY, people(f"t{d}-", 150), duration=1800, radius=120, together=0.1)
    assert detect(sc.input()) == []


def test_detection_is_deterministic() -> None:
    def build() -> DetectorInput:
        sc = Scenario(seed=11)
        sc.crowd(BASE, people("bg", 50), duration=7200, radius=3000)
        sc.ring(BASE + 100, people("a", 9))
        sc.ring(BASE + DAY, people("a", 9))
        sc.ring(BASE + 5000, people("b", 12), at=(2000.0, 2000.0), network=None)
        return sc.input()

    one = detect(build())
    two = detect(build())
    assert len(one) == 2
    assert [f.id for f in one] == [f.id for f in two]
    assert [f.evidence for f in one] == [f.evidence for f in two]
    assert len({f.id for f in one}) == 2


def test_non_checkin_events_are_ignored() -> None:
    sc = Scenario()
    for e in sc.ring(BASE, people("r", 10)):
        e.type = EventType.read
    assert detect(sc.input()) == []


def test_shared_model_counts_only_when_rare_in_the_app() -> None:
    def five_phones(model: str) -> list:
        sc = Scenario(seed=8)
        for i in range(200):  # the app's usual phones: mostly one popular model
            sc.checkin(BASE - 7200 + 30 * i, f"bg{i}", 5000.0 + 50 * i, 0.0, model="iPhone 15")
        for i, e in enumerate(sc.ring(BASE, people("five", 5), network=None)):
            e.device_model = model
            e.network = f"mob-{i}"
        return detect(sc.input())

    assert five_phones("iPhone 15") == []
    [f] = five_phones("Nokia X")
    assert "shared_device_model" in {r.code for r in f.reasons}


def test_accounts_active_far_away_at_the_same_time_corroborate() -> None:
    def with_reads(offset_s: float) -> list:
        sc = Scenario(seed=9)
        ring = sc.ring(BASE, people("five", 5), network=None)
        for e in ring[:2]:  # the officials' own phones, 8 km away
            sc.events.append(
                Event(
                    app=APP,
                    id=f"own-{e.account}",
                    ts=e.ts + offset_s,
                    type=EventType.read,
                    account=e.account,
                    device=f"own-{e.account}",
                    lat=LAT + 8000 * M_LAT,
                    lon=LON,
                    accuracy_m=10.0,
                )
            )
        return detect(sc.input())

    [f] = with_reads(-120.0)  # 8 km in 2 minutes: not the same person
    assert f.evidence["accounts_elsewhere"] == ["five000", "five001"]
    assert "accounts_elsewhere" in {r.code for r in f.reasons}
    assert with_reads(-3 * 3600.0) == []  # three hours earlier: could have travelled


def test_fixes_without_accuracy_get_typical_gps_noise() -> None:
    """An app that reports no accuracy: phones at one spot still scatter by GPS noise
    (here sd 10 m per axis, a 68 % radius of ~15 m). Taken as exact fixes, that noise
    reads as spread beyond max_spread_m; the assumed typical accuracy takes it out."""
    sc = Scenario(seed=5)
    sc.crowd(BASE - 3600, people("bg", 30), duration=3 * 3600, radius=2000)
    t = BASE + 1800
    ring = []
    for a in people("ring", 12):
        dx, dy = sc.rng.normal(0, 10.0, 2)
        ring.append(sc.checkin(t, a, 300 + dx, -200 + dy, network=f"mob-{a}"))
        t += float(sc.rng.uniform(4, 10))
    sc.events = [
        Event(**{**{f: getattr(e, f) for f in e.__struct_fields__}, "accuracy_m": None})
        for e in sc.events
    ]
    found = detect(sc.input())
    assert [sorted(f.evidence["accounts"]) for f in found] == [sorted(e.account for e in ring)]
    assert detect(sc.input(), assumed_accuracy_m=0.0) == []  # as exact fixes: too spread
