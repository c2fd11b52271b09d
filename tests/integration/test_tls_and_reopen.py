"""TLS from the web config (`--web.config.file`), and findings that come back reopen."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tapwatch.daemon.runtime import Daemon
from tapwatch.detectors.base import Finding
from tapwatch.store.sqlite import Store
from tests.integration.conftest import write_daemon_config


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
async def test_daemon_serves_tls_from_web_config(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    web = tmp_path / "web.yaml"
    web.write_text(f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n")
    d = Daemon(write_daemon_config(tmp_path, []), web_config_file=web)
    await d.start()
    try:
        ctx = ssl.create_default_context(cafile=str(cert))
        async with aiohttp.ClientSession() as s:
            async with s.get(f"https://127.0.0.1:{d.port}/metrics", ssl=ctx) as r:
                assert r.status == 200
                assert "tapwatch_build_info" in await r.text()
            with pytest.raises(aiohttp.ClientError):
                async with s.get(f"http://127.0.0.1:{d.port}/metrics") as r:
                    await r.read()
    finally:
        await d.stop()


def test_a_resolved_finding_that_comes_back_is_reopened(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    f = Finding(id="f1", kind="bulk_checkin", app="a", severity="warning", score=0.7,
                window_start=0, window_end=1, summary="s", reasons=[], evidence={},
                confidence=1)
    g = Finding(id="g1", kind="device_farm", app="a", severity="warning", score=0.7,
                window_start=0, window_end=1, summary="s", reasons=[], evidence={},
                confidence=1)
    assert [x.id for x in store.upsert_findings([f, g], now=10)] == ["f1", "g1"]
    assert store.resolve_absent_findings(["a"], {"g1"}, now=20) == 1  # f1's pattern stopped
    assert [x.id for x in store.findings(status="resolved")] == ["f1"]
    store.upsert_findings([f, g], now=30)  # it is back
    assert {x.id for x in store.findings(status="open")} == {"f1", "g1"}
    audit = store._db.execute(
        "SELECT from_status, to_status, actor FROM finding_audit WHERE finding_id='f1' "
        "ORDER BY seq"
    ).fetchall()
    assert audit == [("open", "resolved", "tapwatch"), ("resolved", "open", "tapwatch")]
    store.close()
