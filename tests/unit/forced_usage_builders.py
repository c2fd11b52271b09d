"""Builders shared by the forced-usage detector tests: synthetic events in app local time
and DetectorInputs assembled through the same rollup functions the daemon uses."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from tapwatch.detectors.base import AppProfile, DetectorInput, Finding
from tapwatch.events import Event, EventType
from tapwatch.window import (
    DAY,
    EventWindow,
    account_days_from,
    app_hours_from,
    rollup_rows,
)

TZ = ZoneInfo("Asia/Shanghai")


def at(d: date, seconds_after_midnight: float) -> float:
    """Epoch seconds of a local wall-clock time on day d."""
    return datetime.combine(d, time(0), tzinfo=TZ).timestamp() + seconds_after_midnight


def hm(hours: int, minutes: float = 0.0) -> float:
    """Seconds after midnight."""
    return hours * 3600.0 + minutes * 60.0


def days(start: date, n: int, weekdays_only: bool = False) -> list[date]:
    """n consecutive calendar days (or the working days among them) from start."""
    out = [start + timedelta(days=i) for i in range(n)]
    return [d for d in out if d.weekday() < 5] if weekdays_only else out


class Events:
    """Collects events with unique, deterministic ids."""

    def __init__(self, app: str = "app-test") -> None:
        self.app = app
        self.items: list[Event] = []

    def add(self, ts: float, type: EventType, account: str, **fields: object) -> Event:
        e = Event(
            app=self.app,
            id=f"e{len(self.items):07d}",
            ts=ts,
            type=type,
            account=account,
            **fields,  # type: ignore[arg-type]
        )
        self.items.append(e)
        return e


def make_input(
    events: Iterable[Event],
    now: float,
    raw_days: float = 7.0,
    profile: AppProfile | None = None,
) -> DetectorInput:
    """A DetectorInput as the daemon would build it: raw events of the last `raw_days`,
    rollups over all given events."""
    profile = profile or AppProfile(id="app-test", timezone=TZ)
    evs = [e for e in events if e.ts <= now]
    acc, hours = rollup_rows(evs, profile.timezone)
    return DetectorInput(
        app=profile,
        now=now,
        events=EventWindow.from_events(
            profile.id, [e for e in evs if e.ts >= now - raw_days * DAY]
        ),
        account_days=account_days_from(acc),
        app_hours=app_hours_from(hours),
    )


def encoded(findings: list[Finding]) -> bytes:
    """Findings as the findings API serves them (fails if any evidence value is not plain
    JSON, e.g. a numpy scalar)."""
    return msgspec.json.encode(findings)
