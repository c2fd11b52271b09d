"""The `tapwatch analyze` command line: arguments, the progress line, the report."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import msgspec

from tapwatch.analyze import (
    DEFAULT_STEP_DAYS,
    AnalyzeError,
    analyze_files,
    describe_left_out,
    load_registry,
)
from tapwatch.config import AppConfig, ConfigError, DaemonFile
from tapwatch.pseudonym import Pseudonymizer, load_key
from tapwatch.timestamps import TimeError, parse_one


def add_arguments(a: argparse.ArgumentParser) -> None:
    """The options of `tapwatch analyze`."""
    a.add_argument("files", nargs="+", help="JSONL or CSV event files, in any order")
    a.add_argument("--registry", help="daemon config or apps file with the registry")
    a.add_argument("--app", help="app id for events without an `app` field")
    a.add_argument("--json", dest="json_out", help="write apps and findings as JSON here")
    a.add_argument(
        "--now", help="judge as of this time (RFC 3339 or epoch; default: the last event)"
    )
    a.add_argument("--since", help="read only events at or after this time (RFC 3339 or epoch)")
    a.add_argument("--until", help="read only events before this time (RFC 3339 or epoch)")
    a.add_argument(
        "--step",
        type=int,
        default=DEFAULT_STEP_DAYS,
        metavar="DAYS",
        help=f"days between two windows' ends (default {DEFAULT_STEP_DAYS}; at most the raw "
        "window)",
    )
    a.add_argument("--spill-dir", help="directory for the time-sorted copy of the dump")
    a.add_argument("--key-file", help="pseudonymisation key (default: a fresh random key)")
    a.add_argument("--quiet", action="store_true", help="no progress line, no summary")
    a.add_argument("--log-level", default="warning", choices=["debug", "info", "warning"])


TIME_FORMAT = "RFC 3339 with a UTC offset (2026-11-30T09:00:00+08:00) or epoch seconds"


def parse_time(option: str, value: str | None) -> float | None:
    """An option's time: epoch seconds, or RFC 3339 with an offset; AnalyzeError naming
    the option and the expected format otherwise."""
    if value is None:
        return None
    try:
        return parse_one(float(value) if _numeric(value) else value, option, TIME_FORMAT)
    except TimeError as e:
        raise AnalyzeError(str(e)) from None


def _numeric(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


class Progress:
    """One progress line on stderr: what is being done, share done, events/s, ETA.
    Rewritten in place on a terminal; otherwise a line every few seconds."""

    def __init__(self, out: TextIO, total_bytes: int) -> None:
        self.out = out
        self.total_bytes = max(total_bytes, 1)
        self.tty = out.isatty()
        self.every = 0.5 if self.tty else 5.0
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.done_bytes = 0  # of files finished
        self.phase_t0 = self.t0
        self.width = 0

    def read(self, path: Path, records: int, done: int) -> None:
        share = (self.done_bytes + done) / self.total_bytes
        if done >= path.stat().st_size:
            self.done_bytes += done
        self._show(f"reading {path.name}", share, records, self.t0)

    def window(self, done: int, total: int, events: int) -> None:
        if done == 1:
            self.phase_t0 = time.perf_counter()
        self._show(f"judging window {done}/{total}", done / total, events, self.phase_t0)

    def _show(self, what: str, share: float, events: int, since: float) -> None:
        now = time.perf_counter()
        if now - self.last < self.every and share < 1.0:
            return
        self.last = now
        took = max(now - since, 1e-9)
        rate = events / took
        eta = took * (1 - share) / share if share > 0 else float("inf")
        line = (
            f"{what}: {100 * share:5.1f} %, {events:,} events, {rate:,.0f} events/s, "
            f"ETA {_duration(eta)}"
        )
        if self.tty:
            self.out.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def end(self) -> None:
        if self.tty and self.width:
            self.out.write("\n")
            self.out.flush()


def _duration(s: float) -> str:
    if s == float("inf"):
        return "?"
    s = round(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _table(rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def main(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    try:
        key = load_key(Path(args.key_file)) if args.key_file else secrets.token_bytes(32)
        registry: list[AppConfig] = []
        daemon: DaemonFile | None = None
        if args.registry:
            registry, daemon = load_registry(Path(args.registry))
        files = [Path(f) for f in args.files]
        for path in files:
            if not path.is_file():
                raise AnalyzeError(f"{path}: no such file")
        size = sum(p.stat().st_size for p in files)
        progress = None if args.quiet else Progress(sys.stderr, size)
        try:
            report = analyze_files(
                files,
                Pseudonymizer(key),
                registry=registry,
                daemon=daemon,
                default_app=args.app,
                now=parse_time("--now", args.now),
                since=parse_time("--since", args.since),
                until=parse_time("--until", args.until),
                step_days=args.step,
                spill_dir=Path(args.spill_dir) if args.spill_dir else None,
                on_read=progress.read if progress else None,
                on_window=progress.window if progress else None,
            )
        finally:
            if progress is not None:
                progress.end()
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
    took = time.perf_counter() - t0
    result = report.sweep
    for f in result.failures:
        where = f"on {f.app}" if f.app else "across the fleet"
        print(f"detector {f.kind} failed {where}: {f.error}", file=sys.stderr)
    if not args.quiet:
        also = []
        if result.duplicates:
            also.append(f" {result.duplicates:,} repeated ids were counted once.")
        if report.out_of_range:
            also.append(f" {report.out_of_range:,} events outside --since/--until were not read.")
        print(
            f"{report.records:,} records read, {report.events:,} events judged in "
            f"{result.windows:,} windows from {_day(report.span[0])} to {_day(report.span[1])} "
            f"in {took:.1f} s." + "".join(also),
            file=sys.stderr,
        )
    left_out = describe_left_out(Counter(report.unknown_apps), Counter(report.rejected))
    if left_out:  # even with --quiet: the findings rest on fewer events
        print(f"warning: {left_out}", file=sys.stderr)
    if report.after_now:
        print(
            f"warning: {report.after_now:,} events after --now {args.now} were not judged.",
            file=sys.stderr,
        )
    final = result.final
    rows = [("app", "band", "score", "confidence", "findings")]
    for app_id, a in sorted(final.assessments.items()):
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
            "judged_at": report.end,
            "span": list(report.span),
            "windows": result.windows,
            "events": report.events,
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
                for _, a in sorted(final.assessments.items())
            ],
            "findings": msgspec.to_builtins(result.findings),
        }
        Path(args.json_out).write_text(json.dumps(doc, indent=1, ensure_ascii=False))
    return 0
