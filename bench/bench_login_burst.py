"""A burst of identical logins: `--clients` scripts start at once with the same (right)
basic-auth credentials on the findings API, nothing remembered yet (after a restart, or
after a password change); each from its own loopback address unless `--one-address`.

The daemon runs as `tapwatch run` in its own process (`--src` picks the source tree) with
production bcrypt cost 12. Figures: the answers by status, the bcrypt checks the daemon ran
(`tapwatch_auth_password_checks_total`, less Prometheus's one scrape), the time until the
last answer, and the daemon's CPU seconds for the burst.

    .venv/bin/python bench/bench_login_burst.py [--clients 200] [--one-address] [--src DIR]
        [--cost 12] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp

from bench_login_flood import (
    PROM_PW,
    PROM_USER,
    REAL_PW,
    REAL_USER,
    ROOT,
    free_port,
    tapwatch_run,
    write_config,
)
from common import cpu_seconds_of, figure


async def one(i: int, args: argparse.Namespace, url: str) -> int:
    local = None if args.one_address else (f"127.1.{i // 250}.{i % 250 + 1}", 0)
    conn = aiohttp.TCPConnector(local_addr=local)
    timeout = aiohttp.ClientTimeout(total=120)
    hdr = {"Authorization": aiohttp.encode_basic_auth(REAL_USER, REAL_PW)}
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        try:
            async with s.get(url, headers=hdr) as r:
                await r.read()
                return r.status
        except (aiohttp.ClientError, TimeoutError):
            return 0


async def checks_run(base: str) -> float:
    hdr = {"Authorization": aiohttp.encode_basic_auth(PROM_USER, PROM_PW)}
    async with aiohttp.ClientSession() as s, s.get(base + "/metrics", headers=hdr) as r:
        for line in (await r.text()).splitlines():
            if line.startswith("tapwatch_auth_password_checks_total "):
                return float(line.split()[1])
    return float("nan")


async def run(args: argparse.Namespace, base: str, pid: int) -> None:
    await checks_run(base)  # Prometheus's first scrape: its one check, remembered after
    await asyncio.sleep(1.1)  # /metrics is re-rendered at most once a second
    before = await checks_run(base)
    cpu0, t0 = cpu_seconds_of(pid), time.monotonic()
    statuses = await asyncio.gather(
        *(one(i, args, base + "/api/v1/findings") for i in range(args.clients))
    )
    wall, cpu = time.monotonic() - t0, cpu_seconds_of(pid) - cpu0
    await asyncio.sleep(1.1)
    figure(
        "login_burst",
        src=args.src,
        clients=args.clients,
        addresses=1 if args.one_address else args.clients,
        statuses=dict(Counter(statuses)),
        bcrypt_checks=int(await checks_run(base) - before),
        wall_s=wall,
        daemon_cpu_s=cpu,
    )


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--one-address", action="store_true")
    p.add_argument("--src", default=str(ROOT / "src"), help="tapwatch source tree to run")
    p.add_argument("--cost", type=int, default=12, help="bcrypt cost of the real hashes")
    p.add_argument("--quick", action="store_true", help="20 clients, cost 4 (smoke)")
    args = p.parse_args()
    if args.quick:
        args.clients, args.cost = 20, 4
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cfg = write_config(Path(tmp), port, args.cost, 0, trust_proxy=False)
        with tapwatch_run(cfg, port, args.src) as proc:
            asyncio.run(run(args, f"http://127.0.0.1:{port}", proc.pid))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
