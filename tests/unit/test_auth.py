"""Logins: users file parsing and re-reading, the realms' checks, sessions that follow the
users file, the login form's CSRF nonce and device cookie, the `next` redirect, Origin."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import bcrypt
import pytest
import yaml

from tapwatch.config import ConfigError
from tapwatch.daemon.auth import (
    Authenticator,
    User,
    create_demo_users,
    hash_password,
    load_users_file,
    parse_basic,
    safe_next,
    same_origin,
    same_token,
)
from tapwatch.daemon.watched import WatchedFile

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
            "users.li.role: Input should be 'viewer' or 'inspector' (got 'admin')",
        ),
        (
            {"users": {"li": {"password_hash": "plain", "role": "viewer"}}},
            "users.li.password_hash: expected a bcrypt hash",
        ),
        (
            {"users": {"li": {"password_hash": H, "role": "viewer", "email": "x"}}},
            "users.li.email: unknown key (allowed: password_hash, role)",
        ),
        (
            {"users": {"li wei": {"password_hash": H, "role": "viewer"}}},
            "users: user name 'li wei': letters, digits and ._@- only",
        ),
        ({}, "users: required key missing"),
        ("users: [unclosed", "invalid YAML"),
    ],
)
def test_bad_users_files_name_the_file_and_the_problem(
    tmp_path: Path, data: object, message: str
) -> None:
    p = write(tmp_path / "users.yaml", data)
    with pytest.raises(ConfigError) as err:
        load_users_file(p)
    (line,) = err.value.errors
    assert line.startswith(f"{p}:") and message in line


def test_watched_file_rereads_changes_and_keeps_the_last_good(tmp_path: Path) -> None:
    t = [0.0]
    p = users(tmp_path, li=("a", "viewer"))
    w = WatchedFile(p, load_users_file, clock=lambda: t[0], wall_clock=lambda: 1e9 + t[0])
    assert w.get().users["li"].role == "viewer"
    assert w.ok and w.last_success == 1e9  # read at start
    users(tmp_path, li=("a", "inspector"))
    os.utime(p, ns=(1, 10**18))  # a different mtime whatever the clock's resolution
    assert w.get().users["li"].role == "viewer"  # checked at most once a second
    t[0] = 1.5
    assert w.get().users["li"].role == "inspector"
    assert w.ok and w.last_success == 1e9 + 1.5
    write(p, "users: [broken")
    t[0] = 3.0
    assert w.get().users["li"].role == "inspector"
    assert w.last_error and "invalid YAML" in w.last_error
    assert not w.ok and w.last_success == 1e9 + 1.5  # when the version in use was read
    p.unlink()
    t[0] = 4.5
    assert w.get().users["li"].role == "inspector"  # no on_missing: the last good stays
    assert not w.ok and w.last_success == 1e9 + 1.5


async def test_login_checks_bcrypt_and_roles(tmp_path: Path) -> None:
    auth = Authenticator(users(tmp_path, li=("s3cret", "inspector"), ops=("x", "viewer")), None)
    v, user = await auth.check_user("li", "s3cret", "10.0.0.1")
    assert v.ok and user is not None and user.is_inspector
    assert (await auth.check_user("ops", "x", "10.0.0.1"))[1] == User("ops", "viewer")
    assert (await auth.check_user("li", "wrong", "10.0.0.1"))[1] is None
    assert (await auth.check_user("nobody", "s3cret", "10.0.0.1"))[1] is None
    assert auth.failures == {"findings": 2}
    # no users file: nobody gets in
    nobody = Authenticator(None, None)
    assert (await nobody.check_user("li", "s3cret", "10.0.0.1"))[1] is None
    assert not nobody.metrics_protected


async def test_the_realms_are_separate(tmp_path: Path) -> None:
    web = write(tmp_path / "web.yaml", {"basic_auth_users": {"prom": hash_password("p", 4)}})
    auth = Authenticator(users(tmp_path, li=("s3cret", "inspector")), web)
    assert auth.metrics_protected
    assert (await auth.check_metrics("prom", "p", "a")).ok
    assert not (await auth.check_metrics("li", "s3cret", "a")).ok
    assert (await auth.check_user("prom", "p", "a"))[1] is None
    assert auth.failures == {"metrics": 1, "findings": 1}


def test_sessions_expire_and_follow_the_users_file(tmp_path: Path) -> None:
    t = [1000.0]
    p = users(tmp_path, li=("a", "inspector"), ops=("b", "viewer"))
    auth = Authenticator(p, None, clock=lambda: t[0])
    auth.users._clock = lambda: t[0]  # type: ignore[union-attr]

    def touch(n: int) -> None:  # a different mtime whatever the clock's resolution
        os.utime(p, ns=(1, n * 10**18))
        t[0] += 2  # the file is looked at again after a second

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
    users(tmp_path, li=("a", "viewer"), ops=("b", "viewer"))  # a new hash: a new password
    touch(1)
    assert auth.session(s.token) is None
    li = auth.user("li")
    assert li == User("li", "viewer")
    s = auth.new_session(li)
    users(tmp_path, ops=("b", "viewer"))  # removed: the session ends
    touch(2)
    assert auth.session(s.token) is None
    ops = auth.user("ops")
    assert ops is not None
    s = auth.new_session(ops)
    p.unlink()  # the users file is deleted: everybody is logged out
    t[0] += 2
    assert auth.session(s.token) is None and auth.user("ops") is None
    users(tmp_path, ops=("b", "viewer"))  # and back
    t[0] += 2
    ops = auth.user("ops")
    assert ops == User("ops", "viewer")
    s = auth.new_session(ops)
    auth.end_session(s.token)
    assert auth.session(s.token) is None


def test_a_role_change_applies_at_once_and_keeps_the_session(tmp_path: Path) -> None:
    t = [1000.0]
    h = hash_password("a", 4)
    p = write(tmp_path / "u.yaml", {"users": {"li": {"password_hash": h, "role": "inspector"}}})
    auth = Authenticator(p, None, clock=lambda: t[0])
    auth.users._clock = lambda: t[0]  # type: ignore[union-attr]
    s = auth.new_session(User("li", "inspector"))
    write(p, {"users": {"li": {"password_hash": h, "role": "viewer"}}})
    os.utime(p, ns=(1, 10**18))
    t[0] += 2
    found = auth.session(s.token)
    assert found is not None and found[1] == User("li", "viewer")


def test_login_nonce_and_device_cookie() -> None:
    t = [1000.0]
    auth = Authenticator(None, None, clock=lambda: t[0])
    nonce, token = auth.login_nonce()
    assert auth.login_token_ok(nonce, token)
    other_nonce, _ = auth.login_nonce()
    assert not auth.login_token_ok(other_nonce, token)  # a token from another form
    assert not auth.login_token_ok(None, token) and not auth.login_token_ok(nonce, "")
    assert not Authenticator(None, None).login_token_ok(nonce, token)  # another process
    cookie = auth.device_cookie(User("li.wei", "inspector"))
    assert auth._device_id(cookie, "li.wei")
    assert auth._device_id(cookie, "ops") is None  # issued to another user
    assert auth._device_id(cookie[:-1] + ("0" if cookie[-1] != "0" else "1"), "li.wei") is None
    t[0] += 31 * 86400
    assert auth._device_id(cookie, "li.wei") is None  # expired


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/findings?app=a&kind=b", "/findings?app=a&kind=b"),
        ("/findings/f-1", "/findings/f-1"),
        ("/\t/evil.example", "/findings"),
        ("/\t\t/evil.example", "/findings"),
        ("/\n/evil.example", "/findings"),
        ("/\\evil.example", "/findings"),
        ("//evil.example", "/findings"),
        ("/ /evil.example", "/findings"),
        ("https://evil.example/", "/findings"),
        ("evil.example", "/findings"),
        ("/%2F/evil.example", "/%2F/evil.example"),  # a path: browsers do not decode it
        ("/\u00e9", "/findings"),
        ("", "/findings"),
        (None, "/findings"),
    ],
)
def test_next_is_a_path_on_this_server(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


@pytest.mark.parametrize(
    ("origin", "referer", "host", "external", "ok"),
    [
        ("http://127.0.0.1:9817", None, "127.0.0.1:9817", None, True),
        ("https://tapwatch.example.gov.cn", None, "tapwatch.example.gov.cn", None, True),
        ("https://tapwatch.example.gov.cn", None, "127.0.0.1:9817",
         "https://tapwatch.example.gov.cn/", True),  # behind a proxy
        ("https://evil.example", None, "127.0.0.1:9817", None, False),
        ("null", None, "127.0.0.1:9817", None, False),
        (None, "http://127.0.0.1:9817/login?next=/x", "127.0.0.1:9817", None, True),
        (None, "http://evil.example/login", "127.0.0.1:9817", None, False),
        (None, None, "127.0.0.1:9817", None, True),  # not a browser: the token decides
        ("http://127.0.0.1:9818", None, "127.0.0.1:9817", None, False),
    ],
)
def test_same_origin(
    origin: str | None, referer: str | None, host: str, external: str | None, ok: bool
) -> None:
    assert same_origin(origin, referer, host, external) is ok


def test_hash_password_refuses_what_bcrypt_would_ignore() -> None:
    with pytest.raises(ValueError, match="72 bytes"):
        hash_password("x" * 73, rounds=4)
    assert bcrypt.checkpw(b"x" * 72, hash_password("x" * 72, rounds=4).encode())


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
    cfg = load_users_file(p)
    for name, pw in creds.items():
        assert cfg.users[name].role == name
        assert bcrypt.checkpw(pw.encode(), cfg.users[name].password_hash.encode())
    assert create_demo_users(tmp_path / "demo") != creds  # fresh passwords each time
