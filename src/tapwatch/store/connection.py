"""The store's connection: opening (WAL, schema, upgrade), transactions, snapshots of
reads, the write probe of the store's health, and app keys. The other parts of `Store`
(ingest, rollups, reads, findings, retention) build on it."""

from __future__ import annotations

import ctypes
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tapwatch.store.dedup_tiers import DEFAULT_MEMORY, DedupTiers
from tapwatch.store.dedup_upgrade import move_id_rows
from tapwatch.store.schema import EVENT_IDS_VIEW, SCHEMA, SCHEMA_VERSION

#: the page size of a new store; an existing store keeps the one it was made with (SQLite
#: fixes it at the first write, and a store in WAL mode never changes it). A batch's body
#: (~0.35 MB for 5,000 events) is a chain of overflow pages, and each page costs the same
#: write calls whatever its size, in the log and again in the checkpoint: 16 KiB pages
#: write it in a quarter of the calls (Store.ingest 0.38 -> 0.33 µs of CPU an event,
#: system time 0.14 -> 0.08, the WAL held at the same bytes; bench/README.md, ninth round)
PAGE_SIZE = 16384
#: the write-ahead log is copied into the database once it holds about this many bytes
#: (SQLite's default: 1,000 pages of 4 KiB), whatever the store's page size
CHECKPOINT_BYTES = 4 * 2**20


class StoreBase:
    """One SQLite connection and its lock; not thread-safe by itself (see `Store`)."""

    def __init__(
        self, path: Path | str, readonly: bool = False, dedup_memory: int = DEFAULT_MEMORY
    ) -> None:
        """Open the store at `path`; `dedup_memory` bounds the memory of de-duplication
        (store.dedup_memory: see `tapwatch.store.dedup_tiers`)."""
        self.path = Path(path)
        self.readonly = readonly
        self._app_pk: dict[str, int] = {}
        self._lock = threading.RLock()
        self._dedup = DedupTiers(dedup_memory)
        if readonly:  # a reader in another process: never writes, not even the schema
            self._db = sqlite3.connect(
                f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                check_same_thread=False,
            )
            return
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute(f"PRAGMA page_size={PAGE_SIZE}")  # a new store's (before any write)
        self._db.execute("PRAGMA journal_mode=WAL")
        (page,) = self._db.execute("PRAGMA page_size").fetchone()
        self._db.execute(f"PRAGMA wal_autocheckpoint={max(CHECKPOINT_BYTES // page, 1)}")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=OFF")
        self._db.execute("PRAGMA temp_store=MEMORY")
        self._db.execute("PRAGMA cache_size=-65536")
        self._db.executescript(SCHEMA)
        self._upgrade()

    def close(self) -> None:
        self._db.close()

    def _upgrade(self) -> None:
        """Bring a store of an earlier version to this one (nothing is written to a store
        that is up to date: a second connection may open it while the first writes)."""
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None and int(row[0]) >= SCHEMA_VERSION:
            return
        with self._tx() as db:
            columns = {r[1] for r in db.execute("PRAGMA table_info(apps)")}
            if "rollup_seq" not in columns:
                db.execute("ALTER TABLE apps ADD COLUMN rollup_seq INTEGER NOT NULL DEFAULT 0")
                # version 1 rolled every batch up on ingest
                db.execute(
                    "UPDATE apps SET rollup_seq=COALESCE((SELECT MAX(seq) FROM event_batches "
                    "WHERE app_pk=apps.pk), 0)"
                )
            if "ids_sealed_seq" not in columns:
                db.execute(
                    "ALTER TABLE apps ADD COLUMN ids_sealed_seq INTEGER NOT NULL DEFAULT 0"
                )
            db.execute("DROP INDEX IF EXISTS event_ids_day")
            if db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='event_ids'"
            ).fetchone():
                move_id_rows(db, self._dedup.limit // 2)
            db.execute(EVENT_IDS_VIEW)
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db.in_transaction:  # a rollback that failed earlier (I/O error)
                self._db.execute("ROLLBACK")
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                # SQLite has already rolled back after some errors (a full disk): only
                # roll back what is open, and never hide the error that got us here
                if self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise

    @contextmanager
    def consistent_read(self) -> Iterator[None]:
        """Reads inside see one snapshot of the store (WAL), whatever commits meanwhile."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            finally:
                self._db.execute("COMMIT")

    def probe_write(self, now: float) -> None:
        """A write through the whole write path (lock, new pages, log, index, commit):
        raises what the store raises while it refuses writes. It takes 64 KiB of new pages
        and gives them back in the same transaction (they stay free for later writes), so
        a store that has no room to grow does not pass on a write that fits in a page."""
        with self._tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('write_probe', zeroblob(65536))"
            )
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES('write_probe', ?)", (repr(now),)
            )

    def leave_open(self) -> None:
        """Never close this connection, not even when the process ends.

        For a store whose files refuse writes: closing the last connection checkpoints the
        write-ahead log, which writes to the memory-mapped index, and the kernel answers
        that with SIGBUS. Left open, the OS releases the files at exit and SQLite recovers
        the log at the next start, as after a crash. (An extra reference keeps Python's
        finalisation from closing it.)"""
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(self._db))

    def app_pk(self, app_id: str) -> int:
        """The app's key in this store, created on first use (a read-only store answers
        -1 for an app with no data yet, which matches no rows)."""
        pk = self._app_pk.get(app_id)
        if pk is not None:
            return pk
        with self._lock:
            if not self.readonly:
                self._db.execute("INSERT OR IGNORE INTO apps(id) VALUES(?)", (app_id,))
            row = self._db.execute("SELECT pk FROM apps WHERE id=?", (app_id,)).fetchone()
        if row is None:
            return -1
        self._app_pk[app_id] = row[0]
        return row[0]
