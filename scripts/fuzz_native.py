"""Mutation fuzz of the normaliser's C extension for SECONDS (seeded by SEED): simulator
pages with bytes replaced, cut or corrupted go through decode and both normaliser paths,
which must agree (tests/unit/test_normalise_native.py's `both`); each C function is also
handed random objects. Run under ASan by scripts/native-asan.

    .venv/bin/python scripts/fuzz_native.py SECONDS [SEED]
"""

import contextlib
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import tapwatch.sources.normalise as N
from tapwatch.events import WireEvent, decode_page

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "unit"))
import test_normalise_native as T

NATIVE = N.native
assert NATIVE is not None
pages, now = T.simulator_pages(apps=1, limit=50)
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
deadline = time.time() + float(sys.argv[1])
junk = [b"\\ud800", b"\\u0000", b"\xff", b"\xc3", b"1e999", b"-0", b"NaN", b"null", b"[",
        b"{", b'"', b"\\", b"9" * 40, b'"a":1,', b"true", b"\\uD83D\\uDE00", b"\xf0\x9f\x98\x80"]


class SetAttr:
    """The one monkeypatch method `both` uses (N.native is restored after each page)."""

    def setattr(self, obj: Any, name: str, value: Any) -> None:
        setattr(obj, name, value)


mp = SetAttr()
n = ok = 0
while time.time() < deadline:
    body = bytearray(rng.choice(pages))
    for _ in range(rng.randrange(1, 8)):
        at = rng.randrange(len(body))
        r = rng.random()
        if r < 0.4:
            body[at:at + rng.randrange(1, 4)] = rng.choice(junk)
        elif r < 0.7:
            del body[at:at + rng.randrange(1, 20)]
        else:
            body[at] = rng.randrange(256)
    n += 1
    try:
        page = decode_page(bytes(body))
    except Exception:
        continue
    ok += 1
    try:
        T.both("from_page", page, mp, now)
    finally:
        N.native = NATIVE
    # the C functions on random objects
    objs = [None, "a", "é", "", 1, 1.5, b"x", object(), "2026-03-02T08:30:00Z", ("t",),
            WireEvent(id="i", type="t", account="a")]
    col = [rng.choice(objs) for _ in range(rng.randrange(0, 30))]
    size = rng.choice([len(col), rng.randrange(0, 40)])  # sometimes the wrong size
    with contextlib.suppress(TypeError, ValueError, BufferError):
        NATIVE.codes(col, rng.randrange(0, 2**31), np.empty(size, np.int32))
    with contextlib.suppress(TypeError, ValueError, BufferError):
        NATIVE.rfc3339(col, np.empty(size), 0.0, 1e10)
    with contextlib.suppress(TypeError, ValueError, BufferError):
        NATIVE.transpose(col, WireEvent, N._SLOTS)
print(f"fuzz: {n} mutated pages, {ok} decoded and compared on both paths")
