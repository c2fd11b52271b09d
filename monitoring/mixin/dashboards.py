"""The four tapwatch dashboards: fleet overview, app detail, forced usage, collector health."""

from __future__ import annotations

from typing import Any

from .config import MixinConfig
from .grafana import Dashboard, Panel, Target
from .promql import APP_INFO, dedup_lookup_share
from .recording import (
    APPS_BY_BAND,
    COST_BY_BAND,
    COST_PER_ACCOUNT,
    NO_ORGANIC,
    ORGANIC_BY_REGION_CATEGORY,
    REACH,
)

FLEET_UID = "tapwatch-fleet"
APP_UID = "tapwatch-app"
FORCED_UID = "tapwatch-forced"
COLLECTOR_UID = "tapwatch-collector"
_SLUGS = {
    FLEET_UID: "tapwatch-fleet-overview",
    APP_UID: "tapwatch-app-detail",
    FORCED_UID: "tapwatch-forced-usage",
    COLLECTOR_UID: "tapwatch-collector-health",
}

CNY = "suffix: CNY"
CANDIDATE = '(tapwatch_app_assessment{band="candidate"} == 1)'
# Kinds that judge the app as a whole rather than a pattern of forced use.
NOT_FORCED = 'kind!~"shutdown_candidate|needs_review"'


def dashboard_path(uid: str) -> str:
    """The Grafana URL path of a dashboard (`/d/{uid}/{slug}`)."""
    return f"/d/{uid}/{_SLUGS[uid]}"


def _nav_links(cfg: MixinConfig, findings_query: str = "") -> list[dict[str, Any]]:
    return [
        {
            "title": "tapwatch dashboards",
            "type": "dashboards",
            "tags": ["tapwatch"],
            "asDropdown": True,
            "includeVars": False,
            "keepTime": True,
        },
        {
            "title": "Findings",
            "type": "link",
            "url": f"{cfg.tapwatch_url}/findings{findings_query}",
            "targetBlank": True,
            "icon": "external link",
        },
    ]


def fleet_overview(cfg: MixinConfig) -> Dashboard:
    """Which apps are empty shells, what they cost, and who owns them."""
    panels = [
        Panel(
            "Apps configured",
            "Apps in the registry across all tapwatch shards.",
            "short", [Target("sum(tapwatch_apps_configured)", "apps", instant=True)],
            type="stat", width=6, height=4, text_mode="value",
        ),
        Panel(
            "Shutdown candidates",
            "Apps whose current assessment band is `candidate`: low use and little value.",
            "short",
            [Target(f'sum({APPS_BY_BAND}{{band="candidate"}}) or vector(0)', "candidates",
                    instant=True)],
            type="stat", width=6, height=4, text_mode="value",
        ),
        Panel(
            "Annual cost of shutdown candidates",
            "Registered annual cost of all apps in the `candidate` band.",
            CNY,
            [Target(f'sum({COST_BY_BAND}{{band="candidate"}}) or vector(0)', "cost",
                    instant=True)],
            type="stat", width=6, height=4, text_mode="value",
        ),
        Panel(
            "Apps with banned features",
            "Apps (exempt ones included) with check-in, points rankings, online-duration "
            "counters or another banned feature.",
            "short",
            [Target("count(max by (app) (tapwatch_app_banned_feature) == 1) or vector(0)",
                    "apps", instant=True)],
            type="stat", width=6, height=4, text_mode="value",
        ),
        Panel(
            "Apps by assessment band",
            "How many apps are in each band now (candidate, review, keep, insufficient_data, "
            "exempt).",
            "short", [Target(APPS_BY_BAND, "{{band}}", instant=True)],
            type="bargauge", width=8,
        ),
        Panel(
            "Apps by assessment band over time",
            "Band counts over time. A sudden fleet-wide jump in candidates is a telemetry "
            "fault, not many apps dying at once (alert TapwatchFleetCandidateJump).",
            "short", [Target(APPS_BY_BAND, "{{band}}")], width=16, stacked=True,
        ),
        Panel(
            "Shutdown candidates",
            "Every app in the candidate band: score (0-100), the largest signal behind it, "
            "owner, annual cost and organic 30-day reach against intended users. Click a row "
            "for its findings.",
            "none",
            [
                Target(
                    "max by (app, name, owner, region) (\n"
                    "  tapwatch_app_shutdown_score\n"
                    f"  * on (app) group_left (name, owner, region) {APP_INFO}\n"
                    f"  and on (app) {CANDIDATE}\n)",
                    instant=True,
                ),
                Target(
                    "max by (app, signal) (\n"
                    "  topk by (app) (1, tapwatch_app_shutdown_signal)\n"
                    f"  and on (app) {CANDIDATE}\n)",
                    instant=True,
                ),
                Target(
                    f"max by (app) (tapwatch_app_annual_cost_cny) and on (app) {CANDIDATE}",
                    instant=True,
                ),
                Target(f"max by (app) ({REACH}) and on (app) {CANDIDATE}", instant=True),
            ],
            type="table", width=24, sparse=True,
            table_columns={
                "app": "App", "name": "Name", "owner": "Owner", "region": "Region",
                "Value #A": "Score", "signal": "Largest signal",
                "Value #B": "Signal points", "Value #C": "Annual cost",
                "Value #D": "Organic reach (30d)",
            },
            overrides=[
                _unit_override("Annual cost", CNY),
                _unit_override("Organic reach (30d)", "percentunit"),
            ],
            data_links=[_findings_link(cfg, "shutdown_candidate")],
        ),
        Panel(
            "Signals behind the candidates",
            "Shutdown-score points per signal summed over all candidates: what makes the "
            "fleet's empty shells empty (reach, dormancy, decline, depth, unused features, "
            "maintenance, redundancy, cost).",
            "none",
            [Target(
                "sum by (signal) (\n  tapwatch_app_shutdown_signal\n"
                f"  and on (app) {CANDIDATE}\n)", "{{signal}}", instant=True)],
            type="bargauge", width=8, sparse=True,
        ),
        Panel(
            "Real usage against intended users",
            "Organic 30-day active accounts (forced activity removed) divided by the intended "
            "users in the registry. Lowest first.",
            "percentunit", [Target(f"sort({REACH})", "{{app}}", instant=True)],
            type="bargauge", width=8, height=12,
        ),
        Panel(
            "Annual cost per organic active account",
            "Registered annual cost divided by organic 30-day active accounts, for apps "
            "somebody uses organically (apps nobody does are listed in 'Apps nobody uses "
            "organically'). Highest first.",
            CNY, [Target(f"sort_desc({COST_PER_ACCOUNT})", "{{app}}", instant=True)],
            type="bargauge", width=8, height=12,
        ),
        Panel(
            "Apps nobody uses organically",
            "Apps without a single organic active account in 30 days (all their activity is "
            "forced, or there is none), with what they cost a year. Click a row for its "
            "findings.",
            "none",
            [
                Target(
                    "max by (app, name, owner, region) (\n"
                    "  tapwatch_app_annual_cost_cny\n"
                    f"  * on (app) group_left (name, owner, region) {APP_INFO}\n"
                    f"  and on (app) ({NO_ORGANIC} == 1)\n)",
                    instant=True,
                ),
            ],
            type="table", width=24, sparse=True, lists_problems=True,
            table_columns={
                "app": "App", "name": "Name", "owner": "Owner", "region": "Region",
                "Value": "Annual cost",
            },
            overrides=[_unit_override("Annual cost", CNY)],
            data_links=[_findings_link(cfg, None)],
        ),
        Panel(
            "Organic active accounts by region and category",
            "Organic 30-day active accounts summed per region and app category.",
            "short",
            [Target(f'{ORGANIC_BY_REGION_CATEGORY}{{window="30d"}}', "{{region}} / {{category}}")],
            width=12,
        ),
        Panel(
            "Annual cost by assessment band",
            "Registered annual cost of the apps in each band: the spend tied up in empty shells.",
            CNY, [Target(COST_BY_BAND, "{{band}}")], width=12, stacked=True,
        ),
        Panel(
            "Banned features in use",
            "Apps that have a banned feature (check-in, points rankings, online-duration "
            "counters ...) and whether they are exempt (security and emergency apps).",
            "none",
            [
                Target(
                    "max by (app, name, owner, region, feature) (\n"
                    "  (tapwatch_app_banned_feature == 1)\n"
                    f"  * on (app) group_left (name, owner, region) {APP_INFO}\n)",
                    instant=True,
                ),
                Target(
                    "max by (app) (tapwatch_app_exempt)\n"
                    "  and on (app) (max by (app) (tapwatch_app_banned_feature) == 1)",
                    instant=True,
                ),
            ],
            type="table", width=24, sparse=True,
            table_columns={
                "app": "App", "name": "Name", "owner": "Owner", "region": "Region",
                "feature": "Banned feature", "Value #A": "Present", "Value #B": "Exempt",
            },
            data_links=[_findings_link(cfg, "banned_feature")],
        ),
    ]
    return Dashboard(
        FLEET_UID, "tapwatch / Fleet overview",
        "The whole fleet of registered apps: assessment bands, shutdown candidates, real "
        "usage against intended users, cost and banned features.",
        panels, links=_nav_links(cfg),
    )


def app_detail(cfg: MixinConfig) -> Dashboard:
    """One app: usage, organic vs forced activity, findings and why it scores as it does."""
    app = 'app="$app"'
    panels = [
        Panel(
            "Assessment band", "The app's current band.", "none",
            [Target(f"tapwatch_app_assessment{{{app}}} == 1", "{{band}}", instant=True)],
            type="stat", width=6, height=4, text_mode="name",
        ),
        Panel(
            "Shutdown score",
            "0-100; the higher, the stronger the case to shut it down (candidate from 70, "
            "review 50-69).",
            "none", [Target(f"tapwatch_app_shutdown_score{{{app}}}", "score", instant=True)],
            type="stat", width=6, height=4, text_mode="value", min=0, max=100,
        ),
        Panel(
            "Forced share of activity",
            "Share of the app's activity that detectors attribute to forced usage.",
            "percentunit",
            [Target(f"tapwatch_app_forced_activity_ratio{{{app}}}", "forced", instant=True)],
            type="stat", width=6, height=4, text_mode="value", min=0, max=1,
        ),
        Panel(
            "Annual cost per organic active account",
            "Registered annual cost divided by organic 30-day active accounts. No value: "
            "nobody used the app organically in 30 days (or it has no cost in the registry).",
            CNY, [Target(f"{COST_PER_ACCOUNT}{{{app}}}", "cost", instant=True)],
            type="stat", width=6, height=4, text_mode="value", sparse=True,
            no_value="no organic user",
        ),
        Panel(
            "Usage trend",
            "Active accounts as the app reports them (1, 7 and 30 days), registered accounts "
            "and the intended users from the registry.",
            "short",
            [
                Target(f"tapwatch_app_active_accounts{{{app}}}", "active {{window}}"),
                Target(f"tapwatch_app_registered_accounts{{{app}}}", "registered"),
                Target(f"tapwatch_app_intended_users{{{app}}}", "intended users"),
            ],
        ),
        Panel(
            "Organic vs forced active accounts",
            "Organic active accounts (forced activity removed) and the remainder of the "
            "reported active accounts, per window.",
            "short",
            [
                Target(f"tapwatch_app_organic_active_accounts{{{app}}}", "organic {{window}}"),
                Target(
                    f"max by (window) (tapwatch_app_active_accounts{{{app}}})\n"
                    f"- max by (window) (tapwatch_app_organic_active_accounts{{{app}}})",
                    "forced {{window}}",
                ),
            ],
        ),
        Panel(
            "Findings raised",
            "New findings per kind (shutdown assessment and forced-usage patterns).",
            "short",
            [Target(
                f"sum by (kind) (increase(tapwatch_findings_total{{{app}}}[$__rate_interval]))",
                "{{kind}}")],
            bars=True, stacked=True,
            data_links=[_findings_link(cfg, "${__field.labels.kind}", app="${app}")],
        ),
        Panel(
            "Open findings",
            "Findings not yet dismissed, per kind.",
            "short",
            [Target(f"sum by (kind) (tapwatch_findings_open{{{app}}})", "{{kind}}")],
            data_links=[_findings_link(cfg, "${__field.labels.kind}", app="${app}")],
        ),
        Panel(
            "Score breakdown",
            "Shutdown-score points contributed by each signal now.",
            "none",
            [Target(f"tapwatch_app_shutdown_signal{{{app}}}", "{{signal}}", instant=True)],
            type="bargauge", width=8, min=0,
        ),
        Panel(
            "Score breakdown over time",
            "Shutdown-score points per signal over time; they add up to the score.",
            "none",
            [Target(f"tapwatch_app_shutdown_signal{{{app}}}", "{{signal}}")],
            width=16, stacked=True,
        ),
        Panel(
            "Forced share of activity over time",
            "Share of activity attributed to forced usage.",
            "percentunit",
            [Target(f"tapwatch_app_forced_activity_ratio{{{app}}}", "forced share")],
            min=0, max=1,
        ),
        Panel(
            "Events ingested by type",
            "Usage events tapwatch took in from the app per second.",
            "cps",
            [Target(
                "sum by (type) (\n"
                f"  rate(tapwatch_app_events_ingested_total{{{app}}}[$__rate_interval])\n)",
                "{{type}}")],
        ),
        Panel(
            "Banned features",
            "Banned features the app has (1) or not (0).",
            "none",
            [Target(f"max by (feature) (tapwatch_app_banned_feature{{{app}}})", instant=True)],
            type="table", width=24, height=6,
            table_columns={"feature": "Feature", "Value": "Present"},
        ),
    ]
    return Dashboard(
        APP_UID, "tapwatch / App detail",
        "One app: usage trend, organic against forced activity, findings and the shutdown "
        "score's breakdown.",
        panels,
        variables=[("app", "App", "label_values(tapwatch_app_info, app)", False)],
        links=_nav_links(cfg, "?app=${app}"),
    )


def forced_usage(cfg: MixinConfig) -> Dashboard:
    """Forced-usage findings across the fleet, by kind, region and owner."""
    sel = f'app=~"$app", {NOT_FORCED}'
    by_region = (
        f"sum by (region) (\n  tapwatch_findings_open{{{sel}}}\n"
        "  * on (app) group_left (region) max by (app, region) (tapwatch_app_info)\n)"
    )
    by_owner = (
        f"sum by (owner) (\n  tapwatch_findings_open{{{sel}}}\n"
        "  * on (app) group_left (owner) max by (app, owner) (tapwatch_app_info)\n)"
    )
    panels = [
        Panel(
            "Forced-usage findings raised by kind",
            "New findings per forced-usage kind (bulk check-ins, device farms, deadline "
            "crowding, ritual usage, clockwork timing, study inflation, flat reads, duplicate "
            "reporting, banned features).",
            "short",
            [Target(
                f"sum by (kind) (increase(tapwatch_findings_total{{{sel}}}[$__rate_interval]))",
                "{{kind}}")],
            width=24, bars=True, stacked=True,
        ),
        Panel(
            "Open forced-usage findings by kind", "Open findings per kind over time.", "short",
            [Target(f"sum by (kind) (tapwatch_findings_open{{{sel}}})", "{{kind}}")],
        ),
        Panel(
            "Forced share of activity by app",
            "Share of each app's activity attributed to forced usage.",
            "percentunit",
            [Target('tapwatch_app_forced_activity_ratio{app=~"$app"}', "{{app}}")],
            min=0, max=1,
        ),
        Panel(
            "Open forced-usage findings by region", "Open findings summed per region.",
            "short", [Target(f"sort_desc({by_region})", "{{region}}", instant=True)],
            type="bargauge", width=8,
        ),
        Panel(
            "Open forced-usage findings by owner",
            "Open findings summed per owning unit: where to talk about burden first.",
            "short", [Target(f"sort_desc({by_owner})", "{{owner}}", instant=True)],
            type="bargauge", width=8,
        ),
        Panel(
            "Apps per banned feature",
            "How many of the selected apps have each banned feature.",
            "short",
            [Target('sum by (feature) (tapwatch_app_banned_feature{app=~"$app"})',
                    "{{feature}}", instant=True)],
            type="bargauge", width=8,
        ),
        Panel(
            "Open forced-usage findings by app",
            "Every app with open forced-usage findings, per kind. Click a row for the "
            "evidence on the findings page.",
            "short",
            [Target(
                "max by (app, name, owner, region, kind) (\n"
                f"  (tapwatch_findings_open{{{sel}}} > 0)\n"
                f"  * on (app) group_left (name, owner, region) {APP_INFO}\n)",
                instant=True)],
            type="table", width=16, height=10, sparse=True, lists_problems=True,
            table_columns={
                "app": "App", "name": "Name", "owner": "Owner", "region": "Region",
                "kind": "Kind", "Value": "Open findings",
            },
            data_links=[_findings_link(cfg, "${__data.fields.kind}")],
        ),
        Panel(
            "Duplicate filings by app",
            "Filings in the last 7 days of content the reporting unit had already filed on "
            "another registered app: the same report filed twice. Which units filed them is "
            "in each app's duplicate_reporting findings.",
            "short",
            [Target('sort_desc(max by (app) (tapwatch_app_duplicate_filings{app=~"$app"}))',
                    "{{app}}", instant=True)],
            type="bargauge", width=8, height=10,
            data_links=[_findings_link(cfg, "duplicate_reporting", app="${__field.labels.app}")],
        ),
        Panel(
            "Organic vs reported active accounts (7d)",
            "Across the selected apps: active accounts the apps report against the organic "
            "ones left after removing forced activity.",
            "short",
            [
                Target('sum(tapwatch_app_active_accounts{app=~"$app", window="7d"})',
                       "reported"),
                Target('sum(tapwatch_app_organic_active_accounts{app=~"$app", window="7d"})',
                       "organic"),
            ],
            width=24,
        ),
    ]
    return Dashboard(
        FORCED_UID, "tapwatch / Forced usage",
        "Patterns that show usage is forced (bulk check-ins, device farms, deadline crowding, "
        "ritual usage ...) by kind, region and owner.",
        panels,
        variables=[("app", "App", "label_values(tapwatch_app_info, app)", True)],
        links=_nav_links(cfg),
    )


def collector_health(cfg: MixinConfig) -> Dashboard:
    """Is tapwatch itself collecting: polls, errors, lag, store health, reloads, shards."""
    job = cfg.job_selector
    sel = 'app=~"$app"'
    panels = [
        Panel(
            "tapwatch targets up", "Whether Prometheus can scrape each tapwatch instance.",
            "bool_yes_no", [Target(f"up{{{job}}}", "{{instance}}", instant=True)],
            type="stat", width=6, height=4,
        ),
        Panel(
            "Apps polled successfully", "Apps whose last poll succeeded, of those selected.",
            "short",
            [
                Target(f"sum(tapwatch_app_up{{{sel}}})", "up", instant=True),
                Target(f"count(tapwatch_app_up{{{sel}}})", "selected", instant=True),
            ],
            type="stat", width=6, height=4,
        ),
        Panel(
            "Stale apps", "Apps whose last good data is older than three poll intervals.",
            "short", [Target(f"sum(tapwatch_app_stale{{{sel}}})", "stale", instant=True)],
            type="stat", width=4, height=4, text_mode="value",
        ),
        Panel(
            "Shards reporting",
            "Distinct shard ordinals reporting against the configured shard count.",
            "short",
            [
                Target('count(count_values("ordinal", tapwatch_shard_ordinal))', "reporting",
                       instant=True),
                Target("max(tapwatch_total_shards)", "expected", instant=True),
            ],
            type="stat", width=4, height=4,
        ),
        Panel(
            "Last config reload succeeded",
            "Whether the last configuration reload of each instance succeeded; after a failed "
            "reload tapwatch keeps the last good configuration.",
            "bool_yes_no",
            [Target("tapwatch_config_last_reload_successful", "{{instance}}", instant=True)],
            type="stat", width=4, height=4,
        ),
        Panel(
            "App poll success",
            "1 when the app's last poll succeeded, 0 when it failed.",
            "none", [Target(f"tapwatch_app_up{{{sel}}}", "{{app}}")], min=0, max=1,
        ),
        Panel(
            "Poll errors by reason",
            "Failed polls per second by reason (auth, timeout, connect, http_status, decode, "
            "schema, too_large, rate_limited).",
            "cps",
            [Target(
                "sum by (reason) (\n"
                f"  rate(tapwatch_app_scrape_errors_total{{{sel}}}[$__rate_interval])\n)",
                "{{reason}}")],
            stacked=True,
        ),
        Panel(
            "Poll duration", "How long each app's last poll took.", "s",
            [Target(f"tapwatch_app_scrape_duration_seconds{{{sel}}}", "{{app}}")],
        ),
        Panel(
            "Poll lag", "How late each app's last poll started against its schedule.", "s",
            [Target(f"tapwatch_app_poll_lag_seconds{{{sel}}}", "{{app}}")],
        ),
        Panel(
            "Age of last successful poll",
            "Time since each app was last polled successfully (apps never polled are left out).",
            "s",
            [Target(
                f"time() - (tapwatch_app_last_success_timestamp_seconds{{{sel}}} > 0)",
                "{{app}}")],
        ),
        Panel(
            "Events ingested",
            "Usage events accepted per second, per app.",
            "cps",
            [Target(
                "sum by (app) (\n"
                f"  rate(tapwatch_app_events_ingested_total{{{sel}}}[$__rate_interval])\n)",
                "{{app}}")],
        ),
        Panel(
            "Events rejected by reason",
            "Usage events refused per second by reason (missing or invalid fields, bad or "
            "future timestamps, duplicates ...).",
            "cps",
            [Target(
                "sum by (reason) (\n"
                f"  rate(tapwatch_app_events_rejected_total{{{sel}}}[$__rate_interval])\n)",
                "{{reason}}")],
            stacked=True,
        ),
        Panel(
            "Platform records skipped by kind",
            "Check-in platform records read but not stored as events, per second by kind: "
            "not made by a person on a phone (attendance machine, approval, system) or a "
            "missed check-in. Not errors; a sudden change says how the platform is used "
            "changed. Only platform check-in sources have them.",
            "cps",
            [Target(
                "sum by (kind) (\n"
                f"  rate(tapwatch_app_records_skipped_total{{{sel}}}[$__rate_interval])\n)",
                "{{kind}}")],
            stacked=True, sparse=True, source_kinds=("wecom_checkin", "dingtalk_attendance"),
        ),
        Panel(
            "Store takes writes",
            "Whether each instance's store takes writes. When it does not, polls wait (nothing "
            "is lost) and /readyz answers 503: see the failed writes by reason.",
            "bool_yes_no", [Target("tapwatch_store_healthy", "{{instance}}", instant=True)],
            type="stat", width=8, height=8,
        ),
        Panel(
            "Store failed writes by reason",
            "Failed store writes per second by reason: readonly (file or filesystem refuses "
            "writes), full (no space), io (I/O errors), corrupt (damaged file), locked "
            "(another process holds the write lock). Includes the probe write every 5 s "
            "while the store fails.",
            "cps",
            [Target(
                "sum by (instance, reason) (\n"
                "  rate(tapwatch_store_write_failures_total[$__rate_interval])\n) > 0",
                "{{instance}} {{reason}}")],
            width=16, sparse=True, stacked=True,
        ),
        Panel(
            "Store size", "Bytes on disk of the store (database and write-ahead log).", "bytes",
            [Target("tapwatch_store_size_bytes", "{{instance}}")], width=8,
        ),
        Panel(
            "Raw events held", "Raw events kept in the store's raw window.", "short",
            [Target("tapwatch_events_stored", "{{instance}}")], width=8,
        ),
        Panel(
            "De-duplication memory",
            "Memory of the de-duplication indexes by part (recent ids; filters of the ids "
            "in runs on disk) against store.dedup_memory.",
            "bytes",
            [
                Target("tapwatch_dedup_memory_bytes", "{{instance}} {{part}}"),
                Target("tapwatch_dedup_memory_limit_bytes", "{{instance}} limit"),
            ],
            width=8,
        ),
        Panel(
            "De-duplication lookups on disk",
            "Event ids looked up in the runs on disk per second (repeats of older ids, and "
            "a filter's false positives: a rise with no repeats means store.dedup_memory is "
            "short for the ids kept), and the blocks read for them.",
            "ops",
            [
                Target(
                    "rate(tapwatch_dedup_disk_lookups_total[$__rate_interval])",
                    "{{instance}} ids",
                ),
                Target(
                    "rate(tapwatch_dedup_disk_block_reads_total[$__rate_interval])",
                    "{{instance}} blocks",
                ),
            ],
            width=8,
        ),
        Panel(
            "De-duplication lookups per checked event",
            "Share of the events checked for duplicates (ingested, and rejected as "
            "duplicates) looked up in the runs on disk. Filters with room let about 0.05 % "
            "through, at their capacity 0.4 %; TapwatchDedupMemoryTooSmall fires above 1 % "
            "over an hour (raise store.dedup_memory: see the runbook).",
            "percentunit",
            [Target(dedup_lookup_share("$__rate_interval"), "{{instance}}")],
            width=8,
        ),
        Panel(
            "De-duplication ids by tier", "Stored ids indexed in memory and on disk.", "short",
            [Target("tapwatch_dedup_ids", "{{instance}} {{tier}}")], width=8,
        ),
        Panel(
            "Event loop lag",
            "How late the daemon's event loop ran a 0.5 s timer, last measured.", "s",
            [Target("tapwatch_event_loop_lag_seconds", "{{instance}}")], width=8,
        ),
        Panel(
            "Detector run duration", "How long the last detector run took.", "s",
            [Target("tapwatch_detect_duration_seconds", "{{instance}}")], width=8,
        ),
        Panel(
            "Age of last detector run", "Time since detectors last ran.", "s",
            [Target("time() - tapwatch_detect_last_run_timestamp_seconds", "{{instance}}")],
            width=8,
        ),
        Panel(
            "Build", "tapwatch and Python versions per instance.", "none",
            [Target("max by (instance, version, python) (tapwatch_build_info)", instant=True)],
            type="table", width=8,
            table_columns={"instance": "Instance", "version": "tapwatch", "python": "Python"},
        ),
    ]
    return Dashboard(
        COLLECTOR_UID, "tapwatch / Collector health",
        "tapwatch itself: poll success and errors, durations and lag, store health and size, "
        "config reloads, shards, event loop lag, events ingested and rejected.",
        panels,
        variables=[("app", "App", "label_values(tapwatch_app_info, app)", True)],
        links=_nav_links(cfg), time_from="now-6h",
    )


def _unit_override(column: str, unit: str) -> dict[str, Any]:
    return {
        "matcher": {"id": "byName", "options": column},
        "properties": [{"id": "unit", "value": unit}],
    }


def _findings_link(
    cfg: MixinConfig, kind: str | None, app: str = "${__data.fields.app}"
) -> dict[str, Any]:
    """A link to the app's findings page, of one kind or (kind None) of every kind."""
    url = f"{cfg.tapwatch_url}/findings?app={app}" + (f"&kind={kind}" if kind else "")
    return {"title": "Findings", "url": url, "targetBlank": True}


def dashboards(cfg: MixinConfig) -> list[Dashboard]:
    """All dashboards, in the order of their file names."""
    return [fleet_overview(cfg), app_detail(cfg), forced_usage(cfg), collector_health(cfg)]
