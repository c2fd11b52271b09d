"""Who may see what: the web config for /metrics, and inspector/viewer logins.

Two files, both YAML, both re-read when they change (a stat per request, at most once a
second), both keeping the last good version when a change breaks them:

* the **web config** (`server.web_config_file`), in the style of the Prometheus
  exporter-toolkit's `--web.config.file`::

      tls_server_config: {cert_file: server.crt, key_file: server.key}
      basic_auth_users: {prometheus: $2b$12$...}

  `basic_auth_users` guards /metrics and every other route that is not an inspector route;
  without it they stay open, as an exporter's are. `tls_server_config` gives the
  SSLContext the server listens with (`server_ssl_context`).

* the **users file** (`server.users_file`)::

      users:
        li.wei: {password_hash: $2b$12$..., role: inspector}
        ops:    {password_hash: $2b$12$..., role: viewer}

  The findings API and pages always need one of these users: HTTP basic auth (scripts) or
  the login form's session cookie (people). `viewer` sees findings without personal
  evidence; `inspector` sees everything and changes statuses. No users file: nobody gets in.

Passwords are checked with bcrypt off the event loop; a successful check is cached under a
digest of (user, password, hash) so a script's basic auth does not cost a bcrypt per
request. Unknown users are checked against a dummy hash so timing does not tell names.
Failed attempts are counted per client address; too many in a while answer 429.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import re
import secrets
import ssl
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Generic, Literal, TypeVar

import bcrypt
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

log = logging.getLogger("tapwatch.auth")

ROLES = ("viewer", "inspector")
Role = Literal["viewer", "inspector"]
SESSION_COOKIE = "tapwatch_session"
_BCRYPT_RE = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


class AuthConfigError(ValueError):
    """A web config or users file that cannot be used (names the file and the problem)."""


def _bcrypt_hash(v: str) -> str:
    if not isinstance(v, str) or not _BCRYPT_RE.match(v):
        raise ValueError("expected a bcrypt hash ($2b$12$... , 60 characters)")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSServerConfig(_Strict):
    cert_file: Path
    key_file: Path


class WebConfig(_Strict):
    """The exporter-toolkit style web config (the subset tapwatch understands)."""

    tls_server_config: TLSServerConfig | None = None
    basic_auth_users: dict[str, str] = {}

    @field_validator("basic_auth_users")
    @classmethod
    def _hashes(cls, v: dict[str, str]) -> dict[str, str]:
        for name, h in v.items():
            try:
                _bcrypt_hash(h)
            except ValueError as e:
                raise ValueError(f"basic_auth_users.{name}: {e}") from None
        return v


class UserEntry(_Strict):
    password_hash: Annotated[str, Field(description="bcrypt hash of the password")]
    role: Role

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, v: str) -> str:
        return _bcrypt_hash(v)


class UsersFile(_Strict):
    users: dict[str, UserEntry]

    @field_validator("users")
    @classmethod
    def _names(cls, v: dict[str, UserEntry]) -> dict[str, UserEntry]:
        for name in v:
            if not _NAME_RE.match(name):
                raise ValueError(f"user name {name!r}: letters, digits and ._@- only")
        return v


M = TypeVar("M", bound=BaseModel)


def load_model(path: Path, model: type[M]) -> M:
    """Read and validate one YAML file; relative paths inside it are relative to it."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise AuthConfigError(f"{path}: cannot read: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise AuthConfigError(f"{path}: invalid YAML: {e}") from None
    try:
        obj = model.model_validate(data if data is not None else {})
    except ValidationError as e:
        msgs = [
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
            for err in e.errors()
        ]
        raise AuthConfigError(f"{path}: " + "; ".join(msgs)) from None
    if isinstance(obj, WebConfig) and obj.tls_server_config is not None:
        t = obj.tls_server_config
        base = path.parent
        obj = obj.model_copy(
            update={
                "tls_server_config": TLSServerConfig(
                    cert_file=t.cert_file if t.cert_file.is_absolute() else base / t.cert_file,
                    key_file=t.key_file if t.key_file.is_absolute() else base / t.key_file,
                )
            }
        )
    return obj


class WatchedFile(Generic[M]):
    """A validated file re-read when its mtime or size changes; the last good version stays
    in use (and the error is logged once) while a change is broken."""

    def __init__(
        self,
        path: Path,
        model: type[M],
        clock: Callable[[], float] = time.monotonic,
        min_check_interval: float = 1.0,
    ) -> None:
        self.path = path
        self.model = model
        self._clock = clock
        self._interval = min_check_interval
        self._stamp: tuple[int, int] | None = None
        self._checked = float("-inf")
        self.value: M = load_model(path, model)  # at start a broken file is an error
        self._stamp = self._stat()
        self.last_error: str | None = None

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def get(self) -> M:
        now = self._clock()
        if now - self._checked >= self._interval:
            self._checked = now
            stamp = self._stat()
            if stamp != self._stamp:
                self._stamp = stamp
                try:
                    self.value = load_model(self.path, self.model)
                    self.last_error = None
                    log.info("re-read %s", self.path)
                except AuthConfigError as e:
                    self.last_error = str(e)
                    log.error("keeping the last good version: %s", e)
        return self.value


def server_ssl_context(web_config_file: Path | None) -> ssl.SSLContext | None:
    """The TLS context of the web config's `tls_server_config`, or None (plain HTTP)."""
    if web_config_file is None:
        return None
    cfg = load_model(web_config_file, WebConfig)
    t = cfg.tls_server_config
    if t is None:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(t.cert_file, t.key_file)
    except (OSError, ssl.SSLError) as e:
        raise AuthConfigError(f"{web_config_file}: tls_server_config: {e}") from None
    return ctx


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash for a users file or a web config."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


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


@dataclass(slots=True)
class LoginThrottle:
    """Failed attempts per client address in a sliding window."""

    max_failures: int = 10
    window_s: float = 300.0
    _fails: dict[str, deque[float]] = field(default_factory=dict)

    def blocked_for(self, addr: str, now: float) -> float:
        """Seconds this address must wait (0 if it may try)."""
        q = self._fails.get(addr)
        if not q:
            return 0.0
        while q and q[0] <= now - self.window_s:
            q.popleft()
        if len(q) < self.max_failures:
            return 0.0
        return max(1.0, q[0] + self.window_s - now)

    def failed(self, addr: str, now: float) -> None:
        if len(self._fails) > 10_000:  # bound memory under a spray of addresses
            self._fails.clear()
        self._fails.setdefault(addr, deque()).append(now)

    def succeeded(self, addr: str) -> None:
        self._fails.pop(addr, None)


class Authenticator:
    """Checks credentials against the users file and the web config, and keeps sessions."""

    SESSION_IDLE_S = 3600.0
    SESSION_MAX_S = 12 * 3600.0

    def __init__(
        self,
        users_file: Path | None,
        web_config_file: Path | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        self.users = WatchedFile(users_file, UsersFile) if users_file else None
        self.web = WatchedFile(web_config_file, WebConfig) if web_config_file else None
        self.sessions: dict[str, Session] = {}
        self.throttle = LoginThrottle()
        self._ok_cache: OrderedDict[bytes, None] = OrderedDict()
        self._dummy: bytes | None = None

    # ---- passwords ---------------------------------------------------------------

    def _dummy_hash(self) -> bytes:
        if self._dummy is None:
            self._dummy = bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(12))
        return self._dummy

    async def _check(self, name: str, password: str, stored: str | None) -> bool:
        """bcrypt check off the loop, cached on success; constant-time for unknown users."""
        if stored is None:
            await asyncio.to_thread(bcrypt.checkpw, password.encode(), self._dummy_hash())
            return False
        key = hashlib.sha256(f"{name}\0{password}\0{stored}".encode()).digest()
        if key in self._ok_cache:
            self._ok_cache.move_to_end(key)
            return True
        try:
            ok = await asyncio.to_thread(bcrypt.checkpw, password.encode(), stored.encode())
        except ValueError:
            return False
        if ok:
            self._ok_cache[key] = None
            if len(self._ok_cache) > 1024:
                self._ok_cache.popitem(last=False)
        return ok

    def user(self, name: str) -> User | None:
        """The user as the users file says now (None if absent or no file)."""
        if self.users is None:
            return None
        entry = self.users.get().users.get(name)
        return None if entry is None else User(name, entry.role)

    async def login(self, name: str, password: str) -> User | None:
        """The user if name and password match the users file."""
        entry = None if self.users is None else self.users.get().users.get(name)
        ok = await self._check(name, password, entry.password_hash if entry else None)
        return User(name, entry.role) if ok and entry is not None else None

    async def metrics_login(self, name: str, password: str) -> bool:
        """Whether name and password match the web config's basic_auth_users."""
        cfg = self.web.get() if self.web else WebConfig()
        return await self._check(name, password, cfg.basic_auth_users.get(name))

    @property
    def metrics_protected(self) -> bool:
        return self.web is not None and bool(self.web.get().basic_auth_users)

    # ---- sessions ----------------------------------------------------------------

    def new_session(self, user: User) -> Session:
        now = self.clock()
        self._expire(now)
        s = Session(
            token=secrets.token_urlsafe(32),
            user=user.name,
            csrf=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
        )
        self.sessions[s.token] = s
        return s

    def session(self, token: str | None) -> tuple[Session, User] | None:
        """The live session and its user as the users file says now; removing a user or
        changing their role takes effect at their next request."""
        if not token:
            return None
        s = self.sessions.get(token)
        if s is None:
            return None
        now = self.clock()
        if now - s.last_seen > self.SESSION_IDLE_S or now - s.created > self.SESSION_MAX_S:
            self.sessions.pop(token, None)
            return None
        user = self.user(s.user)
        if user is None:
            self.sessions.pop(token, None)
            return None
        s.last_seen = now
        return s, user

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
