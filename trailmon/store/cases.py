"""The case-record store: an embedded SQLite database of subjects, crimes, runs and results (SPEC §4).

``STORE/cases.sqlite`` by default (``--db`` overrides), created owner-only (0600). Tables and
their natural keys (every write is an upsert on these, so nothing is ever duplicated):

=================  ===============================================  ==================================
table              key                                              what
=================  ===============================================  ==================================
subjects           subject_id                                       cohort and identifiers (crn, pnc_id)
crimes             (force, crime_ref, crime_version)                every version of every crime received
appointments       appointment_id                                   the latest content of each appointment
zones              (zone_id, subject_id)                            the latest content of each zone
hits               hit_id; unique (force, crime_ref, crime_version, one proximity hit, with its review state
                   subject_id)
evidence           (hit_id, label, kind)                            the supporting fixes of a hit
gaps               (force, crime_ref, crime_version, subject_id,    gaps near the scene
                   gap_start_ns)
attendance         appointment_id                                   the latest outcome of an appointment
zone_events        (zone_id, subject_id, event, start_ns)           visits, absences and no_data spells
withdrawn_hits     (none: a log)                                    hits that a re-match no longer found
runs               run_id                                           the run log (engine, parameters, status)
inbox_files        sha256                                           inbox files consumed (processed or
                                                                    quarantined)
pending_spans      (none: a queue)                                  newly ingested trail time not yet
                                                                    re-matched
=================  ===============================================  ==================================

A crime re-sent with content (offence, location, window, radius) that differs from its latest
stored version becomes a new version; an identical re-send changes nothing. Hits start
``pending`` and a reviewer moves them to ``qualified`` or ``rejected``; a re-matched hit keeps
its review state while it is still a hit, and one that is no longer found moves to
``withdrawn_hits``. Times are stored as integer nanoseconds UTC. The schema version is
``PRAGMA user_version``; :data:`MIGRATIONS` brings an older file up to date on open.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon import __version__
from trailmon.errors import InputError, StoreError
from trailmon.io._time import iso_ms as _iso
from trailmon.store._files import FILE_MODE

__all__ = [
    "CASE_TABLES",
    "MIGRATIONS",
    "REVIEW_STATES",
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "CaseStore",
    "default_db_path",
    "load_schema",
    "merge_spans",
    "validate_records",
]

REVIEW_STATES = ("pending", "qualified", "rejected")
"""Review states of a hit: ``pending -> qualified | rejected``."""

MIGRATIONS: tuple[str, ...] = (
    # 1: the tables
    """
    CREATE TABLE subjects (
        subject_id TEXT PRIMARY KEY, cohort TEXT, crn TEXT, pnc_id TEXT, nomis_id TEXT, offender_manager TEXT
    );
    CREATE TABLE crimes (
        force TEXT NOT NULL, crime_ref TEXT NOT NULL, crime_version INTEGER NOT NULL,
        offence TEXT, offence_group TEXT, x_m REAL, y_m REAL, lat REAL, lon REAL,
        committed_from_ns INTEGER NOT NULL, committed_to_ns INTEGER NOT NULL, radius_m REAL,
        batch_id TEXT, source_format TEXT, content TEXT NOT NULL, received_run TEXT,
        needs_match INTEGER NOT NULL DEFAULT 1, matched_run TEXT,
        PRIMARY KEY (force, crime_ref, crime_version)
    );
    CREATE TABLE appointments (
        appointment_id TEXT PRIMARY KEY, subject_id TEXT NOT NULL, start_ns INTEGER NOT NULL,
        end_ns INTEGER NOT NULL, appointment_type TEXT, center_x_m REAL, center_y_m REAL, radius_m REAL,
        geometry_wkb BLOB, content TEXT NOT NULL, received_run TEXT, needs_match INTEGER NOT NULL DEFAULT 1,
        matched_run TEXT
    );
    CREATE TABLE zones (
        zone_id TEXT NOT NULL, subject_id TEXT NOT NULL, kind TEXT NOT NULL, active_from_ns INTEGER NOT NULL,
        active_to_ns INTEGER, daily_start TEXT, daily_end TEXT, center_x_m REAL, center_y_m REAL,
        radius_m REAL, geometry_wkb BLOB, content TEXT NOT NULL, received_run TEXT,
        evaluated_until_ns INTEGER,
        PRIMARY KEY (zone_id, subject_id)
    );
    CREATE TABLE hits (
        hit_id INTEGER PRIMARY KEY AUTOINCREMENT,
        force TEXT NOT NULL, crime_ref TEXT NOT NULL, crime_version INTEGER NOT NULL,
        subject_id TEXT NOT NULL,
        min_distance_m REAL, closest_time_ns INTEGER, first_within_ns INTEGER, last_within_ns INTEGER,
        dwell_s REAL, passes INTEGER, n_fixes_within INTEGER, between_fixes INTEGER, accuracy_m REAL,
        confidence TEXT, coverage REAL, flags TEXT,
        review_state TEXT NOT NULL DEFAULT 'pending'
            CHECK (review_state IN ('pending', 'qualified', 'rejected')),
        reviewer TEXT, review_reason TEXT, reviewed_at TEXT,
        run_id TEXT, report_day TEXT,
        UNIQUE (force, crime_ref, crime_version, subject_id)
    );
    CREATE TABLE evidence (
        hit_id INTEGER NOT NULL REFERENCES hits (hit_id) ON DELETE CASCADE,
        label TEXT NOT NULL, kind TEXT NOT NULL, pass TEXT, seq INTEGER, time_ns INTEGER, lat REAL, lon REAL,
        easting REAL, northing REAL, distance_m REAL, within_r INTEGER, accuracy_m REAL, speed_kmh REAL,
        heading_deg REAL, fix_type TEXT, flags TEXT,
        PRIMARY KEY (hit_id, label, kind)
    );
    CREATE TABLE gaps (
        force TEXT NOT NULL, crime_ref TEXT NOT NULL, crime_version INTEGER NOT NULL,
        subject_id TEXT NOT NULL,
        gap_start_ns INTEGER NOT NULL, gap_end_ns INTEGER, gap_s REAL, before_distance_m REAL,
        after_distance_m REAL, coverage REAL, run_id TEXT, report_day TEXT,
        PRIMARY KEY (force, crime_ref, crime_version, subject_id, gap_start_ns)
    );
    CREATE TABLE attendance (
        appointment_id TEXT PRIMARY KEY, subject_id TEXT NOT NULL, start_ns INTEGER, end_ns INTEGER,
        inside_s REAL, arrival_ns INTEGER, departure_ns INTEGER, coverage REAL, status TEXT, flags TEXT,
        outcome TEXT, run_id TEXT, report_day TEXT
    );
    CREATE TABLE zone_events (
        zone_id TEXT NOT NULL, subject_id TEXT NOT NULL, kind TEXT, event TEXT NOT NULL,
        start_ns INTEGER NOT NULL, end_ns INTEGER, duration_s REAL, period_start_ns INTEGER,
        run_id TEXT, report_day TEXT,
        PRIMARY KEY (zone_id, subject_id, event, start_ns)
    );
    CREATE TABLE withdrawn_hits (
        hit_id INTEGER, force TEXT, crime_ref TEXT, crime_version INTEGER, subject_id TEXT, review_state TEXT,
        reviewer TEXT, review_reason TEXT, run_id TEXT, withdrawn_at TEXT
    );
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, command TEXT NOT NULL, engine_version TEXT NOT NULL, parameters TEXT,
        trigger TEXT NOT NULL CHECK (trigger IN ('auto', 'manual')),
        status TEXT NOT NULL CHECK (status IN ('running', 'done', 'failed')),
        started TEXT NOT NULL, ended TEXT, as_of TEXT, summary TEXT, error TEXT
    );
    CREATE TABLE inbox_files (
        sha256 TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('processed', 'quarantined')), reason TEXT, run_id TEXT,
        received TEXT
    );
    CREATE TABLE pending_spans (lo_ns INTEGER NOT NULL, hi_ns INTEGER NOT NULL, run_id TEXT);
    """,
    # 2: indexes for the overlap queries of the nightly job
    """
    CREATE INDEX crimes_window ON crimes (committed_from_ns, committed_to_ns);
    CREATE INDEX appointments_window ON appointments (start_ns, end_ns);
    CREATE INDEX hits_crime ON hits (force, crime_ref, crime_version);
    CREATE INDEX hits_subject ON hits (subject_id);
    CREATE INDEX zone_events_period ON zone_events (zone_id, subject_id, period_start_ns);
    """,
    # the trail store's change journal entries (ingest ids) the nightly job has queued (SPEC §8)
    """
    CREATE TABLE trail_changes_consumed (ingest_id TEXT PRIMARY KEY, run_id TEXT);
    """,
)
"""Schema migrations, in order; ``PRAGMA user_version`` is the number applied."""

SCHEMA_VERSION = len(MIGRATIONS)

CASE_TABLES = (
    "subjects",
    "crimes",
    "appointments",
    "zones",
    "hits",
    "evidence",
    "gaps",
    "attendance",
    "zone_events",
)
"""The tables that hold case records (compared by :meth:`CaseStore.snapshot`)."""

_VOLATILE = {
    "hit_id",
    "run_id",
    "report_day",
    "received_run",
    "matched_run",
    "needs_match",
    "reviewed_at",
    "evaluated_until_ns",
}
_MIN_NS = -(2**63) + 1
_MAX_NS = 2**63 - 1


def default_db_path(store: str | Path) -> Path:
    """``STORE/cases.sqlite``."""
    return Path(store) / "cases.sqlite"


def utc_now() -> str:
    """Now, ISO 8601 UTC with milliseconds and ``Z``."""
    return pd.Timestamp(time.time_ns(), unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


# -- value conversion ----------------------------------------------------------------------------
def _ns(values) -> list[int | None]:
    """Datetimes (tz-aware) or int ns to a list of int ns, None for NaT."""
    s = pd.Series(values)
    if not len(s):
        return []
    if pd.api.types.is_integer_dtype(s.dtype):
        return [int(v) for v in s]
    dt = pd.to_datetime(s, utc=True)
    missing = dt.isna().to_numpy()
    ns = dt.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64)
    return [None if m else int(v) for m, v in zip(missing, ns, strict=True)]


def _f(v) -> float | None:
    if v is None:
        return None
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _s(v) -> str | None:
    if v is None:
        return None
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return str(v)


def _content(*values) -> str:
    """Canonical JSON of the values that make up an entity's content."""
    out = []
    for v in values:
        if isinstance(v, float | np.floating):
            v = None if math.isnan(v) else repr(float(v))
        elif isinstance(v, np.integer):
            v = int(v)
        elif isinstance(v, bytes):
            v = v.hex()
        out.append(v)
    return json.dumps(out, separators=(",", ":"))


def _wkb(geom) -> bytes | None:
    if geom is None:
        return None
    try:
        if pd.isna(geom):
            return None
    except (TypeError, ValueError):
        pass
    import shapely

    return shapely.to_wkb(geom)


def ns_to_times(values) -> pd.Series:
    """Int ns (None for none) to ``datetime64[ns, UTC]``."""
    arr = pd.array(
        [None if v is None or (isinstance(v, float) and math.isnan(v)) else int(v) for v in values],
        dtype="Int64",
    )
    return pd.Series(pd.to_datetime(arr, unit="ns", utc=True))


def _overlap_sql(
    lo_col: str, hi_col: str, spans: list[tuple[int, int]], pad_lo_ns: int, pad_hi_ns: int
) -> tuple[str, list]:
    """SQL ``(a OR b ...)`` true where ``[lo - pad_lo, hi + pad_hi]`` overlaps one of ``spans``."""
    if not spans:
        return "0", []
    terms, params = [], []
    for lo, hi in spans:
        terms.append(f"({lo_col} - ? <= ? AND {hi_col} + ? >= ?)")
        params += [pad_lo_ns, hi, pad_hi_ns, lo]
    return "(" + " OR ".join(terms) + ")", params


def merge_spans(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Union of closed ``[lo, hi]`` spans (int ns), sorted and merged where they touch."""
    out: list[list[int]] = []
    for lo, hi in sorted((int(a), int(b)) for a, b in spans):
        if out and lo <= out[-1][1]:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(a, b) for a, b in out]


class CaseStore:
    """The SQLite case-record store.

    Parameters
    ----------
    path : str or Path
        The database file (``STORE/cases.sqlite`` by default).
    create : bool, default False
        Create the file (owner-only) when it does not exist.

    Raises
    ------
    StoreError
        When the file does not exist and ``create`` is False, is not a case store, or was made
        by a newer trailmon (its schema version is above :data:`SCHEMA_VERSION`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with CaseStore(pathlib.Path(tempfile.mkdtemp()) / "cases.sqlite", create=True) as cases:
    ...     cases.schema_version == SCHEMA_VERSION
    True
    """

    def __init__(self, path: str | Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if not self.path.exists():
            if not create:
                raise StoreError(
                    f"no case-record store at {str(self.path)!r}; the nightly job creates it "
                    "(`trailmon nightly --store DIR ...`), or name another with --db"
                )
            self.path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        old = os.umask(0o077)
        try:
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        finally:
            os.umask(old)
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise StoreError(f"{str(self.path)!r} is not a trailmon case-record store: {exc}") from exc

    # -- plumbing ----------------------------------------------------------------------------------
    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()

    @property
    def schema_version(self) -> int:
        """``PRAGMA user_version``: the number of migrations applied."""
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        have = self.schema_version
        if have > SCHEMA_VERSION:
            raise StoreError(
                f"case store {str(self.path)!r} has schema version {have}, newer than this trailmon "
                f"({__version__}) knows ({SCHEMA_VERSION}); upgrade trailmon"
            )
        for version in range(have + 1, SCHEMA_VERSION + 1):
            with self.transaction() as c:
                for stmt in MIGRATIONS[version - 1].split(";"):
                    if stmt.strip():
                        c.execute(stmt)
                c.execute(f"PRAGMA user_version = {version}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on error)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def frame(self, sql: str, params: Iterable = ()) -> pd.DataFrame:
        """The result of a query as a frame (object columns)."""
        cur = self.conn.execute(sql, list(params))
        cols = [d[0] for d in cur.description]
        return pd.DataFrame([tuple(r) for r in cur.fetchall()], columns=cols, dtype=object)

    # -- runs and inbox ------------------------------------------------------------------------------
    def start_run(
        self, run_id: str, *, command: str, parameters: dict, trigger: str = "auto", as_of: str | None = None
    ) -> None:
        """Record a run as ``running`` (and mark runs left ``running`` by a killed process ``failed``)."""
        if trigger not in ("auto", "manual"):
            raise InputError(f"trigger must be 'auto' or 'manual', got {trigger!r}")
        with self.transaction() as c:
            c.execute(
                "UPDATE runs SET status = 'failed', error = 'interrupted (the process ended mid-run)', "
                "ended = COALESCE(ended, ?) WHERE status = 'running' AND command = ?",
                (utc_now(), command),
            )
            c.execute(
                "INSERT INTO runs (run_id, command, engine_version, parameters, trigger, status, started,"
                " as_of)"
                " VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
                (
                    run_id,
                    command,
                    f"trailmon {__version__}",
                    json.dumps(parameters, sort_keys=True, default=str),
                    trigger,
                    utc_now(),
                    as_of,
                ),
            )

    def finish_run(
        self, run_id: str, *, status: str, summary: dict | None = None, error: str | None = None
    ) -> None:
        """Close a run: ``done`` or ``failed``, with its summary or error."""
        if status not in ("done", "failed"):
            raise InputError(f"status must be 'done' or 'failed', got {status!r}")
        with self.transaction() as c:
            c.execute(
                "UPDATE runs SET status = ?, ended = ?, summary = ?, error = ? WHERE run_id = ?",
                (
                    status,
                    utc_now(),
                    json.dumps(summary, sort_keys=True, default=str) if summary else None,
                    error,
                    run_id,
                ),
            )

    def runs(self) -> pd.DataFrame:
        """The run log, oldest first."""
        return self.frame("SELECT * FROM runs ORDER BY started, run_id")

    def inbox_status(self, sha256: str) -> str | None:
        """``processed`` / ``quarantined`` for a file already consumed, else None."""
        row = self.conn.execute("SELECT status FROM inbox_files WHERE sha256 = ?", (sha256,)).fetchone()
        return None if row is None else str(row[0])

    def record_files(self, c: sqlite3.Connection, files: Iterable[dict], run_id: str, received: str) -> None:
        """Add consumed inbox files (``sha256, kind, name, status, reason``) inside transaction ``c``."""
        c.executemany(
            "INSERT OR IGNORE INTO inbox_files (sha256, kind, name, status, reason, run_id, received) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (f["sha256"], f["kind"], f["name"], f["status"], f.get("reason"), run_id, received)
                for f in files
            ],
        )

    # -- entities ----------------------------------------------------------------------------------
    def upsert_subjects(self, c: sqlite3.Connection, subjects: pd.DataFrame) -> int:
        """Upsert subject attributes (the last row of a subject wins); returns the rows changed."""
        if not len(subjects):
            return 0
        cols = ["cohort", "crn", "pnc_id", "nomis_id", "offender_manager"]
        last = subjects.drop_duplicates("subject_id", keep="last")
        rows = [(str(r["subject_id"]), *[_s(r.get(k)) for k in cols]) for _, r in last.iterrows()]
        before = self.conn.total_changes
        c.executemany(
            "INSERT INTO subjects (subject_id, cohort, crn, pnc_id, nomis_id, offender_manager) "
            "VALUES (?,?,?,?,?,?) "
            "ON CONFLICT (subject_id) DO UPDATE SET cohort = excluded.cohort, crn = excluded.crn, "
            "pnc_id = excluded.pnc_id, nomis_id = excluded.nomis_id, "
            "offender_manager = excluded.offender_manager "
            "WHERE subjects.cohort IS NOT excluded.cohort OR subjects.crn IS NOT excluded.crn "
            "OR subjects.pnc_id IS NOT excluded.pnc_id OR subjects.nomis_id IS NOT excluded.nomis_id "
            "OR subjects.offender_manager IS NOT excluded.offender_manager",
            rows,
        )
        return self.conn.total_changes - before

    def upsert_crimes(
        self, c: sqlite3.Connection, crimes: pd.DataFrame, run_id: str
    ) -> list[tuple[str, str, int]]:
        """Store crimes as versions; returns the keys ``(force, crime_ref, crime_version)`` of new versions.

        ``crimes`` is the canonical crime frame (``CRIME_INPUT``), rows in the order received.
        Each row is compared with the latest stored version of ``(force, crime_ref)``: the same
        offence, location, window and radius change nothing; any difference is a new version
        (latest + 1). The file's own ``crime_version`` only orders rows of one file.
        """
        new: list[tuple[str, str, int]] = []
        if not len(crimes):
            return new
        df = crimes.reset_index(drop=True)
        order = (
            np.lexsort((np.arange(len(df)), df["crime_version"].to_numpy(np.int64)))
            if "crime_version" in df
            else np.arange(len(df))
        )
        t1, t2 = _ns(df["committed_from"]), _ns(df["committed_to"])
        for i in order:
            r = df.iloc[int(i)]
            force, ref = _s(r.get("force")) or "", str(r["crime_ref"])
            content = _content(
                str(r["offence"]), _f(r["x_m"]), _f(r["y_m"]), t1[i], t2[i], _f(r.get("radius_m"))
            )
            latest = c.execute(
                "SELECT crime_version, content FROM crimes WHERE force = ? AND crime_ref = ? "
                "ORDER BY crime_version DESC LIMIT 1",
                (force, ref),
            ).fetchone()
            if latest is not None and latest["content"] == content:
                continue
            version = 1 if latest is None else int(latest["crime_version"]) + 1
            c.execute(
                "INSERT INTO crimes (force, crime_ref, crime_version, offence, offence_group, x_m, y_m, lat,"
                " lon,"
                " committed_from_ns, committed_to_ns, radius_m, batch_id, source_format, content,"
                " received_run,"
                " needs_match) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1)",
                (
                    force,
                    ref,
                    version,
                    str(r["offence"]),
                    _s(r.get("offence_group")),
                    _f(r["x_m"]),
                    _f(r["y_m"]),
                    _f(r.get("lat")),
                    _f(r.get("lon")),
                    t1[i],
                    t2[i],
                    _f(r.get("radius_m")),
                    _s(r.get("batch_id")),
                    _s(r.get("source_format")),
                    content,
                    run_id,
                ),
            )
            new.append((force, ref, version))
        return new

    def upsert_appointments(self, c: sqlite3.Connection, appointments: pd.DataFrame, run_id: str) -> int:
        """Upsert appointments by ``appointment_id``; a changed one is re-judged."""
        changed = 0
        if not len(appointments):
            return changed
        start, end = _ns(appointments["start"]), _ns(appointments["end"])
        for k, (_, r) in enumerate(appointments.iterrows()):
            geom = _wkb(r.get("geometry"))
            vals = (
                str(r["subject_id"]),
                start[k],
                end[k],
                _s(r.get("appointment_type")),
                _f(r.get("center_x_m")),
                _f(r.get("center_y_m")),
                _f(r.get("radius_m")),
                geom,
            )
            content = _content(*vals)
            old = c.execute(
                "SELECT content FROM appointments WHERE appointment_id = ?", (str(r["appointment_id"]),)
            ).fetchone()
            if old is not None and old["content"] == content:
                continue
            c.execute(
                "INSERT OR REPLACE INTO appointments (appointment_id, subject_id, start_ns, end_ns, "
                "appointment_type, center_x_m, center_y_m, radius_m, geometry_wkb, content, received_run, "
                "needs_match) VALUES (?,?,?,?,?,?,?,?,?,?,?,1)",
                (str(r["appointment_id"]), *vals, content, run_id),
            )
            c.execute("DELETE FROM attendance WHERE appointment_id = ?", (str(r["appointment_id"]),))
            changed += 1
        return changed

    def upsert_zones(self, c: sqlite3.Connection, zones: pd.DataFrame, run_id: str) -> int:
        """Upsert zones by ``(zone_id, subject_id)``; a changed zone loses its events and is re-judged."""
        changed = 0
        if not len(zones):
            return changed
        a_from, a_to = _ns(zones["active_from"]), _ns(zones["active_to"])
        for k, (_, r) in enumerate(zones.iterrows()):
            key = (str(r["zone_id"]), str(r["subject_id"]))
            vals = (
                str(r["kind"]).lower(),
                a_from[k],
                a_to[k],
                _s(r.get("daily_start")) or "",
                _s(r.get("daily_end")) or "",
                _f(r.get("center_x_m")),
                _f(r.get("center_y_m")),
                _f(r.get("radius_m")),
                _wkb(r.get("geometry")),
            )
            content = _content(*vals)
            old = c.execute("SELECT content FROM zones WHERE zone_id = ? AND subject_id = ?", key).fetchone()
            if old is not None and old["content"] == content:
                continue
            c.execute(
                "INSERT OR REPLACE INTO zones (zone_id, subject_id, kind, active_from_ns, active_to_ns, "
                "daily_start, daily_end, center_x_m, center_y_m, radius_m, geometry_wkb, content, "
                "received_run, "
                "evaluated_until_ns) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
                (*key, *vals, content, run_id),
            )
            c.execute("DELETE FROM zone_events WHERE zone_id = ? AND subject_id = ?", key)
            changed += 1
        return changed

    def add_pending_spans(self, c: sqlite3.Connection, spans: Iterable[tuple[int, int]], run_id: str) -> None:
        """Queue newly ingested trail time ``[lo, hi]`` (int ns UTC) for re-matching."""
        c.executemany(
            "INSERT INTO pending_spans (lo_ns, hi_ns, run_id) VALUES (?, ?, ?)",
            [(int(max(lo, _MIN_NS)), int(min(hi, _MAX_NS)), run_id) for lo, hi in spans],
        )

    def pending_spans(self) -> list[tuple[int, int]]:
        """Queued trail time, merged."""
        return merge_spans((r[0], r[1]) for r in self.conn.execute("SELECT lo_ns, hi_ns FROM pending_spans"))

    def clear_pending_spans(self, c: sqlite3.Connection) -> None:
        """Empty the queue of trail time (inside the transaction that re-matched it)."""
        c.execute("DELETE FROM pending_spans")

    def consumed_changes(self) -> set[str]:
        """Ids of the trail store's journal entries already queued (SPEC §8)."""
        return {r[0] for r in self.conn.execute("SELECT ingest_id FROM trail_changes_consumed")}

    def consume_changes(self, c: sqlite3.Connection, ingest_ids: Iterable[str], run_id: str) -> None:
        """Mark journal entries queued (inside the transaction that queues their time)."""
        c.executemany(
            "INSERT OR IGNORE INTO trail_changes_consumed (ingest_id, run_id) VALUES (?, ?)",
            [(str(i), run_id) for i in ingest_ids],
        )

    def zone_events_touching(
        self, c: sqlite3.Connection, zone_id: str, subject_id: str, lo_ns: int, hi_ns: int
    ) -> pd.DataFrame:
        """Stored events of a zone and subject that overlap or touch ``[lo_ns, hi_ns]``: event, start_ns, end_ns."""
        rows = c.execute(
            "SELECT event, start_ns, end_ns FROM zone_events WHERE zone_id = ? AND subject_id = ? "
            "AND start_ns <= ? AND COALESCE(end_ns, start_ns) >= ? ORDER BY start_ns, event",
            (zone_id, subject_id, int(hi_ns), int(lo_ns)),
        ).fetchall()
        return pd.DataFrame(
            [(r[0], int(r[1]), int(r[2] if r[2] is not None else r[1])) for r in rows],
            columns=["event", "start_ns", "end_ns"],
        )

    def replace_zone_events(
        self,
        c: sqlite3.Connection,
        zone_id: str,
        subject_id: str,
        kind: str,
        events: pd.DataFrame,
        period_starts: np.ndarray,
        lo_ns: int,
        hi_ns: int,
        *,
        run_id: str,
        report_day: str,
    ) -> int:
        """Replace a zone's stored events touching ``[lo_ns, hi_ns]`` with whole ``events``.

        ``events`` has ``event, start_ns, end_ns``; an event stored before unchanged keeps its run and
        report day. Each event's ``period_start_ns`` is the start of the period it begins in. Returns
        the number of events.
        """
        old = {
            (r[0], int(r[1]), None if r[2] is None else int(r[2])): (r[3], r[4])
            for r in c.execute(
                "SELECT event, start_ns, end_ns, run_id, report_day FROM zone_events WHERE zone_id = ? "
                "AND subject_id = ? AND start_ns <= ? AND COALESCE(end_ns, start_ns) >= ?",
                (zone_id, subject_id, int(hi_ns), int(lo_ns)),
            )
        }
        c.execute(
            "DELETE FROM zone_events WHERE zone_id = ? AND subject_id = ? AND start_ns <= ? "
            "AND COALESCE(end_ns, start_ns) >= ?",
            (zone_id, subject_id, int(hi_ns), int(lo_ns)),
        )
        ps = np.asarray(period_starts, dtype=np.int64)
        rows = []
        for ev, s, e in zip(events["event"], events["start_ns"], events["end_ns"], strict=True):
            s, e = int(s), int(e)
            k = max(int(np.searchsorted(ps, s, side="right")) - 1, 0)
            rid, day = old.get((str(ev), s, e), (run_id, report_day))
            rows.append((zone_id, subject_id, kind, str(ev), s, e, (e - s) / 1e9, int(ps[k]) if len(ps) else s,
                         rid, day))
        c.executemany("INSERT OR REPLACE INTO zone_events VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
        return len(rows)

    # -- what to match -----------------------------------------------------------------------------
    def crimes_to_match(self, spans: list[tuple[int, int]], pad_ns: int) -> pd.DataFrame:
        """Crime versions never matched, or whose window (padded) overlaps ``spans``; canonical frame."""
        cond, params = _overlap_sql("committed_from_ns", "committed_to_ns", spans, pad_ns, pad_ns)
        df = self.frame(
            f"SELECT * FROM crimes WHERE needs_match = 1 OR {cond} ORDER BY force, crime_ref, crime_version",
            params,
        )
        return _crime_frame(df)

    def appointments_to_match(
        self, spans: list[tuple[int, int]], pad_lo_ns: int, pad_hi_ns: int, due_ns: int
    ) -> pd.DataFrame:
        """Appointments ended by ``due_ns`` never judged, or overlapping ``spans``; canonical frame."""
        cond, params = _overlap_sql("start_ns", "end_ns", spans, pad_lo_ns, pad_hi_ns)
        df = self.frame(
            f"SELECT * FROM appointments WHERE end_ns <= ? AND (needs_match = 1 OR {cond}) "
            "ORDER BY appointment_id",
            [due_ns, *params],
        )
        import shapely

        return pd.DataFrame(
            {
                "appointment_id": df["appointment_id"].astype(object),
                "subject_id": df["subject_id"].astype(object),
                "start": ns_to_times(df["start_ns"]),
                "end": ns_to_times(df["end_ns"]),
                "appointment_type": df["appointment_type"].astype(object),
                "center_x_m": pd.to_numeric(df["center_x_m"], errors="coerce").astype(float),
                "center_y_m": pd.to_numeric(df["center_y_m"], errors="coerce").astype(float),
                "radius_m": pd.to_numeric(df["radius_m"], errors="coerce").astype(float),
                "geometry": pd.Series(
                    [None if g is None else shapely.from_wkb(g) for g in df["geometry_wkb"]], dtype=object
                ),
            }
        )

    def zones_frame(self) -> pd.DataFrame:
        """Every stored zone: the canonical zone frame plus ``evaluated_until_ns`` (int ns or None)."""
        import shapely

        df = self.frame("SELECT * FROM zones ORDER BY zone_id, subject_id")
        return pd.DataFrame(
            {
                "zone_id": df["zone_id"].astype(object),
                "subject_id": df["subject_id"].astype(object),
                "kind": df["kind"].astype(object),
                "active_from": ns_to_times(df["active_from_ns"]),
                "active_to": ns_to_times(df["active_to_ns"]),
                "daily_start": df["daily_start"].astype(object),
                "daily_end": df["daily_end"].astype(object),
                "center_x_m": pd.to_numeric(df["center_x_m"], errors="coerce").astype(float),
                "center_y_m": pd.to_numeric(df["center_y_m"], errors="coerce").astype(float),
                "radius_m": pd.to_numeric(df["radius_m"], errors="coerce").astype(float),
                "geometry": pd.Series(
                    [None if g is None else shapely.from_wkb(g) for g in df["geometry_wkb"]], dtype=object
                ),
                "evaluated_until_ns": df["evaluated_until_ns"].astype(object),
            }
        )

    # -- results -----------------------------------------------------------------------------------
    def apply_proximity(
        self,
        c: sqlite3.Connection,
        matched: pd.DataFrame,
        hits: pd.DataFrame,
        evidence: pd.DataFrame,
        gaps: pd.DataFrame,
        *,
        run_id: str,
        report_day: str,
    ) -> dict:
        """Replace the results of the crime versions in ``matched`` with a fresh proximity run.

        ``matched`` holds ``force, crime_ref, crime_version`` of every crime version matched; the
        result frames carry ``force`` beside the SPEC columns. Hits are upserted on their natural
        key and keep their id and review state; hits no longer found are withdrawn.

        Returns
        -------
        dict
            ``{"crimes", "new", "updated", "unchanged", "withdrawn", "evidence_rows", "gaps"}``.
        """
        out = {
            "crimes": len(matched),
            "new": 0,
            "updated": 0,
            "unchanged": 0,
            "withdrawn": 0,
            "evidence_rows": len(evidence),
            "gaps": len(gaps),
        }
        keys = [
            (str(f), str(r), int(v))
            for f, r, v in zip(matched["force"], matched["crime_ref"], matched["crime_version"], strict=True)
        ]
        found = {
            (str(f), str(r), int(v), str(s))
            for f, r, v, s in zip(
                hits["force"], hits["crime_ref"], hits["crime_version"], hits["subject_id"], strict=True
            )
        }
        now = utc_now()
        for key in keys:
            for old in c.execute(
                "SELECT * FROM hits WHERE force = ? AND crime_ref = ? AND crime_version = ?", key
            ).fetchall():
                if (old["force"], old["crime_ref"], old["crime_version"], old["subject_id"]) in found:
                    continue
                c.execute(
                    "INSERT INTO withdrawn_hits VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (
                        old["hit_id"],
                        old["force"],
                        old["crime_ref"],
                        old["crime_version"],
                        old["subject_id"],
                        old["review_state"],
                        old["reviewer"],
                        old["review_reason"],
                        run_id,
                        now,
                    ),
                )
                c.execute("DELETE FROM hits WHERE hit_id = ?", (old["hit_id"],))
                out["withdrawn"] += 1
            c.execute("DELETE FROM gaps WHERE force = ? AND crime_ref = ? AND crime_version = ?", key)
            c.execute(
                "UPDATE crimes SET needs_match = 0, matched_run = ? WHERE force = ? AND crime_ref = ? "
                "AND crime_version = ?",
                (run_id, *key),
            )
        hit_cols = [
            "min_distance_m",
            "closest_time_ns",
            "first_within_ns",
            "last_within_ns",
            "dwell_s",
            "passes",
            "n_fixes_within",
            "between_fixes",
            "accuracy_m",
            "confidence",
            "coverage",
            "flags",
        ]
        closest, first, last = _ns(hits["closest_time"]), _ns(hits["first_within"]), _ns(hits["last_within"])
        ids: dict[tuple, int] = {}
        for k, r in enumerate(hits.itertuples(index=False)):
            key = (str(r.force), str(r.crime_ref), int(r.crime_version), str(r.subject_id))
            vals = (
                _f(r.min_distance_m),
                closest[k],
                first[k],
                last[k],
                _f(r.dwell_s),
                int(r.passes),
                int(r.n_fixes_within),
                int(bool(r.between_fixes)),
                _f(r.accuracy_m),
                _s(r.confidence),
                _f(r.coverage),
                _s(r.flags) or "",
            )
            old = c.execute(
                "SELECT * FROM hits WHERE force = ? AND crime_ref = ? AND crime_version = ? "
                "AND subject_id = ?",
                key,
            ).fetchone()
            if old is None:
                cur = c.execute(
                    f"INSERT INTO hits (force, crime_ref, crime_version, subject_id, {', '.join(hit_cols)},"
                    " run_id, report_day) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*key, *vals, run_id, report_day),
                )
                ids[key] = int(cur.lastrowid)
                out["new"] += 1
                continue
            ids[key] = int(old["hit_id"])
            same = tuple(old[col] for col in hit_cols) == vals
            out["unchanged" if same else "updated"] += 1
            c.execute(
                f"UPDATE hits SET {', '.join(f'{col} = ?' for col in hit_cols)}, run_id = ?, report_day = ? "
                "WHERE hit_id = ?",
                (*vals, run_id, report_day, old["hit_id"]),
            )
            c.execute("DELETE FROM evidence WHERE hit_id = ?", (old["hit_id"],))
        if len(evidence):
            times = _ns(evidence["time"])
            cols = {name: evidence[name].tolist() for name in evidence.columns}
            rows = []
            for k in range(len(evidence)):
                hid = ids[
                    (
                        str(cols["force"][k]),
                        str(cols["crime_ref"][k]),
                        int(cols["crime_version"][k]),
                        str(cols["subject_id"][k]),
                    )
                ]
                rows.append(
                    (
                        hid,
                        str(cols["label"][k]),
                        str(cols["kind"][k]),
                        _s(cols["pass"][k]),
                        int(cols["seq"][k]),
                        times[k],
                        *[_f(cols[n][k]) for n in ("lat", "lon", "easting", "northing", "distance_m")],
                        int(bool(cols["within_r"][k])),
                        *[_f(cols[n][k]) for n in ("accuracy_m", "speed_kmh", "heading_deg")],
                        _s(cols["fix_type"][k]),
                        _s(cols["flags"][k]) or "",
                    )
                )
            c.executemany("INSERT OR REPLACE INTO evidence VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        if len(gaps):
            g1, g2 = _ns(gaps["gap_start"]), _ns(gaps["gap_end"])
            c.executemany(
                "INSERT OR REPLACE INTO gaps VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        str(r.force),
                        str(r.crime_ref),
                        int(r.crime_version),
                        str(r.subject_id),
                        g1[k],
                        g2[k],
                        _f(r.gap_s),
                        _f(r.before_distance_m),
                        _f(r.after_distance_m),
                        _f(r.coverage),
                        run_id,
                        report_day,
                    )
                    for k, r in enumerate(gaps.itertuples(index=False))
                ],
            )
        return out

    def apply_attendance(
        self, c: sqlite3.Connection, outcomes: pd.DataFrame, *, run_id: str, report_day: str
    ) -> dict:
        """Upsert one outcome per appointment (the latest wins); returns ``{"outcomes", "changed"}``."""
        out = {"outcomes": len(outcomes), "changed": 0}
        start, end = _ns(outcomes["start"]), _ns(outcomes["end"])
        arrival, departure = _ns(outcomes["arrival"]), _ns(outcomes["departure"])
        cols = [
            "subject_id",
            "start_ns",
            "end_ns",
            "inside_s",
            "arrival_ns",
            "departure_ns",
            "coverage",
            "status",
            "flags",
            "outcome",
        ]
        for k, r in enumerate(outcomes.itertuples(index=False)):
            vals = (
                str(r.subject_id),
                start[k],
                end[k],
                _f(r.inside_s),
                arrival[k],
                departure[k],
                _f(r.coverage),
                str(r.status),
                _s(r.flags) or "",
                _s(r.outcome),
            )
            old = c.execute(
                "SELECT * FROM attendance WHERE appointment_id = ?", (str(r.appointment_id),)
            ).fetchone()
            if old is None or tuple(old[col] for col in cols) != vals:
                out["changed"] += 1
            c.execute(
                "INSERT OR REPLACE INTO attendance VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (str(r.appointment_id), *vals, run_id, report_day),
            )
            c.execute(
                "UPDATE appointments SET needs_match = 0, matched_run = ? WHERE appointment_id = ?",
                (run_id, str(r.appointment_id)),
            )
        return out

    def apply_zone_period(
        self,
        c: sqlite3.Connection,
        zone_id: str,
        subject_id: str,
        kind: str,
        period_start_ns: int,
        events: pd.DataFrame,
        *,
        run_id: str,
        report_day: str,
    ) -> int:
        """Replace the events of one zone period; returns the number of events stored."""
        c.execute(
            "DELETE FROM zone_events WHERE zone_id = ? AND subject_id = ? AND period_start_ns = ?",
            (zone_id, subject_id, int(period_start_ns)),
        )
        if not len(events):
            return 0
        s, e = _ns(events["start"]), _ns(events["end"])
        c.executemany(
            "INSERT OR REPLACE INTO zone_events VALUES (?,?,?,?,?,?,?,?,?,?)",
            [
                (
                    zone_id,
                    subject_id,
                    kind,
                    str(r.event),
                    s[k],
                    e[k],
                    _f(r.duration_s),
                    int(period_start_ns),
                    run_id,
                    report_day,
                )
                for k, r in enumerate(events.itertuples(index=False))
            ],
        )
        return len(events)

    def set_zone_evaluated(self, c: sqlite3.Connection, zone_id: str, subject_id: str, until_ns: int) -> None:
        """Record that the zone's periods up to ``until_ns`` have been judged."""
        c.execute(
            "UPDATE zones SET evaluated_until_ns = MAX(COALESCE(evaluated_until_ns, ?), ?) "
            "WHERE zone_id = ? AND subject_id = ?",
            (int(until_ns), int(until_ns), zone_id, subject_id),
        )

    # -- review --------------------------------------------------------------------------------------
    def review(self, hit_id: int, state: str, *, user: str, reason: str | None = None) -> dict:
        """Qualify or reject a pending hit; returns the updated hit.

        Raises
        ------
        InputError
            For an unknown ``hit_id``, a state other than ``qualified`` / ``rejected``, a rejection
            without a reason, or a hit already reviewed.
        """
        if state not in ("qualified", "rejected"):
            raise InputError(f"a review moves a hit to 'qualified' or 'rejected', got {state!r}")
        if state == "rejected" and not (reason and reason.strip()):
            raise InputError("a rejection needs a reason: give --reason TEXT")
        with self.transaction() as c:
            row = c.execute("SELECT * FROM hits WHERE hit_id = ?", (int(hit_id),)).fetchone()
            if row is None:
                raise InputError(f"no hit with id {hit_id!r}; `trailmon review list` shows the ids")
            if row["review_state"] != "pending":
                raise InputError(
                    f"hit {hit_id} was already {row['review_state']} by {row['reviewer']} at "
                    f"{row['reviewed_at']}; only pending hits can be reviewed"
                )
            c.execute(
                "UPDATE hits SET review_state = ?, reviewer = ?, review_reason = ?, reviewed_at = ? "
                "WHERE hit_id = ?",
                (state, user, reason.strip() if reason else None, utc_now(), int(hit_id)),
            )
            return dict(c.execute("SELECT * FROM hits WHERE hit_id = ?", (int(hit_id),)).fetchone())

    def hits(self, *, subject: str | None = None, state: str | None = None) -> pd.DataFrame:
        """Hits with their crime and review state, by id."""
        where, params = [], []
        if subject is not None:
            where.append("h.subject_id = ?")
            params.append(subject)
        if state is not None:
            where.append("h.review_state = ?")
            params.append(state)
        sql = (
            "SELECT h.*, c.offence, c.offence_group, c.committed_from_ns, c.committed_to_ns, c.radius_m "
            "FROM hits h LEFT JOIN crimes c USING (force, crime_ref, crime_version)"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY h.hit_id"
        )
        return self.frame(sql, params)

    # -- case records --------------------------------------------------------------------------------
    def case_records(self, *, subject: str | None = None, exportable: bool = True) -> list[dict]:
        """Case records (SPEC §4), one per event, following :data:`SCHEMA_PATH`.

        Parameters
        ----------
        subject : str, optional
            Only this subject's records.
        exportable : bool, default True
            Only qualified hits (appointment and zone outcomes need no review); False gives
            every hit whatever its review state.

        Returns
        -------
        list of dict
            Hits by id, then appointment outcomes by id, then zone events by zone, subject and start.
        """
        subj = {str(r["subject_id"]): dict(r) for r in self.conn.execute("SELECT * FROM subjects")}
        engine = f"trailmon {__version__}"
        out: list[dict] = []

        def base(kind: str, rid: str, sid: str) -> dict:
            s = subj.get(sid, {})
            rec = dict.fromkeys(_RECORD_FIELDS)
            rec.update(
                schema_version=SCHEMA_RECORD_VERSION,
                record_id=rid,
                event_type=kind,
                subject_id=sid,
                crn=s.get("crn"),
                pnc_id=s.get("pnc_id"),
                cohort=s.get("cohort"),
                flags="",
                engine=engine,
            )
            return rec

        where, params = [], []
        if subject is not None:
            where.append("subject_id = ?")
            params.append(subject)
        hit_where = where + (["review_state = 'qualified'"] if exportable else [])
        for h in self.conn.execute(
            "SELECT h.*, c.offence FROM hits h LEFT JOIN crimes c USING (force, crime_ref, "
            "crime_version)"
            + (" WHERE " + " AND ".join(f"h.{w}" for w in hit_where) if hit_where else "")
            + " ORDER BY h.hit_id",
            params,
        ):
            rec = base("proximity_hit", f"hit:{h['hit_id']}", h["subject_id"])
            rec.update(
                start=_iso(h["first_within_ns"]),
                end=_iso(h["last_within_ns"]),
                status="hit",
                confidence=h["confidence"],
                distance_m=h["min_distance_m"],
                duration_s=h["dwell_s"],
                coverage=h["coverage"],
                flags=h["flags"] or "",
                crime_ref=h["crime_ref"],
                crime_version=int(h["crime_version"]),
                force=h["force"] or None,
                offence=h["offence"],
                closest_time=_iso(h["closest_time_ns"]),
                passes=h["passes"],
                review_state=h["review_state"],
                reviewer=h["reviewer"],
                review_reason=h["review_reason"],
                reviewed_at=h["reviewed_at"],
            )
            out.append(rec)
        sql_where = " WHERE " + " AND ".join(where) if where else ""
        for a in self.conn.execute(f"SELECT * FROM attendance{sql_where} ORDER BY appointment_id", params):
            rec = base("appointment_outcome", f"appointment:{a['appointment_id']}", a["subject_id"])
            rec.update(
                start=_iso(a["start_ns"]),
                end=_iso(a["end_ns"]),
                status=a["status"],
                duration_s=a["inside_s"],
                coverage=a["coverage"],
                flags=a["flags"] or "",
                appointment_id=a["appointment_id"],
                outcome=a["outcome"],
                arrival=_iso(a["arrival_ns"]),
                departure=_iso(a["departure_ns"]),
                review_state="not_required",
            )
            out.append(rec)
        for z in self.conn.execute(
            f"SELECT * FROM zone_events{sql_where} ORDER BY zone_id, subject_id, start_ns, event", params
        ):
            start = _iso(z["start_ns"])
            rec = base(
                "zone_event", f"zone:{z['zone_id']}:{z['subject_id']}:{z['event']}:{start}", z["subject_id"]
            )
            rec.update(
                start=start,
                end=_iso(z["end_ns"]),
                status=z["event"],
                duration_s=z["duration_s"],
                zone_id=z["zone_id"],
                zone_kind=z["kind"],
                review_state="not_required",
            )
            out.append(rec)
        return out

    # -- comparison ----------------------------------------------------------------------------------
    def snapshot(self) -> dict[str, list[tuple]]:
        """Every case record, without run ids, report days, timestamps or hit ids; sorted rows per table.

        Two stores with equal snapshots hold the same case records (evidence is keyed by its
        hit's natural key instead of the hit id).
        """
        out: dict[str, list[tuple]] = {}
        for table in CASE_TABLES:
            if table == "evidence":
                df = self.frame(
                    "SELECT h.force, h.crime_ref, h.crime_version, h.subject_id, e.* FROM evidence e "
                    "JOIN hits h USING (hit_id)"
                )
            else:
                df = self.frame(f"SELECT * FROM {table}")
            cols = [col for col in df.columns if col not in _VOLATILE]
            rows = [tuple(_cmp(v) for v in row) for row in df[cols].itertuples(index=False)]
            out[table] = sorted(rows, key=repr)
        return out


def _cmp(v):
    if isinstance(v, bytes):
        return v.hex()
    if isinstance(v, float):
        return float(v)
    return v


def _crime_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Stored crime rows to the canonical crime frame (plus ``force``)."""
    return pd.DataFrame(
        {
            "crime_ref": df["crime_ref"].astype(object),
            "crime_version": df["crime_version"].astype(np.int64),
            "offence": df["offence"].astype(object),
            "offence_group": df["offence_group"].astype(object),
            "x_m": pd.to_numeric(df["x_m"]).astype(float),
            "y_m": pd.to_numeric(df["y_m"]).astype(float),
            "lat": pd.to_numeric(df["lat"], errors="coerce").astype(float),
            "lon": pd.to_numeric(df["lon"], errors="coerce").astype(float),
            "committed_from": ns_to_times(df["committed_from_ns"]),
            "committed_to": ns_to_times(df["committed_to_ns"]),
            "radius_m": pd.to_numeric(df["radius_m"], errors="coerce").astype(float),
            "force": df["force"].astype(object),
            "batch_id": df["batch_id"].astype(object),
            "source_format": df["source_format"].astype(object),
        }
    )


SCHEMA_PATH = Path(__file__).with_name("schema") / "case_record.schema.json"
"""The JSON Schema (draft 2020-12) every exported case record follows; shipped in the wheel."""

SCHEMA_RECORD_VERSION = "1.0.0"

_RECORD_FIELDS = (
    "schema_version",
    "record_id",
    "event_type",
    "subject_id",
    "crn",
    "pnc_id",
    "cohort",
    "start",
    "end",
    "status",
    "confidence",
    "distance_m",
    "duration_s",
    "coverage",
    "flags",
    "crime_ref",
    "crime_version",
    "force",
    "offence",
    "closest_time",
    "passes",
    "appointment_id",
    "outcome",
    "arrival",
    "departure",
    "zone_id",
    "zone_kind",
    "review_state",
    "reviewer",
    "review_reason",
    "reviewed_at",
    "engine",
)


def load_schema() -> dict:
    """The case-record JSON Schema."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_records(records: Iterable[dict], schema: dict | None = None) -> int:
    """Check every record against the case-record schema; returns the number checked.

    Uses ``jsonschema`` (draft 2020-12) when it is installed, else a built-in check of the
    required fields, types, enumerations, constants, patterns and bounds (including the
    ``allOf`` / ``if`` / ``then`` rules per event type).

    Raises
    ------
    StoreError
        Naming the first record that does not follow the schema and why.
    """
    schema = schema or load_schema()
    try:
        import jsonschema
    except ImportError:  # pragma: no cover - exercised by monkeypatching in the tests
        jsonschema = None
    n = 0
    if jsonschema is not None:
        validator = jsonschema.Draft202012Validator(schema)
        for rec in records:
            n += 1
            err = jsonschema.exceptions.best_match(validator.iter_errors(rec))
            if err is not None:
                where = "/".join(map(str, err.absolute_path)) or "(record)"
                raise StoreError(
                    f"case record {rec.get('record_id')!r} does not follow {schema.get('$id')}: "
                    f"{where}: {err.message}"
                )
        return n
    for rec in records:
        n += 1
        problem = builtin_check(rec, schema)
        if problem:
            raise StoreError(
                f"case record {rec.get('record_id')!r} does not follow {schema.get('$id')}: {problem}"
            )
    return n


_JSON_TYPES = {
    "string": str,
    "integer": int,
    "number": (int, float),
    "object": dict,
    "array": list,
    "boolean": bool,
    "null": type(None),
}


def builtin_check(rec: dict, schema: dict) -> str | None:
    """The first problem of ``rec`` against the subset of JSON Schema the case-record schema uses, or None."""
    import re

    if schema.get("type") == "object" and not isinstance(rec, dict):
        return "(record): not an object"
    for name in schema.get("required", []):
        if name not in rec:
            return f"(record): {name!r} is a required property"
    props = schema.get("properties", {})
    if schema.get("additionalProperties") is False:
        extra = sorted(set(rec) - set(props))
        if extra:
            return f"(record): additional properties are not allowed ({', '.join(map(repr, extra))})"
    for name, rule in props.items():
        if name not in rec:
            continue
        v = rec[name]
        if "const" in rule and v != rule["const"]:
            return f"{name}: {v!r} was expected to be {rule['const']!r}"
        if "enum" in rule and v not in rule["enum"]:
            return f"{name}: {v!r} is not one of {rule['enum']!r}"
        if "type" in rule:
            types = rule["type"] if isinstance(rule["type"], list) else [rule["type"]]
            ok = any(
                isinstance(v, _JSON_TYPES[t]) and not (t in ("integer", "number") and isinstance(v, bool))
                for t in types
            )
            if not ok:
                return f"{name}: {v!r} is not of type {' or '.join(types)}"
        if isinstance(v, str):
            if "pattern" in rule and not re.search(rule["pattern"], v):
                return f"{name}: {v!r} does not match {rule['pattern']!r}"
            if len(v) < rule.get("minLength", 0):
                return f"{name}: {v!r} is too short"
        if isinstance(v, int | float) and not isinstance(v, bool):
            if "minimum" in rule and v < rule["minimum"]:
                return f"{name}: {v!r} is less than the minimum of {rule['minimum']}"
            if "maximum" in rule and v > rule["maximum"]:
                return f"{name}: {v!r} is greater than the maximum of {rule['maximum']}"
    for part in schema.get("allOf", []):
        cond = part.get("if")
        if cond is not None and builtin_check(rec, {**cond, "additionalProperties": True}) is None:
            problem = builtin_check(rec, {**part.get("then", {}), "additionalProperties": True})
            if problem:
                return problem
    return None
