"""Store faults told apart from bugs, a file that refuses writes seen before SQLite touches
it, and a damaged store file recognised at start."""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tapwatch.store.health import (
    StoreError,
    StoreFault,
    check_database_file,
    classify,
    short_of_space,
    unwritable,
)
from tapwatch.store.sqlite import Store
from tests.storefaults import (
    can_make_immutable,
    fill,
    immutable,
    small_filesystem,
    store_files,
)


def _raised(fn: Callable[[], object]) -> BaseException:
    try:
        fn()
    except BaseException as e:  # the exception is what the test looks at
        return e
    raise AssertionError("nothing was raised")


def _made_store(path: Path, rows: int = 0) -> None:
    """A store file with `rows` rows of 1 KB in a table of its own, closed cleanly."""
    s = Store(path)
    s._db.execute("CREATE TABLE filler(x BLOB)")
    for _ in range(rows):
        s._db.execute("INSERT INTO filler VALUES(randomblob(1000))")
    s.close()


# ---- classify: what SQLite and the OS raise -> a fault, or None for a bug ---------------


def test_a_full_store_is_full_and_the_next_write_fails_the_same_way(tmp_path: Path) -> None:
    """SQLite's max_page_count stands in for a full disk: SQLITE_FULL, as ENOSPC gives."""
    path = tmp_path / "s.sqlite"
    s = Store(path)
    (pages,) = s._db.execute("PRAGMA page_count").fetchone()
    s._db.execute(f"PRAGMA max_page_count={pages}")

    def write_a_lot() -> None:
        with s._tx() as db:
            db.execute("CREATE TABLE IF NOT EXISTS filler(x BLOB)")
            db.execute("INSERT INTO filler VALUES(randomblob(100000))")

    for _ in range(2):  # the failed write left no transaction open behind it
        err = classify(_raised(write_a_lot), path)
        assert err is not None and err.fault is StoreFault.full
        assert "SQLITE_FULL" in err.detail
    s._db.execute(f"PRAGMA max_page_count={pages + 1000}")  # space again
    s.probe_write(1.0)
    write_a_lot()
    s.close()


def test_a_read_only_connection_is_readonly(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _made_store(path)
    ro = Store(path, readonly=True)
    err = classify(_raised(lambda: ro.probe_write(1.0)), path)
    assert err is not None and err.fault is StoreFault.readonly
    ro.close()


def test_a_write_lock_held_elsewhere_is_locked(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _made_store(path)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    mine = sqlite3.connect(path, isolation_level=None, timeout=0.05)
    err = classify(_raised(lambda: mine.execute("BEGIN IMMEDIATE")), path)
    assert err is not None and err.fault is StoreFault.locked
    other.execute("ROLLBACK")
    other.close()
    mine.close()


def test_a_file_that_is_not_a_database_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    path.write_bytes(os.urandom(8192))
    err = classify(_raised(lambda: Store(path)), path)
    assert err is not None and err.fault is StoreFault.corrupt
    assert "SQLITE_NOTADB" in err.detail


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), StoreFault.full),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), StoreFault.full),
        (OSError(errno.EROFS, "Read-only file system"), StoreFault.readonly),
        (OSError(errno.EIO, "Input/output error"), StoreFault.io),
        # ours, not the store's: stays a bug
        (OSError(errno.EBADF, "Bad file descriptor"), None),
        (ValueError("bad value"), None),
        (sqlite3.ProgrammingError("Cannot operate on a closed database."), None),
    ],
)
def test_os_errors_and_bugs(exc: BaseException, fault: StoreFault | None, tmp_path: Path) -> None:
    err = classify(exc, tmp_path / "s.sqlite")
    assert (err.fault if err is not None else None) is fault


def test_sql_mistakes_are_bugs_not_store_faults(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    _made_store(path)
    s = Store(path)
    assert classify(_raised(lambda: s._db.execute("SELECT * FROM no_such_table")), path) is None
    s.close()
    assert classify(_raised(lambda: s._db.execute("SELECT 1")), path) is None  # closed


# ---- unwritable: seen before SQLite touches the files ---------------------------------


def test_writable_and_new_stores_pass(tmp_path: Path) -> None:
    assert unwritable(tmp_path / "new.sqlite") is None
    assert unwritable(tmp_path / "var/lib/new.sqlite") is None  # directories made at start
    _made_store(tmp_path / "s.sqlite")
    assert unwritable(tmp_path / "s.sqlite") is None


def test_an_immutable_store_file_is_readonly_and_named(tmp_path: Path) -> None:
    if (why := can_make_immutable(tmp_path)) is not None:
        pytest.skip(why)
    path = tmp_path / "s.sqlite"
    _made_store(path)
    s = Store(path)  # open: the write-ahead log and its index exist
    with immutable([Path(f"{path}-shm")]):
        err = unwritable(path)
    s.close()
    assert err is not None and err.fault is StoreFault.readonly
    assert err.detail == "s.sqlite-shm is immutable or append-only (see lsattr)"


def test_a_store_on_a_read_only_filesystem_is_readonly(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "mnt", "1m") as mnt:
        _made_store(mnt / "s.sqlite")
        r = subprocess.run(["mount", "-o", "remount,ro", str(mnt)], capture_output=True)
        assert r.returncode == 0, r.stderr
        err = unwritable(mnt / "s.sqlite")
        new = unwritable(mnt / "new.sqlite")
        deeper = unwritable(mnt / "var/new.sqlite")
    assert err is not None and err.fault is StoreFault.readonly
    assert err.detail == "s.sqlite is on a read-only filesystem"
    assert new is not None and new.detail == "mnt is on a read-only filesystem"
    assert deeper is not None and deeper.detail == new.detail


def test_an_immutable_index_file_kills_a_sqlite_process_with_sigbus(tmp_path: Path) -> None:
    """The cause of the daemon's silent exit 135: SQLite writes to the memory-mapped WAL
    index even to read, and a mapped page of a file that refuses writes raises SIGBUS.
    This is why `unwritable` runs before every store call."""
    if (why := can_make_immutable(tmp_path)) is not None:
        pytest.skip(why)
    path = tmp_path / "s.sqlite"
    script = textwrap.dedent(f"""
        import os, sqlite3, subprocess
        db = sqlite3.connect({str(path)!r}, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t(x)")
        for _ in range(50):
            db.execute("INSERT INTO t VALUES(randomblob(1000))")
        os.sync()  # the index's pages are clean: the next write to them asks the filesystem
        subprocess.run(["chattr", "+i", *[{str(path)!r} + s for s in ("", "-wal", "-shm")]])
        for _ in range(3):
            try:
                db.execute("INSERT INTO t VALUES(1)")
            except sqlite3.Error:
                pass
            db.execute("SELECT COUNT(*) FROM t").fetchone()
        db.close()
        print("survived")
    """)
    try:
        r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                           timeout=60)
    finally:
        subprocess.run(["chattr", "-i", *map(str, store_files(path))], capture_output=True)
    assert r.returncode == -7, (r.returncode, r.stdout, r.stderr)  # SIGBUS
    assert "survived" not in r.stdout


# ---- check_database_file: a damaged store at start -----------------------------------


def _truncated_store(tmp_path: Path) -> Path:
    path = tmp_path / "s.sqlite"
    _made_store(path, rows=200)
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)
    return path


def _random_header(tmp_path: Path) -> Path:
    path = tmp_path / "s.sqlite"
    _made_store(path, rows=20)
    with path.open("r+b") as f:
        f.write(os.urandom(100))
    return path


def _tiny(tmp_path: Path) -> Path:
    path = tmp_path / "s.sqlite"
    path.write_bytes(b"SQLite format 3\0")
    return path


@pytest.mark.parametrize(
    ("make", "detail"),
    [
        (_random_header, "not a SQLite database (its first bytes are not the SQLite header: "
                         "overwritten, or another file)"),
        (_tiny, "truncated: 16 bytes, shorter than the 100-byte SQLite header"),
        (_truncated_store, "truncated: "),
    ],
    ids=["random-header", "shorter-than-header", "truncated"],
)
def test_damaged_store_files_are_refused_with_what_is_wrong(
    make: Callable[[Path], Path], detail: str, tmp_path: Path
) -> None:
    path = make(tmp_path)
    with pytest.raises(StoreError) as e:
        check_database_file(path)
    assert e.value.fault is StoreFault.corrupt
    assert e.value.detail.startswith(detail)
    assert str(e.value).startswith(f"store {path}: corrupt: ")


def test_the_truncation_is_measured(tmp_path: Path) -> None:
    path = _truncated_store(tmp_path)
    with pytest.raises(StoreError) as e:
        check_database_file(path)
    size = path.stat().st_size
    assert e.value.detail.startswith(f"truncated: {size} bytes, but its header says ")
    pages, page_size = (int(x) for x in e.value.detail.split("says ")[1].split(" bytes")[0]
                        .split(" pages of "))
    assert pages * page_size > size


@pytest.mark.parametrize("kind", ["missing", "empty", "whole"])
def test_whole_new_and_missing_stores_pass(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    if kind == "empty":
        path.touch()
    elif kind == "whole":
        _made_store(path, rows=200)
    check_database_file(path)


def test_a_full_filesystem_waits_for_real_room(tmp_path: Path) -> None:
    """Writing resumes at 5 % of the filesystem free (at most 64 MiB), not at the first
    byte freed."""
    with small_filesystem(tmp_path / "mnt", "4m") as mnt:
        path = mnt / "s.sqlite"
        ballast = fill(mnt)
        err = short_of_space(path)
        assert err is not None and err.fault is StoreFault.full
        assert err.detail == "0.0 MiB free on its filesystem; writing resumes at 0.2 MiB"
        with ballast.open("r+b") as f:  # 100 KiB back: still short
            f.truncate(ballast.stat().st_size - 100 * 1024)
        err = short_of_space(path)
        assert err is not None and err.detail.startswith("0.1 MiB free")
        ballast.unlink()
        assert short_of_space(path) is None
