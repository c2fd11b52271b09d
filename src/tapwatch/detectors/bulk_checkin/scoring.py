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
like staff at their office), the repeated set keeps habitual times (colleagues), many
hands checked in or people answered one call (people on their own, `rhythm`), the people
stayed, or they went their own ways right after (`presence`). Answering a call and going
one's own way are not counted when the timing shows one hand tapped every phone; when
the phones are shown to have come, gone or stayed on with their owners all the same, the
hand was one server's (a queue at a door), and the timing does not count. The base grows
with the ring's size: its distinct accounts over all its days (the bag).
"""

from __future__ import annotations

import math

import numpy as np

from tapwatch.detectors.base import DetectorInput
from tapwatch.detectors.bulk_checkin.hardware import hardware_signals
from tapwatch.detectors.bulk_checkin.linking import Ring
from tapwatch.detectors.bulk_checkin.presence import Context, place_radius, presence_signals
from tapwatch.detectors.bulk_checkin.rhythm import (
    answering_a_call,
    many_hands,
    one_at_a_time,
    tempo_signals,
)
from tapwatch.detectors.bulk_checkin.settings import Settings
from tapwatch.detectors.bulk_checkin.signal import Measures, Signal

#: Timing signals that show one operator handling every phone.
ONE_HAND = frozenset({"all_at_once", "steady_rhythm", "one_at_a_time"})
#: Counter-evidence that the phones were in their owners' hands: coming, going, or staying
#: on at the place (half the accounts there again an hour or more later the same day).
WITH_OWNERS = ("people_arrive", "people_leave", "people_come_and_go", "people_stay")
#: Counter-evidence that the phones were with their owners at the place or apart all day,
#: so a network they share is the place's.
PLACE_NETWORK = ("day_apart", "people_stay")
#: A score, every signal measured (present or not) and the measures.
Scored = tuple[float, list[Signal], Measures]


def score(inp: DetectorInput, ring: Ring, ctx: Context, s: Settings) -> Scored | None:
    """The ring's score, every signal measured (present or not) and the measures; None
    when it cannot reach min_score (most chance groups: the costly look-ups of where the
    accounts are otherwise are then skipped)."""
    win = inp.events
    # Size is the bag's: a set seen again with a few phones missing each day is no smaller.
    base = s.size_weight * _ramp(ring.phones, s.min_accounts - 1, s.strong_accounts)
    in_step = _ramp(ring.size, s.group_accounts, s.strong_accounts)
    tempo = tempo_signals(ring.main, in_step, s)
    tempo.append(one_at_a_time(win.ts, win.account, ring.main, in_step, s))
    _a_queue(tempo, ring, s)
    # When the timing shows one hand tapping every phone, phones seen dispersing soon after
    # went back to their owners, and long gaps at the ends are passers-by chained in: they
    # say nothing about people having been there.
    one_hand = any(g.present and g.code in ONE_HAND for g in tempo)
    tempo.append(many_hands(win.ts, win.account, ring, s))
    tempo.append(answering_a_call(win.ts, win.account, ring, one_hand, s))
    repeat = _repetition(ring, s)
    # The app-wide rarity of a shared network: the place's own can only make it commoner.
    m, shared = hardware_signals(ctx, ring, np.zeros(0, dtype=np.int64), s)
    best = _doubt(base, [*tempo, *shared, *repeat])
    best *= (1.0 - s.weight_elsewhere) * (1.0 - s.weight_never_here) * (1.0 - s.weight_borrowed)
    if 1.0 - best < s.min_score:
        return None
    local = ctx.others_at_place(ring, place_radius(inp, ring.main, s), s.presence_days)
    m, shared = hardware_signals(ctx, ring, local, s)
    presence = presence_signals(inp, ring, ctx, s, m, one_hand)
    if one_hand:
        _one_server(tempo, presence)
    _place_network(shared, presence)
    signals = [*tempo, *shared, *presence, *repeat]
    return round(1.0 - min(_doubt(base, signals), 1.0), 3), signals, m


def _a_queue(tempo: list[Signal], ring: Ring, s: Settings) -> None:
    """One phone after another over more accounts than one official's bag holds is a
    counter's queue served all day, not a bag: a hand's pace (a steady rhythm, one at a
    time) is then no evidence. Software firing them all at once still is."""
    if ring.main.n_accounts <= s.queue_accounts:
        return
    for g in tempo:
        if g.present and g.code in ("steady_rhythm", "one_at_a_time"):
            g.present = False
            g.text += (
                f"; not counted: {ring.main.n_accounts} accounts one after another are more "
                f"than one bag holds (over {s.queue_accounts}): a queue served one at a time"
            )


def _one_server(tempo: list[Signal], presence: list[Signal]) -> None:
    """When the phones came, went or stayed on with their owners although the timing
    shows one hand (`travel`: the group was at the place again hours later; `presence`:
    half the accounts were, checking out or using the app there), the hand was one
    server's (an invigilator checking a queue's IDs), not one holder's: a bag is checked
    in and goes. The timing is then no evidence of a bag and does not count."""
    with_owners = [g.code for g in presence if g.present and g.code in WITH_OWNERS]
    if not with_owners:
        return
    for g in tempo:
        if g.present and g.code in ONE_HAND:
            g.present = False
            g.text += (
                f"; not counted: the phones came, went or stayed with their owners "
                f"({', '.join(with_owners)}), so the pace is one server's, not one holder's"
            )


def _place_network(shared: list[Signal], presence: list[Signal]) -> None:
    """A shared network says the phones were kept together (a bag on one hotspot, spare
    phones on an office's Wi-Fi). Phones that spent the day apart, each with its owner
    kilometres from the others (`day_apart`: a family home from work and school), were
    not kept together; phones whose accounts stayed on at the place for hours
    (`people_stay`: a course checking out after its day) were with people who spent
    those hours there. Either way the network they share is the place's, which anyone
    there joins, and is then no evidence of a bag."""
    why = [g.code for g in presence if g.present and g.code in PLACE_NETWORK]
    if not why:
        return
    for g in shared:
        if g.present and g.code == "shared_network":
            g.present = False
            g.text += (
                "; not counted: the phones were with their owners, apart all day or "
                f"staying on here ({', '.join(why)}), so the network is the place's, not a "
                "bag's"
            )


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


def _repetition(ring: Ring, s: Settings) -> list[Signal]:
    """The same set again on other days, in lockstep (a signal) or each at a habitual time
    (counter-evidence, once there are habit_days to show it)."""
    days = len(ring.days)
    h = ring.habit_ratio
    # Habits are each person's own: a set whose day-to-day shifts move together is one
    # session moving (in lockstep), whatever the order within it.
    moving = days >= s.habit_days and ring.common_shift >= s.min_common_shift
    # Shares of one bag (`shares`) on days with no account in common are not the same
    # set again: the habit ratio is NaN until some account comes on two days.
    lockstep = days >= 2 and math.isfinite(h) and (not (h < s.min_lockstep_ratio) or moving)
    habits = days >= s.habit_days and h < s.min_lockstep_ratio and not moving
    return [
        Signal(
            "repeated_days",
            float(days),
            2.0,
            s.weight_repeat,
            lockstep,
            f"the same accounts together again on {days} days, arriving in lockstep "
            f"(habit ratio {h:.2f}; their times of day shift together from day to day "
            f"{ring.common_shift:.1f}x as much as they vary on their own)",
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
