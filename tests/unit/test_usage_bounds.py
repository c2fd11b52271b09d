"""`/v1/usage` bodies out of every plausible range: a `schema` error naming the field, never
a figure that breaks the arithmetic downstream."""

from __future__ import annotations

import json

import pytest

from tapwatch.sources.base import ErrorReason, SourceError
from tapwatch.sources.prometheus_text import parse_exposition
from tapwatch.sources.usage_api import parse_usage


def _body(**fields: object) -> bytes:
    return json.dumps({"registered_accounts": 10, **fields}).encode()


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ({"registered_accounts": -1}, "Expected `int` >= 0 - at `$.registered_accounts`"),
        ({"registered_accounts": 10**18}, "Expected `int` <= 1000000000 - at "
                                          "`$.registered_accounts`"),
        ({"active_accounts_30d": 2.5}, "Expected `int | null`, got `float` - at "
                                       "`$.active_accounts_30d`"),
        ({"last_release_at": 1e308}, "last_release_at is outside 2000-01-01 .. 2100-01-01"),
        ({"last_content_update_at": "1970-01-01T00:00:00Z"},
         "last_content_update_at is outside 2000-01-01 .. 2100-01-01"),
        ({"last_release_at": "last week"}, "last_release_at 'last week' is not RFC 3339"),
        ({"features": ["checkin"] * 65}, "Expected `array` of length <= 64 - at `$.features`"),
        ({"features": ["x" * 65]}, "Expected `str` of length <= 64 - at `$.features[0]`"),
    ],
)
def test_an_implausible_figure_is_a_schema_error(fields: dict, detail: str) -> None:
    with pytest.raises(SourceError) as e:
        parse_usage(_body(**fields), at=1.0)
    assert e.value.reason is ErrorReason.schema
    assert detail in str(e.value)


def test_plausible_figures_pass_and_a_time_without_offset_is_unknown() -> None:
    snap = parse_usage(
        _body(registered_accounts=10**9, active_accounts_1d=0, features=["checkin"],
              last_release_at="2025-10-23T10:00:00+08:00",
              last_content_update_at="2025-10-23T10:00:00"),
        at=1.0,
    )
    assert snap.registered_accounts == 10**9 and snap.active_accounts_1d == 0
    assert snap.last_release_at == 1761184800.0
    assert snap.last_content_update_at is None
    assert snap.features == frozenset({"checkin"})


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("+Inf", "users = inf is outside 0 .. 1,000,000,000"),
        ("NaN", "users = nan is outside 0 .. 1,000,000,000"),
        ("1e308", "users = 1e+308 is outside 0 .. 1,000,000,000"),
        ("-3", "users = -3.0 is outside 0 .. 1,000,000,000"),
    ],
)
def test_a_prometheus_figure_out_of_range_is_a_schema_error(value: str, detail: str) -> None:
    # once int(inf) in the poll: an OverflowError logged as our own bug every poll
    with pytest.raises(SourceError) as e:
        parse_exposition(f"users {value}\n", {"registered_accounts": "users"}, at=1.0)
    assert e.value.reason is ErrorReason.schema
    assert e.value.detail == detail
