"""What is wrong with the store's files, told apart from tapwatch's own bugs.

A store can stop taking writes for reasons outside tapwatch: its file or filesystem turned
read-only (permissions, `chattr +i`, a filesystem remounted read-only after errors), the
disk filled up, the disk reports I/O errors, the file is damaged, or another process holds
its write lock. `classify` turns what SQLite or the OS raised into one `StoreError` with a
`StoreFault`; anything it does not recognise is a bug and stays an ordinary exception.

Why `unwritable` is checked *before* SQLite is touched: in WAL mode SQLite maps the index
file (`-shm`) into memory and writes to it even to read. Once the kernel refuses writes to a
file (immutable, read-only or shut-down filesystem), such a memory write does not fail with
an error SQLite could return: the process is killed by SIGBUS. A few `access()` calls per
store call (microseconds) see that state first, and the daemon stays away from the files
until they take writes again.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import struct
from enum import StrEnum
from pathlib import Path

#: the files of a SQLite store in WAL mode
SUFFIXES = ("", "-wal", "-shm")
#: free space a full store's filesystem needs before writing resumes (or 5 % of it)
RESUME_FREE_BYTES = 64 << 20
_HEADER = b"SQLite format 3\x00"


class StoreFault(StrEnum):
    """Why the store does not take writes (a bounded label value)."""

    readonly = "readonly"  # the file or its filesystem refuses writes
    full = "full"  # no space left on the filesystem (or over quota)
    io = "io"  # the disk or filesystem reports I/O errors, or a file is gone
    corrupt = "corrupt"  # not a SQLite database, truncated, or damaged pages
    locked = "locked"  # another process holds the write lock past the busy timeout


#: what an operator does about each fault (quoted by the log line and the start error)
ADVICE = {
    StoreFault.readonly: "make the store files and their directory writable by tapwatch "
    "(permissions, `chattr -i`, a read-only mount)",
    StoreFault.full: "free space on the store's filesystem (tapwatch cannot prune while "
    "it is full: deleting needs log space too)",
    StoreFault.io: "check the disk and the kernel log (dmesg)",
    StoreFault.corrupt: "restore the store from a backup, or move it aside (with its -wal "
    "and -shm files) to start with an empty one, where every app is read again from its "
    "start",
    StoreFault.locked: "end the other process holding the store's write lock (a second "
    "tapwatch on the same file, an open `sqlite3` session)",
}

# SQLite's primary result codes (sqlite3.h) that are about the file, not about tapwatch
_SQLITE_FAULTS = {
    5: StoreFault.locked,  # SQLITE_BUSY
    6: StoreFault.locked,  # SQLITE_LOCKED
    8: StoreFault.readonly,  # SQLITE_READONLY (and its extended codes)
    11: StoreFault.corrupt,  # SQLITE_CORRUPT
    13: StoreFault.full,  # SQLITE_FULL
    26: StoreFault.corrupt,  # SQLITE_NOTADB
}
_SQLITE_IOERR, _SQLITE_CANTOPEN = 10, 14
_SQLITE_READONLY_DBMOVED = 8 | (4 << 8)
_ERRNO_FAULTS = {
    errno.EROFS: StoreFault.readonly,
    errno.EPERM: StoreFault.readonly,
    errno.EACCES: StoreFault.readonly,
    errno.ENOSPC: StoreFault.full,
    errno.EDQUOT: StoreFault.full,
    errno.EIO: StoreFault.io,
    errno.ENOENT: StoreFault.io,
}


class StoreError(Exception):
    """The store cannot do what was asked, for a reason outside tapwatch."""

    def __init__(self, fault: StoreFault, path: Path, detail: str) -> None:
        super().__init__(f"store {path}: {fault.value}: {detail}")
        self.fault = fault
        self.path = path
        self.detail = detail

    def __reduce__(self) -> tuple[type[StoreError], tuple[StoreFault, Path, str]]:
        # raised in the detector worker process, unpickled in the daemon
        return (StoreError, (self.fault, self.path, self.detail))

    @property
    def advice(self) -> str:
        return ADVICE[self.fault]


def classify(exc: BaseException, path: Path) -> StoreError | None:
    """The store fault behind an exception raised by a store call, or None for a bug."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        if code is None:  # raised by the sqlite3 module itself (misuse): ours
            return None
        primary = code & 0xFF
        fault = _SQLITE_FAULTS.get(primary)
        if fault is None and primary in (_SQLITE_IOERR, _SQLITE_CANTOPEN):
            # SQLite does not pass the errno on: ask the files what is wrong
            found = unwritable(path)
            if found is not None:
                return found
            fault = StoreFault.full if _no_space(path) else StoreFault.io
        if code == _SQLITE_READONLY_DBMOVED:  # the open file was unlinked or renamed
            return StoreError(
                StoreFault.io, path, "the store file was deleted or moved while in use"
            )
        if fault is None:
            return None
        return StoreError(fault, path, f"{exc} ({getattr(exc, 'sqlite_errorname', code)})")
    if isinstance(exc, OSError) and exc.errno in _ERRNO_FAULTS:
        return StoreError(_ERRNO_FAULTS[exc.errno], path, exc.strerror or str(exc))
    return None


def _no_space(path: Path) -> bool:
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return False
    return st.f_bavail == 0 or (st.f_files > 0 and st.f_favail == 0)


def short_of_space(path: Path) -> StoreError | None:
    """A `full` error while the store's filesystem has less free space than writing should
    resume with (5 % of the filesystem, at most 64 MiB): as disk watermarks do, a store
    that filled its disk waits for real room, not for the first byte freed."""
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return None
    free = st.f_bavail * st.f_frsize
    reserve = min(RESUME_FREE_BYTES, st.f_blocks * st.f_frsize // 20)
    if free >= reserve:
        return None
    return StoreError(
        StoreFault.full, path,
        f"{free / 2**20:.1f} MiB free on its filesystem; writing resumes at "
        f"{reserve / 2**20:.1f} MiB",
    )


def unwritable(path: Path) -> StoreError | None:
    """A `readonly` (or `io`, for a file gone) error if a store file would refuse writes
    now, else None. Cheap enough to run before every store call."""
    if str(path) == ":memory:":
        return None
    for suffix in SUFFIXES:
        p = Path(f"{path}{suffix}")
        if os.access(p, os.W_OK):
            continue
        if not os.path.lexists(p):
            if suffix:
                continue  # no write-ahead log yet: SQLite creates it
            # a new store: created in its directory, or in the nearest one that exists
            parent = next(d for d in path.absolute().parents if d.exists())
            if os.access(parent, os.W_OK):
                continue
            return _why_unwritable(parent, path)
        return _why_unwritable(p, path)
    return None


def _why_unwritable(p: Path, path: Path) -> StoreError:
    """Why `p` (a store file, or the directory of a store not created yet) refuses writes.

    Found without opening it: closing any descriptor of a database file drops every POSIX
    lock this process holds on it, SQLite's included."""
    try:
        read_only_fs = bool(os.statvfs(p).f_flag & os.ST_RDONLY)
        st = p.stat()
    except FileNotFoundError:
        return StoreError(StoreFault.io, path, f"{p.name} is gone (deleted or moved?)")
    except OSError as e:
        return StoreError(StoreFault.io, path, f"{p.name} cannot be examined ({e.strerror})")
    if read_only_fs:
        why = "is on a read-only filesystem"
    elif os.geteuid() != 0 and not _mode_lets_me_write(st):
        why = f"is not writable by uid {os.geteuid()} (permissions)"
    else:  # neither the mount nor the mode: an inode flag
        why = "is immutable or append-only (see lsattr)"
    return StoreError(StoreFault.readonly, path, f"{p.name} {why}")


def _mode_lets_me_write(st: os.stat_result) -> bool:
    if st.st_uid == os.geteuid():
        return bool(st.st_mode & 0o200)
    if st.st_gid == os.getegid() or st.st_gid in os.getgroups():
        return bool(st.st_mode & 0o020)
    return bool(st.st_mode & 0o002)


def check_database_file(path: Path) -> None:
    """Raise a `corrupt` StoreError if an existing store file is plainly not a whole SQLite
    database: shorter than its header, another kind of file, or shorter than its header
    says it is. A missing or empty file is fine (a new store). Reads 100 bytes."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    with path.open("rb") as f:
        header = f.read(100)
    if len(header) < 100:
        raise StoreError(
            StoreFault.corrupt, path,
            f"truncated: {size} bytes, shorter than the 100-byte SQLite header",
        )
    if not header.startswith(_HEADER):
        raise StoreError(
            StoreFault.corrupt, path, "not a SQLite database (its first bytes are not the "
            "SQLite header: overwritten, or another file)",
        )
    (raw_page_size,) = struct.unpack(">H", header[16:18])
    page_size = 65536 if raw_page_size == 1 else raw_page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise StoreError(
            StoreFault.corrupt, path, f"damaged header (page size {raw_page_size})"
        )
    change_counter, pages = struct.unpack(">II", header[24:32])
    (valid_for,) = struct.unpack(">I", header[92:96])
    wal = Path(f"{path}-wal")
    wal_pending = wal.exists() and wal.stat().st_size > 0
    # The header's page count is trusted only when it was written with the file's last
    # change; with a write-ahead log left over, recovery may still rewrite the file.
    if valid_for == change_counter and not wal_pending and pages * page_size > size:
        raise StoreError(
            StoreFault.corrupt, path,
            f"truncated: {size} bytes, but its header says {pages} pages of {page_size} "
            f"bytes ({pages * page_size} bytes)",
        )
