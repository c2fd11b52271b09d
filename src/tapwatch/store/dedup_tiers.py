"""Tiered de-duplication: each app's recent ids in memory (`tapwatch.store.dedup`), its
older ids in sorted runs on disk behind a filter (`tapwatch.store.dedup_runs`), within one
memory limit for the whole store (`store.dedup_memory`).

The ids themselves are the truth: `event_id_batches`, a row per stored batch (its ids,
kept until rollup retention). An app's batches up to `apps.ids_sealed_seq` are in its
runs (keys and filter written in the transaction that advanced that seq); the batches
after it are in its memory tier, which a restart loads from their rows (at most what the
limit let the memory tier hold, never the whole horizon). So every stored id is found,
by the memory tier or by the filter and a run, and a crash at any point leaves the two
agreeing with the rows.

The limit: half of it for the memory tiers (when they pass it, the app whose tier is the
biggest has its older three quarters sealed into a run), half for the disk tiers'
filters (each grows to 16 bits a key while there is room, then fills up: more false
"maybe"s, more block reads, counted in `disk_lookups`; where the half is short, the
filter with the most bits a key is folded first, so the apps' filters share it).
Compaction and pruning stream their runs a block at a time.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass

import msgspec
import numpy as np

from tapwatch.columns import EventColumns
from tapwatch.store import dedup_runs as runs_
from tapwatch.store.dedup import Bloom, IdIndex, Piece, Slots, id_keys
from tapwatch.store.dedup_runs import MIN_FILTER_KEYS, DiskTier

log = logging.getLogger("tapwatch.store")

#: the default memory limit of de-duplication (store.dedup_memory)
DEFAULT_MEMORY = 64 * 2**20
#: share of an app's memory tier (by ids, its oldest batches) sealed when the limit is hit
_SEAL_SHARE = 0.75
#: a memory tier smaller than this is not sealed (its run would be tiny): the limit is
#: then too small for the fleet, which is logged
_SEAL_MIN_IDS = 4096
#: a run is rewritten without its pruned keys once this share of it is dead; the filter
#: is refilled when this share of the keys it holds are gone
_DEAD_SHARE = 0.25

_ids_enc = msgspec.json.Encoder()
_ids_dec = msgspec.json.Decoder(list[str])

Transaction = Callable[[], AbstractContextManager[sqlite3.Connection]]


@dataclass(slots=True)
class DedupSize:
    """What de-duplication holds and did, for metrics (counters since start)."""

    limit_bytes: int
    memory_tier_bytes: int = 0
    filter_bytes: int = 0
    memory_ids: int = 0
    disk_ids: int = 0
    disk_runs: int = 0
    #: ids looked up in the runs (passed the filter, and no batch read so far holds them)
    disk_lookups: int = 0
    disk_block_reads: int = 0
    seals: int = 0
    seal_failures: int = 0


class DedupTiers:
    """Every app's two tiers in this process, loaded per app on its first ingest."""

    def __init__(self, memory_limit: int = DEFAULT_MEMORY) -> None:
        self.limit = memory_limit
        self._recent: dict[int, IdIndex] = {}
        self._disk: dict[int, DiskTier] = {}
        self._sealed: dict[int, int] = {}
        #: the newest id batch and the runs' epoch this process knows of (another
        #: connection's writes change them: every tier is loaded again)
        self._seen: tuple[int, int] = (0, 0)
        self.size = DedupSize(memory_limit)
        #: each loaded app's part of `size`: memory tier bytes and ids, filter bytes, disk
        #: ids, runs
        self._parts: dict[int, tuple[int, int, int, int, int]] = {}
        self._warned_small = False

    # -- loading ---------------------------------------------------------------------

    def ensure(self, db: sqlite3.Connection, pk: int, app_id: str) -> None:
        """Load the app's tiers if they are not (all of them again if another connection
        stored ids or moved them since this one last did)."""
        if self._state(db) != self._seen:
            self._recent.clear()
            self._disk.clear()
            self._sealed.clear()
            self._recount(*list(self._parts))
            self._seen = self._state(db)
        if pk in self._recent:
            return
        started = time.process_time()
        sealed = db.execute("SELECT ids_sealed_seq FROM apps WHERE pk=?", (pk,)).fetchone()
        sealed = sealed[0] if sealed else 0
        keys, seqs, counts = [], [], []
        for seq, body in db.execute(
            "SELECT seq, ids FROM event_id_batches WHERE app_pk=? AND seq>?", (pk, sealed)
        ):
            keys.append(id_keys(_ids_dec.decode(body)))
            seqs.append(seq)
            counts.append(len(keys[-1]))
        index = IdIndex()
        if keys:
            joined = np.concatenate(keys)
            keys.clear()
            index = IdIndex(joined, np.repeat(np.array(seqs, np.int64), counts))
        disk = runs_.load(db, pk)
        floor = Bloom.nbytes_for(MIN_FILTER_KEYS)
        # a smaller limit than the filters were made for: the richer of this filter and
        # the others loaded gives way, so no app's filter is left with a few bits a key
        while disk.bloom is not None and disk.nbytes > max(self._filter_room(), floor):
            other = self._richest(but=pk)
            if other is not None and _bits(self._disk[other]) > _bits(disk):
                self._fold(other)
            else:
                disk.bloom = disk.bloom.folded()
        self._recent[pk], self._disk[pk], self._sealed[pk] = index, disk, sealed
        self._recount(pk)
        spent = time.process_time() - started
        if spent > 0.5:
            log.info(
                "app %s: de-duplication tiers loaded in %.1f s of CPU (%d ids in memory, %d "
                "in %d runs on disk)", app_id, spent, len(index), disk.n, len(disk.runs),
            )

    def _state(self, db: sqlite3.Connection) -> tuple[int, int]:
        row = db.execute(
            "SELECT (SELECT MAX(seq) FROM event_id_batches), "
            "(SELECT value FROM meta WHERE key='dedup_epoch')"
        ).fetchone()
        return (row[0] or 0, int(row[1] or 0))

    # -- ingest ----------------------------------------------------------------------

    def fresh(
        self, db: sqlite3.Connection, pk: int, events: EventColumns
    ) -> tuple[EventColumns, np.ndarray, Slots, np.ndarray | None]:
        """The batch's new events (neither stored before nor repeated earlier in the
        batch), their keys, memory-tier filter slots and the keys' sorting order (None if
        some were left out).

        The filters answer "not stored" for almost every new id; the ids they cannot rule
        out, and ids whose keys repeat within the batch, are decided by the ids
        themselves: those of the stored batches the tiers name, read from the store (a
        batch pruned meanwhile names none)."""
        recent, disk = self._recent[pk], self._disk[pk]
        keys = id_keys(events.ids)
        in_memory, slots = recent.probe(keys)
        on_disk = disk.maybe(keys)
        maybe = in_memory | on_disk
        order = np.argsort(keys)
        ordered = keys[order]
        repeats = ordered[1:] == ordered[:-1]
        if not (maybe.any() or repeats.any()):
            return events, keys, slots, order
        candidate = maybe.copy()
        candidate[order[1:][repeats]] = True
        candidate[order[:-1][repeats]] = True
        ids = events.ids
        rows = np.flatnonzero(candidate).tolist()
        seen = self._stored_among(db, recent, disk, ids, keys, rows, in_memory, on_disk)
        keep = np.ones(len(events), dtype=bool)
        for i in rows:
            if ids[i] in seen:
                keep[i] = False
            else:
                seen.add(ids[i])
        if keep.all():
            return events, keys, slots, order
        fresh = events.select(np.flatnonzero(keep))
        return fresh, keys[keep], (slots[0][keep], slots[1][keep]), None

    def _stored_among(
        self, db: sqlite3.Connection, recent: IdIndex, disk: DiskTier, ids: list[str],
        keys: np.ndarray, rows: list[int], in_memory: np.ndarray, on_disk: np.ndarray,
    ) -> set[str]:
        """Which ids of `rows` are stored: the batches the memory tier names are read,
        then the disk tier is asked a key at a time in page order, skipping ids a batch
        read already holds (a page sent again, its ids in one or two stored batches,
        costs a lookup or two)."""
        wanted = {ids[i] for i in rows}
        seen: set[str] = set()
        read: set[int] = set()

        def read_batches(seqs: np.ndarray) -> None:
            new = [s for s in seqs.tolist() if s not in read]
            if not new:
                return
            read.update(new)
            for (body,) in db.execute(
                "SELECT ids FROM event_id_batches WHERE seq IN (SELECT value FROM json_each(?))",
                (_ids_enc.encode(new).decode(),),
            ):
                seen.update(wanted.intersection(_ids_dec.decode(body)))

        if in_memory.any():
            read_batches(recent.batches_of(keys[in_memory]))
        for i in np.flatnonzero(on_disk).tolist():
            if ids[i] in seen:
                continue
            found, reads = disk.batches_of(db, keys[i : i + 1])
            self.size.disk_lookups += 1
            self.size.disk_block_reads += reads
            read_batches(found)
        return seen

    def stored(
        self, pk: int, keys: np.ndarray, seq: int, slots: Slots, order: np.ndarray | None
    ) -> None:
        """Batch `seq`'s ids are committed: the memory tier may say so now."""
        self._recent[pk].add(keys, seq, slots, order)
        self._seen = (seq, self._seen[1])
        self._recount(pk)

    # -- the limit -------------------------------------------------------------------

    def keep_within_limit(self, tx: Transaction) -> None:
        """Seal memory tiers into runs while they hold more than half the limit (the
        biggest first); a failed seal is logged and tried again after the next ingest."""
        while self.size.memory_tier_bytes > self.limit // 2 and self._recent:
            pk = max(self._recent, key=lambda p: self._recent[p].nbytes)
            if len(self._recent[pk]) < _SEAL_MIN_IDS:
                if not self._warned_small:  # the fleet's smallest tiers fill it: say so once
                    self._warned_small = True
                    log.warning(
                        "de-duplication: store.dedup_memory (%d MiB) is too small for %d "
                        "apps' recent ids; raise it", self.limit >> 20, len(self._recent),
                    )
                return
            try:
                self._seal(tx, pk)
            except sqlite3.Error as e:
                self.size.seal_failures += 1
                log.warning("de-duplication: moving ids to disk failed (%s); tried again later", e)
                return

    def resize(self, tx: Transaction, limit: int) -> None:
        """Take a new memory limit (store.dedup_memory changed by a reload).

        Growing only raises the bound: the memory tiers hold more before a seal, and each
        app's filter is built bigger at its next seal. Shrinking seals memory tiers down
        to their half now, as an ingest would (a failed seal is tried again after the next
        ingest), then folds the biggest filters until the filters fit theirs (every key
        stays in: more false "maybe"s, never a miss; a restart folds the stored filter the
        same way, and the app's next seal saves it at its size), the most bits a key
        first. Folding comes last: a seal gives an app without runs a filter of its own."""
        self.limit = self.size.limit_bytes = limit
        self._warned_small = False  # too small for the fleet's recent ids: said again
        self.keep_within_limit(tx)
        while self._filter_room() < 0:
            pk = self._richest()
            if pk is None:
                break  # the filters' floor: the fleet's many small apps fill the half
            self._fold(pk)

    def _seal(self, tx: Transaction, pk: int) -> None:
        """Move the memory tier's oldest runs (at least SEAL_SHARE of its ids: batches up
        to a seq) to disk as runs of their own, in one transaction (merged there a block
        at a time), their keys into the filter; the memory tier lets them go after the
        commit."""
        recent, disk = self._recent[pk], self._disk[pk]
        sealing = recent.oldest_runs(_SEAL_SHARE)
        filled = disk.filled + sum(n for _hi, n, _pieces in sealing)
        capacity, folded = self._filter_capacity(pk, disk, filled)
        runs, lo = list(disk.runs), self._sealed[pk] + 1
        with tx() as db:
            for other in folded:  # stored as folded: a restart shares the room the same way
                runs_.save_filter(db, other, self._disk[other])
            for hi, _n, pieces in sealing:
                if capacity is None:  # no new filter: the keys' bits go into this one
                    pieces = _filling(disk.bloom, pieces)
                run = runs_.write_run(db, pk, lo, hi, pieces)
                if run is not None:
                    runs.append(run)
                lo = hi + 1
            runs = runs_.compacted(db, pk, runs)
            if capacity is None:
                tier = DiskTier(runs, disk.bloom, filled)
            else:
                bloom = runs_.filled_bloom(db, runs, capacity)
                tier = DiskTier(runs, bloom, sum(r.n for r in runs))
            runs_.save_filter(db, pk, tier)
            db.execute("UPDATE apps SET ids_sealed_seq=? WHERE pk=?", (lo - 1, pk))
            epoch = self._bump(db)
        self._disk[pk], self._sealed[pk] = tier, lo - 1
        self._seen = (self._seen[0], epoch)
        recent.drop_oldest(len(sealing))
        self.size.seals += 1
        self._recount(pk)

    def _filter_capacity(
        self, pk: int, disk: DiskTier, filled: int
    ) -> tuple[int | None, list[int]]:
        """The capacity of a new filter for app `pk`'s disk tier once it holds `filled`
        keys, or None to keep its filter (it has room for them, or there is no room in the
        filters' half of the limit for a bigger one: it fills up); and the other apps
        whose filters were folded to make room (in memory: to be saved).

        Where the half is short, the filter with the most bits a key gives way, this one
        or another app's (folded: every key stays in), so the filters end near one
        number of bits a key: an app that grew first does not keep 32 bits a key while
        one that came later is left a filter of the floor's size (measured: every new id
        of such an app was looked up on disk)."""
        bloom = disk.bloom
        if bloom is not None and filled <= bloom.capacity:
            return None, []
        capacity = max(2 * filled, MIN_FILTER_KEYS)
        folded: list[int] = []
        while capacity > MIN_FILTER_KEYS:
            size = Bloom.nbytes_for(capacity)
            if size <= self._filter_room() + disk.nbytes:
                break
            other = self._richest(but=pk)
            if other is not None and _bits(self._disk[other]) > 8 * size / filled:
                self._fold(other)
                folded.append(other)
            else:
                capacity //= 2
        if bloom is not None and Bloom.nbytes_for(capacity) <= bloom.nbytes:
            return None, folded
        return capacity, folded

    def _filter_room(self) -> int:
        """Bytes left in the filters' half of the limit."""
        return self.limit // 2 - self.size.filter_bytes

    def _richest(self, but: int | None = None) -> int | None:
        """The app (but `but`) whose filter has the most bits a key, of those that can be
        folded (above the floor's size), or None."""
        floor = Bloom.nbytes_for(MIN_FILTER_KEYS)
        foldable = [
            p for p, d in self._disk.items()
            if p != but and d.bloom is not None and d.nbytes > floor
        ]
        return max(foldable, key=lambda p: _bits(self._disk[p]), default=None)

    def _fold(self, pk: int) -> None:
        """Halve app `pk`'s filter (every key stays in it)."""
        disk = self._disk[pk]
        assert disk.bloom is not None
        disk.bloom = disk.bloom.folded()
        self._recount(pk)

    @staticmethod
    def _bump(db: sqlite3.Connection) -> int:
        row = db.execute("SELECT value FROM meta WHERE key='dedup_epoch'").fetchone()
        epoch = int(row[0]) + 1 if row else 1
        db.execute(
            "INSERT OR REPLACE INTO meta(key, value) VALUES('dedup_epoch', ?)", (str(epoch),)
        )
        return epoch

    # -- pruning ---------------------------------------------------------------------

    def prune(self, tx: Transaction, day_cut: int) -> int:
        """Delete the id rows of batches whose last day is before `day_cut`, rewrite the
        runs a quarter dead (drop the dead ones) and refill filters a quarter stale, in
        one transaction; returns the ids deleted."""
        with tx() as db:
            old = db.execute(
                "SELECT app_pk, seq, n FROM event_id_batches WHERE day<?", (day_cut,)
            ).fetchall()
            if not old:
                return 0
            db.execute("DELETE FROM event_id_batches WHERE day<?", (day_cut,))
            by_app: dict[int, list[int]] = {}
            for pk, seq, _n in old:
                by_app.setdefault(pk, []).append(seq)
            tiers: dict[int, DiskTier] = {}
            for pk, seqs in by_app.items():
                sealed = db.execute("SELECT ids_sealed_seq FROM apps WHERE pk=?", (pk,)).fetchone()
                if sealed and min(seqs) <= sealed[0]:
                    tier = self._disk.get(pk) or runs_.load(db, pk)
                    tiers[pk] = self._without_dead(db, pk, tier)
            epoch = self._bump(db)
            newest = db.execute("SELECT MAX(seq) FROM event_id_batches").fetchone()[0] or 0
        self._seen = (newest, epoch)
        for pk, seqs in by_app.items():
            if pk in self._recent:
                self._recent[pk].forget(np.array(seqs, dtype=np.int64))
            if pk in tiers and pk in self._disk:
                self._disk[pk] = tiers[pk]
        self._recount(*by_app)
        return sum(n for _pk, _seq, n in old)

    def _without_dead(self, db: sqlite3.Connection, pk: int, tier: DiskTier) -> DiskTier:
        """The app's runs after its batches' rows were pruned: a run with no live batch
        dropped, one a quarter dead rewritten with its live keys only; the filter refilled
        if a quarter of what it holds is gone."""
        runs = []
        for r in tier.runs:
            live = np.array(
                [
                    s for (s,) in db.execute(
                        "SELECT seq FROM event_id_batches WHERE app_pk=? AND seq BETWEEN ? AND ? "
                        "ORDER BY seq",
                        (pk, r.lo, r.hi),
                    )
                ],
                dtype=np.int64,
            )
            live_ids = db.execute(
                "SELECT COALESCE(SUM(n), 0) FROM event_id_batches WHERE app_pk=? AND seq "
                "BETWEEN ? AND ?",
                (pk, r.lo, r.hi),
            ).fetchone()[0]
            if not len(live):
                runs_.drop_run(db, r)
            elif live_ids < (1 - _DEAD_SHARE) * r.n:
                one = runs_.merged(db, pk, [r], live)
                if one is not None:
                    runs.append(one)
            else:
                runs.append(r)
        n = sum(r.n for r in runs)
        if not runs:
            tier = DiskTier()
        elif n < (1 - _DEAD_SHARE) * tier.filled:
            capacity = tier.bloom.capacity if tier.bloom is not None else 2 * n
            tier = DiskTier(runs, runs_.filled_bloom(db, runs, min(capacity, 2 * n)), n)
        else:
            tier = DiskTier(runs, tier.bloom, tier.filled)
        runs_.save_filter(db, pk, tier)
        return tier

    # -- sizes -----------------------------------------------------------------------

    def _recount(self, *pks: int) -> None:
        """Bring the sizes up to date for the apps `pks` (each app's part is kept, so an
        ingest costs one app's count, not the fleet's)."""
        s = self.size
        for pk in pks:
            before = self._parts.pop(pk, (0, 0, 0, 0, 0))
            now = (0, 0, 0, 0, 0)
            if pk in self._recent:
                recent, disk = self._recent[pk], self._disk[pk]
                now = (recent.nbytes, len(recent), disk.nbytes, disk.n, len(disk.runs))
                self._parts[pk] = now
            s.memory_tier_bytes += now[0] - before[0]
            s.memory_ids += now[1] - before[1]
            s.filter_bytes += now[2] - before[2]
            s.disk_ids += now[3] - before[3]
            s.disk_runs += now[4] - before[4]


def _bits(disk: DiskTier) -> float:
    """Bits of the disk tier's filter a key it holds."""
    return 8 * disk.nbytes / max(disk.filled, 1)


def _filling(bloom: Bloom | None, pieces: Iterator[Piece]) -> Iterator[Piece]:
    """`pieces` as they are, their keys' bits set in `bloom` on the way (in place: a
    transaction that fails after leaves bits of keys not stored, false "maybe"s only)."""
    for keys, seqs in pieces:
        if bloom is not None:
            bloom.fill(bloom.slots(keys))
        yield keys, seqs
