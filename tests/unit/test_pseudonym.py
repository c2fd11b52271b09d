"""Keyed pseudonyms: the documented HMAC, per-kind domain separation, key files."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from tapwatch import pseudonym
from tapwatch.pseudonym import Pseudonymizer, generate_key_file, load_key

KEY = bytes(range(32))


def test_pseudonym_is_truncated_hmac_sha256_with_kind_prefix() -> None:
    p = Pseudonymizer(KEY)
    want = hmac.new(KEY, b"account\x00u-1", hashlib.sha256).hexdigest()[:16]
    assert p.account("u-1") == want
    assert p.account("u-1") == want  # cached: the same answer
    assert p.device("u-1") != want and p.network("u-1") not in (want, p.device("u-1"))
    assert Pseudonymizer(bytes(32)).account("u-1") != want  # another key, another pseudonym


def test_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pseudonym, "_CACHE_MAX", 10)
    p = Pseudonymizer(KEY)
    first = p.account("x0")
    for i in range(25):
        p.account(f"x{i}")
    assert len(p._caches["account"]) <= 10
    assert p.account("x0") == first


def test_key_files(tmp_path: Path) -> None:
    f = tmp_path / "k" / "pseudonym.key"
    generate_key_file(f)
    assert stat.S_IMODE(f.stat().st_mode) == 0o600
    key = load_key(f)
    assert len(key) == 32
    assert not generate_key_file(f)  # never overwrites an existing key
    assert load_key(f) == key
    f.chmod(0o644)
    with pytest.raises(ValueError, match=r"accessible to others \(mode 0644\).*chmod 600"):
        load_key(f)
    (tmp_path / "short").write_text("abcd")
    (tmp_path / "short").chmod(0o600)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        load_key(tmp_path / "short")
    with pytest.raises(ValueError):
        Pseudonymizer(b"short")
