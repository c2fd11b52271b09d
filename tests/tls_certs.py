"""Test certificates made with the openssl command (EC keys: fast), valid for two days of
the real clock (OpenSSL does not see the suite's fixed clock)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


@dataclass(frozen=True)
class Cert:
    crt: Path
    key: Path


def _run(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def _new_key_and_csr(d: Path, name: str, cn: str) -> tuple[Path, Path]:
    key, csr = d / f"{name}.key", d / f"{name}.csr"
    _run("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-subj", f"/CN={cn}", "-keyout", key, "-out", csr)
    key.chmod(0o600)
    return key, csr


def make_ca(d: Path, name: str = "ca") -> Cert:
    """A self-signed CA (also usable as a self-signed client certificate)."""
    key, crt = d / f"{name}.key", d / f"{name}.crt"
    _run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", f"/CN={name}", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,digitalSignature",
         "-keyout", key, "-out", crt)
    key.chmod(0o600)
    return Cert(crt, key)


def make_cert(d: Path, name: str, ca: Cert, *, client: bool = False) -> Cert:
    """A server certificate for 127.0.0.1 (or a client certificate) signed by `ca`."""
    key, csr = _new_key_and_csr(d, name, name)
    ext = d / f"{name}.ext"
    usage = "clientAuth" if client else "serverAuth"
    ext.write_text(f"subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage={usage}\n")
    crt = d / f"{name}.crt"
    _run("x509", "-req", "-in", csr, "-CA", ca.crt, "-CAkey", ca.key, "-CAcreateserial",
         "-days", "2", "-extfile", ext, "-out", crt)
    return Cert(crt, key)
