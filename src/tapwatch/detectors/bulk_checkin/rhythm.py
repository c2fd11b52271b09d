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


def tempo_signals(b: Burst, ramp: float, s: Settings) -> list[Signal]:
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


def one_at_a_time(ts: np.ndarray, b: Burst, ramp: float, s: Settings) -> Signal:
    """One phone at a time, at whatever pace: one operator finishes a phone before taking
    the next, so gaps far shorter than the burst's usual gap are rare, pauses or not;
    people arriving on their own (or walking in together) have them at random. Present
    when so few short gaps would be seen by chance for independent arrivals at the burst's
    pace (exponential gaps: a share 1 - 2^-q under q times the median)."""
    gaps = np.diff(ts[b.rows])
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


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return float(sum(math.comb(n, j) * p**j * (1.0 - p) ** (n - j) for j in range(k + 1)))


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
    each account's first check-in in a burst counts (a repeat may be the app retrying)."""
    together = looked = 0
    llr = 0.0
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
    ratio = math.exp(min(llr, 50.0))
    return Signal(
        "many_hands",
        round(ratio, 2),
        s.many_hands_ratio,
        -s.weight_many_hands,
        ratio >= s.many_hands_ratio,
        f"{together} of {looked} gaps at a pace of {s.min_hands_pace_s:g} s or slower were "
        f"two check-ins within {s.together_s:g} s of each other: {ratio:.3g} times as likely "
        "for people checking in on their own as for one operator taking one phone at a time "
        "(many hands: people present, not a bag of phones)",
        None,
    )
