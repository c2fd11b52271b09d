"""What an operator may change in the generated mixin: base URLs and alert durations."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w|y)$")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def duration_seconds(value: str) -> float:
    """Seconds in a single-unit Prometheus duration such as `15m` or `1d`."""
    m = _DURATION.match(value)
    if m is None:
        raise ValueError(f"not a single-unit Prometheus duration: {value!r}")
    return int(m.group(1)) * _SECONDS[m.group(2)]


@dataclass(frozen=True, slots=True)
class MixinConfig:
    """Parameters baked into the generated rules, dashboards and Alertmanager example.

    The committed files use the defaults; `generate.py --out DIR --set key=value` renders a
    deployment's own copy without touching them.
    """

    #: where the daemon's findings pages are served (alerts link to `/findings?app=..`)
    tapwatch_url: str = "http://localhost:9817"
    #: Grafana base URL for `dashboard_url` annotations
    grafana_url: str = "http://localhost:3000"
    #: runbook page; each alert links to `{runbook_url}#{alert name in lower case}`
    runbook_url: str = "https://github.com/tapwatch/tapwatch/blob/main/monitoring/runbook.md"
    #: label selector Prometheus's scrape job gives the daemon (used with `up` and absent())
    job_selector: str = 'job="tapwatch"'
    #: how long an app must stay in the `candidate` band before its owner is told. The
    #: alert reads the band over this window (min_over_time), so a missed scrape or a
    #: restart does not start the day again
    candidate_for: str = "1d"
    review_for: str = "1d"
    #: the longest gap in tapwatch's series (failed scrapes, restarts) the assessment
    #: alerts ride out while firing; after a longer one they resolve until data returns,
    #: and then fire again after `assessment_for`, not after another `candidate_for`
    gap_tolerance: str = "1h"
    #: the assessment alerts' own `for:`, a short debounce on top of the held band
    assessment_for: str = "10m"
    #: how long a forced-usage finding must stay open before it alerts
    finding_for: str = "15m"
    banned_feature_for: str = "30m"
    scrape_failing_for: str = "15m"
    stale_for: str = "10m"
    down_for: str = "5m"
    reload_failed_for: str = "10m"
    shard_missing_for: str = "10m"
    #: how long the store may refuse writes before TapwatchStoreUnwritable fires (a lock
    #: held for a moment, or a probe away from recovery, stays quiet)
    store_unwritable_for: str = "2m"
    #: a detector failing in every pass for this long alerts (TapwatchDetectorFailing)
    detector_failing_for: str = "30m"
    #: TapwatchDedupMemoryTooSmall: the share of checked events looked up on disk
    #: over the window (1 %: filters at about 1.3× their capacity, where the lookups add
    #: about half to ingest's CPU; the runbook gives the figures), for this long, once
    #: the window holds more than this many ingested events
    dedup_lookup_ratio: float = 0.01
    dedup_lookup_window: str = "1h"
    dedup_lookup_for: str = "30m"
    dedup_min_events: int = 10000
    fleet_jump_for: str = "10m"
    #: the fleet's candidate count now is compared with its lowest value over this window;
    #: longer than `candidate_for`, so the jump alert still fires (and inhibits the per-app
    #: candidate alerts) when those alerts' hold time runs out
    fleet_jump_lookback: str = "2d"
    fleet_jump_min_apps: int = 5
    fleet_jump_ratio: float = 0.2
    #: window of the error counts quoted in TapwatchAppScrapeFailing's description
    error_window: str = "1h"

    def __post_init__(self) -> None:
        for name in (
            "candidate_for", "review_for", "gap_tolerance", "assessment_for", "finding_for",
            "banned_feature_for",
            "scrape_failing_for", "stale_for", "down_for", "reload_failed_for",
            "shard_missing_for", "store_unwritable_for", "detector_failing_for",
            "dedup_lookup_window", "dedup_lookup_for", "fleet_jump_for",
            "fleet_jump_lookback", "error_window",
        ):
            duration_seconds(getattr(self, name))
        if duration_seconds(self.fleet_jump_lookback) <= duration_seconds(self.candidate_for):
            raise ValueError(
                "fleet_jump_lookback must be longer than candidate_for, or per-app candidate "
                "alerts would notify the moment a fleet-wide jump leaves the lookback window"
            )
        for name in ("candidate_for", "review_for"):
            if duration_seconds(self.gap_tolerance) >= duration_seconds(getattr(self, name)):
                raise ValueError(f"gap_tolerance must be shorter than {name}")
        for name in ("tapwatch_url", "grafana_url", "runbook_url"):
            if getattr(self, name).endswith("/"):
                raise ValueError(f"{name} must not end with '/'")

    def with_overrides(self, pairs: dict[str, str]) -> MixinConfig:
        """A copy with `key=value` strings (from the command line) applied and type-checked."""
        fields = {f: type(getattr(self, f)) for f in self.__dataclass_fields__}
        changes: dict[str, object] = {}
        for key, raw in pairs.items():
            if key not in fields:
                raise ValueError(f"unknown setting {key!r}; known: {', '.join(sorted(fields))}")
            changes[key] = fields[key](raw)
        return replace(self, **changes)


DEFAULT = MixinConfig()

#: short durations for the end-to-end test, which cannot wait a day for an alert
E2E = MixinConfig(
    candidate_for="10s",
    review_for="10s",
    gap_tolerance="3s",
    assessment_for="0s",
    finding_for="0s",
    banned_feature_for="0s",
    scrape_failing_for="10s",
    stale_for="0s",
    down_for="10s",
    reload_failed_for="0s",
    shard_missing_for="10s",
    store_unwritable_for="10s",
    detector_failing_for="0s",
    dedup_lookup_window="1m",
    dedup_lookup_for="0s",
    fleet_jump_for="0s",
    fleet_jump_lookback="2m",
    error_window="5m",
)
