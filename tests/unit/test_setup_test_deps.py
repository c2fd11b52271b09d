"""scripts/setup-test-deps installs only what is missing, stops only the services of the
packages it installed (through the service manager), and never kills a process by name:
other helpers' and users' Prometheus processes are not its business."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "setup-test-deps"
#: commands the script may call; each stub records its arguments
STUBS = ("apt-get", "systemctl", "service", "pkill", "killall", "kill")


def run_with(tmp_path: Path, present: tuple[str, ...], uid: int = 0) -> tuple[int, list[str]]:
    """Run the script with only stubs on PATH: `present` programs exist, `id -u` says uid."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    for name in (*STUBS, *present):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n')
        stub.chmod(0o755)
    ident = bin_dir / "id"
    ident.write_text(f"#!/bin/sh\necho {uid}\n")
    ident.chmod(0o755)
    proc = subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        env={"PATH": str(bin_dir), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return proc.returncode, calls


def test_nothing_to_do_when_everything_is_installed(tmp_path: Path) -> None:
    code, calls = run_with(tmp_path, ("promtool", "prometheus-alertmanager", "chromium"))
    assert (code, calls) == (0, [])


def test_installs_what_is_missing_and_stops_only_that_service(tmp_path: Path) -> None:
    code, calls = run_with(tmp_path, ("prometheus-alertmanager", "chromium"))
    assert code == 0
    assert calls == [
        "apt-get update -qq",
        "apt-get install -y -qq --no-install-recommends prometheus",
        "systemctl stop prometheus",
    ]


def test_a_missing_browser_alone_stops_no_service(tmp_path: Path) -> None:
    code, calls = run_with(tmp_path, ("promtool", "alertmanager"))
    assert code == 0
    assert calls[-1] == "apt-get install -y -qq --no-install-recommends chromium"
    assert not any(c.split()[0] in ("systemctl", "service") for c in calls)


def test_needs_root_only_to_install(tmp_path: Path) -> None:
    code, calls = run_with(tmp_path, ("chromium",), uid=1000)
    assert code == 1 and calls == []


def test_the_script_kills_nothing_by_name() -> None:
    text = SCRIPT.read_text()
    code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
    for word in ("pkill", "killall", "kill "):
        assert word not in code
