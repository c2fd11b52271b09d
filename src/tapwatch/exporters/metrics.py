"""The daemon's /metrics page, rendered from its state after ingest and detect cycles.

Labels are app-level only (app, and bounded enums: reason, type, window, kind, severity,
band, feature, signal; owner/region/category only on the info series). Never an account,
device, point or finding id. tapwatch polls apps on its own schedule, so no sample carries
a timestamp: `tapwatch_app_last_success_timestamp_seconds` says how old the data is.
"""

from __future__ import annotations

import platform
from typing import TYPE_CHECKING

from tapwatch import __version__
from tapwatch.events import EventType, RejectReason
from tapwatch.exporters.exposition import Exposition
from tapwatch.sources.base import ErrorReason

if TYPE_CHECKING:
    from tapwatch.daemon.runtime import Daemon

ERROR_REASONS = [r.value for r in ErrorReason] + ["internal"]
EVENT_TYPES = [t.name for t in EventType]
REJECT_REASONS = [r.value for r in RejectReason]
WINDOWS = ("1d", "7d", "30d")
BANDS = ("candidate", "review", "keep", "insufficient_data", "exempt")


def render_metrics(d: Daemon) -> bytes:
    """Render the whole page. Cheap enough to run after every cycle, never per request."""
    x = Exposition()
    now = d.clock()
    apps = [a for a in d.my_apps() if a.id in d.states]
    states = {a.id: d.states[a.id] for a in apps}
    det = d.detect
    result = det.result
    metrics = getattr(result, "metrics", {}) if result is not None else {}
    assessments = getattr(result, "assessments", {}) if result is not None else {}
    snapshots = det.snapshots or {}
    active = det.active_accounts or {}

    x.family(
        "tapwatch_build_info",
        "gauge",
        "tapwatch build: version and Python, value 1.",
        [({"version": __version__, "python": platform.python_version()}, 1)],
    )
    x.family(
        "tapwatch_config_last_reload_successful",
        "gauge",
        "1 if the last config load or reload succeeded; 0 means the last good config is in use.",
        [({}, 1 if d.reload_status.successful else 0)],
    )
    x.family(
        "tapwatch_config_last_reload_success_timestamp_seconds",
        "gauge",
        "Time of the last successful config load or reload.",
        [({}, d.reload_status.last_success)],
    )
    x.family(
        "tapwatch_apps_configured",
        "gauge",
        "Apps in the registry that this shard polls.",
        [({}, len(apps))],
    )
    x.family("tapwatch_shard_ordinal", "gauge", "This daemon's shard number.", [({}, d.shard)])
    x.family("tapwatch_shard_total", "gauge", "Total number of shards.", [({}, d.total_shards)])
    x.family(
        "tapwatch_store_size_bytes",
        "gauge",
        "Bytes on disk of the embedded store (database and write-ahead log).",
        [({}, d.store.writer.size_bytes())],
    )
    x.family(
        "tapwatch_events_stored",
        "gauge",
        "Raw events held in the store (for evidence and detectors), as of the last detector pass.",
        [({}, det.raw_events)],
    )
    x.family(
        "tapwatch_event_loop_lag_seconds",
        "gauge",
        "How late the event loop ran a 0.5 s timer, last measured.",
        [({}, d.loop_lag)],
    )

    # ---- per app: registry ------------------------------------------------------
    x.family(
        "tapwatch_app_info",
        "gauge",
        "Registry entry of each app, value 1; join on app for name, owner, region, category.",
        [
            (
                {
                    "app": a.id,
                    "name": a.name,
                    "owner": a.owner,
                    "region": a.region,
                    "category": a.category,
                },
                1,
            )
            for a in apps
        ],
    )
    x.family(
        "tapwatch_app_intended_users",
        "gauge",
        "How many people the app is meant for (registry).",
        [({"app": a.id}, a.intended_users) for a in apps],
    )
    x.family(
        "tapwatch_app_annual_cost_cny",
        "gauge",
        "Annual cost of the app in CNY (registry).",
        [({"app": a.id}, a.annual_cost_cny) for a in apps if a.annual_cost_cny is not None],
    )
    x.family(
        "tapwatch_app_exempt",
        "gauge",
        "1 for security and emergency apps exempt from the feature rules (registry).",
        [({"app": a.id}, 1 if a.exempt else 0) for a in apps],
    )

    # ---- per app: collection ----------------------------------------------------
    polled = [(a, s) for a, s in ((a, states[a.id]) for a in apps) if s.up is not None]
    x.family(
        "tapwatch_app_up",
        "gauge",
        "1 if the last poll of the app succeeded, else 0 (absent before the first poll).",
        [({"app": a.id}, s.up) for a, s in polled],
    )
    x.family(
        "tapwatch_app_last_success_timestamp_seconds",
        "gauge",
        "Time the last successful poll of the app ended; data is at most this old.",
        [({"app": a.id}, s.last_success) for a, s in polled if s.last_success is not None],
    )
    x.family(
        "tapwatch_app_stale",
        "gauge",
        "1 when the app's last good data is older than three poll intervals.",
        [({"app": a.id}, 1 if s.stale(now) else 0) for a, s in polled],
    )
    x.family(
        "tapwatch_app_scrape_duration_seconds",
        "gauge",
        "Duration of the last poll of the app (all pages, fetch and store).",
        [({"app": a.id}, s.scrape_duration) for a, s in polled if s.scrape_duration is not None],
    )
    x.family(
        "tapwatch_app_poll_lag_seconds",
        "gauge",
        "How late the last poll of the app started against its schedule.",
        [({"app": a.id}, s.poll_lag) for a, s in polled],
    )
    x.family(
        "tapwatch_app_scrape_errors",
        "counter",
        "Failed polls of the app by reason (auth, timeout, connect, http_status, decode, "
        "schema, too_large, rate_limited, internal).",
        [
            ({"app": a.id, "reason": r}, states[a.id].errors.get(r, 0))
            for a in apps
            for r in ERROR_REASONS
        ],
    )
    x.family(
        "tapwatch_app_events_ingested",
        "counter",
        "Events stored for the app by type (each event once; persisted across restarts).",
        [
            ({"app": a.id, "type": t}, states[a.id].ingested.get(t, 0))
            for a in apps
            for t in EVENT_TYPES
        ],
    )
    x.family(
        "tapwatch_app_events_rejected",
        "counter",
        "Events of the app not stored, by reason (malformed, out of range, duplicate id...).",
        [
            ({"app": a.id, "reason": r}, states[a.id].rejected.get(r, 0))
            for a in apps
            for r in REJECT_REASONS
        ],
    )
    x.family(
        "tapwatch_app_registered_accounts",
        "gauge",
        "Registered accounts as the app reports them (last snapshot, as of the last "
        "detector pass).",
        [
            ({"app": a.id}, snapshots[a.id].registered_accounts)
            for a in apps
            if a.id in snapshots and snapshots[a.id].registered_accounts is not None
        ],
    )
    x.family(
        "tapwatch_app_active_accounts",
        "gauge",
        "Accounts active in the last 1, 7 or 30 local days: counted by tapwatch from events, "
        "or the app's own figure where it sends no events. As of the last detector pass.",
        [
            ({"app": app_id, "window": w}, v)
            for app_id, by_w in sorted(active.items())
            if app_id in states
            for w, v in by_w.items()
        ],
    )

    # ---- per app: detectors -----------------------------------------------------
    totals = det.finding_totals or {}
    x.family(
        "tapwatch_findings",
        "counter",
        "Findings raised, by app, kind and severity (each finding once).",
        [
            ({"app": app, "kind": k, "severity": s}, n)
            for (app, k, s), n in sorted(totals.items())
            if app in states
        ],
    )
    x.family(
        "tapwatch_findings_open",
        "gauge",
        "Findings open or confirmed (not dismissed or resolved), by app and kind.",
        [
            ({"app": app, "kind": k}, n)
            for (app, k), n in sorted((det.open_by_kind or {}).items())
            if app in states
        ],
    )
    m_apps = [(a, metrics[a.id]) for a in apps if a.id in metrics]
    x.family(
        "tapwatch_app_shutdown_score",
        "gauge",
        "Shutdown score 0-100 (candidate >= 70, review 50-69), recomputed each detector pass.",
        [({"app": a.id}, m.shutdown_score) for a, m in m_apps],
    )
    x.family(
        "tapwatch_app_assessment",
        "gauge",
        "1 for the app's current assessment band, 0 for the others.",
        [({"app": a.id, "band": b}, 1 if m.band == b else 0) for a, m in m_apps for b in BANDS],
    )
    x.family(
        "tapwatch_app_organic_active_accounts",
        "gauge",
        "Accounts with a meaningful action (not a check-in, like, ritual read or study "
        "timer) and not flagged by two or more forced-usage detectors, per window.",
        [
            ({"app": a.id, "window": w}, v)
            for a, m in m_apps
            for w, v in m.organic_active_accounts.items()
            if v is not None
        ],
    )
    x.family(
        "tapwatch_app_forced_activity_ratio",
        "gauge",
        "Share (0-1) of the app's recent activity by flagged accounts or in flagged events.",
        [
            ({"app": a.id}, m.forced_activity_ratio)
            for a, m in m_apps
            if m.forced_activity_ratio is not None
        ],
    )
    x.family(
        "tapwatch_app_banned_feature",
        "gauge",
        "1 if the app has a feature the 2026 management measures ban (check-in, points "
        "ranking, online duration), declared or seen in events.",
        [({"app": a.id, "feature": f}, v) for a, m in m_apps for f, v in m.banned_features.items()],
    )
    x.family(
        "tapwatch_app_shutdown_signal",
        "gauge",
        "Points each signal adds to the shutdown score (the score breakdown).",
        [
            ({"app": app_id, "signal": name}, sig.points)
            for app_id, asm in sorted(assessments.items())
            if app_id in states
            for name, sig in asm.signals.items()
        ],
    )
    burden = getattr(result, "unit_burden", {}) if result is not None else {}
    x.family(
        "tapwatch_unit_duplicate_reports",
        "gauge",
        "Duplicate filings per week by reporting unit (an organisation, not a person): the "
        "same content submitted to two or more registered apps.",
        [({"unit": u}, v) for u, v in sorted(burden.items())],
    )
    x.family(
        "tapwatch_detect_duration_seconds",
        "gauge",
        "Duration of the last detector pass over this shard's apps.",
        [({}, det.duration_s)] if det.duration_s is not None else [],
    )
    x.family(
        "tapwatch_detect_last_run_timestamp_seconds",
        "gauge",
        "Time the last detector pass finished.",
        [({}, det.finished_at)] if det.finished_at is not None else [],
    )
    return x.render()
