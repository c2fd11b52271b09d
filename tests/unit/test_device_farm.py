"""Device farm detector: many accounts on one device per local day."""

from __future__ import annotations

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
