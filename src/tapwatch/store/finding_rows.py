"""The findings table: a pass's findings inserted or merged with the stored ones (by
stable id), findings no longer seen resolved, and the counts the metrics export.
(Inspector lists, status changes and the evidence hold are in `tapwatch.store.findings`.)"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

import msgspec

from tapwatch.detectors.base import Finding
from tapwatch.detectors.merge import merge_findings
from tapwatch.store.connection import StoreBase

_finding_enc = msgspec.json.Encoder()
_finding_dec = msgspec.json.Decoder(Finding)


class FindingRows(StoreBase):
    """Writing and counting findings."""

    def upsert_findings(self, findings: Iterable[Finding], now: float) -> list[Finding]:
        """Insert new findings, merge known ones with what this pass saw (merge_findings:
        a ring keeps every day it was seen on); returns those that are new.

        A finding the system resolved (its pattern had stopped) that is produced again is
        reopened, with an audit entry; a dismissed one stays dismissed."""
        new: list[Finding] = []
        with self._tx() as db:
            for f in findings:
                row = db.execute(
                    "SELECT status, body FROM findings WHERE id=?", (f.id,)
                ).fetchone()
                if row is not None:
                    f = merge_findings(_finding_dec.decode(row[1]), f)
                body = _finding_enc.encode(f)
                if row is None:
                    db.execute(
                        "INSERT INTO findings(id, app, kind, severity, score, window_start, "
                        "window_end, first_seen, last_seen, status, body) "
                        "VALUES(?,?,?,?,?,?,?,?,?,'open',?)",
                        (f.id, f.app, f.kind, f.severity, f.score, f.window_start,
                         f.window_end, now, now, body),
                    )
                    _set_members(db, f)
                    new.append(f)
                    continue
                # a cross-app finding may be filed under another of its apps this time
                db.execute(
                    "UPDATE findings SET app=?, severity=?, score=?, window_start=?, "
                    "window_end=?, last_seen=?, body=? WHERE id=?",
                    (f.app, f.severity, f.score, f.window_start, f.window_end, now, body, f.id),
                )
                _set_members(db, f)
                if row[0] == "resolved":
                    db.execute("UPDATE findings SET status='open' WHERE id=?", (f.id,))
                    db.execute(
                        "INSERT INTO finding_audit(finding_id, at, actor, from_status, "
                        "to_status, reason) VALUES(?,?,?,?,?,?)",
                        (f.id, now, "tapwatch", "resolved", "open", "pattern detected again"),
                    )
        return new

    def resolve_absent_findings(self, app_ids: Iterable[str], seen: set[str], now: float) -> int:
        """Findings of these apps still open but not produced by this detector pass are
        marked resolved by the system (the pattern stopped), with an audit entry."""
        n = 0
        with self._tx() as db:
            for app in app_ids:
                rows = db.execute(
                    "SELECT id FROM findings WHERE app=? AND status='open'", (app,)
                ).fetchall()
                for (fid,) in rows:
                    if fid in seen:
                        continue
                    db.execute("UPDATE findings SET status='resolved' WHERE id=?", (fid,))
                    db.execute(
                        "INSERT INTO finding_audit(finding_id, at, actor, from_status, "
                        "to_status, reason) VALUES(?,?,?,?,?,?)",
                        (fid, now, "tapwatch", "open", "resolved", "pattern no longer detected"),
                    )
                    n += 1
        return n

    def findings(self, app: str | None = None, status: str | None = None) -> list[Finding]:
        """Findings about `app` (cross-app ones included), or all."""
        q = "SELECT body FROM findings WHERE 1=1"
        args: list[Any] = []
        if app is not None:
            q += " AND (app=? OR id IN (SELECT finding_id FROM finding_apps WHERE app=?))"
            args += [app, app]
        if status is not None:
            q += " AND status=?"
            args.append(status)
        q += " ORDER BY first_seen, id"
        return [_finding_dec.decode(r[0]) for r in self._db.execute(q, args)]

    def open_findings_by_kind(self) -> dict[tuple[str, str], int]:
        """(app, kind) -> open or confirmed findings about the app (cross-app included)."""
        rows = self._db.execute(
            f"SELECT app, kind, COUNT(*) FROM {_BY_MEMBER} "
            "WHERE status IN ('open','confirmed') GROUP BY app, kind"
        )
        return {(a, k): n for a, k, n in rows}

    def finding_totals(self) -> dict[tuple[str, str, str], int]:
        """(app, kind, severity) -> findings ever raised about the app."""
        rows = self._db.execute(
            f"SELECT app, kind, severity, COUNT(*) FROM {_BY_MEMBER} GROUP BY app, kind, severity"
        )
        return {(a, k, s): n for a, k, s, n in rows}


#: every (app, finding) pair: findings under their own app, and cross-app findings under
#: each of their other apps too
_BY_MEMBER = (
    "(SELECT app, kind, severity, status FROM findings UNION ALL "
    "SELECT m.app, f.kind, f.severity, f.status FROM finding_apps m "
    "JOIN findings f ON f.id = m.finding_id)"
)


def _set_members(db: sqlite3.Connection, f: Finding) -> None:
    """Record the other apps of a cross-app finding (its own app is the findings row's)."""
    db.execute("DELETE FROM finding_apps WHERE finding_id=?", (f.id,))
    db.executemany(
        "INSERT OR IGNORE INTO finding_apps(app, finding_id) VALUES(?,?)",
        [(a, f.id) for a in f.members() if a != f.app],
    )
