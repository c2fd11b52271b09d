"""Prometheus text source: an app that already exposes /metrics. Configured metric names
map to registered and active accounts; the sum over a metric's series is taken."""

from __future__ import annotations

from collections.abc import AsyncIterator

from prometheus_client.parser import text_string_to_metric_families

from tapwatch.config import PrometheusSourceConfig
from tapwatch.detectors.base import UsageSnapshot
from tapwatch.sources.base import ErrorReason, PollContext, SourceError, count_of
from tapwatch.sources.http import auth_headers, endpoint, get_bytes, ssl_context
from tapwatch.store.sqlite import IngestBatch

_TEXT_TYPES = ("text/plain", "application/openmetrics-text")


def parse_exposition(text: str, mapping: dict[str, str], at: float) -> UsageSnapshot:
    """Snapshot from exposition text: each field takes the sum of its metric's samples."""
    wanted = {name: field for field, name in mapping.items()}
    sums: dict[str, float] = {}
    try:
        for fam in text_string_to_metric_families(text):
            for s in fam.samples:
                f = wanted.get(s.name)
                if f is not None:
                    sums[f] = sums.get(f, 0.0) + s.value
    except (ValueError, TypeError, IndexError) as e:
        raise SourceError(ErrorReason.decode, f"not Prometheus text: {e}") from None
    missing = sorted(set(mapping) - set(sums))
    if missing:
        names = ", ".join(mapping[m] for m in missing)
        raise SourceError(ErrorReason.schema, f"metrics not exposed: {names}")
    return UsageSnapshot(at=at, **{k: count_of(mapping[k], v) for k, v in sums.items()})


class PrometheusSource:
    def __init__(self, cfg: PrometheusSourceConfig) -> None:
        self.cfg = cfg
        self._ssl = ssl_context(cfg.tls.ca_file, cfg.tls.insecure_skip_verify)
        self._mapping = {k: v for k, v in cfg.metrics.model_dump().items() if v}

    async def poll(self, ctx: PollContext) -> AsyncIterator[IngestBatch]:
        assert ctx.session is not None
        headers = auth_headers(self.cfg.auth)
        body = await get_bytes(
            ctx.session,
            endpoint(self.cfg.url),
            timeout=ctx.timeout,
            max_bytes=ctx.max_response_bytes,
            headers=headers,
            ssl_ctx=self._ssl,
            expect=_TEXT_TYPES,
        )
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(ErrorReason.decode, "body is not UTF-8") from None
        yield IngestBatch(snapshot=parse_exposition(text, self._mapping, ctx.now()))
