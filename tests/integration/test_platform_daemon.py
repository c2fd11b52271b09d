"""The platform sources inside the daemon: a ring planted on WeCom or DingTalk is found by
the bulk check-in detector at the right point with the right devices, ritual reading of
official accounts by flat-reads, platform failures are typed in /metrics and
/debug/apps, and no secret or token ever reaches logs, /metrics or /debug."""

from __future__ import annotations

import json
import logging
import random
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tapwatch.daemon.runtime import Daemon
from tapwatch.datum import wgs84_to_gcj02
from tapwatch.pseudonym import Pseudonymizer, load_key
from tapwatch.simulator.platform_scenarios import (
    dingtalk_attendance,
    dingtalk_ring,
    ritual_reading,
    wecom_attendance,
    wecom_ring,
)
from tapwatch.simulator.platforms import CST, PlatformFakes
from tapwatch.sources.wechat_mp_stats import last_complete_day
from tests.integration.conftest import sample, scrape, wait_for, write_daemon_config
from tests.integration.platform_util import Clock

POINT_WGS84 = (30.2741, 120.1551)
SECRETS = {"wecom": "wecom-secret-Zq81", "contacts": "contacts-secret-Pp02",
           "dingtalk": "dingtalk-secret-Kx77", "mp": "mp-secret-Hh55"}


def entry(app_id: str, source: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {
        "id": app_id, "name": app_id, "owner": "Township", "region": "R",
        "category": app_id, "launched": "2024-01-01", "intended_users": 40,
        "source": {"interval": "1h", "max_requests_per_second": 200, **source}, **kw,
    }


def populate(fakes: PlatformFakes, now: float) -> dict[str, Any]:
    rng = random.Random(11)
    corp = fakes.add_wecom("wwring", SECRETS["wecom"], SECRETS["contacts"])
    corp.departments.update({2: 1})
    staff = [f"w{k:02d}" for k in range(30)]
    corp.members += [(u, 2) for u in staff]
    org = fakes.add_dingtalk("dingring", SECRETS["dingtalk"])
    dstaff = [f"d{k:02d}" for k in range(30)]
    rings: dict[str, Any] = {}
    day0 = now - now % 86400 - 8 * 3600  # a recent midnight, China time
    for back in (3, 2, 1):
        day = day0 - back * 86400
        corp.records += wecom_attendance(staff, day, rng)
        org.records += dingtalk_attendance(dstaff, day, rng, first_id=back * 10_000)
        # the same 12 accounts checked in at the risk point, one phone after another
        recs, rings[f"wecom-{back}"] = wecom_ring(POINT_WGS84, staff[:12], day + 11 * 3600,
                                                  rng, title="东关风险点")
        corp.records += recs
        recs, rings[f"dingtalk-{back}"] = dingtalk_ring(POINT_WGS84, dstaff[:10],
                                                        day + 11 * 3600, rng,
                                                        first_id=900_000 + back * 100)
        org.records += recs
    mp = fakes.add_mp("wxritual", SECRETS["mp"])
    today = datetime.fromtimestamp(now, CST).date()
    ritual_reading(mp, [today - timedelta(days=k) for k in range(30, 0, -1)], 40, 60, rng)
    return {"staff": staff, "dstaff": dstaff, "rings": rings}


def registry(fakes: PlatformFakes, tmp: Path) -> list[dict[str, Any]]:
    def secret(name: str) -> str:
        (tmp / name).write_text(SECRETS[name] + "\n")
        (tmp / name).chmod(0o600)  # tapwatch refuses a secret file others can read
        return str(tmp / name)

    g_lat, g_lon = wgs84_to_gcj02(*POINT_WGS84)
    return [
        entry("wecom-risk", {
            "kind": "wecom_checkin", "base_url": fakes.base_url("wecom"), "corp_id": "wwring",
            "secret_file": secret("wecom"), "contacts_secret_file": secret("contacts"),
            "users": {"department_ids": [2]},
        }, points=[{"id": "east-gate", "lat": POINT_WGS84[0], "lon": POINT_WGS84[1],
                    "names": ["东关风险点"]}]),
        # this registry read the point off a Chinese map: GCJ-02, declared as such
        entry("dingtalk-risk", {
            "kind": "dingtalk_attendance", "base_url": fakes.base_url("dingtalk"),
            "app_key": "dingring", "app_secret_file": secret("dingtalk"),
            "users": {"user_ids": [f"d{k:02d}" for k in range(30)]},
        }, points=[{"id": "east-gate-dt", "lat": round(g_lat, 7), "lon": round(g_lon, 7),
                    "datum": "gcj02"}]),
        entry("mp-ritual", {
            "kind": "wechat_mp_stats", "base_url": fakes.base_url("wechat"),
            "app_id": "wxritual", "app_secret_file": secret("mp"),
        }),
    ]


async def get_json(port: int, path: str) -> Any:
    async with aiohttp.ClientSession() as s, s.get(f"http://127.0.0.1:{port}{path}") as r:
        return await r.json()


@pytest.fixture
async def running(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    fakes = PlatformFakes(clock)
    await fakes.start()
    planted = populate(fakes, clock())
    cfg = write_daemon_config(tmp_path, registry(fakes, tmp_path),
                              extra={"detect": {"interval": 3600, "worker_process": False}})
    d = Daemon(cfg)
    await d.start()
    try:
        yield d, fakes, planted, tmp_path
    finally:
        await d.stop()
        await fakes.stop()


async def test_rings_reach_the_bulk_detector_with_point_and_devices(running):
    d, fakes, planted, tmp = running
    await wait_for(lambda: all(s.up == 1 for s in d.states.values()), timeout=30)
    await d.detect_once()
    findings = d.detect.result.findings  # type: ignore[union-attr]
    p = Pseudonymizer(load_key(tmp / "pseudonym.key"))
    for app, point, platform in (("wecom-risk", "east-gate", "wecom"),
                                 ("dingtalk-risk", "east-gate-dt", "dingtalk")):
        bulk = [f for f in findings if f.app == app and f.kind == "bulk_checkin"]
        assert bulk, f"no bulk_checkin finding for {app}"
        assert {f.evidence["point"] for f in bulk} == {point}
        ring_devices = {p.device(dev) for k, r in planted["rings"].items()
                        if k.startswith(platform) for dev in r.devices}
        found = {dev for f in bulk for dev in f.evidence["devices"]}
        assert found == ring_devices
    flat = [f for f in findings if f.app == "mp-ritual" and f.kind == "flat_reads"]
    assert flat and flat[0].evidence["basis"] == "platform_aggregates"
    # DingTalk's attendance-machine and approval records were read and counted, not stored
    await d.render_metrics()
    text = await scrape(d.port)
    assert (sample(text, "tapwatch_app_records_skipped_total", app="dingtalk-risk",
                   kind="atm") or 0) > 0
    assert sample(text, "tapwatch_app_records_skipped_total", app="mp-ritual",
                  kind="atm") is None
    followers = fakes.wechat["wxritual"].days[last_complete_day(d.clock())]["cumulate_user"]
    assert sample(text, "tapwatch_app_registered_accounts", app="mp-ritual") == followers


async def test_platform_failures_are_typed_and_secrets_never_shown(running, caplog):
    d, fakes, _planted, tmp = running
    await wait_for(lambda: all(s.up == 1 for s in d.states.values()), timeout=30)
    # a rotated secret the platform refuses (the cached token belongs to the old one)
    (tmp / "wecom").write_text("a-wrong-secret-Yy09\n")
    await d.pollers["wecom-risk"].poll_once()
    assert d.states["wecom-risk"].errors["auth"] == 1
    # then the right one again, and a rate-limit errcode
    (tmp / "wecom").write_text(SECRETS["wecom"] + "\n")
    fakes.fail_next("wecom", "/cgi-bin/checkin/getcheckindata", 45009)
    retry_after, _ = await d.pollers["wecom-risk"].poll_once()
    assert d.states["wecom-risk"].errors["rate_limited"] == 1 and retry_after == 60.0
    # a malformed DingTalk answer
    fakes.fail_next("dingtalk", "/attendance/listRecord", "not_json")
    await d.pollers["dingtalk-risk"].poll_once()
    assert d.states["dingtalk-risk"].errors["decode"] == 1
    await d.render_metrics()
    text = await scrape(d.port)
    assert sample(text, "tapwatch_app_scrape_errors_total", app="wecom-risk",
                  reason="rate_limited") == 1
    assert sample(text, "tapwatch_app_scrape_errors_total", app="wecom-risk", reason="auth") == 1
    debug = await get_json(d.port, "/debug/apps/wecom-risk")
    reasons = [a["reason"] for a in debug["attempts"]]
    assert reasons[:2] == ["rate_limited", "auth"]
    assert "errcode 45009" in debug["attempts"][0]["detail"]
    assert "errcode 40001" in debug["attempts"][1]["detail"]
    everything = "\n".join([
        text,
        json.dumps(await get_json(d.port, "/debug/apps")),
        *[json.dumps(await get_json(d.port, f"/debug/apps/{a}")) for a in d.states],
        caplog.text,
    ])
    leaks = [*SECRETS.values(), "a-wrong-secret-Yy09", *fakes.issued_tokens()]
    assert fakes.issued_tokens(), "the test needs tokens to look for"
    assert [s for s in leaks if s in everything] == []
