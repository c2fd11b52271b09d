"""Alerting rules: shutdown candidates, forced-usage findings, and tapwatch's own health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import MixinConfig
from .dashboards import APP_UID, COLLECTOR_UID, FLEET_UID, dashboard_path
from .promql import dedup_lookup_share, global_lookup, lookup, with_app_info
from .recording import APPS_BY_BAND

APP_LINK = "{{ $labels.app | urlquery }}"
# Quoted in descriptions: who the app is.
WHO = (
    "{{ $labels.name }} ({{ $labels.app }}; owner {{ $labels.owner }}, "
    "region {{ $labels.region }})"
)


@dataclass(frozen=True, slots=True)
class ForcedUsageKind:
    """A detector kind whose open findings raise an alert of their own."""

    alert: str
    kind: str
    what: str  # the pattern, in a few words, for the summary
    meaning: str  # one sentence for the description


FORCED_USAGE_KINDS = (
    ForcedUsageKind(
        "TapwatchBulkCheckin", "bulk_checkin", "bulk check-ins",
        "Many accounts checked in from one place or device within minutes: one person "
        "checking in for others.",
    ),
    ForcedUsageKind(
        "TapwatchDeadlineConcentration", "deadline_concentration", "activity piled up at deadlines",
        "Activity crowds into the minutes before deadlines and month-end rankings: usage driven "
        "by assessment, not by need.",
    ),
    ForcedUsageKind(
        "TapwatchRitualUsage", "ritual_usage", "ritual daily usage",
        "Accounts open the app every day only to leave a trace, without doing any work in it.",
    ),
    ForcedUsageKind(
        "TapwatchClockworkTiming", "clockwork_timing", "clockwork-regular activity",
        "Activity arrives at machine-regular times: scripted or rostered usage.",
    ),
    ForcedUsageKind(
        "TapwatchStudyInflation", "study_inflation", "inflated study time",
        "Study hours pile up without real viewing (fast-forwarded or idle videos) to meet "
        "required hours.",
    ),
    ForcedUsageKind(
        "TapwatchDeviceFarm", "device_farm", "a device farm",
        "Many accounts are used from a handful of devices: one person carrying other people's "
        "phones.",
    ),
    ForcedUsageKind(
        "TapwatchFlatReads", "flat_reads", "flat, uniform reading",
        "Content is opened in uniform, engagement-free patterns: reading to be counted.",
    ),
    ForcedUsageKind(
        "TapwatchDuplicateReporting", "duplicate_reporting", "duplicate reporting",
        "The same items are re-reported here that units already report elsewhere.",
    ),
    ForcedUsageKind(
        "TapwatchRitualRounds", "ritual_rounds", "a daily round of clicks across apps",
        "The same accounts open this app and other official accounts one after another "
        "within minutes, day after day: a round of clicks so the numbers look good.",
    ),
)


def _links(cfg: MixinConfig, uid: str, *, app: bool, kind: str | None = None) -> dict[str, str]:
    """runbook/dashboard/findings annotations; per-app alerts get `var-app` and app filters."""
    dashboard = f"{cfg.grafana_url}{dashboard_path(uid)}"
    findings = f"{cfg.tapwatch_url}/findings"
    if app:
        dashboard += f"?var-app={APP_LINK}"
        findings += f"?app={APP_LINK}"
        if kind:
            findings += f"&kind={kind}"
    return {"dashboard_url": dashboard, "findings_url": findings}


def _rule(
    cfg: MixinConfig,
    name: str,
    expr: str,
    for_: str,
    labels: dict[str, str],
    summary: str,
    description: str,
    links: dict[str, str],
) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": for_,
        "labels": labels,
        "annotations": {
            "summary": summary,
            "description": description,
            "runbook_url": f"{cfg.runbook_url}#{name.lower()}",
            **links,
        },
    }


def _top_signals() -> str:
    """Template: the three largest shutdown-score signals of this app, largest first."""
    return (
        '{{ range $i, $s := printf "sort_desc(topk(3, tapwatch_app_shutdown_signal{app=%q} > 0))"'
        " $labels.app | query }}{{ if $i }}, {{ end }}{{ $s.Labels.signal }} "
        '{{ $s.Value | printf "%.0f" }}{{ end }}'
    )


def _assessment_rule(cfg: MixinConfig, name: str, band: str, hold: str, severity: str,
                     summary: str, verdict: str) -> dict[str, Any]:
    """In `band` for `hold`: every band sample of the last `hold` says so, and the band
    series was there `hold` ago (within `gap_tolerance`). Reading the window, not a `for:`
    of a day, means a missed scrape or a restart does not start the day again; the last
    score and registry labels within `gap_tolerance` carry the alert over short gaps."""
    gap = cfg.gap_tolerance
    in_band = f'tapwatch_app_assessment{{band="{band}"}}'
    expr = with_app_info(
        f"last_over_time(tapwatch_app_shutdown_score[{gap}])\n"
        f"  and on (app) (min_over_time({in_band}[{hold}]) == 1)\n"
        f"  and on (app) present_over_time({in_band}[{gap}] offset {hold})",
        gap=gap,
    )
    organic = lookup("tapwatch_app_organic_active_accounts{app=%q, window='30d'}")
    intended = lookup("tapwatch_app_intended_users{app=%q}")
    cost = lookup("tapwatch_app_annual_cost_cny{app=%q}")
    description = (
        f"{WHO} has been in the {band} band for {hold}: shutdown score "
        '{{ $value | printf "%.0f" }}/100. '
        f"Organic active accounts (30d): {organic} of {intended} intended users; "
        f"annual cost {cost} CNY. Largest signals: {_top_signals()}. {verdict}"
    )
    return _rule(
        cfg, name, expr, cfg.assessment_for,
        {"severity": severity, "component": "assessment"},
        summary, description,
        _links(cfg, APP_UID, app=True, kind="shutdown_candidate" if band == "candidate"
               else "needs_review"),
    )


def _forced_usage_rule(cfg: MixinConfig, k: ForcedUsageKind) -> dict[str, Any]:
    expr = with_app_info(f'tapwatch_findings_open{{kind="{k.kind}"}} > 0')
    ratio = lookup("tapwatch_app_forced_activity_ratio{app=%q}", "humanizePercentage")
    organic = lookup("tapwatch_app_organic_active_accounts{app=%q, window='7d'}")
    reported = lookup("tapwatch_app_active_accounts{app=%q, window='7d'}")
    description = (
        f'{{{{ $value | printf "%.0f" }}}} open {k.kind} finding(s) for {WHO}, open for at '
        f"least {cfg.finding_for}. {k.meaning} Forced share of activity: {ratio}; active "
        f"accounts (7d): {organic} organic of {reported} reported."
    )
    return _rule(
        cfg, k.alert, expr, cfg.finding_for,
        {"severity": "warning", "component": "forced_usage"},
        f"{{{{ $labels.name }}}} ({{{{ $labels.app }}}}) shows {k.what}",
        description,
        _links(cfg, APP_UID, app=True, kind=k.kind),
    )


def _consolidation_rule(cfg: MixinConfig) -> dict[str, Any]:
    expr = with_app_info('tapwatch_findings_open{kind="consolidation"} > 0')
    cost = lookup("tapwatch_app_annual_cost_cny{app=%q}")
    combined = lookup("tapwatch_app_consolidation_annual_cost_cny{app=%q}")
    keep = (
        '{{ range printf "tapwatch_app_consolidation_group{app=%q}" $labels.app | query }}'
        "{{ .Labels.keep }}{{ else }}unknown{{ end }}"
    )
    description = (
        f"{WHO} serves the same users for the same job as other apps of its region "
        f'({{{{ $value | printf "%.0f" }}}} open consolidation finding(s), open for at least '
        f"{cfg.finding_for}). App to keep (the most real use): {keep}. Combined annual cost "
        f"of the group: {combined} CNY, this app's: {cost} CNY. The finding names the group "
        "and how many users each pair shares."
    )
    return _rule(
        cfg, "TapwatchConsolidation", expr, cfg.finding_for,
        {"severity": "warning", "component": "assessment"},
        "{{ $labels.name }} ({{ $labels.app }}) duplicates other apps of its region",
        description,
        _links(cfg, APP_UID, app=True, kind="consolidation"),
    )


def _banned_feature_rule(cfg: MixinConfig) -> dict[str, Any]:
    expr = with_app_info(
        "tapwatch_app_banned_feature == 1\n  unless on (app) (tapwatch_app_exempt == 1)"
    )
    count = lookup("count(tapwatch_app_banned_feature{app=%q} == 1)", 'printf "%.0f"')
    description = (
        f"{WHO} has had the banned feature {{{{ $labels.feature }}}} for "
        f"{cfg.banned_feature_for} ({count} banned feature(s) in all). Government apps may not "
        "have mandatory check-in, points rankings or online-duration counters (2023 Opinions "
        "on fingertip formalism; 2026 Measures for government mobile apps; security and "
        "emergency apps, marked exempt, excepted)."
    )
    return _rule(
        cfg, "TapwatchBannedFeature", expr, cfg.banned_feature_for,
        {"severity": "warning", "component": "compliance"},
        "{{ $labels.name }} ({{ $labels.app }}) has banned feature {{ $labels.feature }}",
        description,
        _links(cfg, APP_UID, app=True, kind="banned_feature"),
    )


def _collector_rules(cfg: MixinConfig) -> list[dict[str, Any]]:
    collector = {"component": "collector"}
    ago = lookup(
        "(time() - tapwatch_app_last_success_timestamp_seconds{app=%q})"
        " and tapwatch_app_last_success_timestamp_seconds{app=%q} > 0",
        "humanizeDuration", "never", after=" ago",
    )
    errors = (
        '{{ range $i, $e := printf "sort_desc(round(increase('
        f'tapwatch_app_scrape_errors_total{{app=%q}}[{cfg.error_window}])) > 0)"'
        " $labels.app | query }}{{ if $i }}, {{ end }}{{ $e.Labels.reason }} "
        '{{ $e.Value | printf "%.0f" }}{{ else }}none counted{{ end }}'
    )
    job = cfg.job_selector
    shards_seen = 'count(count_values("ordinal", tapwatch_shard_ordinal))'
    return [
        _rule(
            cfg, "TapwatchAppScrapeFailing",
            with_app_info("tapwatch_app_up == 0"), cfg.scrape_failing_for,
            {"severity": "warning", **collector},
            "tapwatch cannot poll {{ $labels.name }} ({{ $labels.app }})",
            f"tapwatch's polls of {WHO} have failed for {cfg.scrape_failing_for}. Last "
            f"successful poll: {ago}. Errors in the last {cfg.error_window}: {errors}.",
            _links(cfg, COLLECTOR_UID, app=True),
        ),
        _rule(
            cfg, "TapwatchAppDataStale",
            with_app_info("tapwatch_app_stale == 1"), cfg.stale_for,
            {"severity": "warning", **collector},
            "tapwatch's data for {{ $labels.name }} ({{ $labels.app }}) is stale",
            f"The last good data for {WHO} is older than three poll intervals (last successful "
            f"poll: {ago}). Its findings and assessment rest on old data until polling recovers.",
            _links(cfg, COLLECTOR_UID, app=True),
        ),
        _rule(
            cfg, "TapwatchDown",
            f"up{{{job}}} == 0\nor\nabsent(up{{{job}}})", cfg.down_for,
            {"severity": "critical", **collector},
            "tapwatch is down",
            "Prometheus has not scraped tapwatch "
            "{{ with $labels.instance }}at {{ . }} {{ end }}"
            f"({job}) for {cfg.down_for}, so none of its apps ("
            + lookup(
                "sum(last_over_time(tapwatch_apps_configured{instance=%q}[1d]))",
                'printf "%.0f"', label="instance",
            )
            + " configured in the last day) is watched and its tapwatch_* series go stale.",
            _links(cfg, COLLECTOR_UID, app=False),
        ),
        _rule(
            cfg, "TapwatchConfigReloadFailed",
            "tapwatch_config_last_reload_successful == 0", cfg.reload_failed_for,
            {"severity": "warning", **collector},
            "tapwatch could not reload its configuration",
            "The last configuration reload of tapwatch at {{ $labels.instance }} failed "
            f"{cfg.reload_failed_for} ago or more; it keeps running on the last good "
            "configuration, loaded "
            + global_lookup(
                "time() - tapwatch_config_last_reload_success_timestamp_seconds",
                "humanizeDuration",
            )
            + " ago. Registry changes made since then are not in effect.",
            _links(cfg, COLLECTOR_UID, app=False),
        ),
        _store_unwritable_rule(cfg),
        _dedup_memory_rule(cfg),
        _detector_failing_rule(cfg),
        _rule(
            cfg, "TapwatchShardMissing",
            'count(count_values("ordinal", tapwatch_shard_ordinal))\n'
            "  < max(tapwatch_total_shards)\n"
            "or\nabsent(tapwatch_shard_ordinal)",
            cfg.shard_missing_for,
            {"severity": "critical", **collector},
            "A tapwatch shard is missing",
            "Only "
            + global_lookup(shards_seen, 'printf "%.0f"', "0")
            + " of "
            + global_lookup("max(tapwatch_total_shards)", 'printf "%.0f"')
            + f" tapwatch shards have reported for {cfg.shard_missing_for}: the apps hashed to "
            "the missing shard are not watched.",
            _links(cfg, COLLECTOR_UID, app=False),
        ),
    ]


def _store_unwritable_rule(cfg: MixinConfig) -> dict[str, Any]:
    reasons = (
        '{{ range $i, $f := printf "tapwatch_store_fault{instance=%q} == 1" $labels.instance'
        " | query }}{{ if $i }}, {{ end }}{{ $f.Labels.reason }}{{ else }}unknown{{ end }}"
    )
    failures = lookup(
        "sum(round(increase(tapwatch_store_write_failures_total{instance=%q}[10m])))",
        'printf "%.0f"', label="instance",
    )
    return _rule(
        cfg, "TapwatchStoreUnwritable",
        "tapwatch_store_healthy == 0", cfg.store_unwritable_for,
        {"severity": "critical", "component": "collector"},
        "tapwatch cannot write its store",
        "tapwatch at {{ $labels.instance }} has not been able to write its store for "
        f"{cfg.store_unwritable_for}; reason: {reasons}. Its polls wait and read each app "
        "again from its last stored position once the store takes writes (nothing is "
        "lost, but data and findings grow older), and /readyz answers 503. Failed writes "
        f"in the last 10m: {failures}. App-level alerts of this instance are held meanwhile.",
        _links(cfg, COLLECTOR_UID, app=False),
    )


def _dedup_memory_rule(cfg: MixinConfig) -> dict[str, Any]:
    """De-duplication's lookups on disk against the events it checked: the filters of the
    ids on disk are short of memory (`store.dedup_memory`) once they let this many new ids
    through. Each lookup reads a block of every run of the app; the threshold and its
    reasons are in the runbook."""
    window = cfg.dedup_lookup_window
    expr = (
        f"{dedup_lookup_share(window)}\n  > {cfg.dedup_lookup_ratio:g}\n"
        # a handful of events an hour makes a ratio of noise, and costs nothing
        f"and sum by (job, instance) (increase(tapwatch_app_events_ingested_total[{window}])) "
        f"> {cfg.dedup_min_events}"
    )
    limit = lookup(
        "tapwatch_dedup_memory_limit_bytes{instance=%q}", "humanize1024", label="instance"
    )
    filters = lookup(
        "tapwatch_dedup_memory_bytes{part='filter', instance=%q}", "humanize1024",
        label="instance",
    )
    bits = lookup(
        "8 * sum(tapwatch_dedup_memory_bytes{part='filter', instance=%q})"
        " / sum(tapwatch_dedup_ids{tier='disk', instance=%q})",
        'printf "%.1f"', label="instance",
    )
    return _rule(
        cfg, "TapwatchDedupMemoryTooSmall", expr, cfg.dedup_lookup_for,
        {"severity": "warning", "component": "collector"},
        "tapwatch's de-duplication goes to disk too often: raise store.dedup_memory",
        "tapwatch at {{ $labels.instance }} looked up "
        '{{ $value | humanizePercentage }} of the events it checked for duplicates in its '
        f"runs of ids on disk over the last {window} (more than "
        f"{cfg.dedup_lookup_ratio:.0%} for {cfg.dedup_lookup_for}): the filters in front of "
        f"those runs are too small for the ids they hold ({filters} of filters, {bits} bits "
        f"an id on disk; 32 when there is room, 16 at their capacity), so most of these "
        "lookups are false \"maybe\"s, each a block read per run. Ingest slows down "
        "(each percent of events looked up adds roughly half to all of its CPU again); "
        f"nothing is lost or stored twice. store.dedup_memory is {limit}.",
        _links(cfg, COLLECTOR_UID, app=False),
    )


def _detector_failing_rule(cfg: MixinConfig) -> dict[str, Any]:
    """A detector that raises in pass after pass: the apps it fails on are not judged for
    its kind, which no other alert shows (their findings neither come nor go)."""
    return _rule(
        cfg, "TapwatchDetectorFailing",
        "sum by (job, instance, kind) (increase(tapwatch_detector_failures_total[15m])) > 0",
        cfg.detector_failing_for,
        {"severity": "warning", "component": "collector"},
        "tapwatch's {{ $labels.kind }} detector keeps failing",
        "The {{ $labels.kind }} detector of tapwatch at {{ $labels.instance }} has raised in "
        f"its detector passes for {cfg.detector_failing_for} "
        '({{ $value | printf "%.0f" }} times in the last 15m). The apps it fails on are not '
        "judged for that kind meanwhile: their findings of it are neither raised nor "
        "resolved, and the other detectors and apps go on. tapwatch logged the app and the "
        "error once, when it started failing.",
        {
            "dashboard_url": f"{cfg.grafana_url}{dashboard_path(COLLECTOR_UID)}",
            "findings_url": f"{cfg.tapwatch_url}/findings?kind={{{{ $labels.kind }}}}",
        },
    )


def _access_file_rules(cfg: MixinConfig) -> list[dict[str, Any]]:
    """The files that say who may reach tapwatch, re-read when they change: a change that
    fails to load leaves the last good version in use, which nobody notices until its
    certificate expires or a removed user logs in."""

    def ago(file: str) -> str:
        return lookup(
            f"time() - tapwatch_{file}_last_reload_success_timestamp_seconds{{instance=%q}}",
            "humanizeDuration", label="instance",
        )

    def refused(realm: str) -> str:
        return lookup(
            "sum(round(increase(tapwatch_auth_failures_total"
            f"{{realm='{realm}', instance=%q}}[1h])))",
            'printf "%.0f"', label="instance",
        )

    failing = f"for {cfg.reload_failed_for} or more"
    return [
        _rule(
            cfg, "TapwatchWebConfigReloadFailed",
            "tapwatch_web_config_last_reload_successful == 0", cfg.reload_failed_for,
            {"severity": "warning", "component": "collector"},
            "tapwatch cannot load its changed web config",
            "tapwatch at {{ $labels.instance }} has failed to read its changed web config "
            f"(TLS certificate, key and client CA, /metrics users) {failing} and serves the "
            f"version read {ago('web_config')} ago. A rotated certificate is not in use: the "
            "old one is served until it expires, and then every scrape and browser fails. "
            f"Wrong /metrics logins in the last hour: {refused('metrics')}.",
            _links(cfg, COLLECTOR_UID, app=False),
        ),
        _rule(
            cfg, "TapwatchUsersFileReloadFailed",
            "tapwatch_users_file_last_reload_successful == 0", cfg.reload_failed_for,
            {"severity": "warning", "component": "collector"},
            "tapwatch cannot load its users file",
            "tapwatch at {{ $labels.instance }} has failed to read its users file "
            f"{failing}. If the file is broken, the version read {ago('users_file')} ago is "
            "in use: people added or given a new password since cannot log in, and people "
            "removed since still can. If it was deleted, nobody can log in. Wrong inspector "
            f"and viewer logins in the last hour: {refused('findings')}.",
            _links(cfg, COLLECTOR_UID, app=False),
        ),
    ]


def _fleet_jump_rule(cfg: MixinConfig) -> dict[str, Any]:
    now = f'{APPS_BY_BAND}{{band="candidate"}}'
    low = f"min_over_time({now}[{cfg.fleet_jump_lookback}])"
    expr = (
        f"{now}\n  - {low}\n"
        f"  > clamp_min({cfg.fleet_jump_ratio:g} * {low}, {cfg.fleet_jump_min_apps})\n"
        # no verdict until the baseline covers the whole window (e.g. right after deployment)
        f"and {now} offset {cfg.fleet_jump_lookback}"
    )
    count_now = global_lookup(now, 'printf "%.0f"')
    count_low = global_lookup(low, 'printf "%.0f"')
    return _rule(
        cfg, "TapwatchFleetCandidateJump", expr, cfg.fleet_jump_for,
        {"severity": "critical", "component": "assessment"},
        "Shutdown candidates jumped fleet-wide: check telemetry before acting",
        f'The number of shutdown candidates rose by {{{{ $value | printf "%.0f" }}}} to '
        f"{count_now} within {cfg.fleet_jump_lookback} (lowest {count_low}), more than "
        f"max({cfg.fleet_jump_min_apps}, {cfg.fleet_jump_ratio:.0%}). A fleet-wide jump is "
        "almost always a telemetry or detector fault, not many apps dying at once; per-app "
        "TapwatchAppShutdownCandidate notifications are inhibited while this fires.",
        {
            "dashboard_url": f"{cfg.grafana_url}{dashboard_path(FLEET_UID)}",
            "findings_url": f"{cfg.tapwatch_url}/findings?kind=shutdown_candidate",
        },
    )


def alert_groups(cfg: MixinConfig) -> list[dict[str, Any]]:
    """The rule groups of `rules/alerts.yaml`."""
    assessment = [
        _assessment_rule(
            cfg, "TapwatchAppShutdownCandidate", "candidate", cfg.candidate_for, "warning",
            "{{ $labels.name }} ({{ $labels.app }}) is a shutdown candidate",
            "Low use and little value: decide with the owner whether to shut it down or "
            "consolidate it.",
        ),
        _assessment_rule(
            cfg, "TapwatchAppNeedsReview", "review", cfg.review_for, "info",
            "{{ $labels.name }} ({{ $labels.app }}) needs review",
            "The evidence is mixed: an inspector should review it.",
        ),
        _fleet_jump_rule(cfg),
        _consolidation_rule(cfg),
    ]
    forced = [_forced_usage_rule(cfg, k) for k in FORCED_USAGE_KINDS]
    forced.append(_banned_feature_rule(cfg))
    return [
        {"name": "tapwatch-assessment", "rules": assessment},
        {"name": "tapwatch-forced-usage", "rules": forced},
        {"name": "tapwatch-collector", "rules": _collector_rules(cfg)},
        {"name": "tapwatch-access", "rules": _access_file_rules(cfg)},
    ]
