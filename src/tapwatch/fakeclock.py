"""Test support: shift this process's wall clock by a fixed offset.

The test suite runs at a fixed instant whatever the real hour (tests/conftest.py), and every
`tapwatch` process it starts must agree with it on what "now" is: the simulator's history,
the daemon's clock-skew check and the detectors' days all depend on it. The suite sets
`TAPWATCH_CLOCK_OFFSET_S` (fake minus real wall-clock seconds) for its subprocesses, and
`tapwatch` applies it at start. The monotonic clock is left alone, so timers and timeouts run
in real time. Needs time-machine (the `test` extra); unset in production.
"""

from __future__ import annotations

import os
import time

ENV = "TAPWATCH_CLOCK_OFFSET_S"
_installed = False


def install(offset_s: float) -> None:
    """From now on time.time(), datetime.now() and friends read `offset_s` seconds later than
    the real wall clock, and tick in real time. Once per process."""
    global _installed
    if _installed:
        return
    import time_machine  # only with the test extra

    time_machine.travel(time.time() + offset_s, tick=True).start()
    _installed = True


def install_from_env() -> None:
    """Apply `TAPWATCH_CLOCK_OFFSET_S` when the environment sets it (tests only)."""
    value = os.environ.get(ENV)
    if not value:
        return
    try:
        offset = float(value)
    except ValueError:
        raise SystemExit(f"tapwatch: {ENV}={value!r} is not a number of seconds") from None
    install(offset)
