"""A login flood: `--clients` attackers send wrong passwords for `--duration` seconds while a
real user logs in once a second and Prometheus scrapes /metrics with its (right) password.

The daemon runs as `tapwatch run` in its own process (`--src` picks the source tree, so the
same load can be run against an older checkout) with production bcrypt costs (12), a users
file and a web config guarding /metrics. Each attacker has its own loopback source address
(127.1.x.y) unless `--one-address` (everyone behind one proxy). `--behind-proxy` is that
proxy done as nginx does it: everyone connects from 127.0.0.1 and sends its own address in
X-Forwarded-For (attackers 10.1.x.y, people 10.2.0.n, the usual browser 10.3.0.1,
Prometheus 10.4.0.1); `--trust-proxy` lists 127.0.0.1 in `server.trusted_proxies` (code
without that setting refuses the config, so leave it off for older checkouts: they ignore
the header). Attackers guess the real user's name (`--user-names real`, the worst case for
a per-user slow-down) or a new name each time (`random`). They post to `--target`: the
login form (reading its CSRF token as a browser would), the findings API or /metrics
(basic auth).

Figures: the daemon's CPU share (process CPU seconds / wall seconds: 1.0 is one core);
for people logging in for the first time (a new user and browser each second: nothing
remembered, no device cookie) and for a person with their usual browser (logged in before
the flood), the time until they are in (trying again after each 429, as the page says),
the tries it took and the final statuses; Prometheus's scrape latency and statuses; the
attackers' answers by status. Load on this machine skews them: run with nothing else
busy and report `uptime`.

    .venv/bin/python bench/bench_login_flood.py [--clients 200] [--duration 20] \\
        [--target login|api|metrics] [--one-address | --behind-proxy [--trust-proxy]]
        [--user-names real|random] [--src DIR] [--cost 12] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import yaml

from common import cpu_seconds_of, figure, percentile
from tapwatch.daemon.auth import hash_password
from tapwatch.pseudonym import generate_key_file

ROOT = Path(__file__).resolve().parents[1]
REAL_USER, REAL_PW = "li.wei", "correct horse battery staple"
PROM_USER, PROM_PW = "prometheus", "scrape-secret-123"
FRESH_PW = "first login today"
TOKEN_RE = re.compile(r"name='csrf' value='([^']+)'")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def tapwatch_run(config: Path, port: int, src: str) -> Iterator[subprocess.Popen[bytes]]:
    """`tapwatch run` from the source tree `src` in its own process, once it listens."""
    env = {**os.environ, "PYTHONPATH": src}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tapwatch", "run", "--config", str(config),
         "--log-level", "warning"],
        env=env, cwd=config.parent, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a daemon stuck behind its checks
            proc.kill()
            proc.wait()


def forwarded_for(args: argparse.Namespace, address: str) -> dict[str, str]:
    """The header a proxy in front of the daemon adds for a client at `address`."""
    return {"X-Forwarded-For": address} if args.behind_proxy else {}


def write_config(d: Path, port: int, cost: int, fresh_users: int, trust_proxy: bool) -> Path:
    generate_key_file(d / "pseudonym.key")
    users = {REAL_USER: {"password_hash": hash_password(REAL_PW, cost), "role": "inspector"}}
    # people who log in for the first time during the flood: nothing remembered for them
    h = hash_password(FRESH_PW, cost)
    users |= {f"fresh{i}": {"password_hash": h, "role": "viewer"} for i in range(fresh_users)}
    (d / "users.yaml").write_text(yaml.safe_dump({"users": users}))
    (d / "web.yaml").write_text(
        yaml.safe_dump({"basic_auth_users": {PROM_USER: hash_password(PROM_PW, cost)}})
    )
    server: dict[str, object] = {
        "listen": f"127.0.0.1:{port}",
        "users_file": "users.yaml",
        "web_config_file": "web.yaml",
    }
    if trust_proxy:
        server["trusted_proxies"] = ["127.0.0.1"]
    cfg = {
        "server": server,
        "store": {"path": "store.sqlite"},
        "pseudonymisation": {"key_file": "pseudonym.key"},
        "apps": [],
    }
    (d / "tapwatch.yaml").write_text(yaml.safe_dump(cfg))
    return d / "tapwatch.yaml"


async def form_post(
    s: aiohttp.ClientSession, base: str, user: str, password: str, token: str | None
) -> tuple[int, str | None]:
    """POST the login form; returns the status and the token of the form answered back."""
    data = {"username": user, "password": password, "next": "/findings"}
    if token:
        data["csrf"] = token
    async with s.post(base + "/login", data=data, allow_redirects=False) as r:
        m = TOKEN_RE.search(await r.text())
        return r.status, m.group(1) if m else token


async def get_token(s: aiohttp.ClientSession, base: str) -> str | None:
    async with s.get(base + "/login") as r:
        m = TOKEN_RE.search(await r.text())
        return m.group(1) if m else None


async def attacker(
    i: int, args: argparse.Namespace, base: str, stop: float, answers: Counter[int]
) -> None:
    local = None if args.one_address else (f"127.1.{i // 250}.{i % 250 + 1}", 0)
    conn = aiohttp.TCPConnector(local_addr=local, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    jar = aiohttp.CookieJar(unsafe=True)
    hdr = forwarded_for(args, f"10.1.{i // 250}.{i % 250 + 1}")
    async with aiohttp.ClientSession(
        connector=conn, timeout=timeout, cookie_jar=jar, headers=hdr
    ) as s:
        token = await get_token(s, base) if args.target == "login" else None
        while time.monotonic() < stop:
            user = REAL_USER if args.user_names == "real" else f"u{secrets.token_hex(4)}"
            guess = secrets.token_urlsafe(9)
            try:
                if args.target == "login":
                    status, token = await form_post(s, base, user, guess, token)
                else:
                    path = "/metrics" if args.target == "metrics" else "/api/v1/findings"
                    name = PROM_USER if args.target == "metrics" and user == REAL_USER else user
                    hdr = {"Authorization": aiohttp.encode_basic_auth(name, guess)}
                    async with s.get(base + path, headers=hdr) as r:
                        await r.read()
                        status = r.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            answers[status] += 1
            if status == 429:
                await asyncio.sleep(0.05)  # as impatient as a script that ignores Retry-After


async def log_in(
    jar: aiohttp.CookieJar,
    base: str,
    user: str = REAL_USER,
    password: str = REAL_PW,
    forwarded: dict[str, str] | None = None,
) -> tuple[int, int]:
    """A person logging in with the browser whose cookies `jar` holds: on a 429 they try
    again after a second (the page says when). Returns (tries, final status)."""
    tries, status, t0 = 0, 0, time.monotonic()
    async with aiohttp.ClientSession(cookie_jar=jar, headers=forwarded) as s:
        while time.monotonic() - t0 < 60:
            tries += 1
            try:
                token = await get_token(s, base)
                status, _ = await form_post(s, base, user, password, token)
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            if status not in (0, 429):
                break
            await asyncio.sleep(1.0)
    jar.clear(lambda c: c.key == "tapwatch_session")  # logged out; a device cookie stays
    return tries, status


async def real_user(
    args: argparse.Namespace,
    base: str,
    stop: float,
    jar: aiohttp.CookieJar | None,
    out: list[tuple[float, int, int]],
) -> None:
    """Log in again and again until `stop`, a second apart: li.wei with the browser that
    logged in before the flood (`jar`: its device cookie; the password remembered), or
    (None) a new person each time, fresh0, fresh1, ..., from a new browser, whose password
    was never checked. Records (seconds until in, tries, final status)."""
    i = 0
    while time.monotonic() < stop:
        t0 = time.monotonic()
        if jar is not None:
            tries, status = await log_in(
                jar, base, forwarded=forwarded_for(args, "10.3.0.1")
            )
        else:
            new = aiohttp.CookieJar(unsafe=True)
            person = forwarded_for(args, f"10.2.{i // 250}.{i % 250 + 1}")
            tries, status = await log_in(new, base, f"fresh{i}", FRESH_PW, person)
            i += 1
        out.append((time.monotonic() - t0, tries, status))
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - t0)))


async def scraper(
    args: argparse.Namespace, base: str, stop: float, out: list[tuple[float, int]]
) -> None:
    """Prometheus: one scrape every 2 s with the right password."""
    hdr = {"Authorization": aiohttp.encode_basic_auth(PROM_USER, PROM_PW)}
    hdr |= forwarded_for(args, "10.4.0.1")
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < stop:
            t0 = time.monotonic()
            try:
                async with s.get(base + "/metrics", headers=hdr) as r:
                    await r.read()
                    status = r.status
            except (aiohttp.ClientError, TimeoutError):
                status = 0
            out.append((time.monotonic() - t0, status))
            await asyncio.sleep(max(0.0, 2.0 - (time.monotonic() - t0)))


async def run(args: argparse.Namespace, base: str, pid: int) -> None:
    answers: Counter[int] = Counter()
    logins: list[tuple[float, int, int]] = []
    returning: list[tuple[float, int, int]] = []
    scrapes: list[tuple[float, int]] = []
    # Before the flood, as in real life: Prometheus has scraped (its check is remembered)
    # and the person has logged in with the browser they use every day.
    await scraper(args, base, time.monotonic() + 0.1, scrapes)
    scrapes.clear()
    browser = aiohttp.CookieJar(unsafe=True)
    await log_in(browser, base, forwarded=forwarded_for(args, "10.3.0.1"))
    cpu0, t0 = cpu_seconds_of(pid), time.monotonic()
    stop = t0 + args.duration
    await asyncio.gather(
        *(attacker(i, args, base, stop, answers) for i in range(args.clients)),
        real_user(args, base, stop, None, logins),
        real_user(args, base, stop, browser, returning),
        scraper(args, base, stop, scrapes),
    )
    wall = time.monotonic() - t0
    cpu = cpu_seconds_of(pid) - cpu0
    figure(
        "login_flood",
        src=args.src,
        target=args.target,
        clients=args.clients,
        addresses=1 if args.one_address else args.clients,
        proxy="trusted" if args.trust_proxy else "untrusted" if args.behind_proxy else "none",
        user_names=args.user_names,
        wall_s=wall,
        daemon_cpu_share=cpu / wall,
    )
    for name, runs in (("login_first_time", logins), ("login_returning", returning)):
        lat = [t for t, _, _ in runs]
        figure(
            name,
            n=len(runs),
            p50_s=percentile(lat, 50),
            max_s=max(lat, default=float("nan")),
            tries_max=max((n for _, n, _ in runs), default=0),
            statuses=dict(Counter(st for _, _, st in runs)),
        )
    figure(
        "prometheus_scrape",
        n=len(scrapes),
        p50_s=percentile([t for t, _ in scrapes], 50),
        max_s=max((t for t, _ in scrapes), default=float("nan")),
        statuses=dict(Counter(s for _, s in scrapes)),
    )
    figure("attackers", answers=dict(answers), per_s=sum(answers.values()) / wall)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--target", choices=("login", "api", "metrics"), default="login")
    p.add_argument("--one-address", action="store_true")
    p.add_argument("--behind-proxy", action="store_true",
                   help="one address, each client's own in X-Forwarded-For")
    p.add_argument("--trust-proxy", action="store_true",
                   help="list the proxy (127.0.0.1) in server.trusted_proxies")
    p.add_argument("--user-names", choices=("real", "random"), default="real")
    p.add_argument("--src", default=str(ROOT / "src"), help="tapwatch source tree to run")
    p.add_argument("--cost", type=int, default=12, help="bcrypt cost of the real hashes")
    p.add_argument("--quick", action="store_true", help="10 clients, 3 s, cost 4 (smoke)")
    args = p.parse_args()
    if args.quick:
        args.clients, args.duration, args.cost = 10, 3.0, 4
    if args.trust_proxy and not args.behind_proxy:
        p.error("--trust-proxy needs --behind-proxy")
    args.one_address = args.one_address or args.behind_proxy
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cfg = write_config(
            Path(tmp), port, args.cost, int(args.duration) + 60, args.trust_proxy
        )
        with tapwatch_run(cfg, port, args.src) as proc:
            asyncio.run(run(args, f"http://127.0.0.1:{port}", proc.pid))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
