"""A small writer of the Prometheus text format (0.0.4) and of OpenMetrics 1.0.0.

The daemon renders /metrics once per ingest/detect cycle and serves those bytes as they
are; rendering straight to text keeps that cheap at thousands of apps, and one bad value
can never fail the whole page (non-finite values are written as Prometheus spells them,
label values are escaped). The two formats share every sample line; they differ only in
the family lines (a counter's family is `x` in OpenMetrics, `x_total` in 0.0.4), HELP
escaping and OpenMetrics's closing `# EOF`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

TEXT = "text"
OPENMETRICS = "openmetrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
CONTENT_TYPES = {TEXT: CONTENT_TYPE, OPENMETRICS: OPENMETRICS_CONTENT_TYPE}


def _escape_label(v: str) -> str:
    if "\\" not in v and "\n" not in v and '"' not in v:  # the common case: nothing to do
        return v
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(v: str, fmt: str) -> str:
    v = v.replace("\\", "\\\\").replace("\n", "\\n")
    return v.replace('"', '\\"') if fmt == OPENMETRICS else v


def format_value(v: float) -> str:
    t = type(v)
    if t is int:
        return str(v)
    if t is bool:
        return "1" if v else "0"
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def format_labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in labels.items())
    return "{" + inner + "}"


def sample_lines(
    name: str, kind: str, samples: Iterable[tuple[Mapping[str, str], float]]
) -> str:
    """Sample lines of one family (no HELP/TYPE), newline-separated."""
    sample_name = f"{name}_total" if kind == "counter" else name
    return "\n".join(f"{sample_name}{format_labels(lbl)} {format_value(v)}" for lbl, v in samples)


@dataclass(frozen=True, slots=True)
class _Family:
    name: str  # the family name: a counter's without `_total`
    kind: str
    help: str
    samples: list[str]  # chunks of sample lines, each newline-joined


class Exposition:
    """Collects metric families in order and renders them to bytes in either format."""

    def __init__(self) -> None:
        self._families: list[_Family] = []
        self._declared: set[str] = set()

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[Mapping[str, str], float]],
    ) -> None:
        """Add a family (kind: gauge or counter). For counters, `name` is the family name
        and samples are written as name_total."""
        self.family_text(name, kind, help_text, [sample_lines(name, kind, samples)])

    def family_text(self, name: str, kind: str, help_text: str, chunks: Iterable[str]) -> None:
        """Add a family from sample lines already formatted (by `sample_lines`), e.g. kept
        from an earlier render for apps whose values did not change."""
        if name in self._declared:
            raise ValueError(f"metric family {name} declared twice")
        self._declared.add(name)
        self._families.append(_Family(name, kind, help_text, [c for c in chunks if c]))

    def render(self, fmt: str = TEXT) -> bytes:
        """The page in the text format 0.0.4 (TEXT) or OpenMetrics 1.0.0 (OPENMETRICS)."""
        if fmt not in CONTENT_TYPES:
            raise ValueError(f"unknown exposition format {fmt!r}")
        parts = []
        for f in self._families:
            # 0.0.4 names a counter's family after its samples, as prometheus_client does
            shown = f"{f.name}_total" if f.kind == "counter" and fmt == TEXT else f.name
            head = f"# HELP {shown} {_escape_help(f.help, fmt)}\n# TYPE {shown} {f.kind}"
            parts.append("\n".join([head, *f.samples]))
        if fmt == OPENMETRICS:
            parts.append("# EOF")
        return ("\n".join(parts) + "\n").encode("utf-8")
