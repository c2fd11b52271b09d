"""A start that fails (port taken) says why in one line and leaves nothing open."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import write_daemon_config


def test_a_taken_port_is_one_clear_line_without_unclosed_sessions(tmp_path: Path) -> None:
    cfg = write_daemon_config(tmp_path, [])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run(
            [sys.executable, "-m", "tapwatch", "run", "--config", str(cfg),
             "--listen", f"127.0.0.1:{port}"],
            capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONDEVMODE": "1"},
        )
    assert r.returncode == 1
    assert "address already in use" in r.stderr
    for noise in ("Unclosed", "Traceback", "ResourceWarning", "Task was destroyed"):
        assert noise not in r.stderr, r.stderr
