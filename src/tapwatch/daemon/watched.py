"""A settings file that is re-read when it (or a file it names) changes, keeping the last
good version while a change is broken: the users file and the web config."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from tapwatch.config import ConfigError

log = logging.getLogger("tapwatch.auth")

T = TypeVar("T")
Stamp = tuple[tuple[int, int, int] | None, ...]


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells a changed file (mtime, size, inode), or None if it cannot be seen."""
    try:
        st = os.stat(path)  # follows symlinks: a Kubernetes secret swaps its ..data link
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class WatchedFile(Generic[T]):
    """A file loaded by `load`, re-loaded when its stat or that of a file it names
    (`names(value)`, e.g. the TLS certificate) changes, checked at most once per
    `min_check_interval` seconds (a stat per file, on the request path).

    A change that fails to load, or that `accept(old, new)` refuses (returns why), keeps
    the last good value; the error is logged once and kept in `last_error` until a good
    change; `on_change` is called after each re-read and each new error. If the file
    itself is removed and `on_missing` is given, its value becomes
    `on_missing()` (the users file: nobody may log in); otherwise the last good value
    stays. At start a broken file raises ConfigError."""

    def __init__(
        self,
        path: Path,
        load: Callable[[Path], T],
        *,
        names: Callable[[T], tuple[Path, ...]] = lambda _: (),
        accept: Callable[[T, T], str | None] = lambda _old, _new: None,
        on_missing: Callable[[], T] | None = None,
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        min_check_interval: float = 1.0,
    ) -> None:
        self.path = path
        self._on_change = on_change
        self._load = load
        self._names = names
        self._accept = accept
        self._on_missing = on_missing
        self._clock = clock
        self._interval = min_check_interval
        self._checked = float("-inf")
        self._wall_clock = wall_clock
        self.value: T = load(path)
        self._stamp = self._stamps(self.value)
        self.last_error: str | None = None
        self.reloads = 0  # successful re-reads since start
        #: when the value in use was read (Unix time): the start, or the last good change
        self.last_success = wall_clock()

    @property
    def ok(self) -> bool:
        """Whether the last read succeeded (False: the last good value, or `on_missing()`
        for a removed file, is in use)."""
        return self.last_error is None

    def _stamps(self, value: T) -> Stamp:
        return tuple(file_stamp(p) for p in (self.path, *self._names(value)))

    def get(self) -> T:
        """The current value, re-read first if a second has passed and a file changed."""
        now = self._clock()
        if now - self._checked >= self._interval:
            self._checked = now
            self.check()
        return self.value

    def check(self) -> None:
        """Re-read now if the file or a file it names changed."""
        stamp = self._stamps(self.value)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        if stamp[0] is None and self._on_missing is not None:
            self.value = self._on_missing()
            self._failed(f"{self.path}: removed")
            return
        try:
            new = self._load(self.path)
        except ConfigError as e:
            self._failed("\n".join(e.errors))
            return
        refused = self._accept(self.value, new)
        if refused is not None:
            self._failed(f"{self.path}: {refused}")
            return
        self.value = new
        self._stamp = self._stamps(new)
        self.reloads += 1
        self.last_success = self._wall_clock()
        if self.last_error is not None:
            log.info("%s is good again", self.path)
        else:
            log.info("re-read %s", self.path)
        self.last_error = None
        self._on_change()

    def _failed(self, error: str) -> None:
        if error != self.last_error:  # once per state change, not per request
            if self._on_missing is not None and error.endswith(": removed"):
                log.error("%s (nobody can log in until it is back)", error)
            else:
                log.error("keeping the last good version: %s", error)
            self.last_error = error
            self._on_change()
