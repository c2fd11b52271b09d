"""The simulator over a real socket: paging, auth, rate limits, faults, planting, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import msgspec
import pytest
import yaml

from tapwatch.config import AppsFile
from tapwatch.events import decode_page
from tapwatch.simulator import Simulator, SimulatorOptions

FAULTS = {
    f"fault-{m}": m
    for m in (
        "down",
        "slow",
        "http_500",
        "garbage",
        "huge",
        "wrong_content_type",
        "auth",
        "rate_limited",
    )
}


@pytest.fixture
async def sim():
    s = Simulator(
        SimulatorOptions(
            history_days=10, scale=0.5, token="s3cret", faults=FAULTS, slow_delay_s=3.0
        )
    )
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer s3cret"}) as session:
        yield session


async def _get(http: aiohttp.ClientSession, url: str, **params: str):
    async with http.get(url, params=params) as r:
        return r.status, r.headers, await r.read()


async def page_until_caught_up(http, url: str, limit: int, cursor: str | None = None):
    ids: list[str] = []
    pages = 0
    while True:
        params = {"limit": str(limit)} | ({"cursor": cursor} if cursor else {})
        status, headers, body = await _get(http, url + "/v1/events", **params)
        assert status == 200 and headers["Content-Type"].startswith("application/json")
        page = decode_page(body)
        pages += 1
        assert page.events is not None  # every event decodes
        ids += [e.id for e in page.events]
        cursor = page.next_cursor
        if not page.has_more:
            return ids, cursor, pages


async def test_paging_until_caught_up_then_planted_ring_arrives(sim, http):
    url = sim.base_url("risk-point-checkin")
    truth = [e["id"] for e in sim.iter_events("risk-point-checkin")]
    limit = len(truth) // 4  # four pages and a remainder, whatever the history holds
    ids, cursor, pages = await page_until_caught_up(http, url, limit)
    assert pages >= 4 and len(ids) == len(set(ids))
    assert sorted(ids) == sorted(truth)
    again, cursor, _ = await page_until_caught_up(http, url, limit, cursor)
    assert again == []

    root = url.split("/apps/")[0]
    async with http.post(
        root + "/admin/plant",
        json={"app": "risk-point-checkin", "scenario": "bulk_checkin", "accounts": 12},
    ) as r:
        assert r.status == 200
        planted = await r.json()
    assert len(planted["event_ids"]) == 12 and len(planted["accounts"]) == 12
    new, _, _ = await page_until_caught_up(http, url, 250, cursor)
    assert set(planted["event_ids"]) <= set(new)
    _, _, body = await _get(http, root + "/admin/ground-truth")
    gt = json.loads(body)
    live = [p for p in gt["apps"]["risk-point-checkin"]["planted"] if p.get("live")]
    assert live[0]["event_ids"] == planted["event_ids"]
    async with http.post(root + "/admin/plant", json={"app": "nope"}) as r:
        assert r.status == 404


async def test_usage_limits_and_bad_cursor(sim, http):
    url = sim.base_url("daily-work")
    status, _, body = await _get(http, url + "/v1/usage")
    usage = json.loads(body)
    assert status == 200 and usage["registered_accounts"] > 0
    assert (
        usage["active_accounts_30d"] >= usage["active_accounts_7d"] >= usage["active_accounts_1d"]
    )
    status, _, body = await _get(http, url + "/v1/events", limit="100000")
    assert status == 200 and len(decode_page(body).events) == 5000  # clamped
    status, _, body = await _get(http, url + "/v1/events")
    assert len(decode_page(body).events) == 500  # default
    for params in ({"limit": "0"}, {"limit": "x"}, {"cursor": "bm90LWEtY3Vyc29y"}):
        status, _, body = await _get(http, url + "/v1/events", **params)
        assert status == 400 and "error" in json.loads(body)
    status, _, _ = await _get(
        http, sim.base_url("daily-work").replace("daily-work", "nope") + "/v1/usage"
    )
    assert status == 404


async def test_bearer_token_required(sim):
    url = sim.base_url("daily-work") + "/v1/usage"
    async with aiohttp.ClientSession() as anon:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            async with anon.get(url, headers=headers) as r:
                assert r.status == 401 and "Bearer" in r.headers["WWW-Authenticate"]
        async with anon.get(url, headers={"Authorization": "Bearer s3cret"}) as r:
            assert r.status == 200


async def test_rate_limited_answers_429_with_retry_after(sim, http):
    url = sim.base_url("fault-rate_limited") + "/v1/events"
    assert (await _get(http, url))[0] == 200
    status, headers, body = await _get(http, url)
    assert status == 429 and headers["Retry-After"] == "2" and json.loads(body)["error"]
    await asyncio.sleep(2.05)  # honouring Retry-After gets the next page
    assert (await _get(http, url))[0] == 200


async def test_transport_faults(sim, http):
    with pytest.raises(aiohttp.ClientConnectorError):
        await _get(http, sim.base_url("fault-down") + "/v1/usage")
    t = time.monotonic()
    with pytest.raises(asyncio.TimeoutError):
        async with http.get(
            sim.base_url("fault-slow") + "/v1/usage", timeout=aiohttp.ClientTimeout(total=0.3)
        ):
            pass
    assert time.monotonic() - t < 2.5  # cut by the timeout, not answered (3 s), even when busy
    status, _, _ = await _get(http, sim.base_url("fault-http_500") + "/v1/events")
    assert status == 500
    status, _, body = await _get(http, sim.base_url("fault-garbage") + "/v1/events")
    assert status == 200
    with pytest.raises(msgspec.DecodeError):
        decode_page(body)
    status, headers, body = await _get(
        http, sim.base_url("fault-wrong_content_type") + "/v1/events"
    )
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    status, _, _ = await _get(http, sim.base_url("fault-auth") + "/v1/usage")
    assert status == 401  # even with the right token
    async with http.get(sim.base_url("fault-huge") + "/v1/events") as r:
        assert r.status == 200 and "Content-Length" not in r.headers  # streamed
        size = 0
        async for chunk in r.content.iter_chunked(1 << 20):
            size += len(chunk)
    assert size == 50 * 1024 * 1024


async def test_registry_points_the_daemon_at_the_server(sim, tmp_path):
    (tmp_path / "token").write_text("s3cret\n")
    sim.write_registry(tmp_path / "apps.yaml", token_file=tmp_path / "token")
    apps = AppsFile.model_validate(yaml.safe_load((tmp_path / "apps.yaml").read_text())).apps
    by_id = {a.id: a for a in apps}
    assert by_id["daily-work"].source.url == sim.base_url("daily-work")
    assert by_id["fault-down"].source.url != sim.base_url("daily-work").replace(
        "daily-work", "fault-down"
    )
    headers = by_id["daily-work"].source.auth.headers()
    async with (
        aiohttp.ClientSession(headers=headers) as s,
        s.get(by_id["daily-work"].source.url + "/v1/usage") as r,
    ):
        assert r.status == 200


def test_cli_serves_until_sigterm(tmp_path: Path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tapwatch",
            "simulate",
            "--port",
            "0",
            "--history-days",
            "3",
            "--scale",
            "0.1",
            "--fault",
            "fault-http_500=http_500",
            "--registry-out",
            str(tmp_path / "apps.yaml"),
            "--ground-truth-out",
            str(tmp_path / "truth.json"),
            "--token-file",
            str(tmp_path / "token"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        # the banner comes first, as soon as it serves, before the files are written
        line = proc.stdout.readline()
        assert line.startswith("tapwatch simulate: "), proc.stderr.read()
        listing = line.split()[-1]
        assert listing.startswith("http://127.0.0.1:") and listing.endswith("/admin/apps")
        token = (tmp_path / "token").read_text().strip()

        async def fetch() -> tuple[int, int]:
            auth = {"Authorization": f"Bearer {token}"}
            async with aiohttp.ClientSession(headers=auth) as s:
                async with s.get(listing) as r:  # the URL it printed answers
                    apps = {a["id"]: a["url"] for a in (await r.json())["apps"]}
                    listed = r.status
                async with s.get(apps["daily-work"] + "/v1/usage") as r:
                    return listed, r.status

        assert asyncio.run(fetch()) == (200, 200)
        assert proc.stdout.readline() == f"registry written to {tmp_path / 'apps.yaml'}\n"
        assert proc.stdout.readline() == f"ground truth written to {tmp_path / 'truth.json'}\n"
        registry = yaml.safe_load((tmp_path / "apps.yaml").read_text())
        assert "fault-http-500" in {a["id"] for a in registry["apps"]}
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        truth = json.loads((tmp_path / "truth.json").read_text())
        assert truth["apps"]["fault-http-500"]["expected_band"] == "insufficient_data"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
