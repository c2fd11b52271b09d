"""Ritual rounds: the same accounts opening many apps' daily posts within minutes, day
after day.

One official followed ~20 government official accounts and was told to open each one
every day so that "the back-end numbers look good". Inside one app that is a few seconds
of reading a day, hard to tell from a reader who likes the content. Across apps it is a
round: the account opens one official account after another, minutes apart, and does it
again the next day and the next. People who read because they want to do not visit the
same handful of accounts in one sitting every day.

Over the raw window of every app (pseudonyms are keyed on the raw id, so one official is
the same pseudonym in every app):

* a **round** is an account-day on which the account opened (read, liked, checked in or
  started a session in, without doing any work there) at least `min_apps` apps within
  `round_s` of each other;
* a **rounder** made rounds on at least `min_days` local days;
* two apps are in the same round when at least `min_accounts` rounders took both in their
  rounds; groups of at least `min_apps` such apps (connected) are reported.

One cross-app finding per group and ISO week, filed under the app with the most rounders:
the accounts (pseudonyms, sorted, never ranked), how many rounds, the apps per round, the
minutes a round takes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from itertools import combinations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stacked import events_column, events_stack, local_days, runs
from tapwatch.detectors.stats import (
    EVIDENCE_LIMIT,
    connected_groups,
    day_to_date,
    exceedance_score,
    iso_week,
    of_types,
    severity_for,
    sorted_distinct,
    unique_pairs,
)
from tapwatch.events import MEANINGFUL_TYPES, RITUAL_TYPES, EventType
from tapwatch.window import local_day_of

KIND = "ritual_rounds"
RULE = (
    "2026 management measures: no mandatory periodic logins; likes, forwards and reading "
    "not scored in assessments"
)
_OPENING = np.array(
    sorted(int(t) for t in (*RITUAL_TYPES, EventType.session_start)), dtype=np.uint8
)
_MEANINGFUL = np.array(sorted(int(t) for t in MEANINGFUL_TYPES), dtype=np.uint8)
_EXAMPLES = 20  # example rounds kept as evidence


class Settings(BaseModel):
    """ritual_rounds settings (config `detectors: ritual_rounds:`; fleet-wide, an app's own
    overrides do not apply to a round across apps)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round_s: float = Field(
        600.0,
        gt=0,
        description="Seconds within which the apps of one round are opened (first to last).",
    )
    min_apps: int = Field(
        3, ge=2, description="Apps opened within round_s for a round; apps in a group."
    )
    min_days: int = Field(
        3, ge=1, description="Days with a round (raw window) that make an account a rounder."
    )
    min_accounts: int = Field(
        5, ge=1, description="Rounders two apps must share to be in the same round."
    )
    full_accounts: int = Field(
        30, ge=1, description="Rounders in a group at which the score reaches 1."
    )


def _visits(inputs: list[DetectorInput], st: Settings) -> dict[str, dict[int, list]]:
    """account -> local day -> [(time, app)] of the apps it opened without working in them
    that day (raw windows), for the account-days that opened min_apps apps or more."""
    # A round spans min_apps apps: with fewer apps that have events there is none (a
    # one-app dump's analyze would otherwise code every account of every window for it).
    if sum(1 for inp in inputs if len(inp.events)) < st.min_apps:
        return {}
    # the apps' windows a run at a time (stacked.py); one pseudonym, one code across apps
    names: dict[str, int] = {}
    parts, first = [], 0
    for run in runs(inputs):
        parts.append(_openings(run, first, names))
        first += len(run)
    acc, day, ts, app = (np.concatenate(c) for c in zip(*parts, strict=True))
    if not acc.size:
        return {}
    # account-days that opened enough distinct apps to hold a round
    ad_key = acc * (int(day.max()) + 1) + day
    distinct = unique_pairs(ad_key, app)[0][0]
    keys, n_apps = np.unique(distinct, return_counts=True)
    cand = np.isin(ad_key, keys[n_apps >= st.min_apps])
    by_name = list(names)
    out: dict[str, dict[int, list]] = defaultdict(lambda: defaultdict(list))
    for a, d, t, k in zip(acc[cand].tolist(), day[cand].tolist(), ts[cand].tolist(),
                          app[cand].tolist(), strict=True):
        out[by_name[a]][d].append((t, inputs[k].app.id))
    return out


def _openings(
    inputs: list[DetectorInput], first: int, names: dict[str, int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(account, local day, time, app) of the apps' openings on days their account did no
    work in that app: accounts coded by pseudonym in `names` (extended in the order of
    the apps, then of their codes), apps numbered from `first`."""
    stack = events_stack(inputs)
    types = events_column(inputs, "type")
    opening = np.flatnonzero(of_types(types, _OPENING))
    meaningful = np.flatnonzero(of_types(types, _MEANINGFUL))
    ts = events_column(inputs, "ts")
    # accounts in the stacked coding: an account-day of one app is never another's
    account = stack.account_starts[stack.owner] + events_column(inputs, "account")
    day = local_days(inputs, stack.owner, ts)
    lo = int(day.min()) if day.size else 0
    span = int(day.max()) - lo + 1 if day.size else 1
    key = account * span + (day - lo)  # (account, day)
    rows = opening[~_in(key[opening], key[meaningful], int(stack.account_starts[-1]) * span)]
    used, local = np.unique(account[rows], return_inverse=True)
    app_of = np.searchsorted(stack.account_starts, used, side="right") - 1
    code = np.array(
        [
            names.setdefault(inputs[k].events.accounts[c - start], len(names))
            for k, c, start in zip(
                app_of.tolist(), used.tolist(), stack.account_starts[app_of].tolist(), strict=True
            )
        ],
        dtype=np.int64,
    )
    return code[local.reshape(-1)], day[rows], ts[rows], stack.owner[rows].astype(np.int64) + first


def _in(keys: np.ndarray, among: np.ndarray, n: int) -> np.ndarray:
    """`np.isin(keys, among)` of keys in [0, n): by a table of all n where it is not
    much larger than the keys (no sort), else by a search in the distinct `among`."""
    if n <= 4 * (keys.size + among.size) + (1 << 16):
        table = np.zeros(n, dtype=bool)
        table[among] = True
        return table[keys]
    return np.isin(keys, sorted_distinct(among))


def _best_round(visits: list[tuple[float, str]], round_s: float) -> tuple[set[str], float]:
    """The most apps one account opened within round_s on one day, and the seconds taken."""
    visits.sort()
    best: tuple[set[str], float] = (set(), 0.0)
    lo = 0
    for hi in range(len(visits)):
        while visits[hi][0] - visits[lo][0] > round_s:
            lo += 1
        apps = {a for _, a in visits[lo: hi + 1]}
        if len(apps) > len(best[0]):
            best = (apps, visits[hi][0] - visits[lo][0])
    return best


def _rounds(
    inputs: list[DetectorInput], st: Settings
) -> dict[str, list[tuple[int, frozenset[str], float]]]:
    """rounder -> its rounds (day, apps, seconds)."""
    out: dict[str, list[tuple[int, frozenset[str], float]]] = {}
    for account, by_day in _visits(inputs, st).items():
        rounds = []
        for d, day_visits in sorted(by_day.items()):
            apps, span = _best_round(day_visits, st.round_s)
            if len(apps) >= st.min_apps:
                rounds.append((d, frozenset(apps), span))
        if len({d for d, _, _ in rounds}) >= st.min_days:
            out[account] = rounds
    return out


def detect_fleet(
    inputs: list[DetectorInput], settings_for: Callable[[str], Settings]
) -> list[Finding]:
    """One cross-app finding per group of apps opened in the same daily rounds."""
    if not inputs:
        return []
    # A round spans apps, so its settings are fleet-wide: the daemon's `detectors:
    # ritual_rounds:` section (no registered app is named "", so no app's overrides apply)
    st = settings_for("")
    rounds = _rounds(inputs, st)
    pair_rounders: dict[tuple[str, str], set[str]] = defaultdict(set)
    for account, rs in rounds.items():
        for _, apps, _ in rs:
            for a, b in combinations(sorted(apps), 2):
                pair_rounders[(a, b)].add(account)
    by_id = {inp.app.id: inp for inp in inputs}
    findings = []
    shared = (pair for pair, who in pair_rounders.items() if len(who) >= st.min_accounts)
    for group in (g for g in connected_groups(shared) if len(g) >= st.min_apps):
        members = set(group)
        mine = {
            acc: [r for r in rs if len(r[1] & members) >= st.min_apps]
            for acc, rs in rounds.items()
        }
        mine = {acc: rs for acc, rs in mine.items() if len({d for d, _, _ in rs}) >= st.min_days}
        if len(mine) >= st.min_accounts:
            findings.append(_finding(group, mine, by_id, st))
    return findings


def _finding(
    group: list[str],
    rounders: dict[str, list[tuple[int, frozenset[str], float]]],
    inputs: dict[str, DetectorInput],
    st: Settings,
) -> Finding:
    per_app = Counter(a for rs in rounders.values() for a in {x for r in rs for x in r[1]})
    app = max(group, key=lambda a: (per_app[a], -group.index(a)))
    members = set(group)
    spans = [span for rs in rounders.values() for _, _, span in rs]
    sizes = Counter(len(apps & members) for rs in rounders.values() for _, apps, _ in rs)
    days = sorted({d for rs in rounders.values() for d, _, _ in rs})
    n_rounds = sum(len(rs) for rs in rounders.values())
    now = max(inputs[a].now for a in group)
    week = iso_week(local_day_of(now, inputs[app].app.timezone))
    accounts = sorted(rounders)
    score = round(exceedance_score(len(accounts), st.min_accounts, st.full_accounts), 3)
    names = ", ".join(group[:-1]) + f" and {group[-1]}"
    return Finding(
        id=finding_id(KIND, *group, week),
        kind=KIND,
        app=app,
        apps=[app, *(a for a in group if a != app)],
        severity=severity_for(score),
        score=score,
        window_start=float(min(inputs[a].events.ts[0] for a in group if len(inputs[a].events))),
        window_end=now,
        summary=f"{len(accounts)} accounts opened {names} one after another within "
        f"{st.round_s / 60:g} minutes (median {np.median(spans) / 60:.1f} min), on "
        f"{len(days)} days: a daily round of clicks so the numbers look good, not reading",
        reasons=[
            Reason(
                code="accounts_in_rounds",
                text=f"Accounts that opened {st.min_apps}+ of these apps within "
                f"{st.round_s:g} s on {st.min_days}+ days.",
                value=float(len(accounts)),
                threshold=float(st.min_accounts),
                rule=RULE,
            ),
            Reason(
                code="apps_in_round",
                text="Apps the same accounts open in one sitting, day after day.",
                value=float(len(group)),
                threshold=float(st.min_apps),
                rule=RULE,
            ),
        ],
        evidence={
            "apps": group,
            "week": week,
            "rounds": n_rounds,
            "days": len(days),
            "rounders_per_app": {a: per_app[a] for a in group},
            "apps_per_round": {str(k): v for k, v in sorted(sizes.items())},
            "round_minutes_median": round(float(np.median(spans)) / 60, 2),
            "accounts": accounts[:EVIDENCE_LIMIT],
            "accounts_total": len(accounts),
            "example_rounds": [
                {
                    "account": acc,
                    "date": day_to_date(d).isoformat(),
                    "apps": sorted(apps & members),
                    "minutes": round(span / 60, 2),
                }
                for d, acc, apps, span in sorted(
                    (d, acc, apps, span) for acc, rs in rounders.items() for d, apps, span in rs
                )[:_EXAMPLES]
            ],
        },
        confidence=min(1.0, len(days) / 5),
    )
