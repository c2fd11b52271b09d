"""Memory a source adapter holds while it reads a big backlog: a file drop (JSONL, CSV),
a paged JSON API and a check-in platform, each polled to the end.

Generates N check-ins (tapwatch.simulator.dumps) and serves them, without a network, to
each adapter as it would get them: the drop directory's files; the JSON API's pages as
bytes decoded by the adapter's own `_page` path (its request replaced by a list of page
bodies); the check-in platform's records calls as decoded answers. Each variant runs in
a subprocess of its own, twice: under tracemalloc (the peak of Python's allocations
during the poll) and without it (the process's peak RSS during the poll, less its RSS
before: Linux's peak is reset first).
The consumer keeps each batch until it asks for the next one, as the scheduler does.
A variant polled over one page only gives the floor: what one page costs on its own.
Over all pages the peak also holds what the poll's normaliser keeps (the pseudonyms of
the accounts and devices seen: 200k accounts here), the same before and after a change
to an adapter. Figures only: nothing here asserts.

    .venv/bin/python bench/bench_source_memory.py [--events 200000] [--page 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

from common import rss_mib
from tapwatch.config import FileSourceConfig, JsonSourceConfig, PlatformUsers
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator.dumps import write_checkin_dump
from tapwatch.sources.base import PollContext
from tapwatch.sources.checkin_platform import CallLimits, CheckinPlatformSource
from tapwatch.sources.files import FileDropSource
from tapwatch.sources.json_api import JsonApiSource

VARIANTS = ("files-jsonl", "files-csv", "json-api", "checkin-platform")
_json = msgspec.json.Decoder()


def _ctx(cursor: str | None = None) -> PollContext:
    return PollContext(
        app_id="bench", session=None, pseudonymizer=Pseudonymizer(b"k" * 32),
        now=lambda: 2_000_000_000.0, timeout=10, max_response_bytes=1 << 30,
        max_clock_skew=600, oldest_accepted=0, cursor=cursor,
    )


def _pages(lines: list[bytes], page: int) -> list[list[bytes]]:
    return [lines[i : i + page] for i in range(0, len(lines), page)]


class _PagedJsonApi(JsonApiSource):
    """The JSON adapter with its request answered from page bodies (cursor = page number)."""

    def __init__(self, bodies: list[bytes]) -> None:
        super().__init__(JsonSourceConfig.model_validate({
            "kind": "json", "url": "http://bench.invalid/events", "items": "items",
            "fields": {f: f for f in (
                "id", "ts", "type", "account", "device", "lat", "lon", "accuracy_m", "point",
            )},
            "paging": {"kind": "cursor", "next_cursor": "next", "cursor_param": "cursor"},
            "max_pages_per_cycle": 10**6,
        }))
        self._bodies = bodies

    async def _page(self, ctx: PollContext, values: dict[str, Any], extra: dict[str, str]) -> Any:
        return _json.decode(self._bodies[int(values.get("cursor") or 0)])


class _Platform(CheckinPlatformSource):
    """A check-in platform whose records calls answer from page bodies, one user batch
    each (the adapter's path from a call's records to a batch, without the network)."""

    limits = CallLimits(max_users=1, max_span_s=10**9)

    def __init__(self, bodies: list[bytes]) -> None:
        users = PlatformUsers(user_ids=[f"u{i}" for i in range(len(bodies))])
        super().__init__(users, backfill=86400.0, overlap=0.0)
        self._bodies = {f"u{i}": b for i, b in enumerate(bodies)}

    async def list_department_users(self, ctx: PollContext, departments: list[int]) -> list[str]:
        return []

    async def fetch(
        self, ctx: PollContext, users: list[str], start: float, end: float
    ) -> list[Any]:
        return _json.decode(self._bodies[users[0]])["items"]

    def to_rows(
        self, records: list[Any], ctx: PollContext
    ) -> tuple[list[dict[str, Any]], Counter[str]]:
        return [dict(r) for r in records], Counter()


def _source(variant: str, data: Path, pages: int | None, page: int) -> tuple[Any, PollContext]:
    if variant.startswith("files"):
        drop = data / variant / str(pages)
        return FileDropSource(FileSourceConfig(kind="file", path=drop), chunk=page), _ctx()
    lines = (data / "dump.jsonl").read_bytes().splitlines()
    if pages is not None:
        lines = lines[: pages * page]
    bodies = []
    chunks = _pages(lines, page)
    for k, chunk in enumerate(chunks):
        nxt = f',"next":"{k + 1}"' if k + 1 < len(chunks) else ""
        bodies.append(b'{"items":[' + b",".join(chunk) + b"]" + nxt.encode() + b"}")
    if variant == "json-api":
        return _PagedJsonApi(bodies), _ctx()
    return _Platform(bodies), _ctx()


async def _drain(poll: AsyncIterator[Any]) -> int:
    n = 0
    async for batch in poll:  # held until the next is asked for, as the scheduler does
        n += len(batch.events)
    return n


def child(variant: str, data: Path, pages: int | None, page: int, trace: bool) -> None:
    src, ctx = _source(variant, data, pages, page)
    Path("/proc/self/clear_refs").write_text("5")  # the peak RSS from here on
    before = rss_mib()[0]
    if trace:
        tracemalloc.start()
    started = time.process_time()
    n = asyncio.run(_drain(src.poll(ctx)))
    cpu = time.process_time() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace else 0.0
    print(json.dumps({"events": n, "cpu_s": cpu, "traced_peak_mib": peak,
                      "rss_growth_mib": rss_mib()[1] - before}))


def _prepare(data: Path, events: int, page: int) -> None:
    write_checkin_dump(data / "dump.jsonl", events)
    lines = (data / "dump.jsonl").read_bytes().splitlines()
    for pages in (1, 2, None):
        chunk = lines if pages is None else lines[: pages * page]
        for kind in ("jsonl", "csv"):
            drop = data / f"files-{kind}" / str(pages)
            drop.mkdir(parents=True)
            if kind == "jsonl":
                (drop / "a.jsonl").write_bytes(b"\n".join(chunk) + b"\n")
                continue
            rows = [json.loads(x) for x in chunk]
            with (drop / "a.csv").open("w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--page", type=int, default=5000, help="records per page or file chunk")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        variant, data, pages, trace = args.child
        child(variant, Path(data), None if pages == "all" else int(pages), args.page,
              trace == "trace")
        return
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        _prepare(data, args.events, args.page)
        print(f"{args.events} check-ins, pages of {args.page}")
        print(f"{'variant':18} {'pages':>6} {'traced peak MiB':>16} {'RSS growth MiB':>15} "
              f"{'CPU s':>6}")
        for variant in VARIANTS:
            for pages in ("1", "2", "all"):
                got = {}
                for trace in ("trace", "rss"):
                    out = subprocess.run(
                        [sys.executable, __file__, "--page", str(args.page),
                         "--child", variant, str(data), pages, trace],
                        capture_output=True, text=True, check=True,
                    )
                    got[trace] = json.loads(out.stdout)
                print(f"{variant:18} {pages:>6} {got['trace']['traced_peak_mib']:16.1f} "
                      f"{got['rss']['rss_growth_mib']:15.1f} {got['rss']['cpu_s']:6.2f}")


if __name__ == "__main__":
    main()
