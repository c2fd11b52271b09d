"""Values derived from a pass's inputs that more than one detector needs, computed once per
pass instead of once per detector.

The engine opens a pass (`one_pass`) around everything it runs over one list of inputs.
Within it, `per_app` and `per_fleet` keep what they compute, keyed on the input objects
themselves: the pass holds those inputs, so an input seen again is the very same object,
with the same (never mutated) arrays. A detector called outside a pass, or with inputs
that are not the pass's, computes afresh: results never depend on whether a value was
kept. Nothing outlives the pass.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from tapwatch.detectors.base import DetectorInput

T = TypeVar("T")


class _Pass:
    def __init__(self, inputs: Sequence[DetectorInput]) -> None:
        self.inputs = tuple(inputs)  # held: their ids stay theirs for the pass
        self.ids = frozenset(id(i) for i in self.inputs)
        self.values: dict[Hashable, object] = {}


_current: ContextVar[_Pass | None] = ContextVar("tapwatch_detector_pass", default=None)


@contextmanager
def one_pass(inputs: Sequence[DetectorInput]) -> Iterator[None]:
    """Keep derived values of these inputs until the block ends."""
    token = _current.set(_Pass(inputs))
    try:
        yield
    finally:
        _current.reset(token)


def per_app(name: str, inp: DetectorInput, compute: Callable[[], T], *key: Hashable) -> T:
    """`compute()` for this input (and `key`), once per pass."""
    p = _current.get()
    if p is None or id(inp) not in p.ids:
        return compute()
    k = (name, id(inp), *key)
    if k not in p.values:
        p.values[k] = compute()
    return p.values[k]  # type: ignore[return-value]


def per_fleet(
    name: str, inputs: Sequence[DetectorInput], compute: Callable[[], T], key: Hashable
) -> T:
    """`compute()` for exactly these inputs (in this order) and `key`, once per pass.
    `key` must hold everything else the value depends on (the settings it was computed
    with), compared by equality."""
    p = _current.get()
    if p is None or not all(id(i) in p.ids for i in inputs):
        return compute()
    k = (name, tuple(id(i) for i in inputs))
    kept = p.values.get(k)
    if kept is not None and kept[0] == key:  # type: ignore[index]
        return kept[1]  # type: ignore[index]
    value = compute()
    p.values[k] = (key, value)
    return value
