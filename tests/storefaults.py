"""Real store faults for tests: immutable files (`chattr +i`) and a small filesystem that
fills up (a tmpfs of a given size). Both need root; tests that use them are skipped, with
the reason, where the machine does not allow them.

Why not `chmod`: root (the test machines' user) writes to a 0444 file anyway, and a
filesystem with open files cannot be remounted read-only; an immutable inode refuses
everyone, and a write to a mapped page of it raises SIGBUS exactly as a read-only or
shut-down filesystem does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def can_make_immutable(directory: Path) -> str | None:
    """None if files in `directory` can be made immutable here, else why not."""
    if os.geteuid() != 0 or shutil.which("chattr") is None:
        return "chattr +i needs root and e2fsprogs"
    probe = directory / f".immutable-probe-{uuid.uuid4().hex}"
    probe.touch()
    try:
        r = _run("chattr", "+i", str(probe))
        if r.returncode != 0:
            return f"chattr +i does not work on this filesystem: {r.stderr.strip()}"
        _run("chattr", "-i", str(probe))
        return None
    finally:
        probe.unlink()


def set_immutable(paths: Iterable[Path], on: bool) -> None:
    files = [str(p) for p in paths if p.exists()]
    if files:
        r = _run("chattr", "+i" if on else "-i", *files)
        assert r.returncode == 0, r.stderr


@contextlib.contextmanager
def immutable(paths: Iterable[Path]) -> Iterator[None]:
    """The given files immutable (those that exist), and writable again afterwards."""
    files = list(paths)
    set_immutable(files, True)
    try:
        yield
    finally:
        set_immutable(files, False)


def store_files(db: Path) -> list[Path]:
    """The store's database, write-ahead log and index files."""
    return [Path(f"{db}{s}") for s in ("", "-wal", "-shm")]


@contextlib.contextmanager
def small_filesystem(mountpoint: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted at `mountpoint` (created), unmounted afterwards; skips the
    test where mounting is not allowed."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    options = f"size={size},mode=0755"
    r = _run("mount", "-t", "tmpfs", "-o", options, "tapwatch-test", str(mountpoint))
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        r = _run("umount", str(mountpoint))
        if r.returncode != 0:  # still busy (a process of the test still runs): detach it
            _run("umount", "-l", str(mountpoint))


def fill(directory: Path) -> Path:
    """Fill the filesystem of `directory` to the last byte with one file; returns it."""
    ballast = directory / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for size in (1 << 16, 4096, 512, 1):
            with contextlib.suppress(OSError):
                while os.write(fd, b"\0" * size):
                    pass
    finally:
        os.close(fd)
    return ballast
