"""Who may see what: inspector and viewer logins, sessions, and the two realms' checks.

Two files, both YAML, both re-read when they change (a stat per request, at most once a
second; tapwatch.daemon.watched), both keeping the last good version while a change is
broken:

* the **users file** (`server.users_file`)::

      users:
        li.wei: {password_hash: $2b$12$..., role: inspector}
        ops:    {password_hash: $2b$12$..., role: viewer}

  The findings API and pages (realm `findings`) always need one of these users: HTTP basic
  auth (scripts) or the login form's session cookie (people). `viewer` sees findings
  without personal evidence; `inspector` sees everything and changes statuses. No users
  file, or a removed one: nobody gets in. A session ends at the next request once its user
  is gone from the file or their password hash changed.

* the **web config** (`server.web_config_file`, tapwatch.daemon.webconfig): its
  `basic_auth_users` guard /metrics and every other non-inspector route (realm
  `metrics`); without them those stay open, as an exporter's are.

Passwords are checked by tapwatch.daemon.passwords (bounded bcrypt work, remembered
successes, per (user, address) slow-down, constant cost for unknown users). The login form
carries a CSRF token bound to a cookie and checks Origin/Referer; after a login the
browser keeps a signed device cookie that keeps it apart from guesses from its address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

import bcrypt
import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tapwatch.config import load_settings_file
from tapwatch.daemon.passwords import MAX_PASSWORD_BYTES, PasswordChecker, Verdict, usual_cost
from tapwatch.daemon.watched import WatchedFile
from tapwatch.daemon.webconfig import (
    BcryptHash,
    LoadedWebConfig,
    load_web_config,
    same_protocol,
)

ROLES = ("viewer", "inspector")
Role = Literal["viewer", "inspector"]
SESSION_COOKIE = "tapwatch_session"
LOGIN_COOKIE = "tapwatch_login"  # the login form's CSRF nonce
DEVICE_COOKIE = "tapwatch_device"  # a browser that logged in before (see passwords.py)
DEVICE_COOKIE_MAX_AGE_S = 30 * 86400
METRICS_REALM = "metrics"
FINDINGS_REALM = "findings"
REALMS = (METRICS_REALM, FINDINGS_REALM)
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserEntry(_Strict):
    password_hash: Annotated[BcryptHash, Field(description="bcrypt hash of the password")]
    role: Role


class UsersFile(_Strict):
    users: dict[str, UserEntry]

    @field_validator("users")
    @classmethod
    def _names(cls, v: dict[str, UserEntry]) -> dict[str, UserEntry]:
        for name in v:
            if not _NAME_RE.match(name):
                raise ValueError(f"user name {name!r}: letters, digits and ._@- only")
        return v


def load_users_file(path: Path) -> UsersFile:
    """Read and validate a users file; ConfigError naming file, line and key."""
    return load_settings_file(path, UsersFile)[0]


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash for a users file or a web config (ValueError past bcrypt's 72 bytes:
    the rest of a longer password would count for nothing)."""
    raw = password.encode()
    if len(raw) > MAX_PASSWORD_BYTES:
        raise ValueError(f"a password longer than {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)")
    return bcrypt.hashpw(raw, bcrypt.gensalt(rounds)).decode()


def create_demo_users(directory: Path) -> dict[str, str]:
    """Write `users.yaml` with an inspector and a viewer with fresh random passwords
    (mode 0600) into `directory`; returns {name: password} for the demo to print."""
    directory.mkdir(parents=True, exist_ok=True)
    creds = {"inspector": secrets.token_urlsafe(12), "viewer": secrets.token_urlsafe(12)}
    # Cost 10: the demo's first login should not wait a quarter of a second per user.
    users = {
        name: {"password_hash": hash_password(pw, rounds=10), "role": name}
        for name, pw in creds.items()
    }
    text = "# Demo users written by `tapwatch demo` (passwords printed at start).\n"
    text += yaml.safe_dump({"users": users}, sort_keys=False)
    path = directory / "users.yaml"
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return creds


@dataclass(frozen=True, slots=True)
class User:
    name: str
    role: Role

    @property
    def is_inspector(self) -> bool:
        return self.role == "inspector"


@dataclass(slots=True)
class Session:
    token: str
    user: str
    csrf: str
    created: float
    last_seen: float
    password_hash: str  # a new password ends the session


class Authenticator:
    """Checks credentials of both realms, keeps sessions, and counts what it refused."""

    SESSION_IDLE_S = 3600.0
    SESSION_MAX_S = 12 * 3600.0
    MAX_SESSIONS = 10_000

    def __init__(
        self,
        users_file: Path | None,
        web_config_file: Path | None,
        clock: Callable[[], float] = time.time,
        passwords: PasswordChecker | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        """`on_change` is called when a count or a file's state changes (the daemon
        re-renders /metrics)."""
        self.clock = clock
        self._on_change = on_change
        self.users = (
            WatchedFile(
                users_file,
                load_users_file,
                on_missing=lambda: UsersFile(users={}),
                on_change=on_change,
                wall_clock=clock,
            )
            if users_file
            else None
        )
        self.web = (
            WatchedFile(
                web_config_file,
                load_web_config,
                names=lambda w: w.tls_files,
                accept=same_protocol,
                on_change=on_change,
                wall_clock=clock,
            )
            if web_config_file
            else None
        )
        self.passwords = passwords or PasswordChecker()
        self.sessions: dict[str, Session] = {}
        self._secret = secrets.token_bytes(32)  # signs login nonces and device cookies
        self.failures: Counter[str] = Counter()  # realm -> wrong user name or password
        self.refused: Counter[str] = Counter()  # realm -> answered 429 without a check

    def close(self) -> None:
        self.passwords.close()

    # ---- the two realms --------------------------------------------------------------

    def web_config(self) -> LoadedWebConfig | None:
        return self.web.get() if self.web else None

    @property
    def metrics_protected(self) -> bool:
        w = self.web_config()
        return w is not None and bool(w.config.basic_auth_users)

    async def check_metrics(self, name: str, password: str, address: str) -> Verdict:
        """Whether name and password match the web config's basic_auth_users."""
        w = self.web_config()
        users = w.config.basic_auth_users if w else {}
        return await self._check(METRICS_REALM, users, name, password, address, None)

    async def check_user(
        self, name: str, password: str, address: str, device: str | None = None
    ) -> tuple[Verdict, User | None]:
        """The verdict, and the user if name and password match the users file.
        `device`: the login form's device cookie, if it has one."""
        entries = self.users.get().users if self.users else {}
        hashes = {n: e.password_hash for n, e in entries.items()}
        device_id = self._device_id(device, name) if device else None
        v = await self._check(FINDINGS_REALM, hashes, name, password, address, device_id)
        entry = entries.get(name)
        return v, (User(name, entry.role) if v.ok and entry is not None else None)

    async def _check(
        self,
        realm: str,
        hashes: dict[str, str],
        name: str,
        password: str,
        address: str,
        device: str | None,
    ) -> Verdict:
        checks = self.passwords.bcrypt_checks
        v = await self.passwords.check(
            realm,
            name,
            password,
            hashes.get(name),
            address=address,
            device=device,
            dummy_cost=usual_cost(hashes.values()),
        )
        if v.busy:
            self.refused[realm] += 1
        elif not v.ok:
            self.failures[realm] += 1
        if v.busy or not v.ok or self.passwords.bcrypt_checks != checks:
            self._on_change()  # a count changed
        return v

    def count_malformed(self, realm: str) -> None:
        """An Authorization header that is not basic auth with a name and password."""
        self.failures[realm] += 1
        self._on_change()

    def user(self, name: str) -> User | None:
        """The user as the users file says now (None if absent or no file)."""
        if self.users is None:
            return None
        entry = self.users.get().users.get(name)
        return None if entry is None else User(name, entry.role)

    # ---- sessions --------------------------------------------------------------------

    def new_session(self, user: User) -> Session:
        now = self.clock()
        self._expire(now)
        entry = self.users.get().users[user.name] if self.users else None
        s = Session(
            token=secrets.token_urlsafe(32),
            user=user.name,
            csrf=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
            password_hash=entry.password_hash if entry else "",
        )
        self.sessions[s.token] = s
        return s

    def session(self, token: str | None) -> tuple[Session, User] | None:
        """The live session and its user as the users file says now: a user removed from
        the file (or the file removed), or given a new password, is logged out; a new
        role applies at once."""
        if not token:
            return None
        s = self.sessions.get(token)
        if s is None:
            return None
        now = self.clock()
        entry = self.users.get().users.get(s.user) if self.users else None
        if (
            now - s.last_seen > self.SESSION_IDLE_S
            or now - s.created > self.SESSION_MAX_S
            or entry is None
            or entry.password_hash != s.password_hash
        ):
            self.sessions.pop(token, None)
            return None
        s.last_seen = now
        return s, User(s.user, entry.role)

    def end_session(self, token: str) -> None:
        self.sessions.pop(token, None)

    def _expire(self, now: float) -> None:
        dead = [
            t
            for t, s in self.sessions.items()
            if now - s.last_seen > self.SESSION_IDLE_S or now - s.created > self.SESSION_MAX_S
        ]
        for t in dead:
            del self.sessions[t]
        while len(self.sessions) >= self.MAX_SESSIONS:  # the oldest go first
            del self.sessions[next(iter(self.sessions))]

    # ---- the login form: CSRF nonce and device cookie --------------------------------

    def _sign(self, purpose: str, value: str) -> str:
        msg = f"{purpose}\0{value}".encode()
        return hmac.new(self._secret, msg, hashlib.sha256).hexdigest()[:32]

    def login_nonce(self) -> tuple[str, str]:
        """(cookie value, form token) for a login form: the POST must bring both."""
        nonce = secrets.token_urlsafe(24)
        return nonce, self._sign("login", nonce)

    def login_token_ok(self, cookie: str | None, token: str | None) -> bool:
        return bool(cookie) and same_token(token, self._sign("login", cookie or ""))

    def device_cookie(self, user: User) -> str:
        """A signed cookie naming this browser as one `user` logged in from."""
        body = f"{secrets.token_urlsafe(12)}.{int(self.clock())}.{user.name}"
        return f"{body}.{self._sign('device', body)}"

    def _device_id(self, cookie: str, name: str) -> str | None:
        """The device id of a valid, unexpired device cookie issued to `name`."""
        body, _, sig = cookie.rpartition(".")
        if not same_token(sig, self._sign("device", body)):
            return None
        device_id, issued, owner = [*body.split(".", 2), "", ""][:3]
        if owner != name or not issued.isdigit():
            return None
        if self.clock() - int(issued) > DEVICE_COOKIE_MAX_AGE_S:
            return None
        return device_id


def safe_next(target: str | None, default: str = "/findings") -> str:
    """Where to go after a login: a path on this server only.

    Browsers drop tabs and newlines from URLs and read `\\` as `/`, so `/\\t/evil.example`
    would become `//evil.example`: anything but printable ASCII without backslashes, and
    anything that is not a single-slash path, goes to `default`."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return default
    if not all(0x21 <= ord(c) < 0x7F for c in target) or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def same_origin(
    origin: str | None, referer: str | None, host: str | None, external_url: str | None
) -> bool:
    """Whether a form post comes from a page of this server: its Origin (or, failing that,
    its Referer) names the Host it was sent to or `server.external_url`'s host. Schemes are
    not compared: a TLS-terminating proxy changes them. No Origin and no Referer: True
    (not a browser; the CSRF token still has to match)."""
    source = origin if origin is not None else referer
    if source is None:
        return True
    if source == "null":
        return False
    ours = {_host_port(host or "")}
    if external_url:
        ours.add(_host_port(urlsplit(external_url).netloc))
    netloc = urlsplit(source).netloc
    return bool(netloc) and _host_port(netloc) in ours


def _host_port(netloc: str) -> str:
    """`host:port` in lower case, a default port (80, 443) dropped."""
    netloc = netloc.rpartition("@")[2].lower()
    for default in (":80", ":443"):
        if netloc.endswith(default):
            return netloc[: -len(default)]
    return netloc


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an `Authorization: Basic ...` header, or None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        raw = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    name, sep, password = raw.partition(":")
    if not sep:
        return None
    return name, password


def same_token(a: str | None, b: str | None) -> bool:
    """Constant-time comparison of two tokens (False if either is missing)."""
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode(), b.encode())
