"""`tapwatch check-config` fails on everything `tapwatch run` refuses, with the same words:
each file under tests/unit/configs/check (and bad/) with its exact errors, through both."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from tapwatch.cli import main
from tapwatch.config import ConfigError
from tapwatch.daemon.runtime import Daemon
from tapwatch.pseudonym import generate_key_file

CONFIGS = Path(__file__).parent / "configs"
CHECK = sorted(p.name for p in (CONFIGS / "check").glob("*.yaml") if "_" in p.stem)
BAD = sorted(p.name for p in (CONFIGS / "bad").glob("*.yaml"))


def expected(path: Path) -> list[str]:
    return [
        line.removeprefix("# expect: ")
        for line in path.read_text().splitlines()
        if line.startswith("# expect: ")
    ]


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tables with the secret files made as the cases need them (git keeps
    no file modes): good.key (0600), loose.key and loose-token (0644), short.key."""
    d = tmp_path_factory.mktemp("configs")
    shutil.copytree(CONFIGS, d, dirs_exist_ok=True)
    check = d / "check"
    generate_key_file(check / "good.key")
    shutil.copy(check / "good.key", check / "loose.key")
    (check / "loose.key").chmod(0o644)
    (check / "short.key").write_text("abcd\n")
    (check / "short.key").chmod(0o600)
    (check / "loose-token").write_text("t0ken\n")
    (check / "loose-token").chmod(0o644)
    return d


@pytest.mark.parametrize("name", [f"check/{n}" for n in CHECK] + [f"bad/{n}" for n in BAD])
def test_check_config_and_run_refuse_alike(
    configs: Path, name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(configs)
    want = expected(configs / name)
    assert want, f"{name} has no '# expect:' line"
    assert main(["check-config", name]) == 1
    err = capsys.readouterr().err.splitlines()
    n = len(want)
    assert err == [*want, f"{name}: {n} error{'s' if n != 1 else ''}"]
    with pytest.raises(ConfigError) as e:
        Daemon(Path(name))
    assert e.value.errors == want


def test_a_good_config_passes_both(
    configs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(configs)
    assert main(["check-config", "check/good.yaml"]) == 0
    assert capsys.readouterr().out == "check/good.yaml: OK (1 apps in 1 files)\n"
    d = Daemon(Path("check/good.yaml"))
    assert d.config.apps[0].config.source.url.startswith("HTTP://")  # type: ignore[union-attr]


def test_the_web_config_flag_is_checked_like_the_setting(
    configs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(configs)
    args = ["check/good.yaml", "--web.config.file", "check/no-such-web.yml"]
    assert main(["check-config", *args]) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        "--web.config.file: file 'check/no-such-web.yml' does not exist"
    )
    assert main(["check-config", "check/good.yaml", "--web.config.file", "check/web.yml"]) == 0


def test_run_prints_the_same_errors_and_leaves_nothing_open(
    configs: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.chdir(configs)
    caplog.set_level(logging.DEBUG)
    assert main(["run", "--config", "check/web_config_missing_cert.yaml"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("tapwatch: invalid configuration:\n")
    assert expected(configs / "check/web_config_missing_cert.yaml")[0] in err
    assert "Unclosed" not in err + caplog.text


def test_analyze_reports_a_bad_registry_as_check_config_does(
    configs: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(configs)
    (configs / "events.jsonl").write_text("")
    assert main(["analyze", "events.jsonl", "--registry", "apps/bad_apps.yaml", "--quiet"]) == 1
    assert capsys.readouterr().err.splitlines() == [
        "apps/bad_apps.yaml:2:7: apps[0].id: 'Tax_App' is not a slug (lowercase letters, "
        "digits and '-', at most 63, starting with a letter or digit)",
        "apps/bad_apps.yaml:7:13: apps[0].launched: Input should be a valid date or datetime, "
        "input is too short (got 'soon')",
        "apps/bad_apps.yaml:8:19: apps[0].intended_users: Input should be greater than or "
        "equal to 1 (got 0)",
        "apps/bad_apps.yaml:9:34: apps[0].source.url: 'http://exa mple.org/x' contains a "
        "space or a control character",
        "tapwatch analyze: 4 errors in the registry",
    ]
    # a daemon config as the registry: the same lines check-config prints
    assert main(["analyze", "events.jsonl", "--registry", "bad/bad_url_port.yaml"]) == 1
    assert capsys.readouterr().err.splitlines()[0] == expected(configs / "bad/bad_url_port.yaml")[0]
