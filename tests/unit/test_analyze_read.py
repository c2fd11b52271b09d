"""`analyze` reads a dump into the daemon's columns: the same pseudonyms and values as the
daemon's normaliser, coded once into each app's shared tables (a raw id keeps its code
from chunk to chunk and file to file), rejects counted by reason, repeated ids judged once."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from tapwatch.analyze import analyze_files
from tapwatch.analyze.reader import DumpReader
from tapwatch.columns import EventColumns
from tapwatch.events import WireEvent
from tapwatch.pseudonym import Pseudonymizer
from tapwatch.sources.normalise import EventNormaliser

KEY = b"k" * 32
T0 = 1_780_000_000.0  # 2026-05-28T20:26:40Z


def event(i: int, **extra: object) -> dict[str, object]:
    return {
        "app": "a",
        "id": f"e{i}",
        "ts": T0 + 60 * i,
        "type": "checkin",
        "account": f"u{i % 7}",
        "device": f"d{i % 5}",
        "network": f"n{i % 3}",
        # a point named as an account is raw, its own value: not the account's pseudonym
        "point": "u1" if i % 4 == 0 else f"p{i % 2}",
        "device_model": "Phone X",
        **extra,
    }


def write(path: Path, events: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def read_all(reader: DumpReader, *paths: Path) -> list[EventColumns]:
    return [cols for path in paths for _, cols in reader.read(path)]


def test_columns_are_the_daemon_normalisers_coded_into_the_apps_tables(tmp_path: Path) -> None:
    events = [event(i) for i in range(40)]
    p = Pseudonymizer(KEY)
    reader = DumpReader(p, None, None, None)
    first = write(tmp_path / "1.jsonl", events[:25])
    second = write(tmp_path / "2.jsonl", events[25:])
    chunks = read_all(reader, first, second)
    tables = reader.tables["a"]
    assert all(c.accounts is tables.accounts and c.strings is tables.strings for c in chunks)

    daemon = EventNormaliser("a", Pseudonymizer(KEY), float("inf"), 600.0, 0.0)
    expected = daemon.from_wire([WireEvent(**e) for e in events]).to_events("a")
    got = [e for c in chunks for e in c.to_events("a")]
    assert got == expected
    assert got[0].account == p.account("u0") != "u0" and got[0].device == p.device("d0")
    assert got[0].point == "u1" and got[0].network == p.network("n0")
    # each distinct value once in the tables: 7 accounts; 5 devices, 3 networks and the
    # points and model as sent
    assert len(tables.accounts) == 7
    assert sorted(tables.strings) == sorted(
        {p.device(f"d{i}") for i in range(5)} | {p.network(f"n{i}") for i in range(3)}
        | {"u1", "p0", "p1", "Phone X"}
    )


def test_a_csv_dump_reads_as_the_same_jsonl(tmp_path: Path) -> None:
    events = [event(i, accuracy_m=5.0 + i) for i in range(30)]
    with (tmp_path / "d.csv").open("w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=list(events[0]))
        out.writeheader()
        out.writerows(events)
    from_csv = read_all(DumpReader(Pseudonymizer(KEY), None, None, None), tmp_path / "d.csv")
    from_jsonl = read_all(
        DumpReader(Pseudonymizer(KEY), None, None, None), write(tmp_path / "d.jsonl", events)
    )
    as_events = [e for c in from_jsonl for e in c.to_events("a")]
    assert [e for c in from_csv for e in c.to_events("a")] == as_events
    assert len(as_events) == 30


def test_a_known_id_read_again_after_the_raw_ids_are_forgotten_has_its_first_code(
    tmp_path: Path,
) -> None:
    reader = DumpReader(Pseudonymizer(KEY), None, None, None)
    (before,) = read_all(reader, write(tmp_path / "1.jsonl", [event(i) for i in range(7)]))
    reader.forget_raw_ids()
    (after,) = read_all(reader, write(tmp_path / "2.jsonl", [event(i) for i in range(7, 14)]))
    # u0..u6 again, in the same order: appended again, their first codes found at the end
    accounts, strings = reader.first_codes()["a"]
    assert accounts is not None and strings is not None
    assert np.array_equal(before.account, accounts[after.account])
    devices = reader.tables["a"].strings
    again = strings[after.optional["device"]]
    assert set(again.tolist()) <= set(before.optional["device"].tolist())
    assert [devices[c] for c in again] == [devices[c] for c in after.optional["device"]]
    assert len(reader.tables["a"].accounts) == 14


def test_a_string_sent_in_two_columns_is_read_back_by_one_code(tmp_path: Path) -> None:
    """A point named as a device model, a network as a point: each column's new values are
    appended without a look-up, so the table holds such a string twice; read back from
    the spill every code is its string's first, and the values are the daemon's."""
    from tapwatch.analyze.spill import TimeSpill

    events = [
        event(i, device_model="p1" if i % 3 == 0 else "Phone X", network=f"n{i % 3}")
        for i in range(60)
    ]
    for e in events[::5]:
        e["point"] = "n1"  # raw: the network's raw id, not its pseudonym
    p = Pseudonymizer(KEY)
    reader = DumpReader(p, None, None, None)
    spill = TimeSpill(tmp_path, reader.tables)
    for app, cols in reader.read(write(tmp_path / "d.jsonl", events)):
        spill.add(app, cols)
    reader.forget_raw_ids()
    first = reader.first_codes()
    assert first["a"][0] is None  # every account once
    strings = first["a"][1]
    assert strings is not None and (strings != np.arange(strings.size)).any()
    spill.first_codes = first
    pieces = [c for day in spill.days() for c in spill.take("a", day)]
    daemon = EventNormaliser("a", Pseudonymizer(KEY), float("inf"), 600.0, 0.0)
    expected = daemon.from_wire([WireEvent(**e) for e in events]).to_events("a")
    assert [e for c in pieces for e in c.to_events("a")] == expected
    for c in pieces:
        for name in ("device", "device_model", "network", "point"):
            used = c.optional[name]
            assert np.array_equal(strings[used], used)  # only first codes
    spill.close()


def test_two_ids_with_one_pseudonym_are_one_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two raw accounts (and devices) of a ring whose pseudonyms collide are judged as the
    one account (and device) they are to the detectors: the findings and assessments of
    the dump with the second renamed to the first."""
    import msgspec

    from tapwatch.simulator.dumps import Ring, write_checkin_dump

    dump = tmp_path / "d.jsonl"
    write_checkin_dump(dump, 6_000, points=40, accounts=400, per_day=400, rings=[Ring(3, 5)])
    text = dump.read_text()
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_text(text.replace('"u0000401"', '"u0000400"').replace('"d0000401"', '"d0000400"'))
    plain = Pseudonymizer.uncached

    def colliding(self: Pseudonymizer, kind: str, raws: list[str]) -> list[str]:
        same = {"u0000401": "u0000400", "d0000401": "d0000400"}
        return plain(self, kind, [same.get(r, r) for r in raws])

    want = analyze_files([renamed], Pseudonymizer(KEY))
    monkeypatch.setattr(Pseudonymizer, "uncached", colliding)
    got = analyze_files([dump], Pseudonymizer(KEY))
    rings = [f for f in got.sweep.findings if f.kind == "bulk_checkin"]
    assert len(rings) == 1 and len(rings[0].evidence["accounts"]) == 11
    assert msgspec.to_builtins(got.sweep.findings) == msgspec.to_builtins(want.sweep.findings)
    assert msgspec.to_builtins(got.sweep.final.assessments) == msgspec.to_builtins(
        want.sweep.final.assessments
    )


def test_rejects_are_counted_by_reason_and_the_rest_kept(tmp_path: Path) -> None:
    events = [
        event(0),
        event(1, ts="yesterday"),
        event(2, type="teleport"),
        event(3, lat=91.0, lon=0.0),
        event(4, account=""),
        event(5),
    ]
    reader = DumpReader(Pseudonymizer(KEY), None, None, None)
    chunks = read_all(reader, write(tmp_path / "d.jsonl", events))
    assert [i for c in chunks for i in c.ids] == ["e0", "e5"]
    assert reader.rejected == {
        "invalid_timestamp": 1, "unknown_event_type": 1, "invalid_value": 2,
    }  # fmt: skip


def test_a_line_of_two_events_is_rejected_whatever_else_its_block_holds(tmp_path: Path) -> None:
    """One line, one event: a line holding two is not an event, also where a blank line in
    the same block leaves as many values as lines (the block is read as one stream)."""
    one, two, three, four = (json.dumps(event(i)) for i in range(4))
    layouts = {
        "alone": f"{one}\n{two} {three}\n{four}\n",
        "blank line": f"{one}\n\n{two} {three}\n{four}\n",
        "white line": f"{one}\n  \n{two} {three}\n{four}\n",
        "indented": f"  {one}\n{two} {three}\n{four}\n\t\n",
    }
    for name, text in layouts.items():
        reader = DumpReader(Pseudonymizer(KEY), None, None, None)
        (tmp_path / "d.jsonl").write_text(text)
        chunks = read_all(reader, tmp_path / "d.jsonl")
        assert [i for c in chunks for i in c.ids] == ["e0", "e3"], name
        assert reader.rejected == {"not_an_object": 1}, name


def test_a_repeated_id_is_judged_once(tmp_path: Path) -> None:
    """In the same chunk, and a day later: in the same step, and (with a window a day)
    in the next one, whose window still holds the first; as the store drops it."""
    events = [event(i) for i in range(0, 20_000, 7)]  # a check-in every 7 minutes, 14 days
    repeats = [events[3], events[3], events[200], events[545]]  # 545: Sunday 12:01
    for e in repeats[2:]:  # sent again a day later
        events.append({**e, "ts": float(e["ts"]) + 86400})  # type: ignore[arg-type]
    events.insert(4, repeats[0])
    report = analyze_files(
        [write(tmp_path / "d.jsonl", events)], Pseudonymizer(KEY), step_days=1
    )
    assert report.records == len(events)
    assert report.sweep.duplicates == 3
    assert report.events == len(events) - 3


def test_blocks_cut_anywhere_read_as_one_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks of 256 bytes (each line crosses one, a line is longer than the buffer, a
    block holds only white space, the last line has no newline) give the events and the
    record count one big block gives, and the progress ends at the file's size."""
    import tapwatch.analyze.reader as reader_module

    events = [event(i) for i in range(30)]
    events[7]["note"] = "x" * 1500  # unknown: ignored, but the line outgrows the buffer
    lines = [json.dumps(e) for e in events]
    text = "\n".join(lines[:12]) + "\n" + " " * 600 + "\n\n" + "\n".join(lines[12:])
    path = tmp_path / "d.jsonl"
    path.write_text(text)  # no newline at the end
    whole = DumpReader(Pseudonymizer(KEY), None, None, None)
    expected = [e for c in read_all(whole, path) for e in c.to_events("a")]
    assert len(expected) == 30 and whole.records == 30

    monkeypatch.setattr(reader_module, "BLOCK_BYTES", 256)
    small = DumpReader(Pseudonymizer(KEY), None, None, None)
    done: list[int] = []
    chunks = [c for _, c in small.read(path, lambda _records, at: done.append(at))]
    assert len(chunks) > 10
    assert [e for c in chunks for e in c.to_events("a")] == expected
    assert small.records == 30 and not small.rejected
    assert done == sorted(done) and done[-1] == path.stat().st_size


def test_ids_that_are_not_ascii_are_judged(tmp_path: Path) -> None:
    """An app's own ids in another script (and one sent twice): the dump is judged, the
    repeat dropped once. `analyze` stopped with a UnicodeEncodeError on them."""
    events = [event(i, id=f"事件-{i}" if i % 3 else f"e{i}") for i in range(300)]
    events.append(events[4])
    report = analyze_files([write(tmp_path / "d.jsonl", events)], Pseudonymizer(KEY))
    assert report.records == 301 and report.sweep.duplicates == 1 and report.events == 300
