"""The web config (`server.web_config_file`, `--web.config.file`) in the format of the
Prometheus exporter-toolkit, so one file serves tapwatch and the exporters beside it::

    tls_server_config:
      cert_file: server.crt            # paths relative to this file
      key_file: server.key             # private: mode 0600 (tapwatch.private_files)
      client_auth_type: RequireAndVerifyClientCert   # mTLS scrapes
      client_ca_file: scrapers-ca.crt
      min_version: TLS12               # TLS12 (default) or TLS13
      max_version: TLS13
    http_server_config:
      headers: {Strict-Transport-Security: max-age=31536000}
    basic_auth_users:
      prometheus: $2y$12$...

Checked as strictly as the toolkit checks it (its `web/testdata` files are our conformance
table, tests/unit/configs/web), with every problem named by file, line and key. Settings
the toolkit has and tapwatch does not are refused by name with the reason, never ignored.
The file and the TLS files it names are re-read when they change (tapwatch.daemon.watched);
the daemon serves new TLS settings without a restart (tapwatch.daemon.server).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from tapwatch.config import (
    UNSUPPORTED,
    ConfigError,
    Marks,
    load_settings_file,
    located,
)
from tapwatch.daemon.watched import file_stamp
from tapwatch.private_files import private_file_problem

BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
#: client_auth_type values and what the server asks of a client's certificate
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
#: Headers a web config may add to every answer, with their allowed values (None: any),
#: as the toolkit allows them.
EXTRA_HEADERS: dict[str, tuple[str, ...] | None] = {
    "Strict-Transport-Security": None,
    "X-Content-Type-Options": ("nosniff",),
    "X-Frame-Options": ("deny", "sameorigin"),
    "X-XSS-Protection": None,
    "Content-Security-Policy": None,
}


def bcrypt_hash(v: Any) -> Any:
    """A bcrypt hash as htpasswd, Python's bcrypt and Go's x/crypto/bcrypt write it."""
    if isinstance(v, str) and (
        len(v) != 60 or not v.startswith(BCRYPT_PREFIXES) or not v[4:6].isdigit()
    ):
        raise ValueError("expected a bcrypt hash ($2b$12$... or $2y$..., 60 characters)")
    return v


BcryptHash = Annotated[str, BeforeValidator(bcrypt_hash)]


def unsupported(reason: str) -> Any:
    """A toolkit setting tapwatch refuses by name (`reason` says what to do instead)."""

    def refuse(_: Any) -> Any:
        raise ValueError(f"not supported by tapwatch: {reason}")

    return Annotated[
        Any, BeforeValidator(refuse), Field(json_schema_extra={UNSUPPORTED: True})
    ]


_Inline = unsupported("inline PEM; put it in a file and name it with the *_file key")
_Ciphers = unsupported("tapwatch uses OpenSSL's TLS 1.2 and 1.3 defaults")
_Sans = unsupported("use a client CA that signs only the scrapers' certificates")
_RateLimit = unsupported("rate limits belong in a reverse proxy")
_ExcludedPaths = unsupported("/metrics, /healthz and /readyz share one guard")
_Tokens = unsupported("use basic_auth_users")
_Socket = unsupported("socket options are not settable")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TLSServerConfig(_Strict):
    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str = ""
    min_version: str = "TLS12"
    max_version: str = "TLS13"
    prefer_server_cipher_suites: bool = True
    cert: _Inline = None
    key: _Inline = None
    client_ca: _Inline = None
    cipher_suites: _Ciphers = None
    curve_preferences: _Ciphers = None
    client_allowed_sans: _Sans = None

    @field_validator("cert_file", "key_file")
    @classmethod
    def _present(cls, v: str, info: Any) -> str:
        if not v.strip():
            raise ValueError(f"missing {info.field_name}: it is empty")
        return v

    @field_validator("client_auth_type")
    @classmethod
    def _client_auth(cls, v: str) -> str:
        if v in ("RequestClientCert", "RequireAnyClientCert", "RequireClientCert"):
            raise ValueError(
                f"not supported by tapwatch: {v} accepts a certificate from anyone, which "
                "proves nothing; use RequireAndVerifyClientCert with client_ca_file"
            )
        if v not in CLIENT_AUTH:
            raise ValueError(f"invalid client_auth_type {v!r} (expected {', '.join(CLIENT_AUTH)})")
        return v

    @field_validator("min_version", "max_version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v in ("TLS10", "TLS11"):
            raise ValueError(f"{v} is obsolete (RFC 8996): use TLS12 or TLS13")
        if v not in TLS_VERSIONS:
            raise ValueError(f"unknown TLS version {v!r} (expected TLS12 or TLS13)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> TLSServerConfig:
        if TLS_VERSIONS[self.min_version] > TLS_VERSIONS[self.max_version]:
            raise ValueError(
                f"min_version {self.min_version} is above max_version {self.max_version}"
            )
        if self.client_ca_file and self.client_auth_type == "NoClientCert":
            raise ValueError(
                "client_ca_file is set but client_auth_type is NoClientCert, so the CA would "
                "never be used (give client_auth_type: RequireAndVerifyClientCert)"
            )
        if self.client_auth_type == "RequireAndVerifyClientCert" and not self.client_ca_file:
            raise ValueError(
                "RequireAndVerifyClientCert needs client_ca_file: without it any "
                "certificate a public CA signed would be accepted"
            )
        return self


def _headers(v: dict[str, str]) -> dict[str, str]:
    problems = []
    for name, value in v.items():
        allowed = EXTRA_HEADERS.get(name, ())
        if allowed == ():
            problems.append(f"HTTP header {name!r} cannot be configured")
        elif any(c in value for c in "\r\n\0"):
            problems.append(f"{name}: a header value is one line")
        elif allowed is not None and value not in allowed:
            problems.append(
                f"invalid value for {name}: expected one of {', '.join(allowed)}, got {value!r}"
            )
    if problems:
        raise ValueError("; ".join(problems) + f" (allowed: {', '.join(EXTRA_HEADERS)})")
    return v


def _scalar_text(v: Any) -> Any:
    """A YAML scalar as header text (`X-XSS-Protection: 1` is a number to YAML)."""
    return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


class HTTPServerConfig(_Strict):
    headers: dict[str, Annotated[str, BeforeValidator(_scalar_text)]] = {}
    http2: bool = False

    _check_headers = field_validator("headers")(_headers)

    @field_validator("http2")
    @classmethod
    def _http1(cls, v: bool) -> bool:
        if v:
            raise ValueError("not supported by tapwatch: it serves HTTP/1.1 (set http2: false)")
        return v


class WebConfig(_Strict):
    tls_server_config: TLSServerConfig | None = None
    http_server_config: HTTPServerConfig = HTTPServerConfig()
    basic_auth_users: dict[str, BcryptHash] = {}
    rate_limit: _RateLimit = None
    auth_excluded_paths: _ExcludedPaths = None
    bearer_auth_tokens: _Tokens = None
    ip_socket_config: _Socket = None


@dataclass(frozen=True)
class LoadedWebConfig:
    """A valid web config, its TLS files resolved and its server SSLContext built."""

    path: Path
    config: WebConfig
    ssl_context: ssl.SSLContext | None
    tls_files: tuple[Path, ...] = ()
    #: what the SSLContext was built from: the server re-serves only when this changes
    tls_source: object = None

    @property
    def headers(self) -> dict[str, str]:
        return self.config.http_server_config.headers


def empty_web_config(path: Path) -> LoadedWebConfig:
    return LoadedWebConfig(path, WebConfig(), None)


def load_web_config(path: Path) -> LoadedWebConfig:
    """Load, validate and build the web config; ConfigError with every problem (file,
    line, key): bad keys and values, TLS files missing, unreadable, loose or not matching."""
    config, marks = load_settings_file(path, WebConfig)
    tls = config.tls_server_config
    if tls is None:
        return LoadedWebConfig(path, config, None)
    files = _tls_files(tls, path.parent)
    errors = _tls_file_problems(files, path, marks)
    if errors:
        raise ConfigError(errors)
    try:
        ctx = server_context(tls, files)
    except ssl.SSLError as e:  # the certificates were checked: it is the key
        where = located(path, marks, ("tls_server_config", "key_file"))
        key, cert = str(files["key_file"]), str(files["cert_file"])
        if e.reason == "KEY_VALUES_MISMATCH":
            why = f"{key!r} is not the private key of cert_file {cert!r}"
        else:
            why = f"{key!r} holds no valid PEM private key ({e.reason or e})"
        raise ConfigError([f"{where}: {why}"]) from None
    source = (tls, tuple((p, file_stamp(p)) for p in files.values()))
    return LoadedWebConfig(path, config, ctx, tuple(files.values()), source)


def _tls_files(tls: TLSServerConfig, base: Path) -> dict[str, Path]:
    named = {"cert_file": tls.cert_file, "key_file": tls.key_file}
    if tls.client_ca_file:
        named["client_ca_file"] = tls.client_ca_file
    return {k: (p if (p := Path(v)).is_absolute() else base / p) for k, v in named.items()}


def _tls_file_problems(files: dict[str, Path], path: Path, marks: Marks) -> list[str]:
    errors = []
    for key, p in files.items():
        problem = private_file_problem(p) if key == "key_file" else _readable_problem(p)
        if problem is None and key != "key_file":
            problem = _certificate_problem(p)
        if problem is not None:
            errors.append(f"{located(path, marks, ('tls_server_config', key))}: {problem}")
    return errors


def _certificate_problem(p: Path) -> str | None:
    """Why the PEM certificates in `p` cannot be used, or None."""
    text = p.read_text(encoding="ascii", errors="replace")
    if "-----BEGIN CERTIFICATE-----" not in text:
        return f"{str(p)!r} holds no PEM certificate"
    try:
        ssl.create_default_context().load_verify_locations(cadata=text)
    except ssl.SSLError as e:
        detail = f" ({e.reason})" if e.reason else ""
        return f"{str(p)!r} holds no valid PEM certificate{detail}"
    return None


def _readable_problem(p: Path) -> str | None:
    try:
        with p.open("rb"):
            pass
    except FileNotFoundError:
        return f"file {str(p)!r} does not exist"
    except IsADirectoryError:
        return f"{str(p)!r} is a directory"
    except OSError as e:
        return f"cannot read {str(p)!r}: {e.strerror or e}"
    return None


def server_context(tls: TLSServerConfig, files: dict[str, Path]) -> ssl.SSLContext:
    """The SSLContext the daemon listens with, as the toolkit would configure Go's TLS."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = TLS_VERSIONS[tls.min_version]
    ctx.maximum_version = TLS_VERSIONS[tls.max_version]
    if not tls.prefer_server_cipher_suites:
        ctx.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    ctx.load_cert_chain(files["cert_file"], files["key_file"])
    ctx.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    if "client_ca_file" in files:
        ctx.load_verify_locations(cafile=files["client_ca_file"])
    elif ctx.verify_mode != ssl.CERT_NONE:  # Go verifies against the system's roots then
        ctx.load_default_certs(ssl.Purpose.CLIENT_AUTH)
    return ctx


def same_protocol(old: LoadedWebConfig, new: LoadedWebConfig) -> str | None:
    """Why a running daemon refuses a change of the web config, or None.

    TLS settings (certificate, key, client CA, client_auth_type, versions) change live;
    switching between HTTP and HTTPS waits for a restart: a running daemon never falls back
    to plain HTTP, where basic-auth passwords would travel in the clear, and what a port
    speaks changes together with the scrape config's `scheme`."""
    if old.ssl_context is not None and new.ssl_context is None:
        return (
            "tls_server_config was removed: tapwatch keeps serving HTTPS with the last good "
            "certificate and serves plain HTTP only after a restart"
        )
    if old.ssl_context is None and new.ssl_context is not None:
        return "tls_server_config was added: tapwatch serves HTTPS after a restart"
    return None
