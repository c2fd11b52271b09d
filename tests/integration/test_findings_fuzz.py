"""Fuzz the findings API against its OpenAPI document with schemathesis: a live daemon on
127.0.0.1 with findings from the simulator, valid and invalid requests of every
operation, as an inspector. No answer may be a 5xx; every answer must be one the document
declares, with its schema; every error must carry `{"error": ..., "detail": ...}`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed")
from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.test_findings_api import hdr, simulated_daemon  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi" / "findings-api-v1.yaml"
schema = schemathesis.openapi.from_path(DOC)


@schemathesis.check
def error_body_has_error_and_detail(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every 4xx of the API is JSON with a string `error` and a `detail` key."""
    if 400 <= response.status_code < 500:
        if response.status_code == 400 and response.text.startswith("Got more than 8190 bytes"):
            return None  # aiohttp refused an oversized request line before any handler
        body = response.json()
        assert isinstance(body, dict), "error body is not a JSON object"
        assert isinstance(body.get("error"), str) and body["error"], "no error message"
        assert "detail" in body, "no detail key"
    return None


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    error_body_has_error_and_detail,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The daemon runs in its own thread and loop; schemathesis calls it synchronously."""
    tmp = tmp_path_factory.mktemp("fuzz")
    out: dict[str, Any] = {}
    ready = threading.Event()

    async def main() -> None:
        out["stop"] = asyncio.Event()
        try:
            async with simulated_daemon(
                tmp, apps=("risk-point-checkin", "cadre-academy"), history_days=40
            ) as (d, _, creds):
                out["url"] = f"http://127.0.0.1:{d.port}"
                out["headers"] = hdr("inspector", creds["inspector"])
                ready.set()
                await out["stop"].wait()
        finally:
            ready.set()

    loop = asyncio.new_event_loop()
    t = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    t.start()
    assert ready.wait(120) and "url" in out, "the daemon did not start"
    yield out
    loop.call_soon_threadsafe(out["stop"].set)
    t.join(30)
    loop.close()


@pytest.fixture
def live_url(live: dict[str, Any]) -> dict[str, Any]:
    return live


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_document(case: Any, live_url: dict[str, Any]) -> None:
    case.call_and_validate(
        base_url=live_url["url"],
        headers=dict(live_url["headers"]),
        checks=CHECKS,
        timeout=30,
    )


def test_fuzz_setup_uses_real_credentials(live: dict[str, Any]) -> None:
    """The fuzzing above is only meaningful logged in: the credentials work."""
    import requests

    r = requests.get(live["url"] + "/api/v1/findings", headers=live["headers"], timeout=10)
    assert r.status_code == 200 and r.json()["total"] > 0
