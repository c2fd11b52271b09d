"""Every detector against the simulator's ground truth: planted patterns caught, healthy
apps silent, assessment bands as planted. Prints a table (used in docs/evaluation.md).

    .venv/bin/python bench/eval_fleet.py [--seed 1] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

from tapwatch.analyze import analyze_files, load_registry
from tapwatch.detectors.engine import FleetResult
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator import Simulator, SimulatorOptions
from tapwatch.sources.usage_api import parse_usage


def evaluate(seed: int, scale: float, history_days: int = 100) -> dict:
    """Run the engine over one simulated fleet; compare with its ground truth."""
    sim = Simulator(SimulatorOptions(seed=seed, scale=scale, history_days=history_days))
    truth = sim.ground_truth()["apps"]
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "fleet.jsonl"
        registry = Path(tmp) / "apps.yaml"

        async def write_registry() -> None:  # the registry needs the server's URLs
            await sim.start()
            sim.write_registry(registry)
            await sim.stop()

        asyncio.run(write_registry())
        with dump.open("w") as f:
            for spec in sim.apps:
                for ev in sim.iter_events(spec.id):
                    f.write(json.dumps({**ev, "app": spec.id}) + "\n")
        apps, daemon = load_registry(registry)
        # as the daemon would have it at the end: the apps' own usage figures
        snapshots = {
            a.id: parse_usage(json.dumps(sim.fleet.usage(a.id, sim.now())).encode(), sim.now())
            for a in apps
        }
        report = analyze_files(
            [dump],
            Pseudonymizer(b"eval-key-0123456789abcdef"),
            registry=apps,
            daemon=daemon,
            now=sim.now(),
            snapshots=snapshots,
        )
        # the assessment at the end; the forced-usage findings of the whole history
        result: FleetResult = report.sweep.final
        result.findings = report.sweep.findings
    rows = []
    for app, t in sorted(truth.items()):
        found = {f.kind for f in result.findings if app in f.members()}
        planted = {p["kind"] for p in t["planted"] if p["kind"] != "shutdown"}
        silent = set(t["healthy_kinds_expected_silent"])
        band = result.assessments[app].band if app in result.assessments else "-"
        rows.append(
            {
                "app": app,
                "expected_band": t["expected_band"],
                "band": band,
                "score": round(a.score) if (a := result.assessments.get(app)) else None,
                "planted": sorted(planted),
                "missed": sorted(planted - found),
                "false_alarms": sorted(found & silent),
            }
        )
    return {"seed": seed, "scale": scale, "rows": rows, "failures": len(result.failures)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seed", type=int, action="append")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--quick", action="store_true", help="small fleet (scale 0.25, 45 days)")
    args = ap.parse_args(argv)
    seeds = args.seed or [1]
    scale, days = (0.25, 45) if args.quick else (args.scale, 100)
    for seed in seeds:
        t0 = time.perf_counter()
        r = evaluate(seed, scale, days)
        print(f"seed {seed}, scale {scale}, {days} days ({time.perf_counter() - t0:.0f}s):")
        print(f"{'app':24} {'expected':18} {'band':18} {'score':>5}  missed / false alarms")
        for row in r["rows"]:
            print(
                f"{row['app']:24} {row['expected_band']:18} {row['band']:18} "
                f"{row['score'] if row['score'] is not None else '-':>5}  "
                f"{','.join(row['missed']) or '-'} / {','.join(row['false_alarms']) or '-'}"
            )
        bands_ok = sum(r_["band"] == r_["expected_band"] for r_ in r["rows"])
        planted = sum(len(r_["planted"]) for r_ in r["rows"])
        missed = sum(len(r_["missed"]) for r_ in r["rows"])
        alarms = sum(len(r_["false_alarms"]) for r_ in r["rows"])
        print(
            f"bands as planted: {bands_ok}/{len(r['rows'])}; planted kinds caught: "
            f"{planted - missed}/{planted}; false alarms: {alarms}; detector errors: "
            f"{r['failures']}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
