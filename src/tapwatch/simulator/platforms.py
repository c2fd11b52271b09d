"""Simulated platforms: WeCom check-in, DingTalk attendance and WeChat official-account
statistics, served in the shapes their public documentation gives (see docs/sources/).

One aiohttp server holds all three under path prefixes (`/wecom`, `/dingtalk`,
`/wechat`), each standing in for the platform's base URL. It issues and checks access
tokens, enforces the documented per-call limits (users and span per call, data up to
yesterday) with an error answer, can enforce a call rate, and can be told to fail the
next calls of a path (an errcode, a body that is not JSON, a JSON body of the wrong
shape) or to expire every token early. Every call is recorded (without tokens or secrets)
so tests can check what the adapters asked for. Access logs are off: the platforms'
token endpoints take secrets as query parameters.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from aiohttp import web

CST = timezone(timedelta(hours=8))
TOKEN_TTL_S = 7200
_JSON = "application/json"

#: documented per-call limits, and the errcode the fake answers a breach with
WECOM_MAX_USERS, WECOM_MAX_SPAN_S = 100, 30 * 86400
DINGTALK_MAX_USERS, DINGTALK_MAX_SPAN_S = 50, 7 * 86400
DATACUBE_SPAN_DAYS = {
    "getusersummary": 7,
    "getusercumulate": 7,
    "getarticlesummary": 1,
    "getuserread": 3,
    "getusershare": 7,
}
BAD_PARAM = {"wecom": 40058, "dingtalk": 400002, "wechat": 61501}
RATE_ERRCODE = {"wecom": 45033, "dingtalk": 90018, "wechat": 45011}
INVALID_TOKEN = {"wecom": 40014, "dingtalk": 40014, "wechat": 40001}
BAD_SECRET = {"wecom": 40001, "dingtalk": 40089, "wechat": 40125}
ALL_SOURCES = 99999999  # getuserread's user_source for "every channel"


@dataclass
class Call:
    """One call a fake platform received (tokens and secrets left out)."""

    platform: str
    path: str
    params: dict[str, str]
    body: Any
    at: float  # time.monotonic()
    errcode: int


@dataclass
class Tokens:
    """Access tokens of one credential: the same token is handed out until it expires
    (as the platforms' normal mode does), `expire()` ends them all early."""

    clock: Callable[[], float]
    ttl: int = TOKEN_TTL_S
    current: str | None = None
    expires_at: float = 0.0
    issued: list[str] = field(default_factory=list)  # every token handed out

    def get(self) -> tuple[str, int]:
        now = self.clock()
        if self.current is None or now >= self.expires_at:
            self.current = secrets.token_urlsafe(24)
            self.expires_at = now + self.ttl
            self.issued.append(self.current)
        return self.current, int(self.expires_at - now)

    def valid(self, token: str | None) -> bool:
        return token is not None and token == self.current and self.clock() < self.expires_at

    def expire(self) -> None:
        self.current = None


@dataclass
class WeComCorp:
    corp_id: str
    secret: str
    contacts_secret: str
    clock: Callable[[], float]
    departments: dict[int, int] = field(default_factory=lambda: {1: 0})  # id -> parent
    members: list[tuple[str, int]] = field(default_factory=list)  # (userid, department)
    records: list[dict[str, Any]] = field(default_factory=list)  # getcheckindata shape
    tokens: dict[str, Tokens] = field(default_factory=dict)  # by secret

    def token_for(self, secret: str) -> Tokens:
        return self.tokens.setdefault(secret, Tokens(self.clock))


@dataclass
class DingTalkOrg:
    app_key: str
    app_secret: str
    clock: Callable[[], float]
    departments: dict[int, int] = field(default_factory=lambda: {1: 0})
    members: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    records: list[dict[str, Any]] = field(default_factory=list)  # listRecord shape
    tokens: Tokens | None = None


@dataclass
class MpAccount:
    app_id: str
    secret: str
    clock: Callable[[], float]
    #: date -> new_user, cancel_user, cumulate_user, read_user, read_count, share_user,
    #: share_count, fav_user, fav_count
    days: dict[date, dict[str, int]] = field(default_factory=dict)
    articles: dict[date, list[dict[str, Any]]] = field(default_factory=dict)
    tokens: Tokens | None = None


class PlatformFakes:
    """The three platforms on one server; tests and the demo add corps and accounts."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.wecom: dict[str, WeComCorp] = {}
        self.dingtalk: dict[str, DingTalkOrg] = {}
        self.wechat: dict[str, MpAccount] = {}
        self.calls: list[Call] = []
        self.max_calls_per_second: dict[str, float] = {}
        #: members per page of the contacts lists at most (small to exercise paging)
        self.page_cap: int | None = None
        self._faults: dict[tuple[str, str], deque[Any]] = defaultdict(deque)
        self._recent: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None
        self.port: int | None = None

    # -- set-up -------------------------------------------------------------------------
    def add_wecom(self, corp_id: str, secret: str, contacts_secret: str = "") -> WeComCorp:
        c = self.wecom[corp_id] = WeComCorp(corp_id, secret, contacts_secret, self.clock)
        return c

    def add_dingtalk(self, app_key: str, app_secret: str) -> DingTalkOrg:
        o = self.dingtalk[app_key] = DingTalkOrg(app_key, app_secret, self.clock)
        return o

    def add_mp(self, app_id: str, secret: str) -> MpAccount:
        a = self.wechat[app_id] = MpAccount(app_id, secret, self.clock)
        return a

    def fail_next(self, platform: str, path: str, fault: int | str, times: int = 1) -> None:
        """The next `times` calls of `path` fail: an errcode, "not_json" or "wrong_shape"."""
        for _ in range(times):
            self._faults[(platform, path)].append(fault)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (a platform ending them early)."""
        for c in self.wecom.values():
            for t in c.tokens.values():
                t.expire()
        for holder in itertools.chain(self.dingtalk.values(), self.wechat.values()):
            if holder.tokens is not None:
                holder.tokens.expire()

    def issued_tokens(self) -> list[str]:
        """Every access token any platform handed out (tests look for leaks)."""
        out = [t for c in self.wecom.values() for tk in c.tokens.values() for t in tk.issued]
        for holder in itertools.chain(self.dingtalk.values(), self.wechat.values()):
            if holder.tokens is not None:
                out += holder.tokens.issued
        return out

    def calls_to(self, platform: str, path: str) -> list[Call]:
        return [c for c in self.calls if c.platform == platform and c.path == path]

    def base_url(self, platform: str) -> str:
        if self.port is None:
            raise RuntimeError("the platform fakes are not started")
        return f"http://127.0.0.1:{self.port}/{platform}"

    # -- serving ------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/{platform}/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[union-attr]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _handle(self, request: web.Request) -> web.Response:
        platform = request.match_info["platform"]
        path = "/" + request.match_info["path"]
        params = dict(request.query)
        body: Any = None
        if request.method == "POST" and request.can_read_body:
            try:
                body = json.loads(await request.read() or b"null")
            except ValueError:
                return _reply({"errcode": 47001, "errmsg": "data format error"})
        handler = _ROUTES.get((platform, request.method, path))
        if handler is None and platform == "wechat" and path.startswith("/datacube/"):
            handler = PlatformFakes._datacube
        if handler is None:
            return web.Response(status=404, text="no such API")
        fault = self._take_fault(platform, path)
        if fault == "not_json":
            self._log(platform, path, params, body, -1)
            return web.Response(body=b"<html>gateway error</html>", content_type="text/html")
        if fault == "wrong_shape":
            self._log(platform, path, params, body, 0)
            return _reply({"errcode": 0, "errmsg": "ok", **_WRONG_SHAPE.get(path, {"list": 7})})
        if isinstance(fault, int):
            self._log(platform, path, params, body, fault)
            return _reply({"errcode": fault, "errmsg": "injected"})
        if self._too_fast(platform, params, body):
            code = RATE_ERRCODE[platform]
            self._log(platform, path, params, body, code)
            return _reply({"errcode": code, "errmsg": "api freq out of limit"})
        doc = handler(self, platform, path, params, body)
        self._log(platform, path, params, body, int(doc.get("errcode", 0)))
        return _reply(doc)

    def _take_fault(self, platform: str, path: str) -> Any:
        q = self._faults.get((platform, path))
        return q.popleft() if q else None

    def _too_fast(self, platform: str, params: dict[str, str], body: Any) -> bool:
        limit = self.max_calls_per_second.get(platform)
        if limit is None:
            return False
        now = time.monotonic()
        recent = self._recent[(platform, "all")]
        while recent and now - recent[0] > 1.0:
            recent.popleft()
        recent.append(now)
        return len(recent) > limit

    def _log(self, platform: str, path: str, params: dict[str, str], body: Any, code: int) -> None:
        clean = {k: v for k, v in params.items() if k not in _SECRET_PARAMS}
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "secret"}
        self.calls.append(Call(platform, path, clean, body, time.monotonic(), code))

    # -- WeCom (developer.work.weixin.qq.com) -------------------------------------------
    def _wecom_corp_by_token(self, params: dict[str, str]) -> WeComCorp | None:
        tok = params.get("access_token")
        for c in self.wecom.values():
            if any(t.valid(tok) for t in c.tokens.values()):
                return c
        return None

    def _wecom_token(self, platform: str, path: str, params: dict[str, str], body: Any) -> dict:
        c = self.wecom.get(params.get("corpid", ""))
        if c is None:
            return {"errcode": 40013, "errmsg": "invalid corpid"}
        secret = params.get("corpsecret", "")
        if secret not in (c.secret, c.contacts_secret) or not secret:
            return {"errcode": BAD_SECRET[platform], "errmsg": "invalid credential"}
        token, ttl = c.token_for(secret).get()
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": ttl}

    def _wecom_contacts(self, params: dict[str, str]) -> WeComCorp | dict:
        c = self._wecom_corp_by_token(params)
        if c is None:
            return {"errcode": INVALID_TOKEN["wecom"], "errmsg": "invalid access_token"}
        if not c.tokens[c.contacts_secret].valid(params.get("access_token")):
            return {"errcode": 48002, "errmsg": "api forbidden"}  # list_id: contacts only
        return c

    def _wecom_departments(self, platform: str, path: str, params: dict, body: Any) -> dict:
        c = self._wecom_contacts(params)
        if isinstance(c, dict):
            return c
        root = int(params.get("id", "1"))
        below = _descendants(c.departments, root)
        rows = [{"id": d, "parentid": c.departments[d], "order": 0} for d in sorted(below)]
        return {"errcode": 0, "errmsg": "ok", "department_id": rows}

    def _wecom_list_id(self, platform: str, path: str, params: dict, body: Any) -> dict:
        c = self._wecom_contacts(params)
        if isinstance(c, dict):
            return c
        limit = min(int((body or {}).get("limit", 10000)), self.page_cap or 10000)
        start = int((body or {}).get("cursor") or 0)
        page = c.members[start : start + limit]
        nxt = str(start + limit) if start + limit < len(c.members) else ""
        rows = [{"userid": u, "department": d} for u, d in page]
        return {"errcode": 0, "errmsg": "ok", "next_cursor": nxt, "dept_user": rows}

    def _wecom_checkin(self, platform: str, path: str, params: dict, body: Any) -> dict:
        c = self._wecom_corp_by_token(params)
        if c is None or not c.tokens[c.secret].valid(params.get("access_token")):
            return {"errcode": INVALID_TOKEN[platform], "errmsg": "invalid access_token"}
        b = body or {}
        users = b.get("useridlist") or []
        start, end = int(b.get("starttime", 0)), int(b.get("endtime", 0))
        if len(users) > WECOM_MAX_USERS or end - start > WECOM_MAX_SPAN_S or end < start:
            return {"errcode": BAD_PARAM[platform], "errmsg": "invalid parameter"}
        want = set(users)
        rows = [
            r for r in c.records if r["userid"] in want and start <= r["checkin_time"] <= end
        ]
        return {"errcode": 0, "errmsg": "ok", "checkindata": rows}

    # -- DingTalk (open.dingtalk.com) ---------------------------------------------------
    def _dingtalk_org(self, params: dict[str, str]) -> DingTalkOrg | None:
        tok = params.get("access_token")
        return next(
            (o for o in self.dingtalk.values() if o.tokens is not None and o.tokens.valid(tok)),
            None,
        )

    def _dingtalk_token(self, platform: str, path: str, params: dict, body: Any) -> dict:
        o = self.dingtalk.get(params.get("appkey", ""))
        if o is None or params.get("appsecret") != o.app_secret:
            return {"errcode": BAD_SECRET[platform], "errmsg": "不合法的appKey或appSecret"}
        if o.tokens is None:
            o.tokens = Tokens(self.clock)
        token, ttl = o.tokens.get()
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": ttl}

    def _dingtalk_subdepts(self, platform: str, path: str, params: dict, body: Any) -> dict:
        o = self._dingtalk_org(params)
        if o is None:
            return {"errcode": INVALID_TOKEN[platform], "errmsg": "不合法的access_token"}
        parent = int((body or {}).get("dept_id", 1))
        children = sorted(d for d, p in o.departments.items() if p == parent and d != parent)
        return {"errcode": 0, "errmsg": "ok", "result": {"dept_id_list": children}}

    def _dingtalk_members(self, platform: str, path: str, params: dict, body: Any) -> dict:
        o = self._dingtalk_org(params)
        if o is None:
            return {"errcode": INVALID_TOKEN[platform], "errmsg": "不合法的access_token"}
        b = body or {}
        size = int(b.get("size", 100))
        if size > 100:
            return {"errcode": BAD_PARAM[platform], "errmsg": "无效的参数"}
        size = min(size, self.page_cap or size)
        cursor = int(b.get("cursor", 0))
        users = o.members.get(int(b.get("dept_id", 1)), [])
        page = users[cursor : cursor + size]
        more = cursor + size < len(users)
        result = {
            "has_more": more,
            "list": [{"userid": u, "name": f"name-{u}"} for u in page],
        }
        if more:
            result["next_cursor"] = cursor + size
        return {"errcode": 0, "errmsg": "ok", "result": result}

    def _dingtalk_records(self, platform: str, path: str, params: dict, body: Any) -> dict:
        o = self._dingtalk_org(params)
        if o is None:
            return {"errcode": INVALID_TOKEN[platform], "errmsg": "不合法的access_token"}
        b = body or {}
        users = b.get("userIds") or []
        try:
            start = _cst_seconds(b["checkDateFrom"])
            end = _cst_seconds(b["checkDateTo"])
        except (KeyError, ValueError):
            return {"errcode": BAD_PARAM[platform], "errmsg": "无效的参数"}
        if len(users) > DINGTALK_MAX_USERS or end - start > DINGTALK_MAX_SPAN_S or end < start:
            return {"errcode": BAD_PARAM[platform], "errmsg": "无效的参数"}
        want = set(users)
        rows = [
            r for r in o.records
            if r["userId"] in want and start * 1000 <= r["userCheckTime"] <= end * 1000
        ]
        return {"errcode": 0, "errmsg": "ok", "recordresult": rows}

    # -- WeChat official accounts (developers.weixin.qq.com) ----------------------------
    def _wechat_token(self, platform: str, path: str, params: dict, body: Any) -> dict:
        b = body or {}
        a = self.wechat.get(b.get("appid", ""))
        if b.get("grant_type") != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if a is None:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if b.get("secret") != a.secret:
            return {"errcode": BAD_SECRET[platform], "errmsg": "invalid appsecret"}
        if a.tokens is None:
            a.tokens = Tokens(self.clock)
        token, ttl = a.tokens.get()
        return {"access_token": token, "expires_in": ttl}  # no errcode on success

    def _datacube(self, platform: str, path: str, params: dict, body: Any) -> dict:
        tok = params.get("access_token")
        a = next(
            (x for x in self.wechat.values() if x.tokens is not None and x.tokens.valid(tok)),
            None,
        )
        if a is None:
            return {"errcode": INVALID_TOKEN[platform], "errmsg": "invalid credential"}
        name = path.removeprefix("/datacube/")
        span = DATACUBE_SPAN_DAYS.get(name)
        if span is None:
            return {"errcode": 48001, "errmsg": "api unauthorized"}
        try:
            d0 = date.fromisoformat((body or {})["begin_date"])
            d1 = date.fromisoformat((body or {})["end_date"])
        except (KeyError, ValueError, TypeError):
            return {"errcode": 61500, "errmsg": "date format error"}
        yesterday = datetime.fromtimestamp(self.clock(), CST).date() - timedelta(days=1)
        if d1 < d0 or (d1 - d0).days >= span or d1 > yesterday:
            return {"errcode": BAD_PARAM[platform], "errmsg": "date range error"}
        days = [d0 + timedelta(days=i) for i in range((d1 - d0).days + 1)]
        return {"list": _datacube_rows(a, name, days)}


def _datacube_rows(a: MpAccount, name: str, days: list[date]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for d in days:
        f = a.days.get(d)
        ref = d.isoformat()
        if name == "getarticlesummary":
            out += [{"ref_date": ref, **art} for art in a.articles.get(d, [])]
        elif f is None:
            continue
        elif name == "getusersummary":
            out.append({"ref_date": ref, "user_source": 0, "new_user": f["new_user"],
                        "cancel_user": f["cancel_user"]})
        elif name == "getusercumulate":
            out.append({"ref_date": ref, "cumulate_user": f["cumulate_user"]})
        elif name == "getuserread":
            row = {
                "int_page_read_user": f["read_user"], "int_page_read_count": f["read_count"],
                "ori_page_read_user": 0, "ori_page_read_count": 0,
                "share_user": f["share_user"], "share_count": f["share_count"],
                "add_to_fav_user": f["fav_user"], "add_to_fav_count": f["fav_count"],
            }
            out.append({"ref_date": ref, "user_source": ALL_SOURCES, **row})
            # the per-channel rows (here: all from the chat session) must not be added up
            out.append({"ref_date": ref, "user_source": 0, **row})
        elif name == "getusershare":
            out.append({"ref_date": ref, "share_scene": 1, "share_count": f["share_count"],
                        "share_user": f["share_user"]})
    return out


def _descendants(parents: dict[int, int], root: int) -> set[int]:
    out = {root} if root in parents else set()
    grew = True
    while grew:
        grew = False
        for d, p in parents.items():
            if p in out and d not in out:
                out.add(d)
                grew = True
    return out


def _cst_seconds(text: str) -> float:
    """'yyyy-MM-dd HH:mm:ss' in China Standard Time, as DingTalk takes dates."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CST).timestamp()


def _reply(doc: dict[str, Any]) -> web.Response:
    return web.Response(body=json.dumps(doc, ensure_ascii=False).encode(), content_type=_JSON)


_SECRET_PARAMS = frozenset({"access_token", "corpsecret", "appsecret", "secret"})
_WRONG_SHAPE = {
    "/cgi-bin/checkin/getcheckindata": {"checkindata": [{"userid": 7, "checkin_time": "x"}]},
    "/attendance/listRecord": {"recordresult": [{"userId": "u", "userCheckTime": "soon"}]},
    "/cgi-bin/gettoken": {"access_token": 12},
    "/gettoken": {"access_token": 12},
}
_ROUTES: dict[tuple[str, str, str], Callable[..., dict[str, Any]]] = {
    ("wecom", "GET", "/cgi-bin/gettoken"): PlatformFakes._wecom_token,
    ("wecom", "GET", "/cgi-bin/department/simplelist"): PlatformFakes._wecom_departments,
    ("wecom", "POST", "/cgi-bin/user/list_id"): PlatformFakes._wecom_list_id,
    ("wecom", "POST", "/cgi-bin/checkin/getcheckindata"): PlatformFakes._wecom_checkin,
    ("dingtalk", "GET", "/gettoken"): PlatformFakes._dingtalk_token,
    ("dingtalk", "POST", "/topapi/v2/department/listsubid"): PlatformFakes._dingtalk_subdepts,
    ("dingtalk", "POST", "/topapi/user/listsimple"): PlatformFakes._dingtalk_members,
    ("dingtalk", "POST", "/attendance/listRecord"): PlatformFakes._dingtalk_records,
    ("wechat", "POST", "/cgi-bin/stable_token"): PlatformFakes._wechat_token,
}
