"""The daemon's /metrics page, rendered from its state after ingest and detect cycles.

Labels are app-level only (app, and bounded enums: reason, type, window, kind, band,
feature, signal; owner/region/category only on the info series). Never an account, device,
point, unit or finding id. Every app has every kind's findings series, 0 where it has none:
a panel of a healthy app shows zeros, not "no data". tapwatch polls apps on its own
schedule, so no sample carries a timestamp: `tapwatch_app_last_success_timestamp_seconds`
says how old the data is.

At fleet scale the page is megabytes. `MetricsRenderer` keeps each app's formatted lines
and re-formats only the apps whose state changed since the last render (a poll ended, a
detector pass finished, the registry was reloaded), so a render costs what changed.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tapwatch import __version__
from tapwatch.config import AppConfig
from tapwatch.detectors import FINDING_KINDS
from tapwatch.detectors import kinds as detector_kinds
from tapwatch.events import EventType, RejectReason
from tapwatch.exporters.exposition import Exposition, sample_lines
from tapwatch.exporters.store_health import store_health_families
from tapwatch.exporters.view import AppStateView, CollectorView, DetectView, LoginView
from tapwatch.sources.base import ErrorReason, SkipReason
from tapwatch.store.dedup_tiers import DedupSize

ERROR_REASONS = [r.value for r in ErrorReason] + ["internal"]
EVENT_TYPES = [t.name for t in EventType]
REJECT_REASONS = [r.value for r in RejectReason]
SKIP_KINDS = [k.value for k in SkipReason]
#: source kinds that read records they do not store (and count them)
SKIPPING_SOURCES = frozenset({"wecom_checkin", "dingtalk_attendance"})
WINDOWS = ("1d", "7d", "30d")
BANDS = ("candidate", "review", "keep", "insufficient_data", "exempt")

Samples = Iterable[tuple[Mapping[str, str], float]]


@dataclass(frozen=True)
class AppView:
    """One app as the renderer sees it."""

    app: AppConfig
    state: AppStateView
    det: DetectView
    stale: bool
    #: the app's findings raised and open, by kind (from the store, as of the last pass)
    raised: Mapping[str, int]
    open: Mapping[str, int]


@dataclass(frozen=True)
class AppFamily:
    name: str
    kind: str
    help: str
    samples: Callable[[AppView], Samples]


def _polled(fn: Callable[[AppView], Samples]) -> Callable[[AppView], Samples]:
    """Collection series exist only once the app has been polled."""
    return lambda v: fn(v) if v.state.up is not None else ()


def _one(v: AppView, value: float | None) -> Samples:
    return () if value is None else (({"app": v.app.id}, value),)


def _detect(v: AppView, attr: str) -> Any:
    """The app's value of a FleetResult attribute (metrics/assessments), or None."""
    result = v.det.result
    return None if result is None else getattr(result, attr).get(v.app.id)


def _metric(v: AppView) -> Any:
    return _detect(v, "metrics")


def _by_app(det: DetectView) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """Findings raised (over every severity) and open, app -> kind -> n."""
    raised: dict[str, dict[str, int]] = {}
    for (app, kind, _severity), n in (det.finding_totals or {}).items():
        per = raised.setdefault(app, {})
        per[kind] = per.get(kind, 0) + n
    opened: dict[str, dict[str, int]] = {}
    for (app, kind), n in (det.open_by_kind or {}).items():
        opened.setdefault(app, {})[kind] = n
    return raised, opened


APP_FAMILIES: tuple[AppFamily, ...] = (
    AppFamily(
        "tapwatch_app_info",
        "gauge",
        "Registry entry of each app, value 1; join on app for name, owner, region, category.",
        lambda v: (
            (
                {
                    "app": v.app.id,
                    "name": v.app.name,
                    "owner": v.app.owner,
                    "region": v.app.region,
                    "category": v.app.category,
                },
                1,
            ),
        ),
    ),
    AppFamily(
        "tapwatch_app_intended_users",
        "gauge",
        "How many people the app is meant for (registry).",
        lambda v: _one(v, v.app.intended_users),
    ),
    AppFamily(
        "tapwatch_app_annual_cost_cny",
        "gauge",
        "Annual cost of the app in CNY (registry).",
        lambda v: _one(v, v.app.annual_cost_cny),
    ),
    AppFamily(
        "tapwatch_app_exempt",
        "gauge",
        "1 for security and emergency apps exempt from the feature rules (registry).",
        lambda v: _one(v, 1 if v.app.exempt else 0),
    ),
    AppFamily(
        "tapwatch_app_up",
        "gauge",
        "1 if the last poll of the app succeeded, else 0 (absent before the first poll).",
        _polled(lambda v: _one(v, v.state.up)),
    ),
    AppFamily(
        "tapwatch_app_last_success_timestamp_seconds",
        "gauge",
        "Time the last successful poll of the app ended; data is at most this old.",
        _polled(lambda v: _one(v, v.state.last_success)),
    ),
    AppFamily(
        "tapwatch_app_stale",
        "gauge",
        "1 when the app's last good data is older than three poll intervals.",
        _polled(lambda v: _one(v, 1 if v.stale else 0)),
    ),
    AppFamily(
        "tapwatch_app_scrape_duration_seconds",
        "gauge",
        "Duration of the last poll of the app (all pages, fetch and store).",
        _polled(lambda v: _one(v, v.state.scrape_duration)),
    ),
    AppFamily(
        "tapwatch_app_poll_lag_seconds",
        "gauge",
        "How late the last poll of the app started against its schedule.",
        _polled(lambda v: _one(v, v.state.poll_lag)),
    ),
    AppFamily(
        "tapwatch_app_scrape_errors",
        "counter",
        "Failed polls of the app by reason (auth, timeout, connect, http_status, decode, "
        "schema, too_large, rate_limited, internal).",
        lambda v: (
            ({"app": v.app.id, "reason": r}, v.state.errors.get(r, 0)) for r in ERROR_REASONS
        ),
    ),
    AppFamily(
        "tapwatch_app_events_ingested",
        "counter",
        "Events stored for the app by type (each event once; persisted across restarts).",
        lambda v: (({"app": v.app.id, "type": t}, v.state.ingested.get(t, 0)) for t in EVENT_TYPES),
    ),
    AppFamily(
        "tapwatch_app_events_rejected",
        "counter",
        "Events of the app not stored, by reason (malformed, out of range, duplicate id...).",
        lambda v: (
            ({"app": v.app.id, "reason": r}, v.state.rejected.get(r, 0)) for r in REJECT_REASONS
        ),
    ),
    AppFamily(
        "tapwatch_app_records_skipped",
        "counter",
        "Check-in platform records read but not stored as events, by kind: not made by a "
        "person on a phone (attendance machine, approval, system...) or a missed check-in. "
        "Only for platform check-in sources.",
        lambda v: (
            (({"app": v.app.id, "kind": k}, v.state.skipped.get(k, 0)) for k in SKIP_KINDS)
            if v.app.source.kind in SKIPPING_SOURCES
            else ()
        ),
    ),
    AppFamily(
        "tapwatch_app_registered_accounts",
        "gauge",
        "Registered accounts as the app reports them (last snapshot, as of the last "
        "detector pass).",
        lambda v: _one(
            v, getattr((v.det.snapshots or {}).get(v.app.id), "registered_accounts", None)
        ),
    ),
    AppFamily(
        "tapwatch_app_active_accounts",
        "gauge",
        "Accounts active in the last 1, 7 or 30 local days: counted by tapwatch from events, "
        "or the app's own figure where it sends no events. As of the last detector pass.",
        lambda v: (
            ({"app": v.app.id, "window": w}, n)
            for w, n in (v.det.active_accounts or {}).get(v.app.id, {}).items()
        ),
    ),
    AppFamily(
        "tapwatch_findings",
        "counter",
        "Findings raised for the app, by kind (each finding once; 0 for kinds never raised).",
        lambda v: (
            ({"app": v.app.id, "kind": k}, v.raised.get(k, 0)) for k in FINDING_KINDS
        ),
    ),
    AppFamily(
        "tapwatch_findings_open",
        "gauge",
        "Findings open or confirmed (not dismissed or resolved), by app and kind (0 for "
        "kinds with none).",
        lambda v: (
            ({"app": v.app.id, "kind": k}, v.open.get(k, 0)) for k in FINDING_KINDS
        ),
    ),
    AppFamily(
        "tapwatch_app_duplicate_filings",
        "gauge",
        "Filings on the app in the last 7 days of content its reporting unit had already "
        "filed on another registered app (the same report filed twice; per unit in the "
        "findings API). As of the last detector pass.",
        lambda v: (
            ({"app": v.app.id, "window": "7d"}, n)
            for n in (_detect(v, "duplicate_filings"),)
            if n is not None
        ),
    ),
    AppFamily(
        "tapwatch_app_shutdown_score",
        "gauge",
        "Shutdown score 0-100 (candidate >= 70, review 50-69), recomputed each detector pass.",
        lambda v: _one(v, m.shutdown_score) if (m := _metric(v)) else (),
    ),
    AppFamily(
        "tapwatch_app_assessment",
        "gauge",
        "1 for the app's current assessment band, 0 for the others.",
        lambda v: (
            (({"app": v.app.id, "band": b}, 1 if m.band == b else 0) for b in BANDS)
            if (m := _metric(v))
            else ()
        ),
    ),
    AppFamily(
        "tapwatch_app_organic_active_accounts",
        "gauge",
        "Accounts with a meaningful action (not a check-in, like, ritual read or study "
        "timer) and not flagged by two or more forced-usage detectors, per window.",
        lambda v: (
            (
                ({"app": v.app.id, "window": w}, n)
                for w, n in m.organic_active_accounts.items()
                if n is not None
            )
            if (m := _metric(v))
            else ()
        ),
    ),
    AppFamily(
        "tapwatch_app_forced_activity_ratio",
        "gauge",
        "Share (0-1) of the app's recent activity by flagged accounts or in flagged events.",
        lambda v: _one(v, m.forced_activity_ratio) if (m := _metric(v)) else (),
    ),
    AppFamily(
        "tapwatch_app_banned_feature",
        "gauge",
        "1 if the app has a feature the 2026 management measures ban (check-in, points "
        "ranking, online duration), declared or seen in events.",
        lambda v: (
            (({"app": v.app.id, "feature": f}, n) for f, n in m.banned_features.items())
            if (m := _metric(v))
            else ()
        ),
    ),
    AppFamily(
        "tapwatch_app_consolidation_group",
        "gauge",
        "1 while the app is in a group of apps of its region that serve the same users for "
        "the same job (consolidation); `keep` names the group's app to keep (the most real "
        "use). As of the last detector pass.",
        lambda v: (
            (({"app": v.app.id, "keep": m.consolidation_keep}, 1),)
            if (m := _metric(v)) and m.consolidation_keep
            else ()
        ),
    ),
    AppFamily(
        "tapwatch_app_consolidation_annual_cost_cny",
        "gauge",
        "Combined annual cost of the consolidation group the app is in (absent when none).",
        lambda v: _one(v, m.consolidation_cost_cny) if (m := _metric(v)) else (),
    ),
    AppFamily(
        "tapwatch_app_ritual_round_accounts",
        "gauge",
        "Accounts that open the app in a daily round with other apps, minutes apart, day "
        "after day (ritual_rounds); 0 for none. As of the last detector pass.",
        lambda v: _one(v, m.ritual_round_accounts) if (m := _metric(v)) else (),
    ),
    AppFamily(
        "tapwatch_app_shutdown_signal",
        "gauge",
        "Points each signal adds to the shutdown score (the score breakdown).",
        lambda v: (
            (({"app": v.app.id, "signal": k}, sig.points) for k, sig in a.signals.items())
            if (a := _detect(v, "assessments"))
            else ()
        ),
    ),
)


class MetricsRenderer:
    """Renders the page, keeping each app's formatted lines until the app changes."""

    def __init__(self) -> None:
        self._apps: dict[str, tuple[tuple[Any, ...], list[str]]] = {}
        #: findings by app, worked out once per detector pass
        self._findings: tuple[int, tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]]
        self._findings = (-1, ({}, {}))

    def _app_lines(self, v: AppView, key: tuple[Any, ...]) -> list[str]:
        hit = self._apps.get(v.app.id)
        if hit is not None and hit[0] == key:
            return hit[1]
        lines = [sample_lines(f.name, f.kind, f.samples(v)) for f in APP_FAMILIES]
        self._apps[v.app.id] = (key, lines)
        return lines

    def render(self, d: CollectorView) -> Exposition:
        """Render the whole page; cheap enough to run after every cycle, never per request."""
        now = d.clock()
        det = d.detect
        x = Exposition()
        self._daemon_families(x, d)
        if self._findings[0] != det.version:
            self._findings = (det.version, _by_app(det))
        raised, opened = self._findings[1]
        per_app = []
        for app in d.my_apps():
            st = d.states.get(app.id)
            if st is None:
                continue
            v = AppView(
                app=app,
                state=st,
                det=det,
                stale=st.stale(now),
                raised=raised.get(app.id, {}),
                open=opened.get(app.id, {}),
            )
            # what the app's lines depend on: its state, the detector pass, its registry
            # entry (only a reload changes it) and the clock only through `stale`
            key = (st.version, det.version, d.reload_status.generation, v.stale)
            per_app.append(self._app_lines(v, key))
        live = {a.id for a in d.my_apps()}
        for gone in self._apps.keys() - live:
            del self._apps[gone]
        for i, f in enumerate(APP_FAMILIES):
            x.family_text(f.name, f.kind, f.help, (lines[i] for lines in per_app))
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
        x.family(
            "tapwatch_detector_failures",
            "counter",
            "Detector runs that raised since start, by detector kind (the pass goes on; the "
            "log says once which app and why).",
            [({"kind": k}, det.failures.get(k, 0)) for k in detector_kinds()],
        )
        return x

    @staticmethod
    def _daemon_families(x: Exposition, d: CollectorView) -> None:
        x.family(
            "tapwatch_build_info",
            "gauge",
            "tapwatch build: version and Python, value 1.",
            [({"version": __version__, "python": platform.python_version()}, 1)],
        )
        x.family(
            "tapwatch_config_last_reload_successful",
            "gauge",
            "1 if the last config load or reload succeeded; 0 means the last good config is "
            "in use.",
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
            [({}, sum(1 for a in d.my_apps() if a.id in d.states))],
        )
        x.family("tapwatch_shard_ordinal", "gauge", "This daemon's shard number.", [({}, d.shard)])
        x.family(
            "tapwatch_total_shards",
            "gauge",
            "How many shards the fleet is split into (--total-shards).",
            [({}, d.total_shards)],
        )
        x.family(
            "tapwatch_store_size_bytes",
            "gauge",
            "Bytes on disk of the embedded store (database and write-ahead log).",
            [({}, d.store_size_bytes())],
        )
        _dedup_families(x, d.dedup_size())
        store_health_families(x, d.store_health)
        x.family(
            "tapwatch_events_stored",
            "gauge",
            "Raw events held in the store (for evidence and detectors), as of the last "
            "detector pass.",
            [({}, d.detect.raw_events)],
        )
        x.family(
            "tapwatch_event_loop_lag_seconds",
            "gauge",
            "How late the event loop ran a 0.5 s timer, last measured.",
            [({}, d.loop_lag)],
        )
        _auth_families(x, d.logins())


def _dedup_families(x: Exposition, s: DedupSize) -> None:
    """De-duplication's tiers: memory against its limit, ids per tier, runs on disk, and
    the lookups that went to disk (a filter too full for its ids shows there first)."""
    x.family(
        "tapwatch_dedup_memory_bytes",
        "gauge",
        "Memory held by de-duplication's indexes, by part: recent (the ids in memory) or "
        "filter (the filters of the ids in runs on disk).",
        [({"part": "recent"}, s.memory_tier_bytes), ({"part": "filter"}, s.filter_bytes)],
    )
    x.family(
        "tapwatch_dedup_memory_limit_bytes",
        "gauge",
        "store.dedup_memory: the bound of tapwatch_dedup_memory_bytes (half for each part).",
        [({}, s.limit_bytes)],
    )
    x.family(
        "tapwatch_dedup_ids",
        "gauge",
        "Stored event ids indexed for de-duplication, by tier: memory or disk (apps "
        "ingested since start).",
        [({"tier": "memory"}, s.memory_ids), ({"tier": "disk"}, s.disk_ids)],
    )
    x.family(
        "tapwatch_dedup_disk_runs",
        "gauge",
        "Sorted runs of id keys on disk (apps ingested since start).",
        [({}, s.disk_runs)],
    )
    x.family(
        "tapwatch_dedup_disk_lookups",
        "counter",
        "Event ids looked up in the runs on disk since start (they passed the filter: "
        "repeats of older ids, and false positives of a filter short of memory).",
        [({}, s.disk_lookups)],
    )
    x.family(
        "tapwatch_dedup_disk_block_reads",
        "counter",
        "Blocks of runs read from the store by those lookups since start.",
        [({}, s.disk_block_reads)],
    )
    x.family(
        "tapwatch_dedup_seals",
        "counter",
        "Times recent ids were moved from memory into a run on disk since start.",
        [({}, s.seals)],
    )
    x.family(
        "tapwatch_dedup_seal_failures",
        "counter",
        "Moves of recent ids to disk that failed (the store refused the write) since start.",
        [({}, s.seal_failures)],
    )


def _auth_families(x: Exposition, auth: LoginView) -> None:
    """Logins refused and the state of the users file and web config."""
    x.family(
        "tapwatch_auth_failures",
        "counter",
        "Logins with a wrong user name or password (or a malformed Authorization header) "
        "since start, by realm: metrics (the web config's basic_auth_users) or findings "
        "(the users file).",
        [({"realm": r}, n) for r, n in auth.failures.items()],
    )
    x.family(
        "tapwatch_auth_refused",
        "counter",
        "Logins answered 429 without a password check since start (too many attempts at "
        "once for one user and address, or the check queue full), by realm.",
        [({"realm": r}, n) for r, n in auth.refused.items()],
    )
    x.family(
        "tapwatch_auth_password_checks",
        "counter",
        "bcrypt checks run since start (remembered successes need none).",
        [({}, auth.password_checks)],
    )
    for name, f, help_text in (
        (
            "tapwatch_web_config",
            auth.web_config,
            "1 if the last read of the web config and its TLS files succeeded; 0 means the "
            "last good version (and certificate) is in use. Absent without a web config.",
        ),
        (
            "tapwatch_users_file",
            auth.users_file,
            "1 if the last read of the users file succeeded; 0 means its last good version "
            "is in use, or the file was removed and nobody can log in. Absent without one.",
        ),
    ):
        x.family(
            f"{name}_last_reload_successful",
            "gauge",
            help_text,
            [({}, 1 if f.ok else 0)] if f is not None else [],
        )
        x.family(
            f"{name}_last_reload_success_timestamp_seconds",
            "gauge",
            "Unix time the version in use was read (at start, or at its last good change).",
            [({}, f.last_success)] if f is not None else [],
        )


def render_metrics(d: CollectorView) -> bytes:
    """Render the page from scratch (no kept lines), in the text format."""
    return MetricsRenderer().render(d).render()
