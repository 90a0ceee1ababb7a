"""The unattended nightly job: inbox -> ingest -> match -> case records -> reports (SPEC §1, §5).

Orchestration only; every step calls the readers, the trail store, the matchers and the
case-record store. The steps, in order, each either done or redone by the next run:

1. take the store's lock ``STORE/.lock`` (a second run raises :class:`StoreLockedError`, exit 4) and
   record the run (``running``) in the case store's run log;
2. list ``INBOX/{subjects,trails,crimes,appointments,zones}/``; a file is new when its sha256
   is not in the case store's inbox log (a file already logged but still in the inbox was
   committed by a run killed before it moved it: it is moved now); a file still arriving (changed
   within ``settle_s`` seconds; names starting with ``.`` or ending ``.part``) is left for later;
3. read the new files (crime layouts sniffed); a reader raising a ``TrailmonError`` sends the
   file to ``INBOX/quarantine/<kind>/`` with ``<name>.reason.txt``;
4. ingest trails and subjects into the trail store (atomic and idempotent);
5. one SQLite transaction: subjects, crime versions, appointments and zones upserted, the time
   the trail store's change journal says changed (this run's ingest and any ``trailmon ingest``
   or subjects file loaded by hand since the last run) queued and its entries marked consumed, the
   files logged;
6. proximity for every crime version never matched or whose window overlaps queued time;
   attendance for every appointment ended by ``as_of`` never judged or overlapping it; zones for
   every zone period ended by ``as_of`` never judged or overlapping it, stored as whole events
   (an event across a period boundary is one record): one transaction per step, which also
   clears what it consumed. Each step is streamed by UTC day: a group of crimes (appointments,
   zone periods) that needs the same days reads only those days;
7. the day's reports ``OUT/<as-of day>/{hits,evidence,gaps,attendance,zones}.csv`` and
   ``summary.json``, written from the case store (so a re-run writes the same);
8. move the files to ``INBOX/processed/<kind>/`` and close the run (``done``).

Because queued work lives in the case store, a run killed anywhere leaves nothing lost: the
next run re-reads uncommitted files (their ingest adds nothing the second time), and redoes
what was queued but not cleared. Re-matching exactly what a change can touch (SPEC §8: for new
fixes, from the stored fix before them to the stored fix after them; for a subjects file, where
its monitoring windows changed; for a purge, nothing) makes any split of the files into nights,
mixed with hand ingests, equal to one catch-up run with the same final ``as_of``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon import __version__
from trailmon.errors import AccessRefusedError, InputError, TrailmonError
from trailmon.io._time import iso_ms as _iso
from trailmon.report._columns import ATTENDANCE, EVIDENCE, GAPS, HITS, ZONES
from trailmon.store import audit
from trailmon.store._files import make_private_dir, sha256_file, write_bytes_atomic, write_json_atomic
from trailmon.store.cases import CaseStore, default_db_path, merge_spans, ns_to_times, times_to_ns
from trailmon.store.read_groups import span_groups, window_groups
from trailmon.store.trails import limit_gaps
from trailmon.trail import DEFAULT_MAX_GAP_S, FIX_HALO_S

__all__ = ["INBOX_KINDS", "NIGHTLY_PURPOSE", "NIGHTLY_USER", "ZONE_TZ", "run_nightly"]

NIGHTLY_USER = "trailmon-nightly"
"""The service identity the job consults under (``--user`` overrides)."""

NIGHTLY_PURPOSE = "nightly matching run"
"""The fixed purpose recorded with every consultation of the job."""

INBOX_KINDS = ("subjects", "trails", "crimes", "appointments", "zones")
"""Inbox sub-folders, in the order they are read."""

ZONE_TZ = "Europe/London"
"""Zone of the zones' daily ``HH:MM`` schedules."""

EARLY_S = 900.0
"""Attendance looks at ``[start - 15 min, end]`` (SPEC §3)."""

DAY_NS = 86_400 * 10**9
_MIN_NS, _MAX_NS = -(2**62), 2**62
_STEPS = ("read", "ingest", "records", "proximity", "attendance", "zones", "reports", "move")


def run_nightly(
    store: str | Path,
    inbox: str | Path,
    out: str | Path,
    *,
    as_of: pd.Timestamp | str | None = None,
    user: str = NIGHTLY_USER,
    db: str | Path | None = None,
    radius_m: float = 100.0,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    max_accuracy_m: float = 100.0,
    trigger: str = "auto",
    tz: str | None = None,
    log: Callable[[str], None] | None = None,
    engine: str = "local",
    scheduler: str | None = None,
    workers: int | None = None,
    settle_s: float = 0.0,
    smtp: str | None = None,
    smtp_recipients: str | Path | None = None,
    _hook: Callable[[str], None] | None = None,
) -> dict:
    """Run the nightly job once.

    Parameters
    ----------
    store : str or Path
        The trail store folder (created when absent, EPSG:27700).
    inbox : str or Path
        The inbox folder with ``subjects/``, ``trails/``, ``crimes/``, ``appointments/``, ``zones/``.
    out : str or Path
        Reports go to ``OUT/<YYYY-MM-DD>/`` (the UTC day of ``as_of``).
    as_of : pandas.Timestamp or str, optional
        "Now" (UTC; a string needs an offset or ``Z``): appointments and zone periods that end
        by then are judged. Default: the clock.
    user : str, default "trailmon-nightly"
        The service identity written to the audit log, with purpose :data:`NIGHTLY_PURPOSE`.
    db : str or Path, optional
        The case-record database (default ``STORE/cases.sqlite``).
    radius_m : float, default 100.0
        Radius for crimes that give none, metres.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    max_accuracy_m : float, default 100.0
        Attendance and zones set fixes less accurate than this aside, metres.
    trigger : {"auto", "manual"}, default "auto"
        Recorded in the run log.
    tz : str, optional
        IANA zone of input times written without an offset (files whose times carry none are
        quarantined when this is None), and of the zones' daily schedules (default
        :data:`ZONE_TZ`).
    log : callable, optional
        Called with one line of progress per step.
    engine : {"local", "dask"}, default "local"
        Where proximity runs: here, or on Dask over the store's day partitions (crimes reported
        late, whose windows lie far back, then read only the days they need; the answers are
        the same, :mod:`trailmon.distributed`).
    scheduler, workers : optional
        With ``engine="dask"``: a scheduler address to join, or the number of local workers.
    settle_s : float, default 0.0
        A file is taken only once its size and modification (and status-change) time have not
        changed for this long, seconds; a younger one is left for the next run. Names starting
        with ``.`` or ending ``.part`` are never taken. ``trailmon nightly --settle`` defaults to
        60 (SPEC §8); 0 suits a caller that has finished writing the inbox itself.
    smtp : str, optional
        ``HOST:PORT`` of an SMTP relay that mails each file's ingestion receipt
        (:mod:`trailmon.report.receipts`; a relay that is down never fails the run).
    smtp_recipients : str or Path, optional
        With ``smtp``: the JSON file of addresses per force (``{"<force>": [...], "default": [...]}``).

    Returns
    -------
    dict
        The run summary (also stored in the run log and ``OUT/<day>/summary.json``).

    Raises
    ------
    StoreLockedError
        When another nightly run holds the lock (exit 4).
    AccessRefusedError
        When ``user`` is empty (exit 3).
    InputError
        When the inbox folder does not exist or a parameter is out of range.
    """
    from trailmon.store.trails import TrailStore

    if not (user and str(user).strip()):
        raise AccessRefusedError(
            "the nightly job consults location data: give a service identity with --user"
        )
    for name, v in (("radius_m", radius_m), ("max_gap_s", max_gap_s), ("max_accuracy_m", max_accuracy_m)):
        if not (isinstance(v, int | float) and np.isfinite(v) and v > 0):
            raise InputError(f"{name} must be a number > 0, got {v!r}")
    inbox = Path(inbox)
    if not inbox.is_dir():
        raise InputError(
            f"inbox {str(inbox)!r} is not a folder; it should hold " + ", ".join(f"{k}/" for k in INBOX_KINDS)
        )
    from trailmon.io._time import check_tz

    tz = check_tz(tz)
    if engine not in ("local", "dask"):
        raise InputError(f"engine must be 'local' or 'dask', got {engine!r}")
    if engine == "local" and (scheduler is not None or workers is not None):
        raise InputError("--scheduler and --workers need --engine dask")
    now = _as_of(as_of)
    say = log or (lambda line: None)
    hook = _hook or (lambda step: None)
    tstore = TrailStore(store, create=True)
    rid = (
        "nightly-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + __import__("secrets").token_hex(3)
    )
    params = {
        "as_of": _iso(now.value),
        "radius_m": radius_m,
        "max_gap_s": max_gap_s,
        "max_accuracy_m": max_accuracy_m,
        "inbox": str(inbox),
        "out": str(out),
        "store": str(store),
        "tz": tz,
        "zone_tz": tz or ZONE_TZ,
        "user": user,
    }
    if engine != "local":
        params.update(engine=engine, scheduler=scheduler, workers=workers)
    if not (isinstance(settle_s, int | float) and np.isfinite(settle_s) and settle_s >= 0):
        raise InputError(f"settle_s must be a number >= 0, got {settle_s!r}")
    params["settle_s"] = float(settle_s)
    from trailmon.store import health
    from trailmon.store.retention import record_places

    if smtp is not None:  # checked now: a bad relay address or recipients file is a usage error
        from trailmon.report.receipts import parse_smtp, read_recipients

        parse_smtp(smtp)
        if smtp_recipients is not None:
            read_recipients(smtp_recipients)
        params.update(smtp=smtp, smtp_recipients=None if smtp_recipients is None else str(smtp_recipients))
    with tstore.lock(what="nightly"):
        db_path = Path(db or default_db_path(tstore.path))
        record_places(tstore.path, inbox=inbox, out=out, db=db_path)  # so that purge finds every copy
        cases = CaseStore(db_path, create=True)
        try:
            cases.start_run(rid, command="nightly", parameters=params, trigger=trigger, as_of=_iso(now.value))
            job = _Job(tstore, cases, inbox, Path(out), now, rid, str(user).strip(), params, say, hook)
            try:
                summary = job.run()
            except Exception as exc:
                cases.finish_run(rid, status="failed", error=f"{type(exc).__name__}: {exc}")
                health.write_metrics_quietly(tstore.path, Path(out), db=db_path, say=say)
                raise
            cases.finish_run(rid, status="done", summary=summary)
            health.write_metrics_quietly(tstore.path, Path(out), db=db_path, say=say)
            return summary
        finally:
            cases.close()


class _Job:
    """One nightly run's state; each method is one step."""

    def __init__(
        self,
        store,
        cases: CaseStore,
        inbox: Path,
        out: Path,
        now: pd.Timestamp,
        rid: str,
        user: str,
        params: dict,
        say,
        hook,
    ) -> None:
        self.store, self.cases, self.inbox, self.out, self.now = store, cases, inbox, out, now
        self.rid, self.user, self.params, self.say, self.hook = rid, user, params, say, hook
        self.day = now.strftime("%Y-%m-%d")
        self.pad_ns = int((params["max_gap_s"] + FIX_HALO_S) * 1e9)
        self.summary: dict = {"run_id": rid, "as_of": params["as_of"], "day": self.day, "status": "done"}
        self.matched_evidence: pd.DataFrame | None = None

    def audit(self, action: str, kind: str, parameters: dict, subjects, counts: dict) -> None:
        audit.append(
            self.store.audit_path,
            user=self.user,
            purpose=NIGHTLY_PURPOSE,
            action=action,
            kind=kind,
            parameters={"run_id": self.rid, **parameters},
            subjects=[str(s) for s in subjects],
            counts=counts,
        )

    def run(self) -> dict:
        files = self.scan()
        self.read(files)
        from trailmon.report.receipts import nightly_receipts

        self.summary["receipts"] = nightly_receipts(self.out / self.day / "receipts", files, self.rid, self.params,
                                                    self.say)
        self.hook("read")
        self.ingest()
        self.hook("ingest")
        self.records()
        self.hook("records")
        self.match_proximity()
        self.hook("proximity")
        self.match_attendance()
        self.hook("attendance")
        self.match_zones()
        self.hook("zones")
        self.reports()
        self.hook("reports")
        self.move()
        self.hook("move")
        s = self.summary
        self.audit(
            "nightly",
            "ingest",
            {"as_of": s["as_of"]},
            [],
            {
                "files_new": s["files"]["new"],
                "files_quarantined": len(s["files"]["quarantined"]),
                "hits": s["proximity"]["hits"],
                "outcomes": s["attendance"]["outcomes"],
                "zone_events": s["zones"]["events"],
            },
        )
        return s

    # -- 1. the inbox ------------------------------------------------------------------------------------
    def scan(self) -> list[dict]:
        """New settled files, in read order; files committed by an interrupted run are moved now.

        A file still being written is left for the next run: names starting with ``.`` or
        ending ``.part`` are skipped, and a file is taken only when its size, modification and
        status-change times have been still for ``settle_s`` seconds and do not change while it
        is hashed (SPEC §8; suppliers write, then rename).
        """
        new, seen, leftover, unsettled = [], set(), 0, []
        settle = float(self.params.get("settle_s", 0.0))
        for kind in INBOX_KINDS:
            folder = self.inbox / kind
            if not folder.is_dir():
                continue
            for p in sorted(
                f
                for f in folder.iterdir()
                if f.is_file() and not f.name.startswith(".") and not f.name.endswith(".reason.txt")
                and not f.name.endswith(".part")
            ):
                before = p.stat()
                if time.time() - max(before.st_mtime, before.st_ctime) < settle:
                    unsettled.append(str(p))
                    continue
                sha = sha256_file(p)
                after = p.stat()
                if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                    unsettled.append(str(p))  # written to while it was read
                    continue
                status = self.cases.inbox_status(sha)
                if status is not None:
                    folder = "quarantine" if status == "quarantined" else "processed"
                    dest = _move(p, self.inbox / folder / kind)  # committed by an earlier run, not yet moved
                    if status == "quarantined":
                        reason = self.cases.conn.execute(
                            "SELECT reason FROM inbox_files WHERE sha256 = ?", (sha,)
                        ).fetchone()[0]
                        write_bytes_atomic(dest.with_name(dest.name + ".reason.txt"), f"{reason}\n".encode())
                    leftover += 1
                elif sha in seen:
                    new.append({"path": p, "kind": kind, "sha256": sha, "name": p.name, "duplicate": True})
                else:
                    seen.add(sha)
                    new.append({"path": p, "kind": kind, "sha256": sha, "name": p.name, "duplicate": False})
        self.summary["files"] = {
            "new": len(new),
            "moved_from_earlier_run": leftover,
            "processed": [],
            "quarantined": [],
        }
        if unsettled:
            self.summary["files"]["unsettled"] = unsettled  # still arriving: left for the next run
        self.say(f"inbox: {len(new)} new file(s)" + (f", {len(unsettled)} still arriving" if unsettled else ""))
        return new

    def read(self, files: list[dict]) -> None:
        from trailmon.io.appointments import read_appointments
        from trailmon.io.crimes import distinct_crimes, read_crimes
        from trailmon.io.subjects import read_subjects
        from trailmon.io.trails import read_trails
        from trailmon.io.zones import read_zones

        crs, tz = self.store.crs, self.params["tz"]
        readers = {
            "subjects": lambda p: read_subjects(p, tz=tz),
            "trails": lambda p: read_trails(p, crs=crs, tz=tz),
            "crimes": lambda p: read_crimes(p, crs=crs, tz=tz),
            "appointments": lambda p: read_appointments(p, crs=crs, tz=tz),
            "zones": lambda p: read_zones(p, crs=crs, tz=tz),
        }
        self.files = files
        self.results: dict[str, list] = {k: [] for k in INBOX_KINDS}
        for f in files:
            if f["duplicate"]:
                f["status"] = "processed"
                continue
            try:
                res = readers[f["kind"]](f["path"])
            except (TrailmonError, ValueError, UnicodeError) as exc:
                f["status"], f["reason"] = "quarantined", f"{type(exc).__name__}: {exc}"
                continue
            f["status"] = "processed"
            f["read"], f["accepted"], f["rejected"] = res.n_read, len(res.accepted), len(res.rejected)
            f["result"] = res  # for the file's ingestion receipt
            if f["kind"] == "crimes":
                res.accepted = distinct_crimes(res.accepted)
            self.results[f["kind"]].append(res)
            if f["kind"] in ("crimes", "appointments", "zones") and len(res.rejected):
                qname = f"{self.rid}-{f['kind']}-{f['sha256'][:8]}.csv"
                from trailmon._cells import safe_text_frame  # spreadsheet-safe cells (SPEC §4)

                write_bytes_atomic(
                    self.store.path / "quarantine" / qname,
                    safe_text_frame(res.rejected).to_csv(index=False).encode(),
                )
                f["quarantine"] = str(self.store.path / "quarantine" / qname)

    # -- 2. ingest and records ----------------------------------------------------------------------------
    def ingest(self) -> None:
        trails, subjects = self.results["trails"], self.results["subjects"]
        self.summary["ingest"] = None
        if trails or subjects:
            s = self.store.ingest(trails, subjects)
            self.summary["ingest"] = {k: v for k, v in s.as_dict().items() if k != "files"}
            self.say(
                f"ingest: read {s.read}, added {s.added}, already stored {s.already_stored}, "
                f"rejected {s.rejected}"
            )

    def records(self) -> None:
        # what changed comes from the trail store's journal (SPEC §8): this run's ingest and any made by
        # hand (`trailmon ingest`, a subjects file) since the last run, each consumed exactly once
        done = self.cases.consumed_changes()
        journal = [e for e in self.store.changes() if e["id"] not in done]
        spans = merge_spans(x for e in journal for x in e["changes"])
        erased = self.store.erased_before_ns
        if erased is not None:  # time a purge erased keeps its results (SPEC §8): it is never re-matched
            spans = [(max(lo, erased), hi) for lo, hi in spans if hi > erased]
        subj = self.store.subjects()
        with self.cases.transaction() as c:
            n_subj = self.cases.upsert_subjects(c, subj)
            versions = []
            for res in self.results["crimes"]:
                versions += self.cases.upsert_crimes(c, res.accepted, self.rid)
            n_appt = sum(
                self.cases.upsert_appointments(c, r.accepted, self.rid) for r in self.results["appointments"]
            )
            n_zone = sum(self.cases.upsert_zones(c, r.accepted, self.rid) for r in self.results["zones"])
            self.cases.add_pending_spans(c, spans, self.rid)
            self.cases.consume_changes(c, [e["id"] for e in journal], self.rid)
            self.cases.record_files(
                c,
                [{k: f.get(k) for k in ("sha256", "kind", "name", "status", "reason")} for f in self.files],
                self.rid,
                self.params["as_of"],
            )
        self.summary["records"] = {
            "subjects_changed": n_subj,
            "crime_versions_new": len(versions),
            "appointments_changed": n_appt,
            "zones_changed": n_zone,
            "trail_spans": len(spans),
            "journal_entries": len(journal),
        }

    # -- 3. matching -------------------------------------------------------------------------------------
    def match_proximity(self) -> None:
        from trailmon.match.proximity import proximity

        spans = self.cases.pending_spans()
        crimes = self.cases.crimes_to_match(spans, self.pad_ns)
        res = {
            "crimes": len(crimes),
            "hits": 0,
            "new": 0,
            "updated": 0,
            "unchanged": 0,
            "withdrawn": 0,
            "evidence_rows": 0,
            "gaps": 0,
        }
        if len(crimes):
            keys = crimes[["force", "crime_ref", "crime_version"]].reset_index(drop=True)
            query = crimes.assign(crime_ref=[str(i) for i in range(len(crimes))])  # unique across forces
            if self.params.get("engine", "local") == "dask":
                from trailmon import distributed

                out = distributed.proximity(
                    self.store,
                    query,
                    radius_m=self.params["radius_m"],
                    max_gap_s=self.params["max_gap_s"],
                    scheduler=self.params["scheduler"],
                    workers=self.params["workers"],
                    progress=False,
                )
            else:
                out = self._proximity_by_days(query, proximity)
            hits, evidence, gaps = (_restore(df, keys) for df in out)
            self.matched_evidence = evidence  # the day's reports show these rows (their digests stored now)
            with self.cases.transaction() as c:
                res = self.cases.apply_proximity(
                    c, keys, hits, evidence, gaps, run_id=self.rid, report_day=self.day
                )
            res["hits"] = len(hits)
            self.audit(
                "proximity",
                "consultation",
                {
                    "radius_m": self.params["radius_m"],
                    "max_gap_s": self.params["max_gap_s"],
                    "crimes": len(crimes),
                },
                audit.distinct_subjects(hits, gaps),
                {"hits": len(hits), "evidence_rows": len(evidence), "gaps_near_scene": len(gaps)},
            )
        self.summary["proximity"] = res
        self.say(
            f"proximity: {res['crimes']} crime version(s) matched, {res['hits']} hit(s) "
            f"({res['new']} new, {res['withdrawn']} withdrawn)"
        )

    def _proximity_by_days(self, query: pd.DataFrame, proximity) -> tuple:
        """Proximity streamed day by day.

        Crimes are grouped by overlapping windows (:func:`span_groups`), each group reading only the
        hours they need (a late crime reads its own days, SPEC §8).
        """
        halo = max(self.params["max_gap_s"], FIX_HALO_S)
        parts = []
        for idx in window_groups(query["committed_from"], query["committed_to"], halo):
            q = query.iloc[idx]
            trails = self.store.read_span(q["committed_from"].min(), q["committed_to"].max(), halo_s=halo)
            h, e, g = proximity(
                trails, q, radius_m=self.params["radius_m"], max_gap_s=self.params["max_gap_s"], crs=self.store.crs,
                evidence_arrow=True,
            )
            del trails
            parts.append((h, e, limit_gaps(g, q)))
        out = []
        for i in (0, 2):  # back to the order of the crimes, as one call over all of them gives
            df = _concat([p[i] for p in parts])
            pos = pd.to_numeric(df["crime_ref"]).to_numpy() if len(df) else np.zeros(0, np.int64)
            out.append(df.iloc[np.argsort(pos, kind="stable")].reset_index(drop=True))
        return out[0], _evidence_categorical([p[1] for p in parts]), out[1]

    def match_attendance(self) -> None:
        spans = self.cases.pending_spans()
        appts = self.cases.appointments_to_match(
            spans, self.pad_ns + int(EARLY_S * 1e9), self.pad_ns, int(self.now.value)
        )
        res = {"appointments": len(appts), "outcomes": 0, "changed": 0}
        if len(appts):
            from trailmon.match.attendance import attendance

            halo = max(self.params["max_gap_s"], FIX_HALO_S)
            lo = times_to_ns(appts["start"]) - int((EARLY_S + halo) * 1e9)
            hi = times_to_ns(appts["end"]) + int(halo * 1e9)
            parts = []
            for idx in span_groups(lo, hi):  # streamed: each group reads its own hours, its subjects only
                a = appts.iloc[idx].reset_index(drop=True)
                trails = self.store.read_span(
                    a["start"].min() - pd.Timedelta(seconds=EARLY_S),
                    a["end"].max(),
                    sorted(set(a["subject_id"].astype(str))),
                    halo_s=halo,
                )
                parts.append(
                    attendance(
                        trails,
                        a,
                        max_gap_s=self.params["max_gap_s"],
                        max_accuracy_m=self.params["max_accuracy_m"],
                    )
                )
                del trails
            outcomes = _concat(parts)
            with self.cases.transaction() as c:
                res.update(self.cases.apply_attendance(c, outcomes, run_id=self.rid, report_day=self.day))
            by_status = {str(k): int(v) for k, v in outcomes["status"].value_counts().sort_index().items()}
            self.audit(
                "attendance",
                "compliance",
                {"max_accuracy_m": self.params["max_accuracy_m"]},
                audit.distinct_subjects(outcomes),
                {"outcomes": len(outcomes), **by_status},
            )
        self.summary["attendance"] = res
        self.say(f"attendance: {res['outcomes']} outcome(s)")

    def match_zones(self) -> None:
        """Zone periods due or overlapping queued time, judged period by period (streamed).

        Stored as whole events: a visit, absence or ``no_data`` spell across a period boundary
        (midnight, a night's end) is one event and one case record (SPEC §8).
        """
        spans = self.cases.pending_spans()
        zones = self.cases.zones_frame()
        limit = int(self.now.value)
        todo: dict[tuple[int, int], list[int]] = {}
        judged: dict[int, list[tuple[int, int]]] = {}
        periods: dict[int, np.ndarray] = {}
        until: dict[int, int] = {}
        for k, z in zones.iterrows():
            ps, pe = zone_periods(z, limit, self.params["zone_tz"])
            if not len(ps):
                continue
            done = z["evaluated_until_ns"]
            new = np.ones(len(ps), bool) if done is None else ps >= int(done)
            redo = ~new & _overlaps(ps, pe, spans, self.pad_ns)
            periods[k] = ps
            for a, b in zip(ps[new | redo], pe[new | redo], strict=True):
                todo.setdefault((int(a), int(b)), []).append(k)
                judged.setdefault(k, []).append((int(a), int(b)))
            if new.any():
                until[k] = int(pe[new].max())
        res = {"periods": sum(len(v) for v in todo.values()), "events": 0}
        pieces: dict[int, list[pd.DataFrame]] = {}
        if todo:
            from trailmon.match.zones import zones as zone_events

            halo = max(self.params["max_gap_s"], FIX_HALO_S)
            for (a, b), rows in sorted(todo.items()):  # streamed: one period's days at a time
                zdf = zones.loc[rows].drop(columns=["evaluated_until_ns"]).reset_index(drop=True)
                t_a, t_b = pd.Timestamp(a, unit="ns", tz="UTC"), pd.Timestamp(b, unit="ns", tz="UTC")
                trails = self.store.read_span(t_a, t_b, sorted(set(zdf["subject_id"].astype(str))), halo_s=halo)
                ev = zone_events(
                    trails,
                    zdf,
                    t_a,
                    t_b,
                    tz=self.params["zone_tz"],
                    max_gap_s=self.params["max_gap_s"],
                    max_accuracy_m=self.params["max_accuracy_m"],
                )
                del trails
                for k, z in zip(rows, zdf.itertuples(index=False), strict=True):
                    mine = ev[
                        (ev["zone_id"].astype(str) == str(z.zone_id))
                        & (ev["subject_id"].astype(str) == str(z.subject_id))
                    ]
                    pieces.setdefault(k, []).append(_event_ns(mine, a, b))
        with self.cases.transaction() as c:
            subjects = set()
            for k, ranges in judged.items():
                z = zones.loc[k]
                res["events"] += self.cases.replace_zone_events(
                    c,
                    str(z["zone_id"]),
                    str(z["subject_id"]),
                    str(z["kind"]),
                    merge_zone_events(pieces.get(k, []), ranges, self._stored_events(c, z, ranges)),
                    periods[k],
                    min(a for a, _ in ranges),
                    max(b for _, b in ranges),
                    run_id=self.rid,
                    report_day=self.day,
                )
                subjects.add(str(z["subject_id"]))
            for k, t in until.items():
                self.cases.set_zone_evaluated(
                    c, str(zones.at[k, "zone_id"]), str(zones.at[k, "subject_id"]), t
                )
            self.cases.clear_pending_spans(c)  # the last matching step: the queued trail time is consumed
        if judged:
            self.audit(
                "zones",
                "compliance",
                {"tz": self.params["zone_tz"], "periods": res["periods"]},
                sorted(subjects),
                {"events": res["events"]},
            )
        self.summary["zones"] = res
        self.say(f"zones: {res['periods']} zone period(s) judged, {res['events']} event(s)")

    def _stored_events(self, c, z: pd.Series, ranges: list[tuple[int, int]]) -> pd.DataFrame:
        lo, hi = min(a for a, _ in ranges), max(b for _, b in ranges)
        return self.cases.zone_events_touching(c, str(z["zone_id"]), str(z["subject_id"]), lo, hi)

    # -- 4. reports and files ----------------------------------------------------------------------------
    def reports(self) -> None:
        from trailmon.report.writers import make_provenance, write_table

        folder = make_private_dir(self.out / self.day)
        tables = day_reports(self.cases, self.day, self.store, matched=self.matched_evidence)
        self.matched_evidence = None
        prov = make_provenance(
            "nightly",
            self.params,
            transformation=self.store.crs.info.as_dict(),
            inputs=[f["path"] for f in self.files],
            user=self.user,
            purpose=NIGHTLY_PURPOSE,
        )
        outputs = [str(write_table(df, folder / f"{name}.csv", prov)) for name, df in tables.items()]
        runs = self.cases.runs()
        day_runs = runs[runs["as_of"].astype(str).str.startswith(self.day)]["run_id"].tolist()
        write_json_atomic(
            folder / "summary.json",
            {
                "as_of": self.params["as_of"],
                "day": self.day,
                "engine": f"trailmon {__version__}",
                "rows": {name: len(df) for name, df in tables.items()},
                "runs": day_runs,
                "last_run": self.summary,
            },
        )
        self.summary["outputs"] = [*outputs, str(folder / "summary.json")]

    def move(self) -> None:
        for f in self.files:
            if f["status"] == "quarantined":
                dest = _move(f["path"], self.inbox / "quarantine" / f["kind"])
                write_bytes_atomic(dest.with_name(dest.name + ".reason.txt"), (f["reason"] + "\n").encode())
                self.summary["files"]["quarantined"].append({"file": str(dest), "reason": f["reason"]})
            else:
                dest = _move(f["path"], self.inbox / "processed" / f["kind"])
                entry = {"file": str(dest)}
                entry.update({k: f[k] for k in ("read", "accepted", "rejected", "quarantine") if k in f})
                self.summary["files"]["processed"].append(entry)


# -- helpers ---------------------------------------------------------------------------------------------
def _as_of(value) -> pd.Timestamp:
    if value is None:
        return pd.Timestamp(time.time_ns(), unit="ns", tz="UTC")
    if isinstance(value, str):
        from trailmon.io._time import parse_instant

        return parse_instant(value, None, what="--as-of").tz_convert("UTC")
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        raise InputError(f"as_of must carry a time zone (an offset or Z), got {value!r}")
    return ts.tz_convert("UTC")


def _move(path: Path, folder: Path) -> Path:
    """Move ``path`` into ``folder`` (kept name; a different file of that name there gets a suffix).

    The folder is made owner-only (0700) and the moved file 0600, whatever modes the sender gave (SPEC §9).
    """
    make_private_dir(folder)
    dest = folder / path.name
    if dest.exists():
        if sha256_file(dest) == sha256_file(path):
            path.unlink()
            return dest
        dest = folder / f"{path.stem}.{sha256_file(path)[:8]}{path.suffix}"
    shutil.move(str(path), str(dest))
    os.chmod(dest, 0o600)
    return dest


def _restore(df: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Results keyed by the internal crime index back to ``force, crime_ref, crime_version``."""
    df = df.copy()
    if not len(df):
        df["force"] = pd.Series(dtype=object)
        return df
    k = df["crime_ref"].astype(int).to_numpy()
    df["force"] = keys["force"].to_numpy(dtype=object)[k]
    df["crime_ref"] = keys["crime_ref"].to_numpy(dtype=object)[k]
    df["crime_version"] = keys["crime_version"].to_numpy(dtype=np.int64)[k]
    return df


def _evidence_categorical(tables: list) -> pd.DataFrame:
    """Evidence tables (Arrow, text as dictionaries) as one frame whose text columns are categorical.

    The case store only counts and fingerprints these rows (:func:`trailmon.store.cases.evidence_digests`,
    which codes categories once, not a string per row); each hit's rows stay together, in the
    order the matcher gave them (a fingerprint does not depend on row order).
    """
    import pyarrow as pa

    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVIDENCE})
    table = pa.concat_tables(tables).unify_dictionaries() if len(tables) > 1 else tables[0]
    return table.to_pandas()


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of the same columns one after the other (the first kept when all are empty)."""
    full = [f for f in frames if len(f)]
    if len(full) == 1:
        return full[0].reset_index(drop=True)
    if not full:
        return frames[0].reset_index(drop=True)
    return pd.concat(full, ignore_index=True)


_SNAP_NS = 1_000
"""Event ends within this of a period boundary are the boundary (float seconds round-trip)."""


def _event_ns(events: pd.DataFrame, a: int, b: int) -> pd.DataFrame:
    """A zone's events of one period as int ns ``event, start_ns, end_ns``, ends snapped to ``[a, b]``."""
    s = times_to_ns(events["start"]) if len(events) else np.zeros(0, np.int64)
    e = times_to_ns(events["end"]) if len(events) else np.zeros(0, np.int64)
    for bound in (a, b):
        s = np.where(np.abs(s - bound) <= _SNAP_NS, bound, s)
        e = np.where(np.abs(e - bound) <= _SNAP_NS, bound, e)
    return pd.DataFrame({"event": events["event"].astype(str).to_numpy(), "start_ns": s, "end_ns": e})


def merge_zone_events(
    pieces: list[pd.DataFrame], ranges: list[tuple[int, int]], stored: pd.DataFrame
) -> pd.DataFrame:
    """A zone's whole events after re-judging the periods ``ranges``.

    ``pieces`` are the new events of those periods (clipped to them); ``stored`` the stored events
    touching their hull, whose parts outside the periods still hold (nothing changed there: a
    period overlapping changed time is always re-judged). Pieces of one kind that touch are one
    event (SPEC §8), so an event across period boundaries is stored once, whatever the nights.

    Examples
    --------
    >>> p = [pd.DataFrame({"event": ["visit"], "start_ns": [5], "end_ns": [10]}),
    ...      pd.DataFrame({"event": ["visit", "no_data"], "start_ns": [10, 14], "end_ns": [12, 20]})]
    >>> old = pd.DataFrame({"event": ["no_data"], "start_ns": [0], "end_ns": [2]})
    >>> merge_zone_events(p, [(2, 10), (10, 20)], old).values.tolist()
    [['no_data', 0, 2], ['visit', 5, 12], ['no_data', 14, 20]]
    """
    rows: list[tuple[str, int, int]] = []
    for f in pieces:
        rows += list(zip(f["event"].astype(str), f["start_ns"].astype(np.int64), f["end_ns"].astype(np.int64),
                         strict=True))
    cover = merge_spans(ranges)
    for ev, s, e in zip(stored["event"].astype(str), stored["start_ns"], stored["end_ns"], strict=True):
        rest = [(int(s), int(e))]
        for a, b in cover:  # the stored event minus the re-judged periods (their ends included)
            nxt = []
            for x, y in rest:
                if y < a or x > b:
                    nxt.append((x, y))
                    continue
                if x < a:
                    nxt.append((x, a))
                if y > b:
                    nxt.append((b, y))
            rest = nxt
        rows += [(ev, x, y) for x, y in rest]
    out: list[list] = []
    for ev, s, e in sorted((str(ev), int(s), int(e)) for ev, s, e in rows):
        if out and out[-1][0] == ev and s <= out[-1][2]:
            out[-1][2] = max(out[-1][2], e)
        else:
            out.append([ev, s, e])
    out.sort(key=lambda r: (r[1], r[2], r[0]))
    return pd.DataFrame(out, columns=["event", "start_ns", "end_ns"]).astype(
        {"event": object, "start_ns": np.int64, "end_ns": np.int64}
    )


def _overlaps(ps: np.ndarray, pe: np.ndarray, spans: list[tuple[int, int]], pad_ns: int) -> np.ndarray:
    out = np.zeros(len(ps), dtype=bool)
    for lo, hi in spans:
        out |= (ps - pad_ns <= hi) & (pe + pad_ns >= lo)
    return out


def zone_periods(zone: pd.Series, limit_ns: int, tz: str = ZONE_TZ) -> tuple[np.ndarray, np.ndarray]:
    """The periods a zone is judged in that have ended by ``limit_ns``: int ns UTC starts and ends.

    A zone with a daily schedule has one period per occurrence (a 19:00-07:00 curfew runs into
    the next day; wall-clock times in ``tz``, right across clock changes); one without has one
    period per UTC day. Periods are clipped to ``[active_from, active_to]``; a period that has
    not ended by ``limit_ns`` is left for a later run.
    """
    from trailmon.io._time import localize_naive

    a_from = int(pd.Timestamp(zone["active_from"]).value)
    a_to = _MAX_NS if pd.isna(zone["active_to"]) else int(pd.Timestamp(zone["active_to"]).value)
    upto = min(a_to, int(limit_ns))
    if upto <= a_from:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    daily_start, daily_end = str(zone["daily_start"] or ""), str(zone["daily_end"] or "")
    if daily_start and daily_end:
        first = pd.Timestamp(a_from, unit="ns", tz="UTC").tz_convert(tz).normalize().tz_localize(None)
        last = pd.Timestamp(upto, unit="ns", tz="UTC").tz_convert(tz).normalize().tz_localize(None)
        dates = pd.date_range(first - pd.Timedelta(days=1), last, freq="D")
        s_off, e_off = pd.Timedelta(daily_start + ":00"), pd.Timedelta(daily_end + ":00")
        roll = pd.Timedelta(days=1) if e_off <= s_off else pd.Timedelta(0)
        ps = np.asarray(localize_naive(dates + s_off, tz).as_unit("ns").asi8, dtype=np.int64)
        pe = np.asarray(localize_naive(dates + roll + e_off, tz).as_unit("ns").asi8, dtype=np.int64)
    else:
        ps = np.arange(a_from // DAY_NS, -(-upto // DAY_NS), dtype=np.int64) * DAY_NS
        pe = ps + DAY_NS
    ps, pe = np.maximum(ps, a_from), np.minimum(pe, a_to)
    keep = (pe > ps) & (pe <= limit_ns)
    return ps[keep], pe[keep]


def day_reports(cases: CaseStore, day: str, store=None, *, matched: pd.DataFrame | None = None
                ) -> dict[str, pd.DataFrame]:
    """The frames of ``OUT/<day>/``: what the runs of that as-of day matched, SPEC columns.

    Evidence rows come from :func:`trailmon.report.case_evidence.hit_evidence` (frozen at review, else
    the evidence this run has just ``matched``, else computed from the trail store ``store``).
    """
    h = cases.frame(
        "SELECT * FROM hits WHERE report_day = ? ORDER BY crime_ref, crime_version, subject_id", [day]
    )
    hits = pd.DataFrame(
        {
            "crime_ref": h["crime_ref"],
            "crime_version": h["crime_version"],
            "subject_id": h["subject_id"],
            "min_distance_m": h["min_distance_m"],
            "closest_time": ns_to_times(h["closest_time_ns"]),
            "first_within": ns_to_times(h["first_within_ns"]),
            "last_within": ns_to_times(h["last_within_ns"]),
            "dwell_s": h["dwell_s"],
            "passes": h["passes"],
            "n_fixes_within": h["n_fixes_within"],
            "between_fixes": h["between_fixes"].astype(bool),
            "accuracy_m": h["accuracy_m"],
            "confidence": h["confidence"],
            "coverage": h["coverage"],
            "flags": h["flags"],
        },
        columns=HITS,
    )
    from trailmon.report.case_evidence import hit_evidence, spec_evidence

    e = hit_evidence(cases, store, h["hit_id"], matched=matched).rows
    evidence = spec_evidence(e, h).sort_values(
        ["crime_ref", "crime_version", "subject_id", "time", "seq"], kind="stable"
    ).reset_index(drop=True)[EVIDENCE]
    g = cases.frame(
        "SELECT * FROM gaps WHERE report_day = ? ORDER BY crime_ref, crime_version, subject_id, gap_start_ns",
        [day],
    )
    gaps = g.assign(gap_start=ns_to_times(g["gap_start_ns"]), gap_end=ns_to_times(g["gap_end_ns"]))[GAPS]
    a = cases.frame("SELECT * FROM attendance WHERE report_day = ? ORDER BY appointment_id", [day])
    att = a.assign(
        start=ns_to_times(a["start_ns"]),
        end=ns_to_times(a["end_ns"]),
        arrival=ns_to_times(a["arrival_ns"]),
        departure=ns_to_times(a["departure_ns"]),
    )[ATTENDANCE]
    z = cases.frame(
        "SELECT * FROM zone_events WHERE report_day = ? ORDER BY zone_id, subject_id, start_ns, event", [day]
    )
    zev = z.assign(start=ns_to_times(z["start_ns"]), end=ns_to_times(z["end_ns"]))[ZONES]
    return {"hits": hits, "evidence": evidence, "gaps": gaps, "attendance": att, "zones": zev}
