"""`tapwatch analyze`: the daemon's detectors, offline, over a whole dump.

Inspectors receive data dumps (an export of a year of check-ins, several files, any
order). `analyze` reads JSONL/CSV event files (the usage API's field names) with the
daemon's normaliser and keyed pseudonyms, spills them to disk sorted into days
(`spill`: an external bucket sort, so input order does not matter), slides the daemon's
windows across the whole span with the same detectors and settings (`sweep`), merges the
findings of overlapping windows by id, and judges every app as of the end of the dump.
Memory is bounded by one window plus the rollups, not by the dump.

- `reader.py`: files -> validated, pseudonymised columns per app;
- `coding.py`: the reader's map from raw ids to their codes in the app's tables;
- `spill.py`: the bucket sort by time, on disk;
- `sweep.py`: the windows, the detectors, the merged findings, the final assessment;
- `cli.py`: the command line, the progress line, the report.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tapwatch.analyze.reader import AnalyzeError, DumpReader
from tapwatch.analyze.spill import TimeSpill
from tapwatch.analyze.sweep import SweepResult, SweepSettings, sweep
from tapwatch.config import (
    AppConfig,
    ConfigError,
    DaemonFile,
    app_profile,
    load_apps_file,
    load_config,
)
from tapwatch.detectors.base import AppProfile, UsageSnapshot
from tapwatch.pseudonym import Pseudonymizer

DEFAULT_RAW_WINDOW = 7 * 86400.0
DEFAULT_ROLLUP_DAYS = 120
DEFAULT_HISTORY_DAYS = 400  # the store's default rollup retention
#: days between two windows' ends: with the 7-day raw window, windows from Monday to
#: Monday, so each event is judged once in a raw window, every ISO week whole by the weekly
#: detectors, and a pattern across a Monday midnight found by both windows and merged
DEFAULT_STEP_DAYS = 7

__all__ = [
    "AnalyzeError",
    "AnalyzeReport",
    "analyze_files",
    "describe_left_out",
    "load_registry",
    "run_analyze",
]


def load_registry(path: Path) -> tuple[list[AppConfig], DaemonFile | None]:
    """Apps from a daemon config (with its registry) or from a bare apps file; ConfigError
    with every problem, worded as check-config words them."""
    try:
        cfg = load_config(path)
        return [a.config for a in cfg.apps], cfg.daemon
    except ConfigError as daemon_err:
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


@dataclass
class AnalyzeReport:
    """What `analyze_files` found, and what it read and left out."""

    sweep: SweepResult
    events: int  # accepted and judged
    records: int  # read
    rejected: dict[str, int]  # reason -> events (those after `now` apart)
    after_now: int  # events after --now (with the clock skew), not judged
    unknown_apps: dict[str, int]  # app -> events
    out_of_range: int  # before --since or from --until on
    span: tuple[float, float]  # first and last event judged
    end: float  # the instant the final pass judged at
    spill_bytes: int


def analyze_files(
    files: Iterable[Path],
    pseudonymizer: Pseudonymizer,
    *,
    registry: list[AppConfig] | None = None,
    daemon: DaemonFile | None = None,
    default_app: str | None = None,
    now: float | None = None,
    since: float | None = None,
    until: float | None = None,
    step_days: int = DEFAULT_STEP_DAYS,
    spill_dir: Path | None = None,
    snapshots: dict[str, UsageSnapshot] | None = None,
    on_read: Callable[[Path, int, int], None] | None = None,
    on_window: Callable[[int, int, int], None] | None = None,
) -> AnalyzeReport:
    """Judge a dump as the daemon would have judged the same events over their span.

    `now`: the instant of the final judgement (default: just after the last event, or
    `until`); events after it (beyond the daemon's clock skew) are rejected as it would.
    `since` / `until`: only events in [since, until) are read. `on_read(path, records,
    bytes)` and `on_window(done, total, events)` report progress."""
    files = list(files)
    reg = {a.id: a for a in registry or []}
    reader = DumpReader(
        pseudonymizer, set(reg) if reg else None, default_app, now, since=since, until=until
    )
    det = daemon.detect if daemon else None
    settings = SweepSettings(
        raw_window=det.raw_window if det else DEFAULT_RAW_WINDOW,
        rollup_days=det.rollup_days if det else DEFAULT_ROLLUP_DAYS,
        step_days=step_days,
        # the assessment's long view reaches as far back as the daemon keeps rollups
        history_days=(
            int(daemon.store.rollup_retention // 86400) if daemon else DEFAULT_HISTORY_DAYS
        ),
        detectors=dict(daemon.detectors) if daemon else {},
    )
    if not 1 <= step_days * 86400.0 <= settings.raw_window:
        raise AnalyzeError("the step between windows must be at least a day and not exceed "
                           f"the raw window ({settings.raw_window / 86400:g} days)")
    with tempfile.TemporaryDirectory(prefix="tapwatch-analyze-", dir=spill_dir) as tmp:
        spill = TimeSpill(Path(tmp), reader.tables)
        try:
            for path in files:
                if not path.is_file():
                    raise AnalyzeError(f"{path}: no such file")

                def progress(records: int, done: int, path: Path = path) -> None:
                    if on_read is not None:
                        on_read(path, records, done)

                for app_id, cols in reader.read(path, progress):
                    spill.add(app_id, cols)
            reader.forget_raw_ids()
            spill.first_codes = reader.first_codes()
            rejected = Counter(reader.rejected)
            # with --now, an event "from the future" is one after it: said as such
            after_now = rejected.pop("future_timestamp", 0) if now is not None else 0
            if spill.events == 0:
                raise AnalyzeError(_nothing_judged(reader, rejected, after_now, now))
            end = now if now is not None else (
                until if until is not None else float(np.nextafter(spill.last_ts, np.inf))
            )
            profiles = {a: _profile(a, reg, daemon) for a in spill.apps()}
            result = sweep(
                spill, profiles, settings, end, snapshots=snapshots, progress=on_window
            )
        finally:
            spill.close()
    return AnalyzeReport(
        sweep=result,
        events=spill.events - result.duplicates,
        records=reader.records,
        rejected=dict(rejected),
        after_now=after_now,
        unknown_apps=dict(reader.unknown_apps),
        out_of_range=reader.out_of_range,
        span=(spill.first_ts, spill.last_ts),
        end=end,
        spill_bytes=spill.bytes,
    )


def describe_left_out(unknown: Counter[str], rejected: Counter[str]) -> str:
    """One sentence: how many events were left out and why, apps named ("" if none)."""
    parts = []
    if unknown:
        named = ", ".join(f"{app} ({n:,})" for app, n in unknown.most_common(10))
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        parts.append(f"{sum(unknown.values()):,} of apps not in the registry: {named}{more}")
    if rejected:
        why = ", ".join(f"{reason} {n:,}" for reason, n in sorted(rejected.items()))
        parts.append(f"{sum(rejected.values()):,} rejected ({why})")
    if not parts:
        return ""
    total = sum(unknown.values()) + sum(rejected.values())
    return f"left out {total:,} events: " + "; ".join(parts) + "."


def _nothing_judged(
    reader: DumpReader, rejected: Counter[str], after_now: int, now: float | None
) -> str:
    """Why a dump gave no event to judge, in one line."""
    why = describe_left_out(reader.unknown_apps, rejected)
    if not reader.apps_read:
        return "no events of a known app in the input" + (f" ({why})" if why else "")
    if after_now and not rejected:
        assert now is not None
        at = datetime.fromtimestamp(now, UTC).isoformat()
        return (
            f"every event is after --now {at} ({after_now:,} of {reader.records:,}): --now is "
            "earlier than the data, nothing to judge"
        )
    if after_now:
        why = why.removesuffix(".") + f"; {after_now:,} after --now."
    if reader.out_of_range:
        why = (why.removesuffix(".") + "; " if why else "") + (
            f"{reader.out_of_range:,} outside --since/--until."
        )
    return f"no event could be analysed: {why}" if why else "no events in the input"


def _profile(app_id: str, reg: dict[str, AppConfig], daemon: DaemonFile | None) -> AppProfile:
    if app_id in reg:
        return app_profile(reg[app_id], daemon)
    return AppProfile(id=app_id)


def run_analyze(args: Any) -> int:
    """The `tapwatch analyze` command (see tapwatch.analyze.cli)."""
    from tapwatch.analyze.cli import main

    return main(args)
