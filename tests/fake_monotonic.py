"""A fake monotonic clock for code that takes `clock` and `sleep` (the password checker,
the platform limiter): it moves only when the code under test sleeps on it, so timing
is checked exactly, whatever the machine's load."""

from __future__ import annotations

import asyncio


class Clock:
    """`clock()` reads the time; `sleep` advances it and records how long was asked."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    async def sleep(self, s: float) -> None:
        self.slept.append(round(s, 6))
        self.t += s
        await asyncio.sleep(0)  # let the other callers run, as a real sleep would
