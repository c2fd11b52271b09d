"""Keyed pseudonyms for account, device and network ids.

HMAC-SHA256 with a secret key read from a file, applied at ingestion: raw ids never reach
the store, the logs or the metrics. The same raw id always gives the same pseudonym, so
detectors can link an account across days and apps; without the key nobody can reverse it
or test a guess.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

#: 16 hex characters = 64 bits: collisions are negligible at fleet scale.
PSEUDONYM_HEX = 16
_CACHE_MAX = 1 << 20


class Pseudonymizer:
    """Maps raw ids to stable keyed pseudonyms, with domain separation per kind of id."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("pseudonymisation key must be at least 16 bytes")
        self._key = key
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, raw: str) -> str:
        k = (kind, raw)
        p = self._cache.get(k)
        if p is None:
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            msg = kind.encode() + b"\0" + raw.encode()
            p = hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
            self._cache[k] = p
        return p

    def account(self, raw: str) -> str:
        return self("account", raw)

    def device(self, raw: str | None) -> str | None:
        return None if raw is None else self("device", raw)

    def network(self, raw: str | None) -> str | None:
        return None if raw is None else self("network", raw)


def load_key(path: Path) -> bytes:
    """Read the key file (raw bytes, or hex text). The file must not be world-readable."""
    data = path.read_bytes().strip()
    try:
        key = bytes.fromhex(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        key = data
    if len(key) < 16:
        raise ValueError(f"{path}: pseudonymisation key must be at least 16 bytes")
    return key


def generate_key_file(path: Path) -> None:
    """Create a new random key file (mode 0600) if it does not exist."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
