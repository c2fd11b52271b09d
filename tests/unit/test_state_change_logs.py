"""Logs say what changed, once: a reject reason when it starts and when it stops, a failing
poll when it starts (its traceback too if the failure is our own bug) and when it recovers.
Counts go to metrics, never one log line per poll or per event."""

from __future__ import annotations

import logging
import random
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tapwatch.config import AppConfig, CollectorConfig
from tapwatch.daemon.scheduler import AppPoller, AppState
from tapwatch.daemon.store_thread import AsyncStore
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.base import ErrorReason, PollContext, SourceError
from tapwatch.sources.normalise import EventNormaliser, RejectLog
from tapwatch.store.sqlite import IngestBatch

NOW = 1_780_000_000.0


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_a_reject_reason_is_logged_when_it_starts_and_when_it_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tapwatch.sources")
    log = RejectLog("app")
    good = b'{"id":"g%d","ts":1780000000,"type":"read","account":"u"}'
    bad_type = b'{"id":"b%d","ts":1780000000,"type":"teleport","account":"u"}'
    bad_time = b'{"id":"t%d","ts":"soon","type":"read","account":"u"}'
    polls: list[tuple[list[bytes], list[str]]] = [
        # (bodies of the poll, what the log says after it)
        ([good % 1, bad_type % 1, bad_type % 2], ["rejecting events (unknown_event_type)"]),
        ([bad_type % 3, good % 2], []),  # goes on: nothing new to say
        ([bad_type % 4, bad_time % 1], ["rejecting events (invalid_timestamp)"]),
        ([], []),  # nothing fetched: nothing cleared either
        ([good % 3, bad_time % 2], ["no more rejected events (unknown_event_type)"]),
        ([good % 4], ["no more rejected events (invalid_timestamp)"]),
        ([good % 5], []),
        ([bad_type % 5], ["rejecting events (unknown_event_type)"]),  # again, after it cleared
    ]
    norm_counts = []
    for bodies, said in polls:
        caplog.clear()
        norm = EventNormaliser("app", Pseudonymizer(b"k" * 32), NOW, 600, 0, log)
        if bodies:
            norm.from_bodies(bodies)
        norm_counts.append(dict(norm.take_rejected()))
        log.poll_done()
        assert [m.removeprefix("app app: ").split(":")[0] for m in _messages(caplog)] == said
    # the counts are all there, for the metrics
    assert norm_counts[0] == {"unknown_event_type": 2}
    assert norm_counts[2] == {"unknown_event_type": 1, "invalid_timestamp": 1}


class _Flaky:
    """A source that fails (a bug of ours, or a typed failure) while `fail` says so."""

    def __init__(self) -> None:
        self.fail: Exception | None = None

    async def poll(self, ctx: PollContext) -> AsyncIterator[IngestBatch]:
        if self.fail is not None:
            raise self.fail
        yield IngestBatch(cursor="c")


async def test_an_internal_error_logs_its_traceback_once_per_failing_spell(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tapwatch.scheduler")
    app = AppConfig.model_validate(
        {
            "id": "flaky", "name": "Flaky", "owner": "o", "region": "r", "category": "c",
            "launched": "2024-01-01", "intended_users": 1,
            "source": {"kind": "usage_api", "url": "http://127.0.0.1:9/x"},
        }
    )
    source = _Flaky()
    store = AsyncStore(tmp_path / "s.sqlite")
    async with aiohttp.ClientSession() as session:
        poller = AppPoller(
            app, source, store=store, session=session, pseudonymizer=Pseudonymizer(b"k" * 32),
            collector=CollectorConfig(), rollup_retention=400 * 86400.0,
            state=AppState(interval=30), on_cycle=lambda: None, clock=lambda: NOW,
            rng=random.Random(1),
        )
        spells = [
            (KeyError("boom"), 3),
            (None, 2),
            (SourceError(ErrorReason.timeout, "no answer"), 2),
            (ValueError("bang"), 2),  # another reason: a new state, logged
            (None, 1),
        ]
        for fail, polls in spells:
            source.fail = fail
            for _ in range(polls):
                await poller.poll_once()
    store.close()
    msgs = _messages(caplog)
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert [r.getMessage() for r in tracebacks] == [
        "app flaky: polling failing (internal): KeyError: 'boom'",
        "app flaky: polling failing (internal): ValueError: bang",
    ]
    assert [m for m in msgs if "polling failing" in m] == [
        "app flaky: polling failing (internal): KeyError: 'boom'",
        "app flaky: polling failing (timeout): no answer",
        "app flaky: polling failing (internal): ValueError: bang",
    ]
    assert [m for m in msgs if "recovered" in m] == [
        "app flaky: recovered after 3 failed polls",
        "app flaky: recovered after 4 failed polls",
    ]
    assert poller.state.errors == {"internal": 5, "timeout": 2}  # every one counted
