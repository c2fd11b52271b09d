"""Every detector on the simulated fleet: planted patterns are caught, healthy apps stay
silent, each app lands in the band planted for it (two seeds, small scale)."""

from __future__ import annotations

import pytest
from bench.eval_fleet import evaluate

#: known gap: ritual appointments "with the leader across the desk" are meaningful
#: actions to ritual_usage; only their clockwork timing is caught (docs/evaluation.md)
KNOWN_MISSES = {("township-appointments", "ritual_usage")}


@pytest.mark.parametrize("seed", [1, 7])
def test_fleet_matches_ground_truth(seed: int) -> None:
    r = evaluate(seed, scale=0.25)
    assert r["failures"] == 0
    for row in r["rows"]:
        assert row["band"] == row["expected_band"], row
        assert not row["false_alarms"], row
        assert {(row["app"], k) for k in row["missed"]} <= KNOWN_MISSES, row
    caught = {(row["app"], k) for row in r["rows"] for k in row["planted"]} - KNOWN_MISSES
    assert len(caught) >= 14
