"""Each bad config file with its exact error messages (blackbox_exporter style), and the
good example configs load."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tapwatch.config import SOURCE_KINDS, ConfigError, load_config, parse_duration, parse_size

HERE = Path(__file__).parent / "configs"
BAD = sorted((HERE / "bad").glob("*.yaml"))
GOOD = sorted((HERE / "good").glob("*.yaml"))


def _expected(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect: ").rstrip("\n")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_config_reports_exact_errors(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE)
    expected = _expected(path)
    assert expected, f"{path.name} has no '# expect:' line"
    with pytest.raises(ConfigError) as e:
        load_config(Path("bad") / path.name)
    assert e.value.errors == expected


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_configs_load(path: Path) -> None:
    assert load_config(path).apps


def test_urls_keep_their_spelling_and_query() -> None:
    cfg = load_config(HERE / "good" / "url_case_and_query.yaml")
    assert [a.config.source.url for a in cfg.apps] == [  # type: ignore[union-attr]
        "HTTP://127.0.0.1:9818/api?api_key=a%2Fb+c",
        "Https://[::1]:9100/metrics",
    ]


def test_a_password_in_a_url_is_refused_without_being_repeated(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tapwatch.cli import main

    monkeypatch.chdir(HERE)
    assert main(["check-config", "bad/url_with_credentials.yaml"]) == 1
    err = capsys.readouterr().err
    assert "source's auth:" in err and "hunter2" not in err and "tapwatch:" not in err


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    (tmp_path / "apps.d").mkdir()
    (tmp_path / "tapwatch.yaml").write_text(
        "pseudonymisation: {key_file: k}\nserver: {bogus: 1}\napps_dir: apps.d\n"
    )
    (tmp_path / "apps.d" / "a.yaml").write_text(
        "- {id: a, name: A, owner: O, region: R, category: c, launched: 2024-01-01,\n"
        "   intended_users: 0, source: {kind: file, path: d}}\n"
    )
    (tmp_path / "apps.d" / "b.yaml").write_text("apps: [{id: b}]\n")
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "tapwatch.yaml")
    text = str(e.value)
    assert "tapwatch.yaml:2:10: server.bogus: unknown key" in text
    assert (
        "a.yaml:2:20: apps[0].intended_users: Input should be greater than or equal to 1 (got 0)"
        in text
    )
    assert "b.yaml:1:8: apps[0].name: required key missing" in text


def test_examples_load(tmp_path: Path) -> None:
    root = Path(__file__).parents[2]
    shutil.copytree(root / "config", tmp_path / "config")
    secrets_dir = tmp_path / "config" / "secrets"
    secrets = sorted(p for p in secrets_dir.iterdir() if p.name != "README.md")
    for f in secrets:  # git keeps no modes: placeholders come out 0644, and are refused so
        f.chmod(0o644)
    with pytest.raises(ConfigError) as e:
        load_config(tmp_path / "config" / "tapwatch.example.yaml")
    assert len(e.value.errors) == len(secrets)
    assert all("a secret file must be private; run `chmod 600" in x for x in e.value.errors)
    for f in secrets:  # as README's step 3 does
        f.chmod(0o600)
    cfg = load_config(tmp_path / "config" / "tapwatch.example.yaml")
    assert cfg.apps, "the example registry should hold apps"
    for a in cfg.apps:
        assert a.config.source.kind in SOURCE_KINDS
    assert {a.config.source.kind for a in cfg.apps} == set(SOURCE_KINDS)


def test_secrets_are_read_late_and_never_in_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "token").write_text("s3cret-token\n")
    (tmp_path / "token").chmod(0o600)
    (tmp_path / "t.yaml").write_text(
        "pseudonymisation: {key_file: k}\napps:\n"
        "  - {id: a, name: A, owner: O, region: R, category: c, launched: 2024-01-01,\n"
        "     intended_users: 1, source: {kind: usage_api, url: 'http://127.0.0.1:1/a',\n"
        "     auth: {bearer_token_file: token}}}\n"
        "  - {id: b, name: B, owner: O, region: R, category: c, launched: 2024-01-01,\n"
        "     intended_users: 1, source: {kind: usage_api, url: 'http://127.0.0.1:1/b',\n"
        "     auth: {bearer_token_env: B_TOKEN}}}\n"
    )
    cfg = load_config(tmp_path / "t.yaml")
    assert "s3cret" not in repr(cfg)
    a, b = (x.config.source for x in cfg.apps)
    assert a.auth.headers() == {"Authorization": "Bearer s3cret-token"}
    monkeypatch.setenv("B_TOKEN", "env-token")
    assert b.auth.headers() == {"Authorization": "Bearer env-token"}
    monkeypatch.delenv("B_TOKEN")
    with pytest.raises(ValueError, match="B_TOKEN is not set"):
        b.auth.headers()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30), ("5m", 300), ("1h", 3600), ("7d", 604800), (12, 12.0)],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_durations_and_sizes() -> None:
    for bad in ("soon", "5 parsecs", "-1s", True):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert parse_size("16MiB") == 16 * 2**20
    assert parse_size("500KB") == 500_000
    with pytest.raises(ValueError):
        parse_size("lots")


def test_check_config_command(capsys: pytest.CaptureFixture[str]) -> None:
    from tapwatch.cli import main

    os.chdir(HERE)
    assert main(["check-config", "bad/bad_listen.yaml"]) == 1
    err = capsys.readouterr().err
    assert "server.listen: expected HOST:PORT" in err
    assert "bad/bad_listen.yaml: 1 error" in err
