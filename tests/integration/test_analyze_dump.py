"""`tapwatch analyze` over a whole dump: every window judged, order of input irrelevant,
--since/--until, the progress line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from tapwatch.analyze import AnalyzeReport, analyze_files
from tapwatch.analyze.sweep import AppInputs, SweepSettings
from tapwatch.columns import Tables
from tapwatch.detectors.base import AppProfile
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator.dumps import START, DumpTruth, Ring, write_checkin_dump
from tapwatch.sources.normalise import EventNormaliser
from tapwatch.window import DAY, local_day_of

KEY = b"dump-test-key-0123456789"
RINGS = [Ring(day=2, point=17), Ring(day=175, point=42, phones=9, days=2)]


def six_months(path: Path, shuffle: bool = False) -> DumpTruth:
    """180 days of organic check-ins at 200 points, a ring in the first week and one in
    the last."""
    return write_checkin_dump(
        path, 90_000, points=200, accounts=5_000, per_day=500, rings=RINGS, shuffle=shuffle
    )


@pytest.fixture(scope="module")
def dumps(tmp_path_factory: pytest.TempPathFactory) -> tuple[DumpTruth, Path, Path]:
    d = tmp_path_factory.mktemp("dumps")
    truth = six_months(d / "sorted.jsonl")
    assert six_months(d / "shuffled.jsonl", shuffle=True) == truth
    return truth, d / "sorted.jsonl", d / "shuffled.jsonl"


@pytest.fixture(scope="module")
def sorted_report(dumps: tuple[DumpTruth, Path, Path]) -> AnalyzeReport:
    return analyze_files([dumps[1]], Pseudonymizer(KEY))


def test_a_ring_in_the_first_and_one_in_the_last_week_are_one_finding_each(
    dumps: tuple[DumpTruth, Path, Path], sorted_report: AnalyzeReport
) -> None:
    truth = dumps[0]
    assert truth.days == 180
    rings = [f for f in sorted_report.sweep.findings if f.kind == "bulk_checkin"]
    assert len(rings) == 2
    first, last = sorted(rings, key=lambda f: f.window_start)
    for finding, ids, ring in ((first, truth.rings[0], RINGS[0]), (last, truth.rings[1], RINGS[1])):
        assert set(finding.evidence["event_ids"]) == set(ids)  # all its events, no other
        assert len(finding.evidence["days"]) == ring.days  # all its days, in one finding
        assert len(finding.evidence["accounts"]) == ring.phones
    assert first.window_start < START + 7 * 86400
    assert last.window_start > truth.last_ts - 7 * 86400
    # the whole span was judged in windows, and every event once
    assert sorted_report.events == truth.events
    # a window to each Monday from day 7 to day 175 of the dump, and the last at its end
    assert sorted_report.sweep.windows == 25 + 1


def test_unsorted_input_gives_the_same_findings_as_sorted(
    dumps: tuple[DumpTruth, Path, Path], sorted_report: AnalyzeReport
) -> None:
    shuffled = analyze_files([dumps[2]], Pseudonymizer(KEY))
    assert shuffled.events == sorted_report.events
    assert msgspec.to_builtins(shuffled.sweep.findings) == msgspec.to_builtins(
        sorted_report.sweep.findings
    )
    assert msgspec.to_builtins(shuffled.sweep.final.assessments) == msgspec.to_builtins(
        sorted_report.sweep.final.assessments
    )


def test_split_files_in_any_order_give_the_same_findings(
    tmp_path: Path, dumps: tuple[DumpTruth, Path, Path], sorted_report: AnalyzeReport
) -> None:
    lines = dumps[2].read_bytes().splitlines(keepends=True)
    parts = [tmp_path / f"part-{k}.jsonl" for k in range(3)]
    for k, part in enumerate(parts):
        part.write_bytes(b"".join(lines[k::3]))
    report = analyze_files(parts[::-1], Pseudonymizer(KEY))
    assert msgspec.to_builtins(report.sweep.findings) == msgspec.to_builtins(
        sorted_report.sweep.findings
    )


def test_since_and_until_restrict_the_dump(dumps: tuple[DumpTruth, Path, Path]) -> None:
    truth = dumps[0]
    since = START + 100 * 86400
    report = analyze_files([dumps[1]], Pseudonymizer(KEY), since=since)
    rings = [f for f in report.sweep.findings if f.kind == "bulk_checkin"]
    assert [set(f.evidence["event_ids"]) for f in rings] == [set(truth.rings[1])]
    assert report.span[0] >= since
    until = START + 30 * 86400
    report = analyze_files([dumps[1]], Pseudonymizer(KEY), until=until)
    rings = [f for f in report.sweep.findings if f.kind == "bulk_checkin"]
    assert [set(f.evidence["event_ids"]) for f in rings] == [set(truth.rings[0])]
    assert report.span[1] < until and report.end == until
    assert report.out_of_range == truth.events - report.events


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tapwatch", "analyze", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_the_command_reports_progress_unless_quiet(
    tmp_path: Path, dumps: tuple[DumpTruth, Path, Path]
) -> None:
    out = tmp_path / "out.json"
    since = START + 150 * 86400
    p = _cli(str(dumps[1]), "--since", str(since), "--json", str(out))
    assert p.returncode == 0, p.stderr
    progress = [ln for ln in p.stderr.splitlines() if ln.startswith(("reading", "judging"))]
    assert progress and progress[-1].startswith("judging window")
    assert all(" %, " in ln and "events/s, ETA " in ln for ln in progress)
    # Mondays: days 154, 161, 168 and 175 of the dump (day 150 is a Thursday); the end
    assert "events judged in 5 windows" in p.stderr
    doc = json.loads(out.read_text())
    assert doc["windows"] == 5 and doc["span"][0] >= since
    assert [f["kind"] for f in doc["findings"]].count("bulk_checkin") == 1
    quiet = _cli(str(dumps[1]), "--since", str(since), "--quiet")
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert "bulk_checkin" in quiet.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "--since 'yesterday': expected RFC 3339 with a UTC offset "
                                   "(2026-11-30T09:00:00+08:00) or epoch seconds"),
        (["--until", "2026-01-01T00:00:00"], "--until '2026-01-01T00:00:00' needs a UTC offset "
                                             "(RFC 3339 with a UTC offset "
                                             "(2026-11-30T09:00:00+08:00) or epoch seconds)"),
        (["--now", "1e12"], "--now is outside 2000-01-01 .. 2100-01-01"),
        (["--step", "8"], "the step between windows must be at least a day and not exceed "
                          "the raw window (7 days)"),
        (["--step", "0"], "the step between windows must be at least a day and not exceed "
                          "the raw window (7 days)"),
    ],
)
def test_bad_options_are_named(
    dumps: tuple[DumpTruth, Path, Path], args: list[str], message: str
) -> None:
    p = _cli(str(dumps[1]), "--quiet", *args)
    assert p.returncode == 1
    assert p.stderr.strip() == f"tapwatch analyze: {message}"


def test_the_final_pass_sees_the_long_view_beyond_the_rollup_days() -> None:
    """The assessment compares an app with its own past over the rollup retention, not the
    detectors' `rollup_days`: the sweep keeps a row a day of totals for that."""
    profile = AppProfile(id="a")
    settings = SweepSettings(raw_window=7 * DAY, rollup_days=10, step_days=7, history_days=60)
    start = START - START % DAY
    rows = [
        {"id": f"e{d}-{k}", "ts": start + d * DAY + 3600 + k, "type": "form_submit",
         "account": f"u{k % (d % 4 + 1)}"}
        for d in range(90) for k in range(3)
    ]
    norm = EventNormaliser("a", Pseudonymizer(KEY), start + 100 * DAY, 600.0, 0.0)
    state = AppInputs(profile, Tables())
    state.pending = [norm.from_rows(rows)]
    end = start + 90 * DAY
    for at in range(7, 90, 7):  # a step a week, as the sweep takes them
        state.advance(start + at * DAY, settings)
    inp = state.advance(end, settings)
    assert inp is not None and inp.history is not None
    today = local_day_of(end, profile.timezone)
    assert set(inp.account_days.day.tolist()) == set(range(today - 10, today))
    assert inp.history.day.tolist() == list(range(today - 60, today))
    # each day: accounts active (d % 4 + 1 of them), all with 3 meaningful actions in all
    days = inp.history.day - (today - 90)
    assert inp.history.active.tolist() == [min(3, d % 4 + 1) for d in days.tolist()]
    assert inp.history.meaningful.tolist() == [3] * 60
