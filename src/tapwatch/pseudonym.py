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

from tapwatch.private_files import read_private_file

#: 16 hex characters = 64 bits: collisions are negligible at fleet scale.
PSEUDONYM_HEX = 16
_CACHE_MAX = 1 << 20


class Pseudonymizer:
    """Maps raw ids to stable keyed pseudonyms, with domain separation per kind of id.

    Each kind has its own cache keyed by the raw id (a lookup is the hot path of ingest);
    a cache that reaches its bound is cleared, never grown without limit."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("pseudonymisation key must be at least 16 bytes")
        self._key = key
        self._caches: dict[str, dict[str, str]] = {"account": {}, "device": {}, "network": {}}
        self._account = self._caches["account"]
        self._device = self._caches["device"]
        self._network = self._caches["network"]

    def __call__(self, kind: str, raw: str) -> str:
        cache = self._caches.setdefault(kind, {})
        p = cache.get(raw)
        if p is None:
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            msg = kind.encode() + b"\0" + raw.encode()
            p = cache[raw] = hmac.new(self._key, msg, hashlib.sha256).hexdigest()[:PSEUDONYM_HEX]
        return p

    def account(self, raw: str) -> str:
        return self._account.get(raw) or self("account", raw)

    def device(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        return self._device.get(raw) or self("device", raw)

    def network(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        return self._network.get(raw) or self("network", raw)


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
