"""Keyed pseudonyms for account, device and network ids.

HMAC-SHA256 with a secret key read from a file, applied at ingestion: raw ids never reach
the store, the logs or the metrics. The same raw id always gives the same pseudonym, so
detectors can link an account across days and apps; without the key nobody can reverse it
or test a guess.
"""

from __future__ import annotations

import hashlib
import operator
import os
import secrets
import sys
from itertools import compress, repeat
from operator import itemgetter
from pathlib import Path
from typing import Any

from tapwatch.private_files import read_private_file

#: 16 hex characters = 64 bits: collisions are negligible at fleet scale.
PSEUDONYM_HEX = 16
#: Memory the caches of all kinds may take together (raw ids, pseudonyms and dict slots,
#: measured with sys.getsizeof). A full cache is emptied, never grown: a flood of unique
#: ids costs HMACs, not memory.
CACHE_BYTES = 64 * 2**20
#: SHA-256's block: HMAC pads the key to it (RFC 2104)
_BLOCK = 64
#: what one cache entry costs besides its raw id: the pseudonym string and the dict slot
_ENTRY_BYTES = sys.getsizeof("0" * PSEUDONYM_HEX) + 3 * 8 + 8


class Pseudonymizer:
    """Maps raw ids to stable keyed pseudonyms, with domain separation per kind of id.

    Each kind has its own cache keyed by the raw id; ingest looks up each distinct id of a
    page once (`many`). The caches are bounded by bytes (CACHE_BYTES), not by entries, so
    long ids cannot make them big."""

    def __init__(self, key: bytes, cache_bytes: int = CACHE_BYTES) -> None:
        if len(key) < 16:
            raise ValueError("pseudonymisation key must be at least 16 bytes")
        self._key = key
        # HMAC's inner and outer hashes after the padded key and the kind's prefix, per
        # kind: each pseudonym then costs two SHA-256 blocks, not four, and no key set-up
        # (0.5 µs against 1.3 for the one-shot hmac digest, OpenSSL 3)
        self._states: dict[str, tuple[Any, Any]] = {}
        self._caches: dict[str, dict[str, str]] = {"account": {}, "device": {}, "network": {}}
        self._limit = cache_bytes
        self.cache_bytes = 0  # what the caches hold now (approximately)

    def many(self, kind: str, raws: list[str]) -> list[str]:
        """Pseudonyms of these raw ids (each computed once, then cached)."""
        cache = self._caches.setdefault(kind, {})
        try:  # all known (the usual page): nothing but the lookups, in one C call
            if len(raws) > 1:
                return list(itemgetter(*raws)(cache))
            return [cache[r] for r in raws]
        except KeyError:
            pass
        out = list(map(cache.get, raws))
        missing = list(compress(raws, map(operator.is_, out, repeat(None))))
        made = self.uncached(kind, missing)
        fresh = dict(zip(missing, made, strict=True))
        cache.update(fresh)
        self.cache_bytes += sum(map(sys.getsizeof, fresh)) + _ENTRY_BYTES * len(fresh)
        if self.cache_bytes > self._limit:
            for c in self._caches.values():
                c.clear()
            self.cache_bytes = 0
        return [p if p is not None else fresh[r] for p, r in zip(out, raws, strict=True)]

    def uncached(self, kind: str, raws: list[str]) -> list[str]:
        """Pseudonyms of these raw ids, each computed, none cached: for a caller that keeps
        its own map from raw ids (analyze codes each id once into its string tables)."""
        inner, outer = self._states.get(kind) or self._start(kind)
        out = []
        for raw in raws:
            i = inner.copy()
            i.update(raw.encode())
            o = outer.copy()
            o.update(i.digest())
            out.append(o.hexdigest()[:PSEUDONYM_HEX])
        return out

    def _start(self, kind: str) -> tuple[Any, Any]:
        """HMAC-SHA256's two hashes for this key, the inner one fed the kind's prefix."""
        key = self._key if len(self._key) <= _BLOCK else hashlib.sha256(self._key).digest()
        key = key.ljust(_BLOCK, b"\0")
        inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
        inner.update(kind.encode() + b"\0")
        outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
        self._states[kind] = (inner, outer)
        return inner, outer

    def __call__(self, kind: str, raw: str) -> str:
        return self.many(kind, [raw])[0]

    def account(self, raw: str) -> str:
        return self("account", raw)

    def device(self, raw: str | None) -> str | None:
        return None if raw is None else self("device", raw)

    def network(self, raw: str | None) -> str | None:
        return None if raw is None else self("network", raw)


def load_key(path: Path) -> bytes:
    """Read the key file (raw bytes, or hex text). ValueError naming the file if it is
    missing, readable by others (tapwatch.private_files) or shorter than 16 bytes."""
    data = read_private_file(path).strip()
    try:
        key = bytes.fromhex(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = data
    if len(key) < 16:
        raise ValueError(f"{path}: pseudonymisation key must be at least 16 bytes")
    return key


def generate_key_file(path: Path) -> bool:
    """Create a new random key file (mode 0600, and its directory) unless one exists:
    a new key would break the links to everything pseudonymised before. True if created."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return True
