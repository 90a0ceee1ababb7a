"""Retention (SPEC §8): erase every copy of location data older than the period, keep case records.

:func:`purge` finds location data wherever trailmon keeps it:

- **trail days** (:meth:`TrailStore.purge_fixes`: whole days go, a day that straddles the cut-off
  is rewritten without its older fixes; one new generation, readers of the old one unharmed);
- **quarantined rows** in ``STORE/quarantine/*.csv``: a row goes when the time it carries is
  older (the latest time in its original values; a zone-less time read as UTC; a row with no
  readable time by the date of the ingest or run that wrote it, from the file name);
- **raw inbox files** under ``INBOX/processed/trails/`` and ``INBOX/quarantine/trails/`` of every
  inbox the nightly job has used: a file is deleted whole when it holds any fix (accepted or
  rejected) older than the cut-off, or, when it cannot be read, when it arrived before it
  (a supplier's file is kept as received or not at all; its newer fixes stay in the store);
- **evidence rows** in the case store (one function there, :meth:`CaseStore.purge_evidence`)
  and in ``OUT/<day>/evidence.csv`` of every output folder the nightly job has used (rows older
  than the cut-off dropped, the ``rows`` provenance figure updated);
- **maps and reports** trailmon wrote (``map`` and ``report`` entries of the audit log): the
  file and its provenance sidecar are deleted when the period it shows begins before the cut-off.

Crime, appointment, zone and subject files are not location data of the people monitored and
are kept. Case records keep their figures and review history; nothing is re-matched. The nightly
job records its inbox, output folder and case database in ``STORE/places.json``
(:func:`record_places`), which is how purge finds them.
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon.store._files import write_bytes_atomic, write_json_atomic

__all__ = ["PLACES", "places", "purge", "record_places"]

PLACES = "places.json"
"""``STORE/places.json``: the inboxes, output folders and case databases the nightly job has used."""

_STAMP = re.compile(r"(\d{8}T\d{6}Z)")
_ISO_DATE = re.compile(r"^\s*\d{4}-\d{2}-\d{2}")
_UK_DATE = re.compile(r"^\s*\d{1,2}/\d{1,2}/\d{4}")
_TIME_KEY = re.compile(r"time|date|epoch|^t_ns$|^t$|^ts$|start|end|from|to$", re.IGNORECASE)


def record_places(store: str | Path, *, inbox: str | Path, out: str | Path, db: str | Path) -> dict:
    """Add the nightly job's inbox, output folder and case database to ``STORE/places.json``."""
    path = Path(store) / PLACES
    known = places(store)
    changed = False
    for key, value in (("inboxes", inbox), ("outs", out), ("dbs", db)):
        v = str(Path(value).resolve())
        if v not in known[key]:
            known[key].append(v)
            changed = True
    if changed:
        write_json_atomic(path, known)
    return known


def places(store: str | Path) -> dict[str, list[str]]:
    """What :func:`record_places` recorded: ``{"inboxes": [...], "outs": [...], "dbs": [...]}``."""
    try:
        data = json.loads((Path(store) / PLACES).read_text())
    except FileNotFoundError:
        data = {}
    return {k: list(data.get(k, [])) for k in ("inboxes", "outs", "dbs")}


def purge(store: str | Path, older_than: pd.Timestamp, *, dry_run: bool = False,
          db: str | Path | None = None) -> dict:
    """Erase every copy of location data older than ``older_than`` (UTC); ``dry_run`` changes nothing.

    Returns
    -------
    dict
        ``{"cutoff", "dry_run", "trail_days": {day: fixes}, "trail_fixes", "quarantine_rows":
        {file: rows}, "inbox_files": [paths], "evidence_rows_case_store", "evidence_csv_rows":
        {file: rows}, "outputs": [paths]}``: what went (or would go), with counts.
    """
    from trailmon.store.cases import CaseStore, default_db_path
    from trailmon.store.trails import TrailStore

    tstore = TrailStore(store)
    cut = pd.Timestamp(older_than)
    cut = cut.tz_localize("UTC") if cut.tzinfo is None else cut.tz_convert("UTC")
    cut_ns = int(cut.value)
    report: dict = {"cutoff": cut.isoformat().replace("+00:00", "Z"), "dry_run": bool(dry_run)}
    with tstore.lock(what="purge"):
        days = tstore.purge_fixes(cut, dry_run=dry_run)
        report["trail_days"] = days
        report["trail_fixes"] = int(sum(days.values()))
        report["quarantine_rows"] = _purge_quarantine(tstore.path / "quarantine", cut_ns, dry_run)
        known = places(tstore.path)
        report["inbox_files"] = _purge_inboxes([Path(p) for p in known["inboxes"]], tstore.crs, cut_ns, dry_run)
        dbs = {str(Path(p)) for p in known["dbs"]}
        dbs.add(str(Path(db) if db is not None else default_db_path(tstore.path)))
        n_evidence = 0
        for path in sorted(dbs):
            if Path(path).exists():
                with CaseStore(path) as cases:
                    n_evidence += cases.purge_evidence(cut_ns, dry_run=dry_run)
        report["evidence_rows_case_store"] = n_evidence
        report["evidence_csv_rows"] = _purge_out_evidence([Path(p) for p in known["outs"]], cut_ns, dry_run)
        report["receipt_rows"] = _purge_out_evidence([Path(p) for p in known["outs"]], cut_ns, dry_run,
                                                     pattern="*/receipts/*.accepted.csv")
        report["outputs"] = _purge_outputs(tstore.audit_path, cut_ns, dry_run)
    return report


def counts(report: dict) -> dict[str, int]:
    """The figures of a :func:`purge` report, for the audit entry."""
    return {
        "trail_days": len(report["trail_days"]),
        "trail_fixes": report["trail_fixes"],
        "quarantine_files": len(report["quarantine_rows"]),
        "quarantine_rows": int(sum(report["quarantine_rows"].values())),
        "inbox_files": len(report["inbox_files"]),
        "evidence_rows_case_store": report["evidence_rows_case_store"],
        "evidence_csv_files": len(report["evidence_csv_rows"]),
        "evidence_csv_rows": int(sum(report["evidence_csv_rows"].values())),
        "receipt_files": len(report.get("receipt_rows", {})),
        "receipt_rows": int(sum(report.get("receipt_rows", {}).values())),
        "maps_and_reports": len(report["outputs"]),
    }


# -- times carried by rows --------------------------------------------------------------------------------
def _value_ns(key: str, value) -> int | None:
    """The instant a raw value carries (ns UTC), or None; zone-less times are read as UTC."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if _ISO_DATE.match(text) or _UK_DATE.match(text):
        try:
            ts = pd.to_datetime(text, utc=True, dayfirst=bool(_UK_DATE.match(text)))
        except (ValueError, OverflowError):
            return None
        return None if pd.isna(ts) else int(ts.value)
    if _TIME_KEY.search(key):
        try:
            x = float(text)
        except ValueError:
            return None
        if not np.isfinite(x) or x <= 0:
            return None
        if key == "t_ns" or x > 1e17:
            return int(x)
        if x > 1e14:
            return int(x * 1e3)  # microseconds
        if x > 1e11:
            return int(x * 1e6)  # milliseconds
        if x > 1e8:
            return int(x * 1e9)  # seconds
    return None


def _row_ns(values: str) -> int | None:
    """The latest instant among a quarantined row's original values, or None."""
    try:
        rec = json.loads(values)
    except (TypeError, ValueError):
        return None
    if not isinstance(rec, dict):
        return None
    found = [t for k, v in rec.items() if (t := _value_ns(str(k), v)) is not None]
    return max(found) if found else None


def _stamp_ns(name: str, fallback: Path) -> int:
    """The ingest or run time in a file name (``YYYYMMDDTHHMMSSZ``), else the file's modification time."""
    m = _STAMP.search(name)
    if m:
        return int(pd.Timestamp(m.group(1)[:-1], tz="UTC").value)
    return int(fallback.stat().st_mtime_ns)


# -- the copies ------------------------------------------------------------------------------------------
def _purge_quarantine(folder: Path, cut_ns: int, dry_run: bool) -> dict[str, int]:
    out: dict[str, int] = {}
    if not folder.is_dir():
        return out
    for p in sorted(folder.glob("*.csv")):
        try:
            df = pd.read_csv(p, dtype=str, keep_default_na=False)
        except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
            continue
        if not len(df) or "values" not in df.columns:
            continue
        written = _stamp_ns(p.name, p)
        times = np.array([t if (t := _row_ns(v)) is not None else written for v in df["values"]], dtype=np.int64)
        old = times < cut_ns
        if not old.any():
            continue
        out[p.name] = int(old.sum())
        if dry_run:
            continue
        if old.all():
            p.unlink()
        else:
            write_bytes_atomic(p, df[~old].to_csv(index=False).encode())
    return out


def _purge_inboxes(inboxes: list[Path], crs, cut_ns: int, dry_run: bool) -> list[str]:
    from trailmon.errors import TrailmonError
    from trailmon.io.trails import read_trails

    gone: list[str] = []
    for inbox in inboxes:
        for sub in ("processed", "quarantine"):
            folder = inbox / sub / "trails"
            if not folder.is_dir():
                continue
            for p in sorted(folder.iterdir()):
                if not p.is_file() or p.name.endswith(".reason.txt"):
                    continue
                try:
                    res = read_trails(p, crs=crs, tz="UTC")
                    times = [int(t) for t in res.accepted["t_ns"].to_numpy(np.int64)] if len(res.accepted) else []
                    times += [t for v in res.rejected["values"] if (t := _row_ns(v)) is not None]
                except (TrailmonError, ValueError, UnicodeError, OSError):
                    times = []
                oldest = min(times) if times else int(p.stat().st_mtime_ns)
                if oldest < cut_ns:
                    gone.append(str(p))
                    if not dry_run:
                        p.unlink()
                        reason = p.with_name(p.name + ".reason.txt")
                        if reason.exists():
                            reason.unlink()
    return gone


def _purge_out_evidence(outs: list[Path], cut_ns: int, dry_run: bool,
                        pattern: str = "*/evidence.csv") -> dict[str, int]:
    """Rows older than the cut-off dropped from the written tables ``pattern`` finds in each output folder.

    The nightly evidence tables (``time``) and the accepted rows of the ingestion receipts
    (``t_ns``, ``timestamp`` or ``time``, as read).
    """
    out: dict[str, int] = {}
    for folder in outs:
        if not folder.is_dir():
            continue
        for p in sorted(folder.glob(pattern)):
            n = _purge_evidence_csv(p, cut_ns, dry_run)
            if n:
                out[str(p)] = n
    return out


def _purge_evidence_csv(path: Path, cut_ns: int, dry_run: bool) -> int:
    """Drop the rows of a written evidence table whose ``time`` is older; kept lines stay byte for byte."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    head = [ln for ln in lines if ln.startswith("#")]
    body = lines[len(head):]
    if not body:
        return 0
    columns = next(csv.reader([body[0]]))
    name = next((c for c in ("time", "timestamp", "t_ns") if c in columns), None)
    if name is None:
        return 0
    k = columns.index(name)
    kept, dropped = [body[0]], 0
    for line in body[1:]:
        row = next(csv.reader([line]), [])
        t = _value_ns(name, row[k]) if len(row) > k else None
        if t is not None and t < cut_ns:
            dropped += 1
        else:
            kept.append(line)
    if dropped and not dry_run:
        n_rows = len(kept) - 1
        head = [f"# rows: {n_rows}\n" if ln.startswith("# rows: ") else ln for ln in head]
        write_bytes_atomic(path, "".join(head + kept).encode("utf-8"))
        side = path.with_name(path.name + ".provenance.json")
        if side.exists():
            prov = json.loads(side.read_text())
            prov["rows"] = n_rows
            write_bytes_atomic(side, (json.dumps(prov, indent=1, default=str) + "\n").encode())
    return dropped


def _purge_outputs(audit_path: Path, cut_ns: int, dry_run: bool) -> list[str]:
    """Maps and reports the audit log says trailmon wrote, whose period begins before the cut-off."""
    from trailmon.store import audit

    gone: list[str] = []
    for e in audit.entries(audit_path):
        if e.get("action") not in ("map", "report"):
            continue
        params = e.get("parameters") or {}
        target = params.get("out")
        if not target:
            continue
        start = _value_ns("from", params.get("from")) if params.get("from") else None
        if start is None:
            start = int(pd.Timestamp(e["time"]).value)  # no period given: it showed data no newer than this
        if start >= cut_ns:
            continue
        p = Path(target)
        files = [p] if p.is_file() else sorted(q for q in p.glob("*") if q.is_file()) if p.is_dir() else []
        for f in files:
            if f.name.endswith(".provenance.json"):
                continue
            if f == p or f.with_name(f.name + ".provenance.json").exists():
                gone.append(str(f))
                if not dry_run:
                    for q in (f, f.with_name(f.name + ".provenance.json")):
                        if q.exists():
                            os.unlink(q)
    return sorted(set(gone))
