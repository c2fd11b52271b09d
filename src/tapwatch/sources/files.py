"""File drops: a directory of JSONL or CSV files, each ingested once, resumable.

Writers should drop files atomically (write, then rename into the directory); names
starting with '.' or ending in .tmp/.part are ignored. Files are taken in name order. The
cursor is the file in progress and the number of records consumed, committed with each
batch, so a crash resumes mid-file; a finished file is recorded and never read again.
"""

from __future__ import annotations

import asyncio
import csv
import fnmatch
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from tapwatch.columns import EventColumns
from tapwatch.config import FileSourceConfig
from tapwatch.sources.base import (
    ErrorReason,
    EventNormaliser,
    PollContext,
    SourceError,
    parse_json_cursor,
)
from tapwatch.store.sqlite import IngestBatch

EVENT_FILE_SUFFIXES = (".jsonl", ".ndjson", ".csv")
CHUNK = 5000


def iter_records(path: Path, skip: int = 0, chunk: int = CHUNK) -> Iterator[list[Any]]:
    """Yield chunks of records from a JSONL file (raw line bytes) or a CSV file (dicts
    keyed by the header row), skipping the first `skip` records."""
    if path.suffix == ".csv":
        with path.open("r", encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            buf: list[Any] = []
            for i, row in enumerate(reader):
                if i < skip:
                    continue
                buf.append(row)
                if len(buf) >= chunk:
                    yield buf
                    buf = []
            if buf:
                yield buf
        return
    with path.open("rb") as f:
        buf = []
        i = 0
        for line in f:
            line = line.strip()
            if not line:
                continue
            i += 1
            if i <= skip:
                continue
            buf.append(line)
            if len(buf) >= chunk:
                yield buf
                buf = []
        if buf:
            yield buf


def _read_into(chunks: Iterator[list[Any]], read: list[list[Any]]) -> None:
    """The next chunk, if any, put in `read` rather than returned: the pool's worker
    holds a call's result until it is back in its loop, which may be after the poll has
    normalised the chunk and asked another worker for the next one (seen in a test: two
    chunks alive at once)."""
    chunk = next(chunks, None)
    if chunk is not None:
        read.append(chunk)


def normalise_records(norm: EventNormaliser, records: list[Any]) -> EventColumns:
    """Events from a chunk of records (raw JSONL lines or CSV dicts), as columns."""
    if records and isinstance(records[0], dict):
        return norm.from_rows(records)
    return norm.from_jsonl(records)


def is_event_file(name: str) -> bool:
    return (
        not name.startswith(".")
        and not name.endswith((".tmp", ".part"))
        and name.endswith(EVENT_FILE_SUFFIXES)
    )


class FileDropSource:
    def __init__(self, cfg: FileSourceConfig, chunk: int = CHUNK) -> None:
        self.cfg = cfg
        self.chunk = chunk  # records per batch (one transaction each)

    def _pending(self, done: set[str]) -> list[Path]:
        d = self.cfg.path
        if not d.is_dir():
            raise SourceError(ErrorReason.connect, f"drop directory {str(d)!r} does not exist")
        return sorted(
            p
            for p in d.iterdir()
            if p.is_file()
            and is_event_file(p.name)
            and fnmatch.fnmatch(p.name, self.cfg.pattern)
            and p.name not in done
        )

    async def poll(self, ctx: PollContext) -> AsyncIterator[IngestBatch]:
        pending = await asyncio.to_thread(self._pending, ctx.files_done)
        resume = parse_json_cursor(ctx.cursor)
        for path in pending:
            skip = resume.get("records", 0) if resume.get("file") == path.name else 0
            norm = ctx.normaliser()
            chunks = iter_records(path, skip, self.chunk)
            consumed = skip
            while True:
                read: list[list[Any]] = []
                try:
                    await asyncio.to_thread(_read_into, chunks, read)
                except (OSError, UnicodeDecodeError, csv.Error) as e:
                    raise SourceError(ErrorReason.decode, f"{path.name}: {e}") from None
                if not read:
                    break
                records = read.pop()
                consumed += len(records)
                events = normalise_records(norm, records)
                # the chunk's records (a bytes or a dict per line) go now, not when the
                # next chunk read replaces them: a chunk is held once, not twice
                del records
                yield IngestBatch(
                    events=events,
                    rejected=norm.take_rejected(),
                    cursor=json.dumps({"file": path.name, "records": consumed}),
                )
            yield IngestBatch(file_done=(path.name, path.stat().st_size), cursor="")
