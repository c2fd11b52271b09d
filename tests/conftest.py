"""The whole suite runs at a fixed instant, whatever the real hour.

`TAPWATCH_TEST_NOW` (RFC 3339) picks it; the default is a Monday morning in Asia/Shanghai.
`scripts/clock-sweep` runs the suite again at other instants (23:59 local, month and year
end, just past midnight). The wall clock starts there and ticks in real time (time-machine);
the monotonic clock is left alone. `tapwatch` subprocesses get the same offset through
`TAPWATCH_CLOCK_OFFSET_S` (see src/tapwatch/fakeclock.py). Real Prometheus and Alertmanager
run on the real clock: talk to them in `real_time()`.
"""

from __future__ import annotations

import os
import time
from datetime import datetime

import pytest
from time_machine import escape_hatch

from tapwatch import fakeclock

DEFAULT_TEST_NOW = "2026-11-30T09:34:00+08:00"


def test_now() -> datetime:
    """The instant the suite's clock started at."""
    value = os.environ.get("TAPWATCH_TEST_NOW", DEFAULT_TEST_NOW)
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise pytest.UsageError(f"TAPWATCH_TEST_NOW={value!r} is not RFC 3339") from None
    if t.tzinfo is None:
        raise pytest.UsageError(f"TAPWATCH_TEST_NOW={value!r} needs a UTC offset")
    return t


def real_time() -> float:
    """The real wall clock (for processes that are not on the suite's clock)."""
    return escape_hatch.time.time() if escape_hatch.is_travelling() else time.time()


def pytest_configure(config: pytest.Config) -> None:
    # Before collection, so that module-level `time.time()` reads the fixed clock too.
    offset = test_now().timestamp() - real_time()
    os.environ[fakeclock.ENV] = repr(offset)
    fakeclock.install(offset)


def pytest_report_header(config: pytest.Config) -> str:
    return f"clock: starts at {test_now().isoformat()} (TAPWATCH_TEST_NOW), ticks in real time"
