"""Health of a trailmon installation (SPEC §8): the figures of ``trailmon status`` and ``OUT/metrics.prom``.

:func:`status` gathers, from the store alone: days and fixes stored, subjects and monitoring
windows, the last nightly run and its outcome, runs by outcome, queued trail spans, the inbox
backlog (files waiting in the inboxes the nightly job recorded), quarantined rows per reason
code, per-force feed health (the last crime batch received, batches failed in the last 7 days)
and the audit head (entries, last hash). :func:`write_metrics` writes the same figures in the
Prometheus text exposition format (``prometheus_client.write_to_textfile``, atomic), for
node-exporter's textfile collector; the nightly job calls it at the end of every run, done or
failed.

A crime batch is one crimes file the nightly job took. It *failed* when the file was
quarantined or none of its rows was accepted; it is counted under the force its rows name
(``force`` / ``policeForceArea`` / ``Falls within``, pilot-force names as their codes), else the
force code its name begins with, else ``unknown``. A force's last batch is the latest run that
brought one of its crime versions.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from pathlib import Path

import pandas as pd

__all__ = ["METRICS_FILE", "status", "write_metrics", "write_metrics_quietly"]

METRICS_FILE = "metrics.prom"
"""``OUT/metrics.prom``."""

FEED_DAYS = 7
"""Window of the failed-batch count, days."""

_FORCE_KEY = re.compile(r"force|falls within", re.IGNORECASE)
_WAITING_SKIP = (".reason.txt",)
_INBOX_KINDS = ("subjects", "trails", "crimes", "appointments", "zones")  # as the nightly job reads them


def _iso(ns: int | float | None) -> str | None:
    if ns is None or pd.isna(ns):
        return None
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _text(v) -> str | None:
    return v if isinstance(v, str) else None


def _ns(text) -> int | None:
    if not isinstance(text, str) or not text:
        return None
    return int(pd.Timestamp(text).value)


def status(store: str | Path, *, db: str | Path | None = None, now: pd.Timestamp | None = None) -> dict:
    """The health figures of a store (the ``trailmon status --json`` object).

    Parameters
    ----------
    store : str or Path
        The trail store folder.
    db : str or Path, optional
        The case-record database (default ``STORE/cases.sqlite``; absent: no run figures).
    now : pandas.Timestamp, optional
        The clock, for the 7-day failed-batch window (default: now).
    """
    import pyarrow.parquet as pq

    from trailmon.store import audit
    from trailmon.store.cases import CaseStore, default_db_path
    from trailmon.store.retention import places
    from trailmon.store.trails import TrailStore

    now_ns = int((pd.Timestamp(time.time_ns(), unit="ns", tz="UTC") if now is None else pd.Timestamp(now)).value)
    tstore = TrailStore(store)
    with tstore.snapshot() as snap:
        m = snap.manifest
        fixes = sum(pq.ParquetFile(snap.path / f).metadata.num_rows for f in m["days"].values())
        subj = snap.subjects()
        days = sorted(m["days"])
        ingested = sum(int((i.get("summary") or {}).get("added", 0)) for i in m.get("ingests", []))
    out: dict = {
        "store": str(tstore.path),
        "generated": _iso(now_ns),
        "trail_store": {
            "generation": int(m["generation"]), "days": len(days), "first_day": days[0] if days else None,
            "last_day": days[-1] if days else None, "fixes": int(fixes), "fixes_ingested": ingested,
            "subjects": int(subj["subject_id"].nunique()), "windows": int(subj["monitoring_start"].notna().sum()),
        },
    }
    out["quarantine"] = _quarantine_counts(tstore.path / "quarantine")
    known = places(tstore.path)
    out["inbox"] = _inbox_backlog([Path(p) for p in known["inboxes"]])
    entries = audit.entries(tstore.audit_path)
    out["audit"] = {"entries": len(entries), "last_seq": entries[-1]["seq"] if entries else 0,
                    "last_hash": entries[-1]["hash"] if entries else audit.GENESIS,
                    "last_time": entries[-1]["time"] if entries else None}
    db_path = Path(db) if db is not None else default_db_path(tstore.path)
    out["case_store"] = str(db_path) if db_path.exists() else None
    out["nightly"] = {"runs": {"done": 0, "failed": 0, "running": 0}, "last_run": None, "last_success": None}
    out["queue"] = {"spans": 0}
    out["crimes"] = {"versions": 0}
    out["hits"] = {"pending": 0, "qualified": 0, "rejected": 0}
    out["forces"] = {}
    if db_path.exists():
        with CaseStore(db_path) as cases:
            _case_figures(cases, out, now_ns, tstore.path / "quarantine")
    return out


def _quarantine_counts(folder: Path) -> dict:
    by_code: Counter = Counter()
    files = 0
    if folder.is_dir():
        for p in sorted(folder.glob("*.csv")):
            try:
                df = pd.read_csv(p, dtype=str, keep_default_na=False, usecols=["reason"])
            except (ValueError, pd.errors.EmptyDataError, pd.errors.ParserError):
                continue
            files += 1
            by_code.update(df["reason"].tolist())
    return {"files": files, "rows": int(sum(by_code.values())), "by_code": dict(sorted(by_code.items()))}


def _inbox_backlog(inboxes: list[Path]) -> dict:
    waiting: dict[str, int] = {}
    arriving = 0
    quarantined = 0
    for inbox in inboxes:
        for kind in _INBOX_KINDS:
            folder = inbox / kind
            if folder.is_dir():
                for f in folder.iterdir():
                    if not f.is_file() or f.name.endswith(_WAITING_SKIP):
                        continue
                    if f.name.startswith(".") or f.name.endswith(".part"):
                        arriving += 1
                    else:
                        waiting[kind] = waiting.get(kind, 0) + 1
            qfolder = inbox / "quarantine" / kind
            if qfolder.is_dir():
                quarantined += sum(1 for f in qfolder.iterdir() if f.is_file() and not f.name.endswith(_WAITING_SKIP))
    return {"inboxes": [str(p) for p in inboxes], "backlog": int(sum(waiting.values())), "by_kind": waiting,
            "arriving": arriving, "quarantined_files": quarantined}


def _case_figures(cases, out: dict, now_ns: int, quarantine: Path) -> None:
    from trailmon.io.crimes import PILOT_FORCES

    runs = cases.frame("SELECT run_id, status, started, ended, as_of, summary, error FROM runs "
                       "WHERE command = 'nightly' ORDER BY started, run_id")
    out["nightly"]["runs"].update({str(k): int(v) for k, v in runs["status"].value_counts().items()})
    if len(runs):
        last = runs.iloc[-1]
        out["nightly"]["last_run"] = {k: _text(last[k]) for k in ("run_id", "status", "started", "ended", "as_of",
                                                                 "error")}
        done = runs[runs["status"] == "done"]
        if len(done):
            out["nightly"]["last_success"] = {k: _text(done.iloc[-1][k]) for k in ("run_id", "ended")}
    out["queue"]["spans"] = len(cases.pending_spans())
    out["crimes"]["versions"] = int(cases.conn.execute("SELECT COUNT(*) FROM crimes").fetchone()[0])
    for state, n in cases.conn.execute("SELECT review_state, COUNT(*) FROM hits GROUP BY review_state"):
        out["hits"][str(state)] = int(n)
    forces: dict[str, dict] = {}
    for force, started in cases.conn.execute(
            "SELECT c.force, MAX(r.started) FROM crimes c JOIN runs r ON r.run_id = c.received_run GROUP BY c.force"):
        forces[str(force or "")] = {"last_batch": _text(started), "batches_failed_7d": 0}
    codes = set(PILOT_FORCES.values())
    since = now_ns - FEED_DAYS * 86_400 * 10**9
    for _, run in runs.iterrows():
        started = _ns(run["started"])
        if started is None or started < since or not isinstance(run["summary"], str):
            continue
        files = json.loads(run["summary"]).get("files", {})
        failed = [(Path(q["file"]).name, None) for q in files.get("quarantined", []) if "/crimes/" in q["file"]]
        failed += [(Path(p["file"]).name, p.get("quarantine")) for p in files.get("processed", [])
                   if "/crimes/" in p["file"] and p.get("read", 0) and not p.get("accepted", 0)]
        for name, qfile in failed:
            force = _force_of(name, qfile, PILOT_FORCES, codes)
            forces.setdefault(force, {"last_batch": None, "batches_failed_7d": 0})["batches_failed_7d"] += 1
    out["forces"] = dict(sorted(forces.items()))


def _force_of(name: str, qfile: str | None, names: dict, codes: set) -> str:
    if qfile and Path(qfile).exists():
        try:
            df = pd.read_csv(qfile, dtype=str, keep_default_na=False, usecols=["values"])
            seen: Counter = Counter()
            for v in df["values"]:
                rec = json.loads(v)
                for k, val in rec.items():
                    if _FORCE_KEY.search(str(k)) and val:
                        seen[names.get(str(val), str(val))] += 1
            if seen:
                return seen.most_common(1)[0][0]
        except (ValueError, KeyError):
            pass
    for code in sorted(codes, key=len, reverse=True):
        if name.upper().startswith(code.upper()):
            return code
    return "unknown"


def write_metrics(store: str | Path, out: str | Path, *, db: str | Path | None = None) -> Path:
    """Write ``OUT/metrics.prom`` (Prometheus text format) from :func:`status`; returns its path."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    s = status(store, db=db)
    reg = CollectorRegistry()

    def gauge(name: str, doc: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(name, doc, labels, registry=reg)

    runs = gauge("trailmon_nightly_runs", "Nightly runs in the run log, by outcome", ("outcome",))
    for outcome, n in s["nightly"]["runs"].items():
        runs.labels(outcome).set(n)
    last_ok = s["nightly"]["last_success"]
    g = gauge("trailmon_nightly_last_success_timestamp_seconds", "End of the last nightly run that finished done")
    g.set(_ns(last_ok["ended"]) / 1e9 if last_ok and last_ok["ended"] else 0)
    last = s["nightly"]["last_run"]
    g = gauge("trailmon_nightly_last_run_failed", "1 when the last nightly run failed, else 0")
    g.set(1 if last and last["status"] == "failed" else 0)
    gauge("trailmon_fixes_stored", "Fixes held in the trail store").set(s["trail_store"]["fixes"])
    gauge("trailmon_fixes_ingested", "Fixes added to the trail store by every ingest so far").set(
        s["trail_store"]["fixes_ingested"])
    gauge("trailmon_days_stored", "UTC days held in the trail store").set(s["trail_store"]["days"])
    gauge("trailmon_subjects", "Subjects known to the trail store").set(s["trail_store"]["subjects"])
    gauge("trailmon_crimes_ingested", "Crime versions in the case store").set(s["crimes"]["versions"])
    rej = gauge("trailmon_rows_rejected", "Quarantined rows, by reason code", ("code",))
    for code, n in s["quarantine"]["by_code"].items():
        rej.labels(code).set(n)
    hits = gauge("trailmon_hits", "Proximity hits, by review state", ("state",))
    for state, n in s["hits"].items():
        hits.labels(state).set(n)
    gauge("trailmon_queue_spans", "Trail time spans queued for re-matching").set(s["queue"]["spans"])
    gauge("trailmon_inbox_backlog_files", "Files waiting in the inbox").set(s["inbox"]["backlog"])
    last_batch = gauge("trailmon_force_last_batch_timestamp_seconds", "Last crime batch received from a force",
                       ("force",))
    failed = gauge("trailmon_force_batches_failed", f"Crime batches failed in the last {FEED_DAYS} days",
                   ("force",))
    for force, f in s["forces"].items():
        last_batch.labels(force).set(_ns(f["last_batch"]) / 1e9 if f["last_batch"] else 0)
        failed.labels(force).set(f["batches_failed_7d"])
    gauge("trailmon_audit_entries", "Entries in the audit log").set(s["audit"]["entries"])
    path = Path(out) / METRICS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    old = os.umask(0o077)
    try:
        write_to_textfile(str(path), reg)
    finally:
        os.umask(old)
    return path


def write_metrics_quietly(store: str | Path, out: str | Path, *, db: str | Path | None = None,
                          say=None) -> Path | None:
    """:func:`write_metrics`, saying why instead of raising (a run's outcome is never masked by it)."""
    try:
        return write_metrics(store, out, db=db)
    except Exception as exc:  # noqa: BLE001 - metrics are a side product of the run
        if say is not None:
            say(f"metrics: not written ({type(exc).__name__}: {exc})")
        return None
