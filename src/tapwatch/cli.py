"""The `tapwatch` command: run, check-config, gen-key, simulate, demo, analyze."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tapwatch import __version__


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio  # here, not at the top: `analyze` and the other commands need no loop

    from tapwatch.config import ConfigError
    from tapwatch.daemon.runtime import Daemon
    from tapwatch.store.health import StoreError

    _setup_logging(args.log_level)
    try:
        daemon = Daemon(
            Path(args.config),
            shard=args.shard,
            total_shards=args.total_shards,
            listen=args.listen,
            web_config_file=Path(args.web_config_file) if args.web_config_file else None,
        )
    except ConfigError as e:
        print(f"tapwatch: invalid configuration:\n{e}", file=sys.stderr)
        return 1
    except ValueError as e:
        print(f"tapwatch: {e}", file=sys.stderr)
        return 2
    try:
        asyncio.run(daemon.run_forever())
    except ConfigError as e:  # a file changed between the checks and the start
        print(f"tapwatch: invalid configuration:\n{e}", file=sys.stderr)
        return 1
    except StoreError as e:  # a damaged store file, or one that refuses writes
        print(f"tapwatch: {e}. To do: {e.advice}.", file=sys.stderr)
        return 1
    except (OSError, ValueError) as e:  # e.g. the port is taken
        print(f"tapwatch: {e}", file=sys.stderr)
        return 1
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    """Everything `run` would refuse: the config and registry, and the files read at start
    (pseudonymisation key, users file, web config with its TLS files)."""
    from tapwatch.config import ConfigError, load_config
    from tapwatch.daemon.preflight import startup_problems

    try:
        cfg = load_config(args.file)
        problems = startup_problems(
            cfg, Path(args.web_config_file) if args.web_config_file else None
        )
        if problems:
            raise ConfigError(problems)
    except ConfigError as e:
        for line in e.errors:
            print(line, file=sys.stderr)
        n = len(e.errors)
        print(f"{args.file}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)
        return 1
    print(f"{args.file}: OK ({len(cfg.apps)} apps in {len(cfg.files)} files)")
    return 0


def cmd_gen_key(args: argparse.Namespace) -> int:
    """Create the pseudonymisation key file (0600, its directory too), never replacing one."""
    from tapwatch.pseudonym import generate_key_file

    path = Path(args.file)
    try:
        created = generate_key_file(path)
    except OSError as e:
        print(f"tapwatch: {path}: {e.strerror or e}", file=sys.stderr)
        return 1
    if not created:
        print(
            f"tapwatch: {path} exists: a new key would break the links to everything "
            "pseudonymised with the old one; remove it first if that is what you want",
            file=sys.stderr,
        )
        return 1
    print(f"{path}: new pseudonymisation key (mode 0600)")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import asyncio

    from tapwatch.demo import run_demo

    _setup_logging(args.log_level)
    return asyncio.run(
        run_demo(
            state_dir=Path(args.state_dir),
            duration=args.duration,
            seed=args.seed,
            refresh=args.refresh,
            scale=args.scale,
        )
    )


def cmd_analyze(args: argparse.Namespace) -> int:
    from tapwatch.analyze import run_analyze

    _setup_logging(args.log_level)
    return run_analyze(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="tapwatch",
        description="Watch a fleet of government work apps for empty shells and forced usage.",
    )
    p.add_argument("--version", action="version", version=f"tapwatch {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="run the daemon")
    r.add_argument("--config", required=True, help="daemon config file (YAML)")
    r.add_argument("--listen", help="HOST:PORT, overrides server.listen")
    r.add_argument(
        "--web.config.file",
        dest="web_config_file",
        help="exporter-toolkit style web config (TLS, basic auth for /metrics); "
        "overrides server.web_config_file",
    )
    r.add_argument("--shard", type=int, default=0, help="this daemon's shard (0-based)")
    r.add_argument("--total-shards", type=int, default=1, help="number of shards")
    r.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    r.set_defaults(func=cmd_run)

    c = sub.add_parser(
        "check-config",
        help="validate a config and the files `run` reads at start; print every error",
    )
    c.add_argument("file")
    c.add_argument(
        "--web.config.file", dest="web_config_file", help="as `run --web.config.file`"
    )
    c.set_defaults(func=cmd_check_config)

    k = sub.add_parser("gen-key", help="create a pseudonymisation key file (mode 0600)")
    k.add_argument("file", help="where, e.g. var/pseudonym.key (never overwritten)")
    k.set_defaults(func=cmd_gen_key)

    # handled in main() before parsing; listed here for the help text
    sub.add_parser(
        "simulate", help="serve a simulated fleet on usage API v1 (`tapwatch simulate --help`)"
    )

    d = sub.add_parser("demo", help="simulated fleet + daemon on free local ports")
    d.add_argument("--state-dir", default="demo-state", help="where the demo keeps its files")
    d.add_argument("--duration", type=float, default=0, help="seconds to run (0: until Ctrl-C)")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--refresh", type=float, default=5.0, help="seconds between table updates")
    d.add_argument("--scale", type=float, default=1.0, help="simulated user counts × this")
    d.add_argument("--log-level", default="warning", choices=["debug", "info", "warning"])
    d.set_defaults(func=cmd_demo)

    a = sub.add_parser(
        "analyze",
        help="run the detectors offline over event files",
        description="Judge a dump of events (JSONL or CSV, any order) as the daemon would "
        "have over its whole span: the daemon's windows slid across it, every finding kept.",
    )
    from tapwatch.analyze.cli import add_arguments

    add_arguments(a)
    a.set_defaults(func=cmd_analyze)
    return p


def main(argv: list[str] | None = None) -> int:
    from tapwatch.fakeclock import install_from_env

    install_from_env()  # tests only: agree with the test suite's fixed clock
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulate"]:  # the simulator parses its own options (and --help)
        from tapwatch.simulator import main as simulate_main

        return simulate_main(argv[1:])
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
