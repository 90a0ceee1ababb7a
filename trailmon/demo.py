"""The demo: the whole job on the shipped synthetic sample (orchestration only).

Builds a store under ``OUT/store`` from every file of ``sample_traces/``, matches its crimes
(all three layouts), appointments and zones, and writes the reports under ``OUT/reports``,
consulting under the service identity ``trailmon-demo``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from trailmon.errors import InputError

__all__ = ["DEMO_PURPOSE", "DEMO_USER", "run_demo", "sample_dir"]

DEMO_USER = "trailmon-demo"
DEMO_PURPOSE = "demonstration on synthetic sample data"
SAMPLE_TZ = "Europe/London"


def sample_dir() -> Path:
    """The shipped sample: inside the installed package, else beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    for cand in (here / "sample_traces", here.parent / "sample_traces"):
        if (cand / "subjects.csv").exists():
            return cand
    raise InputError("the sample traces are not installed; pass --sample DIR (a folder like sample_traces/)")


def run_demo(out: str | Path, *, sample: str | Path | None = None, quiet: bool = False) -> dict:
    """Run the demo into ``out``; returns a summary with the paths to look at."""
    from trailmon.io.subjects import read_subjects
    from trailmon.io.trails import read_trails
    from trailmon.report.runs import run_attendance, run_proximity, run_zones
    from trailmon.store.trails import TrailStore

    src = Path(sample) if sample else sample_dir()
    out = Path(out)
    reports = out / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    store = TrailStore(out / "store", create=True)
    subject_files = [src / "subjects.csv", src / "em" / "activations.csv", src / "em" / "caseload.csv"]
    trail_files = sorted((src / "trails").glob("*.csv")) + sorted((src / "trails").glob("*.gpx")) + sorted(
        (src / "trails").glob("*.tcx.gz")) + sorted((src / "trails").glob("*.geojson")) + [src / "em" / "positions.csv"]
    subjects = [read_subjects(f) for f in subject_files if f.exists()]
    trails = [read_trails(f, crs=store.crs) for f in trail_files if f.exists()]
    ingest = store.ingest(trails, subjects).as_dict()

    summary: dict = {"store": str(store.path), "ingest": {k: ingest[k] for k in (
        "read", "accepted", "added", "already_stored", "rejected", "flagged", "rejected_by_reason", "quarantine")},
        "reports": {}}
    who = {"user": DEMO_USER, "purpose": DEMO_PURPOSE}
    for crimes in sorted((src / "crimes").glob("*.csv")):
        name = crimes.stem
        res = run_proximity(store, crimes, reports / f"proximity-{name}.csv", tz=SAMPLE_TZ, **who)
        summary["reports"][f"proximity {name}"] = (f"{res['hits']} hits, {res['evidence_rows']} evidence rows, "
                                                   f"{res['gaps_near_scene']} gaps near scene")
    if (src / "appointments.csv").exists():
        res = run_attendance(store, src / "appointments.csv", reports / "attendance.csv", tz=SAMPLE_TZ, **who)
        summary["reports"]["attendance"] = ", ".join(f"{k} {v}" for k, v in res["by_status"].items())
    if (src / "zones.csv").exists():
        days = store.days()
        t1 = pd.Timestamp(days[0], tz="UTC")
        t2 = pd.Timestamp(days[-1], tz="UTC") + pd.Timedelta(days=1)
        res = run_zones(store, src / "zones.csv", reports / "zones.csv", t1, t2, tz=SAMPLE_TZ, **who)
        summary["reports"]["zones"] = ", ".join(f"{k} {v}" for k, v in res["by_event"].items())
    summary["look_at"] = str(reports)
    return summary
