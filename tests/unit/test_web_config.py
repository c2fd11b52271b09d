"""The web config against exporter-toolkit's own `web/testdata` cases (recreated in the same
shapes in tests/unit/configs/web, with the certificates made here).

Each file says what the toolkit does with it (`# exporter-toolkit: good|bad`) and what
tapwatch answers (`# expect:` lines, none if it loads). tapwatch never accepts a file the
toolkit refuses; of the files the toolkit accepts, it refuses only settings it does not
support, each by name."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tapwatch.config import ConfigError
from tapwatch.daemon.webconfig import load_web_config, same_protocol
from tests.tls_certs import make_ca, make_cert, needs_openssl

WEB = Path(__file__).parent / "configs" / "web"
FILES = sorted(p.name for p in WEB.iterdir() if p.suffix in (".yml", ".yaml"))

pytestmark = needs_openssl


@pytest.fixture(scope="module")
def web_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the table with the files it names: server.crt/.key (signed by ca.crt),
    client_selfsigned.pem, other.key (not the server's), loose.key (mode 0644)."""
    d = tmp_path_factory.mktemp("web")
    shutil.copytree(WEB, d, dirs_exist_ok=True)
    ca = make_ca(d)
    make_cert(d, "server", ca)
    make_ca(d, "other")
    client = make_ca(d, "client_selfsigned")
    client.crt.rename(d / "client_selfsigned.pem")
    shutil.copy(d / "server.key", d / "loose.key")
    (d / "loose.key").chmod(0o644)
    return d


def _header(path: Path, prefix: str) -> list[str]:
    return [
        line.removeprefix(prefix)
        for line in path.read_text().splitlines()
        if line.startswith(prefix)
    ]


@pytest.mark.parametrize("name", FILES)
def test_exporter_toolkit_conformance(
    web_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(web_dir)
    expected = _header(WEB / name, "# expect: ")
    verdict = _header(WEB / name, "# exporter-toolkit: ")
    try:
        load_web_config(Path(name))
        errors: list[str] = []
    except ConfigError as e:
        errors = e.errors
    assert errors == expected
    if verdict == ["bad"]:
        assert errors, "a file the toolkit refuses must be refused"
    if verdict == ["good"] and errors:
        assert any("not supported by tapwatch" in e for e in errors)


def test_the_table_covers_both_verdicts_and_tapwatchs_own_cases() -> None:
    verdicts = [tuple(_header(WEB / n, "# exporter-toolkit: ")) for n in FILES]
    assert verdicts.count(("good",)) >= 10 and verdicts.count(("bad",)) >= 15
    assert sum(1 for n in FILES if n.startswith("tapwatch_")) >= 8


def test_loaded_settings_reach_the_ssl_context(web_dir: Path) -> None:
    w = load_web_config(web_dir / "tapwatch_mtls.good.yml")
    ctx = w.ssl_context
    assert ctx is not None
    assert ctx.verify_mode.name == "CERT_REQUIRED"
    assert ctx.minimum_version.name == "TLSv1_3" and ctx.maximum_version.name == "TLSv1_3"
    assert [c["subject"] for c in ctx.get_ca_certs()] == [((("commonName", "ca"),),)]
    assert w.headers == {"Strict-Transport-Security": "max-age=31536000"}
    assert w.tls_files == (web_dir / "server.crt", web_dir / "server.key", web_dir / "ca.crt")
    plain = load_web_config(web_dir / "web_config_users_noTLS.good.yml")
    assert plain.ssl_context is None and len(plain.config.basic_auth_users) == 4
    # a running daemon never switches between HTTP and HTTPS
    assert same_protocol(w, plain) is not None and "removed" in str(same_protocol(w, plain))
    assert same_protocol(plain, w) is not None and "added" in str(same_protocol(plain, w))
    assert same_protocol(w, w) is None and same_protocol(plain, plain) is None
