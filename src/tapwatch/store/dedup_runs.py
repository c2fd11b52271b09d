"""The disk tier of de-duplication: one app's older ids as sorted runs of keys in the
store (`id_runs`, `id_run_blocks`), behind one filter of theirs kept in memory and in the
store (`id_filters`).

A run holds the keys (`tapwatch.store.dedup.id_keys`) of the app's id batches with seqs
from `lo` to `hi`, sorted, with each key's batch seq, in blocks of about BLOCK_KEYS keys
(a key never straddles two blocks, so the block whose first key is the greatest not above
a key holds all of that key's entries). A key that passes the filter is looked up in
each run: one block read (an indexed SQLite row) per run. Runs are written whole, in the
transaction that moves their ids from memory (`seal`), merged FAN_IN at a time by a
streaming merge (a block of each at a time: the merge's memory is bounded, whatever the
runs' sizes), and rewritten without the keys of pruned batches once a quarter of a run
is dead (until then a dead key only costs a read that finds no batch).

What this costs: about 12 bytes an id on disk (8 the key, 4 its seq's offset from the
run's `lo`), besides the ids' own rows; in memory, the filter (2 bytes an id at 16 bits,
less when the memory limit makes it share: more false "maybe"s, more block reads).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from tapwatch.store.dedup import FAN_IN, Bloom, seqs_of_keys

#: keys in a run's block (12 KiB a block: 8 bytes a key, 4 its seq)
BLOCK_KEYS = 1024
#: the disk tier's smallest filter, in keys
MIN_FILTER_KEYS = 1 << 10
#: bytes of a filter read or written at once (its blob in the store)
FILTER_SLICE = 1 << 20


@dataclass(slots=True, frozen=True)
class Run:
    """One sorted run: its row id, the seqs of the batches it covers, its keys."""

    run: int
    lo: int
    hi: int
    n: int


@dataclass(slots=True)
class DiskTier:
    """One app's runs and their filter (None: no runs), as committed."""

    runs: list[Run] = field(default_factory=list)
    bloom: Bloom | None = None
    filled: int = 0  # keys whose bits the filter holds (dead ones too, until it is refilled)

    @property
    def n(self) -> int:
        return sum(r.n for r in self.runs)

    @property
    def nbytes(self) -> int:
        return self.bloom.nbytes if self.bloom is not None else 0

    def maybe(self, keys: np.ndarray) -> np.ndarray:
        """True where a key may be in a run."""
        if self.bloom is None:
            return np.zeros(len(keys), dtype=bool)
        return self.bloom.test(self.bloom.slots(keys))

    def batches_of(self, db: sqlite3.Connection, keys: np.ndarray) -> tuple[np.ndarray, int]:
        """The seqs of the batches holding a key equal to one of `keys`, and the blocks
        read to find them (a block's keys first; its seqs only where one matches)."""
        found, reads = [np.empty(0, np.int64)], 0
        q = np.unique(keys)
        for r in self.runs:
            firsts: set[int] = set()
            for key in q.tolist():
                row = db.execute(
                    "SELECT first_key, keys FROM id_run_blocks WHERE run=? AND first_key<=? "
                    "ORDER BY first_key DESC LIMIT 1",
                    (r.run, key),
                ).fetchone()
                if row is None or row[0] in firsts:
                    continue
                firsts.add(row[0])
                reads += 1
                block_keys = np.frombuffer(row[1], dtype=np.int64)
                at = np.searchsorted(block_keys, q)
                if not (block_keys[np.minimum(at, len(block_keys) - 1)] == q).any():
                    continue  # a false "maybe" of the filter: no seqs to read
                (seqs,) = db.execute(
                    "SELECT seqs FROM id_run_blocks WHERE run=? AND first_key=?", (r.run, row[0])
                ).fetchone()
                found.append(seqs_of_keys(*_block(row[1], seqs, r.lo), q))
        return np.unique(np.concatenate(found)), reads


def load(db: sqlite3.Connection, pk: int) -> DiskTier:
    """The app's disk tier as stored."""
    runs = [
        Run(*row)
        for row in db.execute(
            "SELECT run, lo, hi, n FROM id_runs WHERE app_pk=? ORDER BY lo", (pk,)
        )
    ]
    row = db.execute(
        "SELECT filled, length(words) FROM id_filters WHERE app_pk=?", (pk,)
    ).fetchone()
    if not runs or row is None:
        return DiskTier(runs)
    words = np.empty(row[1] // 8, dtype=np.uint64)
    buf = memoryview(words).cast("B")
    with db.blobopen("id_filters", "words", pk, readonly=True) as blob:
        for at in range(0, len(buf), FILTER_SLICE):  # no copy of the whole filter
            buf[at : at + FILTER_SLICE] = blob.read(FILTER_SLICE)
    return DiskTier(runs, Bloom(words), row[0])


def write_run(
    db: sqlite3.Connection, pk: int, lo: int, hi: int,
    blocks: Iterator[tuple[np.ndarray, np.ndarray]],
) -> Run | None:
    """Write a run of the sorted (keys, seqs) that `blocks` yields, in order (None if
    they are empty)."""
    run = db.execute(
        "INSERT INTO id_runs(app_pk, lo, hi, n) VALUES(?,?,?,0)", (pk, lo, hi)
    ).lastrowid
    wide = hi - lo > np.iinfo(np.uint32).max
    n = 0
    for keys, seqs in _cut(blocks):
        off = seqs - lo
        db.execute(
            "INSERT INTO id_run_blocks(run, first_key, keys, seqs) VALUES(?,?,?,?)",
            (run, int(keys[0]), keys.tobytes(), off.astype(np.int64 if wide else np.uint32)
             .tobytes()),
        )
        n += len(keys)
    if n == 0:
        db.execute("DELETE FROM id_runs WHERE run=?", (run,))
        return None
    db.execute("UPDATE id_runs SET n=? WHERE run=?", (n, run))
    return Run(run, lo, hi, n)


def blocks_of(db: sqlite3.Connection, r: Run) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A run's (keys, seqs) a block at a time, in key order."""
    row = db.execute(
        "SELECT first_key, keys, seqs FROM id_run_blocks WHERE run=? ORDER BY first_key LIMIT 1",
        (r.run,),
    ).fetchone()
    while row is not None:
        yield _block(row[1], row[2], r.lo)
        row = db.execute(
            "SELECT first_key, keys, seqs FROM id_run_blocks WHERE run=? AND first_key>? "
            "ORDER BY first_key LIMIT 1",
            (r.run, row[0]),
        ).fetchone()


def drop_run(db: sqlite3.Connection, r: Run) -> None:
    db.execute("DELETE FROM id_run_blocks WHERE run=?", (r.run,))
    db.execute("DELETE FROM id_runs WHERE run=?", (r.run,))


def merged(
    db: sqlite3.Connection, pk: int, runs: list[Run], live: np.ndarray | None = None
) -> Run | None:
    """Merge `runs` (adjacent in seq) into one run, keeping only the keys of batches in
    `live` (sorted seqs) if given, and drop them; a block of each at a time."""
    sources = [blocks_of(db, r) for r in runs]
    merged_run = write_run(db, pk, runs[0].lo, runs[-1].hi, _merge_blocks(sources, live))
    for r in runs:
        drop_run(db, r)
    return merged_run


def filled_bloom(db: sqlite3.Connection, runs: list[Run], capacity: int) -> Bloom:
    """A filter for `capacity` keys holding every key of `runs` (read a block at a time)."""
    bloom = Bloom.empty(max(capacity, MIN_FILTER_KEYS))
    for r in runs:
        for keys, _seqs in blocks_of(db, r):
            bloom.fill(bloom.slots(keys))
    return bloom


def save_filter(db: sqlite3.Connection, pk: int, tier: DiskTier) -> None:
    """Store the app's filter (or its absence) as the tier holds it."""
    if tier.bloom is None:
        db.execute("DELETE FROM id_filters WHERE app_pk=?", (pk,))
        return
    words = memoryview(tier.bloom.words).cast("B")
    db.execute(
        "INSERT OR REPLACE INTO id_filters(app_pk, filled, words) VALUES(?,?,zeroblob(?))",
        (pk, tier.filled, len(words)),
    )
    # written a slice at a time: as one value, a filter was copied whole twice (to bytes,
    # and by SQLite's bind), a seal's brief peak (32 MiB each for the default's biggest)
    with db.blobopen("id_filters", "words", pk) as blob:
        for at in range(0, len(words), FILTER_SLICE):
            blob.write(words[at : at + FILTER_SLICE])


def compacted(db: sqlite3.Connection, pk: int, runs: list[Run]) -> list[Run]:
    """Merge the newest FAN_IN runs while they are of one size class (as the memory
    tier does): a key is rewritten about log8(ids / seal) times in its life."""
    runs = list(runs)
    while len(runs) >= FAN_IN and runs[-FAN_IN].n <= FAN_IN * runs[-1].n:
        one = merged(db, pk, runs[-FAN_IN:])
        del runs[-FAN_IN:]
        if one is not None:
            runs.append(one)
    return runs


def _block(keys: bytes, seqs: bytes, lo: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.frombuffer(keys, dtype=np.int64)
    wide = len(seqs) == 8 * len(k)
    return k, np.frombuffer(seqs, dtype=np.int64 if wide else np.uint32).astype(np.int64) + lo


def _cut(
    blocks: Iterator[tuple[np.ndarray, np.ndarray]],
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Sorted (keys, seqs) pieces regrouped into blocks of about BLOCK_KEYS keys, each
    cut where the key changes (a key never spans two blocks; the pieces come in order,
    each ending where its key changes for good)."""
    held_k: list[np.ndarray] = []
    held_s: list[np.ndarray] = []
    held = 0
    for keys, seqs in blocks:
        if not len(keys):
            continue
        held_k.append(keys)
        held_s.append(seqs)
        held += len(keys)
        if held < BLOCK_KEYS:
            continue
        k, s = np.concatenate(held_k), np.concatenate(held_s)
        at = 0
        while len(k) - at >= BLOCK_KEYS:
            end = at + BLOCK_KEYS
            end = int(np.searchsorted(k, k[end - 1], "right"))  # the whole of the last key
            if end >= len(k):
                break
            yield k[at:end], s[at:end]
            at = end
        held_k, held_s, held = [k[at:]], [s[at:]], len(k) - at
    if held:
        yield np.concatenate(held_k), np.concatenate(held_s)


def _merge_blocks(
    sources: list[Iterator[tuple[np.ndarray, np.ndarray]]], live: np.ndarray | None
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A k-way merge of sorted block streams: each round takes, from every stream's
    current block, the keys up to the least of their last keys (no stream can have a
    smaller key after), so a round's output ends where the key changes for good."""
    current: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i, src in enumerate(sources):
        nxt = next(src, None)
        if nxt is not None:
            current[i] = nxt
    while current:
        bound = min(int(k[-1]) for k, _s in current.values())
        ks, ss = [], []
        for i in list(current):
            k, s = current[i]
            cut = int(np.searchsorted(k, bound, "right"))
            ks.append(k[:cut])
            ss.append(s[:cut])
            if cut == len(k):
                nxt = next(sources[i], None)
                if nxt is None:
                    del current[i]
                else:
                    current[i] = nxt
            else:
                current[i] = (k[cut:], s[cut:])
        k, s = np.concatenate(ks), np.concatenate(ss)
        order = np.argsort(k, kind="stable")
        k, s = k[order], s[order]
        if live is not None:
            keep = np.isin(s, live)
            k, s = k[keep], s[keep]
        yield k, s
