"""Embedded SQLite store: cursors, event ids, raw events, daily rollups, findings.

A batch arrives as columns (`EventColumns`, one page or a few) and is written with a
handful of statements whatever its size: its events as one row (the columns,
`EventColumns.encode`), its ids as one more (kept longer), its counters per type and
reason. De-duplication is exact, against tiered indexes of the stored ids
(`tapwatch.store.dedup_tiers`: the recent ids in memory, older ones in sorted runs of
keys on disk behind a filter, within `store.dedup_memory`; ids compared where keys
match), updated only after each commit.

The daily rollups are derived from the stored batches later, many batches at a
time (`fold_rollups`, run by the detector pass in its own process): ingest never pays for
the per-(day, account) upserts, and each app's `rollup_seq` says which batches are folded
in (a batch is pruned only once it is).

Durability contract: a batch's events, their ids, rollups, counters and the cursor that
covers them commit in ONE transaction. A `kill -9` at any moment either keeps the whole
batch and the advanced cursor, or neither; on restart the collector re-fetches from the
stored cursor and the stored ids (the memory tier is loaded from the rows its runs do not
cover) drop what was already stored. Nothing lost, nothing twice.

WAL with synchronous=NORMAL survives a process crash (the case above); an OS crash may lose
the last transactions, which are then fetched again from the older cursor.
"""


from __future__ import annotations

from tapwatch.store.finding_rows import FindingRows
from tapwatch.store.ingest import IngestBatch, IngestResult, IngestWrites
from tapwatch.store.reads import DetectorReads
from tapwatch.store.retention import Retention
from tapwatch.store.rollups import FOLD_EVENTS, RollupFolding
from tapwatch.store.schema import SCHEMA_VERSION

__all__ = ["FOLD_EVENTS", "SCHEMA_VERSION", "IngestBatch", "IngestResult", "Store"]


class Store(IngestWrites, RollupFolding, DetectorReads, FindingRows, Retention):
    """Synchronous store over one SQLite connection. Not thread-safe by itself: the
    daemon drives it from one dedicated thread (see AsyncStore). Its parts, one module
    each: the connection (`connection`), ingest, rollups, reads, finding rows, retention."""
