"""Who sent a request when a reverse proxy stands between the client and the daemon.

Behind a proxy every request comes from the proxy's address, so the password checker's
per-(user, address) slow-down and per-address queue share (tapwatch.daemon.passwords)
would treat a whole organisation as one client. With `server.trusted_proxies` the daemon
takes the client's address from the header those proxies write
(`server.client_address_header`), as nginx's real_ip module with `real_ip_recursive on`
does:

* the header is read **only when the direct peer is a trusted proxy**; from anyone else it
  is ignored, whatever it says (a client can write any header it likes);
* its hops are read from the right (the one the nearest proxy appended) and every trusted
  hop is skipped: the client is the right-most hop that is **not** a trusted proxy, so
  whatever a client wrote to the left of what the proxies appended counts for nothing;
* if every hop is trusted, the client is the left-most one (a client inside a trusted
  network); a hop that is not an address (`unknown`, an obfuscated `_name`, junk) stops the
  walk at the last trusted address, the proxy that could not say who it served.

`X-Forwarded-For` is a comma-separated list of addresses (some proxies add a port);
`Forwarded` (RFC 7239) lists elements whose `for=` parameter is the address, IPv6 in
brackets (`for="[2001:db8::1]:4711"`). Only the header configured is read: a proxy that
writes one and passes the other through unchanged would otherwise let clients choose.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from tapwatch.config import ProxyNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_hop(text: str | None) -> IPAddress | None:
    """The address of one hop as proxies write it (`10.0.0.5`, `10.0.0.5:4711`,
    `2001:db8::1`, `[2001:db8::1]:4711`), IPv4-mapped IPv6 as IPv4; None if it is not one."""
    if text is None:
        return None
    text = text.strip()
    if text.startswith("["):
        text, sep, _ = text[1:].partition("]")
        if not sep:
            return None
    elif text.count(":") == 1:  # IPv4 with a port; IPv6 has two colons or more
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # a dual-stack socket's view of an IPv4 peer
    return address


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose `header` names the client (see the module docstring)."""

    networks: tuple[ProxyNetwork, ...]
    header: str = "X-Forwarded-For"

    def trusts(self, address: IPAddress) -> bool:
        return any(address in net for net in self.networks)

    def client_of(self, request: web.BaseRequest) -> str | None:
        """The client's address for `request`: the peer's, unless the peer is a trusted
        proxy; then the one its header names."""
        peer = request.remote
        proxy = parse_hop(peer)
        if proxy is None or not self.trusts(proxy):
            return peer  # anyone else's header is ignored, whatever it says
        return str(self._client_behind(proxy, self.hops(request)))

    def _client_behind(self, proxy: IPAddress, hops: Sequence[str | None]) -> IPAddress:
        """The right-most hop that is not a trusted proxy (the left-most if all are)."""
        current = proxy
        for hop in reversed(hops):
            address = parse_hop(hop)
            if address is None:
                break  # the proxy could not say whom it served: it is the client we know
            current = address
            if not self.trusts(address):
                break
        return current

    def hops(self, request: web.BaseRequest) -> list[str | None]:
        """The header's hops, left to right, over every line of it."""
        if self.header == "Forwarded":
            return [element.get("for") for element in request.forwarded]
        return [
            hop for line in request.headers.getall("X-Forwarded-For", ()) for hop in line.split(",")
        ]


def client_address_middleware(
    proxies: TrustedProxies,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """A middleware (first in the chain) giving handlers a request whose `remote` is the
    client's address behind the trusted proxies."""

    @web.middleware
    async def real_client(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        client = proxies.client_of(request)
        if client is not None and client != request.remote:
            request = request.clone(remote=client)
        return await handler(request)

    return real_client
