"""The daemon benchmarks still run: each script in --quick mode (tiny sizes, seconds) exits 0
and prints its figure lines with numbers. Timing itself is never asserted here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
NUM = r"-?[0-9][0-9.e+-]*"
#: an instant whose last half hour holds events (the detect-pass bench's `--at`)
WORKING_HOUR = "2026-11-30T10:30:00+08:00"

#: script -> figure lines it must print (regexes matched at the start of a line)
EXPECTED = {
    "bench_ingest.py": [
        r"setup: apps=2 .*events_served=(?P<served>\d+)",
        rf"ceiling: round=1 events=(?P<ceiling>\d+) wall_s={NUM} cpu_s={NUM} events_per_s={NUM} "
        rf"events_per_cpu_s={NUM}",
        rf"normalise: round=1 events=(?P<normalised>\d+) wall_s={NUM} cpu_s={NUM} "
        rf"events_per_s={NUM} events_per_cpu_s={NUM}",
        rf"ingest: round=1 events=(?P<stored>\d+) duplicates=0 wall_s={NUM} cpu_s={NUM} "
        rf"events_per_s={NUM} events_per_cpu_s={NUM}",
        rf"summary: rounds=1 ceiling_events_per_s={NUM} normalise_events_per_s={NUM} "
        rf"ingest_events_per_s={NUM} ingest_events_per_cpu_s={NUM} "
        rf"ceiling_events_per_cpu_s={NUM} fraction_of_ceiling={NUM}",
        rf"stages: events=(?P<staged>\d+) decode_us={NUM} normalise_us={NUM} free_us={NUM} "
        rf"merge_us={NUM} store_us={NUM} total_us={NUM}",
        rf"store_bytes: written=(?P<written>{NUM}) event_batches=(?P<batch_bytes>{NUM}) "
        rf"event_id_batches={NUM} other_table={NUM}",
        rf"dedup: limit_mib={NUM} memory_ids=\d+ memory_bytes_per_id={NUM} disk_ids=\d+ "
        rf"filter_bytes_per_id={NUM} disk_runs=\d+ seals=\d+ disk_lookups=\d+ "
        rf"disk_block_reads=\d+",
        rf"breakdown: round=1 events=(?P<broken_down>\d+) cpu_us={NUM} loop_user_us={NUM} "
        rf"loop_sys_us={NUM} loop_decode_us={NUM} loop_normalise_us={NUM} loop_merge_us={NUM} "
        rf"loop_rest_us={NUM} writer_user_us={NUM} writer_sys_us={NUM} writer_store_us={NUM} "
        rf"writer_rest_us={NUM} other_us={NUM}",
        rf"hot: func=.+ own_s={NUM} own_pct={NUM}",
        rf"memory: rss_mib={NUM} peak_rss_mib={NUM}",
    ],
    "bench_fleet_poll.py": [
        r"warmup: seconds=\S+ apps=40 caught_up=40",
        rf"cpu: share={NUM} cpu_s={NUM} wall_s={NUM}",
        rf"polls: done=(?P<polls>\d+) expected=\d+ per_s={NUM} failed=0",
        rf"poll_lag: p50_s={NUM} p99_s={NUM} max_s={NUM}",
        rf"loop_lag: p50_s={NUM} p99_s={NUM} max_s={NUM}",
        rf"memory: rss_mib={NUM} peak_rss_mib={NUM}",
    ],
    "bench_analyze.py": [
        r"setup: events=(?P<events>\d+) days=\d+ bytes=\d+",
        rf"decode: events=\d+ wall_s={NUM} cpu_s={NUM} events_per_s={NUM}",
        rf"analyze: events=(?P<judged>\d+) windows=\d+ wall_s={NUM} cpu_s={NUM} "
        rf"events_per_s={NUM} peak_rss_mib={NUM} rss_bytes_per_event={NUM} rings_planted=2 "
        r"ring_findings=(?P<rings>\d+) findings_per_ring=1/1",
        rf"ratio: events=\d+ wall={NUM} cpu={NUM} goal=5",
    ],
    "bench_columnar_libs.py": [
        rf"cpu: library=numpy\+msgspec task=page events=1000 ns_per_event={NUM}",
        rf"cpu: library=numpy\+msgspec task=file events=\d+ ns_per_event={NUM}",
        rf"cpu: library=numpy\+msgspec task=rollup events=\d+ ns_per_event={NUM}",
    ],
    "bench_metrics.py": [
        r"setup_done: .*apps=40 caught_up=40",
        r"page: bytes=(?P<bytes>\d+) samples=\d+",
        rf"gzip: bytes=\d+ ratio={NUM} ms={NUM}",
        rf"render: p50_ms={NUM} max_ms={NUM}",
        rf"serve: p50_ms={NUM} p99_ms={NUM} max_ms={NUM} n=20",
        rf"serve_idle: p50_ms={NUM} p99_ms={NUM} max_ms={NUM} n=20",
        rf"memory: rss_mib={NUM} peak_rss_mib={NUM}",
    ],
    "bench_login_flood.py": [
        rf"login_flood: src=\S+ target=login clients=10 addresses=(?P<addresses>\d+) "
        rf"proxy=(?P<proxy>\w+) user_names=real "
        rf"wall_s={NUM} daemon_cpu_share={NUM}",
        rf"login_first_time: n=(?P<logins>\d+) p50_s={NUM} max_s={NUM} tries_max=\d+ "
        r"statuses=\{303: \d+\}",
        rf"login_returning: n=\d+ p50_s={NUM} max_s={NUM} tries_max=\d+ statuses=\{{303: \d+\}}",
        rf"prometheus_scrape: n=\d+ p50_s={NUM} max_s={NUM} statuses=\{{200: \d+\}}",
        r"attackers: answers=\{.*401: \d+.*\} per_s=",
    ],
    "bench_login_burst.py": [
        rf"login_burst: src=\S+ clients=20 addresses=20 statuses=\{{200: 20\}} "
        rf"bcrypt_checks=(?P<checks>\d+) wall_s={NUM} daemon_cpu_s={NUM}",
    ],
    "bench_finding_page.py": [
        r"setup_done: .*apps=2 finding=\S+ evidence_events=(?P<named>\d+)",
        rf"page: clients=10 n=(?P<pages>\d+) errors=0 p50_ms={NUM} p90_ms={NUM} p99_ms={NUM}",
        rf"api: clients=10 n=(?P<answers>\d+) errors=0 p50_ms={NUM} p90_ms={NUM} p99_ms={NUM}",
    ],
    "bench_detect_pass.py": [
        r"setup: apps=50 events=(?P<events>\d+) days=40 scale=0.1 .*folded=\d+"
        r"(?P<reused> reused=\S+)?",
        rf"cold: fold_s={NUM} folded=0 inputs_s={NUM} raw_events=\d+ .*detectors_cpu_s={NUM} "
        rf"total_s={NUM} cpu_s={NUM} .*findings=(?P<cold>\d+) peak_rss_mib={NUM}",
        r"held_back: events=(?P<held>\d+)",
        rf"warm: fold_s={NUM} folded=(?P<folded>\d+) .*findings=(?P<warm>\d+)",
        rf"warm_detectors_again: runs=2 min_cpu_s={NUM} median_cpu_s={NUM}",
        r"result: findings=(?P<result>\d+) detector_errors=0 ",
    ],
}


def run_quick(script: str, *extra: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *extra],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=BENCH.parent,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def figures(script: str, out: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for pattern in EXPECTED[script]:
        m = re.search("^" + pattern, out, re.MULTILINE)
        assert m, f"{script}: no line matching {pattern!r} in:\n{out}"
        found.update(m.groupdict())
    return found


@pytest.mark.timeout(300)
def test_ingest_bench_runs() -> None:
    f = figures("bench_ingest.py", run_quick("bench_ingest.py", "--profile", "--breakdown"))
    # every served event went through both passes (today's may add a few while it runs)
    assert int(f["served"]) > 0
    assert int(f["stored"]) >= int(f["served"])
    assert int(f["ceiling"]) >= int(f["served"])
    assert int(f["normalised"]) >= int(f["served"])
    assert int(f["staged"]) >= int(f["served"])  # the stages ran over every page
    assert int(f["broken_down"]) >= int(f["served"])  # and so did the timed pass
    # the store wrote each batch's pages at least once (WAL), and the batches hold bytes
    assert float(f["written"]) > float(f["batch_bytes"]) > 0


@pytest.mark.timeout(300)
def test_fleet_poll_bench_runs() -> None:
    f = figures("bench_fleet_poll.py", run_quick("bench_fleet_poll.py"))
    assert int(f["polls"]) > 0


@pytest.mark.timeout(300)
def test_analyze_bench_runs() -> None:
    f = figures("bench_analyze.py", run_quick("bench_analyze.py"))
    assert int(f["judged"]) == int(f["events"]) and f["rings"] == "2"


@pytest.mark.timeout(300)
def test_columnar_libs_bench_runs() -> None:
    figures("bench_columnar_libs.py", run_quick("bench_columnar_libs.py", "--repeat", "1"))


@pytest.mark.timeout(300)
def test_metrics_bench_runs() -> None:
    f = figures("bench_metrics.py", run_quick("bench_metrics.py"))
    assert int(f["bytes"]) > 1000


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("extra", "addresses", "proxy"),
    [((), "10", "none"), (("--behind-proxy", "--trust-proxy"), "1", "trusted")],
)
def test_login_flood_bench_runs(extra: tuple[str, ...], addresses: str, proxy: str) -> None:
    f = figures("bench_login_flood.py", run_quick("bench_login_flood.py", *extra))
    assert int(f["logins"]) >= 2
    assert (f["addresses"], f["proxy"]) == (addresses, proxy)


@pytest.mark.timeout(120)
def test_login_burst_bench_runs() -> None:
    f = figures("bench_login_burst.py", run_quick("bench_login_burst.py"))
    assert f["checks"] == "1"  # 20 identical logins at once: one shared check


@pytest.mark.timeout(300)
def test_finding_page_bench_runs() -> None:
    f = figures("bench_finding_page.py", run_quick("bench_finding_page.py"))
    assert int(f["named"]) > 0
    assert int(f["pages"]) > 0 and int(f["answers"]) > 0


@pytest.mark.timeout(300)
def test_detect_pass_bench_runs_and_a_kept_fleet_gives_the_same_results(tmp_path: Path) -> None:
    """A second run on the fleet the first kept judges the same events at the same instant:
    byte-identical results (what A/B runs of the detectors compare). At a working hour:
    the held-back last half hour of a night holds no events, whatever the suite's clock."""
    runs = []
    for k in (1, 2):
        out = run_quick("bench_detect_pass.py", "--scale", "0.1", "--repeat", "2",
                        "--at", WORKING_HOUR,
                        "--fleet", str(tmp_path / "fleet"),
                        "--results", str(tmp_path / f"results{k}.json"))
        runs.append(figures("bench_detect_pass.py", out))
    first, second = runs
    assert first["reused"] is None and second["reused"]
    assert first["events"] == second["events"] and int(first["held"]) > 0
    assert first["folded"] == first["held"] and first["warm"] == first["result"]
    one, two = ((tmp_path / f"results{k}.json").read_bytes() for k in (1, 2))
    assert one == two and b'"warm"' in one and b'"cold"' in one


@pytest.mark.timeout(300)
def test_detect_pass_bench_judges_the_fleet_at_the_instant_asked() -> None:
    """`--at` makes the bench's load independent of the hour it runs: the held-back half
    hour of a working morning holds more events than that of a late evening."""
    held = {}
    for at in (WORKING_HOUR, "2026-11-30T22:30:00+08:00"):
        out = run_quick("bench_detect_pass.py", "--scale", "0.1", "--at", at)
        m = re.search(r"^held_back: events=(\d+)$", out, re.MULTILINE)
        assert m, out
        held[at[11:13]] = int(m[1])
    assert held["10"] > 2 * held["22"] > 0, held
