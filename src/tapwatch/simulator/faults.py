"""Fault modes: how a simulated app misbehaves, for the collector's robustness tests and
the demo's collector-health view.

Transport faults (down, slow, http_500, garbage, huge, wrong_content_type, auth,
rate_limited) are applied by the server before a page is built; data faults (skewed_clock,
bad_events) change how events are rendered; paging faults (cursor_backwards,
duplicate_ids) change which positions a page covers.
"""

from __future__ import annotations

import enum
from typing import Any

from tapwatch.simulator.scenarios import hex_id, rfc3339, unit_random


class FaultMode(enum.StrEnum):
    down = "down"  # connection refused (the app's URL points at a port nobody listens on)
    slow = "slow"  # answers only after the collector's timeout
    http_500 = "http_500"
    garbage = "garbage"  # 200 with a body that is not JSON
    huge = "huge"  # 200 with a 50 MB streamed body
    wrong_content_type = "wrong_content_type"  # 200 text/html
    cursor_backwards = "cursor_backwards"  # every third page's next_cursor goes back
    duplicate_ids = "duplicate_ids"  # pages overlap: the same ids served again
    skewed_clock = "skewed_clock"  # timestamps 2 h in the future
    auth = "auth"  # always 401
    rate_limited = "rate_limited"  # 429 + Retry-After: 2 when polled faster than that
    bad_events = "bad_events"  # ~15 % of events malformed, mixed with good ones


#: Modes under which a collector gets no usable data at all (expected band
#: insufficient_data in the ground truth).
BLOCKING_MODES = frozenset(
    {
        FaultMode.down,
        FaultMode.slow,
        FaultMode.http_500,
        FaultMode.garbage,
        FaultMode.huge,
        FaultMode.wrong_content_type,
        FaultMode.auth,
    }
)

SKEW_S = 2 * 3600.0
BAD_EVENT_SHARE = 0.15
RATE_LIMIT_S = 2.0
GARBAGE_BODY = b'\x00\x1f<<not json>> events: [oops, {"id": 1,,}\n'
HTML_BODY = (
    b"<!DOCTYPE html><html><head><title>Login</title></head>"
    b"<body><p>Please sign in to continue.</p></body></html>"
)
#: How a bad event is broken, by variant.
BAD_VARIANTS = ("missing_account", "bad_ts", "lat_200", "unknown_type")


def parse_fault(value: str) -> FaultMode:
    """A fault mode by name; ValueError listing the valid ones."""
    try:
        return FaultMode(value)
    except ValueError:
        valid = ", ".join(m.value for m in FaultMode)
        raise ValueError(f"unknown fault mode {value!r} (valid: {valid})") from None


def bad_variant(app: str, eid: str) -> str | None:
    """Which way this event is broken under `bad_events`, or None if it stays good."""
    u = unit_random("bad-event", app, eid)
    if u >= BAD_EVENT_SHARE:
        return None
    return BAD_VARIANTS[int(u / BAD_EVENT_SHARE * len(BAD_VARIANTS))]


def render_event(
    ev: dict[str, Any], t: float, app: str, mode: FaultMode | None, ts_format: str
) -> dict[str, Any]:
    """The event as the app serves it under its data fault (unchanged otherwise)."""
    if mode is FaultMode.skewed_clock:
        ev = dict(ev)
        st = t + SKEW_S
        ev["ts"] = (
            round(st, 3) if ts_format == "epoch" else rfc3339(st, millis=ts_format == "rfc3339_ms")
        )
    elif mode is FaultMode.bad_events:
        variant = bad_variant(app, ev["id"])
        if variant is not None:
            ev = dict(ev)
            if variant == "missing_account":
                del ev["account"]
            elif variant == "bad_ts":
                ev["ts"] = "yesterday at " + hex_id(ev["id"], n=4)
            elif variant == "lat_200":
                ev["lat"], ev["lon"] = 200.0, ev.get("lon", 120.0)
            else:
                ev["type"] = "teleport"
    return ev
