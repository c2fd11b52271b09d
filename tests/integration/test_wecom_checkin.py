"""WeCom check-in adapter against a fake WeCom built from the documented shapes: token
fetch and expiry, department listing with cursor paging, the per-call limits, rate-limit
and malformed answers, and the field mapping."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from tapwatch.config import PointConfig, WeComCheckinSourceConfig
from tapwatch.datum import gcj02_to_wgs84, wgs84_to_gcj02
from tapwatch.detectors.geo import distance_m
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator.platform_scenarios import wecom_ring
from tapwatch.simulator.platforms import PlatformFakes, WeComCorp
from tapwatch.sources.base import ErrorReason, SourceError
from tapwatch.sources.platform import CredentialPool
from tapwatch.sources.wecom_checkin import WeComCheckinSource
from tests.integration.platform_util import KEY, fixture, poll, secret_file

CORP, SECRET, CONTACTS = "ww0123456789abcdef", "checkin-app-secret", "contacts-sync-secret"
POINT = (30.2741, 120.1551)  # WGS-84


def source(
    fakes: PlatformFakes, tmp: Path, *, pool: CredentialPool | None = None,
    points: tuple[PointConfig, ...] = (), **kw: object,
) -> WeComCheckinSource:
    cfg = {
        "kind": "wecom_checkin",
        "base_url": fakes.base_url("wecom"),
        "corp_id": CORP,
        "secret_file": secret_file(tmp, "wecom", SECRET),
        "users": {"user_ids": ["james", "paul"]},
        "max_requests_per_second": 500,  # the limiter has its own test
        **kw,
    }
    if "department_ids" in cfg["users"]:  # type: ignore[operator]
        cfg["contacts_secret_file"] = secret_file(tmp, "contacts", CONTACTS)
    return WeComCheckinSource(
        WeComCheckinSourceConfig.model_validate(cfg), points, pool or CredentialPool()
    )


def corp(fakes: PlatformFakes) -> WeComCorp:
    return fakes.add_wecom(CORP, SECRET, CONTACTS)


async def test_documented_record_maps_onto_event_fields(fakes, session, clock, tmp_path):
    c = corp(fakes)
    doc = fixture("wecom_getcheckindata.json")
    c.records += doc["checkindata"]
    c.records.append({**doc["checkindata"][0], "checkin_time": 1492620000,
                      "exception_type": "未打卡", "checkin_type": "下班打卡"})
    clock.offset = 1492700000 - clock()  # the documented records are from April 2017
    points = (PointConfig(id="cq-zone", lat=29.7, lon=106.6, names=["重庆出口加工区"]),)
    src = source(fakes, tmp_path, points=points)
    got = await poll(src, session, clock, oldest=0)

    assert got.skipped == {"not_checked_in": 1}  # a missed check-in is no event
    by_account = {e.account: e for e in got.events}
    p = Pseudonymizer(KEY)
    james, paul = by_account[p.account("james")], by_account[p.account("paul")]
    assert james.ts == 1492617610.0 and james.type.name == "checkin"
    assert james.lat is None and james.lon is None  # no position: a Wi-Fi check-in
    assert james.network == p.network("3c:46:d8:0c:7a:70")
    assert james.target == "上班打卡|地点异常"
    assert james.point is None  # 依澜府 names no registry point
    assert paul.device == p.device("E5FA89F6-3926-4972-BE4F-4A7ACF4701E2")
    assert paul.point == "cq-zone"
    assert paul.target == "外出打卡|时间异常"
    # lat/lng are GCJ-02 millionths: stored in WGS-84
    w_lat, w_lon = gcj02_to_wgs84(30.547645, 104.063236)
    assert paul.lat == pytest.approx(w_lat, abs=1e-7)
    assert paul.lon == pytest.approx(w_lon, abs=1e-7)
    assert distance_m(np.array(paul.lat), np.array(paul.lon), 30.547645, 104.063236) > 200
    # the same upload in both records: the same keyed photo hash, not the media id
    assert james.photo_hash == paul.photo_hash
    assert "WWCISP" not in (james.photo_hash or "")
    # ids: keyed hashes, stable across polls, so the overlap de-duplicates exactly
    again = await poll(source(fakes, tmp_path, points=points), session, clock, oldest=0)
    assert again.ids == got.ids and len(got.ids) == 2
    assert all(i.startswith("wecom-") and "james" not in i for i in got.ids)


async def test_token_is_cached_refreshed_before_expiry_and_on_an_expired_token_errcode(
    fakes, session, clock, tmp_path
):
    corp(fakes)
    pool = CredentialPool()
    src = source(fakes, tmp_path, pool=pool)
    st = await poll(src, session, clock)
    st = await poll(src, session, clock, st)
    assert len(fakes.calls_to("wecom", "/cgi-bin/gettoken")) == 1  # cached
    clock.offset += 7200 - 200  # within the refresh margin of expires_in
    st = await poll(src, session, clock, st)
    assert len(fakes.calls_to("wecom", "/cgi-bin/gettoken")) == 2
    # the platform ends the token early, mid-run: 40014, a new token, the call again
    fakes.expire_tokens()
    before = len(fakes.calls_to("wecom", "/cgi-bin/checkin/getcheckindata"))
    st = await poll(src, session, clock, st)
    calls = fakes.calls_to("wecom", "/cgi-bin/checkin/getcheckindata")[before:]
    assert [c.errcode for c in calls] == [40014, 0]
    assert len(fakes.calls_to("wecom", "/cgi-bin/gettoken")) == 3
    # a second source on the same corp shares the token
    other = source(fakes, tmp_path, pool=pool)
    await poll(other, session, clock)
    assert len(fakes.calls_to("wecom", "/cgi-bin/gettoken")) == 3


async def test_calls_respect_100_users_and_30_days_and_the_cursor_resumes(
    fakes, session, clock, tmp_path
):
    c = corp(fakes)
    users = [f"u{k:03d}" for k in range(250)]
    now = clock()
    for k, u in enumerate(users):
        lat, lng = (round(x * 1e6) for x in wgs84_to_gcj02(*POINT))
        for back in (1, 20, 40):  # inside the backfill, and 40 days ago (inside 45)
            c.records.append({"userid": u, "checkin_type": "上班打卡", "exception_type": "",
                              "checkin_time": int(now - back * 86400 - k), "lat": lat,
                              "lng": lng, "deviceid": f"d{k}", "wifimac": "", "mediaids": []})
    src = source(fakes, tmp_path, users={"user_ids": users}, backfill="45d")
    st = await poll(src, session, clock)
    calls = fakes.calls_to("wecom", "/cgi-bin/checkin/getcheckindata")
    assert all(c.errcode == 0 for c in calls)
    assert max(len(c.body["useridlist"]) for c in calls) == 100
    assert max(c.body["endtime"] - c.body["starttime"] for c in calls) <= 30 * 86400
    assert len(calls) == 3 * 2  # 3 batches of users x 2 windows for 45 days
    assert len(st.events) == 750 and len(st.ids) == 750
    # next poll: from the last window's end minus the overlap, one window
    clock.offset += 600
    c.records.append({"userid": "u001", "checkin_type": "下班打卡", "checkin_time":
                      int(clock() - 60), "lat": 0, "lng": 0, "deviceid": "d1"})
    st = await poll(src, session, clock, st)
    new_calls = fakes.calls_to("wecom", "/cgi-bin/checkin/getcheckindata")[6:]
    assert len(new_calls) == 3
    assert all(cl.body["endtime"] - cl.body["starttime"] <= 3600 + 601 for cl in new_calls)
    assert len(st.ids) == 751


async def test_department_members_listed_with_cursor_paging(fakes, session, clock, tmp_path):
    c = corp(fakes)
    c.departments.update({2: 1, 3: 2, 4: 1})  # 3 under 2; 4 elsewhere
    c.members += [(f"a{k}", 2) for k in range(5)] + [(f"b{k}", 3) for k in range(4)]
    c.members += [(f"c{k}", 4) for k in range(3)] + [("a0", 4)]
    fakes.page_cap = 2
    src = source(fakes, tmp_path, users={"department_ids": [2]})
    await poll(src, session, clock)
    pages = fakes.calls_to("wecom", "/cgi-bin/user/list_id")
    assert len(pages) == 7  # 13 member rows, 2 a page
    assert pages[0].body == {"limit": 10000} and pages[1].body["cursor"] == "2"
    listed = fakes.calls_to("wecom", "/cgi-bin/checkin/getcheckindata")[0].body["useridlist"]
    assert sorted(listed) == sorted([f"a{k}" for k in range(5)] + [f"b{k}" for k in range(4)])
    # the contacts calls used the contacts-sync secret's token (else 48002)
    assert all(cl.errcode == 0 for cl in fakes.calls)


async def test_rate_limit_errcode_blocks_the_credential_with_retry_after(
    fakes, session, clock, tmp_path
):
    corp(fakes)
    pool = CredentialPool()
    src = source(fakes, tmp_path, pool=pool)
    await poll(src, session, clock)
    fakes.fail_next("wecom", "/cgi-bin/checkin/getcheckindata", 45009)
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is ErrorReason.rate_limited
    assert e.value.retry_after == 60.0
    assert "errcode 45009" in e.value.detail
    # another app on the same corp is held back without calling WeCom meanwhile
    n = len(fakes.calls)
    with pytest.raises(SourceError) as e2:
        await poll(source(fakes, tmp_path, pool=pool), session, clock)
    assert e2.value.reason is ErrorReason.rate_limited and len(fakes.calls) == n
    assert 50 < (e2.value.retry_after or 0) <= 60


@pytest.mark.parametrize(
    ("fault", "reason"), [("not_json", ErrorReason.decode), ("wrong_shape", ErrorReason.schema)]
)
async def test_malformed_answers_fail_typed_and_the_next_poll_recovers(
    fakes, session, clock, tmp_path, fault, reason
):
    c = corp(fakes)
    c.records.append({"userid": "james", "checkin_type": "上班打卡",
                      "checkin_time": int(clock() - 3600)})
    src = source(fakes, tmp_path)
    fakes.fail_next("wecom", "/cgi-bin/checkin/getcheckindata", fault)
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is reason
    assert len((await poll(src, session, clock)).events) == 1


async def test_bad_or_missing_secret_is_an_auth_failure_naming_the_file_not_the_secret(
    fakes, session, clock, tmp_path
):
    corp(fakes)
    src = source(fakes, tmp_path)
    (tmp_path / "wecom").write_text("not-the-secret\n")
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is ErrorReason.auth and "errcode 40001" in e.value.detail
    assert "not-the-secret" not in e.value.detail
    (tmp_path / "wecom").unlink()
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is ErrorReason.auth and "secret_file" in e.value.detail


async def test_a_ring_arrives_in_wgs84_at_the_declared_point(fakes, session, clock, tmp_path):
    """Mixed datums: WeCom reports GCJ-02, the registry point is WGS-84. Unconverted, the
    ring would sit hundreds of metres from the point; converted, it is at the point."""
    c = corp(fakes)
    rng = random.Random(5)
    accounts = [f"r{k}" for k in range(12)]
    recs, ring = wecom_ring(POINT, accounts, clock() - 7200, rng)
    c.records += recs
    src = source(fakes, tmp_path, users={"user_ids": accounts})
    got = await poll(src, session, clock)
    lat = np.array([e.lat for e in got.events])
    lon = np.array([e.lon for e in got.events])
    assert distance_m(lat, lon, *POINT).max() < 12
    raw_lat = np.array([r["lat"] * 1e-6 for r in recs])
    raw_lon = np.array([r["lng"] * 1e-6 for r in recs])
    assert distance_m(raw_lat, raw_lon, *POINT).min() > 300
    assert {e.device for e in got.events} == {Pseudonymizer(KEY).device(d) for d in ring.devices}
