"""The client behind trusted proxies: a table of peers and headers with the address the
password checker then sees, and the settings that name the proxies."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict

from tapwatch.config import load_config
from tapwatch.daemon.forwarded import TrustedProxies, parse_hop

NETS = (ipaddress.ip_network("10.0.0.0/24"), ipaddress.ip_network("fd00::/64"),
        ipaddress.ip_network("127.0.0.2/32"))
XFF = TrustedProxies(NETS, "X-Forwarded-For")
FWD = TrustedProxies(NETS, "Forwarded")


class _Transport:
    """What aiohttp asks a transport for `request.remote`."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer

    def get_extra_info(self, name: str, default: object = None) -> object:
        return self.peer if name == "peername" else default


def _client(proxies: TrustedProxies, peer: str, headers: list[tuple[str, str]]) -> str | None:
    req = make_mocked_request(
        "GET", "/metrics", headers=CIMultiDict(headers), transport=_Transport((peer, 4711))
    )
    return proxies.client_of(req)


@pytest.mark.parametrize(
    ("peer", "headers", "client"),
    [
        # an untrusted peer: whatever it writes is ignored
        ("203.0.113.9", [("X-Forwarded-For", "198.51.100.1")], "203.0.113.9"),
        ("203.0.113.9", [("X-Forwarded-For", "10.0.0.7")], "203.0.113.9"),
        ("10.0.1.1", [("X-Forwarded-For", "198.51.100.1")], "10.0.1.1"),  # just outside
        # a trusted proxy: the hop it appended
        ("10.0.0.5", [("X-Forwarded-For", "198.51.100.1")], "198.51.100.1"),
        # ... and not what the client wrote before it (a spoof to the left)
        ("10.0.0.5", [("X-Forwarded-For", "1.2.3.4, 198.51.100.1")], "198.51.100.1"),
        # a chain of trusted proxies: the right-most untrusted hop
        ("10.0.0.5", [("X-Forwarded-For", "1.2.3.4, 198.51.100.1, 10.0.0.9, 10.0.0.8")],
         "198.51.100.1"),
        # several header lines are one list, in order
        ("10.0.0.5", [("X-Forwarded-For", "1.2.3.4"), ("X-Forwarded-For", "198.51.100.2")],
         "198.51.100.2"),
        # every hop trusted: the left-most (a client inside the proxies' network)
        ("10.0.0.5", [("X-Forwarded-For", "10.0.0.20, 10.0.0.9")], "10.0.0.20"),
        # a trusted proxy without the header: the proxy itself (its own health checks)
        ("10.0.0.5", [], "10.0.0.5"),
        # junk where an address should be: the last trusted address, never the junk
        ("10.0.0.5", [("X-Forwarded-For", "198.51.100.1, unknown")], "10.0.0.5"),
        ("10.0.0.5", [("X-Forwarded-For", "198.51.100.1, 10.0.0.9, ")], "10.0.0.5"),
        ("10.0.0.5", [("X-Forwarded-For", "198.51.100.1, junk, 10.0.0.9")], "10.0.0.9"),
        ("10.0.0.5", [("X-Forwarded-For", "<script>")], "10.0.0.5"),
        # ports some proxies add, IPv6 with and without brackets
        ("10.0.0.5", [("X-Forwarded-For", "198.51.100.1:51234")], "198.51.100.1"),
        ("10.0.0.5", [("X-Forwarded-For", "2001:db8::7")], "2001:db8::7"),
        ("fd00::1", [("X-Forwarded-For", "[2001:db8::7]:443")], "2001:db8::7"),
        # a dual-stack socket's IPv4-mapped peer is the IPv4 proxy
        ("::ffff:10.0.0.5", [("X-Forwarded-For", "198.51.100.1")], "198.51.100.1"),
        ("::ffff:127.0.0.2", [("X-Forwarded-For", "::ffff:198.51.100.3")], "198.51.100.3"),
        # the header not configured is ignored even from a trusted proxy
        ("10.0.0.5", [("Forwarded", "for=198.51.100.1")], "10.0.0.5"),
    ],
)
def test_x_forwarded_for(peer: str, headers: list[tuple[str, str]], client: str) -> None:
    assert _client(XFF, peer, headers) == client


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("203.0.113.9", ["for=198.51.100.1"], "203.0.113.9"),
        ("10.0.0.5", ["for=198.51.100.1;proto=https;by=10.0.0.5"], "198.51.100.1"),
        ("10.0.0.5", ['for=1.2.3.4, for="[2001:db8:cafe::17]:4711"'], "2001:db8:cafe::17"),
        ("10.0.0.5", ["for=1.2.3.4, for=198.51.100.1, for=10.0.0.9"], "198.51.100.1"),
        ("10.0.0.5", ["for=198.51.100.1", "for=10.0.0.9"], "198.51.100.1"),
        ("10.0.0.5", ["for=198.51.100.1, for=unknown"], "10.0.0.5"),
        ("10.0.0.5", ["for=198.51.100.1, for=_hidden"], "10.0.0.5"),
        ("10.0.0.5", ["for=198.51.100.1, proto=https"], "10.0.0.5"),  # an element without for
        ("10.0.0.5", ["for=198.51.100.1, for=bad syntax here"], "10.0.0.5"),
        ("10.0.0.5", [], "10.0.0.5"),
    ],
)
def test_forwarded(peer: str, forwarded: list[str], client: str) -> None:
    headers = [("Forwarded", f) for f in forwarded] + [("X-Forwarded-For", "6.6.6.6")]
    assert _client(FWD, peer, headers) == client


@pytest.mark.parametrize(
    ("hop", "address"),
    [
        ("198.51.100.1", "198.51.100.1"), (" 198.51.100.1 ", "198.51.100.1"),
        ("198.51.100.1:80", "198.51.100.1"), ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:80", "2001:db8::1"), ("::ffff:192.0.2.1", "192.0.2.1"),
        ("[2001:db8::1", None), ("", None), ("unknown", None), ("1.2.3", None),
        ("example.org", None), (None, None),
    ],
)
def test_a_hop_as_proxies_write_it(hop: str | None, address: str | None) -> None:
    parsed = parse_hop(hop)
    assert (str(parsed) if parsed else None) == address


def test_the_settings_name_the_proxies(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(
        "pseudonymisation: {key_file: k}\n"
        "server:\n"
        "  trusted_proxies: [10.0.0.5, 10.1.0.0/16, 'fd00::/64']\n"
        "  client_address_header: forwarded\n"
    )
    server = load_config(tmp_path / "t.yaml").daemon.server
    assert [str(n) for n in server.trusted_proxies] == ["10.0.0.5/32", "10.1.0.0/16", "fd00::/64"]
    assert server.client_address_header == "Forwarded"  # header names ignore case
    (tmp_path / "t.yaml").write_text("pseudonymisation: {key_file: k}\n")
    server = load_config(tmp_path / "t.yaml").daemon.server
    assert server.trusted_proxies == [] and server.client_address_header == "X-Forwarded-For"
