"""Logins over real sockets: the two realms, long passwords, the failed-login slow-down that
never refuses correct credentials, the login form's CSRF and `next`, sessions that follow
the users file, the web config's extra headers."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import bcrypt
import pytest
import pytest_asyncio
import yaml

from tapwatch.daemon.auth import hash_password
from tapwatch.daemon.runtime import Daemon
from tests.integration.conftest import sample, write_daemon_config

PASSWORDS = {"inspector": "insp-pw", "viewer": "view-pw", "prom": "prom-pw"}
HASHES = {name: hash_password(pw, 4) for name, pw in PASSWORDS.items()}
LONG = "L" * 100  # past bcrypt's 72 bytes


@dataclass
class Rig:
    d: Daemon
    users: Path
    web: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.d.port}"


def write_users(path: Path, names: tuple[str, ...] = ("inspector", "viewer")) -> None:
    users = {n: {"password_hash": HASHES[n], "role": n} for n in names}
    path.write_text(yaml.safe_dump({"users": users}))


@contextlib.asynccontextmanager
async def running_rig(tmp_path: Path, **server_settings: object) -> AsyncIterator[Rig]:
    """The daemon with a users file, a web config guarding /metrics, and more `server:`
    settings."""
    users, web = tmp_path / "users.yaml", tmp_path / "web.yaml"
    write_users(users)
    web.write_text(
        yaml.safe_dump(
            {
                "basic_auth_users": {"prom": HASHES["prom"]},
                "http_server_config": {"headers": {"X-Frame-Options": "deny"}},
            }
        )
    )
    server = {"listen": "127.0.0.1:0", "users_file": str(users), "web_config_file": str(web)}
    server |= server_settings
    d = Daemon(write_daemon_config(tmp_path, [], extra={"server": server}))
    await d.start()
    # The slow-down's sizes are unit-tested (tests/unit/test_passwords.py); here it is
    # shortened so that a dozen failures take a second, not a minute.
    d.auth.passwords.policy = replace(d.auth.passwords.policy, base_delay_s=0.02, max_delay_s=0.1)
    try:
        yield Rig(d, users, web)
    finally:
        await d.stop()


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path) as r:
        yield r


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": aiohttp.encode_basic_auth(name, password)}


async def metric(rig: Rig, name: str, **labels: str) -> float | None:
    """A sample of /metrics once it has been re-rendered (at most a second later)."""
    prom = basic("prom", PASSWORDS["prom"])
    async with aiohttp.ClientSession() as s, s.get(rig.base + "/metrics", headers=prom) as r:
        assert r.status == 200
        return sample(await r.text(), name, **labels)


async def wait_metric(rig: Rig, name: str, value: float, **labels: str) -> None:
    for _ in range(40):
        if await metric(rig, name, **labels) == value:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name}{labels} never became {value}: {await metric(rig, name)}")


async def form_token(s: aiohttp.ClientSession, rig: Rig, query: str = "") -> str:
    async with s.get(rig.base + "/login" + query) as r:
        m = re.search(r"name='csrf' value='([^']+)'", await r.text())
    assert m
    return m.group(1)


async def login(
    s: aiohttp.ClientSession, rig: Rig, name: str, password: str, **extra: str
) -> aiohttp.ClientResponse:
    data = {"username": name, "password": password, "csrf": await form_token(s, rig), **extra}
    async with s.post(rig.base + "/login", data=data, allow_redirects=False) as r:
        await r.read()
        return r


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def test_eleven_wrong_metrics_logins_then_the_right_one_gets_in(rig: Rig) -> None:
    async with aiohttp.ClientSession() as s:
        for i in range(11):
            async with s.get(rig.base + "/metrics", headers=basic("prom", f"guess{i}")) as r:
                assert r.status == 401
        # the inspectors' realm knows nothing of it: at once, no slow-down
        async with s.get(rig.base + "/api/v1", headers=basic("inspector", "insp-pw")) as r:
            assert r.status == 200
        async with s.get(rig.base + "/metrics", headers=basic("prom", "prom-pw")) as r:
            assert r.status == 200
    await wait_metric(rig, "tapwatch_auth_failures_total", 11, realm="metrics")
    assert await metric(rig, "tapwatch_auth_failures_total", realm="findings") == 0


async def test_a_long_password_gets_the_same_answer_for_known_and_unknown_users(
    rig: Rig,
) -> None:
    async with aiohttp.ClientSession() as s:
        statuses = []
        for user in ("prom", "nobody"):
            async with s.get(rig.base + "/metrics", headers=basic(user, LONG)) as r:
                statuses.append(("metrics", r.status))
        for user in ("inspector", "nobody"):
            async with s.get(rig.base + "/api/v1/findings", headers=basic(user, LONG)) as r:
                statuses.append(("api", r.status, await r.json()))
    async with browser() as s:
        for user in ("inspector", "nobody"):
            r = await login(s, rig, user, LONG)
            statuses.append(("login", r.status))
    assert statuses[0] == statuses[1] == ("metrics", 401)
    assert statuses[2] == statuses[3]
    assert statuses[2][1] == 401 and statuses[2][2]["error"] == "wrong user name or password"
    assert statuses[4] == statuses[5] == ("login", 401)
    await wait_metric(rig, "tapwatch_auth_failures_total", 2, realm="metrics")
    await wait_metric(rig, "tapwatch_auth_failures_total", 4, realm="findings")


async def test_parallel_guesses_are_refused_and_the_right_password_still_gets_in(
    rig: Rig,
) -> None:
    async with aiohttp.ClientSession() as s:

        async def guess(i: int) -> tuple[int, str | None]:
            async with s.get(rig.base + "/metrics", headers=basic("prom", f"g{i}")) as r:
                return r.status, r.headers.get("Retry-After")

        answers = await asyncio.gather(*(guess(i) for i in range(20)))
        assert {a for a, _ in answers} == {401, 429}
        assert all(ra and int(ra) >= 1 for a, ra in answers if a == 429)
        async with s.get(rig.base + "/metrics", headers=basic("prom", "prom-pw")) as r:
            assert r.status == 200
    refused = sum(a == 429 for a, _ in answers)
    await wait_metric(rig, "tapwatch_auth_refused_total", refused, realm="metrics")


async def test_identical_logins_at_once_cost_one_check(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50 scripts with the inspector's credentials start together (nothing remembered yet):
    one bcrypt check answers them all, none is refused; 30 with the same wrong password
    likewise cost one check and count 30 failures."""
    checkpw = bcrypt.checkpw

    def slow(pw: bytes, h: bytes) -> bool:  # a production-cost check: the attempts overlap
        time.sleep(0.5)
        return checkpw(pw, h)

    monkeypatch.setattr(bcrypt, "checkpw", slow)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as s:

        async def get(password: str) -> int:
            headers = basic("inspector", password)
            async with s.get(rig.base + "/api/v1/findings", headers=headers) as r:
                await r.read()
                return r.status

        right = await asyncio.gather(*(get("insp-pw") for _ in range(50)))
        assert right == [200] * 50
        # /metrics's own check (prom) is the second; successes alone re-render the count
        await wait_metric(rig, "tapwatch_auth_password_checks_total", 2)
        wrong = await asyncio.gather(*(get("stale-pw") for _ in range(30)))
    assert wrong == [401] * 30
    await wait_metric(rig, "tapwatch_auth_password_checks_total", 3)
    # the 30 waiters count their failures as each resumes after the one check; a render can
    # fall between them, so wait for a later render rather than read the first
    await wait_metric(rig, "tapwatch_auth_failures_total", 30, realm="findings")


async def test_the_login_form_needs_its_token_from_its_own_cookie_and_origin(rig: Rig) -> None:
    good = {"username": "inspector", "password": "insp-pw", "next": "/apps"}
    async with browser() as s:
        async with s.post(rig.base + "/login", data=good, allow_redirects=False) as r:
            assert r.status == 403  # no token
        token = await form_token(s, rig)
    async with browser() as other:  # another browser: the token without its cookie
        await form_token(other, rig)
        async with other.post(
            rig.base + "/login", data={**good, "csrf": token}, allow_redirects=False
        ) as r:
            assert r.status == 403
    async with browser() as s:
        token = await form_token(s, rig)
        async with s.post(
            rig.base + "/login",
            data={**good, "csrf": token},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        ) as r:
            assert r.status == 403
        r = await login(s, rig, "inspector", "insp-pw", next="/apps")
        assert r.status == 303 and r.headers["Location"] == "/apps"
        cookies = {c.key: c for c in s.cookie_jar}
        assert {"tapwatch_session", "tapwatch_device"} <= set(cookies)
        assert cookies["tapwatch_device"]["httponly"] and cookies["tapwatch_device"]["max-age"]


@pytest.mark.parametrize(
    ("next_url", "location"),
    [
        ("/\t/evil.example", "/findings"),
        ("/\\evil.example", "/findings"),
        ("//evil.example/", "/findings"),
        ("https://evil.example/", "/findings"),
        ("/findings?app=a&kind=bulk_checkin", "/findings?app=a&kind=bulk_checkin"),
    ],
)
async def test_after_login_only_a_path_here(rig: Rig, next_url: str, location: str) -> None:
    async with browser() as s:
        r = await login(s, rig, "viewer", "view-pw", next=next_url)
        assert r.status == 303 and r.headers["Location"] == location


async def test_sessions_follow_the_users_file(rig: Rig) -> None:
    async def status(s: aiohttp.ClientSession) -> int:
        async with s.get(rig.base + "/findings", allow_redirects=False) as r:
            return r.status

    async def until_logged_out(s: aiohttp.ClientSession) -> None:
        for _ in range(30):  # the file is looked at again within a second
            if await status(s) == 303:
                return
            await asyncio.sleep(0.1)
        raise AssertionError("still logged in")

    read_at = "tapwatch_users_file_last_reload_success_timestamp_seconds"
    started = await metric(rig, read_at)
    assert started is not None and abs(started - time.time()) < 60
    async with browser() as insp, browser() as view:
        assert (await login(insp, rig, "inspector", "insp-pw")).status == 303
        assert (await login(view, rig, "viewer", "view-pw")).status == 303
        assert await status(insp) == 200 and await status(view) == 200
        write_users(rig.users, ("viewer",))  # the inspector is removed
        await until_logged_out(insp)
        assert await status(view) == 200
        for _ in range(40):  # /metrics is re-rendered within a second
            changed = await metric(rig, read_at)
            if changed != started:
                break
            await asyncio.sleep(0.1)
        assert changed is not None and changed > started
        rig.users.unlink()  # no users file: everybody is out
        await until_logged_out(view)
    await wait_metric(rig, "tapwatch_users_file_last_reload_successful", 0)
    assert await metric(rig, read_at) == changed  # the version read then is the last good
    viewer = basic("viewer", "view-pw")
    async with aiohttp.ClientSession() as s, s.get(rig.base + "/api/v1", headers=viewer) as r:
        assert r.status == 401


async def test_the_web_config_headers_are_on_every_answer(rig: Rig) -> None:
    async with aiohttp.ClientSession() as s:
        for path, headers in (
            ("/metrics", basic("prom", "prom-pw")),
            ("/metrics", {}),  # a 401 too
            ("/login", {}),
            ("/api/v1", basic("viewer", "view-pw")),
        ):
            async with s.get(rig.base + path, headers=headers) as r:
                assert r.headers.get("X-Frame-Options") == "deny", path
