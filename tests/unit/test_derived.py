"""Per-pass derived values: computed once within a pass, never reused outside it or for
other inputs."""

from __future__ import annotations

import dataclasses

from tapwatch.detectors import derived, duplicate_reporting, engine, same_job
from tapwatch.detectors.base import DetectorInput
from tapwatch.window import local_day_of
from tests.unit.test_assessment import healthy
from tests.unit.test_engine import encode, fleet


def counting() -> tuple[list[int], object]:
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    return calls, compute


def test_per_app_computes_once_per_pass_and_input() -> None:
    a, b = healthy("a"), healthy("b")
    calls, compute = counting()
    with derived.one_pass([a, b]):
        assert derived.per_app("x", a, compute) == 1
        assert derived.per_app("x", a, compute) == 1  # kept
        assert derived.per_app("x", b, compute) == 2  # another input
        assert derived.per_app("x", a, compute, 5) == 3  # another key
    assert derived.per_app("x", a, compute) == 4  # outside a pass: computed afresh
    with derived.one_pass([a, b]):
        assert derived.per_app("x", a, compute) == 5  # a new pass keeps nothing of the last
    assert len(calls) == 5


def test_an_input_not_of_the_pass_is_computed_afresh() -> None:
    a = healthy("a")
    # a copy of an input of the pass: equal arrays, but not the pass's object
    other = dataclasses.replace(a, now=a.now + 30)
    calls, compute = counting()
    with derived.one_pass([a]):
        derived.per_app("x", a, compute)
        derived.per_app("x", other, compute)
        derived.per_app("x", other, compute)
    assert len(calls) == 3


def test_per_fleet_keys_on_the_inputs_their_order_and_the_key() -> None:
    a, b = healthy("a"), healthy("b")
    calls, compute = counting()
    with derived.one_pass([a, b]):
        assert derived.per_fleet("f", [a, b], compute, ("s",)) == 1
        assert derived.per_fleet("f", [a, b], compute, ("s",)) == 1
        assert derived.per_fleet("f", [a], compute, ("s",)) == 2  # fewer inputs
        assert derived.per_fleet("f", [b, a], compute, ("s",)) == 3  # another order
        assert derived.per_fleet("f", [a, b], compute, ("t",)) == 4  # other settings
        c = healthy("c")
        assert derived.per_fleet("f", [a, c], compute, ("s",)) == 5  # c is not of the pass
        assert derived.per_fleet("f", [a, c], compute, ("s",)) == 6
    assert len(calls) == 6


def test_the_engine_computes_shared_values_once_and_gives_the_same_result(
    monkeypatch,
) -> None:
    """Within run_fleet the duplicates (the finding and the per-app counts) are computed once;
    the result is the one computed without any kept value."""
    inputs = fleet()
    plain = encode(engine.run_fleet(inputs))
    counts = {"duplicates": 0}
    real_dup = duplicate_reporting._duplicates

    def dup(*args):  # type: ignore[no-untyped-def]
        counts["duplicates"] += 1
        return real_dup(*args)

    monkeypatch.setattr(duplicate_reporting, "_duplicates", dup)
    kept = encode(engine.run_fleet(inputs))
    assert kept == plain
    assert counts["duplicates"] == 1
    # the same computation outside a pass runs every time
    duplicate_reporting.duplicates(inputs, lambda app: duplicate_reporting.Settings())
    duplicate_reporting.duplicates(inputs, lambda app: duplicate_reporting.Settings())
    assert counts["duplicates"] == 3


def test_active_accounts_within_a_pass_follow_the_reference_day() -> None:
    inp: DetectorInput = healthy("a", 60)
    today = local_day_of(inp.now, inp.app.timezone)
    refs = (None, today, today - 40, today - 200)
    outside = {ref: same_job.active_accounts(inp, ref) for ref in refs}
    with derived.one_pass([inp]):
        inside = {ref: same_job.active_accounts(inp, ref) for ref in refs}
    assert inside == outside
    assert outside[None] and outside[today - 40] and not outside[today - 200]
