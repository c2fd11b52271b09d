"""Step 4 of bulk check-in: scoring a ring from independent physical signals.

Every signal is something an inspector can check by hand, with a measured value and a
threshold. The ring's size gives a base; each signal present takes its weight's share off the doubt
(a noisy-OR), and each piece of counter-evidence present puts as much back:

    doubt = (1 - base) * prod(1 - w_i over signals present)
                       / prod(1 - v_j over counter-evidence present)
    score = 1 - min(doubt, 1)

Signals: arrivals in step (all at once, or a steady one-at-a-time rhythm: only ever raises
the score, never required), a shared network or device model beyond chance, accounts
sharing devices, repeated photos, accounts active too far away to have been there, accounts
never otherwise at the place, and the same set again on other days in lockstep.
Counter-evidence: the accounts belong at the place (they use the app there at other times,
like staff at their office), or the repeated set keeps habitual times (colleagues).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tapwatch.detectors.base import DetectorInput
from tapwatch.detectors.bulk_checkin.bursts import Burst
from tapwatch.detectors.bulk_checkin.linking import Ring
from tapwatch.detectors.bulk_checkin.places import Surroundings
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.geo import distance_m
from tapwatch.events import EventType
from tapwatch.window import DAY, EventWindow

RULE_CHECKIN = "2026 management measures: no mandatory check-in"
RULE_UPLOADS = "2026 management measures: no unnecessary photo or GPS uploads"


@dataclass(slots=True)
class Signal:
    """One measured signal: present when `value` is past `threshold` (and, for shared
    hardware, unlikely by chance); `weight` > 0 raises the score, < 0 lowers it."""

    code: str
    value: float
    threshold: float
    weight: float
    present: bool
    text: str
    rule: str | None = RULE_CHECKIN


@dataclass(slots=True)
class Measures:
    """What the evidence reports beside the signals."""

    network_share: float
    device_model_share: float
    photo_dup_share: float
    accounts_per_device: float
    elsewhere: list[int]  # account codes seen too far away
    never_here: int  # accounts with no other activity at the place


class Context:
    """Window-wide facts the signals compare the rings with: how common each network and
    device model is, who else comes to the rings' places, and every event of the rings'
    accounts."""

    def __init__(self, win: EventWindow, rings: list[Ring], around: Surroundings) -> None:
        self.win, self.around = win, around
        ck = win.type == np.uint8(EventType.checkin)
        self.network = _counts(win.network[ck])
        self.device_model = _counts(win.device_model[ck])
        accounts = sorted({a for r in rings for a in r.accounts})
        rows = np.flatnonzero(np.isin(win.account, np.asarray(accounts, win.account.dtype)))
        rows = rows[np.argsort(win.account[rows], kind="stable")]
        acc = win.account[rows]
        bounds = np.concatenate(([0], np.flatnonzero(np.diff(acc)) + 1, [rows.size]))
        self.by_account: dict[int, np.ndarray] = {
            int(acc[lo]): rows[lo:hi]
            for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
            if hi > lo
        }

    def of(self, account: int) -> np.ndarray:
        return self.by_account.get(account, np.zeros(0, dtype=np.int64))

    def others_at_place(self, ring: Ring, radius_m: float, days: float) -> np.ndarray:
        """Check-ins of other accounts at the ring's place (within radius_m of a burst
        centre) within `days` of the ring: the people who come there on their own."""
        n = len(ring.bursts)
        _, rows = self.around.near(
            np.array([b.lat for b in ring.bursts]),
            np.array([b.lon for b in ring.bursts]),
            np.full(n, self.win.ts[ring.rows[0]] - days * DAY),
            np.full(n, self.win.ts[ring.rows[-1]] + days * DAY),
            radius_m,
        )
        rows = np.unique(rows)
        return rows[~np.isin(self.win.account[rows], ring.accounts)]


def _counts(codes: np.ndarray) -> np.ndarray:
    known = codes[codes >= 0]
    return np.bincount(known) if known.size else np.zeros(0, dtype=np.int64)


def score(
    inp: DetectorInput, ring: Ring, ctx: Context, s: Settings
) -> tuple[float, list[Signal], Measures] | None:
    """The ring's score, every signal measured (present or not) and the measures; None
    when it cannot reach min_score (most chance groups: the costly look-ups of where the
    accounts are otherwise are then skipped)."""
    base = s.size_weight * _ramp(ring.size, s.min_accounts - 1, s.strong_accounts)
    in_step = _ramp(ring.size, s.group_accounts, s.strong_accounts)
    # The app-wide rarity of a shared network: the place's own can only make it commoner.
    tempo, repeat = _tempo(ring.main, in_step, s), _repetition(ring, s)
    m, shared = _hardware(ctx, ring, np.zeros(0, dtype=np.int64), s)
    best = _doubt(base, [*tempo, *shared, *repeat])
    best *= (1.0 - s.weight_elsewhere) * (1.0 - s.weight_never_here)
    if 1.0 - best < s.min_score:
        return None
    local = ctx.others_at_place(ring, _place_radius(inp, ring.main, s), s.presence_days)
    m, shared = _hardware(ctx, ring, local, s)
    signals = [*tempo, *shared, *_presence(inp, ring, ctx, s, m), *repeat]
    return round(1.0 - min(_doubt(base, signals), 1.0), 3), signals, m


def _doubt(base: float, signals: list[Signal]) -> float:
    doubt = 1.0 - base
    for sig in signals:
        if sig.present and sig.weight > 0:
            doubt *= 1.0 - sig.weight
        elif sig.present and sig.weight < 0:
            doubt /= 1.0 + sig.weight  # counter-evidence: as much doubt back as a signal takes
    return doubt


def _ramp(n: int, zero: float, full: float) -> float:
    """0 at `zero` accounts or fewer, rising linearly to 1 at `full`."""
    return min(1.0, max(0.0, (n - zero) / (full - zero)))


def _tempo(b: Burst, ramp: float, s: Settings) -> list[Signal]:
    """Arrivals in step: all phones within a second or two each (no group of people is
    that quick), or one at a time at a steady rhythm a few seconds apart (one hand going
    from phone to phone), over the whole burst or its core (all but a passer-by or two).
    Both count only beyond group_accounts, fully from strong_accounts (friends or a family
    walk in together; a dozen people do not keep step). Slow, irregular rings have neither
    and are judged without them."""
    seen = [b] if b.core is None else [b, b.core]
    at_once = next((x for x in seen if x.seconds_per_phone <= s.all_at_once_s), b)
    steady = next((x for x in seen if _steady(x, s)), b)
    return [
        Signal(
            "all_at_once",
            round(at_once.seconds_per_phone, 2),
            s.all_at_once_s,
            s.weight_all_at_once * ramp,
            at_once.seconds_per_phone <= s.all_at_once_s,
            f"{at_once.n_accounts} phones checked in within {at_once.duration_s:.1f} s "
            f"({at_once.seconds_per_phone:.2f} s per phone)",
        ),
        Signal(
            "steady_rhythm",
            round(steady.gap_cv, 3),
            s.max_gap_cv,
            s.weight_steady * ramp,
            _steady(steady, s),
            f"{steady.n_accounts} phones one at a time, {steady.median_gap:.1f} s apart "
            f"(median), coefficient of variation {steady.gap_cv:.2f}, "
            f"{steady.overlap_share:.0%} within a second of the one before",
        ),
    ]


def _steady(b: Burst, s: Settings) -> bool:
    return (
        b.gap_cv <= s.max_gap_cv
        and b.overlap_share <= s.max_overlap_share
        and 1.0 <= b.median_gap <= s.max_tap_gap_s
    )


def _hardware(
    ctx: Context, ring: Ring, local: np.ndarray, s: Settings
) -> tuple[Measures, list[Signal]]:
    """Shared network, device model, devices and photos. A network counts only if it is
    unusual both in the app and at the place (a venue's Wi-Fi that people there use on
    their own tells nothing); `local` are other accounts' check-ins at the place."""
    win = ctx.win
    local_nets = win.network[local] if local.size >= s.min_local_checkins else None
    nets = [
        _shared(win.network[b.rows], ctx.network, win.network[ring.rows], local_nets)
        for b in ring.bursts
    ]
    models = [
        _shared(win.device_model[b.rows], ctx.device_model, win.device_model[ring.rows])
        for b in ring.bursts
    ]
    net_share = float(np.mean([v for v, _ in nets]))
    model_share = float(np.mean([v for v, _ in models]))
    # The chance of the most telling burst: linked bursts are the same phones again.
    net_p = min(c for _, c in nets)
    model_p = min(c for _, c in models)
    photo = float(np.mean([_photo_dup_share(win.photo_hash[b.rows]) for b in ring.bursts]))
    per_device = []
    for b in ring.bursts:
        dev = win.device[b.rows]
        known = dev >= 0
        if known.any():
            n_acc = np.unique(win.account[b.rows][known]).size
            per_device.append(n_acc / np.unique(dev[known]).size)
    apd = float(max(per_device)) if per_device else 1.0
    m = Measures(net_share, model_share, photo, apd, [], 0)
    return m, [
        Signal(
            "shared_network",
            round(net_share, 3),
            s.shared_share,
            s.weight_network,
            net_share >= s.shared_share and net_p <= s.max_chance_p,
            f"{net_share:.0%} of check-ins came over one network (by chance: p={net_p:.1g})",
        ),
        Signal(
            "shared_device_model",
            round(model_share, 3),
            s.shared_share,
            s.weight_device_model,
            model_share >= s.shared_share and model_p <= s.max_chance_p,
            f"{model_share:.0%} of the phones are one device model (by chance: p={model_p:.1g})",
        ),
        Signal(
            "shared_device",
            round(apd, 3),
            s.accounts_per_device,
            s.weight_device,
            apd >= s.accounts_per_device,
            f"{apd:.1f} accounts per device",
        ),
        Signal(
            "repeated_photo",
            round(photo, 3),
            s.photo_dup_share,
            s.weight_photo,
            photo >= s.photo_dup_share,
            f"{photo:.0%} of the photos repeat another photo of the burst",
            RULE_UPLOADS,
        ),
    ]


def _presence(
    inp: DetectorInput, ring: Ring, ctx: Context, s: Settings, m: Measures
) -> list[Signal]:
    """Where the ring's accounts are outside the ring: too far away to have been there
    (elsewhere), at the place on their own at other times (they belong there), or never
    otherwise at the place."""
    win = ctx.win
    in_ring = np.zeros(len(win), dtype=bool)
    in_ring[ring.rows] = True
    radius = _place_radius(inp, ring.main, s)
    first, last = float(win.ts[ring.rows[0]]), float(win.ts[ring.rows[-1]])
    elsewhere: list[int] = []
    here_t, here_a, here_ck = [], [], []  # the accounts' other activity at the place
    never = 0
    for a in ring.accounts:
        other = ctx.of(a)
        other = other[~in_ring[other]]
        t = win.ts[other]
        other = other[
            np.isfinite(win.lat[other])
            & np.isfinite(win.lon[other])
            & (t >= first - s.presence_days * DAY)
            & (t <= last + s.presence_days * DAY)
        ]
        if _too_far(win, ring, a, other, s):
            elsewhere.append(a)
        at = other[_near_ring(win, ring, other) <= radius]
        never += at.size == 0
        here_t.append(win.ts[at])
        here_a.append(np.full(at.size, a))
        here_ck.append(win.type[at] == np.uint8(EventType.checkin))
    n = len(ring.accounts)
    solo = _belonging(
        np.concatenate(here_t), np.concatenate(here_a), np.concatenate(here_ck), ring, s
    )
    m.elsewhere, m.never_here = elsewhere, never
    return [
        Signal(
            "accounts_elsewhere",
            round(len(elsewhere) / n, 3),
            s.elsewhere_share,
            s.weight_elsewhere,
            len(elsewhere) / n >= s.elsewhere_share,
            f"{len(elsewhere)} of {n} accounts were active over {s.elsewhere_m:.0f} m away too "
            f"soon to reach the place at {s.max_travel_speed_mps:g} m/s",
        ),
        Signal(
            "never_otherwise_here",
            round(never / n, 3),
            s.never_here_share,
            s.weight_never_here,
            never / n >= s.never_here_share,
            f"{never} of {n} accounts are never otherwise at the place",
        ),
        Signal(
            "belong_here",
            round(solo / n, 3),
            s.belong_share,
            -s.weight_belong,
            solo / n >= s.belong_share,
            f"{solo} of {n} accounts come to the place on their own at other times (people "
            "who belong there, like staff at their office)",
            None,
        ),
    ]


def _near_ring(win: EventWindow, ring: Ring, rows: np.ndarray) -> np.ndarray:
    """Distance (m) of each row's fix from the nearest burst centre of the ring."""
    d = np.full(rows.size, np.inf)
    for b in ring.bursts:
        if math.isfinite(b.lat):
            d = np.minimum(d, distance_m(win.lat[rows], win.lon[rows], b.lat, b.lon))
    return d


def _too_far(win: EventWindow, ring: Ring, a: int, rows: np.ndarray, s: Settings) -> bool:
    """Whether account `a` was active somewhere it could not have come from in time to its
    own check-in in one of the ring's bursts."""
    for b in ring.bursts:
        if a not in b.accounts or not math.isfinite(b.lat):
            continue
        d = distance_m(win.lat[rows], win.lon[rows], b.lat, b.lon)
        own = win.ts[b.rows[win.account[b.rows] == a]]
        dt = np.abs(win.ts[rows][:, None] - own[None, :]).min(axis=1)
        if np.any((d > s.elsewhere_m) & (d > s.max_travel_speed_mps * np.maximum(dt, 1.0))):
            return True
    return False


def _belonging(
    t: np.ndarray, acc: np.ndarray, is_checkin: np.ndarray, ring: Ring, s: Settings
) -> int:
    """Accounts that come to the place on their own: activity there away from the ring's
    bursts (further than visit_gap_s) that is either something other than a check-in
    (using the app there, like staff at their desks) or a check-in with at most one other
    of the ring's accounts there within context_s. A ring's phones only ever check in,
    together; a day of the ring that was not linked is not a visit of one's own."""
    spans = np.array([(b.start, b.end) for b in ring.bursts])
    away = np.all(
        (t[:, None] < spans[None, :, 0] - s.visit_gap_s)
        | (t[:, None] > spans[None, :, 1] + s.visit_gap_s),
        axis=1,
    )
    t, acc, is_checkin = t[away], acc[away], is_checkin[away]
    belong = set(acc[~is_checkin].tolist())
    t, acc = t[is_checkin], acc[is_checkin]
    order = np.argsort(t)
    t, acc = t[order], acc[order]
    lo = np.searchsorted(t, t - s.context_s, side="left")
    hi = np.searchsorted(t, t + s.context_s, side="right")
    for i in range(t.size):
        if len(set(acc[lo[i] : hi[i]].tolist()) - {int(acc[i])}) <= 1:
            belong.add(int(acc[i]))
    return len(belong)


def _repetition(ring: Ring, s: Settings) -> list[Signal]:
    """The same set again on other days, in lockstep (a signal) or each at a habitual time
    (counter-evidence, once there are habit_days to show it)."""
    days = len(ring.days)
    h = ring.habit_ratio
    lockstep = days >= 2 and not (h < s.min_lockstep_ratio)
    habits = days >= s.habit_days and h < s.min_lockstep_ratio
    return [
        Signal(
            "repeated_days",
            float(days),
            2.0,
            s.weight_repeat,
            lockstep,
            f"the same accounts together again on {days} days, arriving in lockstep "
            f"(habit ratio {h:.2f})",
        ),
        Signal(
            "habitual_times",
            round(h, 3) if math.isfinite(h) else -1.0,
            s.min_lockstep_ratio,
            -s.weight_habit,
            habits,
            f"the same accounts on {days} days, each at a time of day of their own (their "
            f"times vary {h:.2f}x as much from day to day as they are apart within a day): "
            "habits, not lockstep",
            None,
        ),
    ]


def _place_radius(inp: DetectorInput, b: Burst, s: Settings) -> float:
    if 0 <= b.place_key < len(inp.app.points):
        return inp.app.points[b.place_key].radius_m
    return s.link_distance_m


def _photo_dup_share(codes: np.ndarray) -> float:
    known = codes[codes >= 0]
    if known.size == 0:
        return 0.0
    _, counts = np.unique(known, return_counts=True)
    return float(counts[counts > 1].sum() / known.size)


def _binomial_tail(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    p = min(max(p, 0.0), 1.0)
    return float(sum(math.comb(n, j) * p**j * (1.0 - p) ** (n - j) for j in range(k, n + 1)))


def _shared(
    codes: np.ndarray,
    counts: np.ndarray,
    ring_codes: np.ndarray,
    local: np.ndarray | None = None,
) -> tuple[float, float]:
    """Share of a burst's known codes taken by its most common one, and the chance that at
    least that many would carry it at random, given its share of the window's check-ins
    outside the ring (the ring's own check-ins would make any shared network look common)
    or, if higher, its share of the `local` codes (other people's check-ins at the place)."""
    known = codes[codes >= 0]
    if known.size == 0:
        return 0.0, 1.0
    vals, n_in = np.unique(known, return_counts=True)
    top = int(np.argmax(n_in))
    v = int(vals[top])
    ring_known = ring_codes[ring_codes >= 0]
    outside = int(counts.sum()) - ring_known.size
    here = (int(counts[v]) if v < counts.size else 0) - int(np.sum(ring_known == v))
    base = here / outside if outside > 0 else 0.0
    if local is not None and local.size:
        base = max(base, float(np.mean(local == v)))
    return float(n_in[top] / known.size), _binomial_tail(int(n_in[top]), known.size, base)
