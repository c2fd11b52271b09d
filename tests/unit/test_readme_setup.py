"""README's "Running it for real" step 3, run as written on a fresh clone (no var/)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def step_three_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    step = text[text.index("3. Create the pseudonymisation key") :]
    block = re.search(r"```sh\n(.*?)```", step, re.S)
    assert block, "step 3 shows its commands in a sh block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_step_three_works_on_a_fresh_clone(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "config", tmp_path / "config")
    assert not (tmp_path / "var").exists()
    commands = step_three_commands()
    assert commands[-1] == "tapwatch run --config config/tapwatch.yaml"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for cmd in commands[:-1]:  # all but the daemon itself
        argv = shlex.split(cmd)
        if "*" in cmd:  # the shell's glob
            argv = [a for arg in argv for a in (sorted(map(str, tmp_path.glob(arg))) or [arg])]
        if argv[0] == "tapwatch":
            argv = [sys.executable, "-m", "tapwatch", *argv[1:]]
        r = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, env=env)
        assert r.returncode == 0, (cmd, r.stderr)
    key = tmp_path / "var" / "pseudonym.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(bytes.fromhex(key.read_text().strip())) == 32
    # running it again never replaces the key (links to pseudonymised data would break)
    before = key.read_bytes()
    r = subprocess.run(
        [sys.executable, "-m", "tapwatch", "gen-key", "var/pseudonym.key"],
        cwd=tmp_path, capture_output=True, text=True, env=env,
    )
    assert r.returncode == 1 and "exists" in r.stderr and key.read_bytes() == before
