"""Layers see down, never up (docs/ARCHITECTURE: exporters read a view of the daemon,
they do not import it). Every module's imports are read from its AST, type-only imports
included, relative imports resolved. And what importing tapwatch brings into a process:
no HTTP client for reading dumps, one OpenBLAS thread."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "tapwatch"

#: package -> packages it must never import (a lower layer never sees a higher one)
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "tapwatch.exporters": ("tapwatch.daemon",),
    "tapwatch.store": ("tapwatch.daemon", "tapwatch.exporters"),
    "tapwatch.detectors": (
        "tapwatch.daemon",
        "tapwatch.exporters",
        "tapwatch.store",
        "tapwatch.sources",
    ),
    "tapwatch.sources": ("tapwatch.daemon", "tapwatch.exporters"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`."""
    out: list[tuple[int, str]] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            # `from tapwatch import daemon` imports tapwatch.daemon
            out += [(node.lineno, f"{base}.{a.name}") for a in node.names]
            out.append((node.lineno, base))
    return out


def violations(source: str, module: str, is_package: bool = False) -> list[str]:
    rules = [bad for pkg, bad in FORBIDDEN.items() if module == pkg or module.startswith(pkg + ".")]
    found = []
    for line, name in imported_modules(source, module, is_package):
        for bad in (b for rule in rules for b in rule):
            if name == bad or name.startswith(bad + "."):
                found.append(f"{module}:{line} imports {name}")
    return sorted(set(found))


def test_no_layer_imports_a_layer_above_it() -> None:
    problems = []
    checked = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        mod = module_name(path)
        checked += any(mod == p or mod.startswith(p + ".") for p in FORBIDDEN)
        problems += violations(path.read_text(), mod, path.name == "__init__.py")
    assert checked >= 20, "the walk found too few modules: is SRC right?"
    assert problems == []


@pytest.mark.parametrize(
    ("source", "module", "is_package"),
    [
        ("import tapwatch.daemon.runtime", "tapwatch.exporters.metrics", False),
        ("from tapwatch.daemon.runtime import Daemon", "tapwatch.exporters.metrics", False),
        ("from tapwatch import daemon", "tapwatch.exporters.pages.finding", False),
        ("from ..daemon import auth", "tapwatch.exporters.web", False),
        ("from ...daemon.scheduler import AppState", "tapwatch.exporters.pages.apps", False),
        ("from ...daemon import x", "tapwatch.exporters.pages", True),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
            "    from tapwatch.daemon.runtime import Daemon",
            "tapwatch.exporters.view",
            False,
        ),
        ("def f():\n    import tapwatch.daemon.server", "tapwatch.exporters.web", False),
        ("from tapwatch.exporters import svg", "tapwatch.store.findings", False),
    ],
)
def test_the_check_catches_every_form_of_import(source: str, module: str, is_package: bool
                                                ) -> None:
    assert violations(source, module, is_package)


def test_the_check_lets_downward_imports_through() -> None:
    src = "from tapwatch.store.findings import FindingQuery\nfrom . import svg\nimport aiohttp"
    assert violations(src, "tapwatch.exporters.metrics") == []
    assert violations("from tapwatch.daemon import auth", "tapwatch.daemon.server") == []


def test_reading_a_dump_imports_neither_the_http_client_nor_the_adapters() -> None:
    """`tapwatch analyze` needs the normaliser, not aiohttp and every platform adapter
    (18 MiB of a 2M-event run's peak): the sources package imports none of them itself;
    nor asyncio and ssl, which only `run` and `demo` need (the command line imports them
    there)."""
    code = (
        "import sys, tapwatch.cli, tapwatch.analyze.cli\n"
        "bad = sorted(m for m in sys.modules if m in ('aiohttp', 'asyncio', 'ssl') or "
        "m.startswith(('tapwatch.sources.registry', 'tapwatch.sources.wecom', "
        "'tapwatch.daemon')))\n"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == ""


def test_numpy_matrix_products_stay_on_one_thread() -> None:
    """tapwatch keeps OpenBLAS to one thread (its spinning threads slowed the timestamp
    parse's small products several times and burned another core)."""
    code = (
        "import os, tapwatch, numpy as np\n"
        "from tapwatch.timestamps import epoch_seconds\n"
        "epoch_seconds(['2026-11-30T09:34:00.123+08:00'] * 5000)\n"
        "np.ones((200, 200)) @ np.ones((200, 200))\n"
        "print(len(os.listdir('/proc/self/task')))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS",
                                                             "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=env)
    assert out.stdout.strip() == "1"
