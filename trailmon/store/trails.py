"""The on-disk trail store: Parquet by UTC day, subjects beside it, atomic and idempotent.

Layout (SPEC §5; directories 0700, files 0600)::

    STORE/
      store.json                 CRS, transformation, format version
      manifest.json              the commit point: which file holds each UTC day
      trails/<YYYY-MM-DD>.<ingest id>.parquet        a row group per UTC hour, by subject and time
      trails/<YYYY-MM-DD>.<ingest id>.edges.parquet  each subject's first and last fix of every hour
      subjects.parquet           one row per monitoring window (subject attributes repeated)
      quarantine/<ingest id>.csv every rejected row: file, row, reason, detail, values
      audit.jsonl                hash-chained consultations and disclosures
      .lock                      held by a writer (ingest, nightly)

An ingest writes new day files under new names, then replaces ``manifest.json`` in one
rename: a process killed at any point before that rename leaves the store exactly as it
was (the orphans are removed by the next writer); after it, the ingest has happened.
Re-ingesting the same fixes adds nothing (``already_stored``).

Readers and writers (SPEC §8: readers never fail because a writer committed). Every read
(:meth:`TrailStore.read`, :meth:`~TrailStore.read_span`, :meth:`~TrailStore.fixes_table`,
:meth:`~TrailStore.subjects`, :meth:`~TrailStore.windows`, :meth:`~TrailStore.days`) uses one
manifest generation from start to end: it reads ``manifest.json`` once and holds a shared
``flock`` *lease* on ``STORE/.readers/<generation>.lease`` while it reads. A longer reader
(a web page, a Dask run, a report) pins one generation for all its reads with
``with store.snapshot() as s: ...``; Dask tasks get the pinned manifest's file names while the
client holds the lease. A writer (ingest, purge) never deletes a file the moment it stops
being named: after its commit it notes each unnamed file in ``STORE/.retired.json`` with the
generation in which it was first seen unnamed, and deletes it only when no lease on an
earlier generation is held (a lease it can take exclusively is free, and removed). Leases
are released by the kernel when a reader dies, so a killed reader never pins files for good.
A writer removes only temp files of its own files (day, edge, subjects, manifest and ingest
quarantine files) left by a process that no longer runs; temp files of other commands
(``users.json``, quarantine files of crime reads) are never touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trailmon import __version__
from trailmon.crs import BNG, StoreCRS, normalise_crs
from trailmon.errors import StoreError, StoreLockedError
from trailmon.io.quarantine import ReadResult, RejectReason, empty_rejected
from trailmon.store._files import (
    FILE_MODE,
    make_private_dir,
    remove_dead_temp_files,
    write_bytes_atomic,
    write_json_atomic,
)
from trailmon.trail import (
    FIX_TYPES,
    FLAG_SPEED_JUMP,
    SPEED_JUMP_MPS,
    Trails,
    strictly_increasing,
    windows_to_csr,
)

__all__ = ["FIX_SCHEMA", "IngestSummary", "TrailStore", "day_name", "limit_gaps", "subject_windows",
           "table_to_trails", "window_changes"]

FORMAT_VERSION = 1
HOUR_NS = 3600 * 10**9  # row groups of a day file: one per UTC hour
BRACKET_DAYS = 7
"""How many days either side a read looks for the fixes that bracket a subject's gap."""
_INGEST_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
DAY_NS = 86_400 * 10**9
_COLUMNS = ["subject_id", "t_ns", "x_m", "y_m", "lat", "lon", "accuracy_m", "fix_type", "speed_mps",
            "heading_deg", "flags"]
_SCHEMA = pa.schema([
    ("subject_id", pa.string()), ("t_ns", pa.int64()), ("x_m", pa.float64()), ("y_m", pa.float64()),
    ("lat", pa.float64()), ("lon", pa.float64()), ("accuracy_m", pa.float64()), ("fix_type", pa.int8()),
    ("speed_mps", pa.float64()), ("heading_deg", pa.float64()), ("flags", pa.int32()),
])
FIX_SCHEMA = _SCHEMA
"""The Arrow schema of a stored day file (public: the Dask engine reads day files with it)."""
BRACKET_S = BRACKET_DAYS * 86_400
"""The bracketing limit in seconds: a gap near scene is listed only when its bracketing fixes lie
within this of the crime's window (both engines apply it, :func:`trailmon.match.proximity.proximity`
results filtered by :func:`limit_gaps`), and new fixes re-match at most this far either side."""
SUBJECT_COLUMNS = ["subject_id", "cohort", "monitoring_start", "monitoring_end", "crn", "pnc_id", "nomis_id",
                   "offender_manager", "flags", "device_id", "device_serial"]
_DEVICE = ["device_id", "device_serial"]  # of a monitoring window (EM device activations)
_ATTRS = ["cohort", "crn", "pnc_id", "nomis_id", "offender_manager"]
READERS = ".readers"
"""Folder of the readers' per-generation lease files."""
_LEASE_TRIES = 1000


@dataclass
class IngestSummary:
    """Counts of one ingest (SPEC §5 ``--json``); ``read == accepted + rejected``."""

    ingest_id: str
    read: int = 0
    accepted: int = 0
    added: int = 0
    already_stored: int = 0
    rejected: int = 0
    flagged: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    files: list[dict] = field(default_factory=list)
    quarantine: str | None = None
    subjects: dict | None = None
    days: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """The ``--json`` object."""
        return {k: getattr(self, k) for k in (
            "read", "accepted", "added", "already_stored", "rejected", "flagged", "rejected_by_reason", "files",
            "quarantine", "subjects", "ingest_id", "days")}


class TrailStore:
    """A trail store folder.

    Parameters
    ----------
    path : str or Path
        The store folder.
    crs : str, optional
        Projected CRS for a new store (default EPSG:27700); an existing store keeps its own,
        and naming a different one is an error.
    create : bool, default False
        Create the store when the folder holds none.

    Raises
    ------
    StoreError
        When there is no store at ``path`` and ``create`` is False, or the CRS differs.
    """

    def __init__(self, path: str | Path, *, crs: str | None = None, create: bool = False) -> None:
        self.path = Path(path)
        self._pinned: dict | None = None
        meta = self.path / "store.json"
        if not meta.exists():
            if not create:
                raise StoreError(f"no trail store at {str(self.path)!r}; create one with `trailmon ingest --store DIR`")
            old = os.umask(0o077)
            try:
                make_private_dir(self.path)
                for sub in ("trails", "quarantine"):
                    make_private_dir(self.path / sub)
                crs_ = normalise_crs(crs or BNG)
                self.crs = StoreCRS(crs_)
                write_json_atomic(meta, {"format_version": FORMAT_VERSION, "crs": crs_,
                                         "transformation": self.crs.info.as_dict(), "created_by": __version__})
                write_json_atomic(self.path / "manifest.json", {"generation": 0, "days": {}, "subjects": None,
                                                                "ingests": []})
            finally:
                os.umask(old)
        info = json.loads(meta.read_text())
        self.crs = StoreCRS(info["crs"])
        if crs is not None and normalise_crs(crs) != self.crs.crs:
            raise StoreError(f"store {str(self.path)!r} uses {self.crs.crs}, not {normalise_crs(crs)}; "
                             "a store has one CRS, chosen when it is created")

    # -- reading -------------------------------------------------------------------------------
    @property
    def manifest(self) -> dict:
        """The committed manifest (the pinned one in a :meth:`snapshot`)."""
        if self._pinned is not None:
            return self._pinned
        return json.loads((self.path / "manifest.json").read_text())

    @contextmanager
    def snapshot(self) -> Iterator[TrailStore]:
        """The store pinned to one manifest generation, held by a shared lease until the block ends.

        Every read through the store it yields uses that generation; the writer keeps the
        generation's files while the lease is held. Inside a snapshot it yields itself.

        Examples
        --------
        >>> import tempfile
        >>> store = TrailStore(tempfile.mkdtemp(), create=True)
        >>> with store.snapshot() as s:
        ...     s.manifest["generation"], s.days()
        (0, [])
        """
        if self._pinned is not None:
            yield self
            return
        manifest, fd = _take_lease(self.path)
        try:
            yield self.at(manifest)
        finally:
            if fd is not None:
                os.close(fd)  # releases the shared flock

    def at(self, manifest: dict) -> TrailStore:
        """The store pinned to ``manifest`` without a lease (a caller such as a Dask client holds one)."""
        view = object.__new__(TrailStore)
        view.__dict__.update(self.__dict__)
        view._pinned = manifest
        return view

    @property
    def audit_path(self) -> Path:
        """The audit log."""
        return self.path / "audit.jsonl"

    def days(self) -> list[str]:
        """UTC days held, ``YYYY-MM-DD``, sorted."""
        return sorted(self.manifest["days"])

    def subjects(self) -> pd.DataFrame:
        """Subjects, one row per monitoring window (SPEC §2 subject columns)."""
        with self.snapshot() as s:
            name = s.manifest.get("subjects")
            if not name:
                return _empty_subjects()
            return pd.read_parquet(s.path / name)

    def fixes_frame(self, t_from_ns: int | None = None, t_to_ns: int | None = None,
                    subjects: Iterable[str] | None = None) -> pd.DataFrame:
        """Stored fixes in ``[t_from_ns, t_to_ns]`` (UTC ns, inclusive) as a frame, by day."""
        return self.fixes_table(t_from_ns, t_to_ns, subjects).to_pandas()

    def fixes_table(self, t_from_ns: int | None = None, t_to_ns: int | None = None,
                    subjects: Iterable[str] | None = None) -> pa.Table:
        """Stored fixes in ``[t_from_ns, t_to_ns]`` as one Arrow table (days in order, each by subject)."""
        if self._pinned is None:
            with self.snapshot() as s:
                return s.fixes_table(t_from_ns, t_to_ns, subjects)
        days = self.manifest["days"]
        lo = -np.inf if t_from_ns is None else t_from_ns
        hi = np.inf if t_to_ns is None else t_to_ns
        wanted = [name for day, name in sorted(days.items())
                  if _day_start_ns(day) <= hi and _day_start_ns(day) + DAY_NS > lo]
        filters = []
        if t_from_ns is not None:
            filters.append(("t_ns", ">=", int(t_from_ns)))
        if t_to_ns is not None:
            filters.append(("t_ns", "<=", int(t_to_ns)))
        if subjects is not None:
            filters.append(("subject_id", "in", sorted(set(map(str, subjects)))))
        tables = [pq.read_table(self.path / n, filters=filters or None, schema=_SCHEMA) for n in wanted]
        return pa.concat_tables(tables) if tables else _SCHEMA.empty_table()

    def read(self, t_from: pd.Timestamp | None = None, t_to: pd.Timestamp | None = None,
             subjects: Iterable[str] | None = None, *, halo_s: float = 600.0, brackets: bool = True,
             columns: Iterable[str] | None = None) -> Trails:
        """Fixes as :class:`Trails` arrays, sorted by subject and time, with monitoring windows.

        Parameters
        ----------
        t_from, t_to : pandas.Timestamp, optional
            The period wanted (UTC); fixes up to ``halo_s`` either side are included so that
            segments crossing its ends interpolate exactly.
        subjects : iterable of str, optional
            Only these subjects.
        halo_s : float, default 600.0
            Extra time read either side, seconds (at least ``max_gap_s``).
        brackets : bool, default True
            Also give each subject its last fix before and first fix after the period read (up
            to :data:`BRACKET_DAYS` days away), so a gap that spans the whole period is seen
            with the fixes that bracket it (gaps near scene, SPEC §3).
        columns : iterable of str, optional
            With ``brackets``, the fix columns to decode (``t_ns`` always is); the others are left
            unread: NaN, ``fix_type`` -1, ``flags`` 0 (for a caller that needs only some, such as
            proximity without evidence: times, positions, accuracy). Default: all.
        """
        if self._pinned is None:
            with self.snapshot() as s:  # fixes and windows of one generation
                return s.read(t_from, t_to, subjects, halo_s=halo_s, brackets=brackets, columns=columns)
        lo = None if t_from is None else int(pd.Timestamp(t_from).value - halo_s * 1e9)
        hi = None if t_to is None else int(pd.Timestamp(t_to).value + halo_s * 1e9)
        only = None if subjects is None else sorted(set(map(str, subjects)))
        if not brackets or lo is None or hi is None:
            return table_to_trails(self.fixes_table(lo, hi, only), self.windows(), only)
        return self._bracketed_trails(lo, hi, only, None if columns is None else ["subject_id", "t_ns", *columns])

    def _bracketed_trails(self, lo: int, hi: int, only: list[str] | None, columns: list[str] | None = None) -> Trails:
        """Fixes in ``[lo, hi]`` (int ns) plus each subject's nearest fix either side, as :class:`Trails`.

        The hours around ``[lo, hi]`` are read as whole row groups with the subjects as Arrow
        dictionary codes (no string is decoded per row); one stable sort on the subject code puts
        the rows in (subject, time) order, the bracketing fixes are picked in that order, and each
        column is gathered once. Subjects with no fix in those hours get their bracketing fixes
        from the days' edge files.
        """
        days = self.manifest["days"]
        edges = self.manifest.get("edges", {})
        first_day, last_day = lo // DAY_NS, hi // DAY_NS
        h_lo, h_hi = lo // HOUR_NS * HOUR_NS, (hi // HOUR_NS + 1) * HOUR_NS  # whole hours: whole row groups
        names = [days[_day_name(d)] for d in range(first_day, last_day + 1) if _day_name(d) in days]
        table = _read_hours([self.path / n for n in names], h_lo, h_hi, columns=columns)
        t = _column_numpy(table, "t_ns")
        codes, subject_names = _dictionary_codes(table.column("subject_id"))
        rows = (t >= h_lo) & (t < h_hi)
        if only is not None:
            rows &= np.isin(subject_names.astype(str), np.asarray(only, dtype=str))[codes]
        idx = np.flatnonzero(rows) if not rows.all() else None
        order = _stable_order(codes if idx is None else codes[idx])
        if idx is not None:
            order = idx[order]
        c, ts = codes[order], t[order]
        keep = (ts >= lo) & (ts <= hi)
        # rows outside [lo, hi] lie in the first and last hours only: each subject's last one before lo
        # and first one after hi are kept (the bracketing fixes), looked at among those rows alone
        j = np.flatnonzero(~keep)
        nxt, prv = np.minimum(j + 1, len(ts) - 1), np.maximum(j - 1, 0)
        last_before = (ts[j] < lo) & ~((nxt > j) & (c[nxt] == c[j]) & (ts[nxt] < lo))
        first_after = (ts[j] > hi) & ~((prv < j) & (c[prv] == c[j]) & (ts[prv] > hi))
        keep[j[last_before | first_after]] = True
        sel, sel_codes = order[keep], c[keep]
        has_before = set(subject_names[np.unique(c[j[last_before]])].astype(str))
        has_after = set(subject_names[np.unique(c[j[first_after]])].astype(str))
        wanted = None if only is None else set(only)
        earlier = self._edge_rows(edges, days, range(first_day, first_day - 1 - BRACKET_DAYS, -1), before=h_lo,
                                  skip=has_before, only=wanted)
        later = self._edge_rows(edges, days, range(last_day, last_day + 1 + BRACKET_DAYS), after=h_hi,
                                skip=has_after, only=wanted)
        return _assemble_trails(table, sel, sel_codes, subject_names, earlier, later, self.windows(), only)

    def read_around(self, subjects, t_from_ns, t_to_ns, *, halo_s: float = 600.0,
                    columns: Iterable[str] | None = None) -> Trails:
        """Each subject's fixes around its own spans, as :class:`Trails`: what a rule local to them needs.

        For many short, per-subject periods (appointments): row ``k`` of ``subjects``, ``t_from_ns``,
        ``t_to_ns`` (int ns UTC) asks for that subject's fixes in ``[t_from_ns - halo_s, t_to_ns +
        halo_s]``; each such span (a subject's spans merged) also gets the subject's nearest fix
        before and after it, found as :meth:`read` of the whole period would (its bracketing fixes
        reach :data:`BRACKET_DAYS` days beyond the period's days). So every fix within ``halo_s``
        of an appointment, and every segment that crosses a span's ends, is as in :meth:`read` over
        the whole period (``t_from`` the earliest start, ``t_to`` the latest end): a rule that looks
        no further (attendance, with ``max_gap_s <= halo_s``) gives the same answer. Only the hours
        the spans touch are decoded (and each day's edge file); every known subject (a monitoring
        window) is in the result. ``columns`` names the fix columns to decode (``t_ns`` always is);
        the others are left unread: NaN, ``fix_type`` -1, ``flags`` 0.
        """
        if self._pinned is None:
            with self.snapshot() as s:
                return s.read_around(subjects, t_from_ns, t_to_ns, halo_s=halo_s, columns=columns)
        from trailmon.store._trails_kernels import span_neighbours

        sid = np.asarray(subjects, dtype=object).astype(str)
        halo = int(round(halo_s * 1e9))
        lo = np.asarray(t_from_ns, dtype=np.int64) - halo
        hi = np.asarray(t_to_ns, dtype=np.int64) + halo
        cols = None if columns is None else ["subject_id", "t_ns", *columns]
        if not len(sid):
            return _assemble_trails(_DICT_SCHEMA.empty_table(), np.zeros(0, np.int64), np.zeros(0, np.int64),
                                    np.zeros(0, dtype=object), None, None, self.windows(), None)
        days, edges = self.manifest["days"], self.manifest.get("edges", {})
        first_day, last_day = int(lo.min()) // DAY_NS, int(hi.max()) // DAY_NS
        period = [_day_name(d) for d in range(first_day, last_day + 1) if _day_name(d) in days]
        union = _merge_ns(zip(lo.tolist(), hi.tolist(), strict=True))
        rows = _read_hours([self.path / days[d] for d in period], int(lo.min()), int(hi.max()) + 1, spans=union,
                           columns=cols)
        # each hour's first and last fix of every subject: the nearest fix before or after a span, where
        # it lies in an hour no span touches
        edge_rows = _read_hours([self.path / edges[d] for d in period if d in edges], _MIN_NS, _MAX_NS,
                                columns=cols)
        table = pa.concat_tables([rows, edge_rows]).unify_dictionaries()
        t = _column_numpy(table, "t_ns")
        codes, names = _dictionary_codes(table.column("subject_id"))
        # every subject's spans, merged, as CSR over the subject codes (subjects without rows have none)
        at = np.searchsorted(names.astype(str), sid) if len(names) else np.zeros(len(sid), np.int64)
        has = at < len(names)
        has[has] = names[at[has]].astype(str) == sid[has]
        span_code, span_lo, span_hi = _merge_spans_by_code(at[has], lo[has], hi[has])
        span_offsets = np.zeros(len(names) + 1, dtype=np.int64)
        np.cumsum(np.bincount(span_code, minlength=len(names)), out=span_offsets[1:])
        n_span = len(span_code)
        prev_t, next_t = np.zeros(n_span, np.int64), np.zeros(n_span, np.int64)
        prev_i, next_i = np.full(n_span, -1, np.int64), np.full(n_span, -1, np.int64)
        inside = np.zeros(len(t), dtype=bool)
        if len(t):
            span_neighbours(codes, t, span_offsets, span_lo, span_hi, prev_t, prev_i, next_t, next_i, inside)
        inside[prev_i[prev_i >= 0]] = True  # with each span's neighbours: the rows kept
        inside[next_i[next_i >= 0]] = True
        keep = np.flatnonzero(inside)
        sel = keep[np.lexsort((t[keep], codes[keep]))]
        sel = sel[np.r_[True, (codes[sel][1:] != codes[sel][:-1]) | (t[sel][1:] != t[sel][:-1])]] if len(sel) else sel
        # a subject with no fix before its first span (or after its last) within the period's days: the
        # bracketing fix from the days before (after) them, as a read of the whole period finds it
        first = span_offsets[span_code] == np.arange(n_span)
        last = span_offsets[span_code + 1] - 1 == np.arange(n_span)
        need_before = {str(n) for n in names[span_code[first & (prev_i < 0)]]}
        need_after = {str(n) for n in names[span_code[last & (next_i < 0)]]}
        missing = sorted(set(sid[~has]))  # subjects with no fix in the period at all
        need_before |= set(missing)
        need_after |= set(missing)
        earlier = self._edge_rows(edges, days, range(first_day - 1, first_day - 1 - BRACKET_DAYS, -1),
                                  before=first_day * DAY_NS, skip=set(), only=need_before) if need_before else None
        later = self._edge_rows(edges, days, range(last_day + 1, last_day + 1 + BRACKET_DAYS),
                                after=(last_day + 1) * DAY_NS, skip=set(), only=need_after) if need_after else None
        return _assemble_trails(table, sel, codes[sel], names, earlier, later, self.windows(), None)

    def _edge_rows(self, edges: dict, days: dict, day_range, *, before: int | None = None, after: int | None = None,
                   skip: set, only: set | None) -> pa.Table:
        """Each subject's nearest fix before ``before`` (or after ``after``) from the days' edge files."""
        parts = []
        for d in day_range:
            name = _day_name(d)
            if name not in days:
                continue
            e = pq.read_table(self.path / edges[name], schema=_SCHEMA) if name in edges else day_edges(
                by_hour(pq.read_table(self.path / days[name], schema=_SCHEMA), d))
            t = e.column("t_ns").to_numpy()
            sid = e.column("subject_id")
            keep = (t < before) if before is not None else (t >= after)
            if skip:
                keep &= ~pc.is_in(sid, value_set=pa.array(sorted(skip), pa.string())).to_numpy(zero_copy_only=False)
            if only is not None:
                keep &= pc.is_in(sid, value_set=pa.array(sorted(only), pa.string())).to_numpy(zero_copy_only=False)
            if keep.any():
                parts.append(e.filter(pa.array(keep)))
        if not parts:
            return _SCHEMA.empty_table()
        e = pa.concat_tables(parts)
        e = e.take(pc.sort_indices(e, [("subject_id", "ascending"), ("t_ns", "ascending")]))
        sid = e.column("subject_id").combine_chunks().dictionary_encode().indices.to_numpy(zero_copy_only=False)
        pick = np.r_[sid[1:] != sid[:-1], True] if before is not None else np.r_[True, sid[1:] != sid[:-1]]
        nearest = e.filter(pa.array(pick))
        return nearest.take(pc.sort_indices(nearest, [("t_ns", "ascending")]))

    def read_span(self, t_from: pd.Timestamp | None, t_to: pd.Timestamp | None, subjects: Iterable[str] | None = None,
                  *, halo_s: float = 600.0, columns: Iterable[str] | None = None) -> Trails:
        """Like :meth:`read`, but an empty span (``t_from`` None) gives empty :class:`Trails`."""
        if t_from is None:
            return table_to_trails(_SCHEMA.empty_table(), {})
        return self.read(t_from, t_to, subjects, halo_s=halo_s, columns=columns)

    def windows(self) -> dict[str, list[tuple[float, float]]]:
        """Monitoring windows per subject, seconds UTC (a blank start is -inf, a blank end +inf; SPEC §3)."""
        return subject_windows(self.subjects())

    # -- writing -------------------------------------------------------------------------------
    def lock(self, *, what: str = "ingest") -> StoreLock:
        """An exclusive lock on the store; raises :class:`StoreLockedError` when held."""
        return StoreLock(self.path / ".lock", what)

    def ingest(
        self,
        trails: Iterable[ReadResult] = (),
        subjects: Iterable[ReadResult] = (),
        *,
        progress: Callable[[int, int], None] | None = None,
        _crash_before_commit: bool = False,
    ) -> IngestSummary:
        """Add fixes and subjects atomically and idempotently.

        Parameters
        ----------
        trails : iterable of ReadResult
            Results of :func:`trailmon.io.read_trails`, in the order the files were given.
        subjects : iterable of ReadResult
            Results of :func:`trailmon.io.read_subjects`; windows upserted by (subject, start).
        progress : callable, optional
            Called as ``progress(done, total)`` per day written.

        Returns
        -------
        IngestSummary
            ``read == accepted + rejected``; ``accepted == added + already_stored``.
        """
        trails = list(trails)
        subjects = list(subjects)
        ingest_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
        summary = IngestSummary(ingest_id)
        with self.lock():
            self._collect_garbage()
            old_umask = os.umask(0o077)
            try:
                return self._ingest_locked(trails, subjects, summary, progress, _crash_before_commit)
            finally:
                os.umask(old_umask)

    def _ingest_locked(self, trails, subjects, summary, progress, crash):
        manifest = self.manifest
        ingest_id = summary.ingest_id
        rejected_parts = [r.rejected for r in trails + subjects if len(r.rejected)]
        new_files: list[str] = []

        changes: list[tuple[int, int]] = []  # the journal: time whose results may have changed (SPEC §8)

        # subjects first (small tables, pandas is fine)
        subj_name = manifest.get("subjects")
        if subjects:
            current = pd.read_parquet(self.path / subj_name) if subj_name else _empty_subjects()
            merged, stats = merge_subjects(current, subjects)
            changes += window_changes(current, merged)
            subj_name = f"subjects.{ingest_id}.parquet"
            _write_parquet(merged, self.path / subj_name)
            new_files.append(subj_name)
            summary.subjects = stats

        # trails: per file, in order; earlier files count as stored for later ones
        for r in trails:
            summary.files.append({"file": r.files[0] if r.files else "", "read": r.n_read,
                                  "accepted": r.n_accepted, "rejected": len(r.rejected),
                                  "rejected_by_reason": r.rejected_by_reason})
        summary.read = sum(r.n_read for r in trails)
        new = _new_fix_arrays(trails)
        days = dict(manifest["days"])
        edges = dict(manifest.get("edges", {}))
        if new is not None:
            t_new = new["t_ns"]
            d_lo, d_hi = int(t_new.min()) // DAY_NS, int(t_new.max()) // DAY_NS
            if d_lo == d_hi:  # one UTC day (the usual file): no sort, no per-row day numbers
                day_sorted = None
                touched = [d_lo]
            else:
                day_of = t_new // DAY_NS
                by_day = np.argsort(day_of, kind="stable")
                day_sorted = day_of[by_day]
                touched = np.unique(day_of).tolist()
            # a changed day can change the speed_jump flag of the next day's first fix
            affected = sorted(set(touched) | {d + 1 for d in touched if _day_name(d + 1) in days})
            store_rejects = []
            prev_tail = self._tail_before(days, affected[0])
            for i, d in enumerate(affected):
                name = _day_name(d)
                if day_sorted is None:
                    lo, hi = (0, len(t_new)) if d == d_lo else (0, 0)
                else:
                    lo, hi = np.searchsorted(day_sorted, [d, d + 1])
                add = new if hi - lo == len(t_new) else _take(new, np.arange(lo, hi) if day_sorted is None
                                                               else by_day[lo:hi])
                old = _read_day(self.path / days[name]) if name in days else None
                tail_before = prev_tail
                merged, stats, conflicts, prev_tail = _merge_day(old, add, prev_tail)
                fname = f"trails/{name}.{ingest_id}.parquet"
                ename = f"trails/{name}.{ingest_id}.edges.parquet"
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(1) as pool:  # the day is written (GIL mostly released) beside the rest
                    writing = pool.submit(_write_day, merged, d, self.path / fname, self.path / ename)
                    if hi > lo:
                        changes += self._change_spans(d, merged, old, tail_before, days, edges)
                    summary.added += stats["added"]
                    summary.already_stored += stats["already"]
                    summary.flagged += stats["flagged"]
                    if len(conflicts["t_ns"]):
                        store_rejects.append(_conflict_rows(conflicts, trails))
                    writing.result()
                new_files += [fname, ename]
                days[name] = fname
                edges[name] = ename
                if progress:
                    progress(i + 1, len(affected))
            summary.days = [_day_name(d) for d in touched]
            if store_rejects:
                rejected_parts.append(pd.concat(store_rejects, ignore_index=True))
        rejected = pd.concat(rejected_parts, ignore_index=True) if rejected_parts else empty_rejected()
        n_trail_rejects = sum(len(r.rejected) for r in trails) + (
            len(rejected) - sum(len(r.rejected) for r in trails + subjects))
        summary.rejected = n_trail_rejects
        summary.accepted = summary.read - summary.rejected
        trail_rej = rejected[rejected["file"].isin([f for r in trails for f in r.files])] if len(rejected) else rejected
        by_reason = trail_rej["reason"].value_counts().sort_index()
        summary.rejected_by_reason = {str(k): int(v) for k, v in by_reason.items()}

        quarantine_name = None
        if len(rejected):
            quarantine_name = f"quarantine/{ingest_id}.csv"
            from trailmon._cells import safe_text_frame  # spreadsheet-safe cells (SPEC §4)

            write_bytes_atomic(self.path / quarantine_name, safe_text_frame(rejected).to_csv(index=False).encode())
            new_files.append(quarantine_name)
        if crash:
            os._exit(17)  # test hook: die after writing files, before the commit point
        new_manifest = {**manifest, "generation": manifest["generation"] + 1, "days": days, "edges": edges,
                        "subjects": subj_name,
                        "ingests": manifest["ingests"] + [{"id": ingest_id, "files": new_files,
                                                           "summary": {k: v for k, v in summary.as_dict().items()
                                                                       if k not in ("files", "days")},
                                                           "changes": [list(x) for x in _merge_ns(changes)]}]}
        write_json_atomic(self.path / "manifest.json", new_manifest)  # the commit point
        if subj_name:
            shutil.copyfile(self.path / subj_name, self.path / ".subjects.tmp")
            os.chmod(self.path / ".subjects.tmp", FILE_MODE)
            os.replace(self.path / ".subjects.tmp", self.path / "subjects.parquet")
        summary.quarantine = str(self.path / quarantine_name) if quarantine_name else None
        self._collect_garbage()
        return summary

    def _change_spans(self, d: int, merged: dict, old: dict | None, tail: dict | None, days: dict,
                      edges: dict) -> list[tuple[int, int]]:
        """The time new fixes of day ``d`` can change, as int ns spans.

        Per run of new fixes of a subject, from the fix before the run to the fix after it (SPEC
        §8), at most :data:`BRACKET_S` either side.
        ``merged`` is the day after the merge (by subject and time), ``old`` the stored day before it,
        ``tail`` each subject's last fix of the day before; ``days`` and ``edges`` the manifest's maps.
        """
        t = merged["t_ns"]
        if not len(t):
            return []
        codes, names = _dictionary_codes(merged["subject_id"])
        is_new = np.ones(len(t), dtype=bool)
        if old is not None and len(old["t_ns"]):
            both = pa.concat_arrays([_text_array(merged["subject_id"]), _text_array(old["subject_id"])])
            c_all, _ = _sorted_codes(both)
            n = len(t)
            tt = np.r_[t, old["t_ns"]]
            src = np.r_[np.ones(n, np.int8), np.zeros(len(old["t_ns"]), np.int8)]
            order = np.lexsort((src, tt, c_all))  # a stored twin sorts just before its merged row
            cs, ts, ss = c_all[order], tt[order], src[order]
            twin = np.r_[False, (cs[1:] == cs[:-1]) & (ts[1:] == ts[:-1]) & (ss[:-1] == 0)]
            stored = order[twin & (ss == 1)]
            is_new[stored] = False
        if not is_new.any():
            return []
        same_prev = np.r_[False, codes[1:] == codes[:-1]]
        same_next = np.r_[codes[1:] == codes[:-1], False]
        start = is_new & ~(same_prev & np.r_[False, is_new[:-1]])
        end = is_new & ~(same_next & np.r_[is_new[1:], False])
        s_idx, e_idx = np.flatnonzero(start), np.flatnonzero(end)
        lim = BRACKET_S * 10**9
        lo = t[s_idx] - lim
        hi = t[e_idx] + lim
        inner = same_prev[s_idx]
        lo[inner] = np.maximum(lo[inner], t[s_idx[inner] - 1])
        inner = same_next[e_idx]
        hi[inner] = np.minimum(hi[inner], t[e_idx[inner] + 1])
        first = np.flatnonzero(~same_prev[s_idx])  # runs opening the subject's day: the fix before is earlier
        if len(first):
            subj = names[codes[s_idx[first]]].astype(str)
            before = _nearest(tail, subj)
            missing = np.isnan(before)
            if missing.any():
                rows = self._edge_rows(edges, days, range(d - 2, d - 1 - BRACKET_DAYS, -1), before=(d - 1) * DAY_NS,
                                       skip=set(), only=set(subj[missing]))
                found = _nearest(_edge_dict(rows), subj)
                before = np.where(missing, found, before)
            ok = ~np.isnan(before)
            lo[first[ok]] = np.maximum(lo[first[ok]], before[ok].astype(np.int64))
        last = np.flatnonzero(~same_next[e_idx])  # runs closing the subject's day: the fix after is later
        if len(last):
            subj = names[codes[e_idx[last]]].astype(str)
            rows = self._edge_rows(edges, days, range(d + 1, d + 1 + BRACKET_DAYS), after=(d + 1) * DAY_NS,
                                   skip=set(), only=set(subj))
            after = _nearest(_edge_dict(rows), subj)
            ok = ~np.isnan(after)
            hi[last[ok]] = np.minimum(hi[last[ok]], after[ok].astype(np.int64))
        return list(zip(lo.tolist(), hi.tolist(), strict=True))

    def changes(self) -> list[dict]:
        """The change journal: per ingest, in commit order, ``{"id", "changes": [(lo_ns, hi_ns), ...]}``.

        ``changes`` is the time whose results the ingest may have changed (SPEC §8).
        Every ingest writes its entry in the same manifest commit as its data (``trailmon ingest``, a
        subjects file loaded by hand and the nightly job's own ingest alike); the nightly job
        re-matches the entries it has not consumed yet. Ingests made before the journal existed
        carry none and are left out.
        """
        return [{"id": e["id"], "changes": [tuple(x) for x in e["changes"]]}
                for e in self.manifest["ingests"] if "changes" in e]

    @property
    def erased_before_ns(self) -> int | None:
        """The latest retention cut-off (ns UTC): fixes before it were erased, so results there are final."""
        v = self.manifest.get("erased_before_ns")
        return None if v is None else int(v)

    def _tail_before(self, days: dict, day: int) -> dict | None:
        name = _day_name(day - 1)
        if name not in days:
            return None
        prev = _read_day(self.path / days[name])
        codes, _ = _sorted_codes(prev["subject_id"])
        order = np.lexsort((prev["t_ns"], codes))  # the file is by hour: back to subject and time
        return _tail(prev["subject_id"].take(pa.array(order)), {c: prev[c][order] for c in ("t_ns", "x_m", "y_m")})

    def _collect_garbage(self) -> None:
        """Remove files no committed manifest names once no reader can still hold them.

        A file first seen unnamed at generation ``g`` (superseded by that commit, or left by a
        killed ingest) is deleted when no lease on a generation below ``g`` is held; until then
        it is kept in ``STORE/.retired.json``. Only this store's own temp files of dead
        processes are removed (see the module docstring).
        """
        m = json.loads((self.path / "manifest.json").read_text())
        gen = int(m["generation"])
        live = set(m["days"].values()) | set(m.get("edges", {}).values()) | {m.get("subjects")}
        live |= {f for ing in m["ingests"] for f in ing["files"] if f.startswith("quarantine/")}
        dead = [f"trails/{p.name}" for p in (self.path / "trails").glob("*.parquet")]
        dead += [p.name for p in self.path.glob("subjects.*.parquet")]
        dead += [f"quarantine/{p.name}" for p in (self.path / "quarantine").glob("*.csv") if _INGEST_ID.match(p.stem)]
        dead = [f for f in dead if f not in live]
        ledger_path = self.path / ".retired.json"
        try:
            ledger = {str(k): int(v) for k, v in json.loads(ledger_path.read_text()).items()}
        except (FileNotFoundError, ValueError):
            ledger = {}
        held = held_generations(self.path)
        oldest = min(held) if held else None
        keep = {}
        for f in dead:
            since = ledger.get(f, gen)
            if oldest is not None and oldest < since:
                keep[f] = since  # a reader of an older generation may still read it
            else:
                with _suppress_missing():
                    (self.path / f).unlink()
        if keep != ledger:
            write_json_atomic(ledger_path, keep)
        remove_dead_temp_files(self.path / "trails", lambda name: name.endswith(".parquet"))
        remove_dead_temp_files(self.path / "quarantine", lambda name: bool(_INGEST_ID.match(name.removesuffix(".csv"))))
        remove_dead_temp_files(self.path, lambda name: name in ("manifest.json", ".retired.json", "subjects.parquet")
                               or (name.startswith("subjects.") and name.endswith(".parquet")))

    def purge(self, older_than: pd.Timestamp, *, dry_run: bool = False) -> dict[str, int]:
        """Remove whole UTC days that end before ``older_than``; returns ``{day: fixes}`` removed.

        With ``dry_run`` nothing changes and the days that would go are returned. A day that
        straddles ``older_than`` stays (the caller erases its older fixes with
        :meth:`purge_fixes`).
        """
        with self.lock(what="purge"):
            m = self.manifest
            cut = pd.Timestamp(older_than).value
            gone = {d: pq.ParquetFile(self.path / m["days"][d]).metadata.num_rows
                    for d in sorted(m["days"]) if _day_start_ns(d) + DAY_NS <= cut}
            if gone and not dry_run:
                m["days"] = {d: f for d, f in m["days"].items() if d not in gone}
                m["edges"] = {d: f for d, f in m.get("edges", {}).items() if d not in gone}
                m["generation"] += 1
                m["erased_before_ns"] = max(int(m.get("erased_before_ns", cut)), int(cut))
                write_json_atomic(self.path / "manifest.json", m)
                self._collect_garbage()
            return gone

    def purge_fixes(self, older_than: pd.Timestamp, *, dry_run: bool = False) -> dict[str, int]:
        """Erase every stored fix before ``older_than``: whole days go, a straddling day is rewritten.

        Returns ``{day: fixes removed}``. One new manifest generation (readers of the old one
        keep its files until they finish); the ``speed_jump`` flags of the fixes kept are not
        recomputed (they were set against the full trail and stay as evidence showed them).
        """
        cut = int(pd.Timestamp(older_than).value)
        with self.lock(what="purge"):
            m = self.manifest
            removed: dict[str, int] = {}
            days, edges = dict(m["days"]), dict(m.get("edges", {}))
            new_files = []
            tag = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)
            for d in sorted(days):
                start = _day_start_ns(d)
                if start >= cut:
                    continue
                if start + DAY_NS <= cut:
                    removed[d] = pq.ParquetFile(self.path / days[d]).metadata.num_rows
                    if not dry_run:
                        del days[d]
                        edges.pop(d, None)
                    continue
                table = pq.read_table(self.path / days[d], schema=_SCHEMA)
                keep = pc.greater_equal(table.column("t_ns"), pa.scalar(cut, pa.int64()))
                n_old = table.num_rows - int(pc.sum(keep.cast(pa.int64())).as_py() or 0)
                if not n_old:
                    continue
                removed[d] = n_old
                if dry_run:
                    continue
                kept = table.filter(keep)
                if not kept.num_rows:
                    del days[d]
                    edges.pop(d, None)
                    continue
                day = int(start // DAY_NS)
                fname, ename = f"trails/{d}.{tag}.parquet", f"trails/{d}.{tag}.edges.parquet"
                old_umask = os.umask(0o077)
                try:
                    _write_table(kept, self.path / fname, row_groups=_hour_slices(kept, day))
                    _write_table(day_edges(kept), self.path / ename)
                finally:
                    os.umask(old_umask)
                days[d], edges[d] = fname, ename
                new_files += [fname, ename]
            if removed and not dry_run:
                erased = max(int(m.get("erased_before_ns", cut)), cut)  # nothing before it is re-matched
                m = {**m, "days": days, "edges": edges, "generation": m["generation"] + 1,
                     "erased_before_ns": erased}
                write_json_atomic(self.path / "manifest.json", m)  # the commit point
                self._collect_garbage()
            return removed


def held_generations(path: str | Path) -> set[int]:
    """Generations some reader holds a lease on; free lease files are removed on the way."""
    folder = Path(path) / READERS
    held: set[int] = set()
    if not folder.is_dir():
        return held
    for p in folder.glob("*.lease"):
        try:
            g = int(p.stem)
            fd = os.open(p, os.O_RDONLY)
        except (ValueError, FileNotFoundError):
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.add(g)
        else:
            with _suppress_missing():
                p.unlink()  # free: a reader that opened it before now sees the inode is gone and retries
        finally:
            os.close(fd)
    return held


def _take_lease(path: Path) -> tuple[dict, int | None]:
    """Read the manifest and take a shared lease on its generation; ``(manifest, fd)``.

    The manifest is read again once the lease is held: when it still names the same
    generation, no writer can have deleted that generation's files (a writer deletes only
    after its commit, and then sees the lease). Where the store is read-only to this process
    (no lease file can be made), the read goes ahead unleased.
    """
    folder = path / READERS
    for _ in range(_LEASE_TRIES):
        manifest = json.loads((path / "manifest.json").read_text())
        lease = folder / f"{int(manifest['generation'])}.lease"
        try:
            fd = os.open(lease, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except FileNotFoundError:
            try:
                make_private_dir(folder)
            except OSError:
                return manifest, None
            continue
        except OSError:
            return manifest, None
        fcntl.flock(fd, fcntl.LOCK_SH)
        try:
            same = os.stat(lease).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same and json.loads((path / "manifest.json").read_text())["generation"] == manifest["generation"]:
            return manifest, fd
        os.close(fd)
    raise StoreError(f"could not pin a generation of the store {str(path)!r}: it changed on every try")


@contextmanager
def _suppress_missing():
    try:
        yield
    except FileNotFoundError:
        pass


class StoreLock:
    """An exclusive, non-blocking ``flock`` on ``STORE/.lock`` (released on exit or death).

    Re-entrant within one process: a nightly run holds the lock and its own ingest takes it
    again; another process (a second nightly, an ingest by hand) is refused.
    """

    _held: dict[str, list] = {}  # resolved path -> [fd, depth], this process only

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._key = str(Path(path).resolve())

    def __enter__(self) -> StoreLock:
        held = StoreLock._held.get(self._key)
        if held is not None:
            held[1] += 1
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise StoreLockedError(f"the store {str(self.path.parent)!r} is locked by {holder}; "
                                   "wait for that run to finish, then try again") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{self.what} (pid {os.getpid()})".encode())
        StoreLock._held[self._key] = [fd, 1]
        return self

    def __exit__(self, *exc) -> None:
        held = StoreLock._held.get(self._key)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            fd = held[0]
            del StoreLock._held[self._key]
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


# -- helpers ------------------------------------------------------------------------------------
def _day_name(day: int) -> str:
    return str(np.datetime64(int(day), "D"))


def day_name(day: int) -> str:
    """The ``YYYY-MM-DD`` name of UTC day number ``day`` (days since 1970-01-01)."""
    return _day_name(day)


_MIN_NS, _MAX_NS = -(2**62), 2**62
"""Open window ends and unbounded changes, int ns (the case store's overlap queries take these)."""


def _nearest(tail: dict | None, subjects: np.ndarray) -> np.ndarray:
    """``tail["t_ns"]`` of each name in ``subjects`` (float, NaN where absent); ``tail["names"]`` sorted."""
    out = np.full(len(subjects), np.nan)
    if tail is None or not len(tail["names"]):
        return out
    names = tail["names"].astype(str)
    at = np.searchsorted(names, subjects)
    ok = at < len(names)
    ok[ok] = names[at[ok]] == subjects[ok]
    out[ok] = tail["t_ns"][at[ok]]
    return out


def _edge_dict(rows: pa.Table) -> dict:
    """One nearest fix per subject (from :meth:`TrailStore._edge_rows`) as sorted ``names``/``t_ns``."""
    names = np.asarray(rows.column("subject_id").to_pylist(), dtype=object).astype(str)
    t = rows.column("t_ns").to_numpy()
    order = np.argsort(names, kind="stable")
    return {"names": names[order], "t_ns": t[order]}


def _merge_spans_by_code(code: np.ndarray, lo: np.ndarray, hi: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed int ns spans per integer code, merged where they overlap or touch: ``(code, lo, hi)`` sorted."""
    order = np.lexsort((lo, code))
    c, a, b = code[order].astype(np.int64), lo[order], hi[order]
    if not len(c):
        return c, a, b
    group = np.r_[True, c[1:] != c[:-1]]
    reach = b.copy()  # the furthest end so far within the code
    bounds = np.r_[np.flatnonzero(group), len(b)]
    for i, j in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if j - i > 1:  # most codes have one span
            reach[i:j] = np.maximum.accumulate(b[i:j])
    new = group | np.r_[True, a[1:] > reach[:-1]]
    first = np.flatnonzero(new)
    last = np.r_[first[1:], len(a)] - 1
    return c[first], a[first], reach[last]


def _merge_ns(spans) -> list[tuple[int, int]]:
    """Union of closed ``[lo, hi]`` int ns spans, sorted, merged where they overlap or touch."""
    spans = list(spans)
    a = np.array([lo for lo, _ in spans], dtype=np.int64)
    b = np.array([hi for _, hi in spans], dtype=np.int64)
    _, lo, hi = _merge_spans_by_code(np.zeros(len(a), np.int64), a, b)  # one code: one union
    return list(zip(lo.tolist(), hi.tolist(), strict=True))


def _windows_ns(frame: pd.DataFrame) -> dict[str, list[tuple[int, int]]]:
    """Monitoring windows per subject, int ns, merged; a blank start or end is unbounded (SPEC §3)."""
    out: dict[str, list[tuple[int, int]]] = {}
    rows = frame[frame["monitoring_start"].notna() | frame["monitoring_end"].notna()]
    for sid, start, end in zip(rows["subject_id"], rows["monitoring_start"], rows["monitoring_end"], strict=True):
        a = _MIN_NS if pd.isna(start) else int(pd.Timestamp(start).value)
        b = _MAX_NS if pd.isna(end) else int(pd.Timestamp(end).value)
        if b >= a:
            out.setdefault(str(sid), []).append((a, b))
    return {k: _merge_ns(v) for k, v in out.items()}


def subject_windows(frame: pd.DataFrame) -> dict[str, list[tuple[float, float]]]:
    """Monitoring windows per subject of a subjects frame, seconds UTC (SPEC §3 "Monitoring windows").

    A row with a start or an end is a window; a blank start is -inf (an open start keeps its end),
    a blank end +inf. A subject with no such row has no entry (its window is unknown).
    """
    out: dict[str, list[tuple[float, float]]] = {}
    rows = frame[frame["monitoring_start"].notna() | frame["monitoring_end"].notna()]
    for sid, start, end in zip(rows["subject_id"], rows["monitoring_start"], rows["monitoring_end"], strict=True):
        a = -np.inf if pd.isna(start) else pd.Timestamp(start).value / 1e9
        b = np.inf if pd.isna(end) else pd.Timestamp(end).value / 1e9
        out.setdefault(str(sid), []).append((a, b))
    return out


def window_changes(old: pd.DataFrame, new: pd.DataFrame) -> list[tuple[int, int]]:
    """Where monitoring changed between two subjects frames, as closed int ns spans.

    Per subject, the symmetric difference of its old and new windows (SPEC §8; an identical
    re-send gives none).
    A subject without windows is monitored throughout but flagged window-unknown, so its first
    window (or the loss of its last) changes every instant. Unbounded sides are ``±2**62``.
    """
    a, b = _windows_ns(old), _windows_ns(new)
    out: list[tuple[int, int]] = []
    for sid in sorted(set(a) | set(b)):
        wa, wb = a.get(sid, [(_MIN_NS, _MAX_NS)]), b.get(sid, [(_MIN_NS, _MAX_NS)])
        if wa == wb:
            continue
        if sid not in a or sid not in b:  # known-ness itself changed: results are flagged window-unknown or not
            out.append((_MIN_NS, _MAX_NS))
            continue
        points = sorted({p for w in (wa, wb) for iv in w for p in iv} | {_MIN_NS, _MAX_NS})

        def inside(w, x):
            return any(lo <= x <= hi for lo, hi in w)

        out += [(p, p) for p in points if inside(wa, p) != inside(wb, p)]  # a boundary instant
        for p, q in zip(points[:-1], points[1:], strict=True):
            mid = p + (q - p) // 2
            if inside(wa, mid) != inside(wb, mid):  # the open stretch between two boundaries
                out.append((p, q))
    return _merge_ns(out)


def limit_gaps(gaps: pd.DataFrame, crimes: pd.DataFrame, bracket_s: float = BRACKET_S) -> pd.DataFrame:
    """Gaps near scene whose bracketing fixes lie within ``bracket_s`` of their crime's window.

    The one bracketing rule of both engines: a store read gives each subject its fixes either
    side of the period read only up to :data:`BRACKET_DAYS` days away, and the Dask engine sees
    further; keeping the rows with ``gap_start >= T1 - bracket_s`` and ``gap_end <= T2 +
    bracket_s`` makes the answer independent of what was read. ``gaps`` and ``crimes`` are
    joined on ``crime_ref`` (as :func:`trailmon.match.proximity.proximity` gives them).
    """
    if not len(gaps):
        return gaps
    c = crimes.assign(crime_ref=crimes["crime_ref"].astype(str)).drop_duplicates("crime_ref").set_index("crime_ref")
    refs = gaps["crime_ref"].astype(str)

    def ns(values) -> np.ndarray:
        return pd.DatetimeIndex(pd.to_datetime(values, utc=True)).as_unit("ns").asi8

    t1 = ns(c["committed_from"].reindex(refs))
    t2 = ns(c["committed_to"].reindex(refs))
    lim = int(bracket_s * 1e9)
    keep = (ns(gaps["gap_start"]) >= t1 - lim) & (ns(gaps["gap_end"]) <= t2 + lim)
    return gaps[keep].reset_index(drop=True)


def _day_start_ns(name: str) -> int:
    return int(np.datetime64(name, "D").astype("datetime64[ns]").astype(np.int64))


def _fix_codes(fix_type: pd.Series) -> np.ndarray:
    if pd.api.types.is_integer_dtype(fix_type):
        return fix_type.to_numpy().astype(np.int8)
    codes, uniques = pd.factorize(fix_type)
    lookup = np.array([FIX_TYPES.index(str(u).lower()) for u in uniques] + [0], dtype=np.int8)
    return lookup[codes]


def _write_parquet(df: pd.DataFrame, path: Path, schema: pa.Schema | None = None) -> None:
    _write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False), path)


_DICTIONARY_COLUMNS = ("subject_id", "fix_type", "flags", "cohort", "crn", "pnc_id", "nomis_id", "offender_manager")
"""Columns worth a Parquet dictionary (few distinct values); coordinates and times are not: trying a
dictionary on them first costs half the write time and makes the file larger."""


_DAY_WRITE_SCHEMA = _SCHEMA.set(0, pa.field("subject_id", pa.dictionary(pa.int32(), pa.string())))
"""A day table as the write path holds it: subjects dictionary-encoded (written as Parquet's own
dictionary, read back as plain strings)."""


def _write_table(table: pa.Table, path: Path, row_groups: list[tuple[int, int]] | None = None, *,
                 plain_schema: bool = False) -> None:
    """Parquet (zstd) written atomically; ``row_groups`` as ``(start, stop)`` row slices, else one.

    Streamed to a temporary file beside ``path`` (fsync, rename, directory fsync): no copy of the
    whole file in memory. ``plain_schema`` leaves the Arrow schema out of the file, so that a
    dictionary-encoded text column reads back as plain strings (the Parquet types say the rest).
    """
    parts = (table.slice(a, b - a) for a, b in (row_groups or [(0, table.num_rows)]))
    _write_tables(table.schema, parts, path, plain_schema=plain_schema)


def _hour_of(t_ns: np.ndarray, day: int) -> np.ndarray:
    return (t_ns - day * DAY_NS) // HOUR_NS


def by_hour(table: pa.Table, day: int) -> pa.Table:
    """A day sorted by subject and time, reordered to (UTC hour, subject, time): the file layout.

    One row group per hour lets a read of a short window decode only the hours it needs; a
    stable sort on the subject code then restores each subject's time order (days and hours
    come in time order).
    """
    hour = _hour_of(table.column("t_ns").to_numpy(), day)
    if len(hour) < 2 or np.all(hour[1:] >= hour[:-1]):
        return table
    if hour.min() >= 0 and hour.max() < 128:  # one day's hours: a stable radix sort on 8 bits
        hour = hour.astype(np.int8)
    return table.take(pa.array(np.argsort(hour, kind="stable")))


def _hour_slices(table: pa.Table, day: int) -> list[tuple[int, int]]:
    hour = _hour_of(table.column("t_ns").to_numpy(), day)
    cuts = np.flatnonzero(np.diff(hour)) + 1
    starts = np.r_[0, cuts]
    return list(zip(starts.tolist(), np.r_[cuts, len(hour)].tolist(), strict=True)) if len(hour) else [(0, 0)]


def _text_array(values) -> pa.Array:
    """A column of strings as one Arrow string array (no per-row Python)."""
    arr = pa.array(values, type=pa.string()) if not isinstance(values, pa.Array | pa.ChunkedArray) else values
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.cast(pa.string())


def _new_fix_arrays(trails: list[ReadResult]) -> dict | None:
    """Accepted fixes of every file as flat arrays, in file then row order."""
    parts = []
    for k, r in enumerate(trails):
        fix = getattr(r, "fix_columns", None)
        if fix is not None:  # a trail file read by this process: its validated columns, no frame
            if r.n_accepted:
                parts.append(_fix_part(fix, r.n_accepted, k))
            continue
        acc = r.accepted
        if not len(acc):
            continue
        n = len(acc)
        part = {c: acc[c].to_numpy(_SCHEMA.field(c).type.to_pandas_dtype()) for c in _COLUMNS
                if c not in ("subject_id", "fix_type", "flags")}
        part["subject_id"] = _text_array(acc["subject_id"])
        part["fix_type"] = _fix_codes(acc["fix_type"])
        part["flags"] = np.zeros(n, dtype=np.int32)
        part["_file"] = np.full(n, k, dtype=np.int64)
        part["_row"] = acc["row"].to_numpy(np.int64) if "row" in acc.columns else np.arange(1, n + 1)
        parts.append(part)
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    for p in parts:  # one dictionary per file: concatenate as plain text
        if isinstance(p["subject_id"], pa.DictionaryArray):
            p["subject_id"] = p["subject_id"].cast(pa.string())
    return {c: (pa.concat_arrays([p[c] for p in parts]) if c == "subject_id" else np.concatenate([p[c] for p in parts]))
            for c in parts[0]}


def _take(cols: dict, idx: np.ndarray) -> dict:
    return {c: (v.take(pa.array(idx)) if isinstance(v, pa.Array) else v[idx]) for c, v in cols.items()}


def _read_day(path: Path) -> dict:
    table = pq.read_table(path, schema=_SCHEMA)
    cols = {c: table.column(c).to_numpy() for c in _COLUMNS if c != "subject_id"}
    cols["subject_id"] = _text_array(table.column("subject_id"))
    return cols


def _sorted_codes(subject: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes whose order is the subjects' string order, and the sorted subject names."""
    enc = subject.dictionary_encode()
    names = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    order = np.argsort(names.astype(str), kind="stable")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return rank[enc.indices.to_numpy(zero_copy_only=False)], names[order]


def _tail(subject: pa.Array, cols: dict) -> dict:
    """Each subject's last fix of a day sorted by subject and time: name -> (t_ns, x_m, y_m)."""
    codes, names = _sorted_codes(subject)
    last = np.flatnonzero(np.r_[codes[1:] != codes[:-1], True]) if len(codes) else np.zeros(0, dtype=np.int64)
    return {"names": names[codes[last]], "t_ns": cols["t_ns"][last], "x_m": cols["x_m"][last],
            "y_m": cols["y_m"][last]}


def _merge_day(old: dict | None, add: dict, prev_tail: dict | None):
    """New fixes of one day against the stored ones.

    Returns the merged day (sorted by subject and time, speed-jump flags set), counts
    ``{"added", "already", "flagged"}``, the new fixes that conflict with an earlier one,
    and this day's tail for the next day.
    """
    n_new = len(add["t_ns"])
    if old is not None:
        n_old = len(old["t_ns"])
        cols = {c: (pa.concat_arrays([_text_array(old[c]), _text_array(add[c])]) if c == "subject_id"
                    else np.concatenate([old[c], add[c]])) for c in _COLUMNS}
        seq = np.r_[np.arange(-n_old, 0), np.arange(n_new)]
        file_ = np.r_[np.full(n_old, -1), add["_file"]]
        row = np.r_[np.full(n_old, -1), add["_row"]]
    else:
        cols = {c: add[c] for c in _COLUMNS}
        seq, file_, row = None, add["_file"], add["_row"]  # seq: file order, made only if a sort needs it
    codes, names = _sorted_codes(cols["subject_id"])
    t = cols["t_ns"]
    if old is None and strictly_increasing(codes, np.ascontiguousarray(t, dtype=np.int64)):
        # already sorted by subject and time with no instant twice (a day file as written): no sort, no copy
        n = len(t)
        merged = {c: cols[c] for c in _COLUMNS}
        k_codes, keep = codes, np.ones(n, dtype=bool)
        same = conflict = np.zeros(n, dtype=bool)
        x, y = cols["x_m"], cols["y_m"]
    else:
        seq = np.arange(n_new) if seq is None else seq
        order = np.lexsort((seq, t, codes))  # stored fixes first, then file order
        codes, t, seq, file_, row = codes[order], t[order], seq[order], file_[order], row[order]
        x, y = cols["x_m"][order], cols["y_m"][order]
        dup = np.r_[False, (codes[1:] == codes[:-1]) & (t[1:] == t[:-1])]
        head = np.maximum.accumulate(np.where(dup, 0, np.arange(len(t))))
        same = dup & (x == x[head]) & (y == y[head])
        conflict = dup & ~same
        keep = ~dup
        kept = order[keep]
        merged = {c: cols[c][kept] for c in _COLUMNS if c != "subject_id"}
        k_codes = codes[keep]
    # subjects as a dictionary over the sorted names: no string is copied, sorted or hashed again
    merged["subject_id"] = pa.DictionaryArray.from_arrays(pa.array(k_codes.astype(np.int32)),
                                                          pa.array(names.tolist(), type=pa.string()))
    merged["flags"] = speed_jump_flags(k_codes, names, merged, prev_tail)
    if old is None:  # every kept fix is new
        stats = {"added": len(k_codes), "already": int(same.sum()),
                 "flagged": int(np.count_nonzero(merged["flags"] & FLAG_SPEED_JUMP))}
    else:
        is_new = seq[keep] >= 0
        stats = {"added": int(is_new.sum()), "already": int(same.sum()),
                 "flagged": int(((merged["flags"][is_new] & FLAG_SPEED_JUMP) != 0).sum())}
    conflicts = {"subject_id": names[codes[conflict]], "t_ns": t[conflict], "x_m": x[conflict], "y_m": y[conflict],
                 "_file": file_[conflict], "_row": row[conflict]}
    last = np.flatnonzero(np.r_[k_codes[1:] != k_codes[:-1], True]) if len(k_codes) else np.zeros(0, np.int64)
    tail = {"names": names[k_codes[last]], "t_ns": merged["t_ns"][last], "x_m": merged["x_m"][last],
            "y_m": merged["y_m"][last]}
    return {c: merged[c] for c in _COLUMNS}, stats, conflicts, tail


def _conflict_rows(conflicts: dict, trails: list[ReadResult]) -> pd.DataFrame:
    files = [r.files[0] if r.files else "" for r in trails]
    values = [json.dumps({"subject_id": str(s), "t_ns": int(t), "x_m": float(x), "y_m": float(y)})
              for s, t, x, y in zip(conflicts["subject_id"], conflicts["t_ns"], conflicts["x_m"], conflicts["y_m"],
                                    strict=True)]
    return pd.DataFrame({
        "file": [files[k] for k in conflicts["_file"]], "row": conflicts["_row"].astype(np.int64),
        "reason": RejectReason.CONFLICTING_DUPLICATE.value,
        "detail": "a different position for this subject and instant is already stored", "values": values,
    })


def speed_jump_flags(codes: np.ndarray, names: np.ndarray, cols: dict, prev_tail: dict | None) -> np.ndarray:
    """Flags with ``speed_jump`` set where the speed implied from the previous fix > 70 m/s.

    ``codes`` index ``names`` and are sorted together with the time in ``cols``; ``prev_tail``
    holds each subject's last fix of the previous day, if any.
    """
    flags = cols["flags"].astype(np.int32) & ~np.int32(FLAG_SPEED_JUMP)
    n = len(codes)
    if not n:
        return flags
    t, x, y = cols["t_ns"], cols["x_m"], cols["y_m"]
    if prev_tail is None or not len(prev_tail["names"]):  # no fix before this day: rows against the row before
        flags[1:][_speed_jump_within(codes, t, x, y)] |= FLAG_SPEED_JUMP
        return flags
    pt, px, py = np.empty_like(t), np.empty_like(x), np.empty_like(y)  # the previous fix of each row
    pt[1:], px[1:], py[1:] = t[:-1], x[:-1], y[:-1]
    pt[0], px[0], py[0] = t[0], x[0], y[0]
    same = np.r_[False, codes[1:] == codes[:-1]]
    if prev_tail is not None and len(prev_tail["names"]):
        first = np.flatnonzero(~same)
        tail_names = prev_tail["names"].astype(str)
        at = np.searchsorted(tail_names, names[codes[first]].astype(str))
        at_ok = at < len(tail_names)
        found = np.zeros(len(first), dtype=bool)
        found[at_ok] = tail_names[at[at_ok]] == names[codes[first[at_ok]]].astype(str)
        i, j = first[found], at[found]
        pt[i], px[i], py[i] = prev_tail["t_ns"][j], prev_tail["x_m"][j], prev_tail["y_m"][j]
        same[i] = True
    dt = (t - pt) / 1e9
    with np.errstate(divide="ignore", invalid="ignore"):
        v = np.hypot(x - px, y - py) / dt
    flags[same & (dt > 0) & (v > SPEED_JUMP_MPS)] |= FLAG_SPEED_JUMP
    return flags


def day_edges(table: pa.Table) -> pa.Table:
    """Each subject's first and last fix of every UTC hour of a day table laid out by :func:`by_hour`.

    A read finds the fix just before (after) its period among these: the last (first) fix of
    the nearest earlier (later) hour in which the subject has fixes.
    """
    if not len(table):
        return table
    sid = table.column("subject_id").combine_chunks().dictionary_encode().indices.to_numpy(zero_copy_only=False)
    hour = table.column("t_ns").to_numpy() // HOUR_NS
    new_group = np.r_[True, (sid[1:] != sid[:-1]) | (hour[1:] != hour[:-1])]  # rows are by hour, subject, time
    return table.filter(pa.array(new_group | np.r_[new_group[1:], True]))


def table_to_trails(table: pa.Table, windows: dict[str, list[tuple[float, float]]] | None,
                    subjects: Iterable[str] | None = None) -> Trails:
    """Stored fixes (days in time order, each sorted by subject and time) to :class:`Trails`.

    Every subject with a monitoring window in ``windows`` (only those in ``subjects``, when
    given) is in the result, with or without fixes: a known subject is known whether or not it
    has fixes in the period read (SPEC §3), so it is ``not_monitored`` outside its windows rather
    than window-unknown.

    A stable sort on the subject code alone keeps each subject's fixes in time order, since
    every day file is sorted and the days come in order; with under 65,536 subjects the codes
    fit 16 bits and numpy radix-sorts them. ``subject_id`` may be text or an Arrow dictionary.
    """
    codes, names = _dictionary_codes(table.column("subject_id"))
    order = _stable_order(codes)
    return _assemble_trails(table, order, codes[order], names, None, None, windows,
                            None if subjects is None else sorted(set(map(str, subjects))))


def _read_hours(paths: list[Path], lo_ns: int, hi_ns: int, spans: list[tuple[int, int]] | None = None,
                columns: list[str] | None = None) -> pa.Table:
    """The row groups of day files that may hold fixes in ``[lo_ns, hi_ns)``, subjects as a dictionary.

    Row groups are chosen by their ``t_ns`` statistics (a day file has one per UTC hour); the
    caller masks the rows. Every chunk's subject dictionary is unified, so the codes of all
    chunks index one dictionary. With ``spans`` (sorted, disjoint closed int ns spans) only row groups
    that overlap one of them are read; with ``columns`` only those columns.
    """
    names = _COLUMNS if columns is None else [c for c in _COLUMNS if c in set(columns)]
    target = pa.schema([_DICT_SCHEMA.field(c) for c in names])
    span_lo = np.asarray([a for a, _ in spans or []], dtype=np.int64)
    span_hi = np.asarray([b for _, b in spans or []], dtype=np.int64)
    parts = []
    for path in paths:
        pf = pq.ParquetFile(path, read_dictionary=["subject_id"])
        md = pf.metadata
        at = pf.schema_arrow.get_field_index("t_ns")
        groups = []
        for i in range(md.num_row_groups):
            st = md.row_group(i).column(at).statistics
            if st is None or not st.has_min_max:
                groups.append(i)
            elif st.min < hi_ns and st.max >= lo_ns:
                k = int(np.searchsorted(span_lo, st.max, side="right")) - 1  # the last span starting by the max
                if spans is None or (k >= 0 and span_hi[k] >= st.min):
                    groups.append(i)
        if groups:
            part = pf.read_row_groups(groups, columns=names)
            parts.append(part if part.schema.equals(target) else part.cast(target))
    if not parts:
        return target.empty_table()
    return (pa.concat_tables(parts) if len(parts) > 1 else parts[0]).unify_dictionaries()


_DICT_SCHEMA = _SCHEMA.set(0, pa.field("subject_id", pa.dictionary(pa.int32(), pa.string())))
"""A day file as the read path holds it: subjects as an Arrow dictionary."""


def _column_numpy(table: pa.Table, name: str) -> np.ndarray:
    """One column of a table as a numpy array (chunks concatenated; nulls not expected)."""
    col = table.column(name)
    if col.num_chunks == 1:
        return col.chunk(0).to_numpy(zero_copy_only=False)
    if col.num_chunks == 0:
        return np.zeros(0, dtype=_SCHEMA.field(name).type.to_pandas_dtype())
    return np.concatenate([ch.to_numpy(zero_copy_only=False) for ch in col.chunks])


def _dictionary_codes(subject: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes whose order is the subjects' string order, and the sorted names.

    A dictionary column (chunks sharing one dictionary, :func:`_read_hours`) is coded without
    touching a string per row; a text column is dictionary-encoded first.
    """
    chunks = subject.chunks if isinstance(subject, pa.ChunkedArray) else [subject]
    chunks = [ch for ch in chunks if len(ch)]
    if not chunks:
        return np.zeros(0, np.int64), np.zeros(0, dtype=object)
    if not pa.types.is_dictionary(chunks[0].type):
        return _sorted_codes(_text_array(subject))
    dictionary = chunks[0].dictionary
    if any(not ch.dictionary.equals(dictionary) for ch in chunks[1:]):  # not unified: do it now
        chunks = pa.table({"s": pa.chunked_array(chunks)}).unify_dictionaries().column("s").chunks
        dictionary = chunks[0].dictionary
    names = np.asarray(dictionary.to_pylist(), dtype=object)
    rank_of = np.empty(len(names), dtype=np.int64)
    by_name = np.argsort(names.astype(str), kind="stable")
    rank_of[by_name] = np.arange(len(names))
    idx = np.concatenate([ch.indices.to_numpy(zero_copy_only=False) for ch in chunks]) if len(chunks) > 1 else (
        chunks[0].indices.to_numpy(zero_copy_only=False))
    used = np.bincount(idx, minlength=len(names)) > 0  # a dictionary may hold names no row uses: drop them
    if not used.all():
        keep = np.flatnonzero(used[by_name])  # ranks of used names, in name order
        new_rank = np.full(len(names), -1, dtype=np.int64)
        new_rank[keep] = np.arange(len(keep))
        rank_of = new_rank[rank_of]
        by_name = by_name[keep]
    return rank_of[idx], names[by_name]


_TRAIL_DTYPES = {"t_ns": np.int64, "x_m": np.float64, "y_m": np.float64, "lat": np.float64, "lon": np.float64,
                 "accuracy_m": np.float64, "fix_type": np.int8, "speed_mps": np.float64, "heading_deg": np.float64,
                 "flags": np.int32}
"""The fix columns of :class:`Trails` and their dtypes."""
_UNREAD = {"fix_type": -1, "flags": 0}
"""Values of integer fix columns a read was told not to decode (float columns are NaN)."""


def _stable_order(codes: np.ndarray) -> np.ndarray:
    """Stable argsort of subject codes (16-bit codes radix-sort)."""
    if len(codes) and codes.max() < 2**16:
        codes = codes.astype(np.uint16)
    return np.argsort(codes, kind="stable")


def _assemble_trails(table: pa.Table, sel: np.ndarray, sel_codes: np.ndarray, names: np.ndarray,
                     earlier: pa.Table | None, later: pa.Table | None,
                     windows: dict[str, list[tuple[float, float]]] | None, only: list[str] | None) -> Trails:
    """:class:`Trails` from rows ``sel`` of ``table`` (in subject, time order; ``sel_codes`` rank ``names``).

    ``earlier`` / ``later`` hold at most one fix per subject, placed before (after) that subject's
    rows; known subjects (with a window in ``windows``, among ``only`` when given) without fixes
    are added. Each column is gathered once.
    """
    present = np.bincount(sel_codes, minlength=len(names)) > 0 if len(names) else np.zeros(0, dtype=bool)
    if not present.all():  # names of rows not selected (other subjects, hours outside the period)
        sel_codes = (np.cumsum(present) - 1)[sel_codes]
        names = names[present]
    extra_tables = [e for e in (earlier, later) if e is not None and len(e)]
    edge_names = [np.asarray(e.column("subject_id").to_pylist(), dtype=object) for e in extra_tables]
    known = set(windows or {})
    if only is not None:
        known &= set(only)
    full = names.astype(str) if len(names) else np.zeros(0, dtype=str)
    add = sorted((known | {str(n) for e in edge_names for n in e}) - set(full.tolist()))
    if add:
        full = np.array(sorted(set(full.tolist()) | set(add)), dtype=str)
        remap = np.searchsorted(full, names.astype(str)) if len(names) else np.zeros(0, np.int64)
        sel_codes = remap[sel_codes] if len(sel_codes) else sel_codes
    n_sub = len(full)
    counts_main = np.bincount(sel_codes, minlength=n_sub) if len(sel_codes) else np.zeros(n_sub, np.int64)
    e_code = [np.searchsorted(full, e.astype(str)) for e in edge_names]
    n_e = np.zeros(n_sub, np.int64)
    n_l = np.zeros(n_sub, np.int64)
    which = [e is earlier for e in extra_tables]
    for codes_e, is_earlier in zip(e_code, which, strict=True):
        np.add.at(n_e if is_earlier else n_l, codes_e, 1)
    counts = counts_main + n_e + n_l
    offsets = np.zeros(n_sub + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n_total = int(offsets[-1])
    n_read = table.num_rows
    # where each output row comes from: an index into [table rows, earlier rows, later rows]
    if not extra_tables:  # rows already in (subject, time) order with nothing to slot in: sel itself
        src = np.asarray(sel, dtype=np.int64)
    else:
        src = np.empty(n_total, dtype=np.int64)
        main_start = np.zeros(n_sub + 1, dtype=np.int64)
        np.cumsum(counts_main, out=main_start[1:])
        if len(sel):
            pos = np.arange(len(sel), dtype=np.int64) - main_start[sel_codes] + offsets[sel_codes] + n_e[sel_codes]
            src[pos] = sel
    base = n_read
    for codes_e, is_earlier in zip(e_code, which, strict=True):
        at = offsets[codes_e] if is_earlier else offsets[codes_e] + n_e[codes_e] + counts_main[codes_e]
        src[at] = base + np.arange(len(codes_e))
        base += len(codes_e)
    wo, ws, we, window_known = windows_to_csr(full.astype(object), windows)

    sources = [table, *extra_tables]
    n_src = sum(x.num_rows for x in sources)
    local = threading.local()
    # columns not read: one read-only NaN array shared by the float ones (a write into it raises), zeros
    # (pages not touched until read) for the flags, -1 for the fix type
    unread_nan = None
    if any(c not in table.column_names and np.dtype(t).kind == "f" for c, t in _TRAIL_DTYPES.items()):
        unread_nan = np.full(n_total, np.nan)
        unread_nan.flags.writeable = False

    def arr(c: str) -> np.ndarray:
        dtype = np.dtype(_TRAIL_DTYPES[c])
        if c not in table.column_names:
            fill = _UNREAD.get(c, np.nan)
            return unread_nan if dtype.kind == "f" else np.zeros(n_total, dtype) if fill == 0 else (
                np.full(n_total, fill, dtype=dtype))
        chunks = [ch.to_numpy(zero_copy_only=False) for x in sources for ch in x.column(c).chunks if len(ch)]
        if len(chunks) == 1 and chunks[0].dtype == dtype:
            return np.take(chunks[0], src)
        # the chunks side by side in one scratch buffer per thread, reused for every column: a fresh
        # allocation per column costs more in page faults than the copy itself
        if getattr(local, "buf", None) is None:
            local.buf = np.empty(n_src, dtype=np.float64)
        flat = local.buf.view(dtype)[:n_src] if dtype.itemsize <= 8 else np.empty(n_src, dtype)
        at = 0
        for ch in chunks:
            flat[at:at + len(ch)] = ch
            at += len(ch)
        return np.take(flat, src)  # releases the GIL: columns on threads

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        cols = dict(zip(_TRAIL_DTYPES, pool.map(arr, _TRAIL_DTYPES), strict=True))
    t_ns = cols["t_ns"]
    return Trails(
        subject_ids=full.astype(object), offsets=offsets, t_s=t_ns / 1e9,
        x_m=cols["x_m"], y_m=cols["y_m"], lat=cols["lat"], lon=cols["lon"], accuracy_m=cols["accuracy_m"],
        fix_type=cols["fix_type"], speed_mps=cols["speed_mps"], heading_deg=cols["heading_deg"],
        flags=cols["flags"], win_offsets=wo, win_start_s=ws, win_end_s=we, window_known=window_known,
        t_ns=t_ns,
    )


def _empty_subjects() -> pd.DataFrame:
    return pd.DataFrame({
        "subject_id": pd.Series(dtype=object), "cohort": pd.Series(dtype=object),
        "monitoring_start": pd.Series(dtype="datetime64[ns, UTC]"),
        "monitoring_end": pd.Series(dtype="datetime64[ns, UTC]"),
        **{c: pd.Series(dtype=object) for c in ["crn", "pnc_id", "nomis_id", "offender_manager", "flags", *_DEVICE]},
    })


def merge_subjects(current: pd.DataFrame, results: list[ReadResult]) -> tuple[pd.DataFrame, dict]:
    """Upsert subject rows: windows by (subject_id, monitoring_start); attributes by subject.

    A non-empty attribute overwrites; an empty one keeps what is known. Cohort defaults to
    ``free`` when no file says. A row with a start or an end is a window (a blank start is an
    open start and keeps its end, SPEC §3); rows with neither (e.g. the EM caseload) only carry
    attributes.
    """
    stats = {"read": 0, "accepted": 0, "rejected": 0, "flagged": 0, "windows": 0}
    parts = [current.reindex(columns=SUBJECT_COLUMNS)]  # a store written before devices were kept lacks them
    for r in results:
        stats["read"] += r.n_read
        stats["accepted"] += len(r.accepted)
        stats["rejected"] += len(r.rejected)
        stats["flagged"] += r.n_flagged
        if len(r.accepted):
            acc = r.accepted.copy()
            for c in SUBJECT_COLUMNS:
                if c not in acc.columns:
                    acc[c] = None
            parts.append(acc[SUBJECT_COLUMNS])
    allrows = pd.concat([p for p in parts if len(p)], ignore_index=True) if any(len(p) for p in parts) else (
        _empty_subjects())
    for c in ["subject_id", *_ATTRS, "flags", *_DEVICE]:
        allrows[c] = allrows[c].astype(object).where(allrows[c].notna() & (allrows[c].astype(str) != ""), None)
    allrows["monitoring_start"] = pd.to_datetime(allrows["monitoring_start"], utc=True)
    allrows["monitoring_end"] = pd.to_datetime(allrows["monitoring_end"], utc=True)
    attrs = allrows.groupby("subject_id", sort=True)[_ATTRS + ["flags"]].last()
    attrs["cohort"] = attrs["cohort"].fillna("free")
    has_window = allrows["monitoring_start"].notna() | allrows["monitoring_end"].notna()
    win = allrows[has_window].drop_duplicates(
        ["subject_id", "monitoring_start"], keep="last")[["subject_id", "monitoring_start", "monitoring_end"]]
    dev = allrows[allrows["monitoring_start"].notna()].groupby(["subject_id", "monitoring_start"])[_DEVICE].last()
    win = win.merge(dev, left_on=["subject_id", "monitoring_start"], right_index=True, how="left")
    ids = sorted(set(attrs.index) - set(win["subject_id"]))
    nat = pd.Series(pd.NaT, index=range(len(ids)), dtype="datetime64[ns, UTC]")
    nowin = pd.DataFrame({"subject_id": ids, "monitoring_start": nat, "monitoring_end": nat})
    rows = pd.concat([win, nowin], ignore_index=True) if len(nowin) else win
    out = rows.merge(attrs, left_on="subject_id", right_index=True, how="left")
    out = out.sort_values(["subject_id", "monitoring_start"], na_position="last").reset_index(drop=True)
    stats["windows"] = int((out["monitoring_start"].notna() | out["monitoring_end"].notna()).sum())
    stats["subjects"] = int(out["subject_id"].nunique())
    return out[SUBJECT_COLUMNS], stats


def _fix_part(fix: dict, n: int, k: int) -> dict:
    """A file's validated trail columns (``ReadResult.fix_columns``) as the write path holds them."""
    subject = fix["subject_id"]
    if subject is None:  # cannot happen for trails read here (the subject is filled in): be safe
        raise StoreError("trail columns without subject ids")
    part = {c: np.asarray(fix[c], dtype=_SCHEMA.field(c).type.to_pandas_dtype()) for c in _COLUMNS
            if c not in ("subject_id", "flags")}
    part["subject_id"] = subject if isinstance(subject, pa.DictionaryArray) else _text_array(subject)
    part["flags"] = np.zeros(n, dtype=np.int32)
    part["_file"] = np.full(n, k, dtype=np.int64)
    part["_row"] = np.asarray(fix["row"], dtype=np.int64)
    return part


def _speed_jump_within(codes: np.ndarray, t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """For rows 1..n-1: the speed from the row before (same subject, later time) exceeds the limit."""
    dt = (t[1:] - t[:-1]) / 1e9
    v = np.subtract(x[1:], x[:-1])
    np.hypot(v, np.subtract(y[1:], y[:-1]), out=v)
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(v, dt, out=v)  # the speed from the row before: hypot(dx, dy) / dt
    jump = v > SPEED_JUMP_MPS
    jump &= dt > 0
    jump &= codes[1:] == codes[:-1]
    return jump


def _day_layout(merged: dict, day: int) -> tuple[np.ndarray | None, list[tuple[int, int]]] | None:
    """The file layout of a merged day (rows by subject and time): permutation and hour slices.

    The permutation takes the rows to (hour, subject, time) order (None when they are in it
    already); each hour's ``(start, stop)`` is in that order. None when the times do not fit
    one day's hours (then :func:`by_hour` and :func:`_hour_slices` apply).
    """
    hour = _hour_of(merged["t_ns"], day)
    if len(hour) < 2 or hour.min() < 0 or hour.max() >= 128:
        return None
    hour = hour.astype(np.int8)
    counts = np.bincount(hour)
    order = None if bool((hour[1:] >= hour[:-1]).all()) else np.argsort(hour, kind="stable")  # radix, 8 bits
    stops = np.cumsum(counts)
    starts = stops - counts
    return order, [(int(a), int(b)) for a, b, k in zip(starts, stops, counts, strict=True) if k]


def _gather(merged: dict, idx: np.ndarray | slice) -> pa.Table:
    """Rows ``idx`` of a merged day as a table of the day-file schema."""
    cols = {}
    for c, v in merged.items():
        if isinstance(v, pa.DictionaryArray):
            cols[c] = pa.DictionaryArray.from_arrays(pa.array(v.indices.to_numpy(zero_copy_only=False)[idx]),
                                                     v.dictionary)
        elif isinstance(v, pa.Array | pa.ChunkedArray):
            cols[c] = v[idx] if isinstance(idx, slice) else v.take(pa.array(idx))
        else:
            cols[c] = v[idx]
    return pa.table(cols, schema=_DAY_WRITE_SCHEMA)


def _layout_edges(merged: dict, order: np.ndarray | None, slices: list[tuple[int, int]]) -> pa.Table:
    """:func:`day_edges` of the day laid out by ``order`` and ``slices``, without the laid-out table."""
    codes = _dictionary_codes(merged["subject_id"])[0]
    codes = codes if order is None else codes[order]
    new_group = np.r_[True, codes[1:] != codes[:-1]]
    new_group[[a for a, _ in slices]] = True  # an hour starts
    rows = np.flatnonzero(new_group | np.r_[new_group[1:], True])
    return _gather(merged, rows if order is None else order[rows])


def _write_day(merged: dict, day: int, path: Path, edges_path: Path) -> None:
    """Write a merged day's file (a row group per hour, by subject and time) and its edges file.

    Each hour is gathered from the merged arrays in a thread while the one before is compressed
    (both release the GIL), so the day is never held twice in memory in file order.
    """
    layout = _day_layout(merged, day)
    if layout is None:
        table = by_hour(pa.table(merged, schema=_DAY_WRITE_SCHEMA), day)
        _write_table(table, path, row_groups=_hour_slices(table, day), plain_schema=True)
        _write_table(day_edges(table), edges_path, plain_schema=True)
        return
    order, slices = layout
    from concurrent.futures import ThreadPoolExecutor

    def hour(k: int) -> pa.Table:
        a, b = slices[k]
        return _gather(merged, slice(a, b) if order is None else order[a:b])

    with ThreadPoolExecutor(2) as pool:
        def parts() -> Iterator[pa.Table]:
            nxt = pool.submit(hour, 0)
            for k in range(len(slices)):
                cur = nxt.result()
                if k + 1 < len(slices):
                    nxt = pool.submit(hour, k + 1)
                yield cur

        writing = pool.submit(_write_tables, _DAY_WRITE_SCHEMA, parts(), path, plain_schema=True)
        _write_table(_layout_edges(merged, order, slices), edges_path, plain_schema=True)
        writing.result()


_SPLIT_COLUMNS = ("x_m", "y_m", "lat", "lon", "accuracy_m")
"""Float columns written BYTE_STREAM_SPLIT: zstd then compresses them about twice as fast, and the
day file comes out smaller (the bytes of a double's exponent and high mantissa compress together)."""


def _write_tables(schema: pa.Schema, parts: Iterable[pa.Table], path: Path, *, plain_schema: bool = False) -> None:
    """Like :func:`_write_table`, a row group per table of ``parts`` (each of ``schema``)."""
    from trailmon.store._files import atomic_file

    dictionary = [c for c in schema.names if c in _DICTIONARY_COLUMNS]
    split = {c: "BYTE_STREAM_SPLIT" for c in schema.names
             if c in _SPLIT_COLUMNS and pa.types.is_float64(schema.field(c).type)}
    with atomic_file(path) as fh:
        with pq.ParquetWriter(fh, schema, compression="zstd", compression_level=1,
                              use_dictionary=dictionary, column_encoding=split or None,
                              store_schema=not plain_schema) as writer:
            for part in parts:
                writer.write_table(part)
