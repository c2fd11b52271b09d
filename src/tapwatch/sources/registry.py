"""Which adapter serves a source config: one per `kind`. Kept apart from the package so
that reading a dump (`tapwatch analyze`, which needs only the normaliser) does not import
the HTTP client and every platform adapter."""

from __future__ import annotations

from collections.abc import Sequence

from tapwatch.config import (
    AnySourceConfig,
    DingTalkAttendanceSourceConfig,
    FileSourceConfig,
    PointConfig,
    PrometheusSourceConfig,
    UsageApiSourceConfig,
    WeChatMpStatsSourceConfig,
    WeComCheckinSourceConfig,
)
from tapwatch.sources.base import Source
from tapwatch.sources.dingtalk_attendance import DingTalkAttendanceSource
from tapwatch.sources.files import FileDropSource
from tapwatch.sources.json_api import JsonApiSource
from tapwatch.sources.platform import CredentialPool
from tapwatch.sources.prometheus_text import PrometheusSource
from tapwatch.sources.usage_api import UsageApiSource
from tapwatch.sources.wechat_mp_stats import WeChatMpStatsSource
from tapwatch.sources.wecom_checkin import WeComCheckinSource

__all__ = ["CredentialPool", "build_source"]


def build_source(
    cfg: AnySourceConfig,
    *,
    points: Sequence[PointConfig] = (),
    credentials: CredentialPool | None = None,
) -> Source:
    """The adapter for a source config (one per `kind`). Platform sources share tokens
    and call-rate limiters through `credentials` (the daemon's pool; a private one if
    None); check-in sources use the app's registry `points` to name places."""
    if isinstance(cfg, UsageApiSourceConfig):
        return UsageApiSource(cfg)
    if isinstance(cfg, FileSourceConfig):
        return FileDropSource(cfg)
    if isinstance(cfg, PrometheusSourceConfig):
        return PrometheusSource(cfg)
    if isinstance(cfg, WeComCheckinSourceConfig):
        return WeComCheckinSource(cfg, points, credentials)
    if isinstance(cfg, DingTalkAttendanceSourceConfig):
        return DingTalkAttendanceSource(cfg, credentials)
    if isinstance(cfg, WeChatMpStatsSourceConfig):
        return WeChatMpStatsSource(cfg, credentials)
    return JsonApiSource(cfg)
