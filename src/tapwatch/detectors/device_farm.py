"""Device farm: many accounts used on one device on the same day.

When an app counts daily logins or check-ins per account, the cheapest answer is one phone
that logs in as everybody in turn. A phone is a personal object: a handful of accounts on
one device in a day (a shared office handset, a family phone) happens, a dozen does not.
Devices declared as shared kiosks are listed in `shared_devices_allowed` and skipped.

Per local day (the app's time zone) we count distinct accounts per device pseudonym and
report each device with at least `min_accounts` accounts on at least one day, as one
finding listing every such day. Counting is a bincount over (day, device) pairs followed by
a unique over (day, device, account) keys of the busy pairs only.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tapwatch.detectors.base import DetectorInput, Finding, Reason, finding_id
from tapwatch.detectors.stats import (
    EVIDENCE_LIMIT,
    bounded_accounts,
    bounded_event_ids,
    data_confidence,
    day_to_date,
    exceedance_score,
    local_day_and_second,
)

KIND = "device_farm"
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

    # Device-days with fewer events than the threshold cannot have enough accounts.
    dd = dday * n_dev + dev
    busy_pairs = np.bincount(dd) >= settings.min_accounts
    busy = busy_pairs[dd]
    if not busy.any():
        return []
    rows, dday, dev, acc, dd = rows[busy], dday[busy], dev[busy], acc[busy], dd[busy]
    uniq = np.unique(dd * n_acc + acc)
    pair = uniq // n_acc
    pairs, counts = np.unique(pair, return_counts=True)
    flagged = pairs[counts >= settings.min_accounts]
    if flagged.size == 0:
        return []
    flag_counts = counts[counts >= settings.min_accounts]

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
        score = exceedance_score(peak, settings.min_accounts, settings.full_accounts)
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
                    f"(threshold {settings.min_accounts}) on {len(days)} day"
                    f"{'s' if len(days) > 1 else ''}: one phone logging in as many people."
                ),
                reasons=[
                    Reason(
                        code="accounts_per_device_day",
                        text=f"{peak} distinct accounts on one device in one local day",
                        value=float(peak),
                        threshold=float(settings.min_accounts),
                        rule=RULE,
                    ),
                    Reason(
                        code="days_over_threshold",
                        text=f"{len(days)} days with {settings.min_accounts}+ accounts",
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
                },
                confidence=data_confidence((len(days), 2), (peak, settings.min_accounts)),
            )
        )
    findings.sort(key=lambda f: (f.window_start, f.id))
    return findings
