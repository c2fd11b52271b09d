"""Logins behind a reverse proxy over real sockets: the daemon trusts 127.0.0.2 (the proxy)
and takes the client's address from its X-Forwarded-For; the same header from any other
peer (127.0.0.1 here) is ignored. The address is what the password checker keys its
slow-down by, so that is what these tests read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest_asyncio

from tests.integration.test_auth_http import Rig, basic, form_token, running_rig

PROXY = "127.0.0.2"


@pytest_asyncio.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    async with running_rig(tmp_path, trusted_proxies=[PROXY, "10.9.0.0/16"]) as r:
        yield r


def from_address(address: str) -> aiohttp.ClientSession:
    """A client whose connections come from `address` (any 127/8 address is local)."""
    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.CookieJar(unsafe=True))


def failed_addresses(rig: Rig, realm: str, name: str) -> set[str]:
    """The addresses the password checker counts failures of `name` against."""
    return {
        key[2] for key in rig.d.auth.passwords._pairs._entries  # type: ignore[index]
        if key[:2] == (realm, name)  # type: ignore[index]
    }


async def test_a_spoofed_header_from_an_untrusted_peer_is_ignored(rig: Rig) -> None:
    spoof = {"X-Forwarded-For": "198.51.100.1", "Forwarded": "for=198.51.100.2"}
    async with from_address("127.0.0.1") as s:
        async with s.get(rig.base + "/metrics", headers=basic("prom", "guess") | spoof) as r:
            assert r.status == 401
        data = {"username": "inspector", "password": "guess", "csrf": await form_token(s, rig)}
        async with s.post(rig.base + "/login", data=data, headers=spoof) as r:
            assert r.status == 401
    assert failed_addresses(rig, "metrics", "prom") == {"127.0.0.1"}
    assert failed_addresses(rig, "findings", "inspector") == {"127.0.0.1"}


async def test_a_trusted_proxy_chain_names_the_client(rig: Rig) -> None:
    async with from_address(PROXY) as s:
        # what the client wrote (6.6.6.6), the client, and a second proxy of ours
        chain = {"X-Forwarded-For": "6.6.6.6, 198.51.100.7, 10.9.3.4"}
        async with s.get(rig.base + "/metrics", headers=basic("prom", "guess") | chain) as r:
            assert r.status == 401
        data = {"username": "inspector", "password": "guess", "csrf": await form_token(s, rig)}
        async with s.post(
            rig.base + "/login", data=data, headers={"X-Forwarded-For": "203.0.113.4"}
        ) as r:
            assert r.status == 401
        # the proxy's own requests (no header) are its own
        async with s.get(rig.base + "/metrics", headers=basic("prom", "guess")) as r:
            assert r.status == 401
    assert failed_addresses(rig, "metrics", "prom") == {"198.51.100.7", PROXY}
    assert failed_addresses(rig, "findings", "inspector") == {"203.0.113.4"}


async def test_a_flood_through_the_proxy_does_not_refuse_another_client(rig: Rig) -> None:
    """20 parallel guesses at prom's password from one client behind the proxy are
    throttled as that client's; prom's own scrape through the same proxy gets in."""
    attacker = {"X-Forwarded-For": "198.51.100.66"}
    scraper = {"X-Forwarded-For": "10.9.0.1, 198.51.100.90"}
    async with from_address(PROXY) as s:

        async def get(headers: dict[str, str]) -> int:
            async with s.get(rig.base + "/metrics", headers=headers) as r:
                return r.status

        *guesses, scrape = await asyncio.gather(
            *(get(basic("prom", f"g{i}") | attacker) for i in range(20)),
            get(basic("prom", "prom-pw") | scraper),
        )
    assert scrape == 200
    assert 429 in guesses  # the attacker's own pair filled up
    assert failed_addresses(rig, "metrics", "prom") == {"198.51.100.66"}
