"""Device farm detector: many accounts on one device per local day."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from tapwatch.detectors import device_farm
from tapwatch.detectors.base import AppProfile, DetectorInput
from tapwatch.events import Event, EventType
from tapwatch.window import AccountDays, AppHours, EventWindow

APP = "app-farm"
# 23:00 Asia/Shanghai on 2026-11-16: an hour later is the next local day, same UTC day.
LATE = datetime(2026, 11, 16, 15, 0, tzinfo=UTC).timestamp()
DAY = 86400.0


def ev(events: list[Event], ts: float, account: str, device: str | None) -> None:
    events.append(
        Event(
            app=APP,
            id=f"e{len(events):05d}",
            ts=ts,
            type=EventType.checkin,
            account=account,
            device=device,
        )
    )


def run(events: list[Event], **overrides: object) -> list:
    inp = DetectorInput(
        app=AppProfile(id=APP),
        now=LATE + 10 * DAY,
        events=EventWindow.from_events(APP, events),
        account_days=AccountDays.from_rows([], []),
        app_hours=AppHours.from_rows([]),
    )
    return device_farm.detect(inp, device_farm.Settings(**overrides))


def test_empty_window() -> None:
    assert run([]) == []


def test_settings_reject_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        device_farm.Settings(min_acounts=3)  # type: ignore[call-arg]


def test_one_phone_logging_in_as_many_accounts_is_found() -> None:
    events: list[Event] = []
    for d in range(2):
        for i in range(8):
            ev(events, LATE - 7200 + d * DAY + i * 30, f"acct{i}", "dev-farm")
    for i in range(40):  # ordinary phones: one account each, several events
        for k in range(3):
            ev(events, LATE - 5000 + i * 60 + k, f"person{i}", f"dev-{i}")
    [f] = run(events)
    assert f.kind == "device_farm"
    assert f.evidence["device"] == "dev-farm"
    assert f.evidence["accounts"] == [f"acct{i}" for i in range(8)]
    assert f.evidence["days"] == ["2026-11-16", "2026-11-17"]
    assert f.evidence["accounts_per_day"] == {"2026-11-16": 8, "2026-11-17": 8}
    assert f.evidence["event_ids_total"] == 16
    assert f.id == run(events)[0].id
    assert "8 accounts" in f.summary


def test_local_day_boundary_splits_the_count() -> None:
    # Three accounts before local midnight and three after: never 5 in one local day,
    # although all six fall on one UTC day.
    events: list[Event] = []
    for i in range(3):
        ev(events, LATE - 600 + i, f"a{i}", "dev-x")
        ev(events, LATE + 3600 + 60 + i, f"b{i}", "dev-x")
    assert run(events) == []
    assert len(run(events, min_accounts=3)) == 1


def test_few_accounts_and_declared_kiosks_are_silent() -> None:
    events: list[Event] = []
    for i in range(4):  # a family phone
        ev(events, LATE - 7200 + i * 100, f"fam{i}", "dev-family")
    for i in range(12):  # the township hall's shared kiosk
        ev(events, LATE - 7200 + i * 100, f"visitor{i}", "kiosk-hall")
    for i in range(6):  # no device reported: nothing to say
        ev(events, LATE - 7000 + i, f"anon{i}", None)
    assert [f.evidence["device"] for f in run(events)] == ["kiosk-hall"]
    assert run(events, shared_devices_allowed=("kiosk-hall",)) == []


def large_app_with_shared_phones(rng: random.Random, share: float) -> list[Event]:
    """A week of a large app: 3,000 people a day on their own phones, and phones shared by
    families and offices at base rate `share`, each further account on a shared phone as
    likely as the first (P(>= k accounts) = share^(k-1))."""
    events: list[Event] = []
    for d in range(7):
        for i in range(3000):
            k = 1
            while rng.random() < share:
                k += 1
            t = LATE - 12 * 3600 + d * DAY + rng.uniform(0, 8 * 3600)
            for j in range(k):
                ev(events, t + 60 * j, f"p{i}-{j}" if j else f"p{i}", f"dev-{d}-{i}")
    return events


def test_large_app_accounts_for_phones_shared_by_chance() -> None:
    rng = random.Random(5)
    events = large_app_with_shared_phones(rng, share=0.12)
    by_day_device: dict[tuple[int, str | None], set[str]] = {}
    for e in events:
        by_day_device.setdefault((int((e.ts - LATE) // DAY), e.device), set()).add(e.account)
    five_plus = sum(len(a) >= 5 for a in by_day_device.values())
    assert five_plus >= 2  # chance alone gives a few phones with 5+ accounts in a week
    assert len(run(events, max_expected_by_chance=1e9)) == five_plus  # the fixed threshold
    assert run(events) == []

    for i in range(20):  # one phone logging in as 20 accounts on one evening
        ev(events, LATE - 3600 + i * 40, f"farmed{i}", "dev-farm")
    [f] = run(events)
    assert f.evidence["device"] == "dev-farm"
    base = f.evidence["chance_baseline"]
    assert base["device_days"] == 7 * 3000 + 1
    assert 0.09 < base["shared_share"] < 0.15
    assert base["threshold"] > 5 and base["expected_at_threshold"] <= 0.05
    assert base["expected_at_peak"] < 1e-12
    assert "chance sharing would give" in f.summary


def test_small_app_keeps_the_fixed_threshold() -> None:
    events: list[Event] = []
    for i in range(5):
        ev(events, LATE - 7200 + i * 100, f"acct{i}", "dev-farm")
    [f] = run(events)
    assert f.evidence["chance_baseline"]["threshold"] == 5


@pytest.mark.parametrize(
    "overrides", [{}, {"min_accounts": 3}, {"shared_devices_allowed": ("kiosk-hall",)}]
)
def test_a_batch_of_apps_gives_each_app_its_own_findings(overrides: dict) -> None:
    """detect_batch (devices with enough accounts over the window, for every app at once)
    = detect app by app, in app order, byte for byte: a device name or account in two
    apps is two devices, two accounts."""
    import msgspec

    from tapwatch.detectors.derived import one_pass

    farm: list[Event] = []
    for i in range(8):
        ev(farm, LATE - 7200 + i * 30, f"acct{i}", "dev-farm")
    split: list[Event] = []  # 3 + 3 accounts either side of local midnight
    for i in range(3):
        ev(split, LATE - 600 + i, f"a{i}", "dev-x")
        ev(split, LATE + 3600 + 60 + i, f"b{i}", "dev-x")
    hall: list[Event] = []
    for i in range(12):
        ev(hall, LATE - 7200 + i * 100, f"visitor{i}", "kiosk-hall")
    halves: list[list[Event]] = [[], []]  # dev-farm with 4 accounts in each of two apps
    for i in range(8):
        ev(halves[i % 2], LATE - 7200 + i * 30, f"acct{i}", "dev-farm")
    logs = [farm, split, [], hall, *halves]
    inputs = [
        DetectorInput(
            app=AppProfile(id=f"app-{k}"),
            now=LATE + 10 * DAY,
            events=EventWindow.from_events(f"app-{k}", events),
            account_days=AccountDays.from_rows([], []),
            app_hours=AppHours.from_rows([]),
        )
        for k, events in enumerate(logs)
    ]
    settings = device_farm.Settings(**overrides)
    alone = [f for inp in inputs for f in device_farm.detect(inp, settings)]
    with one_pass(inputs):
        together = device_farm.detect_batch(inputs, settings)
    assert msgspec.json.encode(together) == msgspec.json.encode(alone)
    # the two halves of dev-farm (4 accounts each) are found only at 3
    assert {f.app for f in together} == (
        {"app-0", "app-1", "app-3", "app-4", "app-5"} if overrides.get("min_accounts") == 3
        else {"app-0"} if overrides else {"app-0", "app-3"}
    )
