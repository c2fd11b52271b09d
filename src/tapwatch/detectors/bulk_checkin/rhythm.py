"""Step 4a of bulk check-in: what the timing of the check-ins says.

One hand handles one phone at a time: all at once (software, phones laid out), a steady
rhythm a few seconds apart, or, at any pace, hardly ever two phones much closer together
than its usual gap. People present check in on their own: at a slow pace, now and then two
of them tap within seconds of each other, as often as independent arrivals do. The first
raise the score (never required: a careful operator's pace can look like anything); the
last is counter-evidence (many hands: a course at its desks, a crew at its briefing).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from tapwatch.detectors.bulk_checkin.bursts import Burst
from tapwatch.detectors.bulk_checkin.linking import Ring
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.bulk_checkin.signal import Signal

#: Gaps on each side that give a gap's local pace (their median): enough that one pause or
#: a change of lot does not set it, few enough to follow a ring worked in lots.
NEIGHBOURS = 2
#: Gaps a burst needs before its shape (bunched in the middle or not) is read: 8 phones.
MIN_CALL_GAPS = 7
#: Chance, for people arriving on their own, of as many pairs as seen, at or under which
#: the pairs are lots (two phones at a time), not many hands.
PAIRED_P = 1e-6


def tempo_signals(b: Burst, ramp: float, s: Settings) -> list[Signal]:
    """Arrivals in step: all phones within a second or two each (no group of people is
    that quick), or one at a time at a steady rhythm a few seconds apart (one hand going
    from phone to phone), over the whole burst or its core (all but a passer-by or two).
    Both count only beyond group_accounts, fully from strong_accounts (friends or a family
    walk in together; a dozen people do not keep step). Slow, irregular rings have neither
    and are judged without them."""
    seen = [b] if b.core is None else [b, b.core]
    at_once = next((x for x in seen if _at_once(x, s)), b)
    steady = next((x for x in seen if _steady(x, s)), b)
    return [
        Signal(
            "all_at_once",
            round(at_once.seconds_per_phone, 2),
            s.all_at_once_s,
            s.weight_all_at_once * ramp,
            _at_once(at_once, s),
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


def one_at_a_time(
    ts: np.ndarray, account: np.ndarray, b: Burst, ramp: float, s: Settings
) -> Signal:
    """One phone at a time, at whatever pace: one operator finishes a phone before taking
    the next, so gaps far shorter than the burst's usual gap are rare, pauses or not;
    people arriving on their own (or walking in together) have them at random. Present
    when so few short gaps would be seen by chance for independent arrivals at the burst's
    pace (exponential gaps: a share 1 - 2^-q under q times the median). Each phone's
    first check-in only: a failed check-in tapped again is the same phone, not the next."""
    _, first = np.unique(account[b.rows], return_index=True)  # a retry is the same phone
    gaps = np.diff(np.sort(ts[b.rows[first]]))
    med = float(np.median(gaps)) if gaps.size else 0.0
    short = int(np.sum(gaps < s.short_gap_share * med))
    p = _binomial_cdf(short, gaps.size, 1.0 - 2.0 ** (-s.short_gap_share)) if med > 0 else 1.0
    return Signal(
        "one_at_a_time",
        round(p, 4),
        s.one_at_a_time_p,
        s.weight_one_at_a_time * ramp,
        p <= s.one_at_a_time_p,
        f"{short} of {gaps.size} gaps under {s.short_gap_share:.0%} of the median gap "
        f"({med:.1f} s): one phone at a time (as few by chance for people arriving on "
        f"their own: p={p:.2g})",
    )


def _binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), summed in logs (n may be hundreds of gaps)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    lp, lq = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1) + j * lp + (n - j) * lq
        for j in range(k, n + 1)
    ]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return float(sum(math.comb(n, j) * p**j * (1.0 - p) ** (n - j) for j in range(k + 1)))


def _at_once(b: Burst, s: Settings) -> bool:
    """All at once: every phone within fired_together_s, first to last (software firing
    them, a hand sweeping across phones laid out), or at quick_hand_s a phone or quicker
    within quick_hand_max_s (a hand tapping a table's worth of phones laid out, a pace no
    small group keeps), and at most all_at_once_s a phone either way. A dozen people each
    tapping their own phone as they reach a post can average a second a phone, but they
    take ten seconds or more between them; a hall of a hundred answering one call
    averages under a second a phone, but over its own spread of delays (a minute or
    more), since a crowd's pace grows with its number and a hand's does not."""
    quick = b.seconds_per_phone <= s.quick_hand_s and b.duration_s <= s.quick_hand_max_s
    return b.seconds_per_phone <= s.all_at_once_s and (b.duration_s <= s.fired_together_s or quick)


def by_one_hand(b: Burst, s: Settings) -> bool:
    """Whether the burst's timing, over it or its core, is one hand's: all at once or a
    steady rhythm (the tests `tempo_signals` weighs, without the ramp by size)."""
    return any(_at_once(x, s) or _steady(x, s) for x in ([b] if b.core is None else [b, b.core]))


def _steady(b: Burst, s: Settings) -> bool:
    return (
        b.gap_cv <= s.max_gap_cv
        and b.overlap_share <= s.max_overlap_share
        and 1.0 <= b.median_gap <= s.max_tap_gap_s
    )


def many_hands(ts: np.ndarray, account: np.ndarray, ring: Ring, s: Settings) -> Signal:
    """Many hands: at a pace far too slow for software or a quick hand (local pace, the
    median of the neighbouring gaps, and the gaps just before and after, at least
    min_hands_pace_s), two check-ins within together_s and under short_gap_share of that
    pace (a lone pair, not a run of them), about as often as independent
    people arriving at that pace do (exponential gaps), and far more often than one
    operator finishing a phone before taking the next (one_hand_together_share). Pooled
    over every burst of the ring, as a likelihood ratio of the two; counter-evidence. Only
    each account's first check-in in a burst counts (a repeat may be the app retrying).

    Far more pairs than people arriving on their own make (as many with probability
    PAIRED_P or less) are neither: phones taken in lots, two at a time, one in each of
    one operator's hands (every other gap a pair). They are then not counted."""
    together = looked = 0
    llr = expected = 0.0
    for b in ring.bursts:
        # Each phone's first check-in: a repeat may be the app retrying, not a hand.
        _, first = np.unique(account[b.rows], return_index=True)
        gaps = np.diff(np.sort(ts[b.rows[first]]))
        if gaps.size < 2 * NEIGHBOURS + 1:
            continue
        win = sliding_window_view(gaps, 2 * NEIGHBOURS + 1)
        pace = np.median(np.delete(win, NEIGHBOURS, axis=1), axis=1)
        gap = win[:, NEIGHBOURS]
        # A lone pair in a slow stream: the check-ins just before and after it are at the
        # slow pace too. A lot of phones fired or tapped quickly inside a slow ring is a
        # run of short gaps, not a pair; its edges are not many hands.
        slow = (pace >= s.min_hands_pace_s) & (
            np.minimum(win[:, NEIGHBOURS - 1], win[:, NEIGHBOURS + 1]) >= s.min_hands_pace_s
        )
        cut = np.minimum(s.short_gap_share * pace[slow], s.together_s)
        hit = gap[slow] < cut
        p_people = 1.0 - 2.0 ** (-cut / pace[slow])  # exponential gaps with that median
        p_hand = s.one_hand_together_share
        llr += float(
            np.sum(np.where(hit, np.log(p_people / p_hand), np.log((1 - p_people) / (1 - p_hand))))
        )
        together += int(hit.sum())
        looked += int(slow.sum())
        expected += float(p_people.sum())
    ratio = math.exp(min(llr, 50.0))
    pairs_p = _binomial_sf(together, looked, expected / looked) if looked else 1.0
    in_lots = pairs_p <= PAIRED_P
    return Signal(
        "many_hands",
        round(ratio, 2),
        s.many_hands_ratio,
        -s.weight_many_hands,
        ratio >= s.many_hands_ratio and not in_lots,
        f"{together} of {looked} gaps at a pace of {s.min_hands_pace_s:g} s or slower were "
        f"two check-ins within {s.together_s:g} s of each other: {ratio:.3g} times as likely "
        "for people checking in on their own as for one operator taking one phone at a time "
        "(many hands: people present, not a bag of phones)"
        + (
            f"; not counted: far more pairs than people arriving on their own make "
            f"(p={pairs_p:.2g}): phones taken in lots, two at a time"
            if in_lots and ratio >= s.many_hands_ratio
            else ""
        ),
        None,
    )


def answering_a_call(
    ts: np.ndarray, account: np.ndarray, ring: Ring, one_hand: bool, s: Settings
) -> Signal:
    """People answering one call (an instructor, a supervisor), each after a delay of
    their own: most check in soon, a few take longer, and some came early, so the
    check-ins bunch in the middle and thin out at both ends. One operator taking one
    phone after another keeps one pace throughout, whatever it is (pauses fall anywhere).
    Measured per burst as the rank correlation of each gap with its distance from the
    burst's middle (each phone's first check-in), in bursts at a pace of min_hands_pace_s
    or slower, pooled over the ring's bursts (Stouffer); counter-evidence when a pace that
    steady would give as strong a pattern by chance with p <= call_p, unless the timing
    shows `one_hand` (then the long gaps at the ends are passers-by chained in)."""
    zs = []
    for b in ring.bursts:
        _, first = np.unique(account[b.rows], return_index=True)
        gaps = np.diff(np.sort(ts[b.rows[first]]))
        m = gaps.size
        # Software or a quick hand bunches phones too; people answering take seconds.
        if m < MIN_CALL_GAPS or np.median(gaps) < s.min_hands_pace_s:
            continue
        from_middle = np.abs(np.arange(m) - (m - 1) / 2.0)
        zs.append(_rank_correlation(from_middle, gaps) * math.sqrt(m - 1))
    z = sum(zs) / math.sqrt(len(zs)) if zs else 0.0
    p = 0.5 * math.erfc(z / math.sqrt(2.0))
    return Signal(
        "answering_a_call",
        round(p, 4),
        s.call_p,
        -s.weight_call,
        p <= s.call_p and not one_hand,
        f"the check-ins bunch in the middle of the burst and thin out at both ends (rank "
        f"correlation of the gaps with their distance from the middle, z={z:.2f} over "
        f"{len(zs)} bursts, p={p:.2g}): people answering one call, each after a delay of "
        "their own, not one operator keeping one pace"
        + (
            "; not counted: the timing shows one operator handling every phone, so the "
            "long gaps at the ends are passers-by"
            if p <= s.call_p and one_hand
            else ""
        ),
        None,
    )


def _rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's rank correlation (ties in x share their mean rank); 0 if constant."""
    rx, ry = _ranks(x), _ranks(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    den = math.sqrt(float(np.sum(rx * rx) * np.sum(ry * ry)))
    return float(np.sum(rx * ry)) / den if den > 0 else 0.0


def _ranks(v: np.ndarray) -> np.ndarray:
    """Ranks from 0, equal values sharing their mean rank."""
    order = np.argsort(v, kind="stable")
    sv = v[order]
    start = np.concatenate(([True], sv[1:] != sv[:-1]))
    group = np.cumsum(start) - 1
    first = np.flatnonzero(start)
    size = np.diff(np.append(first, sv.size))
    out = np.empty(v.size)
    out[order] = first[group] + (size[group] - 1) / 2.0
    return out
