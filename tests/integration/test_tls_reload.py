"""TLS from the web config over real sockets: mTLS scrapes, certificates and client-auth
settings that change while the daemon runs, and a removed tls_server_config that does not
turn HTTPS into plain HTTP."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
import yaml

from tapwatch.daemon.runtime import Daemon
from tests.integration.conftest import write_daemon_config
from tests.tls_certs import Cert, make_ca, make_cert, needs_openssl

pytestmark = needs_openssl


@dataclass
class TLSRig:
    d: Daemon
    dir: Path
    web: Path
    ca: Cert
    client: Cert

    def write_web(self, **tls: str) -> None:
        cfg = {"cert_file": "server.crt", "key_file": "server.key", **tls}
        self.web.write_text(yaml.safe_dump({"tls_server_config": cfg}))


@pytest_asyncio.fixture
async def tls_rig(tmp_path: Path) -> AsyncIterator[TLSRig]:
    ca = make_ca(tmp_path)
    make_cert(tmp_path, "server", ca)
    client = make_cert(tmp_path, "client", ca, client=True)
    web = tmp_path / "web.yaml"
    rig = TLSRig(None, tmp_path, web, ca, client)  # type: ignore[arg-type]
    rig.write_web(client_auth_type="RequireAndVerifyClientCert", client_ca_file="ca.crt")
    server = {"listen": "127.0.0.1:0", "web_config_file": str(web)}
    rig.d = Daemon(write_daemon_config(tmp_path, [], extra={"server": server}))
    await rig.d.start()
    try:
        yield rig
    finally:
        await rig.d.stop()


def client_context(rig: TLSRig, cert: Cert | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(rig.ca.crt))
    if cert is not None:
        ctx.load_cert_chain(cert.crt, cert.key)
    return ctx


async def fetch(rig: TLSRig, ctx: ssl.SSLContext | None, path: str = "/healthz") -> tuple[
    bytes, bytes
]:
    """(the server certificate in DER, the status line) of one request on a new connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", rig.d.port, ssl=ctx)
    try:
        sslobj = writer.get_extra_info("ssl_object")
        der = sslobj.getpeercert(binary_form=True) if sslobj else b""
        request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        writer.write(request.encode())
        await writer.drain()
        status = await reader.readline()
        if not status:
            raise ConnectionResetError("the server closed the connection")
        return der, status.strip()
    finally:
        writer.close()


def der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


async def until(cond: object, timeout: float = 6.0) -> None:
    """Await `cond()` (a coroutine function returning bool) until true."""
    end = asyncio.get_running_loop().time() + timeout
    while not await cond():  # type: ignore[operator]
        if asyncio.get_running_loop().time() > end:
            raise AssertionError("the daemon did not take the new TLS settings")
        await asyncio.sleep(0.2)


async def refused(rig: TLSRig, ctx: ssl.SSLContext) -> bool:
    try:
        await fetch(rig, ctx)
    except (ssl.SSLError, ConnectionError):
        return True
    return False


async def test_mtls_scrape_accepted_with_the_client_ca_and_refused_without(
    tls_rig: TLSRig,
) -> None:
    rig = tls_rig
    _, status = await fetch(rig, client_context(rig, rig.client), "/metrics")
    assert status == b"HTTP/1.1 200 OK"
    assert await refused(rig, client_context(rig, None))  # no client certificate
    stranger_ca = make_ca(rig.dir, "stranger")
    stranger = make_cert(rig.dir, "stranger-client", stranger_ca, client=True)
    assert await refused(rig, client_context(rig, stranger))  # signed by another CA


async def test_a_rotated_certificate_is_served_without_a_restart(tls_rig: TLSRig) -> None:
    rig = tls_rig
    ctx = client_context(rig, rig.client)
    first, _ = await fetch(rig, ctx)
    assert first == der(rig.dir / "server.crt")
    rotated_dir = rig.dir / "rotated"
    rotated_dir.mkdir()
    new = make_cert(rotated_dir, "server", rig.ca)
    shutil.copy(new.key, rig.dir / "server.key")  # a half-done rotation: the old cert
    await asyncio.sleep(1.5)  # with the new key does not load: the last good stays
    assert (await fetch(rig, ctx))[0] == first
    assert rig.d.auth.web is not None and "not the private key" in str(rig.d.auth.web.last_error)
    shutil.copy(new.crt, rig.dir / "server.crt")

    async def serves_new() -> bool:
        return (await fetch(rig, ctx))[0] == der(new.crt)

    await until(serves_new)
    assert rig.d.auth.web.last_error is None


async def test_client_auth_settings_change_live(tls_rig: TLSRig) -> None:
    rig = tls_rig
    anonymous = client_context(rig, None)
    assert await refused(rig, anonymous)
    rig.write_web()  # NoClientCert

    async def accepts_anonymous() -> bool:
        return not await refused(rig, anonymous)

    await until(accepts_anonymous)
    rig.write_web(client_auth_type="RequireAndVerifyClientCert", client_ca_file="ca.crt",
                  min_version="TLS13")

    async def refuses_anonymous() -> bool:
        return await refused(rig, anonymous)

    await until(refuses_anonymous)
    tls12 = client_context(rig, rig.client)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert await refused(rig, tls12)  # min_version TLS13 applies too


async def test_removing_tls_keeps_https_and_says_so_once(
    tls_rig: TLSRig, caplog: pytest.LogCaptureFixture
) -> None:
    rig = tls_rig
    caplog.set_level(logging.INFO, logger="tapwatch")
    rig.web.write_text(yaml.safe_dump({"basic_auth_users": {}}))
    await asyncio.sleep(2.5)
    der_now, status = await fetch(rig, client_context(rig, rig.client))
    assert der_now == der(rig.dir / "server.crt") and status == b"HTTP/1.1 200 OK"
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await fetch(rig, None)  # plain HTTP is not served
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "tls_server_config was removed" in errors[0]
    assert "serves plain HTTP only after a restart" in errors[0]
