"""Findings for inspectors: filtered and paged lists, one finding, status changes with an
append-only audit log, and the evidence hold.

Functions take a `Store` and run in the caller's thread (the daemon calls reads on its
reader store and status changes on its writer store, through AsyncStore).

Evidence hold: raw events are pruned after `store.raw_retention`, but the evidence of a
finding an inspector confirmed must outlive that while the case is open. Confirming copies
the finding's evidence events (by the event ids its evidence names) into `held_events`;
dismissing, resolving or reopening it releases them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import msgspec

from tapwatch.columns import EventColumns
from tapwatch.detectors.base import Finding
from tapwatch.events import Event, event_decoder, event_encoder
from tapwatch.store.sqlite import Store

STATUSES = ("open", "confirmed", "dismissed", "resolved")
TIME_FIELDS = ("window", "first_seen")
MAX_REASON = 2000

_finding_dec = msgspec.json.Decoder(Finding)


class FindingNotFound(KeyError):
    pass


class StatusError(ValueError):
    """A status change that is not allowed (same status, missing reason)."""

    def __init__(self, message: str, conflict: bool = False) -> None:
        super().__init__(message)
        self.conflict = conflict


@dataclass(frozen=True, slots=True)
class FindingQuery:
    """Filters (None = any) and paging. `apps` may be an empty tuple: matches nothing."""

    apps: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None
    severities: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    since: float | None = None
    until: float | None = None
    time_field: str = "window"
    limit: int = 100
    after: tuple[float, str] | None = None  # keyset cursor: (first_seen, id) of the last row
    offset: int = 0


@dataclass(frozen=True, slots=True)
class FindingRecord:
    finding: Finding
    status: str
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class FindingPage:
    records: list[FindingRecord]
    total: int
    next_after: tuple[float, str] | None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    finding_id: str
    at: float
    actor: str
    from_status: str | None
    to_status: str
    reason: str | None


def _where(q: FindingQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if q.apps is not None:
        if not q.apps:
            clauses.append("0")
        else:
            # the app's own findings and the cross-app findings about it
            marks = ",".join("?" * len(q.apps))
            clauses.append(
                f"(app IN ({marks}) OR id IN "
                f"(SELECT finding_id FROM finding_apps WHERE app IN ({marks})))"
            )
            args += [*q.apps, *q.apps]
    for col, values in (
        ("kind", q.kinds),
        ("severity", q.severities),
        ("status", q.statuses),
    ):
        if values is None:
            continue
        if not values:
            clauses.append("0")
            continue
        clauses.append(f"{col} IN ({','.join('?' * len(values))})")
        args += values
    if q.time_field == "first_seen":
        if q.since is not None:
            clauses.append("first_seen >= ?")
            args.append(q.since)
        if q.until is not None:
            clauses.append("first_seen < ?")
            args.append(q.until)
    else:  # the finding's window overlaps [since, until)
        if q.since is not None:
            clauses.append("window_end >= ?")
            args.append(q.since)
        if q.until is not None:
            clauses.append("window_start < ?")
            args.append(q.until)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


def _record(row: tuple[Any, ...]) -> FindingRecord:
    body, status, first_seen, last_seen = row
    return FindingRecord(_finding_dec.decode(body), status, first_seen, last_seen)


def query_findings(store: Store, q: FindingQuery) -> FindingPage:
    """One page of findings, newest first (by first_seen, then id: a stable order)."""
    where, args = _where(q)
    db = store._db
    (total,) = db.execute(f"SELECT COUNT(*) FROM findings{where}", args).fetchone()
    sql = f"SELECT body, status, first_seen, last_seen, id FROM findings{where}"
    page_args = list(args)
    if q.after is not None:
        sql += (" AND " if where else " WHERE ") + "(first_seen < ? OR (first_seen = ? AND id < ?))"
        page_args += [q.after[0], q.after[0], q.after[1]]
    sql += " ORDER BY first_seen DESC, id DESC LIMIT ? OFFSET ?"
    page_args += [q.limit + 1, q.offset]
    rows = db.execute(sql, page_args).fetchall()
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    records = [_record(r[:4]) for r in rows]
    nxt = (rows[-1][2], rows[-1][4]) if more and rows else None
    return FindingPage(records, total, nxt)


def iter_findings(store: Store, q: FindingQuery, chunk: int = 500) -> Iterator[FindingRecord]:
    """Every finding matching q (paging ignored), in the list order, read in chunks."""
    after = None
    while True:
        page = query_findings(store, replace(q, limit=chunk, after=after, offset=0))
        yield from page.records
        if page.next_after is None:
            return
        after = page.next_after


def get_finding(store: Store, finding_id: str) -> FindingRecord | None:
    row = store._db.execute(
        "SELECT body, status, first_seen, last_seen FROM findings WHERE id=?", (finding_id,)
    ).fetchone()
    return None if row is None else _record(row)


def audit_log(store: Store, finding_id: str) -> list[AuditEntry]:
    """The finding's audit entries, oldest first."""
    rows = store._db.execute(
        "SELECT seq, finding_id, at, actor, from_status, to_status, reason FROM finding_audit "
        "WHERE finding_id=? ORDER BY seq",
        (finding_id,),
    )
    return [AuditEntry(*r) for r in rows]


def set_status(
    store: Store, finding_id: str, to_status: str, actor: str, reason: str | None, now: float
) -> tuple[AuditEntry, int]:
    """Change a finding's status, append the audit entry and hold or release its evidence,
    in one transaction. Returns the entry and the number of events now held.

    Raises FindingNotFound, or StatusError for an unknown status, a dismissal without a
    reason, or a change to the status it already has (conflict)."""
    if to_status not in STATUSES:
        raise StatusError(f"status must be one of {', '.join(STATUSES)}")
    reason = (reason or "").strip() or None
    if to_status == "dismissed" and reason is None:
        raise StatusError("a dismissal needs a reason")
    if reason is not None and len(reason) > MAX_REASON:
        raise StatusError(f"reason is longer than {MAX_REASON} characters")
    with store._tx() as db:
        row = db.execute("SELECT status, body FROM findings WHERE id=?", (finding_id,)).fetchone()
        if row is None:
            raise FindingNotFound(finding_id)
        from_status, body = row
        if from_status == to_status:
            raise StatusError(f"the finding is already {to_status}", conflict=True)
        db.execute("UPDATE findings SET status=? WHERE id=?", (to_status, finding_id))
        cur = db.execute(
            "INSERT INTO finding_audit(finding_id, at, actor, from_status, to_status, reason) "
            "VALUES(?,?,?,?,?,?)",
            (finding_id, now, actor, from_status, to_status, reason),
        )
        entry = AuditEntry(
            cur.lastrowid or 0, finding_id, now, actor, from_status, to_status, reason
        )
        if to_status == "confirmed":
            held = _hold(store, db, _finding_dec.decode(body))
        else:
            db.execute("DELETE FROM held_events WHERE finding_id=?", (finding_id,))
            held = 0
    return entry, held


def evidence_event_ids(f: Finding) -> dict[str, set[str]]:
    """app -> event ids the finding's evidence names (its own app's, and other apps' where
    the evidence lists their submissions)."""
    out: dict[str, set[str]] = {}

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, x in v.items():
                if k in ("event_ids", "example_event_ids") and isinstance(x, list):
                    out.setdefault(f.app, set()).update(str(i) for i in x)
                elif k == "other_submissions" and isinstance(x, list):
                    for s in x:
                        if isinstance(s, dict) and "app" in s and "event_id" in s:
                            out.setdefault(str(s["app"]), set()).add(str(s["event_id"]))
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    walk(f.evidence)
    return out


def _find_events(
    db: sqlite3.Connection, app: str, app_pk: int, ids: set[str], lo: float, hi: float
) -> list[Event]:
    """Stored raw events of one app with these ids: first the batches overlapping the
    finding's window, then (for ids still missing) the rest of the app's batches."""
    found: dict[str, Event] = {}
    for clause, args in (
        ("AND max_ts>=? AND min_ts<=?", (lo, hi)),
        ("AND NOT (max_ts>=? AND min_ts<=?)", (lo, hi)),
    ):
        if len(found) == len(ids):
            break
        rows = db.execute(
            f"SELECT body FROM event_batches WHERE app_pk=? {clause}", (app_pk, *args)
        )
        for (body,) in rows:
            batch = EventColumns.decode(body)
            rows_here = [i for i, eid in enumerate(batch.ids) if eid in ids]
            for e in batch.to_events(app, rows_here):
                found[e.id] = e
    return sorted(found.values(), key=lambda e: (e.ts, e.id))


def _hold(store: Store, db: sqlite3.Connection, f: Finding) -> int:
    n = 0
    margin = 86400.0  # evidence ids sit in the window; a day's slack costs little
    for app, ids in evidence_event_ids(f).items():
        pk = store.app_pk(app)
        events = _find_events(db, app, pk, ids, f.window_start - margin, f.window_end + margin)
        db.executemany(
            "INSERT OR IGNORE INTO held_events(finding_id, app_pk, eid, body) VALUES(?,?,?,?)",
            [(f.id, pk, e.id, event_encoder.encode(e)) for e in events],
        )
        n += len(events)
    return n


def held_events(store: Store, finding_id: str) -> list[Event]:
    """Events held for a confirmed finding, in time order."""
    rows = store._db.execute("SELECT body FROM held_events WHERE finding_id=?", (finding_id,))
    return sorted((event_decoder.decode(r[0]) for r in rows), key=lambda e: (e.ts, e.id))


#: evidence events read for one finding at most (detectors bound the ids they name far below)
MAX_EVIDENCE_EVENTS = 10_000


def evidence_events(
    store: Store, record: FindingRecord, limit: int = MAX_EVIDENCE_EVENTS
) -> tuple[list[Event], str]:
    """The finding's evidence events in time order and where they came from: "held" (kept
    past raw retention for a confirmed finding), "raw" (still in the raw store), "none"
    (the evidence names events, none is stored any more) or "not_event_based" (the
    evidence names no event: it rests on daily rollups, the registry or app figures)."""
    held = held_events(store, record.finding.id)
    if held:
        return held[:limit], "held"
    f = record.finding
    named = evidence_event_ids(f)
    if not named:
        return [], "not_event_based"
    events: list[Event] = []
    for app, ids in named.items():
        pk = store.app_pk(app)
        events += _find_events(
            store._db, app, pk, ids, f.window_start - 86400, f.window_end + 86400
        )
    events.sort(key=lambda e: (e.ts, e.id))
    return events[:limit], ("raw" if events else "none")


@dataclass(frozen=True, slots=True)
class DayActivity:
    day: int  # days since 1970-01-01 in the app's time zone
    events: int
    meaningful: int
    accounts: int


def app_daily_activity(store: Store, app: str, since_day: int) -> list[DayActivity]:
    """Per local day: events, meaningful actions and distinct accounts of one app (from the
    daily rollups; app-level totals only)."""
    rows = store._db.execute(
        "SELECT day, SUM(n), SUM(meaningful), COUNT(*) FROM account_days "
        "WHERE app_pk=? AND day>=? GROUP BY day ORDER BY day",
        (store.app_pk(app), since_day),
    )
    return [DayActivity(int(d), int(n or 0), int(m or 0), int(a)) for d, n, m, a in rows]


def open_by_severity(store: Store) -> dict[str, dict[str, int]]:
    """app -> severity -> findings open or confirmed (not dismissed or resolved)."""
    out: dict[str, dict[str, int]] = {}
    rows = store._db.execute(
        "SELECT app, severity, COUNT(*) FROM findings WHERE status IN ('open', 'confirmed') "
        "GROUP BY app, severity"
    )
    for app, sev, n in rows:
        out.setdefault(app, {})[sev] = int(n)
    return out


def known_values(store: Store, column: str) -> list[str]:
    """Distinct values of a findings column (app, kind) for the list page's choices."""
    if column not in ("app", "kind"):
        raise ValueError(column)
    return [r[0] for r in store._db.execute(f"SELECT DISTINCT {column} FROM findings ORDER BY 1")]
