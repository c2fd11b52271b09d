"""A `tapwatch run` subprocess for tests, and processes as Linux's /proc shows them (a
daemon's children, whether one still runs)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from pathlib import Path


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None if there is no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after it
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def running(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie has exited)."""
    st = _stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def children(pid: int) -> dict[int, str]:
    """The running children of a process: pid -> command line."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        st = _stat(int(entry))
        if st is None or st[1] != pid or st[0] in ("Z", "X"):
            continue
        try:
            cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError):
            continue
        out[int(entry)] = cmd
    return out


class DaemonProcess:
    """`tapwatch run` in a subprocess, its log lines collected as they come.

    The daemon listens on a free port; `port` is read from its "serving on" line. Use it
    as `async with DaemonProcess(cfg) as d:`: a daemon a failed test leaves running is
    killed on the way out."""

    def __init__(self, config: Path, log_level: str = "info") -> None:
        self.config = config
        self.log_level = log_level
        self.lines: list[str] = []
        self.port = 0
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, *, wait_ready: bool = True) -> DaemonProcess:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tapwatch", "run", "--config", str(self.config),
            "--log-level", self.log_level,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        if wait_ready:
            line = await self.wait_for_line("serving on")
            self.port = int(re.search(r"serving on \S+:(\d+)", line).group(1))  # type: ignore[union-attr]
        return self

    async def __aenter__(self) -> DaemonProcess:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def matching(self, text: str) -> list[str]:
        """The log lines so far that contain `text`."""
        return [line for line in self.lines if text in line]

    async def wait_for_line(self, text: str, timeout: float = 20.0) -> str:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            hits = self.matching(text)
            if hits:
                return hits[0]
            if self.proc is not None and self.proc.returncode is not None:
                break
            await asyncio.sleep(0.05)
        raise AssertionError(f"no log line with {text!r}; log:\n" + "\n".join(self.lines))

    async def exit_code(self, timeout: float = 20.0) -> int:
        """Wait for the process to end (it is not asked to) and its log to be read."""
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code

    async def stop(self) -> int:
        """SIGTERM and wait (SIGKILL after 20 s); the exit code."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self._reader is not None:
            await self._reader
        assert self.proc.returncode is not None
        return self.proc.returncode
