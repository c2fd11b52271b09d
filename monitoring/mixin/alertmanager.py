"""Alertmanager example: route by the app's `owner`, the consolidation office sees all."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: owning units of the demo fleet (registry `owner` values); a deployment lists its own
EXAMPLE_OWNERS = (
    "District Agriculture and Rural Affairs Bureau",
    "District Civil Affairs Bureau",
    "District Culture and Tourism Bureau",
    "District Emergency Management Bureau",
    "District Government Office",
    "District Grid Management Centre",
    "District Market Supervision Bureau",
    "District Party Committee Organisation Dept",
    "District Party Committee Propaganda Dept",
    "District Party School",
    "District Party and Government Office",
    "District Propaganda Dept",
    "District Taxation Bureau",
    "Qingshan Township Government",
)


def owner_slug(owner: str) -> str:
    """Receiver and URL form of an owner: `District Party School` -> `district-party-school`."""
    return re.sub(r"[^a-z0-9]+", "-", owner.lower()).strip("-")


@dataclass(frozen=True, slots=True)
class Timing:
    """Alertmanager's grouping delays."""

    group_wait: str = "30s"
    group_interval: str = "5m"
    repeat_interval: str = "24h"


EXAMPLE_TIMING = Timing()
E2E_TIMING = Timing(group_wait="1s", group_interval="1s", repeat_interval="1h")


def alertmanager_config(
    webhook_base: str = "http://localhost:5001/tapwatch",
    owners: tuple[str, ...] = EXAMPLE_OWNERS,
    timing: Timing = EXAMPLE_TIMING,
) -> dict[str, Any]:
    """An Alertmanager configuration whose receivers are webhooks under `webhook_base`.

    Each owner gets receiver `owner-{slug}` posting to `{webhook_base}/owner/{slug}`
    (see `owner_slug`), the consolidation office
    `{webhook_base}/consolidation-office`, tapwatch's operators `{webhook_base}/ops`.
    Swap the webhooks for email or chat receivers in a real deployment.
    """
    def receiver(name: str, path: str) -> dict[str, Any]:
        return {
            "name": name,
            "webhook_configs": [{"url": f"{webhook_base}/{path}", "send_resolved": True}],
        }

    routes: list[dict[str, Any]] = [
        # tapwatch's own health goes to whoever runs it, not to app owners
        {"receiver": "tapwatch-ops", "matchers": ['component="collector"']},
        # a fleet-wide candidate jump is a telemetry fault: operators look first
        {
            "receiver": "tapwatch-ops",
            "matchers": ['alertname="TapwatchFleetCandidateJump"'],
            "continue": True,
        },
    ]
    routes += [
        {
            "receiver": f"owner-{owner_slug(owner)}",
            "matchers": [f'owner="{owner}"'],
            "continue": True,
        }
        for owner in owners
    ]
    # the consolidation office gets every app-level alert too (and those of unknown owners)
    routes.append({"receiver": "consolidation-office"})
    return {
        "route": {
            "receiver": "consolidation-office",
            "group_by": ["alertname", "app"],
            "group_wait": timing.group_wait,
            "group_interval": timing.group_interval,
            "repeat_interval": timing.repeat_interval,
            "routes": routes,
        },
        "inhibit_rules": [
            {
                # fifty apps do not die at once: hold per-app candidate notices
                "source_matchers": ['alertname="TapwatchFleetCandidateJump"'],
                "target_matchers": ['alertname="TapwatchAppShutdownCandidate"'],
            },
            {
                # with tapwatch down, its app-level alerts say nothing new
                "source_matchers": ['alertname="TapwatchDown"'],
                "target_matchers": ['app=~".+"'],
                "equal": ["instance"],
            },
            {
                # while its store takes no writes, an instance's app-level alerts (stale
                # data above all) have one cause, and that alert names it
                "source_matchers": ['alertname="TapwatchStoreUnwritable"'],
                "target_matchers": ['app=~".+"'],
                "equal": ["instance"],
            },
            {
                # judgements on stale data wait until polling recovers
                "source_matchers": ['alertname="TapwatchAppDataStale"'],
                "target_matchers": ['component=~"assessment|forced_usage|compliance"'],
                "equal": ["app"],
            },
        ],
        "receivers": [
            receiver("consolidation-office", "consolidation-office"),
            receiver("tapwatch-ops", "ops"),
            *(receiver(f"owner-{owner_slug(o)}", f"owner/{owner_slug(o)}") for o in owners),
        ],
    }
