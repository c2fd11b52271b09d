"""Generate the mixin's rules, dashboards and Alertmanager example.

    python -m monitoring.generate            # rewrite the committed files under monitoring/
    python -m monitoring.generate --check    # exit 1 if any committed file is out of date
    python -m monitoring.generate --out DIR --set tapwatch_url=https://tapwatch.example.gov \\
        --set grafana_url=https://grafana.example.gov --set candidate_for=3d
                                             # a deployment's own copy (no e2e variant)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from monitoring.mixin.config import DEFAULT
from monitoring.mixin.render import committed_files, deployment_files

MONITORING_DIR = Path(__file__).resolve().parent


def stale_files(root: Path = MONITORING_DIR) -> list[str]:
    """Committed generated files whose content differs from what the generator makes now."""
    out = []
    for rel, text in committed_files().items():
        path = root / rel
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            out.append(rel)
    return out


def write(files: dict[str, str], root: Path) -> None:
    """Write `files` (relative path -> text) under `root`."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if committed files drift")
    parser.add_argument("--out", type=Path, help="write a deployment copy to this directory")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a MixinConfig setting (with --out only)",
    )
    args = parser.parse_args(argv)
    if args.check:
        stale = stale_files()
        for rel in stale:
            print(f"out of date: monitoring/{rel}", file=sys.stderr)
        if stale:
            print("run: python -m monitoring.generate", file=sys.stderr)
        return 1 if stale else 0
    if args.out is not None:
        pairs = dict(item.split("=", 1) for item in args.set)
        write(deployment_files(DEFAULT.with_overrides(pairs)), args.out)
        return 0
    if args.set:
        parser.error("--set only applies with --out: the committed files use the defaults")
    write(committed_files(), MONITORING_DIR)
    return 0


if __name__ == "__main__":
    sys.exit(main())
