"""`tapwatch demo` starts the simulated fleet and the daemon, prints its URLs and a live
table, and serves /metrics."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import aiohttp


async def test_demo_prints_urls_table_and_serves_metrics(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tapwatch", "demo", "--state-dir", str(tmp_path / "demo"),
        "--duration", "25", "--refresh", "4", "--scale", "0.2",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    out = ""
    url = None
    try:
        while url is None:
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, f"demo exited early:\n{out}"
            out += line
            m = re.search(r"(http://127\.0\.0\.1:\d+/metrics)", line)
            url = m.group(1) if m else None
        async with aiohttp.ClientSession() as s, s.get(url) as r:
            assert r.status == 200
            assert "tapwatch_app_info" in await r.text()
        # the URLs printed before /metrics, and those after it
        while "state and config:" not in out:
            out += (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        seen = {}
        async with aiohttp.ClientSession() as s:
            for link in re.findall(r"(http://127\.0\.0\.1:\d+/\S*)", out):
                async with s.get(link, allow_redirects=False) as r:
                    seen[link] = r.status
        rest, _ = await asyncio.wait_for(proc.communicate(), 90)
        out += rest.decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, out
    assert "findings:" in out and "login:" in out
    # every URL the demo printed answers (the pages that need a login send you to it)
    printed = re.findall(r"^[a-z ]+:\s+(http://127\.0\.0\.1:\d+/\S*)", out, re.MULTILINE)
    assert len(printed) == 6, out
    for link in printed:
        assert link in seen, (link, seen)
        assert seen[link] in (200, 303), (link, seen[link])
    table = out.split("app ")[-1]
    for app in ("daily-work", "risk-point-checkin", "empty-shell", "fault-http-500",
                "wecom-risk-points", "dingtalk-attendance", "mp-notices-1", "mp-notices-2"):
        assert app in table
    # the platform apps are polled through the real adapters
    for app in ("wecom-risk-points", "dingtalk-attendance", "mp-notices-1"):
        assert re.search(rf"{app}\s+up\s+", out), app
    assert re.search(r"wecom-risk-points\s+up\s+[1-9]\d*\s", out)
    assert re.search(r"fault-http-500\s+DOWN", out)
    assert re.search(r"daily-work\s+up\s+\d+", out)
