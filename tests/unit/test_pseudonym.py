"""Keyed pseudonyms: the documented HMAC, per-kind domain separation, key files."""

from __future__ import annotations

import hashlib
import hmac
import stat
import sys
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


@pytest.mark.parametrize("size", [16, 32, 63, 64, 65, 200])
def test_pseudonyms_are_the_one_shot_hmacs_for_every_key_length(size: int) -> None:
    """The precomputed inner and outer hashes give hmac.digest's value, keys longer than
    SHA-256's block (hashed first) included, for every kind and for non-ASCII ids."""
    key = bytes((7 * i + size) % 256 for i in range(size))
    raws = ["u-1", "", "设备-9", "x" * 300]
    p = Pseudonymizer(key)
    for kind in ("account", "device", "network"):
        want = [
            hmac.digest(key, kind.encode() + b"\0" + r.encode(), "sha256").hex()[:16]
            for r in raws
        ]
        assert p.uncached(kind, raws) == want
        assert p.many(kind, raws) == want


def test_cache_is_bounded_by_bytes_not_entries() -> None:
    """880k unique 128-character ids once filled the caches with ~1 GB: now the caches of
    every kind together stay under their byte budget, and answers do not change."""
    p = Pseudonymizer(KEY, cache_bytes=200_000)
    first = p.account("x" * 128)
    for i in range(5_000):
        long_ids = [f"{k}-{i}-".ljust(128, "y") for k in range(3)]
        assert p.many("account", long_ids[:1]) == [p.account(long_ids[0])]
        p.many("device", long_ids[1:2])
        p.many("network", long_ids[2:])
        assert p.cache_bytes <= 200_000
        held = sum(
            sys.getsizeof(raw) + pseudonym._ENTRY_BYTES
            for c in p._caches.values()
            for raw in c
        )
        assert held == p.cache_bytes
    assert p.account("x" * 128) == first


def test_many_looks_up_each_id_once_and_keeps_order() -> None:
    p = Pseudonymizer(KEY)
    raws = ["b", "a", "b", "c"]
    out = p.many("account", raws)
    assert out == [p.account(r) for r in raws]
    assert len(p._caches["account"]) == 3


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
