"""Detector registry and fleet engine: settings resolution, order, organic exclusion,
per-app metrics, failure isolation and determinism."""

from __future__ import annotations

import dataclasses
import logging
import random
import types

import msgspec
import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

import tapwatch.detectors as registry
from tapwatch.detectors import banned_feature, duplicate_reporting, engine, stacked
from tapwatch.detectors.base import DetectorInput, Finding, finding_id
from tapwatch.events import EventType
from tests.unit.test_assessment import (
    Log,
    ago,
    at,
    empty_shell,
    healthy,
    make_input,
    profile,
    released,
)

# -- registry ------------------------------------------------------------------------------


def test_registry_lists_every_module_once_and_each_follows_the_interface() -> None:
    assert set(registry.DETECTORS) | set(registry.UNAVAILABLE) == set(registry.DETECTOR_MODULES)
    assert not set(registry.DETECTORS) & set(registry.UNAVAILABLE)
    assert {"duplicate_reporting", "banned_feature"} <= set(registry.DETECTORS)
    for kind, mod in registry.DETECTORS.items():
        assert kind == mod.KIND
        model = mod.Settings
        assert model.model_config.get("extra") == "forbid", kind
        assert model.model_config.get("frozen") is True, kind
        undocumented = [n for n, f in model.model_fields.items() if not f.description]
        assert not undocumented, f"{kind}: fields without description: {undocumented}"
        assert registry.resolve_settings(kind, {}, {}) == model()
    assert registry.settings_model("shutdown") is registry.ASSESSMENT.Settings
    assert registry.kinds()[-1] == "shutdown"


def test_resolve_settings_layers_config_defaults_then_app_overrides() -> None:
    s = registry.resolve_settings(
        "shutdown",
        {"candidate_score": 80, "weights": {"cost": 0}},
        {"review_score": 40, "weights": {"redundancy": 20}},
    )
    assert (s.candidate_score, s.review_score) == (80, 40)
    # Nested weights merge key by key: the app's redundancy, the daemon's cost.
    assert (s.weights.cost, s.weights.redundancy, s.weights.reach) == (0, 20, 30)
    assert registry.resolve_settings("duplicate_reporting", None, None).window_days == 7


def test_resolve_settings_errors_carry_precise_locations() -> None:
    with pytest.raises(ValidationError) as e:
        registry.resolve_settings("shutdown", {}, {"weights": {"reach": -1}, "reach_ful": 0.1})
    errs = {(err["loc"], err["type"]) for err in e.value.errors()}
    assert errs == {
        (("weights", "reach"), "greater_than_equal"),
        (("reach_ful",), "extra_forbidden"),
    }
    # An app override that contradicts the daemon default is named by the field it breaks.
    with pytest.raises(ValidationError) as e:
        registry.resolve_settings("shutdown", {"candidate_score": 60}, {"review_score": 65})
    [err] = e.value.errors()
    assert err["loc"] == ("review_score",)
    assert err["msg"] == "Value error, must be below candidate_score (60.0)"

    with pytest.raises(ValidationError) as e:
        registry.resolve_settings("selfie_rank", {}, {})
    [err] = e.value.errors()
    assert err["type"] == "unknown_detector" and err["loc"] == ("selfie_rank",)
    assert "unknown detector kind 'selfie_rank'" in err["msg"] and "shutdown" in err["msg"]
    with pytest.raises(KeyError, match="selfie_rank"):
        registry.settings_model("selfie_rank")


# -- engine with test detectors -------------------------------------------------------------


class FlagSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    accounts: tuple[str, ...] = Field((), description="Accounts this test detector flags.")


def flagging_detector(kind: str) -> types.ModuleType:
    """A per-app detector that flags the configured accounts of every app."""
    mod = types.ModuleType(kind)
    mod.KIND = kind  # type: ignore[attr-defined]
    mod.Settings = FlagSettings  # type: ignore[attr-defined]

    def detect(inp: DetectorInput, settings: FlagSettings) -> list[Finding]:
        if not settings.accounts:
            return []
        return [
            Finding(
                id=finding_id(kind, inp.app.id),
                kind=kind,
                app=inp.app.id,
                severity="warning",
                score=1.0,
                window_start=inp.now - 86400,
                window_end=inp.now,
                summary="test",
                reasons=[],
                evidence={"accounts": list(settings.accounts)},
                confidence=1.0,
            )
        ]

    mod.detect = detect  # type: ignore[attr-defined]
    return mod


def broken_detector() -> types.ModuleType:
    mod = flagging_detector("broken")

    def detect(inp: DetectorInput, settings: FlagSettings) -> list[Finding]:
        raise RuntimeError(f"cannot read {inp.app.id}")

    mod.detect = detect  # type: ignore[attr-defined]
    return mod


@pytest.fixture
def test_detectors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only test detectors plus the two fleet-level ones, so nothing else flags accounts."""
    mods = {
        "flag_a": flagging_detector("flag_a"),
        "flag_b": flagging_detector("flag_b"),
        "broken": broken_detector(),
        "banned_feature": banned_feature,
        "duplicate_reporting": duplicate_reporting,
    }
    monkeypatch.setattr(registry, "DETECTORS", mods)
    monkeypatch.setattr(engine, "DETECTORS", mods)


def booking_app() -> DetectorInput:
    """Four accounts do meaningful work daily; a check-in feature is declared."""
    log = Log("booking")
    log.daily(["w", "x", "y", "z"], range(60), EventType.appointment)
    log.daily(["w", "x"], range(60), EventType.checkin)
    return make_input(
        profile("booking", intended_users=8, declared_features=frozenset({"checkin"})),
        log.items,
        released(5),
    )


@pytest.mark.usefixtures("test_detectors")
def test_accounts_flagged_by_two_detectors_are_not_organic() -> None:
    inp = booking_app()
    plain = engine.run_fleet([inp])
    assert plain.metrics["booking"].organic_active_accounts == {"1d": 4, "7d": 4, "30d": 4}
    assert plain.metrics["booking"].forced_activity_ratio == 0

    res = engine.run_fleet(
        [inp], {"flag_a": {"accounts": ["w", "x"]}, "flag_b": {"accounts": ["x", "y"]}}
    )
    assert engine.per_account_flags(res.findings)["booking"] == {
        "w": {"flag_a"},
        "x": {"flag_a", "flag_b"},
        "y": {"flag_b"},
    }
    m = res.metrics["booking"]
    assert m.organic_active_accounts == {"1d": 3, "7d": 3, "30d": 3}  # only x is excluded
    assert res.assessments["booking"].signals["reach"].value == pytest.approx(3 / 8)
    # Share of raw-window events by any flagged account: w, x (appointments + check-ins), y.
    assert m.forced_activity_ratio == pytest.approx((3 * 7 + 2 * 7) / (4 * 7 + 2 * 7), abs=1e-3)
    assert m.banned_features == {"checkin": 1, "points_ranking": 0, "online_duration": 0}
    assert m.findings_open_by_kind == {"banned_feature": 1, "flag_a": 1, "flag_b": 1}

    # Per-app overrides apply to that app only; the assessment's exclusion threshold too.
    inp.app.detector_overrides = {"shutdown": {"exclude_flagged_by": 1}}
    strict = engine.run_fleet(
        [inp], {"flag_a": {"accounts": ["w", "x"]}, "flag_b": {"accounts": ["x", "y"]}}
    )
    assert strict.metrics["booking"].organic_active_accounts["30d"] == 1


@pytest.mark.usefixtures("test_detectors")
def test_a_failing_detector_is_recorded_and_the_run_goes_on() -> None:
    res = engine.run_fleet([booking_app(), healthy("h1")])
    assert [(f.kind, f.app) for f in res.failures] == [("broken", "booking"), ("broken", "h1")]
    assert res.failures[0].error == "RuntimeError: cannot read booking"
    assert set(res.assessments) == {"booking", "h1"}


@pytest.mark.usefixtures("test_detectors")
def test_app_overrides_that_clash_with_defaults_fall_back_to_the_defaults() -> None:
    shell = empty_shell()
    shell.app.detector_overrides = {"shutdown": {"review_score": 65}, "flag_a": {"nope": 1}}
    res = engine.run_fleet([shell], {"shutdown": {"candidate_score": 60}})
    # In registry order: the detectors, then the assessment.
    assert [(f.kind, f.app) for f in res.failures] == [
        ("flag_a", "shell"),
        ("broken", "shell"),
        ("shutdown", "shell"),
    ]
    assert "review_score" in res.failures[2].error and "\n" not in res.failures[2].error
    a = res.assessments["shell"]
    assert a.band == "candidate"  # on the daemon's candidate_score of 60
    assert a.signals["maintenance"].rule.startswith("inspection rules")


@pytest.mark.usefixtures("test_detectors")
def test_assessment_findings_and_duplicate_filings_reach_the_result() -> None:
    a, b = Log("county"), Log("township")
    for log in (a, b):
        log.add(at(ago(1)), EventType.form_submit, "u1", unit="T1", content_hash="h1")
    fleet = [
        empty_shell(),
        make_input(profile("county"), a.items),
        make_input(profile("township"), b.items),
        healthy("h1"),
    ]
    res = engine.run_fleet(fleet)
    kinds = {(f.app, f.kind) for f in res.findings}
    assert ("shell", "shutdown_candidate") in kinds
    # one cross-app finding for the pair, counted for both apps
    [dup] = [f for f in res.findings if f.kind == "duplicate_reporting"]
    assert sorted(dup.apps) == ["county", "township"]
    for app in ("county", "township"):
        assert res.metrics[app].findings_open_by_kind["duplicate_reporting"] == 1
    # the township filed after the county: its filing is the extra one
    assert res.duplicate_filings == {"county": 0, "h1": 0, "shell": 0, "township": 1}
    assert res.metrics["shell"].band == "candidate"
    assert res.metrics["shell"].findings_open_by_kind["shutdown_candidate"] == 1
    # Findings are sorted by app, kind, window start, id.
    order = [(f.app, f.kind, f.window_start, f.id) for f in res.findings]
    assert order == sorted(order)


# -- engine with the real registry --------------------------------------------------------------


def fleet() -> list[DetectorInput]:
    ritual = Log("ritual")
    ritual.daily((f"r{i}" for i in range(30)), range(90), EventType.checkin)
    ritual.daily((f"r{i}" for i in range(30)), range(90), EventType.read)
    ritual.daily((f"r{i}" for i in range(5)), range(0, 90, 7), EventType.form_submit)
    return [
        empty_shell(),
        healthy("h1"),
        healthy("h2", 60, 90_000.0),
        make_input(profile("ritual", intended_users=300), ritual.items, released(40)),
    ]


def encode(res: engine.FleetResult) -> bytes:
    return msgspec.json.encode(
        {
            "findings": res.findings,
            "assessments": res.assessments,
            "metrics": {k: dataclasses.asdict(v) for k, v in res.metrics.items()},
            "duplicate_filings": res.duplicate_filings,
        }
    )


def test_run_fleet_is_deterministic_and_order_independent() -> None:
    inputs = fleet()
    first = engine.run_fleet(inputs)
    assert first.failures == []
    shuffled = inputs[:]
    random.Random(7).shuffle(shuffled)
    second = engine.run_fleet(shuffled)
    assert encode(first) == encode(second)
    assert list(first.assessments) == sorted(first.assessments)
    assert first.assessments["shell"].band == "candidate"
    assert first.assessments["h1"].band == "keep"


def test_cross_app_findings_give_each_member_its_exported_values() -> None:
    """Consolidation and ritual rounds reach every app of their group as app-level values
    (the app to keep, the combined cost, accounts in rounds): no account id anywhere."""
    from tests.unit.test_consolidation import culture_fleet

    res = engine.run_fleet(culture_fleet())
    for app in ("county-culture", "tourism-events", "township-approvals"):
        m = res.metrics[app]
        assert m.consolidation_keep == "county-culture"
        assert m.consolidation_cost_cny == 600_000.0
        assert m.ritual_round_accounts == 0
    assert res.metrics["room-booking"].consolidation_keep is None


def test_settings_are_validated_once_per_kind_for_apps_without_overrides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Apps without overrides share the defaults' settings (validated once per kind and
    pass); an app with overrides gets its own, layered on the same defaults."""
    calls: list[tuple[str, bool]] = []
    real = engine.resolve_settings

    def counted(kind, defaults=None, overrides=None):  # type: ignore[no-untyped-def]
        calls.append((kind, bool(overrides)))
        return real(kind, defaults, overrides)

    monkeypatch.setattr(engine, "resolve_settings", counted)
    inputs = fleet()
    inputs[1].app.detector_overrides = {"banned_feature": {"min_events": 7}}
    cache = engine._SettingsCache({"banned_feature": {"min_events": 4}}, inputs)
    got = {inp.app.id: cache.get("banned_feature", inp.app.id) for inp in inputs}
    assert sorted(calls) == [("banned_feature", False), ("banned_feature", True)]
    assert got[inputs[1].app.id].min_events == 7
    others = [s for app, s in got.items() if app != inputs[1].app.id]
    assert all(s is others[0] and s.min_events == 4 for s in others)


def test_the_cycle_collector_is_paused_for_a_pass_and_left_as_it_was() -> None:
    import gc

    seen: list[bool] = []
    real = engine._detect

    def spy(*args):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        return real(*args)

    inputs = fleet()
    assert gc.isenabled()
    try:
        engine._detect = spy  # type: ignore[assignment]
        engine.run_fleet(inputs)
        assert gc.isenabled() and seen == [False]
        with pytest.raises(ValidationError):  # a pass that fails resumes it too
            engine.run_fleet(inputs, {"shutdown": {"no_such_setting": 1}})
        assert gc.isenabled()
        gc.disable()  # paused by someone else: stays paused
        engine.run_detectors(inputs)
        assert not gc.isenabled() and seen[-1] is False
    finally:
        gc.enable()
        engine._detect = real  # type: ignore[assignment]


def batching_detector(calls: list[list[str]], broken: str | None = None) -> types.ModuleType:
    """flag_a's detector with a `detect_batch` that records the apps of each call and
    raises for a batch holding `broken` (whose `detect` raises too)."""
    mod = flagging_detector("flag_a")
    one = mod.detect

    def detect(inp: DetectorInput, settings: FlagSettings) -> list[Finding]:
        if inp.app.id == broken:
            raise RuntimeError(f"cannot read {inp.app.id}")
        return one(inp, settings)

    def detect_batch(inputs: list[DetectorInput], settings: FlagSettings) -> list[Finding]:
        calls.append([inp.app.id for inp in inputs])
        if any(inp.app.id == broken for inp in inputs):
            raise RuntimeError("a batch with a broken app")
        return [f for inp in inputs for f in one(inp, settings)]

    mod.detect = detect  # type: ignore[attr-defined]
    mod.detect_batch = detect_batch  # type: ignore[attr-defined]
    return mod


def test_apps_with_the_same_settings_are_judged_in_one_batch(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A detector with detect_batch gets the apps sharing settings at once (an app with
    overrides in its own group, an app alone through detect); a batch that raises is
    judged again app by app, so the failure is the broken app's and the others keep
    their findings."""
    calls: list[list[str]] = []
    inputs = [healthy(f"h{k}") for k in range(4)]
    inputs[2].app.detector_overrides = {"flag_a": {"accounts": ["x"]}}
    # duplicate_reporting: the engine counts each app's duplicate filings with its settings
    mods = {"flag_a": batching_detector(calls), "duplicate_reporting": duplicate_reporting}
    for where in (registry, engine):
        monkeypatch.setattr(where, "DETECTORS", mods)
    res = engine.run_fleet(inputs, {"flag_a": {"accounts": ["w"]}})
    assert calls == [["h0", "h1", "h3"]]  # h2, alone with its overrides, through detect
    flagged = {f.app: f.evidence["accounts"] for f in res.findings if f.kind == "flag_a"}
    assert flagged == {"h0": ["w"], "h1": ["w"], "h2": ["x"], "h3": ["w"]}

    calls.clear()
    mods["flag_a"] = batching_detector(calls, "h1")
    with caplog.at_level(logging.WARNING, logger="tapwatch.detectors.engine"):
        res = engine.run_fleet(inputs, {"flag_a": {"accounts": ["w"]}})
    # the slower path is said once, not hidden: a broken batch would cost every pass
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "detector flag_a: a batch of 3 apps failed"
    ]
    assert [(f.kind, f.app) for f in res.failures] == [("flag_a", "h1")]
    assert calls == [["h0", "h1", "h3"]]
    flagged = {f.app for f in res.findings if f.kind == "flag_a"}
    assert flagged == {"h0", "h2", "h3"}


def test_batches_are_runs_of_about_the_batch_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    """A group is cut into runs of apps in order, each closed once it holds the batch's
    rows (an app is never cut), so a batch's stacked columns stay small."""
    inputs = [healthy(f"h{k}", 10 + 7 * k) for k in range(7)]

    def rows(part: list[DetectorInput]) -> int:
        return sum(len(i.events) + len(i.account_days) for i in part)

    limit = rows(inputs) // 3
    monkeypatch.setattr(stacked, "RUN_ROWS", limit)
    parts = stacked.runs(inputs)
    assert [i for part in parts for i in part] == inputs
    assert 2 <= len(parts) <= 4
    assert all(rows(p) >= limit and rows(p[:-1]) < limit for p in parts[:-1])
    monkeypatch.setattr(stacked, "RUN_ROWS", 1)
    assert stacked.runs(inputs) == [[i] for i in inputs]
