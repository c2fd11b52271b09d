"""`tapwatch analyze`: the daemon's detectors, offline, over event files.

Inspectors receive data dumps. This reads JSONL/CSV event files (the usage API's field
names), pseudonymises them with the same keyed hash as the daemon, builds the same windows
and rollups (tapwatch.window), and runs the same engine. Given the daemon's key, time
and registry, it gives the daemon's findings for the same events.

Memory stays bounded on big dumps: rollups are merged chunk by chunk, and only the raw
window (default 7 days before the last event, or before --now) is kept as events.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import msgspec

from tapwatch.config import (
    AppConfig,
    ConfigError,
    DaemonFile,
    app_profile,
    load_apps_file,
    load_config,
)
from tapwatch.detectors.base import AppProfile, DailyUsage, DetectorInput
from tapwatch.events import (
    Event,
    EventRejected,
    decode_event,
    validate_wire,
    wire_from_mapping,
)
from tapwatch.pseudonym import Pseudonymizer, load_key
from tapwatch.sources.base import EventNormaliser
from tapwatch.sources.files import iter_records
from tapwatch.window import (
    EventWindow,
    account_days_from,
    app_hours_from,
    local_day_of,
    merge_rollup,
    rollup_rows,
)

DEFAULT_RAW_WINDOW = 7 * 86400.0
DEFAULT_ROLLUP_DAYS = 120
DEFAULT_HISTORY_DAYS = 400  # the store's default rollup retention


class AnalyzeError(Exception):
    pass


@dataclass
class AppData:
    """What is accumulated for one app while reading."""

    profile: AppProfile
    norm: EventNormaliser
    events: list[Event] = field(default_factory=list)
    acc: dict[tuple[int, str], list[float]] = field(default_factory=dict)
    hours: dict[tuple[int, int, int], int] = field(default_factory=dict)
    first_ts: float = float("inf")
    last_ts: float = float("-inf")
    rejected: Counter[str] = field(default_factory=Counter)

    def add(self, events: list[Event], keep_after: float | None, raw_window: float) -> None:
        if not events:
            return
        acc, hours = rollup_rows(events, self.profile.timezone)
        for k, r in acc.items():
            cur = self.acc.get(k)
            if cur is None:
                self.acc[k] = r
            else:
                merge_rollup(cur, r)
        for k, n in hours.items():
            self.hours[k] = self.hours.get(k, 0) + n
        self.first_ts = min(self.first_ts, min(e.ts for e in events))
        self.last_ts = max(self.last_ts, max(e.ts for e in events))
        self.events += events
        # keep only what can still fall in the raw window
        cut = keep_after if keep_after is not None else self.last_ts - raw_window
        if len(self.events) > 200_000 and self.events[0].ts < cut:
            self.events = [e for e in self.events if e.ts >= cut]


def load_registry(path: Path) -> tuple[list[AppConfig], DaemonFile | None]:
    """Apps from a daemon config (with its registry) or from a bare apps file; ConfigError
    with every problem, worded as check-config words them."""
    try:
        cfg = load_config(path)
        return [a.config for a in cfg.apps], cfg.daemon
    except ConfigError as daemon_err:
        import yaml

        try:  # which kind of file is it? (its shape only: values may be what is wrong)
            node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            raise daemon_err from None
        keys = (
            {k.value for k, _ in node.value} if isinstance(node, yaml.MappingNode) else set()
        )
        is_apps_file = isinstance(node, yaml.SequenceNode) or (
            bool(keys & {"apps", "id"}) and not keys & (set(DaemonFile.model_fields) - {"apps"})
        )
        if not is_apps_file:
            raise daemon_err from None
        return load_apps_file(path), None


NOW_FORMAT = "RFC 3339 with a UTC offset (2026-11-30T09:00:00+08:00) or epoch seconds"


def parse_now(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise AnalyzeError(f"--now {value!r}: expected {NOW_FORMAT}") from None
    if dt.tzinfo is None:
        raise AnalyzeError(f"--now {value!r} needs a UTC offset ({NOW_FORMAT})")
    return dt.timestamp()


class Analyzer:
    """Reads event files into per-app data, then runs the engine."""

    def __init__(
        self,
        pseudonymizer: Pseudonymizer,
        registry: list[AppConfig],
        daemon: DaemonFile | None,
        default_app: str | None,
        now: float | None,
    ) -> None:
        self.p = pseudonymizer
        self.daemon = daemon
        self.registry = {a.id: a for a in registry}
        self.default_app = default_app
        self.now = now
        self.apps: dict[str, AppData] = {}
        self.skipped: Counter[str] = Counter()
        self.raw_window = daemon.detect.raw_window if daemon else DEFAULT_RAW_WINDOW
        self.rollup_days = daemon.detect.rollup_days if daemon else DEFAULT_ROLLUP_DAYS
        # the assessment's long view reaches as far back as the daemon keeps rollups
        self.history_days = (
            int(daemon.store.rollup_retention // 86400) if daemon else DEFAULT_HISTORY_DAYS
        )
        self.read = 0

    def _app(self, app_id: str) -> AppData | None:
        data = self.apps.get(app_id)
        if data is None:
            if self.registry:
                if app_id not in self.registry:
                    return None
                profile = app_profile(self.registry[app_id], self.daemon)
            else:
                profile = AppProfile(id=app_id)
            # a dump has no clock: only events after --now (plus the daemon's default
            # 10 min skew) are refused, and nothing is too old
            now = self.now if self.now is not None else float("inf")
            norm = EventNormaliser(app_id, self.p, now, 600.0, 0.0)
            data = self.apps[app_id] = AppData(profile, norm)
        return data

    def read_file(self, path: Path, progress: bool) -> None:
        t0 = time.perf_counter()
        for chunk in iter_records(path):
            by_app: dict[str, list[Event]] = {}
            for rec in chunk:
                try:
                    if isinstance(rec, dict):
                        w = wire_from_mapping(rec)
                        ts, et = validate_wire(w)
                    else:
                        w, ts, et = decode_event(rec)
                except EventRejected as e:
                    self.skipped[f"rejected:{e.reason.value}"] += 1
                    continue
                app_id = w.app or self.default_app
                if app_id is None:
                    raise AnalyzeError(
                        f"{path}: an event has no `app` field; give --app or a registry"
                    )
                data = self._app(app_id)
                if data is None:
                    self.skipped[f"unknown app {app_id}"] += 1
                    continue
                ev = data.norm.accept(w, ts, et)
                if ev is not None:
                    by_app.setdefault(app_id, []).append(ev)
            for app_id, evs in by_app.items():
                keep_after = self.now - self.raw_window if self.now is not None else None
                self.apps[app_id].add(evs, keep_after, self.raw_window)
            self.read += len(chunk)
            if progress and self.read % 500_000 < len(chunk):
                rate = self.read / max(1e-9, time.perf_counter() - t0)
                print(f"  {path.name}: {self.read:,} events read ({rate:,.0f}/s)", file=sys.stderr)

    def inputs(self) -> list[DetectorInput]:
        out = []
        for app_id in sorted(self.apps):
            data = self.apps[app_id]
            if not data.events and not data.acc:
                continue
            now = self.now if self.now is not None else data_end(self.apps)
            tz = data.profile.timezone
            since_day = local_day_of(now, tz) - self.rollup_days
            history_day = local_day_of(now, tz) - self.history_days
            acc = {k: v for k, v in data.acc.items() if k[0] >= since_day}
            long = {k: v for k, v in data.acc.items() if k[0] >= history_day}
            hours = {k: v for k, v in data.hours.items() if k[0] >= since_day}
            window = EventWindow.from_events(
                app_id, (e for e in data.events if now - self.raw_window <= e.ts <= now)
            )
            out.append(
                DetectorInput(
                    app=data.profile,
                    now=now,
                    events=window,
                    account_days=account_days_from(acc),
                    app_hours=app_hours_from(hours),
                    snapshot=None,
                    data_since=data.first_ts,
                    history=DailyUsage.from_account_days(account_days_from(long)),
                )
            )
        return out


def data_end(apps: dict[str, AppData]) -> float:
    """Judge as of the last event of the whole dump (so every app shares one `now`)."""
    return max(a.last_ts for a in apps.values() if a.last_ts > float("-inf"))


def left_out(analyzer: Analyzer) -> tuple[Counter[str], Counter[str]]:
    """Events not analysed: (of apps missing from the registry by app, rejected by
    reason), the latter including those the normaliser refused (after --now)."""
    unknown: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for what, n in analyzer.skipped.items():
        if what.startswith("unknown app "):
            unknown[what.removeprefix("unknown app ")] += n
        else:
            rejected[what.removeprefix("rejected:")] += n
    for data in analyzer.apps.values():
        rejected.update(data.norm.rejected)
    return unknown, rejected


def describe_left_out(unknown: Counter[str], rejected: Counter[str]) -> str:
    """One sentence: how many events were left out and why, apps named."""
    parts = []
    if unknown:
        named = ", ".join(f"{app} ({n:,})" for app, n in unknown.most_common(10))
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        parts.append(
            f"{sum(unknown.values()):,} of apps not in the registry: {named}{more}"
        )
    if rejected:
        why = ", ".join(f"{reason} {n:,}" for reason, n in sorted(rejected.items()))
        parts.append(f"{sum(rejected.values()):,} rejected ({why})")
    total = sum(unknown.values()) + sum(rejected.values())
    return f"left out {total:,} events: " + "; ".join(parts) + "."


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def run_analyze(args: argparse.Namespace) -> int:
    from tapwatch.detectors.engine import run_fleet

    try:
        key = load_key(Path(args.key_file)) if args.key_file else secrets.token_bytes(32)
        registry: list[AppConfig] = []
        daemon: DaemonFile | None = None
        if args.registry:
            registry, daemon = load_registry(Path(args.registry))
        analyzer = Analyzer(Pseudonymizer(key), registry, daemon, args.app, parse_now(args.now))
        t0 = time.perf_counter()
        for f in args.files:
            path = Path(f)
            if not path.is_file():
                raise AnalyzeError(f"{path}: no such file")
            if not args.quiet:
                print(f"reading {path} ...", file=sys.stderr)
            analyzer.read_file(path, progress=not args.quiet)
        unknown, rejected = left_out(analyzer)
        if not analyzer.apps:
            raise AnalyzeError(
                "no events of a known app in the input"
                + (f" ({describe_left_out(unknown, rejected)})" if unknown or rejected else "")
            )
        # with --now, an event "from the future" is one after it: said as such
        after_now = rejected.pop("future_timestamp", 0) if args.now is not None else 0
        kept = analyzer.read - sum(unknown.values()) - sum(rejected.values()) - after_now
        if kept <= 0 and after_now:
            raise AnalyzeError(
                f"every event is after --now {args.now} ({after_now:,} of {analyzer.read:,}): "
                "--now is earlier than the data, nothing to judge"
            )
        if kept <= 0:
            why = describe_left_out(unknown, rejected)
            raise AnalyzeError(f"no event could be analysed: {why}")
        inputs = analyzer.inputs()
        t1 = time.perf_counter()
        result = run_fleet(inputs, daemon.detectors if daemon else None)
        t2 = time.perf_counter()
    except ConfigError as e:
        for line in e.errors:
            print(line, file=sys.stderr)
        n = len(e.errors)
        plural = "s" if n != 1 else ""
        print(f"tapwatch analyze: {n} error{plural} in the registry", file=sys.stderr)
        return 1
    except (AnalyzeError, OSError, ValueError) as e:
        print(f"tapwatch analyze: {e}", file=sys.stderr)
        return 1
    for f in result.failures:
        print(f"detector {f.kind} failed on {f.app}: {f.error}", file=sys.stderr)
    if not args.quiet:
        print(
            f"{analyzer.read:,} events read in {t1 - t0:.1f}s, detectors {t2 - t1:.1f}s.",
            file=sys.stderr,
        )
    if unknown or rejected:  # even with --quiet: the findings rest on fewer events
        print(f"warning: {describe_left_out(unknown, rejected)}", file=sys.stderr)
    if after_now:
        print(
            f"warning: {after_now:,} events after --now {args.now} were not judged.",
            file=sys.stderr,
        )
    rows = [("app", "band", "score", "confidence", "findings")]
    for app_id, a in sorted(result.assessments.items()):
        kinds = Counter(f.kind for f in result.findings if f.app == app_id)
        rows.append(
            (
                app_id,
                a.band,
                f"{a.score:.0f}",
                f"{a.confidence:.2f}",
                ", ".join(f"{k}×{n}" if n > 1 else k for k, n in sorted(kinds.items())),
            )
        )
    print(_table(rows))
    if result.findings:
        print()
        for f in result.findings:
            print(f"{f.app:24} {f.kind:22} {f.severity:8} {f.summary}")
    if args.json_out:
        doc = {
            "apps": [
                {
                    "app": a.app,
                    "band": a.band,
                    "score": a.score,
                    "confidence": a.confidence,
                    "reasons": msgspec.to_builtins(a.reasons),
                    "signals": msgspec.to_builtins(a.signals),
                    "window_start": a.window_start,
                    "window_end": a.window_end,
                }
                for _, a in sorted(result.assessments.items())
            ],
            "findings": msgspec.to_builtins(result.findings),
        }
        Path(args.json_out).write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    return 0

