"""String columns as fixed-width byte arrays (numpy "S"), in bulk: the timestamp parser's
byte matrix, analyze's coding of ids and the windows' event ids all start from one.

numpy converts a list of strings one string at a time (~45 ns each); a column whose
strings are all of one length is cut from their join instead (~20 ns), the join being
what a caller makes anyway to learn that every value is a string.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cut_from_joined(values: Sequence[str], joined: str) -> np.ndarray | None:
    """`values` (whose join is `joined`) as one "S" array cut from the join, if they are
    all of one length, ASCII and without NUL: then what `np.array(values, dtype="S")`
    gives (numpy drops trailing NULs, which is why a NUL goes the other way). None
    otherwise."""
    n = len(values)
    if not n or not joined.isascii() or "\0" in joined:
        return None
    width = len(values[0])
    if not width or len(joined) != n * width:
        return None
    if not (np.fromiter(map(len, values), dtype=np.intp, count=n) == width).all():
        return None
    return np.frombuffer(joined.encode("ascii"), dtype=f"S{width}")
