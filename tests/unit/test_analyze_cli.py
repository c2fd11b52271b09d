"""`tapwatch analyze` says what it left out and why, names the option a bad value came
from, and refuses a --now earlier than every event instead of judging nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tapwatch.cli import main

T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z


def dump(path: Path, apps: dict[str, int]) -> Path:
    """JSONL with `n` events a minute apart for each app, from T0."""
    with path.open("w") as f:
        for app, n in apps.items():
            for i in range(n):
                ev = {"app": app, "id": f"{app}-{i}", "ts": T0 + 60 * i, "type": "form_submit",
                      "account": f"acct-{i % 5}"}
                f.write(json.dumps(ev) + "\n")
    return path


def registry(path: Path, *apps: str) -> Path:
    entries = [
        {
            "id": app, "name": app, "owner": "Unit", "region": "District", "category": "c",
            "launched": "2024-01-01", "intended_users": 10,
            "source": {"kind": "usage_api", "url": "http://x/"},
        }
        for app in apps
    ]  # fmt: skip
    path.write_text(yaml.safe_dump({"apps": entries}))
    return path


def analyze(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["analyze", *args])
    out, err = capsys.readouterr()
    return code, out, err


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@pytest.mark.parametrize(
    ("now", "error"),
    [
        ("yesterday", "--now 'yesterday': expected RFC 3339 with a UTC offset"),
        ("2026-05-28T20:00:00", "--now '2026-05-28T20:00:00' needs a UTC offset"),
    ],
)
def test_a_bad_now_names_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], now: str, error: str
) -> None:
    events = dump(tmp_path / "d.jsonl", {"a": 10})
    code, _, err = analyze(capsys, str(events), "--now", now, "--quiet")
    assert code == 1
    assert err.startswith(f"tapwatch analyze: {error}")
    assert "Invalid isoformat" not in err


def test_now_earlier_than_the_data_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = dump(tmp_path / "d.jsonl", {"a": 10})
    code, out, err = analyze(capsys, str(events), "--now", iso(T0 - 86400), "--quiet")
    assert code == 1 and out == ""
    assert "every event is after --now" in err and "(10 of 10)" in err
    assert "--now is earlier than the data" in err


def test_events_after_now_are_counted_in_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = dump(tmp_path / "d.jsonl", {"a": 100})
    # with the 10 minutes of clock skew allowed, the events up to T0 + 30 min are judged
    code, out, err = analyze(capsys, str(events), "--now", iso(T0 + 20 * 60), "--quiet")
    assert code == 0 and out.startswith("app")
    assert f"warning: 69 events after --now {iso(T0 + 20 * 60)} were not judged." in err


def test_left_out_events_are_one_readable_sentence_naming_the_apps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = dump(tmp_path / "d.jsonl", {"known": 20, "stray": 7, "other": 3})
    with events.open("a") as f:
        f.write(json.dumps({"app": "known", "id": "bad", "ts": "noon", "type": "read",
                            "account": "x"}) + "\n")
    reg = registry(tmp_path / "apps.yaml", "known")
    code, _, err = analyze(capsys, str(events), "--registry", str(reg))
    assert code == 0
    lines = err.splitlines()
    assert lines[-2].endswith("s.")  # the timing line ends cleanly: no stray "; "
    assert lines[-1] == (
        "warning: left out 11 events: 10 of apps not in the registry: stray (7), other (3); "
        "1 rejected (invalid_timestamp 1)."
    )
    assert "{" not in err and "Counter" not in err


def test_nothing_left_out_says_nothing_more(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = dump(tmp_path / "d.jsonl", {"a": 20})
    code, _, err = analyze(capsys, str(events))
    assert code == 0
    assert err.splitlines()[-1].endswith("s.") and "warning" not in err and "; " not in err


def test_only_unknown_apps_is_an_error_naming_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = dump(tmp_path / "d.jsonl", {"stray": 4})
    reg = registry(tmp_path / "apps.yaml", "known")
    code, _, err = analyze(capsys, str(events), "--registry", str(reg), "--quiet")
    assert code == 1
    assert err == (
        "tapwatch analyze: no events of a known app in the input (left out 4 events: 4 of "
        "apps not in the registry: stray (4).)\n"
    )
