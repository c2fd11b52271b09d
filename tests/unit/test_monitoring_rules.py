"""Static checks of the generated alert and recording rules and their promtool tests."""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "monitoring"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
config = importlib.import_module("monitoring.mixin.config")
render = importlib.import_module("monitoring.mixin.render")

RUNBOOK_URL = "https://github.com/tapwatch/tapwatch/blob/main/monitoring/runbook.md"
DASHBOARD_UIDS = {"tapwatch-fleet", "tapwatch-app", "tapwatch-forced", "tapwatch-collector"}
EXPECTED_ALERTS = {
    "TapwatchAppShutdownCandidate", "TapwatchAppNeedsReview", "TapwatchFleetCandidateJump",
    "TapwatchBulkCheckin", "TapwatchDeadlineConcentration", "TapwatchStudyInflation",
    "TapwatchRitualUsage", "TapwatchClockworkTiming", "TapwatchDeviceFarm", "TapwatchFlatReads",
    "TapwatchDuplicateReporting", "TapwatchRitualRounds", "TapwatchConsolidation",
    "TapwatchBannedFeature", "TapwatchAppScrapeFailing",
    "TapwatchAppDataStale", "TapwatchDown", "TapwatchConfigReloadFailed", "TapwatchShardMissing",
    "TapwatchStoreUnwritable", "TapwatchDetectorFailing", "TapwatchWebConfigReloadFailed",
    "TapwatchUsersFileReloadFailed", "TapwatchDedupMemoryTooSmall",
}
DETECTOR_KINDS = {
    "shutdown_candidate", "needs_review", "bulk_checkin", "deadline_concentration",
    "ritual_usage", "clockwork_timing", "study_inflation", "device_farm", "flat_reads",
    "duplicate_reporting", "banned_feature", "ritual_rounds", "consolidation",
}
# The daemon's metric contract: the rules may read nothing else.
EXPORTED_METRICS = {
    "tapwatch_app_up", "tapwatch_app_last_success_timestamp_seconds",
    "tapwatch_app_scrape_duration_seconds", "tapwatch_app_scrape_errors_total",
    "tapwatch_app_events_ingested_total", "tapwatch_app_events_rejected_total",
    "tapwatch_app_records_skipped_total",
    "tapwatch_app_registered_accounts", "tapwatch_app_active_accounts", "tapwatch_app_info",
    "tapwatch_app_poll_lag_seconds", "tapwatch_app_stale", "tapwatch_app_intended_users",
    "tapwatch_app_annual_cost_cny", "tapwatch_app_exempt", "tapwatch_findings_total",
    "tapwatch_findings_open", "tapwatch_app_shutdown_score", "tapwatch_app_assessment",
    "tapwatch_app_organic_active_accounts", "tapwatch_app_forced_activity_ratio",
    "tapwatch_app_banned_feature", "tapwatch_app_shutdown_signal",
    "tapwatch_app_duplicate_filings", "tapwatch_app_consolidation_group",
    "tapwatch_app_consolidation_annual_cost_cny", "tapwatch_app_ritual_round_accounts",
    "tapwatch_detect_duration_seconds", "tapwatch_detector_failures_total",
    "tapwatch_detect_last_run_timestamp_seconds", "tapwatch_build_info",
    "tapwatch_config_last_reload_successful",
    "tapwatch_config_last_reload_success_timestamp_seconds", "tapwatch_apps_configured",
    "tapwatch_shard_ordinal", "tapwatch_total_shards", "tapwatch_store_size_bytes",
    "tapwatch_dedup_memory_bytes", "tapwatch_dedup_memory_limit_bytes", "tapwatch_dedup_ids",
    "tapwatch_dedup_disk_runs", "tapwatch_dedup_disk_lookups_total",
    "tapwatch_dedup_disk_block_reads_total", "tapwatch_dedup_seals_total",
    "tapwatch_dedup_seal_failures_total",
    "tapwatch_event_loop_lag_seconds", "tapwatch_events_stored", "tapwatch_store_healthy",
    "tapwatch_store_fault", "tapwatch_store_write_failures_total",
    "tapwatch_auth_failures_total", "tapwatch_auth_refused_total",
    "tapwatch_auth_password_checks_total", "tapwatch_web_config_last_reload_successful",
    "tapwatch_users_file_last_reload_successful",
    "tapwatch_web_config_last_reload_success_timestamp_seconds",
    "tapwatch_users_file_last_reload_success_timestamp_seconds",
}
METRIC_REF = re.compile(r"(?<![\w:])(tapwatch_[a-z0-9_]+)")


def _rules(path: Path) -> list[dict[str, Any]]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


ALERTS = _rules(MONITORING / "rules" / "alerts.yaml")
RECORDING = _rules(MONITORING / "rules" / "recording.yaml")
BY_NAME = {r["alert"]: r for r in ALERTS}


def _is_per_app(rule: dict[str, Any]) -> bool:
    return "group_left (name, owner, region)" in rule["expr"]


def test_the_expected_alerts_exist_once_each() -> None:
    names = [r["alert"] for r in ALERTS]
    assert len(names) == len(set(names))
    assert set(names) == EXPECTED_ALERTS


@pytest.mark.parametrize("rule", ALERTS, ids=lambda r: r["alert"])
def test_alert_has_severity_for_and_every_annotation(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in {"info", "warning", "critical"}
    assert rule["labels"]["component"] in {"assessment", "forced_usage", "compliance", "collector"}
    assert re.fullmatch(r"\d+[smhd]", rule["for"])
    ann = rule["annotations"]
    assert set(ann) == {"summary", "description", "runbook_url", "dashboard_url", "findings_url"}
    assert ann["runbook_url"] == f"{RUNBOOK_URL}#{rule['alert'].lower()}"
    m = re.fullmatch(
        r"http://localhost:3000/d/([a-z-]+)/[a-z-]+(\?var-app=.+)?", ann["dashboard_url"]
    )
    assert m and m.group(1) in DASHBOARD_UIDS
    assert ann["findings_url"].startswith("http://localhost:9817/findings")
    # measured numbers: the alert's value or a query in the template
    assert "$value" in ann["description"] or "query" in ann["description"]


@pytest.mark.parametrize("rule", [r for r in ALERTS if _is_per_app(r)], ids=lambda r: r["alert"])
def test_per_app_alert_carries_owner_and_links_to_the_app(rule: dict[str, Any]) -> None:
    ann = rule["annotations"]
    assert ann["dashboard_url"].endswith("?var-app={{ $labels.app | urlquery }}")
    assert "?app={{ $labels.app | urlquery }}" in ann["findings_url"]
    for label in ("name", "owner", "region"):
        assert f"$labels.{label}" in ann["description"]


def test_every_app_level_alert_joins_the_registry_labels() -> None:
    # the fleet jump and de-duplication's lookups read app series summed over the fleet
    # or the instance: not about one app
    app_level = {r["alert"] for r in ALERTS if "tapwatch_app_" in r["expr"] or "findings" in
                 r["expr"]} - {"TapwatchFleetCandidateJump", "TapwatchDedupMemoryTooSmall"}
    assert app_level == {r["alert"] for r in ALERTS if _is_per_app(r)}


def test_every_detector_kind_has_an_alert_linking_its_findings() -> None:
    linked = {
        m for r in ALERTS for m in re.findall(r"kind=(\w+)", r["annotations"]["findings_url"])
    }
    assert linked == DETECTOR_KINDS


def test_candidate_alert_holds_for_a_day_and_jump_lookback_is_longer() -> None:
    # the day is read from the band series (gaps do not restart it), `for:` only debounces
    candidate = BY_NAME["TapwatchAppShutdownCandidate"]
    assert candidate["for"] == "10m"
    assert 'min_over_time(tapwatch_app_assessment{band="candidate"}[1d]) == 1' in (
        candidate["expr"]
    )
    assert 'present_over_time(tapwatch_app_assessment{band="candidate"}[1h] offset 1d)' in (
        candidate["expr"]
    )
    assert "last_over_time(tapwatch_app_shutdown_score[1h])" in candidate["expr"]
    assert "[2d]" in BY_NAME["TapwatchFleetCandidateJump"]["expr"]
    with pytest.raises(ValueError, match="longer than candidate_for"):
        config.MixinConfig(candidate_for="3d", fleet_jump_lookback="2d")
    with pytest.raises(ValueError, match="gap_tolerance must be shorter than review_for"):
        config.MixinConfig(review_for="1h", gap_tolerance="1h")


def test_rules_read_only_metrics_the_daemon_exports() -> None:
    text = (MONITORING / "rules" / "alerts.yaml").read_text()
    text += (MONITORING / "rules" / "recording.yaml").read_text()
    assert set(METRIC_REF.findall(text)) <= EXPORTED_METRICS


def test_recording_rules_follow_level_metric_operations() -> None:
    for rule in RECORDING:
        level, metric, ops = rule["record"].split(":")
        assert re.fullmatch(r"[a-z_]+", level) and re.fullmatch(r"[a-z0-9_]+", ops)
        assert metric.startswith("tapwatch_app_")


def test_every_recording_rule_is_used_by_an_alert_or_a_dashboard() -> None:
    users = (MONITORING / "rules" / "alerts.yaml").read_text() + "".join(
        p.read_text() for p in (MONITORING / "dashboards").glob("*.json")
    )
    for rule in RECORDING:
        assert rule["record"] in users, rule["record"]


def _durations_out(expr: str) -> str:
    return re.sub(r"(\[|offset )\d+[smhdw]", r"\1D", expr)


def test_e2e_rules_are_the_same_rules_with_short_durations() -> None:
    e2e = _rules(MONITORING / "e2e" / "rules" / "alerts.yaml")
    assert [r["alert"] for r in e2e] == [r["alert"] for r in ALERTS]
    for short, full in zip(e2e, ALERTS, strict=True):
        assert config.duration_seconds(short["for"]) <= 10
        assert short["labels"] == full["labels"]
        assert _durations_out(short["expr"]) == _durations_out(full["expr"])
    assert _rules(MONITORING / "e2e" / "rules" / "recording.yaml") == RECORDING


def test_urls_and_durations_are_generator_parameters() -> None:
    cfg = config.DEFAULT.with_overrides(
        {
            "tapwatch_url": "https://tapwatch.example.gov",
            "grafana_url": "https://grafana.example.gov",
            "runbook_url": "https://wiki.example.gov/tapwatch-runbook",
            "candidate_for": "3d",
            "fleet_jump_lookback": "4d",
        }
    )
    rules = yaml.safe_load(render.deployment_files(cfg)["rules/alerts.yaml"])["groups"]
    candidate = next(r for g in rules for r in g["rules"]
                     if r.get("alert") == "TapwatchAppShutdownCandidate")
    assert candidate["for"] == "10m"
    assert '{band="candidate"}[3d]) == 1' in candidate["expr"]
    assert "for 3d" in candidate["annotations"]["description"]
    assert candidate["annotations"]["findings_url"].startswith("https://tapwatch.example.gov/")
    assert candidate["annotations"]["dashboard_url"].startswith("https://grafana.example.gov/d/")
    assert candidate["annotations"]["runbook_url"] == (
        "https://wiki.example.gov/tapwatch-runbook#tapwatchappshutdowncandidate"
    )
    with pytest.raises(ValueError, match="unknown setting 'grafana'"):
        config.DEFAULT.with_overrides({"grafana": "x"})
    with pytest.raises(ValueError, match="not a single-unit Prometheus duration"):
        config.MixinConfig(finding_for="15 minutes")


def _promtool_cases() -> dict[str, list[bool]]:
    """alertname -> for each alert_rule_test case, whether it expects alerts."""
    cases: dict[str, list[bool]] = {}
    for path in (MONITORING / "tests").glob("*_test.yaml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], []).append(bool(case.get("exp_alerts")))
    return cases


def test_promtool_tests_have_a_firing_and_a_silent_case_for_every_alert() -> None:
    cases = _promtool_cases()
    for name in EXPECTED_ALERTS:
        assert True in cases.get(name, []), f"{name}: no case where it fires"
        assert False in cases.get(name, []), f"{name}: no case where it stays silent"


def test_promtool_firing_cases_check_every_annotation() -> None:
    for path in (MONITORING / "tests").glob("*_test.yaml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    rule = BY_NAME[case["alertname"]]
                    assert set(alert["exp_annotations"]) == set(rule["annotations"])
                    assert set(rule["labels"]) <= set(alert["exp_labels"])


def _github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_runbook_has_a_section_for_every_alert() -> None:
    runbook = (MONITORING / "runbook.md").read_text()
    sections = re.split(r"^## ", runbook, flags=re.M)[1:]
    by_anchor = {_github_anchor(s.splitlines()[0]): s for s in sections}
    for rule in ALERTS:
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in by_anchor, f"runbook.md has no section for {rule['alert']}"
        body = by_anchor[anchor]
        for part in ("Meaning", "Check", "Action"):
            assert f"**{part}**" in body, f"{rule['alert']}: runbook section lacks {part}"


def test_the_metric_contract_is_what_the_daemon_exports() -> None:
    """EXPORTED_METRICS is the golden /metrics page's families (plus those it leaves out
    because they measure the run), no more, no fewer."""
    from tests.integration.test_metrics_golden import GOLDEN, VOLATILE

    families = {
        line.split(" ")[2] for line in GOLDEN.read_text().splitlines()
        if line.startswith("# TYPE ")
    }
    assert families | set(VOLATILE) == EXPORTED_METRICS
