"""The inspector pages in headless Chromium (Debian's, not a downloaded build), with
JavaScript off: log in, filter findings, read a bulk check-in finding and a shutdown
score breakdown, record a decision. A screenshot of each page is saved under
tests/e2e/screenshots/ (git-ignored) for a person to look at.

Findings come from the daemon ingesting the simulator's fleet and running the real
detectors, as in production."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import aiohttp
import pytest
import pytest_asyncio

from tapwatch.detectors.assessment import SIGNALS
from tests.integration.test_findings_api import basic, simulated_daemon

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).parent / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.asyncio(loop_scope="module"),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="/usr/bin/chromium is not installed (scripts/setup-test-deps installs it)",
    ),
]
playwright_api = pytest.importorskip("playwright.async_api", reason="playwright is not installed")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("browser")
    async with simulated_daemon(tmp) as (d, _, creds):
        base = f"http://127.0.0.1:{d.port}"
        async with (
            aiohttp.ClientSession() as s,
            s.get(base + "/api/v1/findings?limit=500", headers=basic(creds, "inspector")) as r,
        ):
            findings = (await r.json())["findings"]
        async with playwright_api.async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            try:
                yield {"base": base, "creds": creds, "findings": findings, "browser": browser}
            finally:
                await browser.close()


async def logged_in(site: dict[str, Any], who: str) -> Any:
    """A JavaScript-less browser context logged in as `who`, recording every request."""
    ctx = await site["browser"].new_context(
        java_script_enabled=False, viewport={"width": 1200, "height": 900}
    )
    page = await ctx.new_page()
    page.requests = []  # type: ignore[attr-defined]
    page.on("request", lambda r: page.requests.append(r.url))  # type: ignore[attr-defined]
    await page.goto(site["base"] + "/findings")
    assert urlparse(page.url).path == "/login"
    await page.fill("input[name=username]", who)
    await page.fill("input[name=password]", site["creds"][who])
    await page.click("button[type=submit]")
    assert urlparse(page.url).path == "/findings"
    return ctx, page


def first(site: dict[str, Any], *kinds: str) -> dict[str, Any]:
    return next(f for f in site["findings"] if f["kind"] in kinds)


def only_local(page: Any, site: dict[str, Any]) -> None:
    """Everything the page loaded came from the daemon: no CDN, no tiles, no fonts."""
    others = [u for u in page.requests if not u.startswith(site["base"])]
    assert not others, others


async def test_login_page_and_findings_list(site: dict[str, Any]) -> None:
    SHOTS.mkdir(exist_ok=True)
    ctx = await site["browser"].new_context(java_script_enabled=False)
    page = await ctx.new_page()
    await page.goto(site["base"] + "/findings?app=risk-point-checkin&kind=bulk_checkin")
    assert urlparse(page.url).path == "/login"
    await page.fill("input[name=username]", "inspector")
    await page.fill("input[name=password]", "wrong")
    await page.click("button[type=submit]")
    assert await page.locator(".error").inner_text() == "Wrong user name or password."
    await page.screenshot(path=str(SHOTS / "login.png"))
    await page.fill("input[name=username]", "inspector")
    await page.fill("input[name=password]", site["creds"]["inspector"])
    await page.click("button[type=submit]")
    # the alert link's filters survive the detour through the login form
    assert page.url.endswith("/findings?app=risk-point-checkin&kind=bulk_checkin")
    cookie = next(c for c in await ctx.cookies() if c["name"] == "tapwatch_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    rows = page.locator("main table tbody tr")
    assert await rows.count() == sum(
        f["app"] == "risk-point-checkin" and f["kind"] == "bulk_checkin" for f in site["findings"]
    )
    await ctx.close()

    ctx, page = await logged_in(site, "inspector")
    assert await page.locator("main table tbody tr").count() == min(100, len(site["findings"]))
    await page.screenshot(path=str(SHOTS / "findings.png"), full_page=True)
    # the filter form: choose a kind, submit, the list follows
    await page.select_option("select[name=kind]", "study_inflation")
    await page.click("form.filters button[type=submit]")
    assert "kind=study_inflation" in page.url
    kinds = await page.locator("main table tbody tr td:nth-child(3)").all_inner_texts()
    assert kinds and set(kinds) == {"study_inflation"}
    only_local(page, site)
    await ctx.close()


async def test_bulk_checkin_finding_shows_positions_and_arrivals(site: dict[str, Any]) -> None:
    SHOTS.mkdir(exist_ok=True)
    f = first(site, "bulk_checkin")
    ctx, page = await logged_in(site, "inspector")
    await page.goto(site["base"] + f"/findings/{f['id']}")
    plots = page.locator("svg.plot")
    assert await plots.count() == 2
    assert await plots.nth(0).is_visible() and await plots.nth(1).is_visible()
    # one dot per located check-in of the timeline in the position plot
    async with (
        aiohttp.ClientSession() as s,
        s.get(
            site["base"] + f"/api/v1/findings/{f['id']}",
            headers=basic(site["creds"], "inspector"),
        ) as r,
    ):
        full = await r.json()
    located = [t for t in full["evidence"]["timeline"] if t["dx_m"] is not None]
    assert await plots.nth(0).locator("circle[r='3.5']").count() == len(located)
    # accounts are shown short and stable, the full pseudonym on hover
    acc = full["evidence"]["accounts"][0]
    span = page.locator(f"span[title='{acc}']").first
    assert await span.inner_text() == acc[:8]
    await page.screenshot(path=str(SHOTS / "bulk_checkin.png"), full_page=True)

    # a decision: confirm with a reason; the audit log and the held events show it
    await page.select_option("select[name=status]", "confirmed")
    await page.fill("textarea[name=reason]", "Seen on site: one person, a bag of phones.")
    await page.click("form[action$='/status'] button[type=submit]")
    assert urlparse(page.url).path == f"/findings/{f['id']}"
    assert await page.locator(".facts .status").first.inner_text() == "confirmed"
    audit = await page.locator("h2:has-text('Audit log') + table tbody tr").all_inner_texts()
    assert len(audit) == 1 and "Seen on site" in audit[0] and "inspector" in audit[0]
    assert "held for this confirmed finding" in await page.locator("main").inner_text()
    await page.screenshot(path=str(SHOTS / "bulk_checkin_confirmed.png"), full_page=True)
    only_local(page, site)
    await ctx.close()


async def test_viewer_sees_the_finding_without_personal_evidence(site: dict[str, Any]) -> None:
    SHOTS.mkdir(exist_ok=True)
    f = first(site, "bulk_checkin")
    ctx, page = await logged_in(site, "viewer")
    await page.goto(site["base"] + f"/findings/{f['id']}")
    text = await page.locator("main").inner_text()
    assert "shown to inspectors only" in text
    assert await page.locator("svg.plot").count() == 0
    assert await page.locator("form[action$='/status']").count() == 0
    evidence = await page.locator("details pre").text_content() or ""
    for key in ('"timeline"', '"coordinates"', '"event_ids"', '"accounts": ['):
        assert key not in evidence
    json.loads(evidence)  # still valid JSON (only shortened pseudonyms would change it)
    await page.screenshot(path=str(SHOTS / "bulk_checkin_viewer.png"), full_page=True)
    await ctx.close()


async def test_shutdown_score_breakdown_and_apps_page(site: dict[str, Any]) -> None:
    SHOTS.mkdir(exist_ok=True)
    f = first(site, "shutdown_candidate", "needs_review")
    ctx, page = await logged_in(site, "viewer")
    await page.goto(site["base"] + "/apps")
    assert await page.locator("h1").inner_text() == "Apps"
    await page.screenshot(path=str(SHOTS / "apps.png"), full_page=True)
    await page.click(f"a[href='/findings/{f['id']}']")
    assert urlparse(page.url).path == f"/findings/{f['id']}"
    table = page.locator("h2:has-text('Shutdown score breakdown') ~ table").first
    names = await table.locator("tbody tr td:first-child").all_inner_texts()
    assert set(names) == set(SIGNALS)
    assert await page.locator("svg.plot").count() == 2  # points per signal, weekly trend
    await page.screenshot(path=str(SHOTS / "shutdown_breakdown.png"), full_page=True)
    only_local(page, site)
    await ctx.close()
