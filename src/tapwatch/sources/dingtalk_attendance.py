"""DingTalk (钉钉) attendance source: `kind: dingtalk_attendance`
(docs/sources/dingtalk_attendance.md).

Calls (https://open.dingtalk.com/document/orgapp/...):
- GET  /gettoken?appkey=&appsecret=                   token (obtain-orgapp-token)
- POST /attendance/listRecord                         check-in details: userIds (at most
       50), checkDateFrom/checkDateTo ('yyyy-MM-dd HH:mm:ss', at most 7 days apart)
- POST /topapi/v2/department/listsubid {dept_id}      a department's sub-departments
- POST /topapi/user/listsimple {dept_id, cursor, size} members, cursor-paged (size <= 100)

Mapping: userId -> account, userCheckTime (ms) -> ts, userLatitude/userLongitude (GCJ-02,
the AMap datum DingTalk uses) -> lat/lon in WGS-84, userAccuracy -> accuracy_m, deviceId
-> device, userMacAddr (else userSsid) -> network, checkType -> target, id -> event id.
Only check-ins a person made on a phone (sourceType USER) become events; the rest
(attendance machines, approvals, manager changes, system records...) are counted as
skipped by sourceType, as are the system's "not signed" placeholders.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

import msgspec

from tapwatch.config import DingTalkAttendanceSourceConfig
from tapwatch.sources.base import PollContext, SkipReason
from tapwatch.sources.checkin_platform import MAX_DEPARTMENTS, CallLimits, CheckinPlatformSource
from tapwatch.sources.platform import (
    CST,
    CredentialPool,
    Errcodes,
    PlatformApi,
    connect,
    decode_as,
)

#: From DingTalk's server API error codes and its frequency-limit page: 90002 (every
#: corp's calls of an API over the platform's ceiling), 90018 (this corp over its QPS),
#: 90019 (an app over 40 calls/s per corp); per-second limits, so a short block.
ERRCODES = Errcodes(
    platform="DingTalk",
    token_invalid=frozenset({40014, 42001}),
    rate_limited={90002: 2.0, 90018: 2.0, 90019: 2.0},
    auth=frozenset({88, 40089, 40078, 60011, 60020, 60121}),
    wrapped=frozenset({88}),
    meaning={
        -1: "system busy",
        88: "authentication error",
        40014: "invalid access_token",
        40089: "invalid appkey or appsecret",
        42001: "access_token expired",
        60011: "no permission for this API or these members",
        90002: "platform-wide call limit reached",
        90018: "this corp's call frequency limit reached",
        90019: "this app's call frequency limit reached",
        400002: "invalid parameter",
    },
)
LIMITS = CallLimits(max_users=50, max_span_s=7 * 86400.0)
PAGE_SIZE = 100  # members per listsimple page (the documented maximum)
PHONE = "USER"  # sourceType of a check-in a person made in the DingTalk app
NOT_SIGNED = "NotSigned"
_SKIP_BY_SOURCE = {
    "ATM": SkipReason.atm,
    "DING_ATM": SkipReason.ding_atm,
    "BEACON": SkipReason.beacon,
    "BOSS": SkipReason.boss,
    "APPROVE": SkipReason.approve,
    "SYSTEM": SkipReason.system,
    "AUTO_CHECK": SkipReason.auto_check,
}


class _Token(msgspec.Struct):
    access_token: str
    expires_in: float = 7200.0


class AttendanceRecord(msgspec.Struct, kw_only=True):
    """One listRecord record (fields we read; numbers may arrive as strings)."""

    userId: str
    userCheckTime: int
    id: int | str | None = None
    sourceType: str = ""
    checkType: str = ""
    timeResult: str = ""
    userLatitude: float | None = None
    userLongitude: float | None = None
    userAccuracy: float | None = None
    deviceId: str = ""
    userMacAddr: str = ""
    userSsid: str = ""


class _Records(msgspec.Struct):
    recordresult: list[AttendanceRecord] = []


class _SubIds(msgspec.Struct):
    dept_id_list: list[int] = []


class _SubIdsDoc(msgspec.Struct):
    result: _SubIds


class _Member(msgspec.Struct):
    userid: str


class _MemberPage(msgspec.Struct):
    has_more: bool = False
    next_cursor: int | None = None
    members: list[_Member] = msgspec.field(default_factory=list, name="list")


class _MemberDoc(msgspec.Struct):
    result: _MemberPage


def cst_text(t: float) -> str:
    """Epoch seconds as DingTalk's 'yyyy-MM-dd HH:mm:ss' in China Standard Time."""
    return datetime.fromtimestamp(t, CST).strftime("%Y-%m-%d %H:%M:%S")


class DingTalkAttendanceSource(CheckinPlatformSource):
    limits = LIMITS

    def __init__(
        self, cfg: DingTalkAttendanceSourceConfig, credentials: CredentialPool | None = None
    ) -> None:
        super().__init__(cfg.users, cfg.backfill, cfg.overlap)
        self.cfg = cfg
        self.api = connect(
            cfg, ident=cfg.app_key, errcodes=ERRCODES, fetch_token=self._fetch_token,
            credentials=credentials or CredentialPool(), secret_file=cfg.app_secret_file,
            secret_key="app_secret_file",
        )

    async def _fetch_token(self, ctx: PollContext, api: PlatformApi) -> tuple[str, float]:
        doc = await api.call(
            ctx, "GET", "/gettoken",
            params={"appkey": self.cfg.app_key, "appsecret": api.secret()},
            with_token=False,
        )
        t = decode_as(doc, _Token, "DingTalk", "/gettoken")
        return t.access_token, t.expires_in

    async def list_department_users(self, ctx: PollContext, departments: list[int]) -> list[str]:
        # listsimple lists a department's own members only: walk the sub-departments
        todo, seen = list(departments), set(departments)
        users: list[str] = []
        while todo and len(seen) <= MAX_DEPARTMENTS:
            dept = todo.pop()
            path = "/topapi/v2/department/listsubid"
            doc = await self.api.call(ctx, "POST", path, body={"dept_id": dept})
            for sub in decode_as(doc, _SubIdsDoc, "DingTalk", path).result.dept_id_list:
                if sub not in seen:
                    seen.add(sub)
                    todo.append(sub)
            users += await self._members(ctx, dept)
        return users

    async def _members(self, ctx: PollContext, dept: int) -> list[str]:
        path = "/topapi/user/listsimple"
        out: list[str] = []
        cursor = 0
        cursors = {cursor}
        while True:
            body = {"dept_id": dept, "cursor": cursor, "size": PAGE_SIZE}
            doc = await self.api.call(ctx, "POST", path, body=body)
            page = decode_as(doc, _MemberDoc, "DingTalk", path).result
            out += [m.userid for m in page.members]
            if not page.has_more or page.next_cursor is None or page.next_cursor in cursors:
                return out
            cursor = page.next_cursor
            cursors.add(cursor)

    async def fetch(
        self, ctx: PollContext, users: list[str], start: float, end: float
    ) -> list[AttendanceRecord]:
        path = "/attendance/listRecord"
        body = {
            "userIds": users,
            "checkDateFrom": cst_text(start),
            "checkDateTo": cst_text(end),
            "isI18n": False,
        }
        doc = await self.api.call(ctx, "POST", path, body=body)
        return decode_as(doc, _Records, "DingTalk", path).recordresult

    def to_rows(
        self, records: list[Any], ctx: PollContext
    ) -> tuple[list[dict[str, Any]], Counter[str]]:
        rows: list[dict[str, Any]] = []
        skipped: Counter[str] = Counter()
        for r in records:
            if r.sourceType != PHONE:
                skipped[_SKIP_BY_SOURCE.get(r.sourceType, SkipReason.unknown_source).value] += 1
                continue
            if r.timeResult == NOT_SIGNED:
                skipped[SkipReason.not_checked_in.value] += 1
                continue
            if r.id is not None and str(r.id):
                eid = f"dingtalk-{r.id}"
            else:
                eid = "dingtalk-" + ctx.pseudonymizer(
                    "dingtalk_record", f"{r.userId}\0{r.userCheckTime}\0{r.checkType}"
                )
            row: dict[str, Any] = {
                "id": eid,
                "ts": r.userCheckTime / 1000.0,
                "type": "checkin",
                "account": r.userId,
            }
            if r.checkType:
                row["target"] = r.checkType
            if r.deviceId:
                row["device"] = r.deviceId
            if r.userMacAddr:
                row["network"] = r.userMacAddr.lower()
            elif r.userSsid:
                row["network"] = "ssid:" + r.userSsid
            if r.userLatitude is not None and r.userLongitude is not None:
                row["lat"] = r.userLatitude
                row["lon"] = r.userLongitude
                if r.userAccuracy is not None and r.userAccuracy >= 0:
                    row["accuracy_m"] = r.userAccuracy
            rows.append(row)
        return rows, skipped
