"""WeCom (企业微信) check-in source: `kind: wecom_checkin` (docs/sources/wecom_checkin.md).

Calls (https://developer.work.weixin.qq.com/document/path/...):
- GET  /cgi-bin/gettoken?corpid=&corpsecret=          token (path/91039)
- POST /cgi-bin/checkin/getcheckindata                records: opencheckindatatype 3 (all),
       starttime/endtime (unix s, at most 30 days apart), useridlist (at most 100) (90262)
- GET  /cgi-bin/department/simplelist?id=             a department and its sub-departments
- POST /cgi-bin/user/list_id {cursor, limit}          members, cursor-paged (path/96067);
       WeCom allows it only with the contacts-sync secret (`contacts_secret_file`)

Mapping: userid -> account, checkin_time -> ts, lat/lng (integers, 1e-6 degrees, GCJ-02)
-> lat/lon in WGS-84, deviceid -> device, wifimac -> network, mediaids -> photo_hash (keyed
hash), location_title -> point when it names a registry point, checkin_type and
exception_type -> target. Records carry no id: a keyed hash of (userid, checkin_time,
checkin_type) is, so overlapping polls de-duplicate exactly. Missed check-ins (exception
未打卡) are counted as skipped, never stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import msgspec

from tapwatch.config import PointConfig, WeComCheckinSourceConfig
from tapwatch.sources.base import PollContext, SkipReason
from tapwatch.sources.checkin_platform import (
    MAX_DEPARTMENTS,
    CallLimits,
    CheckinPlatformSource,
    point_titles,
)
from tapwatch.sources.platform import (
    CredentialPool,
    Errcodes,
    PlatformApi,
    connect,
    decode_as,
)

#: From the WeCom global error code list (path/90313) and frequency limits (path/90454):
#: "按分钟拦截则被屏蔽60秒，按小时拦截则被屏蔽60分钟"; we cannot tell which, so 60 s.
ERRCODES = Errcodes(
    platform="WeCom",
    token_invalid=frozenset({40014, 42001}),
    rate_limited={45009: 60.0, 45033: 60.0},
    auth=frozenset({40001, 40013, 40091, 41001, 48002, 50001, 60011, 60020}),
    meaning={
        -1: "system busy",
        40001: "invalid secret",
        40013: "invalid corpid",
        40014: "invalid access_token",
        40058: "invalid parameter",
        40091: "secret of another corp",
        42001: "access_token expired",
        45009: "call frequency limit reached",
        45033: "too many concurrent calls",
        48002: "API not permitted for this app",
        60011: "no permission for these members or departments",
        60020: "this IP address is not on the app's trusted list",
    },
)
LIMITS = CallLimits(max_users=100, max_span_s=30 * 86400.0)
LIST_ID_LIMIT = 10_000  # members per user/list_id page (the documented maximum)
#: exception_type of a check-in that did not happen
MISSED = "未打卡"


class _Token(msgspec.Struct):
    access_token: str
    expires_in: float = 7200.0


class CheckinRecord(msgspec.Struct, kw_only=True):
    """One getcheckindata record (fields we read; the rest are ignored)."""

    userid: str
    checkin_time: int
    checkin_type: str = ""
    exception_type: str = ""
    location_title: str = ""
    wifimac: str = ""
    mediaids: list[str] = []
    lat: int = 0
    lng: int = 0
    deviceid: str = ""


class _Records(msgspec.Struct):
    checkindata: list[CheckinRecord] = []


class _Department(msgspec.Struct):
    id: int
    parentid: int = 0


class _Departments(msgspec.Struct):
    department_id: list[_Department] = []


class _DeptUser(msgspec.Struct):
    userid: str
    department: int


class _MemberPage(msgspec.Struct):
    dept_user: list[_DeptUser] = []
    next_cursor: str = ""


class WeComCheckinSource(CheckinPlatformSource):
    limits = LIMITS

    def __init__(
        self,
        cfg: WeComCheckinSourceConfig,
        points: Sequence[PointConfig] = (),
        credentials: CredentialPool | None = None,
    ) -> None:
        super().__init__(cfg.users, cfg.backfill, cfg.overlap)
        self.cfg = cfg
        pool = credentials or CredentialPool()
        # two secrets, one corp: one limiter, a token each
        self.api = connect(
            cfg, ident=cfg.corp_id, errcodes=ERRCODES, fetch_token=self._fetch_token,
            credentials=pool, secret_file=cfg.secret_file, secret_key="secret_file",
        )
        self.contacts_api: PlatformApi | None = None
        if cfg.contacts_secret_file is not None:
            self.contacts_api = connect(
                cfg, ident=cfg.corp_id, errcodes=ERRCODES, fetch_token=self._fetch_token,
                credentials=pool, secret_file=cfg.contacts_secret_file,
                secret_key="contacts_secret_file",
            )
        self._titles = point_titles(points)

    async def _fetch_token(self, ctx: PollContext, api: PlatformApi) -> tuple[str, float]:
        doc = await api.call(
            ctx, "GET", "/cgi-bin/gettoken",
            params={"corpid": self.cfg.corp_id, "corpsecret": api.secret()},
            with_token=False,
        )
        t = decode_as(doc, _Token, "WeCom", "/cgi-bin/gettoken")
        return t.access_token, t.expires_in

    async def list_department_users(self, ctx: PollContext, departments: list[int]) -> list[str]:
        api = self.contacts_api
        assert api is not None  # the config requires it with department_ids
        wanted: set[int] = set()
        for d in departments:
            path = "/cgi-bin/department/simplelist"
            doc = await api.call(ctx, "GET", path, params={"id": str(d)})
            listed = decode_as(doc, _Departments, "WeCom", path).department_id
            wanted.add(d)
            wanted.update(x.id for x in listed)  # the department and all below it
            if len(wanted) > MAX_DEPARTMENTS:
                break
        users: list[str] = []
        cursor = ""
        seen: set[str] = set()
        while True:
            path = "/cgi-bin/user/list_id"
            body: dict[str, Any] = {"limit": LIST_ID_LIMIT}
            if cursor:
                body["cursor"] = cursor
            page = decode_as(await api.call(ctx, "POST", path, body=body), _MemberPage,
                             "WeCom", path)
            users += [u.userid for u in page.dept_user if u.department in wanted]
            if not page.next_cursor or page.next_cursor in seen:
                return users
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    async def fetch(
        self, ctx: PollContext, users: list[str], start: float, end: float
    ) -> list[CheckinRecord]:
        path = "/cgi-bin/checkin/getcheckindata"
        body = {
            "opencheckindatatype": 3,  # all check-ins: attendance and field (外出)
            "starttime": int(start),
            "endtime": int(end),
            "useridlist": users,
        }
        doc = await self.api.call(ctx, "POST", path, body=body)
        return decode_as(doc, _Records, "WeCom", path).checkindata

    def to_rows(
        self, records: list[Any], ctx: PollContext
    ) -> tuple[list[dict[str, Any]], Counter[str]]:
        rows: list[dict[str, Any]] = []
        skipped: Counter[str] = Counter()
        keyed = ctx.pseudonymizer
        for r in records:
            if MISSED in r.exception_type or r.checkin_time <= 0:
                skipped[SkipReason.not_checked_in.value] += 1
                continue
            row: dict[str, Any] = {
                # no id in the record: a keyed hash of what identifies a check-in
                "id": "wecom-" + keyed("wecom_checkin", f"{r.userid}\0{r.checkin_time}\0"
                                        f"{r.checkin_type}"),
                "ts": float(r.checkin_time),
                "type": "checkin",
                "account": r.userid,
                "target": r.checkin_type
                + (f"|{r.exception_type}" if r.exception_type else ""),
            }
            if r.deviceid:
                row["device"] = r.deviceid
            if r.wifimac:
                row["network"] = r.wifimac.lower()
            if r.lat or r.lng:  # 0, 0 means no position (a Wi-Fi check-in)
                row["lat"] = r.lat * 1e-6
                row["lon"] = r.lng * 1e-6
            if r.mediaids:
                row["photo_hash"] = keyed("photo", "\0".join(sorted(r.mediaids)))
            point = self._titles.get(r.location_title.strip())
            if point is not None:
                row["point"] = point
            rows.append(row)
        return rows, skipped
