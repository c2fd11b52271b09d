"""WeChat official-account statistics source: `kind: wechat_mp_stats`
(docs/sources/wechat_mp_stats.md).

Calls (https://developers.weixin.qq.com/doc/service/api/...):
- POST /cgi-bin/stable_token {grant_type, appid, secret}   token (getStableAccessToken);
       the stable token keeps the secret out of URLs and does not end other systems' tokens
- POST /datacube/<endpoint>?access_token= {begin_date, end_date}, with the documented
       maximum span per call: getusersummary 7 days, getusercumulate 7, getarticlesummary
       1, getuserread 3, getusershare 7; end_date at most yesterday

These are daily aggregates, not events: they become the app's usage snapshot (followers;
read users, reads, shares and favourites per article per day; the account's daily
figures), which the assessment and the flat-reads detector read. A day is fetched once,
after 08:00 China time the next day (the documentation asks for that: the figures are
complete then). The days already fetched are kept in the cursor (at most `backfill` or 35
days), committed with the snapshot, so a restart re-fetches nothing and polls between
new days cost no call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any

import msgspec

from tapwatch.config import WeChatMpStatsSourceConfig
from tapwatch.detectors.base import AccountDay, ArticleDay, UsageSnapshot
from tapwatch.sources.base import Count, ErrorReason, PollContext, SourceError
from tapwatch.sources.platform import (
    CST,
    CredentialPool,
    Errcodes,
    PlatformApi,
    connect,
    decode_as,
)
from tapwatch.store.sqlite import IngestBatch

#: Global error codes (developers.weixin.qq.com ... commErrCode) and datacube's own:
#: 45009 is the daily quota (until midnight), 45011 the per-minute one.
ERRCODES = Errcodes(
    platform="WeChat",
    token_invalid=frozenset({40001, 40014, 42001}),
    rate_limited={45009: None, 45011: 60.0},
    auth=frozenset({40013, 40125, 40164, 41002, 41004, 48001, 50001, 61024, 89503}),
    meaning={
        -1: "system busy",
        40001: "invalid credential (secret wrong or token invalid)",
        40013: "invalid appid",
        40014: "invalid access_token",
        40125: "invalid appsecret",
        40164: "this IP address is not on the account's IP whitelist",
        42001: "access_token expired",
        45009: "daily API quota reached",
        45011: "per-minute API quota reached",
        48001: "API not authorised for this account",
        61500: "date format error",
        61501: "date range error",
    },
)
#: datacube endpoint -> maximum days per call (begin_date..end_date inclusive)
SPANS = {
    "getusersummary": 7,
    "getusercumulate": 7,
    "getarticlesummary": 1,
    "getuserread": 3,
    "getusershare": 7,
}
ALL_SOURCES = 99999999  # getuserread's user_source for "every channel" (since 2020-02-28)
READY_HOUR = 8  # a day's figures are complete after 08:00 China time the next day
MIN_KEEP_DAYS = 35


class _Token(msgspec.Struct):
    access_token: str
    expires_in: float = 7200.0


class _List(msgspec.Struct):
    rows: list[dict[str, Any]] = msgspec.field(default_factory=list, name="list")


class _Summary(msgspec.Struct):
    ref_date: str
    new_user: Count = 0
    cancel_user: Count = 0


class _Cumulate(msgspec.Struct):
    ref_date: str
    cumulate_user: Count


class _Engagement(msgspec.Struct, kw_only=True):
    """The reach figures an article's row and a day's row share."""

    int_page_read_user: Count = 0
    int_page_read_count: Count = 0
    share_user: Count = 0
    share_count: Count = 0
    add_to_fav_user: Count = 0
    add_to_fav_count: Count = 0


class _Article(_Engagement, kw_only=True):
    ref_date: str
    msgid: str
    title: str = ""


class _Read(_Engagement, kw_only=True):
    ref_date: str
    user_source: int | None = None


class _Share(msgspec.Struct):
    ref_date: str
    share_count: Count = 0
    share_user: Count = 0


class _State(msgspec.Struct):
    """What the cursor keeps: the last complete day fetched and the kept history."""

    through: str | None = None
    days: dict[str, AccountDay] = {}
    articles: dict[str, list[ArticleDay]] = {}


_state_enc = msgspec.json.Encoder()
_state_dec = msgspec.json.Decoder(_State)


def last_complete_day(now: float) -> date:
    """The latest day whose figures are final at `now` (China time)."""
    local = datetime.fromtimestamp(now, CST)
    back = 1 if local.hour >= READY_HOUR else 2
    return local.date() - timedelta(days=back)


def day_chunks(first: date, last: date, span: int) -> list[tuple[date, date]]:
    out = []
    d = first
    while d <= last:
        end = min(last, d + timedelta(days=span - 1))
        out.append((d, end))
        d = end + timedelta(days=1)
    return out


class WeChatMpStatsSource:
    def __init__(
        self, cfg: WeChatMpStatsSourceConfig, credentials: CredentialPool | None = None
    ) -> None:
        self.cfg = cfg
        self.api = connect(
            cfg, ident=cfg.app_id, errcodes=ERRCODES, fetch_token=self._fetch_token,
            credentials=credentials or CredentialPool(), secret_file=cfg.app_secret_file,
            secret_key="app_secret_file",
        )
        self._keep_days = max(MIN_KEEP_DAYS, int(cfg.backfill // 86400))

    async def _fetch_token(self, ctx: PollContext, api: PlatformApi) -> tuple[str, float]:
        body = {"grant_type": "client_credential", "appid": self.cfg.app_id,
                "secret": api.secret(), "force_refresh": False}
        doc = await api.call(ctx, "POST", "/cgi-bin/stable_token", body=body, with_token=False)
        t = decode_as(doc, _Token, "WeChat", "/cgi-bin/stable_token")
        return t.access_token, t.expires_in

    async def poll(self, ctx: PollContext) -> AsyncIterator[IngestBatch]:
        state = _load(ctx.cursor)
        last = last_complete_day(ctx.now())
        if state.through is None:
            first = last - timedelta(days=max(1, int(self.cfg.backfill // 86400)) - 1)
        else:
            first = date.fromisoformat(state.through) + timedelta(days=1)
        if first > last:
            return  # nothing new until tomorrow morning: no call at all
        figures: dict[str, dict[str, Any]] = {}
        for name, span in SPANS.items():
            for d0, d1 in day_chunks(first, last, span):
                path = f"/datacube/{name}"
                body = {"begin_date": d0.isoformat(), "end_date": d1.isoformat()}
                rows = decode_as(await self.api.call(ctx, "POST", path, body=body), _List,
                                 "WeChat", path).rows
                _merge(state, figures, name, rows, path)
        for day, f in figures.items():
            old = state.days.get(day)
            base = msgspec.structs.asdict(old) if old is not None else {"day": day}
            state.days[day] = AccountDay(**{**base, **f})
        state.through = last.isoformat()
        _prune(state, last - timedelta(days=self._keep_days - 1))
        yield IngestBatch(
            snapshot=snapshot_of(state, ctx.now()),
            cursor=_state_enc.encode(state).decode(),
        )


def _merge(
    state: _State, figures: dict[str, dict[str, Any]], name: str, rows: list[Any], path: str
) -> None:
    """Fold one endpoint's rows into the day figures and the article history."""
    if name == "getarticlesummary":
        by_day: dict[str, list[ArticleDay]] = {}
        for r in (decode_as(x, _Article, "WeChat", path) for x in rows):
            by_day.setdefault(r.ref_date, []).append(ArticleDay(
                day=r.ref_date, article=r.msgid, title=r.title[:200],
                read_users=r.int_page_read_user, reads=r.int_page_read_count,
                share_users=r.share_user, shares=r.share_count,
                favourite_users=r.add_to_fav_user, favourites=r.add_to_fav_count,
            ))
        state.articles.update(by_day)
        return
    if name == "getusersummary":  # one row per follow channel: add them up
        for r in (decode_as(x, _Summary, "WeChat", path) for x in rows):
            f = figures.setdefault(r.ref_date, {})
            f["new_followers"] = f.get("new_followers", 0) + r.new_user
            f["unfollowers"] = f.get("unfollowers", 0) + r.cancel_user
    elif name == "getusercumulate":
        for r in (decode_as(x, _Cumulate, "WeChat", path) for x in rows):
            figures.setdefault(r.ref_date, {})["followers"] = r.cumulate_user
    elif name == "getuserread":
        reads = [decode_as(x, _Read, "WeChat", path) for x in rows]
        for day in {r.ref_date for r in reads}:
            that = [r for r in reads if r.ref_date == day]
            # the "every channel" row when there is one (per-channel rows overlap)
            whole = [r for r in that if r.user_source in (ALL_SOURCES, None)] or that
            f = figures.setdefault(day, {})
            f["read_users"] = sum(r.int_page_read_user for r in whole)
            f["reads"] = sum(r.int_page_read_count for r in whole)
            f["favourite_users"] = sum(r.add_to_fav_user for r in whole)
            f["favourites"] = sum(r.add_to_fav_count for r in whole)
    elif name == "getusershare":  # one row per share scene
        for r in (decode_as(x, _Share, "WeChat", path) for x in rows):
            f = figures.setdefault(r.ref_date, {})
            f["shares"] = f.get("shares", 0) + r.share_count
            f["share_users"] = f.get("share_users", 0) + r.share_user


def _prune(state: _State, oldest: date) -> None:
    cut = oldest.isoformat()
    state.days = {d: v for d, v in state.days.items() if d >= cut}
    state.articles = {d: v for d, v in state.articles.items() if d >= cut}


def _midnight(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=CST).timestamp()


def snapshot_of(state: _State, at: float) -> UsageSnapshot:
    """The usage snapshot of the kept history.

    Reading is what an official account is for: read users on the last day are its
    1-day active accounts; for 7 and 30 days the platform gives no distinct count, so
    the most read users on any one day stands in (a lower bound of the distinct readers).
    The last content update is the first day the newest article was read; if no article
    appeared after the history's first day, that day (nothing newer since at least then).
    """
    days = sorted(state.days.values(), key=lambda x: x.day)
    articles = tuple(a for d in sorted(state.articles) for a in state.articles[d])
    followers = next((d.followers for d in reversed(days) if d.followers is not None), None)
    last = state.through

    def most_readers(n: int) -> int | None:
        if last is None:
            return None
        cut = (date.fromisoformat(last) - timedelta(days=n - 1)).isoformat()
        vals = [d.read_users for d in days if d.day >= cut and d.read_users is not None]
        return max(vals) if vals else None

    first_seen: dict[str, str] = {}
    for a in articles:
        first_seen.setdefault(a.article.split("_")[0], a.day)
    start = min([*state.days, *state.articles], default=None)
    newer = [d for d in first_seen.values() if start is not None and d > start]
    if newer:
        updated: float | None = _midnight(max(newer))
    else:
        updated = _midnight(start) if start is not None else None
    return UsageSnapshot(
        at=at,
        registered_accounts=followers,
        active_accounts_1d=most_readers(1),
        active_accounts_7d=most_readers(7),
        active_accounts_30d=most_readers(30),
        last_content_update_at=updated,
        days=tuple(days),
        articles=articles,
    )


def _load(cursor: str | None) -> _State:
    if not cursor:
        return _State()
    try:
        return _state_dec.decode(cursor)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise SourceError(
            ErrorReason.schema, "stored cursor is not this source's (was the kind changed?)"
        ) from None
