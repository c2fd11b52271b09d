"""Every page escapes what comes from the registry and the data: an app whose name, owner,
region and point carry HTML is shown as text on the home page, the apps page, the findings
list and its finding pages, and never as markup."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp
import pytest

from tapwatch.daemon.auth import create_demo_users
from tapwatch.daemon.runtime import Daemon
from tests.integration.conftest import app_entry, wait_for, write_daemon_config
from tests.integration.fakeapps import FakeApp, FakeFleet

HOSTILE = "<b id=x>&\"'</b>"
ESCAPED = "&lt;b id=x&gt;&amp;&quot;&#x27;&lt;/b&gt;"


@pytest.mark.timeout(120)
async def test_every_page_escapes_registry_text(tmp_path: Path) -> None:
    fleet = FakeFleet([FakeApp("hostile-app", n_events=40)])
    await fleet.start()
    creds = create_demo_users(tmp_path / "auth")
    entries = [
        app_entry(
            "hostile-app",
            fleet.url("hostile-app"),
            name=f"Name {HOSTILE}",
            owner=f"Owner {HOSTILE}",
            region=f"Region {HOSTILE}",
            declared_features=["checkin"],  # a banned_feature finding to open
        )
    ]
    server = {"listen": "127.0.0.1:0", "users_file": str(tmp_path / "auth/users.yaml")}
    d = Daemon(write_daemon_config(tmp_path, entries, extra={"server": server}))
    await d.start()
    try:
        await wait_for(lambda: d.states["hostile-app"].caught_up, timeout=30)
        await d.detect_once()
        base = f"http://127.0.0.1:{d.port}"
        auth = {"Authorization": aiohttp.encode_basic_auth("inspector", creds["inspector"])}
        async with aiohttp.ClientSession(headers=auth) as s:
            async with s.get(f"{base}/api/v1/findings") as r:
                ids = [f["id"] for f in (await r.json())["findings"]]
            assert ids
            pages = ["/", "/apps", "/findings", "/findings?app=hostile-app"]
            pages += [f"/findings/{fid}" for fid in ids]
            for path in pages:
                async with s.get(base + path) as r:
                    text = await r.text()
                    assert r.status == 200, path
                    assert r.content_type == "text/html"
                assert "<b id=x>" not in text, path
                assert ESCAPED in text, path
                assert re.search(r"<link rel='stylesheet' href='/static/tapwatch.css'>", text)
            # the home page: styled as the others, and the way to the apps and findings
            async with s.get(base + "/") as r:
                home = await r.text()
            for link in ("/apps", "/findings", "/metrics", "/debug/apps"):
                assert f"<a href='{link}'>" in home
            assert "<a href='/debug/apps/hostile-app'>hostile-app</a>" in home
    finally:
        await d.stop()
        await fleet.stop()
