"""`tapwatch analyze` over a big check-in dump, against the bare decode of the same file.

Generates N check-ins of one app (tapwatch.simulator.dumps: 5,000 points, 200,000
accounts, 11,112 check-ins a day, so 2M check-ins span 180 days and 10M 900), with a ring
planted in the first week and one in the last, as JSONL. Then, each as a subprocess of
this one, in the same run:

  decode   every line decoded alone with msgspec into the usage API's event type
           (what merely reading the file costs)
  analyze  `tapwatch analyze DUMP --quiet --json OUT`: the whole dump judged

and prints wall and CPU seconds of both, their ratio, the analyze process's peak RSS and
RSS per event, and whether both rings were found (one finding each). `--big` runs the
default size and 10M, and prints the ratio of their peak RSS (bounded by the window, it
should stay near 1). tapwatch's bytecode is compiled first, as an installed package's
is (`--no-bytecode`: not; a checkout run with PYTHONDONTWRITEBYTECODE set compiles its
~70 modules at every start, ~0.1 s of CPU). Figures only: nothing here asserts timing.

    .venv/bin/python bench/bench_analyze.py [--events 2000000] [--big] [--shuffle]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import figure

GENERATE = """
import json, sys
from pathlib import Path
from tapwatch.simulator.dumps import Ring, write_checkin_dump
n, path, shuffle = int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "1"
last = max(3, -(-n // 11_112) - 5)
t = write_checkin_dump(path, n, rings=[Ring(day=2, point=17), Ring(day=last, point=42)],
                       shuffle=shuffle)
print(json.dumps({"events": t.events, "days": t.days, "rings": t.rings}))
"""
DECODE = """
import sys, msgspec
from tapwatch.events import WireEvent
dec = msgspec.json.Decoder(WireEvent)
n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        dec.decode(line)
        n += 1
print(n)
"""


def run(argv: list[str]) -> tuple[float, float, float, str]:
    """(wall s, CPU s, peak RSS MiB, stdout) of a child process."""
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    out = p.stdout.read() if p.stdout else ""
    err = p.stderr.read() if p.stderr else ""
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {p.returncode}: {err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out


def one_size(n: int, tmp: Path, shuffle: bool, step: int | None) -> float:
    dump = tmp / f"checkins-{n}.jsonl"
    # generated in a child: this process stays small, so that the children's peak RSS
    # (which counts what they inherit before exec) is their own
    gen_s, _, _, out = run([sys.executable, "-c", GENERATE, str(n), str(dump), str(int(shuffle))])
    truth = json.loads(out)
    events = truth["events"]
    figure(
        "setup",
        events=events,
        days=truth["days"],
        bytes=dump.stat().st_size,
        shuffled=shuffle,
        generate_s=gen_s,
    )
    d_wall, d_cpu, d_rss, out = run([sys.executable, "-c", DECODE, str(dump)])
    assert int(out) == events
    figure(
        "decode",
        events=events,
        wall_s=d_wall,
        cpu_s=d_cpu,
        events_per_s=events / d_wall,
        peak_rss_mib=d_rss,
    )
    out_json = tmp / "analyze.json"
    argv = [sys.executable, "-m", "tapwatch", "analyze", str(dump), "--quiet",
            "--json", str(out_json), "--spill-dir", str(tmp)]
    if step is not None:
        argv += ["--step", str(step)]
    a_wall, a_cpu, a_rss, _ = run(argv)
    doc = json.loads(out_json.read_text())
    found = [
        f for f in doc["findings"] if f["kind"] == "bulk_checkin"
    ]
    caught = [
        sum(bool(set(f["evidence"]["event_ids"]) & set(ids)) for f in found)
        for ids in truth["rings"]
    ]
    figure(
        "analyze",
        events=doc["events"],
        windows=doc["windows"],
        wall_s=a_wall,
        cpu_s=a_cpu,
        events_per_s=events / a_wall,
        peak_rss_mib=a_rss,
        rss_bytes_per_event=a_rss * 2**20 / events,
        rings_planted=len(truth["rings"]),
        ring_findings=len(found),
        findings_per_ring="/".join(map(str, caught)),
    )
    figure(
        "ratio",
        events=events,
        wall=a_wall / d_wall,
        cpu=a_cpu / d_cpu,
        goal=5,
        rss_bytes_per_event=a_rss * 2**20 / events,
        rss_goal_bytes_per_event=100,
    )
    dump.unlink()
    return a_rss


def compile_bytecode() -> bool:
    """tapwatch's modules compiled into their __pycache__ (as pip does on install), so that
    the children read bytecode even where PYTHONDONTWRITEBYTECODE keeps imports from
    writing it: the figures are those of an installed tapwatch. False if any failed."""
    import compileall

    import tapwatch

    return bool(compileall.compile_dir(Path(tapwatch.__file__).parent, quiet=1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=2_000_000, help="check-ins in the dump")
    ap.add_argument("--big", action="store_true", help="also 10M, and the RSS ratio")
    ap.add_argument("--shuffle", action="store_true", help="write the dump in random order")
    ap.add_argument("--step", type=int, help="analyze --step (days between windows)")
    ap.add_argument("--dir", help="where the dump and the spill go (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="tiny size: proves the script works")
    ap.add_argument("--no-bytecode", dest="bytecode", action="store_false",
                    help="do not compile tapwatch's bytecode first")
    args = ap.parse_args(argv)
    if args.quick:
        args.events, args.big = 60_000, False
    if args.bytecode:
        figure("setup", bytecode_compiled=compile_bytecode())
    sizes = [args.events, 10_000_000] if args.big else [args.events]
    with tempfile.TemporaryDirectory(prefix="tapwatch-bench-analyze-", dir=args.dir) as tmp:
        rss = [one_size(n, Path(tmp), args.shuffle, args.step) for n in sizes]
    if len(rss) == 2:
        figure("memory_growth", events=f"{sizes[0]}->{sizes[1]}", peak_rss_ratio=rss[1] / rss[0],
               goal=1.5)
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figure("bench_process", peak_rss_mib=self_rss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
