"""numpy + msgspec (what tapwatch uses) against pyarrow, polars and DuckDB on the columnar
pipeline's own work, one core each, same data, same run:

  page     a usage API page of 1,000 events (JSON) to typed columns: the daemon's unit of
           work (the other libraries read NDJSON, so the page's events are joined by
           newlines for them first; that join is counted)
  page_object  the same page read as it comes, one JSON object whose `events` list the
           other libraries read natively (a row holding a list of structs, flattened into
           columns): no split, no join; numpy + msgspec as in `page`
  file     a 200,000-line JSONL chunk of check-ins to typed columns: analyze's unit
  rollup   per-(day, account) counts and first/last second of a 200,000-event batch

Times are CPU seconds per event (best of --repeat runs; threads limited to one: pyarrow
use_threads=False, POLARS_MAX_THREADS=1, DuckDB threads=1). A library that is not
installed is reported as such. Figures only; bench/README.md has the comparison.

    .venv/bin/python bench/bench_columnar_libs.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # before polars is imported

import msgspec
import numpy as np

from common import figure
from tapwatch.analyze.reader import SLICE
from tapwatch.events import decode_jsonl, decode_page
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.simulator import Simulator, SimulatorOptions
from tapwatch.simulator.dumps import write_checkin_dump
from tapwatch.sources.normalise import _wire_columns
from tapwatch.window import rollup

TZ = ZoneInfo("Asia/Shanghai")
STRINGS = ("id", "ts", "type", "account", "unit", "device", "device_model", "network",
           "point", "target", "content_hash", "photo_hash", "app")
FLOATS = ("lat", "lon", "accuracy_m", "duration_s", "playback_rate", "position_s")


def best(fn: Callable[[], object], n: int, repeat: int) -> float:
    """Best CPU seconds per item over `repeat` runs."""
    out = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        out = min(out, time.process_time() - t0)
    return out / n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="small sizes: proves the script works")
    args = ap.parse_args(argv)
    lines_n = 20_000 if args.quick else 200_000

    sim = Simulator(SimulatorOptions(history_days=3, scale=8, extra_apps=1, include=["load-00001"]))
    events = list(sim.iter_events("load-00001"))[:1000]
    page = json.dumps({"events": events, "next_cursor": "c", "has_more": True}).encode()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chunk.jsonl"
        write_checkin_dump(path, lines_n)
        chunk = path.read_bytes()
    n_lines = chunk.count(b"\n")

    libs: dict[str, dict[str, Callable[[], object]]] = {}

    # -- numpy + msgspec: what the pipeline does ------------------------------------------
    def ours_page() -> object:
        p = decode_page(page)
        return _columns_np(_wire_columns(p.events))  # type: ignore[arg-type]

    def ours_file() -> object:
        # as analyze's reader: one msgspec call per block, columns a slice at a time
        events = decode_jsonl(chunk, n_lines)
        assert events is not None
        return [
            _columns_np(_wire_columns(events[lo : lo + SLICE]))  # type: ignore[arg-type]
            for lo in range(0, len(events), SLICE)
        ]

    from tapwatch.sources.normalise import EventNormaliser

    norm = EventNormaliser("a", Pseudonymizer(b"k" * 32), 2e9, 600, 0)
    batch = norm.from_jsonl(chunk.splitlines())

    libs["numpy+msgspec"] = {
        "page": ours_page,
        "page_object": ours_page,
        "file": ours_file,
        "rollup": lambda: rollup(batch, TZ),
    }

    # -- pyarrow ---------------------------------------------------------------------
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.json as pj

        schema = pa.schema(
            [(f, pa.string()) for f in STRINGS] + [(f, pa.float64()) for f in FLOATS]
        )
        ro = pj.ReadOptions(use_threads=False, block_size=64 << 20)
        po = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")

        def arrow_read(data: bytes) -> object:
            t = pj.read_json(io.BytesIO(data), read_options=ro, parse_options=po)
            ts = pc.strptime(t["ts"], format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True)
            return t, ts, [pc.dictionary_encode(t[f]) for f in ("account", "device", "point")]

        def arrow_page() -> object:
            return arrow_read(b"\n".join(decode_page_raw(page)))

        page_schema = pa.schema([("events", pa.list_(pa.struct(list(schema))))])

        def arrow_page_object() -> object:
            t = pj.read_json(
                io.BytesIO(page),
                read_options=ro,
                parse_options=pj.ParseOptions(
                    explicit_schema=page_schema, unexpected_field_behavior="ignore"
                ),
            )
            ev = t.column("events").combine_chunks().flatten()
            ts = pc.strptime(
                ev.field("ts"), format="%Y-%m-%dT%H:%M:%S%z", unit="us", error_is_null=True
            )
            codes = [pc.dictionary_encode(ev.field(f)) for f in ("account", "device", "point")]
            return ev, ts, codes

        libs["pyarrow"] = {
            "page": arrow_page,
            "page_object": arrow_page_object,
            "file": lambda: arrow_read(chunk),
        }
    except ImportError:
        figure("skipped", library="pyarrow", reason="not installed")

    # -- polars ----------------------------------------------------------------------
    try:
        import polars as pl

        pschema = {**dict.fromkeys(STRINGS, pl.String), **dict.fromkeys(FLOATS, pl.Float64)}

        def polars_read(data: bytes) -> object:
            df = pl.read_ndjson(io.BytesIO(data), schema=pschema)
            return df.select(
                pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False),
                *[pl.col(f).cast(pl.Categorical).to_physical() for f in ("account", "device")],
                *[pl.col(f) for f in FLOATS],
            )

        bdf = pl.DataFrame(
            {
                "day": (batch.ts // 86400).astype(np.int64),
                "account": batch.account,
                "sod": batch.ts % 86400,
            }
        )
        def polars_page_object() -> object:
            df = pl.read_json(io.BytesIO(page), schema={"events": pl.List(pl.Struct(pschema))})
            return df.select(pl.col("events").explode()).unnest("events").select(
                pl.col("ts").str.to_datetime("%Y-%m-%dT%H:%M:%S%:z", strict=False),
                *[pl.col(f).cast(pl.Categorical).to_physical() for f in ("account", "device")],
                *[pl.col(f) for f in FLOATS],
            )

        libs["polars"] = {
            "page": lambda: polars_read(b"\n".join(decode_page_raw(page))),
            "page_object": polars_page_object,
            "file": lambda: polars_read(chunk),
            "rollup": lambda: bdf.group_by("day", "account").agg(
                pl.len(), pl.col("sod").min().alias("first"), pl.col("sod").max().alias("last")
            ),
        }
    except ImportError:
        figure("skipped", library="polars", reason="not installed")

    # -- DuckDB ----------------------------------------------------------------------
    try:
        import duckdb

        con = duckdb.connect()
        con.execute("SET threads=1")
        with tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False) as f:
            f.write(chunk)
            chunk_path = f.name
        cols = ", ".join(
            [f"{f}: 'VARCHAR'" for f in STRINGS] + [f"{f}: 'DOUBLE'" for f in FLOATS]
        )
        ddb_rollup = {
            "day": (batch.ts // 86400).astype(np.int64),
            "account": batch.account,
            "sod": batch.ts % 86400,
        }
        con.register("b", ddb_rollup)
        libs["duckdb"] = {
            "file": lambda: con.execute(
                f"SELECT * FROM read_json('{chunk_path}', format='newline_delimited', "
                f"columns={{{cols}}})"
            ).fetchnumpy(),
            "rollup": lambda: con.execute(
                "SELECT day, account, count(*), min(sod), max(sod) FROM b GROUP BY 1, 2"
            ).fetchnumpy(),
        }
    except ImportError:
        figure("skipped", library="duckdb", reason="not installed")

    sizes = {"page": len(events), "page_object": len(events), "file": n_lines, "rollup": len(batch)}
    for lib, tasks in libs.items():
        for task, fn in tasks.items():
            fn()  # warm: imports, caches
            per = best(fn, sizes[task], args.repeat)
            figure("cpu", library=lib, task=task, events=sizes[task], ns_per_event=per * 1e9)
    return 0


def _columns_np(cols: dict[str, tuple]) -> dict[str, object]:
    """The typed numpy columns the pipeline makes of decoded fields (times, floats,
    dictionary codes of three string columns): the like of what the others produce."""
    from tapwatch.timestamps import epoch_seconds

    out: dict[str, object] = {"ts": epoch_seconds(cols["ts"])[0]}
    for f in FLOATS:
        out[f] = np.array(cols[f], dtype=np.float64)
    for f in ("account", "device", "point"):
        d: dict[object, int] = dict.fromkeys(cols[f])  # type: ignore[assignment]
        codes = dict(zip(d, range(len(d)), strict=True))
        out[f] = np.fromiter(map(codes.__getitem__, cols[f]), dtype=np.int32, count=len(cols[f]))
    return out


class _RawPage(msgspec.Struct):
    events: list[msgspec.Raw]


def decode_page_raw(body: bytes) -> list[bytes]:
    """The page's event bodies (what NDJSON readers need), split out by msgspec."""
    return [bytes(r) for r in msgspec.json.decode(body, type=_RawPage).events]


if __name__ == "__main__":
    sys.exit(main())
