"""A small Prometheus text-format (0.0.4) writer.

The daemon renders /metrics once per ingest/detect cycle into bytes and serves those bytes
as they are; rendering straight to text keeps that cheap at thousands of apps, and one bad
value can never fail the whole page (non-finite values are written as Prometheus spells
them, label values are escaped).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_label(v: str) -> str:
    if "\\" not in v and "\n" not in v and '"' not in v:  # the common case: nothing to do
        return v
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n")


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


class Exposition:
    """Collects metric families in order and renders them to bytes."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._declared: set[str] = set()

    def family(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[Mapping[str, str], float]],
    ) -> None:
        """Add a family (kind: gauge, counter, info-as-gauge). For counters, `name` is
        the family name and samples are written as name_total."""
        self.family_text(name, kind, help_text, [sample_lines(name, kind, samples)])

    def family_text(self, name: str, kind: str, help_text: str, chunks: Iterable[str]) -> None:
        """Add a family from sample lines already formatted (by `sample_lines`), e.g. kept
        from an earlier render for apps whose values did not change."""
        if name in self._declared:
            raise ValueError(f"metric family {name} declared twice")
        self._declared.add(name)
        sample_name = f"{name}_total" if kind == "counter" else name
        lines = [f"# HELP {sample_name} {_escape_help(help_text)}", f"# TYPE {sample_name} {kind}"]
        lines += [c for c in chunks if c]
        self._parts.append("\n".join(lines))

    def render(self) -> bytes:
        return ("\n".join(self._parts) + "\n").encode("utf-8")
