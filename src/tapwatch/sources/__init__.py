"""Source adapters: each turns one app's telemetry into batches of typed records."""

from __future__ import annotations

from tapwatch.config import (
    FileSourceConfig,
    PrometheusSourceConfig,
    UsageApiSourceConfig,
)
from tapwatch.sources.base import ErrorReason, PollContext, Source, SourceError
from tapwatch.sources.files import FileDropSource
from tapwatch.sources.prometheus_text import PrometheusSource
from tapwatch.sources.usage_api import UsageApiSource

__all__ = ["ErrorReason", "PollContext", "Source", "SourceError", "build_source"]


def build_source(
    cfg: UsageApiSourceConfig | FileSourceConfig | PrometheusSourceConfig,
) -> Source:
    """The adapter for a source config (one per `kind`)."""
    if isinstance(cfg, UsageApiSourceConfig):
        return UsageApiSource(cfg)
    if isinstance(cfg, FileSourceConfig):
        return FileDropSource(cfg)
    return PrometheusSource(cfg)
