"""The memory tier of de-duplication: one app's recently stored event ids as 64-bit keys,
and the filter both tiers use (`tapwatch.store.dedup_runs` is the disk tier,
`tapwatch.store.dedup_tiers` puts them together).

An id's key is a stable 64-bit hash of its UTF-8 bytes (`id_keys`: the same in every
process, so the disk tier can keep keys across restarts). A key says "maybe seen"; the
ids themselves decide (`tapwatch.store.ingest` reads the named batches' ids): a hash
collision costs a read, never an event.

The memory tier (`IdIndex`) holds each key with the seq of the batch row that holds the
id (`event_id_batches`), in two parts, both arrays:
- a blocked Bloom filter (`Bloom`: one 64-bit word per key, five bits in it, 16 bits a
  key at capacity): the test every event pays, one gather and a compare; 0.1-0.3 % of new
  keys pass it wrongly (and cost a search of the runs, never a read of the store);
- the keys and their batch seqs in sorted runs, searched only for the keys that pass the
  filter. A run is a batch's keys; runs are merged FAN_IN at a time into the next size up
  (a log-structured merge), so a key is copied about log8(n / batch) times in its life.
  Seqs are kept as 32-bit offsets from the first one the index saw (64-bit from the day
  the seqs it holds span more than 2**32).

About 15-17 bytes a key in all (8 the key, 4 its seq, 2-3 the filter).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

#: runs of one size merged at once into a run of the next size
FAN_IN = 8
#: Bloom filter words per key at full capacity (64 bits a word: 16 bits a key)
WORDS_PER_KEY = 0.25
#: the memory tier's smallest filter, in keys (512 bytes: a fleet of thousands of small apps
#: keeps its filters well within the limit)
_MIN_CAPACITY = 1 << 8
#: a full filter is made anew for this many times the keys it holds
_GROWTH = 1.5
_U32_MAX = 2**32 - 1
#: keys whose filter bits are set at once when a filter is filled anew, and keys of a
#: run handed to the disk tier or merged at once: their temporaries (~40 bytes a key)
#: stay near 2.5 MiB whatever the tier's size
FILL_SLICE = 1 << 16
_SIGN = np.uint64(1 << 63)
_MULT = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)

#: keys' filter words and the bits each sets in its word
Slots = tuple[np.ndarray, np.ndarray]
#: sorted keys and their batch seqs (int64), a piece of a run
Piece = tuple[np.ndarray, np.ndarray]


def id_keys(ids: list[str]) -> np.ndarray:
    """The stable 64-bit keys of `ids` (int64): each id's UTF-8 bytes read as 64-bit words
    (zero-padded; zero words at the end do not count, but the first always does), folded
    by multiply-xor and mixed (SplitMix64's finaliser). An id's key does not depend on the
    ids beside it. Ids differing only by NUL bytes at the end share a key (the ids
    decide)."""
    n = len(ids)
    if not n:
        return np.empty(0, dtype=np.int64)
    words = _id_words(ids)
    h = np.full(n, 0x243F6A8885A308D3, dtype=np.uint64)
    last = None
    if words.shape[1] > 1 and not words[:, -1].all():  # ids of several lengths
        last = np.where(words != 0, np.arange(words.shape[1]), 0).max(axis=1)
    for j in range(words.shape[1]):
        step = (h ^ words[:, j]) * _MULT
        step ^= step >> np.uint64(29)
        h = step if last is None else np.where(last >= j, step, h)
    h ^= h >> np.uint64(30)
    h *= _MIX1
    h ^= h >> np.uint64(27)
    h *= _MIX2
    h ^= h >> np.uint64(31)
    return h.view(np.int64)


def _id_words(ids: list[str]) -> np.ndarray:
    """The ids' UTF-8 bytes as rows of 64-bit words, zero-padded to the longest (and
    without the all-zero word columns at the end, the first kept). One join and one
    encode for the page; ids of one length are then rows of that buffer as they are."""
    n = len(ids)
    buf = np.frombuffer(("\0".join(ids) + "\0").encode(), dtype=np.uint8)
    ends = np.flatnonzero(buf == 0)
    if len(ends) != n:  # an id holds NUL bytes: each id on its own
        fixed = np.array([i.encode() for i in ids], dtype="S")
        matrix = fixed.view(np.uint8).reshape(n, fixed.dtype.itemsize)
    else:
        stride = int(ends[0]) + 1
        if len(buf) == n * stride and (n == 1 or (np.diff(ends) == stride).all()):
            matrix = buf.reshape(n, stride)  # one length (the NUL after each is padding)
        else:
            starts = np.concatenate(([0], ends[:-1] + 1))
            lengths = ends - starts
            cols = np.arange(int(lengths.max()) + 1)
            at = starts[:, None] + cols
            matrix = np.where(cols < lengths[:, None], buf[np.minimum(at, len(buf) - 1)], 0)
            matrix = matrix.astype(np.uint8)
    width = matrix.shape[1]
    if width % 8:
        padded = np.zeros((n, width + 8 - width % 8), dtype=np.uint8)
        padded[:, :width] = matrix
        matrix = padded
    words = np.ascontiguousarray(matrix).view("<u8")
    used = words.shape[1]
    while used > 1 and not words[:, used - 1].any():
        used -= 1
    return words[:, :used]


class Bloom:
    """A blocked Bloom filter of 64-bit keys: a key's word from its top bits (scaled to
    the number of words, so sorted keys' words come in order), five bits in the word
    from its low 30. A power of two of words, so it can be halved (`folded`)."""

    __slots__ = ("words",)

    def __init__(self, words: np.ndarray) -> None:
        self.words = words

    @classmethod
    def empty(cls, capacity: int) -> Bloom:
        """A filter for `capacity` keys at 16 bits a key (a power of two of words)."""
        return cls(np.zeros(cls.nbytes_for(capacity) // 8, dtype=np.uint64))

    @staticmethod
    def nbytes_for(capacity: int) -> int:
        """The bytes of a filter for `capacity` keys."""
        return 8 << max(int(capacity * WORDS_PER_KEY) - 1, 1).bit_length()

    @property
    def capacity(self) -> int:
        """Keys it holds at 16 bits a key (more fit, with more false "maybe"s)."""
        return int(len(self.words) / WORDS_PER_KEY)

    @property
    def nbytes(self) -> int:
        return self.words.nbytes

    def slots(self, keys: np.ndarray) -> Slots:
        """Each key's word and the five bits it sets there."""
        u = keys.view(np.uint64)
        top = (u ^ _SIGN) >> np.uint64(32)  # signed order: sorted keys, ordered words
        words = ((top * np.uint64(len(self.words))) >> np.uint64(32)).astype(np.intp)
        one = np.uint64(1)
        bits = np.zeros(len(u), dtype=np.uint64)
        for i in range(5):
            bits |= one << ((u >> np.uint64(6 * i)) & np.uint64(63))
        return words, bits

    def test(self, slots: Slots) -> np.ndarray:
        """True where the key may be in (every key put in is)."""
        words, bits = slots
        return (self.words[words] & bits) == bits

    def fill(self, slots: Slots) -> None:
        """Set the bits of keys' slots. Slots of sorted keys come with their words in
        order: each word is then written once with the OR of its keys' bits."""
        words, bits = slots
        if len(words) > 1 and not (words[1:] >= words[:-1]).all():
            order = np.argsort(words, kind="stable")
            words, bits = words[order], bits[order]
        starts = np.flatnonzero(np.diff(words, prepend=-1))
        if len(starts):
            self.words[words[starts]] |= np.bitwise_or.reduceat(bits, starts)

    def fill_keys(self, keys: np.ndarray) -> None:
        """Set the bits of `keys`, a slice at a time (the slots' temporaries stay small)."""
        for at in range(0, len(keys), FILL_SLICE):
            self.fill(self.slots(keys[at : at + FILL_SLICE]))

    def folded(self) -> Bloom:
        """Half the words, each the OR of two (a key's word w becomes w // 2): every key
        in stays in, with more false "maybe"s."""
        return Bloom(np.bitwise_or.reduce(self.words.reshape(-1, 2), axis=1))


class IdIndex:
    """One app's recent ids as keys and batch seqs (see the module's docstring)."""

    __slots__ = ("_base", "_bloom", "_keys", "_n", "_seqs")

    def __init__(self, keys: np.ndarray | None = None, seqs: np.ndarray | None = None) -> None:
        """An index of `keys` held in the batches `seqs` (one seq per key), or empty."""
        self._keys: list[np.ndarray] = []
        self._seqs: list[np.ndarray] = []  # offsets from _base
        self._base: int | None = None
        self._n = 0
        if keys is not None and seqs is not None and len(keys):
            order = np.argsort(keys, kind="stable")
            self._seqs.append(self._offsets(seqs)[order])  # 32-bit before the copy
            self._keys.append(keys[order])
            self._n = len(keys)
        self._size_filter(int(_GROWTH * self._n))

    def __len__(self) -> int:
        return self._n

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays (keys, seqs and the filter)."""
        runs = zip(self._keys, self._seqs, strict=True)
        return self._bloom.nbytes + sum(k.nbytes + s.nbytes for k, s in runs)

    def probe(self, keys: np.ndarray) -> tuple[np.ndarray, Slots]:
        """A mask, True where the key may be stored (every stored key is), and the keys'
        filter slots (for `add`, if they are stored next)."""
        slots = self._bloom.slots(keys)
        return self._bloom.test(slots), slots

    def batches_of(self, keys: np.ndarray) -> np.ndarray:
        """The seqs of the batches holding a stored key equal to one of `keys` (unique)."""
        q = np.unique(keys)
        runs = zip(self._keys, self._seqs, strict=True)
        found = [seqs_of_keys(run, seqs, q) for run, seqs in runs]
        return np.unique(np.concatenate([np.empty(0, np.int64), *found])) + (self._base or 0)

    def add(
        self, keys: np.ndarray, seq: int, slots: Slots, order: np.ndarray | None = None
    ) -> None:
        """Take in the keys of the ids stored in batch `seq` (after its commit), with
        their slots from `probe` (and their sorting order, if known)."""
        if not len(keys):
            return
        if order is None:
            order = np.argsort(keys)
        offsets = self._offsets(np.full(len(keys), seq, dtype=np.int64))  # may widen: first
        self._keys.append(keys[order])
        self._seqs.append(offsets)
        self._n += len(keys)
        if self._n > self._bloom.capacity:
            self._size_filter(int(_GROWTH * self._n))
        else:
            self._bloom.fill((slots[0][order], slots[1][order]))
        self._merge()

    def oldest_runs(self, share: float) -> list[tuple[int, int, Iterator[Piece]]]:
        """The oldest runs holding at least `share` of the keys (one at least), each as its
        newest batch seq, its keys and its (keys, seqs) in sorted pieces, for the disk
        tier. The runs hold consecutive batches, oldest first: the batches up to a seq."""
        taken: list[tuple[int, int, Iterator[Piece]]] = []
        n = 0
        for i, run in enumerate(self._keys):
            if taken and n >= share * self._n:
                break
            newest = int(self._seqs[i].max()) + (self._base or 0)
            taken.append((newest, len(run), self._pieces(i)))
            n += len(run)
        return taken

    def drop_oldest(self, runs: int) -> None:
        """Let go of the oldest `runs` runs (now on disk), the filter refilled."""
        del self._keys[:runs], self._seqs[:runs]
        self._n = sum(map(len, self._keys))
        self._size_filter(int(_GROWTH * self._n))

    def _pieces(self, i: int) -> Iterator[Piece]:
        """Run i's keys and absolute seqs in slices of about FILL_SLICE, each ending
        where the key changes (no key's entries split)."""
        keys, seqs, at = self._keys[i], self._seqs[i], 0
        while at < len(keys):
            end = min(at + FILL_SLICE, len(keys))
            if end < len(keys):
                end = int(np.searchsorted(keys, keys[end - 1], "right"))
            yield keys[at:end], seqs[at:end].astype(np.int64) + (self._base or 0)
            at = end

    def forget(self, seqs: np.ndarray) -> None:
        """Let go of the keys of the batches `seqs` (pruned, or moved to disk), and refill
        the filter from the keys left (else their bits would stay, as false "maybe"s)."""
        if self._base is None:
            return
        offsets = seqs - self._base
        for i, (run, run_seqs) in enumerate(zip(self._keys, self._seqs, strict=True)):
            keep = ~np.isin(run_seqs, offsets)
            if not keep.all():
                self._keys[i], self._seqs[i] = run[keep], run_seqs[keep]
        self._keys = [k for k in self._keys if len(k)]
        self._seqs = [s for s in self._seqs if len(s)]
        self._n = sum(map(len, self._keys))
        self._size_filter(int(_GROWTH * self._n))

    def _merge(self) -> None:
        """Merge the last FAN_IN runs while they are of one size class (within FAN_IN×
        of the newest), so the runs' sizes grow geometrically from the newest back."""
        while len(self._keys) >= FAN_IN and (
            len(self._keys[-FAN_IN]) <= FAN_IN * len(self._keys[-1])
        ):
            keys, seqs = merged_runs(self._keys[-FAN_IN:], self._seqs[-FAN_IN:])
            del self._keys[-FAN_IN:], self._seqs[-FAN_IN:]
            self._keys.append(keys)
            self._seqs.append(seqs)

    def _offsets(self, seqs: np.ndarray) -> np.ndarray:
        """`seqs` as offsets from the index's base, 32-bit while every offset held fits
        (the runs held are widened to 64 bits the first time one does not)."""
        if self._base is None:
            self._base = int(seqs.min())
        off = seqs - self._base
        wide = any(s.dtype == np.int64 for s in self._seqs)
        if not wide and (int(off.min()) < 0 or int(off.max()) > _U32_MAX):
            self._seqs = [s.astype(np.int64) for s in self._seqs]
            wide = True
        return off if wide else off.astype(np.uint32)

    def _size_filter(self, capacity: int) -> None:
        """A filter for `capacity` keys (at least _MIN_CAPACITY), filled with every key
        held."""
        self._bloom = Bloom.empty(max(capacity, _MIN_CAPACITY))
        for run in self._keys:
            self._bloom.fill_keys(run)


def merged_runs(runs: list[np.ndarray], seqs: list[np.ndarray]) -> Piece:
    """Sorted runs of keys (and their seqs) merged into one, entries of one key in the
    order of the runs. Written a key range at a time into the result (ranges cut at every
    FILL_SLICE-th key of the biggest run): the merge holds the result and one range's
    temporaries besides its input, not three copies of the input (a merge of the memory
    tier's biggest runs at 64 MiB was a 25 MiB peak)."""
    n = sum(map(len, runs))
    keys = np.empty(n, dtype=runs[0].dtype)
    out = np.empty(n, dtype=np.result_type(*seqs))
    biggest = max(runs, key=len)
    cuts = [*biggest[FILL_SLICE::FILL_SLICE].tolist(), None]
    starts, at = [0] * len(runs), 0
    for cut in cuts:
        ends = [len(r) if cut is None else int(np.searchsorted(r, cut)) for r in runs]
        part = np.concatenate([r[s:e] for r, s, e in zip(runs, starts, ends, strict=True)])
        order = np.argsort(part, kind="stable")  # a merge of sorted runs (timsort)
        keys[at : at + len(part)] = part[order]
        out[at : at + len(part)] = np.concatenate(
            [q[s:e] for q, s, e in zip(seqs, starts, ends, strict=True)]
        )[order]
        at += len(part)
        starts = ends
    return keys, out


def seqs_of_keys(run: np.ndarray, seqs: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The seqs (int64, as stored) of the entries of a sorted run whose key is one of
    `q` (sorted, unique), every entry of a key stored more than once included."""
    if not len(run) or not len(q):
        return np.empty(0, np.int64)
    lo = np.searchsorted(run, q)
    hi = np.searchsorted(run, q, "right")
    n = hi - lo
    if not n.any():
        return np.empty(0, np.int64)
    hit = n > 0
    lo, n = lo[hit], n[hit]
    # every position from lo to hi of each key that is there
    at = np.repeat(lo - np.cumsum(n) + n, n) + np.arange(int(n.sum()))
    return seqs[at].astype(np.int64)
