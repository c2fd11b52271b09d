"""Helpers for the platform adapter tests: a clock the test moves, a poll context, and
running one poll of a source to the end, committing its cursor as the scheduler would."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tapwatch.events import Event
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.base import PollContext, Source

FIXTURES = Path(__file__).parent / "fixtures" / "platforms"
KEY = b"platform-test-key-0123456789abcdef"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


class Clock:
    """Wall clock plus an offset the test moves (shared by the adapter and the fakes)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Polled:
    """What polls of one app produced, as the scheduler would have committed it."""

    events: list[Event] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    snapshots: list[Any] = field(default_factory=list)
    cursor: str | None = None
    batches: int = 0

    @property
    def ids(self) -> set[str]:
        return {e.id for e in self.events}


async def poll(
    source: Source,
    session: aiohttp.ClientSession,
    clock: Clock,
    state: Polled | None = None,
    *,
    app_id: str = "app",
    oldest: float | None = None,
    key: bytes = KEY,
) -> Polled:
    """One poll to the end; events, counts and the cursor accumulate in `state`."""
    st = state or Polled()
    now = clock()
    ctx = PollContext(
        app_id=app_id,
        session=session,
        pseudonymizer=Pseudonymizer(key),
        now=clock,
        timeout=5.0,
        max_response_bytes=4 << 20,
        max_clock_skew=600.0,
        oldest_accepted=now - 400 * 86400 if oldest is None else oldest,
        cursor=st.cursor,
    )
    async for b in source.poll(ctx):
        st.batches += 1
        st.events += b.events.to_events(app_id)  # the columns, as records to compare
        st.rejected.update(b.rejected)
        st.skipped.update(b.skipped)
        if b.snapshot is not None:
            st.snapshots.append(b.snapshot)
        if b.cursor is not None:
            st.cursor = b.cursor
    return st


def secret_file(tmp: Path, name: str, value: str) -> str:
    p = tmp / name
    p.write_text(value + "\n")
    p.chmod(0o600)  # tapwatch refuses a secret file others can read
    return str(p)
