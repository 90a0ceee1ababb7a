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
                   subject_id)                                      and its evidence fingerprint and row count
evidence           (hit_id, label, kind)                            evidence rows stored by trailmon before
                                                                    the review history (none are added now)
review_history     review_id; per hit and natural key               every verdict, with the figures and
                                                                    evidence fingerprint it was given on
review_evidence    (review_id, label, kind)                         evidence rows frozen with a verdict
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
stored version becomes a new version; an identical re-send changes nothing. Times are stored as
integer nanoseconds UTC. The schema version is ``PRAGMA user_version``; :data:`MIGRATIONS` brings
an older file up to date on open.

**A verdict belongs to the figures it was given on (SPEC §8).** Hits start ``pending`` and a
reviewer moves them to ``qualified`` or ``rejected``; each verdict is a ``review_history`` row
holding who, when, the state, the reason, the hit's figures and its evidence fingerprint, with
the evidence rows the reviewer was shown frozen in ``review_evidence``. A re-match that changes a
reviewed hit's :data:`FIGURES` beyond 1 mm / 1 ms, or its evidence rows, sends it back to
``pending`` with ``changed_since_review = 1``; the verdict is ended (``ended_why``), never
deleted. A hit a re-match no longer finds moves to ``withdrawn_hits`` and its verdicts are
ended ``withdrawn``. Exports and packs show a verdict only where :meth:`CaseStore.current_verdicts`
finds it in force on the hit's current figures and evidence.

**Evidence rows are not stored per night.** A national night has ~5 M evidence rows (~0.5 GB
in SQLite, nearly a second copy of the day's fixes), and every one of them is a function of the
trail store, the crime version and the run's parameters. So :meth:`CaseStore.apply_proximity`
keeps per hit only a 128-bit fingerprint of its rows and their count
(:func:`evidence_digests`, ~60 B a hit); the rows are computed again from the trail store
when shown (:mod:`trailmon.report.case_evidence`, checked against the fingerprint) and frozen
into ``review_evidence`` when the hit is reviewed, so a reviewed hit's evidence never changes
under its verdict. Rows an older trailmon stored stay readable in ``evidence`` until their hit
is re-matched; the migration froze those of reviewed hits with their verdicts.
"""

from __future__ import annotations

import hashlib
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
    # the EM device (id, serial) of each monitoring window; subjects get their latest one
    """
    ALTER TABLE subjects ADD COLUMN device_id TEXT;
    ALTER TABLE subjects ADD COLUMN device_serial TEXT;
    CREATE TABLE subject_devices (
        subject_id TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER, device_id TEXT, device_serial TEXT,
        PRIMARY KEY (subject_id, start_ns)
    );
    """,
    # web sessions (server-side, revocable), sign-in throttling per (user, client), the audit chain head
    """
    CREATE TABLE web_sessions (
        sid_hash TEXT PRIMARY KEY, user TEXT NOT NULL, role TEXT NOT NULL, stamp TEXT NOT NULL,
        client TEXT, created REAL NOT NULL, last_seen REAL NOT NULL, ended REAL, end_reason TEXT
    );
    CREATE INDEX web_sessions_user ON web_sessions (user);
    CREATE TABLE sign_in_failures (
        user TEXT NOT NULL, client TEXT NOT NULL, failures INTEGER NOT NULL, first_failure REAL NOT NULL,
        locked_until REAL, PRIMARY KEY (user, client)
    );
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1), entries INTEGER NOT NULL, last_hash TEXT NOT NULL, updated TEXT
    );
    """,
    # verdicts tied to figures (SPEC §8): review history with the figures and evidence each verdict was
    # given on, changed_since_review, per-hit evidence digests (evidence rows are computed on view)
    """
    ALTER TABLE hits ADD COLUMN changed_since_review INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE hits ADD COLUMN review_id INTEGER;
    ALTER TABLE hits ADD COLUMN evidence_digest TEXT;
    ALTER TABLE hits ADD COLUMN evidence_rows INTEGER;
    CREATE TABLE review_history (
        review_id INTEGER PRIMARY KEY AUTOINCREMENT, hit_id INTEGER NOT NULL,
        force TEXT NOT NULL, crime_ref TEXT NOT NULL, crime_version INTEGER NOT NULL, subject_id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('qualified', 'rejected')), reviewer TEXT, reason TEXT,
        reviewed_at TEXT, run_id TEXT,
        min_distance_m REAL, closest_time_ns INTEGER, first_within_ns INTEGER, last_within_ns INTEGER,
        dwell_s REAL, passes INTEGER, n_fixes_within INTEGER, between_fixes INTEGER, accuracy_m REAL,
        confidence TEXT, coverage REAL, flags TEXT,
        evidence_rows INTEGER, evidence_digest TEXT, evidence_frozen INTEGER NOT NULL DEFAULT 0,
        ended_at TEXT, ended_run TEXT,
        ended_why TEXT CHECK (ended_why IS NULL OR ended_why IN ('changed_since_review', 'withdrawn'))
    );
    CREATE INDEX review_history_key ON review_history (force, crime_ref, crime_version, subject_id);
    CREATE INDEX review_history_hit ON review_history (hit_id);
    CREATE TABLE review_evidence (
        review_id INTEGER NOT NULL REFERENCES review_history (review_id),
        label TEXT NOT NULL, kind TEXT NOT NULL, pass TEXT, seq INTEGER, time_ns INTEGER, lat REAL, lon REAL,
        easting REAL, northing REAL, distance_m REAL, within_r INTEGER, accuracy_m REAL, speed_kmh REAL,
        heading_deg REAL, fix_type TEXT, flags TEXT,
        PRIMARY KEY (review_id, label, kind)
    );
    INSERT INTO review_history (hit_id, force, crime_ref, crime_version, subject_id, state, reviewer, reason,
        reviewed_at, run_id, min_distance_m, closest_time_ns, first_within_ns, last_within_ns, dwell_s, passes,
        n_fixes_within, between_fixes, accuracy_m, confidence, coverage, flags, evidence_rows, evidence_frozen)
        SELECT hit_id, force, crime_ref, crime_version, subject_id, review_state, reviewer, review_reason,
        reviewed_at, run_id, min_distance_m, closest_time_ns, first_within_ns, last_within_ns, dwell_s, passes,
        n_fixes_within, between_fixes, accuracy_m, confidence, coverage, flags,
        (SELECT COUNT(*) FROM evidence e WHERE e.hit_id = hits.hit_id), 1
        FROM hits WHERE review_state != 'pending' ORDER BY hit_id;
    UPDATE hits SET review_id = (SELECT r.review_id FROM review_history r WHERE r.hit_id = hits.hit_id)
        WHERE review_state != 'pending';
    INSERT INTO review_evidence SELECT r.review_id, e.label, e.kind, e.pass, e.seq, e.time_ns, e.lat, e.lon,
        e.easting, e.northing, e.distance_m, e.within_r, e.accuracy_m, e.speed_kmh, e.heading_deg, e.fix_type,
        e.flags FROM evidence e JOIN review_history r ON r.hit_id = e.hit_id;
    UPDATE hits SET evidence_rows = (SELECT COUNT(*) FROM evidence e WHERE e.hit_id = hits.hit_id);
    """,
    # gaps near scene: reachability across the gap (SPEC §3 space-time prism)
    """
    ALTER TABLE gaps ADD COLUMN min_speed_kmh REAL;
    ALTER TABLE gaps ADD COLUMN reachable_by TEXT;
    """,
    # associations: co-location episodes (SPEC §3), case records reviewed like hits
    """
    CREATE TABLE associations (
        association_id INTEGER PRIMARY KEY AUTOINCREMENT,
        subject_a TEXT NOT NULL, subject_b TEXT NOT NULL, distance_m REAL NOT NULL, start_ns INTEGER NOT NULL,
        end_ns INTEGER, duration_s REAL, min_distance_m REAL, closest_time_ns INTEGER, lat REAL, lon REAL,
        easting REAL, northing REAL, flags TEXT,
        review_state TEXT NOT NULL DEFAULT 'pending'
            CHECK (review_state IN ('pending', 'qualified', 'rejected')),
        reviewer TEXT, review_reason TEXT, reviewed_at TEXT,
        run_id TEXT, report_day TEXT,
        UNIQUE (subject_a, subject_b, distance_m, start_ns)
    );
    CREATE INDEX associations_a ON associations (subject_a);
    CREATE INDEX associations_b ON associations (subject_b);
    """,
    # the trail store's change journal entries (ingest ids) the nightly job has queued (SPEC §8)
    """
    CREATE TABLE trail_changes_consumed (ingest_id TEXT PRIMARY KEY, run_id TEXT);
    """,
)
"""Schema migrations, in order; ``PRAGMA user_version`` is the number applied."""

SCHEMA_VERSION = len(MIGRATIONS)

BUSY_TIMEOUT_S = 10.0
"""How long one attempt waits for another connection's write lock (SQLite's busy handler), seconds."""

BUSY_RETRIES = 5
"""Attempts after the first when SQLite still answers ``SQLITE_BUSY`` (a nightly step holding the write
lock longer than :data:`BUSY_TIMEOUT_S`); then the error is raised."""

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
    "associations",
)
"""The tables that hold case records (compared by :meth:`CaseStore.snapshot`)."""

_VOLATILE = {
    "hit_id",
    "association_id",
    "run_id",
    "report_day",
    "received_run",
    "matched_run",
    "needs_match",
    "reviewed_at",
    "evaluated_until_ns",
    "review_id",
}
_MIN_NS = -(2**63) + 1
_MAX_NS = 2**63 - 1


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _when_not_busy(fn):
    """``fn()``, tried again up to :data:`BUSY_RETRIES` times while SQLite answers ``SQLITE_BUSY``."""
    for attempt in range(BUSY_RETRIES + 1):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or attempt == BUSY_RETRIES:
                raise
            time.sleep(min(0.05 * 2**attempt, 1.0))
    return None  # pragma: no cover - the loop returns or raises


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


def times_to_ns(values) -> np.ndarray:
    """Instants (a datetime column) as int64 ns UTC; the inverse of :func:`ns_to_times`."""
    return np.asarray(pd.to_datetime(pd.Series(values), utc=True).dt.as_unit("ns").astype("int64"), dtype=np.int64)


def ns_to_times(values) -> pd.Series:
    """Int ns (None for none) to ``datetime64[ns, UTC]``."""
    if isinstance(values, pd.Series | np.ndarray) and np.issubdtype(values.dtype, np.integer):  # no None: no loop
        return pd.Series(pd.to_datetime(np.asarray(values, dtype=np.int64), unit="ns", utc=True))
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


# -- verdicts tied to figures (SPEC §8) ------------------------------------------------------------
FIGURES: tuple[tuple[str, float | None], ...] = (
    ("min_distance_m", 1e-3),
    ("closest_time_ns", 1e6),
    ("first_within_ns", 1e6),
    ("last_within_ns", 1e6),
    ("dwell_s", 1e-3),
    ("passes", 0.0),
    ("n_fixes_within", 0.0),
    ("between_fixes", 0.0),
    ("confidence", None),
)
"""The figures a verdict is given on (SPEC §8), each with the change it tolerates: 1 mm, 1 ms
(times in ns), 1 ms of dwell, exact counts and flags, the same confidence word."""

EVIDENCE_COLUMNS = (
    "label",
    "kind",
    "pass",
    "seq",
    "time_ns",
    "lat",
    "lon",
    "easting",
    "northing",
    "distance_m",
    "within_r",
    "accuracy_m",
    "speed_kmh",
    "heading_deg",
    "fix_type",
    "flags",
)
"""The stored columns of an evidence row (beside ``hit_id`` or ``review_id``)."""

_EV_TEXT = ("label", "kind", "pass", "fix_type", "flags")
_EV_SCALED = (
    ("lat", 1e8),
    ("lon", 1e8),
    ("easting", 1e3),
    ("northing", 1e3),
    ("distance_m", 1e3),
    ("accuracy_m", 1e3),
    ("speed_kmh", 1e3),
    ("heading_deg", 1e3),
)
_NONE_CODE = np.int64(-(2**63))
_HIT_KEY = ("force", "crime_ref", "crime_version", "subject_id")


def figures_changed(reviewed, now) -> list[str]:
    """The :data:`FIGURES` that differ between two hit rows beyond their tolerance (mappings by column)."""
    out = []
    for name, tol in FIGURES:
        a, b = reviewed[name], now[name]
        if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (
            isinstance(b, float) and math.isnan(b)
        ):
            same = (a is None or (isinstance(a, float) and math.isnan(a))) == (
                b is None or (isinstance(b, float) and math.isnan(b))
            )
        elif tol is None:
            same = str(a) == str(b)
        else:
            same = abs(float(a) - float(b)) <= tol
        if not same:
            out.append(name)
    return out


def _text_codes(values) -> np.ndarray:
    """Stable 64-bit codes of text values (None and NaN as ``""``), computed once per distinct value."""
    s = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    if isinstance(s.dtype, pd.CategoricalDtype):  # codes as they are: no text per row
        codes, uniques = s.cat.codes.to_numpy(np.int64), list(s.cat.categories)
    else:
        codes, uniques = pd.factorize(s, sort=False, use_na_sentinel=True)
    # the last entry is for missing values (code -1), hashed as the empty text
    table = np.array(
        [
            int.from_bytes(hashlib.blake2b(str(u).encode(), digest_size=8).digest(), "little", signed=True)
            for u in [*uniques, ""]
        ],
        dtype=np.int64,
    )
    return table[codes]


def _time_ns(frame: pd.DataFrame) -> np.ndarray:
    if "time_ns" in frame:
        s = pd.to_numeric(frame["time_ns"], errors="coerce")
        out = np.full(len(s), _NONE_CODE, dtype=np.int64)
        ok = s.notna().to_numpy()
        out[ok] = s[ok].astype(np.int64).to_numpy()
        return out
    dt = pd.to_datetime(frame["time"], utc=True)
    ns = dt.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]").view(np.int64).copy()
    ns[dt.isna().to_numpy()] = _NONE_CODE
    return ns


def _evidence_columns(frame: pd.DataFrame) -> list[np.ndarray]:
    """The compared values of evidence rows as int64 columns, at the precision of the figures."""
    n = len(frame)
    cols = [_text_codes(frame[c]) for c in _EV_TEXT]
    cols.append(pd.to_numeric(frame["seq"], errors="coerce").fillna(-1).astype(np.int64).to_numpy())
    t = _time_ns(frame)
    cols.append(np.where(t == _NONE_CODE, _NONE_CODE, t // 1_000_000))
    for name, scale in _EV_SCALED:
        v = pd.to_numeric(frame[name], errors="coerce").astype(float).to_numpy()
        q = np.full(n, _NONE_CODE, dtype=np.int64)
        ok = np.isfinite(v)
        q[ok] = np.rint(v[ok] * scale).astype(np.int64)
        cols.append(q)
    # within_r is left out: it is distance_m <= radius, a coin flip for pass ends that lie on the circle
    return cols


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser over uint64 arrays (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _row_hashes(cols: list[np.ndarray], seed: int) -> np.ndarray:
    h = np.full(len(cols[0]), np.uint64(seed), dtype=np.uint64)
    for j, col in enumerate(cols):
        h = _mix(h ^ (col.view(np.uint64) + np.uint64(0x9E3779B97F4A7C15 * (j + 1) % 2**64)))
    return h


def evidence_digests(evidence: pd.DataFrame, by: Iterable[str] = _HIT_KEY) -> dict[tuple, tuple[str, int]]:
    """Fingerprint and row count of the evidence rows of each hit: ``{key: (digest, rows)}``.

    The fingerprint (32 hex digits) is a 128-bit multiset hash of the hit's rows: each row's
    values, at the precision the figures are compared at (times to the millisecond, metres to
    the millimetre, degrees to 1e-8, speeds and headings to 1e-3, texts exact; ``within_r``
    follows from the distance and the crime's radius), are hashed to 64 bits with splitmix64,
    and two different sums of the row hashes are taken per hit. So the same rows give the same
    fingerprint in any order and from any code path, and any changed, added or removed row
    changes it (a detector of change, not a cryptographic seal: the rows themselves are frozen
    with a verdict). Vectorised: a national night's ~5 M rows take seconds. ``evidence`` has the
    SPEC evidence columns (``time`` as datetimes, or ``time_ns``) and the columns ``by``.

    Examples
    --------
    >>> import pandas as pd
    >>> row = dict(hit_id=1, label="A1", kind="fix", pass_="A", seq=1, time_ns=10**18, lat=53.0, lon=-1.1,
    ...            easting=4e5, northing=3.4e5, distance_m=12.0, within_r=1, accuracy_m=5.0, speed_kmh=4.0,
    ...            heading_deg=90.0, fix_type="gps", flags="")
    >>> ev = pd.DataFrame([row]).rename(columns={"pass_": "pass"})
    >>> one = evidence_digests(ev, by=["hit_id"])
    >>> two = evidence_digests(ev.assign(distance_m=12.0004), by=["hit_id"])  # 0.4 mm: the same
    >>> three = evidence_digests(ev.assign(distance_m=12.002), by=["hit_id"])  # 2 mm: changed
    >>> one == two, one == three, one[(1,)][1]
    (True, False, 1)
    """
    by = list(by)
    if not len(evidence):
        return {}
    gid, firsts = _groups(evidence, by)
    h = _row_hashes(_evidence_columns(evidence), 0x5EED0001)
    n_groups = len(firsts)
    s1 = np.zeros(n_groups, dtype=np.uint64)
    s2 = np.zeros(n_groups, dtype=np.uint64)
    np.add.at(s1, gid, h)
    np.add.at(s2, gid, _mix(h ^ np.uint64(0xD6E8FEB86659FD93)))  # a second, different sum of the same rows
    count = np.bincount(gid, minlength=n_groups)
    key_cols = [
        [int(v) if isinstance(v, np.integer) else v for v in evidence[c].iloc[firsts].tolist()] for c in by
    ]
    return {
        tuple(col[k] for col in key_cols): (f"{int(s1[k]):016x}{int(s2[k]):016x}", int(count[k]))
        for k in range(n_groups)
    }


def _groups(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Group number of each row and the first row of each group, for the key columns ``by``.

    Rows of one hit usually arrive together (the matcher writes them so): then the groups are
    the runs of equal keys, found by comparing neighbours; otherwise a group-by numbers them.
    """
    n = len(frame)
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for c in by:
        v = frame[c]
        new[1:] |= v.iloc[1:].reset_index(drop=True).ne(v.iloc[:-1].reset_index(drop=True)).fillna(True).to_numpy(bool)
    firsts = np.flatnonzero(new)
    keys = frame[by].iloc[firsts]
    if not keys.duplicated().any():
        return np.cumsum(new) - 1, firsts
    gid = frame.groupby(by, sort=False, observed=True, dropna=False).ngroup().to_numpy(np.int64)
    firsts = np.full(int(gid.max()) + 1, n, dtype=np.int64)
    np.minimum.at(firsts, gid, np.arange(n, dtype=np.int64))
    return gid, firsts


_VERDICT_FIGURES = (
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
)


def _shown(name: str, v):
    """A figure as ``review list`` shows it (times ISO 8601)."""
    return _iso(v) if name.endswith("_ns") and v is not None else v


def _evidence_rows(evidence: pd.DataFrame) -> list[tuple]:
    """Evidence rows (SPEC columns with ``time``, or stored ones with ``time_ns``) as stored tuples."""
    t = _time_ns(evidence)
    cols = {n: evidence[n].tolist() for n in EVIDENCE_COLUMNS if n in evidence}
    rows = []
    for k in range(len(evidence)):
        rows.append(
            (
                str(cols["label"][k]),
                str(cols["kind"][k]),
                _s(cols["pass"][k]),
                int(cols["seq"][k]),
                None if t[k] == _NONE_CODE else int(t[k]),
                *[_f(cols[n][k]) for n in ("lat", "lon", "easting", "northing", "distance_m")],
                int(bool(cols["within_r"][k])),
                *[_f(cols[n][k]) for n in ("accuracy_m", "speed_kmh", "heading_deg")],
                _s(cols["fix_type"][k]),
                _s(cols["flags"][k]) or "",
            )
        )
    return rows


EMPTY_EVIDENCE_DIGEST = "0" * 32
"""The digest of a hit with no evidence rows."""


_KEYS_PER_QUERY = 5_000
"""Keys looked up per SQL query (3 host parameters each; SQLite allows 32,766)."""


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
            self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        finally:
            os.umask(old)
        self.conn.row_factory = sqlite3.Row
        try:
            self.conn.execute("PRAGMA foreign_keys = ON")
            # WAL: readers (web pages) never wait for a writer (a nightly step), nor it for them
            _when_not_busy(lambda: self.conn.execute("PRAGMA journal_mode = WAL").fetchone())
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
        self._fill_review_digests()

    def _fill_review_digests(self) -> None:
        """Digest the evidence frozen by the migration from the rows an older trailmon stored."""
        todo = [
            int(r[0])
            for r in self.conn.execute("SELECT review_id FROM review_history WHERE evidence_digest IS NULL")
        ]
        if not todo:
            return
        with self.transaction() as c:
            for rid in todo:
                rows = self.frame("SELECT * FROM review_evidence WHERE review_id = ?", [rid])
                digest = evidence_digests(rows, by=["review_id"]).get((rid,), (EMPTY_EVIDENCE_DIGEST, 0))[0]
                c.execute("UPDATE review_history SET evidence_digest = ? WHERE review_id = ?", (digest, rid))

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on error).

        Starting it waits for another writer up to :data:`BUSY_TIMEOUT_S`, retried
        :data:`BUSY_RETRIES` times, so a review made while a nightly step writes goes through
        once that step commits.
        """
        _when_not_busy(lambda: self.conn.execute("BEGIN IMMEDIATE"))
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    def frame(self, sql: str, params: Iterable = ()) -> pd.DataFrame:
        """The result of a query as a frame (object columns)."""
        if self.conn.in_transaction:
            cur = self.conn.execute(sql, list(params))
        else:
            cur = _when_not_busy(lambda: self.conn.execute(sql, list(params)))
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
        rows = [(str(r["subject_id"]), *[_s(r.get(k)) for k in cols]) for r in last.to_dict("records")]
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
        changed = self.conn.total_changes - before
        self._upsert_devices(c, subjects)
        return changed

    def _upsert_devices(self, c: sqlite3.Connection, subjects: pd.DataFrame) -> None:
        """The device of each monitoring window, and each subject's latest device on ``subjects``."""
        if "device_id" not in subjects.columns or "monitoring_start" not in subjects.columns:
            return
        win = subjects[subjects["monitoring_start"].notna()]
        starts, ends = _ns(win["monitoring_start"]), _ns(win["monitoring_end"])
        c.executemany(
            "INSERT INTO subject_devices (subject_id, start_ns, end_ns, device_id, device_serial) VALUES (?,?,?,?,?) "
            "ON CONFLICT (subject_id, start_ns) DO UPDATE SET end_ns = excluded.end_ns, "
            "device_id = excluded.device_id, device_serial = excluded.device_serial",
            [(str(s), a, b, _s(d), _s(n)) for s, a, b, d, n in zip(
                win["subject_id"], starts, ends, win["device_id"], win.get("device_serial", [None] * len(win)),
                strict=True)],
        )
        c.execute(
            "UPDATE subjects SET device_id = (SELECT d.device_id FROM subject_devices d WHERE d.subject_id = "
            "subjects.subject_id ORDER BY d.start_ns DESC LIMIT 1), device_serial = (SELECT d.device_serial FROM "
            "subject_devices d WHERE d.subject_id = subjects.subject_id ORDER BY d.start_ns DESC LIMIT 1) "
            "WHERE subject_id IN (SELECT subject_id FROM subject_devices)"
        )

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
        records = df.to_dict("records")  # plain values, not a Series per row
        for i in order:
            r = records[int(i)]
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
        for k, r in enumerate(appointments.to_dict("records")):
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

    def crime_frame(self, keys: Iterable[tuple[str, str, int]]) -> pd.DataFrame:
        """The stored crime versions ``(force, crime_ref, crime_version)``, in that order; canonical frame."""
        keys = [(str(f), str(r), int(v)) for f, r, v in keys]
        rows = []
        for a in range(0, len(keys), _KEYS_PER_QUERY):  # one query per few thousand keys, not one per crime
            part = keys[a:a + _KEYS_PER_QUERY]
            rows.append(self.frame(
                "SELECT * FROM crimes WHERE (force, crime_ref, crime_version) IN (VALUES "
                + ",".join(["(?, ?, ?)"] * len(part)) + ")", [x for key in part for x in key]))
        got = pd.concat(rows, ignore_index=True) if rows else self.frame("SELECT * FROM crimes WHERE 0")
        pos = {(str(f), str(r), int(v)): k for k, (f, r, v) in enumerate(
            zip(got["force"], got["crime_ref"], got["crime_version"], strict=True))}
        missing = [key for key in keys if key not in pos]
        if missing:
            raise InputError(f"no crime version {missing[0]!r} in the case store")
        return _crime_frame(got.iloc[[pos[key] for key in keys]].reset_index(drop=True))

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
        result frames carry ``force`` beside the SPEC columns, and ``evidence`` is the whole
        evidence of ``hits``. Hits are upserted on their natural key and keep their id. Evidence
        rows are not stored: each hit keeps the digest and count of its rows (SPEC §8; the rows are
        computed again from the trail store when shown, and frozen when the hit is reviewed).

        A reviewed hit whose figures (:data:`FIGURES`, beyond their tolerance) or evidence digest
        differ from those its verdict was given on goes back to ``pending``, flagged
        ``changed_since_review``; the verdict stays in ``review_history``, ended. A hit no longer
        found is withdrawn (``withdrawn_hits``), its history kept.

        Returns
        -------
        dict
            ``{"crimes", "new", "updated", "unchanged", "withdrawn", "changed_since_review",
            "evidence_rows", "gaps"}``.
        """
        out = {
            "crimes": len(matched),
            "new": 0,
            "updated": 0,
            "unchanged": 0,
            "withdrawn": 0,
            "changed_since_review": 0,
            "evidence_rows": len(evidence),
            "gaps": len(gaps),
        }
        keys = [
            (str(f), str(r), int(v))
            for f, r, v in zip(matched["force"], matched["crime_ref"], matched["crime_version"], strict=True)
        ]
        found = {
            (str(f), str(r), int(v), str(s))
            for f, r, v, s in zip(*(hits[name].to_numpy(object).tolist() for name in _HIT_KEY), strict=True)
        }
        digests = evidence_digests(evidence) if len(evidence) else {}
        now = utc_now()
        old_hits: dict[tuple, sqlite3.Row] = {}
        c.execute("CREATE TEMP TABLE IF NOT EXISTS matched_now (force TEXT, crime_ref TEXT, crime_version INTEGER)")
        c.execute("DELETE FROM temp.matched_now")
        c.executemany("INSERT INTO temp.matched_now VALUES (?, ?, ?)", keys)
        olds = c.execute(  # one query, the matched crimes driving the hits_crime index
            "SELECT h.* FROM temp.matched_now m CROSS JOIN hits h ON h.force = m.force "
            "AND h.crime_ref = m.crime_ref AND h.crime_version = m.crime_version"
        ).fetchall()
        c.execute("DELETE FROM temp.matched_now")
        for old in olds:
            nk = (old["force"], old["crime_ref"], int(old["crime_version"]), old["subject_id"])
            if nk in found:
                old_hits[nk] = old
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
            c.execute(
                "UPDATE review_history SET ended_at = ?, ended_run = ?, ended_why = 'withdrawn' "
                "WHERE hit_id = ? AND ended_at IS NULL",
                (now, run_id, old["hit_id"]),
            )
            c.execute("DELETE FROM hits WHERE hit_id = ?", (old["hit_id"],))
            out["withdrawn"] += 1
        c.executemany("DELETE FROM gaps WHERE force = ? AND crime_ref = ? AND crime_version = ?", keys)
        c.executemany(
            "UPDATE crimes SET needs_match = 0, matched_run = ? WHERE force = ? AND crime_ref = ? "
            "AND crime_version = ?",
            [(run_id, *key) for key in keys],
        )
        hit_cols = [*_VERDICT_FIGURES, "evidence_digest", "evidence_rows"]
        closest, first, last = _ns(hits["closest_time"]), _ns(hits["first_within"]), _ns(hits["last_within"])
        inserts, updates, touched, legacy = [], [], [], []
        col = {  # column lists: no per-row frame access (times go through _ns above)
            name: hits[name].to_numpy(object).tolist()
            for name in (*_HIT_KEY, "min_distance_m", "dwell_s", "passes", "n_fixes_within", "between_fixes",
                         "accuracy_m", "confidence", "coverage", "flags")
        }
        for k in range(len(hits)):
            key = (str(col["force"][k]), str(col["crime_ref"][k]), int(col["crime_version"][k]),
                   str(col["subject_id"][k]))
            digest, n_rows = digests.get(key, (EMPTY_EVIDENCE_DIGEST, 0))
            vals = (
                _f(col["min_distance_m"][k]),
                closest[k],
                first[k],
                last[k],
                _f(col["dwell_s"][k]),
                int(col["passes"][k]),
                int(col["n_fixes_within"][k]),
                int(bool(col["between_fixes"][k])),
                _f(col["accuracy_m"][k]),
                _s(col["confidence"][k]),
                _f(col["coverage"][k]),
                _s(col["flags"][k]) or "",
                digest,
                n_rows,
            )
            old = old_hits.get(key)
            if old is None:
                inserts.append((*key, *vals, run_id, report_day))
                out["new"] += 1
                continue
            same = tuple(old[col] for col in hit_cols) == vals
            out["unchanged" if same else "updated"] += 1
            if old["evidence_digest"] is None:
                legacy.append((old["hit_id"],))  # rows stored by an older trailmon: now computed on view
            if old["review_state"] != "pending" and not same:
                verdict = c.execute(
                    "SELECT * FROM review_history WHERE review_id = ?", (old["review_id"],)
                ).fetchone()
                if (
                    verdict is None
                    or figures_changed(verdict, dict(zip(hit_cols, vals, strict=True)))
                    or verdict["evidence_digest"] != digest
                ):
                    c.execute(
                        "UPDATE review_history SET ended_at = ?, ended_run = ?, ended_why = 'changed_since_review' "
                        "WHERE hit_id = ? AND ended_at IS NULL",
                        (now, run_id, old["hit_id"]),
                    )
                    c.execute(
                        "UPDATE hits SET review_state = 'pending', reviewer = NULL, review_reason = NULL, "
                        "reviewed_at = NULL, review_id = NULL, changed_since_review = 1 WHERE hit_id = ?",
                        (old["hit_id"],),
                    )
                    out["changed_since_review"] += 1
            if not same:
                updates.append((*vals, run_id, report_day, old["hit_id"]))
            elif old["report_day"] != report_day or old["run_id"] != run_id:
                touched.append((run_id, report_day, old["hit_id"]))
        if inserts:
            inserts.sort(key=lambda row: row[:4])  # natural-key order: the unique index grows at its end
            c.executemany(
                f"INSERT INTO hits (force, crime_ref, crime_version, subject_id, {', '.join(hit_cols)},"
                f" run_id, report_day) VALUES ({','.join('?' * (len(hit_cols) + 6))})",
                inserts,
            )
        if updates:
            updates.sort(key=lambda row: row[-1])  # by hit id: the table's own order
            c.executemany(
                f"UPDATE hits SET {', '.join(f'{col} = ?' for col in hit_cols)}, run_id = ?, report_day = ? "
                "WHERE hit_id = ?",
                updates,
            )
        if touched:  # matched again with the same figures: only the run and day change
            touched.sort(key=lambda row: row[-1])
            c.executemany("UPDATE hits SET run_id = ?, report_day = ? WHERE hit_id = ?", touched)
        if legacy:
            c.executemany("DELETE FROM evidence WHERE hit_id = ?", legacy)
        if len(gaps):
            g1, g2 = _ns(gaps["gap_start"]), _ns(gaps["gap_end"])
            speed = gaps["min_speed_kmh"] if "min_speed_kmh" in gaps.columns else [None] * len(gaps)
            reach = gaps["reachable_by"] if "reachable_by" in gaps.columns else [None] * len(gaps)
            c.executemany(
                "INSERT OR REPLACE INTO gaps (force, crime_ref, crime_version, subject_id, gap_start_ns, "
                "gap_end_ns, gap_s, before_distance_m, after_distance_m, coverage, run_id, report_day, "
                "min_speed_kmh, reachable_by) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
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
                        _f(v),
                        _s(b),
                    )
                    for k, (r, v, b) in enumerate(zip(gaps.itertuples(index=False), speed, reach, strict=True))
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
    def review(
        self,
        hit_id: int,
        state: str,
        *,
        user: str,
        reason: str | None = None,
        evidence: pd.DataFrame | None = None,
    ) -> dict:
        """Qualify or reject a pending hit; returns the updated hit.

        The verdict is recorded in ``review_history`` with the hit's figures and evidence digest
        (what the reviewer saw). ``evidence`` (the hit's rows, as
        :func:`trailmon.report.case_evidence.hit_evidence` gives them) is frozen with it in
        ``review_evidence``, so the rows the verdict was given on never change under it; without
        it, rows an older trailmon stored for the hit are frozen, if any.

        Raises
        ------
        InputError
            For an unknown ``hit_id``, a state other than ``qualified`` / ``rejected``, a rejection
            without a reason, a hit already reviewed, or ``evidence`` that is not the evidence the
            hit's figures were matched with (the trail store changed since: the next nightly run
            re-matches it).
        """
        _check_decision(state, reason, "a hit")
        with self.transaction() as c:
            row = c.execute("SELECT * FROM hits WHERE hit_id = ?", (int(hit_id),)).fetchone()
            if row is None:
                raise InputError(f"no hit with id {hit_id!r}; `trailmon review list` shows the ids")
            if row["review_state"] != "pending":
                raise InputError(
                    f"hit {hit_id} was already {row['review_state']} by {row['reviewer']} at "
                    f"{row['reviewed_at']}; only pending hits can be reviewed"
                )
            if evidence is None:
                evidence = self.frame("SELECT * FROM evidence WHERE hit_id = ?", [int(hit_id)])
                if not len(evidence) and row["evidence_digest"] is not None:
                    evidence = None  # only the digest: the verdict is tied to it, no rows frozen
            if evidence is not None:
                ev = evidence.assign(_hit=int(hit_id))
                digest, n_rows = evidence_digests(ev, by=["_hit"]).get((int(hit_id),), (EMPTY_EVIDENCE_DIGEST, 0))
                if row["evidence_digest"] is not None and digest != row["evidence_digest"]:
                    raise InputError(
                        f"hit {hit_id}: the evidence shown is not the evidence its figures were matched with "
                        "(the trail store changed since the match); the next nightly run re-matches it, "
                        "review it then"
                    )
            else:
                digest, n_rows = row["evidence_digest"], row["evidence_rows"]
            now = utc_now()
            cur = c.execute(
                "INSERT INTO review_history (hit_id, force, crime_ref, crime_version, subject_id, state, "
                f"reviewer, reason, reviewed_at, run_id, {', '.join(_VERDICT_FIGURES)}, evidence_rows, "
                f"evidence_digest, evidence_frozen) VALUES ({','.join('?' * (len(_VERDICT_FIGURES) + 13))})",
                (
                    int(hit_id),
                    row["force"],
                    row["crime_ref"],
                    row["crime_version"],
                    row["subject_id"],
                    state,
                    user,
                    reason.strip() if reason else None,
                    now,
                    row["run_id"],
                    *[row[col] for col in _VERDICT_FIGURES],
                    n_rows,
                    digest,
                    int(evidence is not None),
                ),
            )
            review_id = int(cur.lastrowid)
            if evidence is not None and len(evidence):
                c.executemany(
                    f"INSERT INTO review_evidence VALUES ({','.join('?' * (len(EVIDENCE_COLUMNS) + 1))})",
                    [(review_id, *r) for r in _evidence_rows(evidence)],
                )
            c.execute(
                "UPDATE hits SET review_state = ?, reviewer = ?, review_reason = ?, reviewed_at = ?, "
                "review_id = ?, changed_since_review = 0 WHERE hit_id = ?",
                (state, user, reason.strip() if reason else None, now, review_id, int(hit_id)),
            )
            return dict(c.execute("SELECT * FROM hits WHERE hit_id = ?", (int(hit_id),)).fetchone())

    def review_history(self, hit_ids: Iterable[int] | None = None) -> pd.DataFrame:
        """Every verdict given (oldest first), with the figures and evidence digest it was given on.

        ``hit_ids`` selects the history of these hits' natural keys (a verdict stays with the
        crime version and subject, even when the hit was withdrawn and found again). A verdict still
        in force has no ``ended_at``; an ended one says why (``changed_since_review`` /
        ``withdrawn``) and in which run.
        """
        if hit_ids is None:
            return self.frame("SELECT * FROM review_history ORDER BY review_id")
        ids = [int(i) for i in hit_ids]
        if not ids:
            return self.frame("SELECT * FROM review_history WHERE 0")
        marks = ",".join("?" * len(ids))
        return self.frame(
            "SELECT * FROM review_history r WHERE r.hit_id IN ("
            f"{marks}) OR EXISTS (SELECT 1 FROM hits h WHERE h.hit_id IN ({marks}) AND h.force = r.force "
            "AND h.crime_ref = r.crime_ref AND h.crime_version = r.crime_version AND h.subject_id = r.subject_id) "
            "ORDER BY r.review_id",
            ids + ids,
        )

    def changes_since_review(self, hit_ids: Iterable[int]) -> dict[int, dict]:
        """For each hit flagged ``changed_since_review``: the verdict it lost and what changed.

        Returns ``{hit_id: {"verdict": {state, reviewer, reason, reviewed_at, ended_at, ended_run},
        "changed": {figure: {"reviewed": old, "now": new}}}}`` (figures by their SPEC names, times
        ISO 8601); ``evidence`` appears among the changes (rows and fingerprint) when the evidence
        rows changed.
        """
        ids = [int(i) for i in hit_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        now = {
            int(r["hit_id"]): dict(r)
            for r in self.conn.execute(
                f"SELECT * FROM hits WHERE changed_since_review = 1 AND hit_id IN ({marks})", ids
            )
        }
        out: dict[int, dict] = {}
        for hid, h in now.items():
            v = self.conn.execute(
                "SELECT * FROM review_history WHERE force = ? AND crime_ref = ? AND crime_version = ? "
                "AND subject_id = ? AND ended_why = 'changed_since_review' ORDER BY review_id DESC LIMIT 1",
                (h["force"], h["crime_ref"], h["crime_version"], h["subject_id"]),
            ).fetchone()
            if v is None:
                continue
            changed = {
                name.removesuffix("_ns"): {"reviewed": _shown(name, v[name]), "now": _shown(name, h[name])}
                for name in figures_changed(v, h)
            }
            if v["evidence_digest"] != h["evidence_digest"]:
                changed["evidence"] = {
                    "reviewed": {"rows": v["evidence_rows"], "digest": v["evidence_digest"]},
                    "now": {"rows": h["evidence_rows"], "digest": h["evidence_digest"]},
                }
            out[hid] = {
                "verdict": {
                    "review_id": int(v["review_id"]),
                    "state": v["state"],
                    "reviewer": v["reviewer"],
                    "reason": v["reason"],
                    "reviewed_at": v["reviewed_at"],
                    "ended_at": v["ended_at"],
                    "ended_run": v["ended_run"],
                },
                "changed": changed,
            }
        return out

    def current_verdicts(self, hit_ids: Iterable[int] | None = None) -> set[int]:
        """Ids of reviewed hits whose verdict was given on their current figures and evidence.

        The check an export or a pack makes before it shows a verdict (SPEC §8): the hit's verdict
        is in force in ``review_history`` and its figures (within :data:`FIGURES` tolerances) and
        evidence digest are those the verdict recorded.
        """
        sql = (
            "SELECT h.*, r.review_id AS r_id, r.state AS r_state, r.ended_at AS r_ended, "
            "r.evidence_digest AS r_digest, "
            + ", ".join(f"r.{n} AS r_{n}" for n, _ in FIGURES)
            + " FROM hits h LEFT JOIN review_history r ON r.review_id = h.review_id "
            "WHERE h.review_state != 'pending'"
        )
        params: list = []
        if hit_ids is not None:
            ids = [int(i) for i in hit_ids]
            if not ids:
                return set()
            sql += f" AND h.hit_id IN ({','.join('?' * len(ids))})"
            params = ids
        out = set()
        for h in self.conn.execute(sql, params):
            if h["r_id"] is None or h["r_ended"] is not None or h["r_state"] != h["review_state"]:
                continue
            if figures_changed({n: h[f"r_{n}"] for n, _ in FIGURES}, h):
                continue
            if h["evidence_digest"] is not None and h["r_digest"] != h["evidence_digest"]:
                continue
            out.add(int(h["hit_id"]))
        return out

    def frozen_evidence(self, review_ids: Iterable[int]) -> pd.DataFrame:
        """The evidence rows frozen with these verdicts (``review_id`` and :data:`EVIDENCE_COLUMNS`)."""
        ids = [int(i) for i in review_ids]
        if not ids:
            return pd.DataFrame(columns=["review_id", *EVIDENCE_COLUMNS], dtype=object)
        return self.frame(
            f"SELECT * FROM review_evidence WHERE review_id IN ({','.join('?' * len(ids))}) "
            "ORDER BY review_id, time_ns, seq, kind",
            ids,
        )

    def erase_evidence(self, c: sqlite3.Connection, before_ns: int) -> dict:
        """Erase stored evidence rows (frozen with verdicts, or left by an older trailmon) older than ``before_ns``.

        For retention (SPEC §8: a purge erases location data wherever trailmon keeps it); the
        verdicts, their figures and fingerprints stay. Returns ``{"review_evidence", "evidence"}``
        row counts erased.
        """
        out = {}
        for table in ("review_evidence", "evidence"):
            out[table] = c.execute(f"DELETE FROM {table} WHERE time_ns < ?", (int(before_ns),)).rowcount
        return out

    def hits(self, *, subject: str | None = None, state: str | None = None) -> pd.DataFrame:
        """Hits with their crime and review state, by id."""
        where, params = [], []
        if subject is not None:
            where.append("h.subject_id = ?")
            params.append(subject)
        if state is not None:
            where.append("h.review_state = ?")
            params.append(state)
        dev = (  # the device of the monitoring window holding the closest approach
            "(SELECT d.{0} FROM subject_devices d WHERE d.subject_id = h.subject_id AND d.start_ns <= "
            "h.closest_time_ns AND (d.end_ns IS NULL OR d.end_ns >= h.closest_time_ns) ORDER BY d.start_ns DESC "
            "LIMIT 1) AS {0}"
        )
        sql = (
            "SELECT h.*, c.offence, c.offence_group, c.committed_from_ns, c.committed_to_ns, c.radius_m, "
            + dev.format("device_id") + ", " + dev.format("device_serial") + " "
            "FROM hits h LEFT JOIN crimes c USING (force, crime_ref, crime_version)"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY h.hit_id"
        )
        return self.frame(sql, params)

    # -- associations (co-location episodes) ----------------------------------------------------------
    def apply_associations(
        self, c: sqlite3.Connection, episodes: pd.DataFrame, *, distance_m: float, run_id: str, report_day: str
    ) -> dict:
        """Upsert co-location episodes (``ASSOCIATIONS`` rows) found at ``distance_m`` as pending case records.

        An episode is keyed by ``(subject_a, subject_b, distance_m, start)``. A reviewed episode whose
        figures change goes back to ``pending``, flagged ``changed_since_review`` (the earlier verdict's
        reviewer and reason stay in ``review_reason``).

        Returns
        -------
        dict
            ``{"episodes", "new", "updated", "unchanged"}``.
        """
        out = {"episodes": len(episodes), "new": 0, "updated": 0, "unchanged": 0}
        if not len(episodes):
            return out
        cols = ["end_ns", "duration_s", "min_distance_m", "closest_time_ns", "lat", "lon", "easting", "northing"]
        starts, ends, closest = _ns(episodes["start"]), _ns(episodes["end"]), _ns(episodes["closest_time"])
        for k, r in enumerate(episodes.itertuples(index=False)):
            key = (str(r.subject_a), str(r.subject_b), float(distance_m), starts[k])
            vals = (ends[k], _f(r.duration_s), _f(r.min_distance_m), closest[k], _f(r.lat), _f(r.lon),
                    _f(r.easting), _f(r.northing))
            old = c.execute(
                "SELECT * FROM associations WHERE subject_a = ? AND subject_b = ? AND distance_m = ? AND start_ns = ?",
                key,
            ).fetchone()
            if old is None:
                c.execute(
                    f"INSERT INTO associations (subject_a, subject_b, distance_m, start_ns, {', '.join(cols)}, flags, "
                    "run_id, report_day) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (*key, *vals, "", run_id, report_day),
                )
                out["new"] += 1
                continue
            same = all(_same_figure(old[col], v) for col, v in zip(cols, vals, strict=True))
            out["unchanged" if same else "updated"] += 1
            if same:
                continue
            state, flags, reason = old["review_state"], old["flags"] or "", old["review_reason"]
            if state != "pending":
                flags = "changed_since_review"
                reason = f"was {state} by {old['reviewer']} at {old['reviewed_at']}: {old['review_reason'] or ''}"
                state = "pending"
            c.execute(
                f"UPDATE associations SET {', '.join(f'{col} = ?' for col in cols)}, review_state = ?, flags = ?, "
                "review_reason = ?, run_id = ?, report_day = ? WHERE association_id = ?",
                (*vals, state, flags, reason, run_id, report_day, old["association_id"]),
            )
        return out

    def review_association(self, association_id: int, state: str, *, user: str, reason: str | None = None) -> dict:
        """Qualify or reject a pending co-location episode; returns the updated record.

        Raises
        ------
        InputError
            For an unknown id, a state other than ``qualified`` / ``rejected``, a rejection without a
            reason, or an episode already reviewed.
        """
        _check_decision(state, reason, "an association")
        with self.transaction() as c:
            row = c.execute("SELECT * FROM associations WHERE association_id = ?", (int(association_id),)).fetchone()
            if row is None:
                raise InputError(f"no association with id {association_id!r}; `trailmon review list --kind "
                                 "association` shows the ids")
            if row["review_state"] != "pending":
                raise InputError(
                    f"association {association_id} was already {row['review_state']} by {row['reviewer']} at "
                    f"{row['reviewed_at']}; only pending associations can be reviewed"
                )
            c.execute(
                "UPDATE associations SET review_state = ?, reviewer = ?, review_reason = ?, reviewed_at = ? "
                "WHERE association_id = ?",
                (state, user, reason.strip() if reason else None, utc_now(), int(association_id)),
            )
            return dict(c.execute("SELECT * FROM associations WHERE association_id = ?",
                                  (int(association_id),)).fetchone())

    def associations(self, *, subject: str | None = None, state: str | None = None) -> pd.DataFrame:
        """Co-location case records (either subject ``subject``; in ``state``), by id."""
        where, params = [], []
        if subject is not None:
            where.append("(subject_a = ? OR subject_b = ?)")
            params += [subject, subject]
        if state is not None:
            where.append("review_state = ?")
            params.append(state)
        sql = "SELECT * FROM associations" + (" WHERE " + " AND ".join(where) if where else "")
        return self.frame(sql + " ORDER BY association_id", params)

    # -- case records --------------------------------------------------------------------------------
    def case_records(self, *, subject: str | None = None, exportable: bool = True) -> list[dict]:
        """Case records (SPEC §4), one per event, following :data:`SCHEMA_PATH`.

        Parameters
        ----------
        subject : str, optional
            Only this subject's records.
        exportable : bool, default True
            Only qualified hits whose verdict was given on their current figures and evidence
            (:meth:`current_verdicts`; appointment and zone outcomes need no review) and qualified
            co-location episodes (an episode whose figures changed after its verdict is back to
            ``pending``, so it is left out until reviewed again); False gives every hit and episode
            whatever its review state.

        Returns
        -------
        list of dict
            Hits by id, then appointment outcomes by id, then zone events by zone, subject and start,
            then associations by id: two records per episode, one keyed by each subject (``subject``
            keeps only that subject's), each naming the other in ``other_subject_id``.
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
        current = self.current_verdicts() if exportable else set()
        for h in self.conn.execute(
            "SELECT h.*, c.offence FROM hits h LEFT JOIN crimes c USING (force, crime_ref, "
            "crime_version)"
            + (" WHERE " + " AND ".join(f"h.{w}" for w in hit_where) if hit_where else "")
            + " ORDER BY h.hit_id",
            params,
        ):
            if exportable and int(h["hit_id"]) not in current:
                continue  # a verdict given on other figures is never exported (SPEC §8)
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
        out.extend(self._association_records(base, subject=subject, exportable=exportable))
        return out

    def _association_records(self, base, *, subject: str | None, exportable: bool) -> list[dict]:
        """Case records of co-location episodes, one per subject of each pair (see :meth:`case_records`)."""
        where, params = [], []
        if subject is not None:
            where.append("(subject_a = ? OR subject_b = ?)")
            params += [subject, subject]
        if exportable:
            where.append("review_state = 'qualified'")
        sql = "SELECT * FROM associations" + (" WHERE " + " AND ".join(where) if where else "")
        out: list[dict] = []
        for a in self.conn.execute(sql + " ORDER BY association_id", params):
            for sid, other in ((a["subject_a"], a["subject_b"]), (a["subject_b"], a["subject_a"])):
                if subject is not None and sid != subject:
                    continue
                aid = int(a["association_id"])
                rec = base("association", f"association:{aid}:{sid}", sid)
                rec.update(
                    start=_iso(a["start_ns"]),
                    end=_iso(a["end_ns"]),
                    status="together",
                    distance_m=a["min_distance_m"],
                    duration_s=a["duration_s"],
                    flags=a["flags"] or "",
                    closest_time=_iso(a["closest_time_ns"]),
                    review_state=a["review_state"],
                    reviewer=a["reviewer"],
                    review_reason=a["review_reason"],
                    reviewed_at=a["reviewed_at"],
                    other_subject_id=other,
                    association_id=aid,
                    within_m=float(a["distance_m"]),
                )
                out.append(rec)
        return out

    # -- comparison ----------------------------------------------------------------------------------
    def purge_evidence(self, cutoff_ns: int, *, dry_run: bool = False) -> int:
        """Delete stored evidence rows (fixes) older than ``cutoff_ns`` (retention, SPEC §8); returns how many.

        The rows frozen with verdicts and those left by an older trailmon (:meth:`erase_evidence`);
        hits keep their figures, fingerprints and review history; nothing is re-matched. The one
        place the retention purge touches evidence storage.
        """
        if dry_run:
            return sum(
                int(self.conn.execute(f"SELECT COUNT(*) FROM {t} WHERE time_ns < ?", (int(cutoff_ns),)).fetchone()[0])
                for t in ("review_evidence", "evidence")
            )
        self.conn.execute("PRAGMA secure_delete = ON")  # the freed pages are zeroed, not left readable
        with self.transaction() as c:
            n = sum(self.erase_evidence(c, cutoff_ns).values())
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # nor kept in the write-ahead log
        return n

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


def _same_figure(old, new) -> bool:
    """Equal within 1 mm / 1 ms (SPEC §8): floats to 1e-3, integer nanoseconds to 1e6."""
    if old is None or new is None:
        return old is None and new is None
    if isinstance(new, int) and isinstance(old, int):
        return abs(old - new) <= 1_000_000
    return abs(float(old) - float(new)) <= 1e-3


def _check_decision(state: str, reason: str | None, what: str) -> None:
    """A review decision is ``qualified`` or ``rejected``, and a rejection has a reason."""
    if state not in ("qualified", "rejected"):
        raise InputError(f"a review moves {what} to 'qualified' or 'rejected', got {state!r}")
    if state == "rejected" and not (reason and reason.strip()):
        raise InputError("a rejection needs a reason: give --reason TEXT")


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

SCHEMA_RECORD_VERSION = "1.1.0"

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
    "other_subject_id",
    "association_id",
    "within_m",
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
