"""WeChat official-account statistics against a fake datacube built from the documented
shapes: stable token and its expiry, the per-endpoint spans and "up to yesterday", the
backfill and the history kept in the cursor, quota and malformed answers, and the
snapshot the flat-reads detector judges."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from tapwatch.config import WeChatMpStatsSourceConfig
from tapwatch.detectors import flat_reads
from tapwatch.detectors.base import AppProfile, DetectorInput
from tapwatch.simulator.platform_scenarios import ritual_reading
from tapwatch.simulator.platforms import CST, DATACUBE_SPAN_DAYS, MpAccount, PlatformFakes
from tapwatch.sources.base import ErrorReason, SourceError
from tapwatch.sources.platform import CredentialPool
from tapwatch.sources.wechat_mp_stats import WeChatMpStatsSource
from tapwatch.store.sqlite import IngestBatch, Store
from tapwatch.window import AccountDays, AppHours, EventWindow
from tests.integration.platform_util import Clock, poll, secret_file

APP_ID, SECRET = "wx0123456789abcdef", "mp-app-secret"


def at_cst_hour(clock: Clock, hour: int) -> date:
    """Move the clock to `hour`:00 China time today; returns that date."""
    local = datetime.fromtimestamp(clock(), CST)
    target = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    clock.offset += target.timestamp() - clock()
    return target.date()


def source(fakes: PlatformFakes, tmp: Path, *, pool: CredentialPool | None = None,
           **kw: object) -> WeChatMpStatsSource:
    cfg = {
        "kind": "wechat_mp_stats",
        "base_url": fakes.base_url("wechat"),
        "app_id": APP_ID,
        "app_secret_file": secret_file(tmp, "mp", SECRET),
        "max_requests_per_second": 500,  # the limiter has its own test
        **kw,
    }
    return WeChatMpStatsSource(
        WeChatMpStatsSourceConfig.model_validate(cfg), pool or CredentialPool()
    )


def account(fakes: PlatformFakes, today: date, days: int = 40, staff: int = 120) -> MpAccount:
    a = fakes.add_mp(APP_ID, SECRET)
    history = [today - timedelta(days=k) for k in range(days, 0, -1)]
    ritual_reading(a, history, staff, staff + 20, random.Random(4))
    return a


async def test_backfill_respects_each_endpoints_span_and_ends_yesterday(
    fakes, session, clock, tmp_path
):
    today = at_cst_hour(clock, 10)
    a = account(fakes, today)
    got = await poll(source(fakes, tmp_path), session, clock)
    assert all(c.errcode == 0 for c in fakes.calls)
    yesterday = (today - timedelta(days=1)).isoformat()
    for name, span in DATACUBE_SPAN_DAYS.items():
        calls = fakes.calls_to("wechat", f"/datacube/{name}")
        spans = [(date.fromisoformat(c.body["end_date"]) - date.fromisoformat(
            c.body["begin_date"])).days + 1 for c in calls]
        assert max(spans) == span
        assert sum(spans) == 30  # the default 30-day backfill, each day once
        assert max(c.body["end_date"] for c in calls) == yesterday
    (snap,) = got.snapshots
    last = today - timedelta(days=1)
    assert snap.registered_accounts == a.days[last]["cumulate_user"]
    assert snap.active_accounts_1d == a.days[last]["read_user"]
    assert len(snap.days) == 30 and snap.days[-1].day == yesterday
    assert len(snap.articles) == 60  # two articles a day
    first = snap.articles[-1]
    src_art = a.articles[last][1]
    assert (first.article, first.read_users, first.reads) == (
        src_art["msgid"], src_art["int_page_read_user"], src_art["int_page_read_count"]
    )
    # getuserread answers per channel and for all channels: only the latter counts
    assert snap.days[-1].read_users == a.days[last]["read_user"]
    assert snap.last_content_update_at == datetime.combine(last, datetime.min.time(),
                                                           CST).timestamp()


async def test_before_eight_yesterday_is_not_final_and_later_polls_fetch_only_new_days(
    fakes, session, clock, tmp_path
):
    today = at_cst_hour(clock, 7)
    account(fakes, today)
    src = source(fakes, tmp_path)
    st = await poll(src, session, clock)
    ends = {c.body["end_date"] for c in fakes.calls if c.path.startswith("/datacube/")}
    assert max(ends) == (today - timedelta(days=2)).isoformat()
    n = len(fakes.calls)
    st = await poll(src, session, clock, st)  # nothing new yet: not a single call
    assert len(fakes.calls) == n and len(st.snapshots) == 1
    clock.offset += 2 * 3600  # 09:00: yesterday is final now
    st = await poll(src, session, clock, st)
    new = [c for c in fakes.calls[n:] if c.path.startswith("/datacube/")]
    assert len(new) == 5 and {c.body["begin_date"] for c in new} == {
        (today - timedelta(days=1)).isoformat()
    }
    assert len(st.snapshots[-1].days) == 31  # the history rides in the cursor


async def test_stable_token_cached_and_renewed_when_the_platform_ends_it(
    fakes, session, clock, tmp_path
):
    today = at_cst_hour(clock, 7)
    clock.offset += 1800  # 07:30: the day before yesterday is the last final day
    account(fakes, today)
    pool = CredentialPool()
    st = await poll(source(fakes, tmp_path, pool=pool), session, clock)
    (tok,) = fakes.calls_to("wechat", "/cgi-bin/stable_token")
    assert tok.body == {"grant_type": "client_credential", "appid": APP_ID,
                        "force_refresh": False}  # the secret is in the body, never the URL
    before = len([c for c in fakes.calls if c.path.startswith("/datacube/")])
    fakes.expire_tokens()  # the platform ends it early; our copy has an hour and more left
    clock.offset += 3600  # 08:30: yesterday is final, one more day to fetch
    await poll(source(fakes, tmp_path, pool=pool), session, clock, st)
    assert len(fakes.calls_to("wechat", "/cgi-bin/stable_token")) == 2
    codes = [c.errcode for c in fakes.calls if c.path.startswith("/datacube/")][before:]
    assert codes == [40001, 0, 0, 0, 0, 0]


async def test_quota_and_malformed_answers(fakes, session, clock, tmp_path):
    today = at_cst_hour(clock, 10)
    account(fakes, today)
    src = source(fakes, tmp_path)
    fakes.fail_next("wechat", "/datacube/getusersummary", 45009)
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is ErrorReason.rate_limited
    assert e.value.retry_after == pytest.approx(14 * 3600, abs=5)  # until midnight, CST
    src = source(fakes, tmp_path, pool=CredentialPool())
    fakes.fail_next("wechat", "/datacube/getarticlesummary", "wrong_shape")
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is ErrorReason.schema
    fakes.fail_next("wechat", "/datacube/getuserread", "not_json")
    with pytest.raises(SourceError) as e:
        await poll(src, session, clock)
    assert e.value.reason is ErrorReason.decode
    assert len((await poll(src, session, clock)).snapshots) == 1


async def test_flat_reads_judges_ritual_reading_from_the_platform_figures(
    fakes, session, clock, tmp_path
):
    today = at_cst_hour(clock, 10)
    account(fakes, today, staff=120)
    organic = fakes.add_mp("wxorganic000000001", "organic-secret")
    rng = random.Random(9)
    for k in range(1, 31):
        d = today - timedelta(days=k)
        organic.articles[d] = [
            {"msgid": f"300{k}_{i}", "title": f"t{k}{i}",
             "int_page_read_user": int(rng.paretovariate(1.2) * 40),
             "int_page_read_count": 0, "share_user": 0, "share_count": 0,
             "add_to_fav_user": 0, "add_to_fav_count": 0}
            for i in (1, 2)
        ]
    ritual = (await poll(source(fakes, tmp_path), session, clock)).snapshots[0]
    free = (await poll(source(fakes, tmp_path, app_id="wxorganic000000001",
                              app_secret_file=secret_file(tmp_path, "o", "organic-secret")),
                       session, clock)).snapshots[0]

    def judge(snap: object, intended: int) -> list:
        inp = DetectorInput(
            app=AppProfile(id="mp", intended_users=intended), now=clock(),
            events=EventWindow.empty("mp"), account_days=AccountDays.from_rows([], []),
            app_hours=AppHours.from_rows([]), snapshot=snap,  # type: ignore[arg-type]
        )
        return flat_reads.detect(inp, flat_reads.Settings())

    (f,) = judge(ritual, 120)
    assert f.evidence["basis"] == "platform_aggregates"
    assert f.evidence["dispersion_index"] < 0.5 and f.evidence["articles"] >= 20
    assert "reads_match_intended_users" in {r.code for r in f.reasons}
    assert judge(free, 120) == []


def test_snapshot_with_platform_figures_survives_the_store(tmp_path):
    from tapwatch.detectors.base import AccountDay, ArticleDay, UsageSnapshot

    snap = UsageSnapshot(
        at=1.0, registered_accounts=140,
        days=(AccountDay(day="2026-11-01", followers=140, read_users=118),),
        articles=(ArticleDay(day="2026-11-01", article="1_1", title="通知", read_users=118,
                             reads=120, share_users=1, shares=1, favourite_users=0,
                             favourites=0),),
    )

    store = Store(tmp_path / "s.sqlite")
    store.ingest("mp", IngestBatch(snapshot=snap), 2.0)
    assert store.snapshot("mp") == snap
