"""Device farm: many accounts used on one device on the same day.

When an app counts daily logins or check-ins per account, the cheapest answer is one phone
that logs in as everybody in turn. A phone is a personal object: a handful of accounts on
one device in a day (a shared office handset, a family phone) happens, a dozen does not.
Devices declared as shared kiosks are listed in `shared_devices_allowed` and skipped.

Per local day (the app's time zone) we count distinct accounts per device pseudonym and
report each device with at least the threshold of accounts on at least one day, as one
finding listing every such day.

The threshold is `min_accounts`, raised in a large app until sharing by chance cannot
explain it. Phones are shared by families and offices at some base rate q, measured in
the app itself: the share of its device-days with 2 or more accounts (but fewer than
`min_accounts`, so farms do not raise their own bar), shrunk towards `prior_shared_share`
as if it had been seen on 100 more device-days (a small app's few days say little). Under
a geometric null model each
further account on a shared phone is as likely as the first, P(>= k accounts) = q^(k-1),
heavier-tailed than Poisson. With N device-days in the window, N q^(k-1) device-days with
k or more accounts are expected by chance; the threshold is the smallest k >=
`min_accounts` at which that expectation is at most `max_expected_by_chance`. Each finding
gives the base rate, the threshold, and what chance would give at its own peak.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stacked import events_column, events_stack
from tapwatch.detectors.stats import (
    EVIDENCE_LIMIT,
    bounded_accounts,
    bounded_event_ids,
    data_confidence,
    day_to_date,
    exceedance_score,
    local_day_and_second,
    sorted_distinct,
)

KIND = "device_farm"
_PRIOR_DEVICE_DAYS = 100  # weight of the prior base rate, in device-days
RULE = "2026 management measures: no mandatory periodic logins or check-in"


class Settings(BaseModel):
    """Settings of the device-farm detector (defaults are the config defaults)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_accounts: int = Field(
        default=5,
        ge=2,
        description="Distinct accounts on one device in one local day at which it is reported.",
    )
    full_accounts: int = Field(
        default=15,
        ge=2,
        description="Accounts per device-day at which the score reaches 1.",
    )
    max_expected_by_chance: float = Field(
        default=0.05,
        gt=0.0,
        description="Device-days at or above the threshold that chance sharing (the app's "
        "own base rate, geometric null model) may be expected to give; the threshold rises "
        "above min_accounts until the expectation is this small.",
    )
    prior_shared_share: float = Field(
        default=0.02,
        gt=0.0,
        lt=1.0,
        description="Share of device-days with 2+ accounts assumed before the app's own "
        "data (weighs as 100 device-days): family and office phones.",
    )
    critical_days: int = Field(
        default=3,
        ge=1,
        description="Days over the threshold at which a finding is critical whatever its score.",
    )
    shared_devices_allowed: tuple[str, ...] = Field(
        default=(),
        description="Device pseudonyms of declared shared kiosks or office handsets, skipped.",
    )


def detect(inp: DetectorInput, settings: Settings) -> list[Finding]:
    """Device-farm findings for one app (see the module docstring)."""
    win = inp.events
    if len(win) == 0:
        return []
    rows = np.flatnonzero(win.device >= 0)
    if settings.shared_devices_allowed and rows.size:
        kiosks = set(settings.shared_devices_allowed)
        allowed = [i for i, s in enumerate(win.strings) if s in kiosks]
        if allowed:
            rows = rows[~np.isin(win.device[rows], np.array(allowed, dtype=win.device.dtype))]
    if rows.size == 0:
        return []
    day, _ = local_day_and_second(win.ts[rows], inp.app.timezone)
    dev = win.device[rows].astype(np.int64)
    acc = win.account[rows].astype(np.int64)
    d0 = int(day.min())
    dday = day - d0
    n_dev = int(dev.max()) + 1
    n_acc = max(len(win.accounts), int(acc.max()) + 1)

    # Distinct accounts per (day, device): one unique over (device-day, account) keys.
    dd = dday * n_dev + dev
    keys = sorted_distinct(dd * n_acc + acc)
    pairs, counts = np.unique(keys // n_acc, return_counts=True)
    baseline = chance_baseline(counts, settings)
    over = counts >= baseline["threshold"]
    if not over.any():
        return []
    flagged, flag_counts = pairs[over], counts[over]

    findings = []
    flagged_dev = flagged % n_dev
    for d in np.unique(flagged_dev).tolist():
        mine = flagged_dev == d
        dev_pairs = flagged[mine]
        per_day = flag_counts[mine]
        sel = np.isin(dd, dev_pairs)
        f_rows = rows[sel]  # window rows in time order
        days = [day_to_date(int(p // n_dev) + d0).isoformat() for p in dev_pairs.tolist()]
        peak = int(per_day.max())
        device = win.strings[d]
        threshold = baseline["threshold"]
        score = exceedance_score(peak, threshold, max(settings.full_accounts, threshold + 1))
        severity = "critical" if score >= 0.75 or len(days) >= settings.critical_days else "warning"
        acc_info = bounded_accounts(win.accounts, win.account[f_rows])
        findings.append(
            Finding(
                id=finding_id(KIND, win.app, device, days[0]),
                kind=KIND,
                app=win.app,
                severity=severity,
                score=round(score, 3),
                window_start=float(win.ts[f_rows[0]]),
                window_end=float(win.ts[f_rows[-1]]),
                summary=(
                    f"Device {device} was used by {peak} accounts in one day "
                    f"(threshold {threshold}) on {len(days)} day"
                    f"{'s' if len(days) > 1 else ''}: one phone logging in as many people; "
                    f"chance sharing would give {expected(baseline, peak):.2g} such "
                    "device-days."
                ),
                reasons=[
                    Reason(
                        code="accounts_per_device_day",
                        text=f"{peak} distinct accounts on one device in one local day",
                        value=float(peak),
                        threshold=float(threshold),
                        rule=RULE,
                    ),
                    Reason(
                        code="days_over_threshold",
                        text=f"{len(days)} days with {threshold}+ accounts",
                        value=float(len(days)),
                        threshold=1.0,
                        rule=RULE,
                    ),
                ],
                evidence={
                    **bounded_event_ids(win, f_rows),
                    **acc_info,
                    "device": device,
                    "devices": [device],
                    "days": days,
                    "accounts_per_day": dict(zip(days, per_day.astype(int).tolist(), strict=True)),
                    "evidence_limit": EVIDENCE_LIMIT,
                    "chance_baseline": {
                        **baseline,
                        "expected_at_peak": round(expected(baseline, peak), 6),
                    },
                },
                confidence=data_confidence((len(days), 2), (peak, threshold)),
            )
        )
    findings.sort(key=lambda f: (f.window_start, f.id))
    return findings


def detect_batch(inputs: Sequence[DetectorInput], settings: Settings) -> list[Finding]:
    """`detect` of each app with a device that `min_accounts` accounts used over the whole
    raw window (found for every app at once): the threshold is never below
    `min_accounts`, and a device-day's accounts are some of its device's, so no other app
    can have a finding."""
    stack = events_stack(inputs)
    device = events_column(inputs, "device")
    rows = np.flatnonzero(device >= 0)
    owner = stack.owner[rows]
    # (device, account) in the stacked codings: one app's are never another's
    n_acc = max(int(stack.account_starts[-1]), 1)
    if int(stack.string_starts[-1]) * n_acc >= 2**62:  # the key would overflow int64
        return [f for inp in inputs for f in detect(inp, settings)]
    pairs = sorted_distinct(
        (stack.string_starts[owner] + device[rows]) * n_acc
        + (stack.account_starts[owner] + events_column(inputs, "account")[rows])
    )
    device_of, n_accounts = np.unique(pairs // n_acc, return_counts=True)
    busy = device_of[n_accounts >= settings.min_accounts]
    apps = np.unique(np.searchsorted(stack.string_starts, busy, side="right") - 1)
    return [f for k in apps.tolist() for f in detect(inputs[k], settings)]


def chance_baseline(accounts_per_device_day: np.ndarray, settings: Settings) -> dict:
    """The app's base rate of shared devices and the threshold it sets (module docstring)."""
    n = int(accounts_per_device_day.size)
    c = accounts_per_device_day
    shared = int(((c >= 2) & (c < settings.min_accounts)).sum())
    q = (shared + _PRIOR_DEVICE_DAYS * settings.prior_shared_share) / (n + _PRIOR_DEVICE_DAYS)
    k = settings.min_accounts
    if n * q ** (k - 1) > settings.max_expected_by_chance:
        k = 1 + math.ceil(math.log(settings.max_expected_by_chance / n) / math.log(q))
    return {
        "device_days": n,
        "shared_device_days": shared,
        "shared_share": round(q, 6),
        "threshold": int(k),
        "expected_at_threshold": round(n * q ** (k - 1), 6),
    }


def expected(baseline: dict, accounts: int) -> float:
    """Device-days with `accounts` or more expected by chance under the baseline."""
    return float(baseline["device_days"] * baseline["shared_share"] ** (accounts - 1))
