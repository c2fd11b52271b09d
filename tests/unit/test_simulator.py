"""The simulator: determinism, the clock, cursor paging, planted patterns, faults, contract."""

from __future__ import annotations

import itertools
import json
import math
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import msgspec
import pytest

from tapwatch.config import AppsFile
from tapwatch.events import EventRejected, RejectReason, decode_page, parse_ts
from tapwatch.simulator import Simulator, SimulatorOptions
from tapwatch.simulator.fleet import ALL_KINDS, Fleet, Position, SimClock
from tapwatch.simulator.scenarios import (
    DAY_S,
    day_date,
    day_of_date,
    distance_m,
    generate_day,
    local_day,
    midnight,
)
from tapwatch.sources.normalise import check_event

CST = timezone(timedelta(hours=8))
#: A fixed "real" time so the tests do not depend on today's date.
T = datetime(2026, 6, 15, 12, 0, tzinfo=CST).timestamp()
ROOT = Path(__file__).resolve().parents[2]


def fixed(history_days: int) -> SimClock:
    return SimClock(history_days, 0.0, real=lambda: T)


def make_fleet(history_days: int = 14, scale: float = 0.2, **kw: object) -> Fleet:
    opts = SimulatorOptions(history_days=history_days, scale=scale, **kw)  # type: ignore[arg-type]
    clock = SimClock(history_days, 0.0, real=lambda: T)
    return Fleet(opts, clock)


def page_all(sim: Simulator, app: str, limit: int, now: float, cursor: str | None = None):
    """Page until caught up; returns (decoded events, last cursor, pages)."""
    spec = sim.fleet.by_id[app]
    out: list[dict] = []
    pages = 0
    while True:
        pos = sim.fleet.decode_cursor(app, cursor, now)
        page = msgspec.json.decode(sim.render_page(spec, pos, limit, now))
        pages += 1
        out += page["events"]
        cursor = page["next_cursor"]
        if not page["has_more"]:
            return out, cursor, pages


def sod(ts: float) -> float:
    return ts - midnight(local_day(ts))


# -- determinism and time ----------------------------------------------------------------


def test_same_seed_same_events_other_seed_other_events():
    a, b = make_fleet(), make_fleet()
    c = make_fleet(seed=2)
    day = local_day(T) - 3
    for app in ("daily-work", "risk-point-checkin", "cadre-academy"):
        assert a.events_for_day(app, day) == b.events_for_day(app, day)
        assert a.events_for_day(app, day) != c.events_for_day(app, day)
    # Days are independent of the order they are generated in.
    spec = a.by_id["empty-shell"]
    first = generate_day(spec, 1, day)
    generate_day(spec, 1, day + 1)
    assert generate_day(spec, 1, day).events == first.events


def test_nothing_from_the_future_and_speed_clock():
    sim = Simulator(SimulatorOptions(history_days=3, scale=0.2), clock=fixed(3))
    for app in ("daily-work", "party-official-account", "device-farm"):
        events, _, _ = page_all(sim, app, 5000, T)
        assert events
        assert max(parse_ts(e["ts"]) for e in events) <= T
        assert all(parse_ts(e["ts"]) <= T for e in sim.events_for_day(app, local_day(T)))
    real = [T]
    clock = SimClock(100, 1000.0, real=lambda: real[0])
    assert clock.now() == pytest.approx(T - 100 * DAY_S)
    real[0] = T + 3600
    assert clock.now() == pytest.approx(T - 100 * DAY_S + 1000 * 3600)
    real[0] = T + 10 * DAY_S  # caught up with the real clock: 1x from then on
    assert clock.now() == real[0]


def test_timestamps_shanghai_rfc3339_and_epoch():
    f = make_fleet()
    day = local_day(T) - 1
    ev = f.events_for_day("daily-work", day)[0]
    assert ev["ts"].endswith("+08:00") and "T" in ev["ts"]
    assert local_day(parse_ts(ev["ts"])) == day
    assert isinstance(f.events_for_day("cadre-academy", day)[0]["ts"], float)
    sim = Simulator(SimulatorOptions(history_days=14, scale=0.2), clock=fixed(14))
    assert sim.events_for_day("daily-work", day_date(day)) == f.events_for_day("daily-work", day)


# -- paging --------------------------------------------------------------------------------


def test_cursor_paging_serves_every_event_exactly_once_then_new_ones_after_it():
    real = [T - 6 * 3600]
    sim = Simulator(
        SimulatorOptions(history_days=5, scale=0.2), clock=SimClock(5, 0.0, real=lambda: real[0])
    )
    app = "daily-work"
    now1 = real[0]
    first, cursor, pages = page_all(sim, app, 37, now1)
    expected = [
        e["id"]
        for d in range(sim.fleet.first_day, local_day(now1) + 1)
        for e in sim.fleet.events_for_day(app, d, now1)
    ]
    assert pages > 10
    assert [e["id"] for e in first] == expected  # all, once, in order
    # Caught up: the cursor stays valid; later events come after it, once.
    again, cursor2, _ = page_all(sim, app, 37, now1, cursor)
    assert again == []
    real[0] = T
    planted = sim.plant("daily-work", "bulk_checkin", 10)
    later, _, _ = page_all(sim, app, 37, T, cursor2)
    ids = [e["id"] for e in later]
    assert len(ids) == len(set(ids))
    new_generated = [
        e["id"]
        for e in sim.fleet.events_for_day(app, local_day(T), T)
        if not e["id"].startswith("live-")
    ]
    assert set(ids) == (set(new_generated) - set(expected)) | set(planted["event_ids"])
    assert all(now1 < parse_ts(e["ts"]) <= T for e in later if not e["id"].startswith("live-"))


def test_bad_cursors_are_refused():
    f = make_fleet()
    good = f.encode_cursor("daily-work", Position(f.first_day, 0, 0))
    assert f.decode_cursor("daily-work", good, T) == Position(f.first_day, 0, 0)
    for bad in ("%%%", "bm9wZQ", good[:-4] + "AAAA"):
        with pytest.raises(ValueError):
            f.decode_cursor("daily-work", bad, T)
    with pytest.raises(ValueError):  # another app's cursor
        f.decode_cursor("empty-shell", good, T)
    # A restart with the same seed keeps cursors valid; one older than the history is
    # served from the start of what is kept.
    later = Fleet(SimulatorOptions(history_days=14, scale=0.2), fixed(12))
    assert later.decode_cursor("daily-work", good, T) == Position(later.first_day, 0, 0)
    assert f.first_day < later.first_day
    with pytest.raises(ValueError):  # beyond the end of a day
        f.decode_cursor(
            "daily-work", f.encode_cursor("daily-work", Position(f.first_day, 10**6, 0)), T
        )


def test_memory_bounded_by_cache():
    f = Fleet(SimulatorOptions(history_days=20, scale=0.3, cache_events=5000), fixed(20))
    for d in range(f.first_day, local_day(T) + 1):
        f.day("daily-work", d)
    assert f._cached_events <= 5000 + max(len(f.day("daily-work", local_day(T))), 1)


# -- the contract ---------------------------------------------------------------------------


def _all_events(sim: Simulator, days: int = 2) -> list[tuple[str, dict]]:
    out = []
    for spec in sim.apps:
        for d in range(local_day(T) - days + 1, local_day(T) + 1):
            out += [(spec.id, e) for e in sim.events_for_day(spec.id, d)]
    return out


def test_every_event_decodes_and_matches_the_json_schema():
    sim = Simulator(SimulatorOptions(history_days=7, scale=0.2, extra_apps=4), clock=fixed(7))
    sim.plant("risk-point-checkin", "bulk_checkin", 12)
    sim.plant("cadre-academy", "bulk_checkin", 10)  # an epoch-seconds app
    events = _all_events(sim, days=7)
    assert len(events) > 10_000
    types = Counter()
    for _, e in events:
        _, _, et = check_event(msgspec.json.encode(e))
        types[et.name] += 1
    assert set(types) == {
        "session_start",
        "session_end",
        "checkin",
        "read",
        "like",
        "study",
        "form_submit",
        "appointment",
        "action",
    }
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((ROOT / "docs/schemas/event.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    for _, e in events[::7]:
        validator.validate(e)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate({"id": "x", "ts": "2026-01-01T00:00:00", "type": "read", "account": "a"})


def test_openapi_page_schema_accepts_a_served_page():
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    import yaml

    doc = yaml.safe_load((ROOT / "docs/openapi/usage-api-v1.yaml").read_text())
    event = json.loads((ROOT / "docs/schemas/event.schema.json").read_text())
    registry = referencing.Registry().with_resource(
        "../schemas/event.schema.json", referencing.Resource.from_contents(event)
    )
    page_schema = doc["components"]["schemas"]["EventsPage"]
    v = jsonschema.Draft202012Validator(page_schema, registry=registry)
    sim = Simulator(SimulatorOptions(history_days=2, scale=0.2), clock=fixed(2))
    spec = sim.fleet.by_id["risk-point-checkin"]
    body = json.loads(sim.render_page(spec, sim.fleet.decode_cursor(spec.id, None, T), 300, T))
    v.validate(body)
    usage = jsonschema.Draft202012Validator(doc["components"]["schemas"]["Usage"])
    usage.validate(sim.fleet.usage("daily-work", T))
    v.validate({"events": [], "next_cursor": "x", "has_more": False})
    with pytest.raises(jsonschema.ValidationError):
        v.validate({"events": [{"id": "x"}], "next_cursor": "x", "has_more": False})


def test_registry_loads_with_the_daemon_schema_and_ground_truth_is_complete(tmp_path):
    import yaml

    sim = Simulator(
        SimulatorOptions(history_days=40, scale=0.2, extra_apps=3, faults={"fault-auth": "auth"}),
        clock=fixed(40),
    )
    sim.port = 8900
    sim.write_registry(tmp_path / "apps.yaml", token_file=tmp_path / "token")
    apps = AppsFile.model_validate(yaml.safe_load((tmp_path / "apps.yaml").read_text())).apps
    assert [a.id for a in apps] == [s.id for s in sim.apps]
    rp = next(a for a in apps if a.id == "risk-point-checkin")
    assert len(rp.points) == 6 and rp.source.auth is not None
    assert next(a for a in apps if a.id == "seasonal-tax").season_months
    sim.write_ground_truth(tmp_path / "truth.json")
    gt = json.loads((tmp_path / "truth.json").read_text())
    assert set(gt["apps"]) == {a.id for a in apps}
    bands = {k: v["expected_band"] for k, v in gt["apps"].items()}
    assert bands["daily-work"] == "keep" and bands["empty-shell"] == "candidate"
    assert bands["emergency-duty"] == "exempt" and bands["pilot-launch"] == "insufficient_data"
    assert bands["fault-auth"] == "insufficient_data"
    for app in gt["apps"].values():
        assert app["expected_band"] in {
            "keep",
            "review",
            "candidate",
            "insufficient_data",
            "exempt",
        }
        for p in app["planted"]:
            assert p["kind"] in ALL_KINDS
            assert p["window"][0] <= p["window"][1] <= T
        assert set(app["healthy_kinds_expected_silent"]) <= set(ALL_KINDS)
        assert not {p["kind"] for p in app["planted"]} & set(app["healthy_kinds_expected_silent"])
    kinds = {p["kind"] for a in gt["apps"].values() for p in a["planted"]}
    assert kinds == set(ALL_KINDS)
    # Too little history to judge: everything but the exempt app is insufficient_data.
    short = Simulator(SimulatorOptions(history_days=20, scale=0.2), clock=fixed(20))
    assert {a.expected_band for a in short.apps} == {"insufficient_data", "exempt"}


# -- planted scenarios have the properties the ground truth claims --------------------------


@pytest.fixture(scope="module")
def history() -> tuple[Simulator, dict]:
    """A month-and-a-half of history at reduced scale (ends on 15 June 2026)."""
    sim = Simulator(SimulatorOptions(history_days=45, scale=0.25), clock=fixed(45))
    return sim, sim.ground_truth()


def _by_id(sim: Simulator, app: str) -> dict[str, dict]:
    return {e["id"]: e for e in sim.iter_events(app)}


def test_bulk_checkin_rings(history):
    sim, gt = history
    events = _by_id(sim, "risk-point-checkin")
    rings = [p for p in gt["apps"]["risk-point-checkin"]["planted"] if p["kind"] == "bulk_checkin"]
    assert len(rings) >= 6
    for p in rings:
        evs = sorted((events[i] for i in p["event_ids"]), key=lambda e: parse_ts(e["ts"]))
        assert len(evs) == len(p["accounts"]) >= 10
        assert {e["type"] for e in evs} == {"checkin"}
        assert len({e["point"] for e in evs}) == 1 and len({e["network"] for e in evs}) == 1
        gaps = [parse_ts(b["ts"]) - parse_ts(a["ts"]) for a, b in itertools.pairwise(evs)]
        assert all(1 <= g <= 15 for g in gaps)
        assert (
            max(distance_m(a["lat"], a["lon"], b["lat"], b["lon"]) for a in evs for b in evs) <= 15
        )
        common_model = Counter(e["device_model"] for e in evs).most_common(1)[0][1]
        common_photo = Counter(e["photo_hash"] for e in evs).most_common(1)[0][1]
        assert common_model >= 3 or common_photo >= 3
    # The same accounts, again and again, on several days.
    repeats = Counter(tuple(p["accounts"]) for p in rings)
    assert max(repeats.values()) >= 2
    assert len({local_day(p["window"][0]) for p in rings}) >= 4
    # Organic check-ins never form 10 within 3 minutes at one point.
    ring_ids = {i for p in rings for i in p["event_ids"]}
    organic = sorted(
        parse_ts(e["ts"])
        for e in events.values()
        if e["type"] == "checkin" and e["id"] not in ring_ids
    )
    assert len(organic) > 100
    assert all(organic[i + 9] - organic[i] > 180 for i in range(len(organic) - 9))


def test_meeting_hall_crowds_are_legitimate(history):
    sim, gt = history
    # nothing forced is planted; its undeclared check-in feature is the only ground truth
    [banned] = gt["apps"]["meeting-hall"]["planted"]
    assert banned["kind"] == "banned_feature"
    assert banned["detail"] == {"features": ["checkin"], "undeclared": ["checkin"]}
    checkins = [e for e in sim.iter_events("meeting-hall") if e["type"] == "checkin"]
    by_day_point = defaultdict(list)
    for e in checkins:
        by_day_point[(local_day(parse_ts(e["ts"])), e["point"])].append(e)
    meetings = [v for (d, p), v in by_day_point.items() if p == "hall-main" and len(v) >= 40]
    assert meetings, "a 40-person meeting is present"
    for v in meetings:
        assert len({e["device"] for e in v}) == len({e["account"] for e in v})  # own phones
        assert len({e["photo_hash"] for e in v}) == len(v)
    office = [e for e in checkins if e["point"] == "office-a"]
    per_account = defaultdict(list)
    for e in office:
        per_account[e["account"]].append(sod(parse_ts(e["ts"])) / 60)
    spreads = [max(v) - min(v) for v in per_account.values() if len(v) >= 10]
    assert spreads and statistics.median(spreads) > 15  # arrival varies: not clockwork


def test_empty_shell_has_few_real_users_and_stale_content(history):
    sim, gt = history
    spec = sim.fleet.by_id["empty-shell"]
    events = list(sim.iter_events("empty-shell"))
    meaningful = {
        e["account"] for e in events if e["type"] in {"form_submit", "action", "appointment"}
    }
    assert 0 < len(meaningful) <= 15 and spec.intended_users == 2000
    ritual = sum(e["type"] in {"checkin", "read", "like"} for e in events)
    assert ritual / len(events) > 0.5
    usage = sim.fleet.usage("empty-shell", T)
    assert parse_ts(usage["last_release_at"]) < T - 365 * DAY_S
    assert parse_ts(usage["last_content_update_at"]) < T - 90 * DAY_S
    assert {"checkin", "points_ranking"} <= set(usage["features"])
    kinds = {p["kind"] for p in gt["apps"]["empty-shell"]["planted"]}
    assert {"shutdown", "banned_feature", "ritual_usage"} <= kinds


def test_deadline_reports_pile_up_before_five_and_at_month_end(history):
    sim, gt = history
    # Complete days only: the ground truth counts an app-wide pattern's days once they end.
    today = midnight(local_day(T))
    forms = [
        e
        for e in sim.iter_events("deadline-reports")
        if e["type"] == "form_submit" and parse_ts(e["ts"]) < today
    ]
    last_hour = sum(16 * 3600 <= sod(parse_ts(e["ts"])) < 17 * 3600 for e in forms)
    assert last_hour / len(forms) > 0.55
    per_day = Counter(local_day(parse_ts(e["ts"])) for e in forms)
    month_end = [
        n
        for d, n in per_day.items()
        if (day_date(d) + timedelta(days=3)).month != day_date(d).month
    ]
    other = [n for d, n in per_day.items() if n and d not in month_end]
    assert month_end and statistics.mean(month_end) > 3 * statistics.mean(other)
    (p,) = [
        p
        for p in gt["apps"]["deadline-reports"]["planted"]
        if p["kind"] == "deadline_concentration"
    ]
    assert p["detail"]["forms"] == len(forms) and p["detail"]["forms_16_to_17"] == last_hour


def test_cadre_academy_study_inflation(history):
    sim, gt = history
    (p,) = [p for p in gt["apps"]["cadre-academy"]["planted"] if p["kind"] == "study_inflation"]
    inflators = set(p["accounts"])
    events = list(sim.iter_events("cadre-academy"))
    starts: dict[tuple, float] = {}
    for e in sorted(events, key=lambda e: e["ts"]):
        key = (e["account"], e["target"], e["device"])
        if e["type"] == "session_start":
            starts[key] = e["ts"]
        if e["type"] != "study":
            continue
        wall = e["ts"] - starts[key]
        if e["account"] in inflators:
            assert e["playback_rate"] > 1.5
            assert e["duration_s"] > 1.5 * wall  # credited beyond the wall clock
            assert 1800 < e["duration_s"] <= 1900  # just past the credit threshold
        else:
            assert 1.0 <= e["playback_rate"] <= 1.5
            assert e["duration_s"] == pytest.approx(wall, abs=1)
    per_day_account = Counter(
        (local_day(e["ts"]), e["account"]) for e in events if e["type"] == "study"
    )
    parallel = sum(n > 1 for (_, a), n in per_day_account.items() if a in inflators)
    assert parallel > 10 and p["detail"]["max_rate"] >= 8
    # Year-end surge: a December day has far more inflated study than a June day.
    spec = sim.fleet.by_id["cadre-academy"]

    def study(d: date) -> int:
        return sum(e["type"] == "study" for e in generate_day(spec, 1, day_of_date(d)).events)

    assert study(date(2026, 12, 22)) > 2.5 * study(date(2026, 6, 10))


def test_party_account_flat_reads_and_short_sessions(history):
    sim, gt = history
    events = list(sim.iter_events("party-official-account"))
    reads = Counter(e["target"] for e in events if e["type"] == "read")
    full = [n for t, n in reads.items() if not t.startswith(f"art-{local_day(T)}-")]
    mean = statistics.mean(full)
    spec = sim.fleet.by_id["party-official-account"]
    assert statistics.pstdev(full) / mean < 0.05
    assert 0.85 * spec.users <= mean <= spec.users
    (p,) = [
        p for p in gt["apps"]["party-official-account"]["planted"] if p["kind"] == "ritual_usage"
    ]
    ritual = set(p["accounts"])
    open_at = {}
    lengths = []
    for e in sorted(events, key=lambda e: parse_ts(e["ts"])):
        if e["account"] not in ritual:
            continue
        if e["type"] == "session_start":
            open_at[e["account"]] = parse_ts(e["ts"])
        elif e["type"] == "session_end":
            lengths.append(parse_ts(e["ts"]) - open_at.pop(e["account"]))
    assert lengths and max(lengths) < 10


def test_township_ritual_appointments_and_clockwork(history):
    sim, gt = history
    planted = {p["kind"]: p for p in gt["apps"]["township-appointments"]["planted"]}
    clockwork = planted["clockwork_timing"]
    events = list(sim.iter_events("township-appointments"))
    first = defaultdict(dict)
    for e in events:
        d = local_day(parse_ts(e["ts"]))
        first[e["account"]].setdefault(d, sod(parse_ts(e["ts"])) // 60)
    for acc in clockwork["accounts"]:
        minutes = set(first[acc].values())
        assert len(first[acc]) >= 10 and len(minutes) == 1
    by_id = {e["id"]: e for e in events}
    approvals = [e for e in events if e["type"] == "action" and e["target"].startswith("approve:")]
    across_desk = 0
    for a in approvals:
        ap = by_id[a["target"].split(":", 1)[1]]
        if ap["account"] in set(planted["ritual_usage"]["accounts"]):
            assert parse_ts(a["ts"]) - parse_ts(ap["ts"]) <= 125
            assert a["network"] == ap["network"]
            across_desk += 1
    assert across_desk >= 10 * len(clockwork["accounts"])


def test_duplicate_forms_same_unit_same_content_in_several_apps(history):
    sim, gt = history
    forms = {
        app: {e["id"]: e for e in sim.iter_events(app) if e["type"] == "form_submit"}
        for app in ("duplicate-forms-a", "duplicate-forms-b", "duplicate-forms-c")
    }
    # Filed before today: the other apps' copies may still be in today's future.
    items = [
        p
        for p in gt["apps"]["duplicate-forms-a"]["planted"]
        if p["window"][1] < midnight(local_day(T))
    ]
    assert len(items) >= 10
    for p in items:
        (eid,) = p["event_ids"]
        e = forms["duplicate-forms-a"][eid]
        assert 2 <= len(p["detail"]["apps"]) <= 3 and "duplicate-forms-a" in p["detail"]["apps"]
        for other in p["detail"]["apps"]:
            same = [
                f
                for f in forms[other].values()
                if f["content_hash"] == e["content_hash"] and f["unit"] == e["unit"]
            ]
            assert len(same) == 1
    own = Counter(f["content_hash"] for app in forms.values() for f in app.values())
    assert sum(n == 1 for n in own.values()) > 50  # most forms are distinct


def test_device_farm(history):
    sim, gt = history
    events = _by_id(sim, "device-farm")
    farms = [p for p in gt["apps"]["device-farm"]["planted"] if p["kind"] == "device_farm"]
    assert len(farms) >= 10
    for p in farms:
        evs = [events[i] for i in p["event_ids"]]
        assert len({e["device"] for e in evs}) == 1
        assert len({e["account"] for e in evs}) == len(p["accounts"]) >= 15
        assert local_day(p["window"][0]) == local_day(p["window"][1])


def test_seasonal_app_is_busy_in_its_season_only():
    sim = Simulator(SimulatorOptions(history_days=100, scale=0.3), clock=fixed(100))
    spec = sim.fleet.by_id["seasonal-tax"]
    assert spec.season_months == (4, 5)  # the two months before June
    per_month = Counter(
        date.fromisoformat(e["ts"][:10]).month for e in sim.iter_events("seasonal-tax")
    )
    assert min(per_month[4], per_month[5]) > 10 * max(per_month[3], per_month[6], 1)


# -- fault modes (paging and data; transport faults are in the HTTP tests) -------------------


def _fault_sim(mode: str) -> Simulator:
    return Simulator(
        SimulatorOptions(history_days=7, scale=1.0, faults={f"fault-{mode}": mode}), clock=fixed(7)
    )


def test_fault_bad_events_mixes_rejects_with_good_events():
    sim = _fault_sim("bad_events")
    spec = sim.fleet.by_id["fault-bad_events"]
    page = decode_page(sim.render_page(spec, Position(sim.fleet.first_day, 0, 0), 2000, T))
    reasons = Counter()
    good = 0
    assert page.raw is not None  # some events do not decode: the page comes event by event
    for raw in page.raw:
        try:
            check_event(raw)
            good += 1
        except EventRejected as e:
            reasons[e.reason] += 1
    bad = sum(reasons.values())
    assert 0.08 < bad / len(page.raw) < 0.25 and good > bad
    assert set(reasons) == {
        RejectReason.missing_field,
        RejectReason.invalid_timestamp,
        RejectReason.invalid_value,
        RejectReason.unknown_event_type,
    }


def test_fault_skewed_clock_serves_future_timestamps():
    sim = _fault_sim("skewed_clock")
    events, _, _ = page_all(sim, "fault-skewed_clock", 5000, T)
    clean = {
        e["id"]: parse_ts(e["ts"])
        for d in range(sim.fleet.first_day, local_day(T) + 1)
        for e in sim.events_for_day("fault-skewed_clock", d)
    }
    assert len(events) == len(clean)
    assert all(parse_ts(e["ts"]) - clean[e["id"]] == pytest.approx(7200) for e in events)
    assert max(parse_ts(e["ts"]) for e in events) > T


def test_fault_cursor_backwards_and_duplicate_ids_reserve_events():
    for mode in ("cursor_backwards", "duplicate_ids"):
        sim = _fault_sim(mode)
        app = f"fault-{mode}"
        events, _, _ = page_all(sim, app, 100, T)
        ids = [e["id"] for e in events]
        truth = {
            e["id"]
            for d in range(sim.fleet.first_day, local_day(T) + 1)
            for e in sim.events_for_day(app, d)
        }
        assert set(ids) == truth  # nothing lost
        assert len(ids) > len(truth) * 1.1  # but plenty served twice
    sim = _fault_sim("cursor_backwards")
    spec = sim.fleet.by_id["fault-cursor_backwards"]
    pos = Position(sim.fleet.first_day, 0, 0)
    went_back = False
    for _ in range(6):
        nxt = sim.fleet.decode_cursor(
            spec.id, decode_page(sim.render_page(spec, pos, 100, T)).next_cursor, T
        )
        went_back |= (nxt.day, nxt.off) < (pos.day, pos.off)
        pos = nxt
    assert went_back


def test_live_plant_is_now_and_in_ground_truth():
    sim = Simulator(SimulatorOptions(history_days=2, scale=0.2), clock=fixed(2))
    p = sim.plant("risk-point-checkin", "bulk_checkin", 12)
    assert len(p["accounts"]) == 12 == len(p["event_ids"])
    assert T - 15 * 12 <= p["window"][0] <= p["window"][1] <= T
    live = [x for x in sim.ground_truth()["apps"]["risk-point-checkin"]["planted"] if x.get("live")]
    assert [x["event_ids"] for x in live] == [p["event_ids"]]
    with pytest.raises(ValueError):
        sim.plant("risk-point-checkin", "teleport", 12)
    assert not math.isnan(p["detail"]["max_distance_from_spot_m"])
