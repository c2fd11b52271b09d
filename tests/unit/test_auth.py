"""Logins: users file and web config parsing, re-reading, bcrypt checks, sessions and the
failed-login throttle."""

from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from pathlib import Path

import bcrypt
import pytest
import yaml

from tapwatch.daemon.auth import (
    AuthConfigError,
    Authenticator,
    LoginThrottle,
    UsersFile,
    WatchedFile,
    WebConfig,
    create_demo_users,
    hash_password,
    load_model,
    parse_basic,
    same_token,
    server_ssl_context,
)

H = hash_password("pw", rounds=4)


def write(path: Path, data: object) -> Path:
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def users(tmp: Path, **entries: tuple[str, str]) -> Path:
    return write(
        tmp / "users.yaml",
        {
            "users": {
                n: {"password_hash": hash_password(pw, 4), "role": r}
                for n, (pw, r) in entries.items()
            }
        },
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"users": {"li": {"password_hash": H, "role": "admin"}}},
            "users.li.role: Input should be 'viewer' or 'inspector'",
        ),
        (
            {"users": {"li": {"password_hash": "plain", "role": "viewer"}}},
            "users.li.password_hash: Value error, expected a bcrypt hash",
        ),
        (
            {"users": {"li": {"password_hash": H, "role": "viewer", "email": "x"}}},
            "users.li.email: Extra inputs are not permitted",
        ),
        (
            {"users": {"li wei": {"password_hash": H, "role": "viewer"}}},
            "users: Value error, user name 'li wei': letters, digits and ._@- only",
        ),
        ({}, "users: Field required"),
        ("users: [unclosed", "invalid YAML"),
    ],
)
def test_bad_users_files_name_the_file_and_the_problem(
    tmp_path: Path, data: object, message: str
) -> None:
    p = write(tmp_path / "users.yaml", data)
    with pytest.raises(AuthConfigError) as err:
        load_model(p, UsersFile)
    assert str(err.value).startswith(f"{p}: ")
    assert message in str(err.value)


def test_web_config_is_exporter_toolkit_style_and_strict(tmp_path: Path) -> None:
    p = write(
        tmp_path / "web.yaml",
        {
            "tls_server_config": {"cert_file": "tls/server.crt", "key_file": "/abs/server.key"},
            "basic_auth_users": {"prometheus": H},
        },
    )
    cfg = load_model(p, WebConfig)
    assert cfg.tls_server_config is not None
    assert cfg.tls_server_config.cert_file == tmp_path / "tls/server.crt"  # relative to it
    assert cfg.tls_server_config.key_file == Path("/abs/server.key")
    assert cfg.basic_auth_users == {"prometheus": H}
    write(p, {"basic_auth_users": {"prometheus": "secret"}})
    with pytest.raises(AuthConfigError, match=r"basic_auth_users\.prometheus: expected a bcrypt"):
        load_model(p, WebConfig)
    write(p, {"http_server_config": {"http2": True}})
    with pytest.raises(AuthConfigError, match="http_server_config: Extra inputs"):
        load_model(p, WebConfig)
    with pytest.raises(AuthConfigError, match="cannot read"):
        load_model(tmp_path / "missing.yaml", WebConfig)


def test_watched_file_rereads_changes_and_keeps_the_last_good(tmp_path: Path) -> None:
    t = [0.0]
    p = users(tmp_path, li=("a", "viewer"))
    w = WatchedFile(p, UsersFile, clock=lambda: t[0])
    assert w.get().users["li"].role == "viewer"
    users(tmp_path, li=("a", "inspector"))
    os.utime(p, ns=(1, 10**18))  # a different mtime whatever the clock's resolution
    assert w.get().users["li"].role == "viewer"  # checked at most once a second
    t[0] = 1.5
    assert w.get().users["li"].role == "inspector"
    write(p, "users: [broken")
    t[0] = 3.0
    assert w.get().users["li"].role == "inspector"
    assert w.last_error and "invalid YAML" in w.last_error


async def test_login_checks_bcrypt_and_roles(tmp_path: Path) -> None:
    auth = Authenticator(users(tmp_path, li=("s3cret", "inspector"), ops=("x", "viewer")), None)
    user = await auth.login("li", "s3cret")
    assert user is not None and user.is_inspector
    assert (await auth.login("ops", "x")).role == "viewer"  # type: ignore[union-attr]
    assert await auth.login("li", "wrong") is None
    assert await auth.login("nobody", "s3cret") is None
    assert await auth.login("li", "s3cret") == user  # from the success cache
    assert len(auth._ok_cache) == 2
    # no users file: nobody gets in
    assert await Authenticator(None, None).login("li", "s3cret") is None
    assert not Authenticator(None, None).metrics_protected


async def test_metrics_users_come_from_the_web_config_only(tmp_path: Path) -> None:
    web = write(tmp_path / "web.yaml", {"basic_auth_users": {"prom": hash_password("p", 4)}})
    auth = Authenticator(users(tmp_path, li=("s3cret", "inspector")), web)
    assert auth.metrics_protected
    assert await auth.metrics_login("prom", "p")
    assert not await auth.metrics_login("li", "s3cret")
    assert await auth.login("prom", "p") is None


def test_sessions_expire_and_follow_the_users_file(tmp_path: Path) -> None:
    t = [1000.0]
    p = users(tmp_path, li=("a", "inspector"), ops=("b", "viewer"))
    auth = Authenticator(p, None, clock=lambda: t[0])
    auth.users._clock = lambda: t[0]  # type: ignore[union-attr]
    li = auth.user("li")
    assert li is not None
    s = auth.new_session(li)
    assert len(s.token) >= 40 and len(s.csrf) >= 40 and s.token != s.csrf
    found = auth.session(s.token)
    assert found is not None and found[1].role == "inspector"
    assert auth.session("guess") is None and auth.session(None) is None
    t[0] += auth.SESSION_IDLE_S + 1
    assert auth.session(s.token) is None  # idle too long
    s = auth.new_session(li)
    users(tmp_path, li=("a", "viewer"))  # demoted: the next request sees it
    os.utime(p, ns=(1, 10**18))
    t[0] += 2
    assert auth.session(s.token)[1].role == "viewer"  # type: ignore[index]
    users(tmp_path, ops=("b", "viewer"))  # removed: the session ends
    os.utime(p, ns=(1, 2 * 10**18))
    t[0] += 2
    assert auth.session(s.token) is None
    ops = auth.user("ops")
    assert ops is not None
    s = auth.new_session(ops)
    auth.end_session(s.token)
    assert auth.session(s.token) is None


def test_throttle_blocks_after_repeated_failures_and_forgets_after_the_window() -> None:
    th = LoginThrottle(max_failures=3, window_s=60)
    for i in range(3):
        assert th.blocked_for("10.0.0.1", i) == 0
        th.failed("10.0.0.1", i)
    assert th.blocked_for("10.0.0.1", 10) == pytest.approx(50)
    assert th.blocked_for("10.0.0.2", 10) == 0  # per address
    assert th.blocked_for("10.0.0.1", 61) == 0  # the first failure left the window
    th.succeeded("10.0.0.1")
    assert th.blocked_for("10.0.0.1", 2) == 0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Basic " + base64.b64encode(b"li:pa:ss").decode(), ("li", "pa:ss")),
        ("basic " + base64.b64encode("李:密码".encode()).decode(), ("李", "密码")),
        ("Basic " + base64.b64encode(b"nocolon").decode(), None),
        ("Basic !!!", None),
        ("Bearer abc", None),
        ("Basic", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_basic(header: str | None, expected: tuple[str, str] | None) -> None:
    assert parse_basic(header) == expected


def test_same_token_is_false_for_missing_tokens() -> None:
    assert same_token("abc", "abc")
    assert not same_token("abc", "abd")
    assert not same_token("", "")
    assert not same_token(None, "abc")


def test_demo_users_are_written_private_with_working_passwords(tmp_path: Path) -> None:
    creds = create_demo_users(tmp_path / "demo")
    assert set(creds) == {"inspector", "viewer"}
    p = tmp_path / "demo" / "users.yaml"
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    cfg = load_model(p, UsersFile)
    for name, pw in creds.items():
        assert cfg.users[name].role == name
        assert bcrypt.checkpw(pw.encode(), cfg.users[name].password_hash.encode())
    assert create_demo_users(tmp_path / "demo") != creds  # fresh passwords each time


def test_ssl_context_from_the_web_config(tmp_path: Path) -> None:
    assert server_ssl_context(None) is None
    assert server_ssl_context(write(tmp_path / "plain.yaml", {"basic_auth_users": {}})) is None
    web = write(
        tmp_path / "web.yaml", {"tls_server_config": {"cert_file": "c.pem", "key_file": "k.pem"}}
    )
    with pytest.raises(AuthConfigError, match="tls_server_config"):
        server_ssl_context(web)
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed: cannot make a test certificate")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(tmp_path / "k.pem"),
            "-out",
            str(tmp_path / "c.pem"),
        ],
        check=True,
        capture_output=True,
    )
    ctx = server_ssl_context(web)
    assert ctx is not None and ctx.minimum_version.name == "TLSv1_2"
