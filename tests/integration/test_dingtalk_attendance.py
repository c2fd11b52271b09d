"""DingTalk attendance adapter against a fake DingTalk built from the documented shapes:
token fetch and expiry, sub-departments and cursor-paged members, 50 users and 7 days per
call, rate-limit and malformed answers, phone check-ins only, and the field mapping."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from tapwatch.config import DingTalkAttendanceSourceConfig
from tapwatch.datum import gcj02_to_wgs84
from tapwatch.detectors.geo import distance_m
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator.platform_scenarios import dingtalk_attendance, dingtalk_ring
from tapwatch.simulator.platforms import DingTalkOrg, PlatformFakes, _cst_seconds
from tapwatch.sources.base import ErrorReason, SourceError
from tapwatch.sources.dingtalk_attendance import DingTalkAttendanceSource
from tapwatch.sources.platform import CredentialPool
from tests.integration.platform_util import KEY, fixture, poll, secret_file

APP_KEY, SECRET = "dingxxxxxxxx", "dingtalk-app-secret"
POINT = (30.2741, 120.1551)


def source(fakes: PlatformFakes, tmp: Path, *, pool: CredentialPool | None = None,
           **kw: object) -> DingTalkAttendanceSource:
    cfg = {
        "kind": "dingtalk_attendance",
        "base_url": fakes.base_url("dingtalk"),
        "app_key": APP_KEY,
        "app_secret_file": secret_file(tmp, "dingtalk", SECRET),
        "users": {"user_ids": ["manager4220"]},
        "max_requests_per_second": 500,  # the limiter has its own test
        **kw,
    }
    return DingTalkAttendanceSource(
        DingTalkAttendanceSourceConfig.model_validate(cfg), pool or CredentialPool()
    )


def org(fakes: PlatformFakes) -> DingTalkOrg:
    return fakes.add_dingtalk(APP_KEY, SECRET)


async def test_documented_records_map_onto_event_fields(fakes, session, clock, tmp_path):
    o = org(fakes)
    o.records += fixture("dingtalk_listrecord.json")["recordresult"]
    clock.offset = 1599500000 - clock()  # the documented records are from September 2020
    got = await poll(source(fakes, tmp_path), session, clock, oldest=0)
    assert len(got.events) == 2 and not got.skipped
    e = min(got.events, key=lambda x: x.ts)
    assert e.id == "dingtalk-43047156750"
    assert e.ts == 1599441505.0
    assert e.account == Pseudonymizer(KEY).account("manager4220")
    assert e.device == Pseudonymizer(KEY).device("67da0fxxxx")
    assert e.accuracy_m == 65 and e.target == "OnDuty"
    w_lat, w_lon = gcj02_to_wgs84(30.285413, 120.017139)
    assert (e.lat, e.lon) == (pytest.approx(w_lat, abs=1e-7), pytest.approx(w_lon, abs=1e-7))
    call = fakes.calls_to("dingtalk", "/attendance/listRecord")[0]
    assert call.body["isI18n"] is False and call.body["userIds"] == ["manager4220"]


async def test_only_phone_check_ins_become_events_the_rest_is_counted_by_type(
    fakes, session, clock, tmp_path
):
    o = org(fakes)
    users = [f"m{k}" for k in range(40)]
    day = clock() - 86400 - clock() % 86400
    o.records += dingtalk_attendance(users, day, random.Random(2), first_id=1)
    src = source(fakes, tmp_path, users={"user_ids": users})
    got = await poll(src, session, clock)
    by_source: dict[str, int] = {}
    for r in o.records:
        by_source[r["sourceType"]] = by_source.get(r["sourceType"], 0) + 1
    assert len(got.events) == by_source["USER"]
    assert got.skipped == {
        k.lower(): n for k, n in by_source.items() if k != "USER"
    }
    # a record that is not a phone check-in shares its device with nobody: none stored
    assert all(e.device is not None for e in got.events)


async def test_tokens_users_per_call_and_span_per_call(fakes, session, clock, tmp_path):
    o = org(fakes)
    users = [f"m{k:03d}" for k in range(120)]
    now = clock()
    for k, u in enumerate(users):
        for back in (0.5, 6.5, 12.5, 29.5):
            o.records.append({"id": k * 10 + int(back), "userId": u, "sourceType": "USER",
                              "userCheckTime": int((now - back * 86400) * 1000),
                              "checkType": "OnDuty", "timeResult": "Normal"})
    pool = CredentialPool()
    st = await poll(source(fakes, tmp_path, pool=pool, users={"user_ids": users}),
                    session, clock)
    calls = fakes.calls_to("dingtalk", "/attendance/listRecord")
    assert all(c.errcode == 0 for c in calls)
    assert max(len(c.body["userIds"]) for c in calls) == 50
    spans = [_cst_seconds(c.body["checkDateTo"]) - _cst_seconds(c.body["checkDateFrom"])
             for c in calls]
    assert max(spans) <= 7 * 86400
    assert len(calls) == 3 * 5  # 3 batches of users x 5 windows for 30 days
    assert len(st.ids) == 480
    assert len(fakes.calls_to("dingtalk", "/gettoken")) == 1
    # expired mid-run by DingTalk: 40014, a new token, the same call again, no failure
    fakes.expire_tokens()
    clock.offset += 300
    st = await poll(source(fakes, tmp_path, pool=pool, users={"user_ids": users}),
                    session, clock, st)
    assert len(fakes.calls_to("dingtalk", "/gettoken")) == 2
    codes = [c.errcode for c in fakes.calls_to("dingtalk", "/attendance/listRecord")[15:]]
    assert codes == [40014, 0, 0, 0]
    # the token lives until shortly before expires_in, then a new one is fetched
    clock.offset += 7200
    await poll(source(fakes, tmp_path, pool=pool, users={"user_ids": users}), session, clock, st)
    assert len(fakes.calls_to("dingtalk", "/gettoken")) == 3


async def test_members_of_sub_departments_by_cursor(fakes, session, clock, tmp_path):
    o = org(fakes)
    o.departments.update({10: 1, 11: 10, 12: 11, 20: 1})
    o.members[10] = ["a1", "a2", "a3"]
    o.members[11] = ["b1"]
    o.members[12] = ["c1", "c2", "c3", "c4", "c5"]
    o.members[20] = ["z1"]
    fakes.page_cap = 2
    await poll(source(fakes, tmp_path, users={"department_ids": [10]}), session, clock)
    listed = fakes.calls_to("dingtalk", "/attendance/listRecord")[0].body["userIds"]
    assert sorted(listed) == ["a1", "a2", "a3", "b1", "c1", "c2", "c3", "c4", "c5"]
    pages = fakes.calls_to("dingtalk", "/topapi/user/listsimple")
    assert [p.body["cursor"] for p in pages if p.body["dept_id"] == 12] == [0, 2, 4]
    assert all(p.body["size"] <= 100 for p in pages)


async def test_rate_limit_and_malformed_answers(fakes, session, clock, tmp_path):
    org(fakes)
    src = source(fakes, tmp_path)
    fakes.fail_next("dingtalk", "/attendance/listRecord", 90018)
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is ErrorReason.rate_limited and e.value.retry_after == 2.0
    fakes.fail_next("dingtalk", "/attendance/listRecord", "wrong_shape")
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is ErrorReason.schema and "userCheckTime" in e.value.detail
    fakes.fail_next("dingtalk", "/gettoken", "not_json")
    fakes.expire_tokens()
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is ErrorReason.decode
    # a permission error wrapped in errcode 88 is an auth failure
    fakes.fail_next("dingtalk", "/attendance/listRecord", 60011)
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is ErrorReason.auth
    await poll(src, session, clock)  # and then it works again


async def test_a_ring_arrives_at_the_point_in_wgs84(fakes, session, clock, tmp_path):
    o = org(fakes)
    accounts = [f"r{k}" for k in range(10)]
    recs, ring = dingtalk_ring(POINT, accounts, clock() - 3600, random.Random(1))
    o.records += recs
    got = await poll(source(fakes, tmp_path, users={"user_ids": accounts}), session, clock)
    lat = np.array([e.lat for e in got.events])
    lon = np.array([e.lon for e in got.events])
    assert distance_m(lat, lon, *POINT).max() < 12
    assert {e.device for e in got.events} == {Pseudonymizer(KEY).device(d) for d in ring.devices}
