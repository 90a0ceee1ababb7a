"""The application layer: one function per run of a command.

Each reads the inputs, matches against the store, writes the reports and audits. The CLI
sub-commands, the web app and the demo all call these, so a report made by any of them carries
the same columns, provenance and audit entry. It sits above ``report/`` (which writes files) and
``match/`` (which computes), beside ``nightly.py`` (the unattended job).
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pandas as pd

from trailmon.io.quarantine import ReadResult
from trailmon.report.writers import make_provenance, sibling, write_table
from trailmon.store._files import write_bytes_atomic
from trailmon.store.audit import audit_run, distinct_subjects

__all__ = ["counts", "run_attendance", "run_id", "run_proximity", "run_zones"]

EARLY_S = 900.0
"""Attendance looks from 15 min before the start (SPEC §3), seconds."""
MATCH_COLUMNS = ("t_ns", "x_m", "y_m", "accuracy_m")
"""The fix columns that attendance and proximity without evidence read (times, positions, accuracy: the
rules use no others; evidence also needs lat/lon, speed, heading, fix type and flags)."""


def run_id(command: str) -> str:
    """``proximity-20261125T120000Z-1a2b3c``."""
    return f"{command}-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def quarantine_rejects(store, result: ReadResult, rid: str) -> str | None:
    """Keep the rejected input rows of a run in ``STORE/quarantine/<run id>.csv``."""
    if not len(result.rejected):
        return None
    from trailmon._cells import safe_text_frame  # spreadsheet-safe cells (SPEC §4)

    path = Path(store.path) / "quarantine" / f"{rid}.csv"
    write_bytes_atomic(path, safe_text_frame(result.rejected).to_csv(index=False).encode())
    return str(path)


def counts(result: ReadResult) -> dict:
    """``{"read", "accepted", "rejected", "rejected_by_reason"}``."""
    return {"read": result.n_read, "accepted": len(result.accepted), "rejected": len(result.rejected),
            "rejected_by_reason": result.rejected_by_reason}


def time_span(starts: pd.Series, ends: pd.Series) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The earliest start and latest end (UTC), or ``(None, None)`` when empty."""
    if not len(starts):
        return None, None
    return pd.Timestamp(starts.min()), pd.Timestamp(ends.max())


def _engine(engine: str, scheduler: str | None, workers: int | None) -> str:
    """Check ``engine`` (``local`` or ``dask``); ``scheduler`` and ``workers`` need ``dask``."""
    from trailmon.errors import InputError

    if engine not in ("local", "dask"):
        raise InputError(f"engine must be 'local' or 'dask', got {engine!r}")
    if engine == "local" and (scheduler is not None or workers is not None):
        raise InputError(f"--scheduler and --workers need --engine dask, got scheduler={scheduler!r}, "
                         f"workers={workers!r} with engine 'local'")
    return engine


def _engine_params(engine: str, scheduler: str | None, workers: int | None) -> dict:
    """Engine parameters for the provenance; none for the default local engine."""
    return {} if engine == "local" else {"engine": engine, "scheduler": scheduler, "workers": workers}


def run_proximity(store, crimes_path: str | Path, out: str | Path, *, user: str, purpose: str,
                  radius_m: float | None = None, max_gap_s: float = 600.0, include_uncertain: bool = False,
                  tz: str | None = None, engine: str = "local", scheduler: str | None = None,
                  workers: int | None = None, evidence: str = "all") -> dict:
    """Match a crimes file against the store; hits to ``out``, evidence and gaps beside it.

    ``engine="dask"`` runs the matching on Dask (:mod:`trailmon.distributed`; ``scheduler`` joins
    a cluster, else ``workers`` local processes). ``evidence="none"`` builds and writes no evidence
    (hits and gaps only; ``evidence_rows`` is None). Returns the SPEC §5 ``--json`` summary of ``proximity``.
    """
    from trailmon.errors import InputError

    if evidence not in ("all", "none"):
        raise InputError(f"evidence must be 'all' or 'none', got {evidence!r}")
    with_evidence = evidence == "all"
    from trailmon.io.crimes import distinct_crimes, read_crimes
    from trailmon.match.proximity import proximity

    crimes = read_crimes(crimes_path, crs=store.crs, tz=tz, radius_m=radius_m)
    rid = run_id("proximity")
    qpath = quarantine_rejects(store, crimes, rid)
    accepted = distinct_crimes(crimes.accepted)
    radius = radius_m if radius_m is not None else 100.0
    if _engine(engine, scheduler, workers) == "dask":
        from trailmon import distributed

        result = distributed.proximity(store, accepted, radius_m=radius, max_gap_s=max_gap_s,
                                       include_uncertain=include_uncertain, scheduler=scheduler,
                                       workers=workers, with_evidence=with_evidence)
    else:
        t1, t2 = time_span(accepted["committed_from"], accepted["committed_to"])
        trails = store.read_span(t1, t2, halo_s=max(max_gap_s, 60.0),
                                 columns=None if with_evidence else MATCH_COLUMNS)
        result = proximity(trails, accepted, radius_m=radius, max_gap_s=max_gap_s,
                           include_uncertain=include_uncertain, crs=store.crs, with_evidence=with_evidence,
                           evidence_arrow=True, evidence_batches=True)
        from trailmon.store.trails import limit_gaps  # the bracketing rule of both engines

        result = result._replace(gaps=limit_gaps(result.gaps, accepted))
    params = {"radius_m": radius, "max_gap_s": max_gap_s, "include_uncertain": include_uncertain,
              "crimes": str(crimes_path), "crime_layout": crimes.info.get("layout"), "tz": tz,
              "store": str(store.path), "run_id": rid, **_engine_params(engine, scheduler, workers)}
    if not with_evidence:
        params["evidence"] = "none"
    prov = make_provenance("proximity", params, transformation=store.crs.info.as_dict(), inputs=[crimes_path],
                           user=user, purpose=purpose)
    outputs = [write_table(result.hits, out, prov)]
    if with_evidence:
        outputs.append(write_table(result.evidence, sibling(out, "evidence"), prov))
    outputs.append(write_table(result.gaps, sibling(out, "gaps"), prov))
    summary = {"crimes": counts(crimes), "hits": len(result.hits),
               "evidence_rows": len(result.evidence) if with_evidence else None,
               "gaps_near_scene": len(result.gaps), "outputs": [str(p) for p in outputs]}
    if qpath:
        summary["quarantine"] = qpath
    audit_run(store, user=user, purpose=purpose, action="proximity", kind="consultation", parameters=params,
              subjects=distinct_subjects(result.hits, result.gaps),
              counts={k: summary[k] for k in ("hits", "evidence_rows", "gaps_near_scene")})
    return summary


def run_attendance(store, appointments_path: str | Path, out: str | Path, *, user: str, purpose: str,
                   tz: str | None = None, max_gap_s: float = 600.0, max_accuracy_m: float = 100.0,
                   engine: str = "local", scheduler: str | None = None, workers: int | None = None) -> dict:
    """Attendance for an appointments file; one outcome per appointment to ``out``.

    ``engine``, ``scheduler`` and ``workers`` as for :func:`run_proximity`.
    """
    from trailmon.io.appointments import read_appointments
    from trailmon.match.attendance import attendance, utc_ns

    appts = read_appointments(appointments_path, crs=store.crs, tz=tz)
    rid = run_id("attendance")
    qpath = quarantine_rejects(store, appts, rid)
    acc = appts.accepted
    if _engine(engine, scheduler, workers) == "dask":
        from trailmon import distributed

        table = distributed.attendance(store, acc, max_gap_s=max_gap_s, max_accuracy_m=max_accuracy_m,
                                       early_s=EARLY_S, scheduler=scheduler, workers=workers)
    else:
        # each subject's fixes around its own appointments only (the rule looks no further than the halo)
        ids = acc["appointment_id"].to_numpy(dtype=object)
        start, end = (utc_ns(acc[c], c, ids, "appointment") for c in ("start", "end"))
        trails = store.read_around(acc["subject_id"].astype(str).to_numpy(), start - int(EARLY_S * 1e9), end,
                                   halo_s=max(max_gap_s, 60.0), columns=MATCH_COLUMNS)
        table = attendance(trails, acc, max_gap_s=max_gap_s, max_accuracy_m=max_accuracy_m, early_s=EARLY_S)
    params = {"appointments": str(appointments_path), "tz": tz, "max_gap_s": max_gap_s,
              "max_accuracy_m": max_accuracy_m, "store": str(store.path), "run_id": rid,
              **_engine_params(engine, scheduler, workers)}
    prov = make_provenance("attendance", params, transformation=store.crs.info.as_dict(),
                           inputs=[appointments_path], user=user, purpose=purpose)
    write_table(table, out, prov)
    by_status = {str(k): int(v) for k, v in table["status"].value_counts().sort_index().items()}
    summary = {"appointments": counts(appts), "outcomes": len(table), "by_status": by_status, "outputs": [str(out)]}
    if qpath:
        summary["quarantine"] = qpath
    audit_run(store, user=user, purpose=purpose, action="attendance", kind="compliance", parameters=params,
              subjects=distinct_subjects(table), counts={"outcomes": len(table), **by_status})
    return summary


def run_zones(store, zones_path: str | Path, out: str | Path, t_from: pd.Timestamp, t_to: pd.Timestamp, *,
              user: str, purpose: str, tz: str | None = None, max_gap_s: float = 600.0,
              max_accuracy_m: float = 100.0, min_event_s: float = 0.0, engine: str = "local",
              scheduler: str | None = None, workers: int | None = None) -> dict:
    """Zone visits, absences and no-data periods over ``[t_from, t_to]`` to ``out``.

    ``engine``, ``scheduler`` and ``workers`` as for :func:`run_proximity`.
    """
    from trailmon.io.zones import read_zones
    from trailmon.match.zones import zones

    zres = read_zones(zones_path, crs=store.crs, tz=tz)
    rid = run_id("zones")
    qpath = quarantine_rejects(store, zres, rid)
    schedule_tz = tz or "Europe/London"
    if _engine(engine, scheduler, workers) == "dask":
        from trailmon import distributed

        table = distributed.zones(store, zres.accepted, t_from, t_to, tz=schedule_tz, max_gap_s=max_gap_s,
                                  max_accuracy_m=max_accuracy_m, min_event_s=min_event_s, scheduler=scheduler,
                                  workers=workers)
    else:
        trails = store.read(t_from, t_to, halo_s=max(max_gap_s, 60.0))
        table = zones(trails, zres.accepted, t_from, t_to, tz=schedule_tz, max_gap_s=max_gap_s,
                      max_accuracy_m=max_accuracy_m, min_event_s=min_event_s)
    params = {"zones": str(zones_path), "from": t_from.isoformat(), "to": t_to.isoformat(), "tz": schedule_tz,
              "max_gap_s": max_gap_s, "max_accuracy_m": max_accuracy_m, "min_event_s": min_event_s,
              "store": str(store.path), "run_id": rid, **_engine_params(engine, scheduler, workers)}
    prov = make_provenance("zones", params, transformation=store.crs.info.as_dict(), inputs=[zones_path],
                           user=user, purpose=purpose)
    write_table(table, out, prov)
    by_event = {str(k): int(v) for k, v in table["event"].value_counts().sort_index().items()}
    summary = {"zones": counts(zres), "events": len(table), "by_event": by_event, "outputs": [str(out)]}
    if qpath:
        summary["quarantine"] = qpath
    audit_run(store, user=user, purpose=purpose, action="zones", kind="compliance", parameters=params,
              subjects=distinct_subjects(table), counts={"events": len(table), **by_event})
    return summary


def crime_version_value(v):
    """A stored crime version as an int where it is one (for parameters written to JSON)."""
    try:
        return int(v)
    except (TypeError, ValueError):
        return v


def pick_crime(accepted: pd.DataFrame, ref: str, path) -> pd.DataFrame:
    """The crime ``ref`` of an accepted crime frame (its latest version) as a one-row frame.

    Raises :class:`InputError` naming some known references when ``ref`` is not there.
    """
    from trailmon.errors import InputError

    rows = accepted[accepted["crime_ref"].astype(str).to_numpy() == str(ref)]
    if not len(rows):
        known = sorted(map(str, accepted["crime_ref"].unique()))
        some = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
        raise InputError(f"--crime {ref!r} is not in {str(path)!r}; its crimes are: {some or 'none'}")
    version = pd.to_numeric(rows["crime_version"], errors="coerce").fillna(1)
    return rows.loc[[version.idxmax()]].reset_index(drop=True)


def run_crime_report(store, crimes_path: str | Path, crime_ref: str, out: str | Path, *, user: str, purpose: str,
                     t_from: pd.Timestamp | None = None, t_to: pd.Timestamp | None = None,
                     radius_m: float | None = None, max_gap_s: float = 600.0, tz: str | None = None,
                     pdf: bool = False, tiles: str | None = None, basemap: str | Path | None = None) -> dict:
    """The printable proximity report of one crime (HTML, its map and PNG; PDF on request), audited."""
    from trailmon.errors import InputError
    from trailmon.io.crimes import distinct_crimes, read_crimes
    from trailmon.match.proximity import proximity
    from trailmon.report.crime_report import write_crime_report

    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out must be an .html file, got {str(out)!r}")
    rid = run_id("report")
    read = read_crimes(crimes_path, crs=store.crs, tz=tz, radius_m=radius_m)
    qpath = quarantine_rejects(store, read, rid)
    crime_df = pick_crime(distinct_crimes(read.accepted), crime_ref, crimes_path)
    crime = crime_df.iloc[0]
    t1 = crime["committed_from"] if t_from is None else t_from
    t2 = crime["committed_to"] if t_to is None else t_to
    if t2 < t1:
        raise InputError(f"--to ({t2.isoformat()}) is before --from ({t1.isoformat()})")
    radius = radius_m if radius_m is not None else 100.0
    lo, hi = min(t1, crime["committed_from"]), max(t2, crime["committed_to"])
    trails = store.read(lo, hi, halo_s=max(max_gap_s, 60.0))
    res = proximity(trails, crime_df, radius_m=radius, max_gap_s=max_gap_s, crs=store.crs)
    params = {"form": "crime", "crime": crime_ref, "crime_version": crime_version_value(crime.get("crime_version")),
              "crimes": str(crimes_path), "from": t1.isoformat(), "to": t2.isoformat(), "radius_m": radius,
              "max_gap_s": max_gap_s, "tz": tz, "store": str(store.path), "out": str(out), "run_id": rid}
    bm = None
    if tiles or basemap:  # base layers of the maps (SPEC §4 base maps)
        from trailmon.map.basemap import check_tiles, read_basemap

        bm = read_basemap(basemap, crs=store.crs) if basemap else None
        params.update(tiles=check_tiles(tiles) if tiles else None, basemap=str(basemap) if basemap else None)
    prov = make_provenance("report crime", params, transformation=store.crs.info.as_dict(), inputs=[crimes_path],
                           user=user, purpose=purpose)
    paths = write_crime_report(out, trails, crime, res.hits, res.evidence, res.gaps, radius_m=radius,
                               max_gap_s=max_gap_s, t_from=t1, t_to=t2, crs=store.crs, provenance=prov,
                               tiles=tiles, basemap=bm, devices=store.subjects())
    if pdf:
        from trailmon.report.crime_report import print_pdf

        paths["pdf"] = print_pdf(paths["report"])
    counts_ = {"hits": len(res.hits), "evidence_rows": len(res.evidence), "gaps_near_scene": len(res.gaps)}
    subjects = sorted(set(res.hits["subject_id"].astype(str)) | set(res.gaps["subject_id"].astype(str)))
    audit_run(store, user=user, purpose=purpose, action="report", kind="consultation", parameters=params,
              subjects=subjects, counts=counts_)
    summary = {**counts_, "subjects": subjects, "outputs": [str(p) for p in paths.values()]}
    if qpath:
        summary["quarantine"] = qpath
    return summary
