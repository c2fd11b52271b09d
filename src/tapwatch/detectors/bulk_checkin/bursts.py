"""Step 2b of bulk check-in: candidate bursts, whatever their tempo.

One chaining gap cannot serve every tempo (a careful operator pauses for minutes; a fast
ring next to a passer-by wants a short one), so chaining (`chains.py`) runs once per gap in
``chain_gaps_s``, then once more over the check-ins of the bursts found, at
``session_gap_s``; every chain is judged. Only those passing the physical gates become
Python objects:

* at least ``min_accounts`` distinct accounts;
* **one spot**: the phones' spot spread net of GPS noise is at most ``max_spread_m``;
* **one moment**: at most ``max_seconds_per_phone`` per phone, start to end;
* **stands alone**: few other check-ins within ``context_s`` and ``context_m`` of the burst
  (a burst carved out of a continuing stream of arrivals is part of a crowd).

The arrival rhythm (gaps, their regularity, arrivals in the same second) is measured for
the evidence and the score, never gated on. Overlapping bursts (three grids, several gaps)
are reduced to one per set of check-ins.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from tapwatch.detectors.bulk_checkin.chains import Candidates, candidates
from tapwatch.detectors.bulk_checkin.places import Placing, Surroundings
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.geo import distance_m
from tapwatch.window import EventWindow


@dataclass(slots=True)
class Burst:
    """One burst that passed the physical gates."""

    rows: np.ndarray  # window rows, time order
    key: int  # place key in its placing (a point, or a cell of one grid)
    place_key: int  # declared/undeclared point key (>= 0) or -1 for a cell
    point: str | None
    lat: float  # median fix (NaN if no fix)
    lon: float
    start: float  # first and last check-in (epoch seconds)
    end: float
    n_accounts: int
    median_gap: float
    gap_cv: float
    overlap_share: float  # share of gaps under a second
    spread_m: float  # accuracy-corrected 80 % radius (NaN if unmeasured)
    radius_m: float  # raw 80 % radius
    accuracy_m: float
    context: int  # other check-ins at the place within context_s
    accounts: frozenset[int] = field(default_factory=frozenset)
    core: Burst | None = None  # nearly all of it, seen at a shorter chaining gap
    loose: bool = False  # passed the gates only with the spot widened (`again`)

    @property
    def duration_s(self) -> float:
        return self.end - self.start

    @property
    def seconds_per_phone(self) -> float:
        return self.duration_s / max(self.n_accounts - 1, 1)


def passing(c: Candidates, s: Settings) -> np.ndarray:
    """Indices of the chains with enough accounts, at one spot, at one moment."""
    per_phone = c.busy / np.maximum(c.n_acc - 1, 1)
    ok = (
        (c.n_acc >= s.min_accounts)
        & ~(c.spread > s.max_spread_m)
        & (per_phone <= s.max_seconds_per_phone)
    )
    return np.flatnonzero(ok)


def _others_around(around: Surroundings, c: Candidates, idx: np.ndarray, s: Settings) -> np.ndarray:
    """Other check-ins within context_s and context_m of chains `idx` of `c` (chains
    without a centre keep their count at the same place key)."""
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    win = around.win
    first = win.ts[c.rows[c.offs[idx]]] - s.context_s
    last = win.ts[c.rows[c.offs[idx] + c.lens[idx] - 1]] + s.context_s
    clat, clon = c.lat[idx], c.lon[idx]
    q, _ = around.near(clat, clon, first, last, s.context_m)
    around_n = np.bincount(q, minlength=idx.size)
    # The chain's own check-ins are among them: take off those near its centre.
    lens = c.lens[idx]
    own_rows = c.rows[np.repeat(c.offs[idx] - np.cumsum(lens) + lens, lens) + np.arange(lens.sum())]
    own_bid = np.repeat(np.arange(idx.size), lens)
    own_d = distance_m(win.lat[own_rows], win.lon[own_rows], clat[own_bid], clon[own_bid])
    own = np.bincount(own_bid[own_d <= s.context_m], minlength=idx.size)
    return np.where(np.isfinite(clat), around_n - own, c.context[idx])


def gated_bursts(
    win: EventWindow,
    placing: Placing,
    point_names: dict[int, str],
    around: Surroundings,
    s: Settings,
) -> list[Burst]:
    """Bursts passing the gates at one placing, over every chaining gap; then the
    check-ins of those bursts chained once more at ``session_gap_s``, so bursts parted by
    a pause of several minutes (a careful operator) are also judged as one."""
    out = []
    for gap in s.chain_gaps_s:
        out.extend(_gate(win, candidates(win, placing, gap, s), placing, point_names, around, s))
    if out:
        rows = np.unique(np.concatenate([b.rows for b in out]))  # window rows: time order
        key = np.empty(rows.size, dtype=placing.key.dtype)
        for b in out:
            key[np.searchsorted(rows, b.rows)] = b.key
        in_bursts = Placing.of(rows, key, placing.is_point)
        c = candidates(win, in_bursts, s.session_gap_s, s, pause_s=max(s.chain_gaps_s))
        out.extend(_gate(win, c, placing, point_names, around, s))
    return out


def _gate(
    win: EventWindow,
    c: Candidates,
    placing: Placing,
    point_names: dict[int, str],
    around: Surroundings,
    s: Settings,
) -> list[Burst]:
    """The chains of `c` that pass every gate, as Bursts."""
    idx = passing(c, s)
    context = _others_around(around, c, idx, s)
    alone = context <= s.max_context_share * c.lens[idx]
    out = []
    for b, n_around in zip(idx[alone].tolist(), context[alone].tolist(), strict=True):
        br = c.rows[c.offs[b] : c.offs[b] + c.lens[b]]
        k = int(c.key[b])
        out.append(
            Burst(
                rows=br,
                key=k,
                place_key=k if placing.is_point else -1,
                point=point_names.get(k) if placing.is_point else None,
                lat=float(c.lat[b]),
                lon=float(c.lon[b]),
                start=float(win.ts[br[0]]),
                end=float(win.ts[br[-1]]),
                n_accounts=int(c.n_acc[b]),
                median_gap=float(c.median_gap[b]),
                gap_cv=float(c.gap_cv[b]),
                overlap_share=float(c.overlap[b]),
                spread_m=float(c.spread[b]),
                radius_m=float(c.r80[b]),
                accuracy_m=float(c.accuracy[b]),
                context=int(n_around),
                accounts=frozenset(win.account[br].tolist()),
            )
        )
    return out


def dedupe(bursts: list[Burst], s: Settings) -> list[Burst]:
    """Three grids and several chaining gaps see one ring many times: keep the largest of
    overlapping bursts (a ring split by a cell edge in one grid is whole in another; a ring
    cut in two by a long pause at a short gap is whole at a longer one). A kept burst
    remembers the largest burst inside it that holds all but ``min_widening`` of it, its
    core: a longer gap may have added a passer-by that blurs the rhythm of the rest."""
    holding: dict[int, list[int]] = defaultdict(list)
    for i, b in enumerate(bursts):
        for r in b.rows.tolist():
            holding[r].append(i)
    order = sorted(range(len(bursts)), key=lambda i: (-bursts[i].rows.size, int(bursts[i].rows[0])))
    taken: set[int] = set()
    out = []
    for i in order:
        b = bursts[i]
        rs = b.rows.tolist()
        if taken.isdisjoint(rs):
            taken.update(rs)
            b.core = _core(bursts, i, holding, s)
            out.append(b)
    out.sort(key=lambda b: int(b.rows[0]))
    return out


def _core(bursts: list[Burst], i: int, holding: dict[int, list[int]], s: Settings) -> Burst | None:
    """The largest smaller burst inside burst i with all but min_widening of its check-ins
    (looked for among those holding its first, middle or last check-in); of equal ones,
    the earliest, so the core depends on the burst's own check-ins, not on where other
    bursts of the window fall in the list."""
    b = bursts[i]
    rows = set(b.rows.tolist())
    need = b.rows.size / (1.0 + s.min_widening)
    best = None
    ends = (int(b.rows[0]), int(b.rows[b.rows.size // 2]), int(b.rows[-1]))
    inside = {j for r in ends for j in holding[r]}
    for j in sorted(inside, key=lambda j: (int(bursts[j].rows[0]), int(bursts[j].rows[-1]), j)):
        c = bursts[j]
        bigger = best is None or c.rows.size > best.rows.size
        if bigger and need <= c.rows.size < b.rows.size and rows.issuperset(c.rows.tolist()):
            best = c
    return best
