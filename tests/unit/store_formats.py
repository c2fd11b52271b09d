"""Batch bodies as earlier versions of the store wrote them, for tests that a store's
older rows still read back."""

from __future__ import annotations

import msgspec
import numpy as np

from tapwatch.columns import EventColumns


def body_v2(b: EventColumns) -> bytes:
    """A batch body of the second format (TWC2: every column at full width, as written
    before narrow and sparse columns)."""
    body = [
        list(b.ids),
        b.ts.astype("<f8").tobytes(),
        b.type.astype(np.uint8).tobytes(),
        b.account.astype("<i4").tobytes(),
        b.accounts,
        b.strings,
        {
            k: v.astype("<i4" if v.dtype.kind == "i" else "<f8").tobytes()
            for k, v in b.optional.items()
        },
    ]
    return b"TWC2" + msgspec.msgpack.encode(body)
