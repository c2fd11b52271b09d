"""Alerts end to end: simulated fleet -> daemon -> Prometheus -> Alertmanager -> webhook.

The planted empty shell and bulk check-in rings must reach their owners' and the
consolidation office's webhooks with the app's labels, real numbers and working links;
healthy apps must stay silent; and a ring planted while the fleet runs must be notified
within the time the intervals on its path allow.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from monitoring.mixin.alertmanager import E2E_TIMING, owner_slug
from monitoring.mixin.alerts import FORCED_USAGE_KINDS, alert_groups
from monitoring.mixin.config import duration_seconds
from monitoring.mixin.recording import recording_groups

from tests.e2e.conftest import DETECT_S, POLL_S, SCRAPE_S, Stack
from tests.e2e.helpers import http_get, http_post_json, wait_until

pytestmark = pytest.mark.e2e

#: apps whose ground truth plants nothing of the kinds they list as expected silent
HEALTHY_APPS = ("daily-work", "specialist-lab", "seasonal-tax", "meeting-hall")
#: the app a bulk check-in ring is planted in while the fleet runs: it has a declared
#: check-in point and no ring of its own, so its TapwatchBulkCheckin is a new alert group
LIVE_RING_APP = "township-appointments"
CANDIDATE = "TapwatchAppShutdownCandidate"
BULK = "TapwatchBulkCheckin"
#: alert name raised for each ground-truth kind
ALERT_OF_KIND = {k.kind: k.alert for k in FORCED_USAGE_KINDS} | {
    "banned_feature": "TapwatchBannedFeature",
    "consolidation": "TapwatchConsolidation",
}
#: the daemon re-renders /metrics at most once a second after a cycle
RENDER_THROTTLE_S = 1.0
#: Prometheus -> Alertmanager -> webhook, beyond group_wait
DELIVERY_S = 0.5
#: how long the latency test waits at most (the budget decides pass or fail)
LATENCY_WAIT_S = 60.0
#: alert raised for each expected band
ALERT_OF_BAND = {"candidate": CANDIDATE, "review": "TapwatchAppNeedsReview"}
#: components of the alerts raised by detector findings (not tapwatch's own health)
FINDING_COMPONENTS = "assessment|forced_usage|compliance"
#: the daemon's raw window (its default): older discrete plants cannot be seen any more
RAW_WINDOW_S = 7 * 86400.0
#: how long the ground-truth comparison waits for the alerts to settle
SETTLE_S = 60.0
#: a warning or error line in Prometheus's or Alertmanager's log (any case: 3.x logs WARN)
WARNING = re.compile(r"level=(warn|error)", re.IGNORECASE)
#: the first alerts need catch-up (about 10 s), the candidate's 10 s `for:` and slack
FIRST_ALERT_TIMEOUT_S = 90.0


def _humanize(v: float) -> str:
    """Prometheus's template `humanize` (SI prefixes, 4 significant digits)."""
    for prefix in ("", "k", "M", "G", "T"):
        if abs(v) < 1000:
            return f"{v:.4g}{prefix}"
        v /= 1000
    return f"{v:.4g}P"


def _one_alert(stack: Stack, alertname: str, app: str) -> dict[str, Any]:
    note = stack.webhook.wait_firing(alertname, app, timeout=FIRST_ALERT_TIMEOUT_S)
    return note.firing(alertname, app)[0]


def _receivers(stack: Stack, alertname: str, app: str) -> set[str]:
    return {n.path for n in stack.webhook.notifications() if n.firing(alertname, app)}


def _check_identity(stack: Stack, alert: dict[str, Any], app: str) -> None:
    spec = stack.sim.fleet.by_id[app]
    labels = alert["labels"]
    assert labels["app"] == app
    assert labels["owner"] == spec.owner
    assert labels["name"] == spec.name
    assert labels["region"] == spec.region
    assert labels["severity"] == "warning"
    # every `query` in the description found its series (a misnamed metric reads "unknown")
    assert "unknown" not in alert["annotations"]["description"], alert["annotations"]


def _check_links(stack: Stack, alert: dict[str, Any], app: str, kind: str) -> None:
    ann = alert["annotations"]
    cfg = stack.mixin
    assert ann["runbook_url"] == f"{cfg.runbook_url}#{alert['labels']['alertname'].lower()}"
    dashboard = f"{cfg.grafana_url}/d/tapwatch-app/tapwatch-app-detail?var-app={app}"
    assert ann["dashboard_url"] == dashboard
    assert ann["findings_url"] == f"{stack.daemon_url}/findings?app={app}&kind={kind}"
    # the link opens the daemon's findings page (a filter it does not know is a 400), and
    # the same filters in the findings API select exactly the alert's app and kind
    status, page = http_get(ann["findings_url"], auth=stack.viewer)
    assert status == 200, (status, page[:300])
    query = ann["findings_url"].partition("?")[2]
    status, body = http_get(f"{stack.daemon_url}/api/v1/findings?{query}", auth=stack.viewer)
    assert status == 200, body[:300]
    found = json.loads(body)["findings"]
    assert found and {(f["app"], f["kind"]) for f in found} == {(app, kind)}


def test_prometheus_evaluates_every_rule_and_scrapes_cleanly(steady_stack: Stack) -> None:
    stack = steady_stack
    stack.webhook.wait_firing(CANDIDATE, "empty-shell", timeout=FIRST_ALERT_TIMEOUT_S)
    groups = stack.prom.get("/api/v1/rules")["groups"]
    loaded = {r["name"]: r for g in groups for r in g["rules"]}
    generated = [
        r.get("alert") or r["record"]
        for g in recording_groups() + alert_groups(stack.mixin)
        for r in g["rules"]
    ]
    assert sorted(loaded) == sorted(generated)
    assert {n: r["lastError"] for n, r in loaded.items() if r["health"] != "ok"} == {}
    targets = stack.prom.get("/api/v1/targets")["activeTargets"]
    assert [(t["labels"]["job"], t["health"], t["lastError"]) for t in targets] == [
        ("tapwatch", "up", "")
    ]
    # an annotation template that fails to expand, a sample Prometheus refuses or a webhook
    # Alertmanager cannot reach is only logged, as a warning or error
    for proc in (stack.prometheus, stack.alertmanager):
        lines = proc.log_path.read_text(errors="replace").splitlines()
        assert [x for x in lines if WARNING.search(x)] == [], proc.name
    # tapwatch's own health alerts never fired (an inhibiting TapwatchAppDataStale included);
    # TapwatchDown and TapwatchShardMissing are pending until the first scrape
    window = f"[{stack.seconds_running()}s]"
    fired = stack.prom.query(
        f'count by (alertname, app) (count_over_time(ALERTS{{component="collector", '
        f'alertstate="firing"}}{window}))'
    )
    assert fired == [], fired
    worst_age = stack.prom.value(
        "max(max_over_time((timestamp(tapwatch_app_last_success_timestamp_seconds)"
        f" - tapwatch_app_last_success_timestamp_seconds){window[:-1]}:{SCRAPE_S:g}s]))"
    )
    assert worst_age is not None
    print(f"\noldest app data seen at a scrape: {worst_age:.1f}s (stale after {3 * POLL_S:g}s)")


def test_empty_shell_candidate_reaches_its_owner_and_the_office(steady_stack: Stack) -> None:
    stack = steady_stack
    truth = stack.ground_truth()["apps"]
    candidates = [app for app, t in truth.items() if t["expected_band"] == "candidate"]
    assert candidates == ["empty-shell", "party-official-account"]
    alert = _one_alert(stack, CANDIDATE, "empty-shell")
    _check_identity(stack, alert, "empty-shell")
    assert alert["labels"]["component"] == "assessment"
    _check_links(stack, alert, "empty-shell", "shutdown_candidate")

    desc = alert["annotations"]["description"]
    spec = stack.sim.fleet.by_id["empty-shell"]
    score = re.search(r"shutdown score (\d+)/100", desc)
    assert score is not None, desc
    now_score = stack.prom.value('tapwatch_app_shutdown_score{app="empty-shell"}')
    assert now_score is not None and abs(int(score.group(1)) - now_score) <= 1
    assert int(score.group(1)) >= 70  # the candidate band
    organic = stack.prom.value(
        'tapwatch_app_organic_active_accounts{app="empty-shell", window="30d"}'
    )
    assert organic is not None
    assert (
        f"Organic active accounts (30d): {_humanize(organic)} of "
        f"{_humanize(spec.intended_users)} intended users; "
        f"annual cost {_humanize(spec.annual_cost_cny)} CNY" in desc
    ), desc
    signals = re.search(r"Largest signals: (.+?)\. ", desc)
    assert signals is not None, desc
    quoted = dict(s.rsplit(" ", 1) for s in signals.group(1).split(", "))
    scored = {
        s["metric"]["signal"]: float(s["value"][1])
        for s in stack.prom.query('tapwatch_app_shutdown_signal{app="empty-shell"} > 0')
    }
    assert quoted and set(quoted) <= set(scored)
    assert all(abs(float(v) - scored[k]) <= 0.5 for k, v in quoted.items())

    want = {f"/tapwatch/owner/{owner_slug(spec.owner)}", "/tapwatch/consolidation-office"}
    wait_until(
        lambda: want <= _receivers(stack, CANDIDATE, "empty-shell"),
        10,
        "the candidate alert at both the owner's and the consolidation office's webhook",
    )


def test_planted_bulk_checkin_ring_alerts(steady_stack: Stack) -> None:
    stack = steady_stack
    truth = stack.ground_truth()["apps"]
    ring_apps = sorted(
        app
        for app, t in truth.items()
        if any(p["kind"] == "bulk_checkin" and not p.get("live") for p in t["planted"])
    )
    assert ring_apps, "the ground truth plants no bulk check-in ring"
    for app in ring_apps:
        alert = _one_alert(stack, BULK, app)
        _check_identity(stack, alert, app)
        assert alert["labels"]["component"] == "forced_usage"
        _check_links(stack, alert, app, "bulk_checkin")
        desc = alert["annotations"]["description"]
        count = re.match(r"(\d+) open bulk_checkin finding\(s\) for ", desc)
        assert count is not None, desc
        open_now = stack.prom.value(f'tapwatch_findings_open{{app="{app}", kind="bulk_checkin"}}')
        assert int(count.group(1)) == open_now >= 1
        share = re.search(r"Forced share of activity: ([\d.]+)%", desc)
        assert share is not None and 0 < float(share.group(1)) <= 100, desc
        assert re.search(r"active accounts \(7d\): [\d.]+k? organic of [\d.]+k? reported", desc)


def test_healthy_apps_raise_no_forced_usage_or_candidate_alerts(steady_stack: Stack) -> None:
    stack = steady_stack
    # by the time the candidate (for: 10s) fires, forced-usage alerts (for: 0s) would have
    stack.webhook.wait_firing(CANDIDATE, "empty-shell", timeout=FIRST_ALERT_TIMEOUT_S)
    truth = stack.ground_truth()["apps"]
    forbidden: dict[str, set[str]] = {}
    for app in HEALTHY_APPS:
        t = truth[app]
        assert t["expected_band"] == "keep", (app, t["expected_band"])
        names = {ALERT_OF_KIND[k] for k in t["healthy_kinds_expected_silent"]}
        forbidden[app] = names | {CANDIDATE, "TapwatchAppNeedsReview"}
        assert BULK in names
    # pending or firing at any moment of the run, as Prometheus recorded it
    seen = stack.prom.query(
        f'count by (app, alertname) (count_over_time(ALERTS{{app=~"{"|".join(HEALTHY_APPS)}"}}'
        f"[{stack.seconds_running()}s]))"
    )
    raised = {(s["metric"]["app"], s["metric"]["alertname"]) for s in seen}
    assert not {(app, name) for app, name in raised if name in forbidden[app]}, raised
    # the same query sees the planted app's alert, so an empty answer above means silence
    assert stack.prom.query(
        f'count_over_time(ALERTS{{app="empty-shell", alertname="{CANDIDATE}"}}'
        f"[{stack.seconds_running()}s])"
    )
    notified = {
        (a["labels"].get("app"), a["labels"]["alertname"])
        for n in stack.webhook.notifications()
        for a in n.payload["alerts"]
    }
    assert not {(app, name) for app, name in notified if name in forbidden.get(app, ())}


def test_fleet_jump_never_held_the_candidate_alert(steady_stack: Stack) -> None:
    """The inhibit rule TapwatchFleetCandidateJump -> TapwatchAppShutdownCandidate would hold
    the per-app notice if >= fleet_jump_min_apps apps became candidates at once; the e2e
    fleet has two candidates, so the jump alert must never have fired."""
    stack = steady_stack
    stack.webhook.wait_firing(CANDIDATE, "empty-shell", timeout=FIRST_ALERT_TIMEOUT_S)
    window = f"[{stack.seconds_running()}s]"
    most = stack.prom.value(
        f'max_over_time(band:tapwatch_app_assessment:sum{{band="candidate"}}{window})'
    )
    truth = stack.ground_truth()["apps"]
    assert most == sum(t["expected_band"] == "candidate" for t in truth.values()) == 2
    assert most < stack.mixin.fleet_jump_min_apps
    assert not stack.prom.query(
        f'count_over_time(ALERTS{{alertname="TapwatchFleetCandidateJump"}}{window})'
    )


def test_live_bulk_checkin_ring_is_notified_within_budget(steady_stack: Stack) -> None:
    stack = steady_stack
    app = LIVE_RING_APP
    # the fleet is steady: its first alerts are out, and this app has no ring alert
    stack.webhook.wait_firing(CANDIDATE, "empty-shell", timeout=FIRST_ALERT_TIMEOUT_S)
    planted = stack.ground_truth()["apps"][app]["planted"]
    assert not any(p["kind"] == "bulk_checkin" for p in planted)
    assert stack.webhook.first_firing(BULK, app) is None
    assert not stack.prom.query(f'ALERTS{{alertname="{BULK}", app="{app}"}}')

    t0 = time.monotonic()
    ring = http_post_json(
        f"{stack.sim_url}/admin/plant", {"app": app, "scenario": "bulk_checkin", "accounts": 12}
    )
    # where the time goes: the daemon's open finding, Prometheus's firing alert, the webhook
    stages: dict[str, float] = {}
    deadline = t0 + LATENCY_WAIT_S
    while "webhook" not in stages and time.monotonic() < deadline:
        now = time.monotonic()
        if "finding" not in stages and (stack.daemon.detect.open_by_kind or {}).get(
            (app, "bulk_checkin")
        ):
            stages["finding"] = now - t0
        if "prometheus" not in stages and stack.prom.query(
            f'ALERTS{{alertname="{BULK}", app="{app}", alertstate="firing"}}'
        ):
            stages["prometheus"] = now - t0
        note = stack.webhook.first_firing(BULK, app, after=t0)
        if note is not None:
            stages["webhook"] = note.received_at - t0
        time.sleep(0.05)
    assert "webhook" in stages, f"no {BULK} for {app} within {LATENCY_WAIT_S:.0f}s: {stages}"
    # The ring may land just after a detector pass read its inputs: that pass, the detect
    # interval and the next pass go by before the finding is open. The passes' length is
    # measured (the longest over this test), the rest are configured intervals.
    pass_s = stack.prom.value(
        f"max_over_time(tapwatch_detect_duration_seconds[{int(time.monotonic() - t0) + 5}s])"
    )
    assert pass_s is not None
    parts = {
        "poll (+jitter)": POLL_S * (1 + stack.daemon.config.daemon.collector.jitter),
        "detect interval": DETECT_S,
        "2 detector passes": 2 * pass_s,
        "/metrics render": RENDER_THROTTLE_S,
        "2 scrape intervals": 2 * SCRAPE_S,
        "for:": duration_seconds(stack.mixin.finding_for),
        "group_wait": duration_seconds(E2E_TIMING.group_wait),
        "delivery": DELIVERY_S,
    }
    budget = sum(parts.values())
    print(
        f"\nlive ring in {app}: "
        + ", ".join(f"{k} after {v:.2f}s" for k, v in stages.items())
        + f"; budget {budget:.1f}s = "
        + " + ".join(f"{k} {v:.1f}" for k, v in parts.items())
    )
    assert stages["webhook"] <= budget, stages

    note = stack.webhook.first_firing(BULK, app, after=t0)
    assert note is not None
    alert = note.firing(BULK, app)[0]
    _check_identity(stack, alert, app)
    _check_links(stack, alert, app, "bulk_checkin")
    assert alert["annotations"]["description"].startswith("1 open bulk_checkin finding(s)")
    live = [p for p in stack.ground_truth()["apps"][app]["planted"] if p.get("live")]
    assert [p["event_ids"] for p in live] == [ring["event_ids"]]
    spec = stack.sim.fleet.by_id[app]
    owner = f"/tapwatch/owner/{owner_slug(spec.owner)}"
    wait_until(
        lambda: owner in _receivers(stack, BULK, app), 5, "the live ring at its owner's webhook"
    )


def _planted_alerts(truth: dict[str, Any]) -> set[tuple[str, str, str]]:
    """(app, alertname, feature) that the ground truth says must be firing: one per planted
    kind still inside the daemon's raw window (app-wide patterns always), one per banned
    feature, and the band's alert."""
    now = truth["clock"]
    want: set[tuple[str, str, str]] = set()
    for app, t in truth["apps"].items():
        if t["expected_band"] in ALERT_OF_BAND:
            want.add((app, ALERT_OF_BAND[t["expected_band"]], ""))
        for p in t["planted"]:
            if p["kind"] == "shutdown":
                continue
            if p["kind"] == "banned_feature":
                want |= {(app, ALERT_OF_KIND[p["kind"]], f) for f in p["detail"]["features"]}
            elif p["window"][1] >= now - RAW_WINDOW_S:
                want.add((app, ALERT_OF_KIND[p["kind"]], ""))
    return want


def test_every_apps_alerts_match_its_planted_ground_truth(steady_stack: Stack) -> None:
    """What fires in Prometheus, app by app, is what the simulator planted: every planted
    kind raises its alert, and no app raises an alert for a kind nobody planted in it."""
    stack = steady_stack
    stack.webhook.wait_firing(CANDIDATE, "empty-shell", timeout=FIRST_ALERT_TIMEOUT_S)
    firing: set[tuple[str, str, str]] = set()
    want: set[tuple[str, str, str]] = set()

    def settled() -> bool:
        nonlocal firing, want
        want = _planted_alerts(stack.ground_truth())
        firing = {
            (s["metric"]["app"], s["metric"]["alertname"], s["metric"].get("feature", ""))
            for s in stack.prom.query(
                f'ALERTS{{alertstate="firing", component=~"{FINDING_COMPONENTS}"}}'
            )
        }
        return firing == want

    deadline = time.monotonic() + SETTLE_S
    while not settled() and time.monotonic() < deadline:
        time.sleep(1.0)
    assert want, "the ground truth plants nothing"
    assert {a for a, _, _ in want} >= {"empty-shell", "township-appointments", "meeting-hall"}
    assert firing == want, {"not firing": sorted(want - firing), "unplanted": sorted(firing - want)}


def test_cross_app_findings_reach_prometheus_as_app_level_series(steady_stack: Stack) -> None:
    """The consolidation group and the daily round, as Prometheus sees them: per app, the
    app to keep and the group's cost; the accounts in the round. No account id anywhere."""
    stack = steady_stack
    truth = stack.ground_truth()["apps"]
    merged = {a for a, t in truth.items() if any(p["kind"] == "consolidation"
                                                 for p in t["planted"])}
    rounds = {a for a, t in truth.items() if any(p["kind"] == "ritual_rounds"
                                                 for p in t["planted"])}
    assert merged and rounds
    wait_until(
        lambda: {s["metric"]["app"] for s in stack.prom.query(
            "tapwatch_app_consolidation_group == 1")} == merged,
        30, "every app of the planted group in tapwatch_app_consolidation_group",
    )
    groups = stack.prom.query("tapwatch_app_consolidation_group")
    assert {s["metric"]["keep"] for s in groups} <= merged and len(
        {s["metric"]["keep"] for s in groups}) == 1
    assert all(set(s["metric"]) <= {"__name__", "app", "keep", "job", "instance"}
               for s in groups)
    spec = stack.sim.fleet.by_id
    combined = sum(spec[a].annual_cost_cny for a in merged)
    for a in merged:
        assert stack.prom.value(
            f'tapwatch_app_consolidation_annual_cost_cny{{app="{a}"}}') == combined
    in_round = {s["metric"]["app"]: float(s["value"][1])
                for s in stack.prom.query("tapwatch_app_ritual_round_accounts > 0")}
    assert set(in_round) == rounds
    readers = spec["party-official-account"].params["ritual_readers"]
    assert all(0.8 * readers <= n <= readers for n in in_round.values()), in_round
