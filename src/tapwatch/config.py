"""Daemon configuration and the app registry: strict YAML, every error reported at once.

An error names the file, the line, the key path and what is wrong, e.g.::

    config/apps.d/district.yaml:14:7: apps[2].source.interval: invalid duration 'soon'
        (expected e.g. 500ms, 30s, 5m, 1h, 7d or a number of seconds)

Unknown keys are errors. Secrets are never in the config itself: a token is named by
`bearer_token_file` or `bearer_token_env` and read when a source is built.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from tapwatch.datum import Datum, to_wgs84
from tapwatch.private_files import private_file_problem

if TYPE_CHECKING:
    from tapwatch.detectors.base import AppProfile

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
}

FEATURES = (
    "checkin",
    "points_ranking",
    "online_duration",
    "appointment",
    "study",
    "forms",
    "articles",
    "photo_upload",
    "gps_upload",
    "messaging",
)


def parse_duration(v: Any) -> float:
    """'500ms', '30s', '5m', '1h', '7d', '2w' or a number of seconds, to seconds."""
    if isinstance(v, bool):
        raise ValueError(f"invalid duration {v!r}")
    if isinstance(v, int | float):
        seconds = float(v)
    else:
        m = _DURATION_RE.match(str(v))
        if not m:
            raise ValueError(
                f"invalid duration {str(v)[:40]!r} "
                "(expected e.g. 500ms, 30s, 5m, 1h, 7d or a number of seconds)"
            )
        seconds = float(m.group(1)) * _DURATION_UNITS[m.group(2)]
    if seconds < 0:
        raise ValueError("duration must not be negative")
    return seconds


def parse_size(v: Any) -> int:
    """'16MiB', '500KB', or a number of bytes."""
    if isinstance(v, bool):
        raise ValueError(f"invalid size {v!r}")
    if isinstance(v, int):
        return v
    m = _SIZE_RE.match(str(v))
    if not m:
        raise ValueError(f"invalid size {str(v)[:40]!r} (expected e.g. 16MiB, 500KB, 1GB)")
    return int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


Duration = Annotated[float, BeforeValidator(parse_duration)]
Size = Annotated[int, BeforeValidator(parse_size)]
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def _slug(v: Any) -> Any:
    if isinstance(v, str) and not _SLUG_RE.match(v):
        raise ValueError(
            f"{v!r} is not a slug (lowercase letters, digits and '-', at most 63, "
            "starting with a letter or digit)"
        )
    return v


Slug = Annotated[str, BeforeValidator(_slug)]


_HOST_RE = re.compile(r"^[A-Za-z0-9._~-]+$")


def redact_url(url: str) -> str:
    """The URL without its user info, for messages (a password never reaches a log)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}{sep}{authority}{slash}{tail}"


def _http_url(v: Any) -> Any:
    """An absolute http(s) URL that an HTTP client can use as it is written.

    The scheme is case-insensitive; the host must be there and the port a number; no
    spaces or control characters; no user info (credentials go in `auth:`, which keeps
    them out of the config and the logs); no #fragment (it is never sent)."""
    if not isinstance(v, str):
        return v  # pydantic reports the wrong type
    shown = repr(redact_url(v)[:80])
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in v):
        raise ValueError(f"{shown} contains a space or a control character")
    try:
        parts = urlsplit(v)
    except ValueError as e:  # e.g. a bracketed host that is no IPv6 address
        raise ValueError(f"{shown}: {e}") from None
    if parts.scheme.lower() not in ("http", "https") or not v[len(parts.scheme) :].startswith(
        "://"
    ):
        raise ValueError(f"{shown} is not an http:// or https:// URL")
    if "@" in parts.netloc:
        raise ValueError(
            f"{shown}: credentials in the URL are not allowed; give them under the "
            "source's auth: (basic: {username, password_file}, bearer_token_file or "
            "bearer_token_env)"
        )
    if parts.fragment or v.endswith("#"):
        raise ValueError(f"{shown} has a #fragment, which is never sent to the server")
    host = parts.hostname
    if not host:
        raise ValueError(f"{shown} has no host")
    if not parts.netloc.startswith("[") and host.isascii() and not _HOST_RE.match(host):
        raise ValueError(f"{shown}: {host!r} is not a host name or address")
    try:
        port = parts.port
    except ValueError:
        port_text = parts.netloc.rpartition(":")[2]
        raise ValueError(f"{shown}: port {port_text!r} is not a number from 1 to 65535") from None
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ValueError(f"{shown}: port must be a number from 1 to 65535")
    return v


HttpUrl = Annotated[str, BeforeValidator(_http_url)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BasicAuth(_Strict):
    username: str
    password_file: Path


class AuthConfig(_Strict):
    """Exactly one way to authenticate; secrets come from a file or the environment."""

    bearer_token_file: Path | None = None
    bearer_token_env: str | None = None
    basic: BasicAuth | None = None

    @model_validator(mode="after")
    def _one(self) -> AuthConfig:
        n = sum(x is not None for x in (self.bearer_token_file, self.bearer_token_env, self.basic))
        if n != 1:
            raise ValueError("give exactly one of bearer_token_file, bearer_token_env, basic")
        return self

    def headers(self) -> dict[str, str]:
        """The Authorization header, reading the secret now (never logged)."""
        import base64

        if self.basic is not None:
            pw = self.basic.password_file.read_text().strip()
            raw = f"{self.basic.username}:{pw}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
        if self.bearer_token_file is not None:
            token = self.bearer_token_file.read_text().strip()
        else:
            token = os.environ.get(self.bearer_token_env or "", "")
            if not token:
                raise ValueError(f"environment variable {self.bearer_token_env} is not set")
        return {"Authorization": f"Bearer {token}"}


class TLSConfig(_Strict):
    ca_file: Path | None = None
    insecure_skip_verify: bool = False


class _SourceBase(_Strict):
    interval: Duration | None = Field(None, description="poll interval; default collector's")
    timeout: Duration | None = None


class UsageApiSourceConfig(_SourceBase):
    kind: Literal["usage_api"]
    url: HttpUrl
    auth: AuthConfig | None = None
    tls: TLSConfig = TLSConfig()
    page_limit: Annotated[int, Field(ge=1, le=5000)] = 1000
    max_pages_per_cycle: Annotated[int, Field(ge=1)] = 50


class FileSourceConfig(_SourceBase):
    kind: Literal["file"]
    path: Path
    pattern: str = "*"


class PrometheusMetricMap(_Strict):
    registered_accounts: str | None = None
    active_accounts_1d: str | None = None
    active_accounts_7d: str | None = None
    active_accounts_30d: str | None = None


class PrometheusSourceConfig(_SourceBase):
    kind: Literal["prometheus"]
    url: HttpUrl
    auth: AuthConfig | None = None
    tls: TLSConfig = TLSConfig()
    metrics: PrometheusMetricMap


# ---- platform and mapped-JSON sources (docs/sources/) --------------------------------

_MAX_BACKFILL_DAYS = 400  # the default rollup retention: older events are rejected anyway


def _backfill(v: Any) -> float:
    seconds = parse_duration(v)
    if not 0 < seconds <= _MAX_BACKFILL_DAYS * 86400.0:
        raise ValueError(f"backfill must be more than 0 and at most {_MAX_BACKFILL_DAYS}d")
    return seconds


Backfill = Annotated[float, BeforeValidator(_backfill)]


class PlatformUsers(_Strict):
    """Whose records to read: listed user ids, or every member of departments (and of
    their sub-departments), listed through the platform's contacts API."""

    user_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = None
    department_ids: list[Annotated[int, Field(ge=1)]] | None = None

    @model_validator(mode="after")
    def _one(self) -> PlatformUsers:
        given = [k for k in ("user_ids", "department_ids") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of user_ids, department_ids")
        if not getattr(self, given[0]):
            raise ValueError(f"{given[0]} is empty")
        return self


class _PlatformSourceBase(_SourceBase):
    """A platform source: a base URL (a proxy or test server may stand in), TLS, a secret
    read from a file, and the credential's call rate (shared by every app using it)."""

    tls: TLSConfig = TLSConfig()
    backfill: Backfill = Field(
        30 * 86400.0, description="history fetched on first contact (the detectors' windows "
        "need about 30 days)"
    )

    def secret_paths(self) -> list[tuple[str, Path]]:
        """(key, path) of each secret file."""
        raise NotImplementedError

    def with_base(self, base: Path) -> _PlatformSourceBase:
        """Relative paths made relative to the registry file's directory."""
        upd: dict[str, Any] = {key: _resolve(base, path) for key, path in self.secret_paths()}
        if self.tls.ca_file is not None:
            upd["tls"] = self.tls.model_copy(update={"ca_file": _resolve(base, self.tls.ca_file)})
        return self.model_copy(update=upd)


class WeComCheckinSourceConfig(_PlatformSourceBase):
    """企业微信 打卡: check-in records of a WeCom corp (docs/sources/wecom_checkin.md)."""

    kind: Literal["wecom_checkin"]
    base_url: HttpUrl = "https://qyapi.weixin.qq.com"
    corp_id: Annotated[str, Field(min_length=1, max_length=64)]
    secret_file: Path
    contacts_secret_file: Path | None = Field(
        None, description="the contacts-sync secret (通讯录同步 Secret): WeCom lists a "
        "department's members only with it; needed with users.department_ids",
    )
    users: PlatformUsers
    overlap: Annotated[Duration, Field(ge=0, le=7 * 86400.0)] = Field(
        3600.0, description="each poll re-reads this much before the last one's end: "
        "check-ins uploaded late (offline phones) still arrive"
    )
    max_requests_per_second: Annotated[float, Field(gt=0, le=1000)] = Field(
        10.0, description="calls a second for this corp (WeCom: getcheckindata 600/min)"
    )

    @model_validator(mode="after")
    def _contacts(self) -> WeComCheckinSourceConfig:
        if self.users.department_ids is not None and self.contacts_secret_file is None:
            raise ValueError(
                "users.department_ids needs contacts_secret_file (WeCom lists members "
                "only with the contacts-sync secret)"
            )
        return self

    def secret_paths(self) -> list[tuple[str, Path]]:
        files = [("secret_file", self.secret_file)]
        if self.contacts_secret_file is not None:
            files.append(("contacts_secret_file", self.contacts_secret_file))
        return files


class DingTalkAttendanceSourceConfig(_PlatformSourceBase):
    """钉钉 考勤打卡详情: attendance records of a DingTalk org
    (docs/sources/dingtalk_attendance.md)."""

    kind: Literal["dingtalk_attendance"]
    base_url: HttpUrl = "https://oapi.dingtalk.com"
    app_key: Annotated[str, Field(min_length=1, max_length=128)]
    app_secret_file: Path
    users: PlatformUsers
    overlap: Annotated[Duration, Field(ge=0, le=7 * 86400.0)] = 3600.0
    max_requests_per_second: Annotated[float, Field(gt=0, le=1000)] = Field(
        20.0, description="calls a second for this app (DingTalk standard edition: 20 QPS)"
    )

    def secret_paths(self) -> list[tuple[str, Path]]:
        return [("app_secret_file", self.app_secret_file)]


class WeChatMpStatsSourceConfig(_PlatformSourceBase):
    """公众号 数据统计 (datacube): daily figures of an official account
    (docs/sources/wechat_mp_stats.md)."""

    kind: Literal["wechat_mp_stats"]
    base_url: HttpUrl = "https://api.weixin.qq.com"
    app_id: Annotated[str, Field(min_length=1, max_length=64)]
    app_secret_file: Path
    max_requests_per_second: Annotated[float, Field(gt=0, le=1000)] = 5.0

    def secret_paths(self) -> list[tuple[str, Path]]:
        return [("app_secret_file", self.app_secret_file)]


def _jmespath(v: Any) -> Any:
    if isinstance(v, str):
        import jmespath
        from jmespath.exceptions import IncompleteExpressionError, JMESPathError, ParseError

        try:
            jmespath.compile(v)
        except IncompleteExpressionError:
            raise ValueError(f"invalid JMESPath expression {v[:80]!r}: incomplete") from None
        except ParseError as e:
            raise ValueError(
                f"invalid JMESPath expression {v[:80]!r} at character {e.lex_position}: {e.msg}"
            ) from None
        except JMESPathError as e:
            raise ValueError(f"invalid JMESPath expression {v[:80]!r}: {e}") from None
    return v


JmesPath = Annotated[str, BeforeValidator(_jmespath)]
#: ${name} placeholders a request template may use
TEMPLATE_VARS = ("cursor", "offset", "limit", "since", "until")


class JsonCursorPaging(_Strict):
    """Each page names the next: `next_cursor` (JMESPath over the page) until it is empty."""

    kind: Literal["cursor"]
    next_cursor: JmesPath
    cursor_param: str | None = Field(
        None, description="query parameter carrying the cursor (or use ${cursor} in body)"
    )
    has_more: JmesPath | None = Field(None, description="false on the last page, if given")


class JsonOffsetPaging(_Strict):
    """Offset/limit paging over a list that only grows: resumes where the last poll ended."""

    kind: Literal["offset"]
    offset_param: str | None = "offset"
    limit_param: str | None = "limit"
    limit: Annotated[int, Field(ge=1, le=100_000)] = 100


class JsonDateWindowPaging(_Strict):
    """Time windows from the last poll's end to now, at most `window` per request."""

    kind: Literal["date_window"]
    from_param: str | None = "from"
    to_param: str | None = "to"
    time_format: Literal["rfc3339", "epoch_s", "epoch_ms", "date"] = "rfc3339"
    window: Annotated[Duration, Field(gt=0)] = 86400.0
    backfill: Backfill = 30 * 86400.0
    overlap: Annotated[Duration, Field(ge=0)] = 3600.0


JsonPaging = Annotated[
    JsonCursorPaging | JsonOffsetPaging | JsonDateWindowPaging, Field(discriminator="kind")
]


class JsonSourceConfig(_SourceBase):
    """Any JSON API, mapped onto usage events by configuration (docs/sources/json.md)."""

    kind: Literal["json"]
    url: HttpUrl
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, str] = Field({}, description="query parameters (templates)")
    body: str | None = Field(None, description="JSON request body template")
    auth: AuthConfig | None = None
    tls: TLSConfig = TLSConfig()
    items: JmesPath = Field(description="where the list of records is in a page")
    fields: dict[str, JmesPath] = Field(
        description="event field -> JMESPath over one record (ts, type, account required)"
    )
    type_map: dict[str, str] = Field({}, description="the API's type values -> event types")
    ts_unit: Literal["s", "ms"] = "s"
    naive_time_zone: str | None = Field(
        None, description="zone of timestamps written without a UTC offset (else rejected)"
    )
    coordinate_scale: Annotated[float, Field(gt=0)] = 1.0
    datum: Datum = Datum.wgs84
    id_fields: list[str] | None = Field(
        None, description="fields hashed into a stable id when the API gives none"
    )
    paging: JsonPaging | None = None
    max_pages_per_cycle: Annotated[int, Field(ge=1)] = 50

    @field_validator("fields")
    @classmethod
    def _fields(cls, v: dict[str, str]) -> dict[str, str]:
        from tapwatch.events import WIRE_FIELDS

        allowed = [f for f in WIRE_FIELDS if f != "app"]
        unknown = sorted(set(v) - set(allowed))
        if unknown:
            raise ValueError(
                f"unknown event field {unknown[0]!r} (allowed: {', '.join(allowed)})"
            )
        missing = [f for f in ("ts", "type", "account") if f not in v]
        if missing:
            raise ValueError(f"event field {missing[0]!r} must be mapped")
        return v

    @field_validator("type_map")
    @classmethod
    def _types(cls, v: dict[str, str]) -> dict[str, str]:
        from tapwatch.events import EVENT_TYPE_BY_NAME

        for src, dst in v.items():
            if dst not in EVENT_TYPE_BY_NAME:
                raise ValueError(
                    f"{src!r} maps to unknown event type {dst!r} "
                    f"(known: {', '.join(EVENT_TYPE_BY_NAME)})"
                )
        return v

    @field_validator("naive_time_zone")
    @classmethod
    def _ntz(cls, v: str | None) -> str | None:
        if v is not None:
            _zone(v)
        return v

    @field_validator("body")
    @classmethod
    def _body(cls, v: str | None) -> str | None:
        if v is None:
            return v
        import json
        import string

        probe = string.Template(v).safe_substitute({k: "null" for k in TEMPLATE_VARS})
        try:
            json.loads(probe)
        except ValueError as e:
            raise ValueError(f"body is not a JSON template: {e}") from None
        return v

    @model_validator(mode="after")
    def _consistent(self) -> JsonSourceConfig:
        if self.id_fields is not None:
            unmapped = [f for f in self.id_fields if f not in self.fields]
            if unmapped:
                raise ValueError(f"id_fields: {unmapped[0]!r} is not a mapped field")
        if "id" in self.fields and self.id_fields is not None:
            raise ValueError("give fields.id or id_fields, not both")
        if self.body is not None and self.method == "GET":
            raise ValueError("a body needs method: POST")
        p = self.paging
        if isinstance(p, JsonCursorPaging) and p.cursor_param is None and (
            "${cursor}" not in (self.body or "")
            and not any("${cursor}" in v for v in self.params.values())
        ):
            raise ValueError("paging.cursor_param missing (or use ${cursor} in body/params)")
        return self


SOURCE_KINDS = (
    "usage_api", "file", "prometheus", "wecom_checkin", "dingtalk_attendance",
    "wechat_mp_stats", "json",
)
AnySourceConfig = (
    UsageApiSourceConfig
    | FileSourceConfig
    | PrometheusSourceConfig
    | WeComCheckinSourceConfig
    | DingTalkAttendanceSourceConfig
    | WeChatMpStatsSourceConfig
    | JsonSourceConfig
)
SourceConfig = Annotated[AnySourceConfig, Field(discriminator="kind")]


class PointConfig(_Strict):
    id: Annotated[str, Field(min_length=1, max_length=128)]
    lat: Annotated[float, Field(ge=-90, le=90)]
    lon: Annotated[float, Field(ge=-180, le=180)]
    radius_m: Annotated[float, Field(gt=0, le=10_000)] = 50.0
    datum: Datum = Field(
        Datum.wgs84, description="datum lat/lon are given in (wgs84, or gcj02 as read off "
        "Chinese maps); converted to WGS-84, the datum tapwatch compares positions in",
    )
    names: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(
        [], description="titles a platform gives this place (e.g. a WeCom check-in "
        "location_title): check-ins carrying one are placed at this point",
    )


class AppConfig(_Strict):
    id: Slug
    name: Annotated[str, Field(min_length=1)]
    owner: Annotated[str, Field(min_length=1)]
    region: Annotated[str, Field(min_length=1)]
    category: Annotated[str, Field(min_length=1)]
    launched: date
    annual_cost_cny: Annotated[float, Field(ge=0)] | None = None
    intended_users: Annotated[int, Field(ge=1)]
    declared_features: list[Literal[FEATURES]] = []  # type: ignore[valid-type]
    exempt: bool = False
    timezone: str | None = None
    season_months: list[Annotated[int, Field(ge=1, le=12)]] | None = None
    points: list[PointConfig] = []
    source: SourceConfig
    detectors: dict[str, dict[str, Any]] = {}

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str | None) -> str | None:
        if v is not None:
            _zone(v)
        return v


ProxyNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: headers a reverse proxy names its client in, for `server.client_address_header`
CLIENT_ADDRESS_HEADERS = ("X-Forwarded-For", "Forwarded")


def proxy_network(v: Any) -> ProxyNetwork:
    """One `server.trusted_proxies` entry: an IP address or a CIDR network, strictly.

    A host name is refused (the addresses behind it can change under a running daemon),
    as are host bits beside a prefix (`10.0.0.1/8`: a typo for a host or for a network?)
    and a network holding every address (every client could then name itself)."""
    if isinstance(v, ipaddress.IPv4Network | ipaddress.IPv6Network):
        return v
    if not isinstance(v, str):
        raise ValueError(f"expected an IP address or CIDR network, got {_yaml_type(v)}")
    text = v.strip()
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError as e:
        if "has host bits set" in str(e):
            loose = ipaddress.ip_network(text, strict=False)
            host = text.partition("/")[0]
            raise ValueError(
                f"{v!r} has host bits set: write {str(loose)!r} for the network or "
                f"{host!r} for one proxy"
            ) from None
        if "/" not in text and re.fullmatch(r"[A-Za-z0-9.-]+", text) and re.search(
            "[A-Za-z]", text
        ):
            raise ValueError(
                f"{v!r} is a host name: name a proxy by its IP address or network (the "
                "addresses behind a name can change)"
            ) from None
        address, _, prefix = text.partition("/")
        bits = _address_bits(address)
        if bits is not None and prefix.isdigit() and int(prefix) > bits:
            raise ValueError(
                f"{v!r}: a prefix of {prefix} bits is longer than the address ({bits})"
            ) from None
        raise ValueError(
            f"{v!r} is not an IP address or CIDR network (e.g. 10.0.0.5, 10.0.0.0/24, "
            "fd00::/64)"
        ) from None
    if net.prefixlen == 0:
        raise ValueError(
            f"{v!r} trusts every address, so any client could name itself in "
            "the header; list your proxies' addresses"
        )
    if isinstance(net, ipaddress.IPv6Network) and net.network_address.ipv4_mapped:
        raise ValueError(
            f"{v!r} is an IPv4-mapped IPv6 address: write it as IPv4 "
            f"({net.network_address.ipv4_mapped})"
        )
    return net


def _address_bits(text: str) -> int | None:
    """32 or 128 if `text` is an IP address, else None."""
    try:
        return ipaddress.ip_address(text).max_prefixlen
    except ValueError:
        return None


def _client_address_header(v: Any) -> Any:
    """The header's canonical spelling (header names are case-insensitive)."""
    if isinstance(v, str):
        for name in CLIENT_ADDRESS_HEADERS:
            if v.strip().lower() == name.lower():
                return name
        raise ValueError(
            f"expected X-Forwarded-For or Forwarded (the header your proxy writes), got {v!r}"
        )
    return v


class ServerConfig(_Strict):
    listen: str = "127.0.0.1:9817"
    external_url: str | None = Field(None, description="base URL used in links (alerts, pages)")
    web_config_file: Path | None = Field(
        None,
        description="exporter-toolkit style web config (tls_server_config, basic_auth_users) "
        "guarding /metrics and the other non-inspector routes; re-read when it changes",
    )
    users_file: Path | None = Field(
        None,
        description="inspector and viewer accounts (bcrypt hashes and roles) for the findings "
        "API and pages; without it they refuse everyone; re-read when it changes",
    )
    trusted_proxies: list[Annotated[ProxyNetwork, BeforeValidator(proxy_network)]] = Field(
        [],
        description="reverse proxies (IP addresses or CIDR networks) whose "
        "client_address_header names the client; from any other peer the header is ignored",
    )
    client_address_header: Annotated[
        Literal["X-Forwarded-For", "Forwarded"], BeforeValidator(_client_address_header)
    ] = Field(
        "X-Forwarded-For",
        description="the header the trusted proxies write: X-Forwarded-For (nginx's "
        "$proxy_add_x_forwarded_for, HAProxy's forwardfor) or Forwarded (RFC 7239)",
    )

    @field_validator("listen")
    @classmethod
    def _listen(cls, v: str) -> str:
        host, sep, port = v.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"expected HOST:PORT, got {v!r}")
        return v

    @field_validator("client_address_header")
    @classmethod
    def _header_needs_proxies(cls, v: str, info: ValidationInfo) -> str:
        # runs only when the key is given; skipped when trusted_proxies itself was bad
        if info.data.get("trusted_proxies") == []:
            raise ValueError(
                f"{v} is named but trusted_proxies is empty, so the header would never be "
                "read (list the proxies that write it in trusted_proxies)"
            )
        return v


class StoreConfig(_Strict):
    path: Path = Path("var/tapwatch.sqlite")
    raw_retention: Duration = 7 * 86400.0
    rollup_retention: Duration = 400 * 86400.0
    prune_interval: Duration = 3600.0
    #: memory for de-duplication's indexes, whatever the horizon and fleet (a reload applies
    #: it: the daemon resizes the store's tiers)
    dedup_memory: Annotated[Size, Field(ge=2**20)] = Field(
        64 * 2**20,
        description="memory bound of the de-duplication indexes (recent ids in memory, "
        "filters of the older ids' runs on disk)",
    )


class PseudonymConfig(_Strict):
    key_file: Path


class CollectorConfig(_Strict):
    default_interval: Annotated[Duration, Field(gt=0)] = 60.0
    default_timeout: Annotated[Duration, Field(gt=0)] = 10.0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.1
    max_backoff: Annotated[Duration, Field(gt=0)] = 600.0
    max_connections: Annotated[int, Field(ge=1)] = 64
    max_response_bytes: Size = 16 * 2**20
    max_clock_skew: Duration = 600.0


class DetectConfig(_Strict):
    interval: Annotated[Duration, Field(gt=0)] = 60.0
    timezone: str = "Asia/Shanghai"
    raw_window: Annotated[Duration, Field(gt=0)] = Field(
        7 * 86400.0, description="raw events detectors see (≤ store.raw_retention)"
    )
    rollup_days: Annotated[int, Field(ge=30)] = 120
    worker_process: bool = Field(
        True, description="run detector passes in a worker process (off the poll loop's GIL)"
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        _zone(v)
        return v


class DaemonFile(_Strict):
    server: ServerConfig = ServerConfig()
    store: StoreConfig = StoreConfig()
    pseudonymisation: PseudonymConfig
    collector: CollectorConfig = CollectorConfig()
    detect: DetectConfig = DetectConfig()
    detectors: dict[str, dict[str, Any]] = {}
    apps: list[AppConfig] = []
    apps_dir: Path | None = None


class AppsFile(_Strict):
    apps: list[AppConfig]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


@dataclass(frozen=True)
class LoadedApp:
    """One registered app and the file it came from."""

    config: AppConfig
    file: Path


@dataclass(frozen=True)
class Config:
    """A validated configuration: the daemon file plus every registered app."""

    path: Path
    daemon: DaemonFile
    apps: tuple[LoadedApp, ...]
    files: tuple[Path, ...] = field(default=())

    def app(self, app_id: str) -> AppConfig:
        for a in self.apps:
            if a.config.id == app_id:
                return a.config
        raise KeyError(app_id)


class ConfigError(Exception):
    """Every problem found in a configuration, each naming file, line and key path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# ---- YAML with positions -------------------------------------------------------------

Marks = dict[tuple[Any, ...], tuple[int, int]]


class _UniqueKeyLoader(yaml.SafeLoader):
    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:  # type: ignore[override]
        """A date YAML recognises but the calendar does not (2024-13-01) is an error at
        its position, not a traceback."""
        try:
            return super().construct_yaml_timestamp(node)  # type: ignore[arg-type]
        except ValueError as e:
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid date {node.value!r}: {e}", node.start_mark
            ) from None


_UniqueKeyLoader.add_constructor(
    "tag:yaml.org,2002:timestamp", _UniqueKeyLoader.construct_yaml_timestamp
)


def _load_yaml(path: Path, errors: list[str]) -> tuple[Any, Marks] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        errors.append(f"{path}: cannot read: {e.strerror or e}")
        return None
    except UnicodeDecodeError:
        errors.append(f"{path}: not UTF-8 text")
        return None
    try:
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return {}, {}
            data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as e:
        m = e.problem_mark
        where = f"{path}:{m.line + 1}:{m.column + 1}" if m else str(path)
        errors.append(f"{where}: invalid YAML: {e.problem}")
        return None
    except yaml.YAMLError as e:
        errors.append(f"{path}: invalid YAML: {e}")
        return None
    marks: Marks = {}
    dup = _walk(node, (), marks)
    for p, (line, col) in dup:
        errors.append(f"{path}:{line}:{col}: {_fmt_path(p)}: duplicate key")
    if dup:
        return None
    return data, marks


def _walk(
    node: yaml.Node, path: tuple[Any, ...], marks: Marks
) -> list[tuple[tuple[Any, ...], tuple[int, int]]]:
    marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    dups = []
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for k, v in node.value:
            key = k.value
            if key in seen:
                dups.append(((*path, key), (k.start_mark.line + 1, k.start_mark.column + 1)))
            seen.add(key)
            # an unknown key is reported at the key itself
            marks[(*path, key, "__key__")] = (k.start_mark.line + 1, k.start_mark.column + 1)
            dups += _walk(v, (*path, key), marks)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            dups += _walk(v, (*path, i), marks)
    return dups


def _fmt_path(loc: Iterable[Any]) -> str:
    out = ""
    for p in loc:
        if isinstance(p, int):
            out += f"[{p}]"
        else:
            out += ("." if out else "") + str(p)
    return out or "(top level)"


#: union tags pydantic puts in error locations, by the key holding the union
PAGING_KINDS = ("cursor", "offset", "date_window")
_UNION_TAGS = {"source": set(SOURCE_KINDS), "paging": set(PAGING_KINDS)}


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's union tags (e.g. source.usage_api.url -> source.url)."""
    out: list[Any] = []
    for i, p in enumerate(loc):
        if i > 0 and p in _UNION_TAGS.get(loc[i - 1], ()):
            continue
        if isinstance(p, str) and p.startswith(("function-", "constrained-")):
            continue
        out.append(p)
    return tuple(out)


def _mark_for(marks: Marks, loc: tuple[Any, ...], key_itself: bool) -> tuple[int, int] | None:
    if key_itself and (*loc, "__key__") in marks:
        return marks[(*loc, "__key__")]
    for n in range(len(loc), -1, -1):
        m = marks.get(loc[:n])
        if m:
            return m
    return None


def _describe(err: dict[str, Any], model: type[BaseModel]) -> str:
    t = err["type"]
    if t == "extra_forbidden":
        allowed = _allowed_keys(model, tuple(err["loc"])[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown key{hint}"
    if t == "missing":
        return "required key missing"
    if t == "union_tag_invalid":
        tag = err.get("ctx", {}).get("tag", err.get("input"))
        tags = _union_tags(tuple(err["loc"]))
        return f"unknown {_union_noun(err)} kind {tag!r} (expected {tags})"
    if t == "union_tag_not_found":
        return f"required key 'kind' missing ({_union_tags(tuple(err['loc']))})"
    inp = err.get("input")
    if t in ("model_type", "dict_type"):
        allowed = _allowed_keys(model, tuple(err["loc"]))
        keys = f" (keys: {', '.join(allowed)})" if allowed else ""
        got = "it is empty" if inp is None else f"got {_yaml_type(inp)}"
        return f"expected a mapping of settings{keys}; {got}"
    if t == "list_type":
        got = "it is empty" if inp is None else f"got {_yaml_type(inp)}"
        return f"expected a list; {got}"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if t not in ("value_error", "assertion_error") and isinstance(inp, str | int | float):
        msg += f" (got {inp!r})"
    return msg


def _union_noun(err: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    return "paging" if loc and loc[-1] == "paging" else "source"


def _union_tags(loc: tuple[Any, ...]) -> str:
    """The kinds allowed by the union at `loc`, as 'a, b or c'."""
    key = next((p for p in reversed(loc) if p in _UNION_TAGS), "source")
    tags = list(SOURCE_KINDS if key == "source" else PAGING_KINDS)
    return ", ".join(tags[:-1]) + " or " + tags[-1]


def _yaml_type(v: Any) -> str:
    """How YAML would call the type of a value (for messages)."""
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int | float):
        return f"a number ({v!r})"
    if isinstance(v, str):
        return f"a string ({v[:40]!r})"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return type(v).__name__


def _allowed_keys(model: type[BaseModel], raw_loc: tuple[Any, ...]) -> list[str]:
    """Keys allowed at pydantic's raw `raw_loc` inside `model` (for the error hint).

    The raw loc carries union tags (e.g. ``source.usage_api``), which pick the model."""
    from typing import get_args, get_origin

    current: Any = model
    candidates: list[type[BaseModel]] = []
    mapping_key = False  # the next loc item is a key of a dict of models (users.li)
    for p in raw_loc:
        if isinstance(p, int) or mapping_key:
            mapping_key = False
            continue
        if candidates:  # p is the union tag that chose one of them
            chosen = [c for c in candidates if p in _kinds(c)]
            if len(chosen) != 1:
                return []
            current, candidates = chosen[0], []
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        f = current.model_fields.get(p)
        if f is None:
            return []
        models = [
            a
            for a in _flatten((f.annotation,), get_args)
            if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        mapping_key = get_origin(f.annotation) is dict
        if len(models) == 1:
            current = models[0]
        elif models:
            candidates = models
        else:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel) and not candidates:
        return [
            name
            for name, f in current.model_fields.items()
            if not (isinstance(f.json_schema_extra, dict) and f.json_schema_extra.get(UNSUPPORTED))
        ]
    return []


def _kinds(m: type[BaseModel]) -> tuple[Any, ...]:
    from typing import get_args

    f = m.model_fields.get("kind")
    return get_args(f.annotation) if f else ()


def _flatten(args: tuple[Any, ...], get_args: Any) -> list[Any]:
    out: list[Any] = []
    for a in args:
        sub = get_args(a)
        out.extend(_flatten(sub, get_args) if sub else [a])
    return out


def _validate(
    model: type[BaseModel], data: Any, path: Path, marks: Marks, errors: list[str]
) -> BaseModel | None:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = _clean_loc(tuple(err["loc"]))
            key_itself = err["type"] == "extra_forbidden"
            errors.append(f"{located(path, marks, loc, key_itself)}: {_describe(err, model)}")
        return None


def _load_mapping(path: Path) -> tuple[dict[str, Any], Marks]:
    """A YAML file that must hold a mapping, with its positions; ConfigError if not."""
    errors: list[str] = []
    loaded = _load_yaml(path, errors)
    if loaded is None:
        raise ConfigError(errors)
    data, marks = loaded
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1:1: (top level): expected a mapping of settings"])
    return data, marks


def located(path: Path, marks: Marks, loc: tuple[Any, ...], key_itself: bool = False) -> str:
    """`file:line:col: key.path` of a value (or of the key itself) in a loaded file."""
    m = _mark_for(marks, loc, key_itself)
    where = f"{path}:{m[0]}:{m[1]}" if m else str(path)
    return f"{where}: {_fmt_path(loc)}"


#: Marks a field as a setting another tool knows and tapwatch refuses by name (it is left
#: out of the "allowed" keys an unknown-key error lists).
UNSUPPORTED = "unsupported"
SettingsModel = TypeVar("SettingsModel", bound=BaseModel)


def load_settings_file(path: Path, model: type[SettingsModel]) -> tuple[SettingsModel, Marks]:
    """Load one YAML file of settings (a web config, a users file) and validate it against
    `model`, with errors as load_config gives them. An empty file is an empty mapping.
    Returns the model and the positions of its values (for later checks' messages)."""
    errors: list[str] = []
    data, marks = _load_mapping(path)
    obj = _validate(model, data, path, marks, errors)
    if not isinstance(obj, model):
        raise ConfigError(errors)
    return obj, marks


def _resolve(base: Path, p: Path) -> Path:
    return p if p.is_absolute() else (base / p)


def _absolute_paths(app: AppConfig, base: Path) -> AppConfig:
    """Make the source's file paths relative to the file that declared them."""
    src = app.source
    if isinstance(src, _PlatformSourceBase):
        return app.model_copy(update={"source": src.with_base(base)})
    upd: dict[str, Any] = {}
    if isinstance(src, FileSourceConfig):
        upd["path"] = _resolve(base, src.path)
    if isinstance(src, UsageApiSourceConfig | PrometheusSourceConfig | JsonSourceConfig):
        if src.auth is not None:
            a = src.auth
            upd["auth"] = a.model_copy(
                update={
                    "bearer_token_file": a.bearer_token_file
                    and _resolve(base, a.bearer_token_file),
                    "basic": a.basic
                    and a.basic.model_copy(
                        update={"password_file": _resolve(base, a.basic.password_file)}
                    ),
                }
            )
        if src.tls.ca_file is not None:
            upd["tls"] = src.tls.model_copy(update={"ca_file": _resolve(base, src.tls.ca_file)})
    if not upd:
        return app
    return app.model_copy(update={"source": src.model_copy(update=upd)})


def _check_app_files(app: LoadedApp, errors: list[str]) -> None:
    src = app.config.source
    where = f"{app.file}: app {app.config.id!r}"
    files: list[tuple[str, Path]] = []
    secrets: list[tuple[str, Path]] = []  # must also be private (tapwatch.private_files)
    if isinstance(src, _PlatformSourceBase):
        secrets = [(f"source.{key}", path) for key, path in src.secret_paths()]
        if src.tls.ca_file is not None:
            files.append(("source.tls.ca_file", src.tls.ca_file))
    if isinstance(src, UsageApiSourceConfig | PrometheusSourceConfig | JsonSourceConfig):
        if src.auth and src.auth.bearer_token_file:
            secrets.append(("source.auth.bearer_token_file", src.auth.bearer_token_file))
        if src.auth and src.auth.basic:
            secrets.append(("source.auth.basic.password_file", src.auth.basic.password_file))
        if src.tls.ca_file:
            files.append(("source.tls.ca_file", src.tls.ca_file))
    for key, p in files:
        if not p.is_file():
            errors.append(f"{where}: {key}: file {str(p)!r} does not exist")
    for key, p in secrets:
        problem = private_file_problem(p)
        if problem is not None:
            errors.append(f"{where}: {key}: {problem}")


def _check_detector_settings(
    where: str,
    detectors: dict[str, dict[str, Any]],
    errors: list[str],
    defaults: dict[str, dict[str, Any]] | None = None,
) -> None:
    """Validate `detectors:` settings the way the engine will resolve them: the daemon's
    defaults alone, and each app's overrides merged on top of them."""
    from tapwatch.detectors import resolve_settings, settings_model

    for kind, values in detectors.items():
        try:
            settings_model(kind)
        except KeyError as e:
            errors.append(f"{where}: detectors.{kind}: {e.args[0]}")
            continue
        try:
            if defaults is None:
                resolve_settings(kind, values)
            else:
                resolve_settings(kind, defaults.get(kind, {}), values)
        except ValidationError as e:
            for err in e.errors():
                loc = ".".join(str(p) for p in err["loc"])
                msg = "unknown setting" if err["type"] == "extra_forbidden" else err["msg"]
                errors.append(f"{where}: detectors.{kind}.{loc}: {msg}")


def load_config(path: str | Path) -> Config:
    """Load and validate the daemon file and its app registry. Raises ConfigError."""
    path = Path(path)
    errors: list[str] = []
    data, marks = _load_mapping(path)
    daemon = _validate(DaemonFile, data, path, marks, errors)
    apps: list[LoadedApp] = []
    files = [path]
    base = path.parent
    if isinstance(daemon, DaemonFile):
        apps += [LoadedApp(_absolute_paths(a, base), path) for a in daemon.apps]
    # The registry directory is read even when the daemon file has errors: report all at once.
    apps_dir = daemon.apps_dir if isinstance(daemon, DaemonFile) else data.get("apps_dir")
    if isinstance(apps_dir, str | Path):
        d = _resolve(base, Path(apps_dir))
        if not d.is_dir():
            m = marks.get(("apps_dir",), (0, 0))
            errors.append(f"{path}:{m[0]}:{m[1]}: apps_dir: directory {str(d)!r} not found")
        else:
            for f in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
                files.append(f)
                apps += _load_apps_file(f, errors)
    seen: dict[str, LoadedApp] = {}
    for a in apps:
        prev = seen.get(a.config.id)
        if prev is not None:
            errors.append(
                f"{a.file}: app {a.config.id!r}: duplicate app id (first defined in {prev.file})"
            )
        seen[a.config.id] = a
        _check_app_files(a, errors)
    if isinstance(daemon, DaemonFile):
        _check_detector_settings(str(path), daemon.detectors, errors)
        for a in apps:
            where = f"{a.file}: app {a.config.id!r}"
            _check_detector_settings(where, a.config.detectors, errors, daemon.detectors)
    if errors:
        raise ConfigError(errors)
    assert isinstance(daemon, DaemonFile)
    daemon = daemon.model_copy(
        update={
            "store": daemon.store.model_copy(update={"path": _resolve(base, daemon.store.path)}),
            "pseudonymisation": PseudonymConfig(
                key_file=_resolve(base, daemon.pseudonymisation.key_file)
            ),
            "server": daemon.server.model_copy(
                update={
                    k: _resolve(base, v)
                    for k in ("web_config_file", "users_file")
                    if (v := getattr(daemon.server, k)) is not None
                }
            ),
        }
    )
    return Config(path=path, daemon=daemon, apps=tuple(apps), files=tuple(files))


def load_apps_file(path: Path) -> list[AppConfig]:
    """The apps of one registry file (a list, `apps:`, or one app); ConfigError with every
    problem, as load_config reports them."""
    errors: list[str] = []
    apps = _load_apps_file(path, errors)
    for a in apps:
        _check_app_files(a, errors)
    if errors:
        raise ConfigError(errors)
    return [a.config for a in apps]


def _load_apps_file(f: Path, errors: list[str]) -> list[LoadedApp]:
    loaded = _load_yaml(f, errors)
    if loaded is None:
        return []
    data, marks = loaded
    if isinstance(data, list):  # a bare list of apps
        data = {"apps": data}
        marks = {(("apps", *k) if k else ("apps",)): v for k, v in marks.items()}
    elif isinstance(data, dict) and "apps" not in data and "id" in data:  # one app
        data = {"apps": [data]}
        marks = {("apps", 0, *k): v for k, v in marks.items()}
    parsed = _validate(AppsFile, data, f, marks, errors)
    if not isinstance(parsed, AppsFile):
        return []
    return [LoadedApp(_absolute_paths(a, f.parent), f) for a in parsed.apps]


def app_timezone(app: AppConfig, daemon: DaemonFile) -> ZoneInfo:
    return _zone(app.timezone or daemon.detect.timezone)


def app_profile(app: AppConfig, daemon: DaemonFile | None = None) -> AppProfile:
    """What detectors know of an app: its registry entry, without config machinery."""
    from tapwatch.detectors.base import AppProfile, CheckinPoint

    tz = _zone(app.timezone or (daemon.detect.timezone if daemon else "Asia/Shanghai"))
    return AppProfile(
        id=app.id,
        name=app.name,
        owner=app.owner,
        region=app.region,
        category=app.category,
        launched=app.launched,
        annual_cost_cny=app.annual_cost_cny,
        intended_users=app.intended_users,
        declared_features=frozenset(app.declared_features),
        exempt=app.exempt,
        points=tuple(CheckinPoint(p.id, *to_wgs84(p.datum, p.lat, p.lon), p.radius_m)
                     for p in app.points),
        timezone=tz,
        season_months=frozenset(app.season_months) if app.season_months else None,
        detector_overrides=dict(app.detectors),
    )
