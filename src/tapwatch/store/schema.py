"""The store's tables (SQLite DDL) and their version."""

#: 2: event batches hold columns (EventColumns.encode), rollups are folded from them later
#: (apps.rollup_seq), event ids have no day index. 3: event ids a row per batch
#: (event_id_batches), searched through tiered indexes (memory, then sorted runs of keys
#: on disk: id_runs, id_run_blocks, id_filters; apps.ids_sealed_seq). A version 1 or 2
#: store is upgraded on open (its batches rolled up on ingest for version 1; its id rows
#: moved into batch rows and runs for both).
SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
-- rollup_seq: the app's event batches up to this seq are folded into the rollups
-- ids_sealed_seq: the app's id batches up to this seq are in its runs on disk (id_runs),
-- the later ones in memory (see store/dedup_tiers.py)
CREATE TABLE IF NOT EXISTS apps(
  pk INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, first_data_at REAL,
  rollup_seq INTEGER NOT NULL DEFAULT 0, ids_sealed_seq INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS cursors(
  app_pk INTEGER PRIMARY KEY, cursor TEXT NOT NULL, updated_at REAL NOT NULL);
-- The ids of the events of a batch, the truth of de-duplication: a JSON array, as TEXT
-- (SQLite 3.45+ may read a BLOB as its binary JSONB), n of them, kept until rollup
-- retention, long after the batch's raw events. seq is the batch's seq in event_batches
-- (ids moved from a version 2 store have negative seqs: no batch's). day: the last UTC
-- day of the batch's events. One B-tree row per batch, not per event.
CREATE TABLE IF NOT EXISTS event_id_batches(
  seq INTEGER PRIMARY KEY, app_pk INTEGER NOT NULL, day INTEGER NOT NULL, n INTEGER NOT NULL,
  ids TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS event_id_batches_app ON event_id_batches(app_pk);
CREATE INDEX IF NOT EXISTS event_id_batches_day ON event_id_batches(day);
-- The disk tier of de-duplication (store/dedup_runs.py): an app's sorted runs of 64-bit
-- id keys, each over its id batches lo..hi, in blocks of ~1,024 keys (keys int64, seqs as
-- offsets from lo), and the app's filter of the keys in its runs.
CREATE TABLE IF NOT EXISTS id_runs(
  run INTEGER PRIMARY KEY, app_pk INTEGER NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL,
  n INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS id_runs_app ON id_runs(app_pk);
CREATE TABLE IF NOT EXISTS id_run_blocks(
  run INTEGER NOT NULL, first_key INTEGER NOT NULL, keys BLOB NOT NULL, seqs BLOB NOT NULL,
  PRIMARY KEY(run, first_key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS id_filters(
  app_pk INTEGER PRIMARY KEY, filled INTEGER NOT NULL, words BLOB NOT NULL);
-- Raw events are stored a batch per row (its columns, EventColumns.encode): one B-tree
-- insert per batch instead of per event. Pruned when the whole batch is older than raw retention.
-- seq never reuses a number, so "batches after seq N" is exact for incremental readers.
CREATE TABLE IF NOT EXISTS event_batches(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, app_pk INTEGER NOT NULL, min_ts REAL NOT NULL,
  max_ts REAL NOT NULL, n INTEGER NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS event_batches_app_ts ON event_batches(app_pk, max_ts);
-- Evidence of confirmed findings outlives raw retention: copied here on confirmation.
CREATE TABLE IF NOT EXISTS held_events(
  finding_id TEXT NOT NULL, app_pk INTEGER NOT NULL, eid TEXT NOT NULL, body BLOB NOT NULL,
  PRIMARY KEY(finding_id, app_pk, eid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS account_days(
  app_pk INTEGER NOT NULL, day INTEGER NOT NULL, account TEXT NOT NULL,
  n INTEGER, meaningful INTEGER, checkin INTEGER, read INTEGER, "like" INTEGER,
  study INTEGER, session INTEGER, study_s REAL, first_s REAL, last_s REAL,
  PRIMARY KEY(app_pk, day, account)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS app_hours(
  app_pk INTEGER NOT NULL, day INTEGER NOT NULL, hour INTEGER NOT NULL,
  type INTEGER NOT NULL, n INTEGER NOT NULL,
  PRIMARY KEY(app_pk, day, hour, type)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS counters(
  app_pk INTEGER NOT NULL, name TEXT NOT NULL, label TEXT NOT NULL, value REAL NOT NULL,
  PRIMARY KEY(app_pk, name, label)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS snapshots(
  app_pk INTEGER PRIMARY KEY, at REAL NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS files_done(
  app_pk INTEGER NOT NULL, name TEXT NOT NULL, size INTEGER, done_at REAL,
  PRIMARY KEY(app_pk, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS findings(
  id TEXT PRIMARY KEY, app TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL,
  score REAL NOT NULL, window_start REAL NOT NULL, window_end REAL NOT NULL,
  first_seen REAL NOT NULL, last_seen REAL NOT NULL,
  status TEXT NOT NULL DEFAULT 'open', body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS findings_app_kind ON findings(app, kind);
-- The other apps a cross-app finding is about (findings.app holds the one it is filed
-- under): each app's lists, counts and alerts include it.
CREATE TABLE IF NOT EXISTS finding_apps(
  app TEXT NOT NULL, finding_id TEXT NOT NULL, PRIMARY KEY(app, finding_id)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS finding_apps_id ON finding_apps(finding_id);
CREATE TABLE IF NOT EXISTS finding_audit(
  seq INTEGER PRIMARY KEY AUTOINCREMENT, finding_id TEXT NOT NULL, at REAL NOT NULL,
  actor TEXT NOT NULL, from_status TEXT, to_status TEXT NOT NULL, reason TEXT);
"""

#: one row per stored id, for queries by hand and for tests (a scan of every batch's ids);
#: created once a version 2 store's id table is gone (see StoreBase._upgrade)
EVENT_IDS_VIEW = """
CREATE VIEW IF NOT EXISTS event_ids(app_pk, eid, day) AS
  SELECT b.app_pk, j.value, b.day FROM event_id_batches b, json_each(b.ids) j;
"""
