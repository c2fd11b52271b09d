"""What the simulated platforms hold: a WeCom corp whose risk-point check-ins are made by
one person carrying many phones, a DingTalk org with ordinary attendance (phones,
attendance machines, approvals), and official accounts read by order. Records are in
the platforms' documented shapes, positions in GCJ-02 as the platforms report them.

Used by `tapwatch demo` and by the tests, which plant their own rings with `wecom_ring`
and `dingtalk_ring`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from tapwatch.datum import wgs84_to_gcj02
from tapwatch.simulator.platforms import CST, PlatformFakes

#: the demo's risk point (WGS-84, as a registry declares it) and the office
RISK_POINT = (30.2741, 120.1551)
OFFICE = (30.2790, 120.1620)
_M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class Ring:
    """What was planted: for the tests' and the demo's ground truth."""

    accounts: list[str]
    devices: list[str]
    start: float
    end: float


def _near(lat: float, lon: float, metres: float, rng: random.Random) -> tuple[float, float]:
    """A WGS-84 position within `metres` of (lat, lon)."""
    r, a = metres * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
    return (
        lat + r * math.sin(a) / 110_574.0,
        lon + r * math.cos(a) / (_M_PER_DEG * math.cos(math.radians(lat))),
    )


def _gcj_micro(lat: float, lon: float) -> tuple[int, int]:
    """WeCom's lat/lng: GCJ-02 in millionths of a degree."""
    g_lat, g_lon = wgs84_to_gcj02(lat, lon)
    return round(g_lat * 1e6), round(g_lon * 1e6)


def wecom_ring(
    point: tuple[float, float], accounts: list[str], start: float, rng: random.Random,
    *, phones: int = 4, title: str = "",
) -> tuple[list[dict[str, Any]], Ring]:
    """One person checks every account in at a point, phone after phone, 3-9 s apart:
    getcheckindata records (field check-ins, 外出打卡) on `phones` devices, one Wi-Fi."""
    devices = [f"ring-phone-{int(start)}-{k}" for k in range(phones)]
    wifi = "3c:46:d8:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(3))
    t = start
    out = []
    for k, acc in enumerate(accounts):
        if k:
            t += rng.uniform(3, 9)
        out.append(_wecom_record(
            acc, t, "外出打卡", _near(*point, 6, rng), devices[k % phones], wifi,
            group=("风险点打卡", 2), title=title, media=f"WWCISP_ring_{int(start)}_{k % 3}",
        ))
    return out, Ring(list(accounts), devices, start, t)


def _wecom_record(
    user: str, t: float, kind: str, where: tuple[float, float], device: str, wifi: str,
    *, group: tuple[str, int], title: str, media: str = "",
) -> dict[str, Any]:
    """A getcheckindata record (every documented field) at a WGS-84 position."""
    lat, lng = _gcj_micro(*where)
    return {
        "userid": user, "groupname": group[0], "checkin_type": kind, "exception_type": "",
        "checkin_time": int(t), "location_title": title, "location_detail": "",
        "wifiname": "", "notes": "", "wifimac": wifi, "mediaids": [media] if media else [],
        "lat": lat, "lng": lng, "deviceid": device, "sch_checkin_time": 0,
        "groupid": group[1], "schedule_id": 0, "timeline_id": 0,
    }


def wecom_attendance(
    users: list[str], day_start: float, rng: random.Random
) -> list[dict[str, Any]]:
    """Ordinary office attendance: each user on their own phone, 08:20-09:10 and
    17:30-18:40, at the office (positions within 150 m), own Wi-Fi or none."""
    out = []
    for u in users:
        if rng.random() < 0.1:  # on leave
            continue
        for kind, lo, hi in (("上班打卡", 8.33, 9.17), ("下班打卡", 17.5, 18.67)):
            t = day_start + rng.uniform(lo, hi) * 3600
            wifi = "" if rng.random() < 0.5 else "a0:0c:11:22:33:44"  # the office AP
            out.append(_wecom_record(u, t, kind, _near(*OFFICE, 150, rng), f"phone-{u}",
                                     wifi, group=("机关考勤", 1), title="区政府"))
    return out


def dingtalk_ring(
    point: tuple[float, float], accounts: list[str], start: float, rng: random.Random,
    *, phones: int = 3, first_id: int = 9_000_000,
) -> tuple[list[dict[str, Any]], Ring]:
    """A ring in listRecord records: phone check-ins (sourceType USER) on a few devices."""
    devices = [f"dt-ring-{int(start)}-{k}" for k in range(phones)]
    t = start
    out = []
    for k, acc in enumerate(accounts):
        if k:
            t += rng.uniform(3, 9)
        g_lat, g_lon = wgs84_to_gcj02(*_near(*point, 6, rng))
        out.append(_dt_record(first_id + k, acc, t, "USER", g_lat, g_lon, devices[k % phones],
                              "OnDuty", accuracy=round(rng.uniform(8, 20))))
    return out, Ring(list(accounts), devices, start, t)


def _dt_record(rid: int, user: str, t: float, source: str, lat: float | None,
               lon: float | None, device: str, check: str, *, accuracy: float = 30,
               result: str = "Normal") -> dict[str, Any]:
    r: dict[str, Any] = {
        "id": rid, "userId": user, "userCheckTime": int(t * 1000), "sourceType": source,
        "checkType": check, "timeResult": result, "locationResult": "Normal",
        "baseCheckTime": int(t * 1000), "workDate": int(t // 86400 * 86400 * 1000),
        "corpId": "dingdemo", "groupId": 1, "planId": rid, "isLegal": "N",
    }
    if lat is not None and lon is not None:
        r.update(userLatitude=round(lat, 6), userLongitude=round(lon, 6),
                 userAccuracy=accuracy, locationMethod="MAP")
    if device:
        r["deviceId"] = device
    return r


def dingtalk_attendance(
    users: list[str], day_start: float, rng: random.Random, first_id: int
) -> list[dict[str, Any]]:
    """A day of DingTalk attendance: most on their phones, some at the door's attendance
    machine, a few leave approvals and the system's not-signed placeholders."""
    out: list[dict[str, Any]] = []
    rid = first_id
    for u in users:
        roll = rng.random()
        for check, lo, hi in (("OnDuty", 8.33, 9.17), ("OffDuty", 17.5, 18.67)):
            rid += 1
            t = day_start + rng.uniform(lo, hi) * 3600
            if roll < 0.6:
                g = wgs84_to_gcj02(*_near(*OFFICE, 150, rng))
                out.append(_dt_record(rid, u, t, "USER", *g, f"dt-phone-{u}", check))
            elif roll < 0.85:
                out.append(_dt_record(rid, u, t, "ATM", None, None, "", check))
            elif roll < 0.95:
                out.append(_dt_record(rid, u, t, "APPROVE", None, None, "", check))
            else:
                out.append(_dt_record(rid, u, t, "SYSTEM", None, None, "", check,
                                      result="NotSigned"))
    return out


def ritual_reading(
    account: Any, days: list[date], staff: int, followers: int, rng: random.Random,
    *, per_day: int = 2,
) -> None:
    """Fill an official account's datacube figures: every article read by nearly all of
    the `staff` told to read, whatever it says (ritual reading)."""
    cum = followers
    for n, d in enumerate(days):
        arts = []
        for k in range(per_day):
            readers = staff - rng.randrange(0, 4)
            arts.append({
                "msgid": f"{2247480000 + n * 10}_{k + 1}", "title": f"通知 {d} 第{k + 1}篇",
                "int_page_read_user": readers, "int_page_read_count": readers + rng.randrange(3),
                "ori_page_read_user": 0, "ori_page_read_count": 0,
                "share_user": rng.randrange(2), "share_count": rng.randrange(3),
                "add_to_fav_user": 0, "add_to_fav_count": 0,
            })
        account.articles[d] = arts
        new, gone = rng.randrange(0, 2), rng.randrange(0, 2)
        cum += new - gone
        read = max(a["int_page_read_user"] for a in arts)
        account.days[d] = {
            "new_user": new, "cancel_user": gone, "cumulate_user": cum,
            "read_user": read, "read_count": sum(a["int_page_read_count"] for a in arts),
            "share_user": 1, "share_count": 1, "fav_user": 0, "fav_count": 0,
        }


# -- the demo's platforms ------------------------------------------------------------------


@dataclass
class DemoPlatforms:
    fakes: PlatformFakes
    rings: list[Ring]


def populate_demo(
    fakes: PlatformFakes, now: float, seed: int = 1, days: int = 30
) -> DemoPlatforms:
    """A WeCom corp with a daily ring at the risk point, a DingTalk org, two official
    accounts read by order: `days` of history up to `now`."""
    rng = random.Random(seed)
    corp = fakes.add_wecom("wwdemo0000000001", "wecom-demo-secret", "wecom-contacts-secret")
    corp.departments.update({2: 1, 3: 2})
    staff = [f"wx{k:03d}" for k in range(40)]
    corp.members += [(u, 2 if k % 2 else 3) for k, u in enumerate(staff)]
    org = fakes.add_dingtalk("dingdemo0000001", "dingtalk-demo-secret")
    dstaff = [f"manager{4200 + k}" for k in range(30)]
    org.departments.update({5: 1})
    org.members[5] = dstaff
    today = datetime.fromtimestamp(now, CST).replace(hour=0, minute=0, second=0, microsecond=0)
    rings = []
    for back in range(days, -1, -1):
        day_start = (today - timedelta(days=back)).timestamp()
        corp.records += [r for r in wecom_attendance(staff, day_start, rng)
                         if r["checkin_time"] <= now]
        t = day_start + rng.uniform(10.0, 15.0) * 3600
        if t < now:
            recs, ring = wecom_ring(RISK_POINT, rng.sample(staff, 12), t, rng, title="")
            corp.records += recs
            rings.append(ring)
        org.records += [r for r in dingtalk_attendance(dstaff, day_start, rng, back * 1000)
                        if r["userCheckTime"] <= now * 1000]
    history = [today.date() - timedelta(days=k) for k in range(days, 0, -1)]
    for app_id, secret, staff_n in (("wxdemo0000000001", "mp-demo-secret-1", 120),
                                    ("wxdemo0000000002", "mp-demo-secret-2", 60)):
        ritual_reading(fakes.add_mp(app_id, secret), history, staff_n, staff_n + 15, rng)
    return DemoPlatforms(fakes, rings)


def write_demo_registry(fakes: PlatformFakes, path: Path, secrets_dir: Path) -> None:
    """The registry entries of the demo's platform apps, and their secret files."""
    secrets_dir.mkdir(parents=True, exist_ok=True)

    def secret(name: str, value: str) -> str:
        p = secrets_dir / name
        p.write_text(value + "\n")
        p.chmod(0o600)
        return str(p)

    common = {"owner": "Demo District Organisation Dept", "region": "Demo District",
              "launched": "2023-03-01", "interval": "5s"}
    corp = next(iter(fakes.wecom.values()))
    org = next(iter(fakes.dingtalk.values()))
    apps: list[dict[str, Any]] = [
        {
            "id": "wecom-risk-points", "name": "Risk-point check-in (WeCom)",
            "owner": common["owner"], "region": common["region"], "category": "party-affairs",
            "launched": common["launched"], "intended_users": 40, "annual_cost_cny": 0,
            "declared_features": ["checkin", "gps_upload", "photo_upload"],
            "points": [{"id": "risk-point-1", "lat": RISK_POINT[0], "lon": RISK_POINT[1],
                        "radius_m": 50}],
            "source": {
                "kind": "wecom_checkin", "base_url": fakes.base_url("wecom"),
                "corp_id": corp.corp_id, "secret_file": secret("wecom", corp.secret),
                "contacts_secret_file": secret("wecom-contacts", corp.contacts_secret),
                "users": {"department_ids": [2]}, "interval": common["interval"],
            },
        },
        {
            "id": "dingtalk-attendance", "name": "Township attendance (DingTalk)",
            "owner": common["owner"], "region": common["region"], "category": "attendance",
            "launched": common["launched"], "intended_users": 30,
            "declared_features": ["checkin"],
            "source": {
                "kind": "dingtalk_attendance", "base_url": fakes.base_url("dingtalk"),
                "app_key": org.app_key, "app_secret_file": secret("dingtalk", org.app_secret),
                "users": {"department_ids": [5]}, "interval": common["interval"],
            },
        },
    ]
    for n, acct in enumerate(fakes.wechat.values(), 1):
        apps.append({
            "id": f"mp-notices-{n}", "name": f"Official account {n} (WeChat)",
            "owner": common["owner"], "region": common["region"], "category": "publicity",
            "launched": common["launched"], "intended_users": 120 if n == 1 else 60,
            "declared_features": ["articles"],
            "source": {
                "kind": "wechat_mp_stats", "base_url": fakes.base_url("wechat"),
                "app_id": acct.app_id, "app_secret_file": secret(f"mp-{n}", acct.secret),
                "interval": common["interval"],
            },
        })
    text = "# Written by `tapwatch demo`: apps on simulated platforms.\n" + yaml.safe_dump(
        {"apps": apps}, sort_keys=False, allow_unicode=True, width=100
    )
    path.write_text(text)
