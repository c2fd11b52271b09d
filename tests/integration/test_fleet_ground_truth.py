"""Every detector on the simulated fleet: planted patterns are caught, healthy apps stay
silent, each app lands in the band planted for it (two seeds, small scale)."""

from __future__ import annotations

import pytest
from bench.eval_fleet import evaluate


@pytest.mark.parametrize("seed", [1, 7])
def test_fleet_matches_ground_truth(seed: int) -> None:
    r = evaluate(seed, scale=0.25)
    assert r["failures"] == 0
    for row in r["rows"]:
        assert row["band"] == row["expected_band"], row
        assert not row["false_alarms"], row
        assert not row["missed"], row
    caught = {(row["app"], k) for row in r["rows"] for k in row["planted"]}
    assert len(caught) >= 16
    # township-appointments: its ritual appointments are meaningful events, caught as rote
    assert {"ritual_usage", "clockwork_timing"} <= set(
        next(row for row in r["rows"] if row["app"] == "township-appointments")["planted"]
    )
