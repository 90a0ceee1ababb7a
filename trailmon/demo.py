"""The demo: the whole nightly job on the shipped synthetic sample (orchestration only).

``run_demo(OUT)`` lays the sample out as an inbox (``OUT/inbox``), runs the nightly job into
``OUT/store`` (trail store, case records, audit log) and ``OUT/reports/<day>/``, then writes the
printable proximity reports of the crimes with hits (``OUT/crimes/``), subject maps
(``OUT/maps/``), the evidence pack of the planted crime ``C02`` (``OUT/packs/``: its hit is first
qualified by the demo's reviewer identity, audited), and ``OUT/index.html`` linking everything,
with the ingestion receipts the nightly job wrote for the crime files. The maps are drawn over
the sample's base map (``sample_traces/basemap.geojson``: the streets its trips follow) unless
``basemap`` / ``$TRAILMON_BASEMAP`` names another; ``tiles`` / ``$TRAILMON_TILES`` adds a tile
server. It consults under the service identity ``trailmon-demo``.
"""

from __future__ import annotations

import html
import os
import shutil
from pathlib import Path

import pandas as pd

from trailmon.errors import InputError

__all__ = ["DEMO_PURPOSE", "DEMO_USER", "run_demo", "sample_dir"]

DEMO_USER = "trailmon-demo"
DEMO_PURPOSE = "demonstration on synthetic sample data"
SAMPLE_TZ = "Europe/London"
AS_OF = "2026-10-27T06:00:00Z"  # after the sample's last day: every appointment and zone period is judged
MAX_CRIME_REPORTS = 12
WEEK = ("2026-07-13T00:00:00+01:00", "2026-07-20T00:00:00+01:00")  # the sample week, Monday to Monday (BST)
PACK_SUBJECT = "N09"  # curfew absence, a burglary hit, appointments
EVIDENCE_CRIME = "C02"  # the planted hit of N02: qualified by the demo's reviewer, then packed for the force
DEMO_REVIEWER = "trailmon-demo-reviewer"
DEMO_RECIPIENT = "Nottinghamshire Police (synthetic demonstration)"
MAX_WINDOW_H = 12.0  # reports for crimes with a committed window up to 12 h (police.uk months are skipped)

_INBOX = {  # sample file (glob) -> inbox sub-folder
    "subjects.csv": "subjects", "em/activations.csv": "subjects", "em/caseload.csv": "subjects",
    "trails/*.csv": "trails", "trails/*.gpx": "trails", "trails/*.tcx.gz": "trails", "trails/*.geojson": "trails",
    "em/positions.csv": "trails", "crimes/*.csv": "crimes", "appointments.csv": "appointments",
    "zones.csv": "zones",
}


def sample_dir() -> Path:
    """The shipped sample: inside the installed package, else beside it in a source checkout."""
    here = Path(__file__).resolve().parent
    for cand in (here / "sample_traces", here.parent / "sample_traces"):
        if (cand / "subjects.csv").exists():
            return cand
    raise InputError("the sample traces are not installed; pass --sample DIR (a folder like sample_traces/)")


def make_inbox(src: Path, inbox: Path) -> int:
    """Copy the sample into ``inbox/{subjects,trails,crimes,appointments,zones}/``; returns the file count."""
    n = 0
    for pattern, kind in _INBOX.items():
        for f in sorted(src.glob(pattern)):
            dest = inbox / kind
            dest.mkdir(parents=True, exist_ok=True)
            name = f"em-{f.name}" if f.parent.name == "em" and kind == "trails" else f.name
            shutil.copyfile(f, dest / name)
            n += 1
    return n


def run_demo(out: str | Path, *, sample: str | Path | None = None, tiles: str | None = None,
             basemap: str | Path | None = None) -> dict:
    """Run the demo into ``out``; returns a summary with the paths to look at (every file owner-only)."""
    old_umask = os.umask(0o077)  # everything the demo writes is owner-only (SPEC §9)
    try:
        summary = _run_demo(Path(out), Path(sample) if sample else sample_dir(), tiles, basemap)
    finally:
        os.umask(old_umask)
    _private_tree(Path(out))
    return summary


def _private_tree(root: Path) -> None:
    """Folders 0700 and files 0600 under ``root`` (and ``root`` itself)."""
    os.chmod(root, 0o700)
    for p in root.rglob("*"):
        if not p.is_symlink():
            os.chmod(p, 0o700 if p.is_dir() else 0o600)


def _run_demo(out: Path, src: Path, tiles: str | None, basemap: str | Path | None) -> dict:
    from trailmon.map.basemap import read_basemap, resolve_base_layers
    from trailmon.nightly import run_nightly
    from trailmon.store.cases import CaseStore, default_db_path
    from trailmon.store.trails import TrailStore

    marker = out / ".trailmon-demo"
    if out.exists() and any(out.iterdir()):
        if not marker.exists():
            raise InputError(f"{str(out)!r} is not empty and holds no earlier demo; give a new or empty --out folder")
        for name in ("inbox", "store", "reports", "crimes", "maps", "cohort", "subjects", "packs", "index.html"):
            p = out / name
            shutil.rmtree(p) if p.is_dir() else p.unlink(missing_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text("written by trailmon demo; the next demo into this folder replaces its output\n")
    n_files = make_inbox(src, out / "inbox")
    nightly = run_nightly(out / "store", out / "inbox", out / "reports", as_of=AS_OF, user=DEMO_USER, tz=SAMPLE_TZ)
    store = TrailStore(out / "store")
    tiles, basemap = resolve_base_layers(tiles, basemap)
    if basemap is None and (src / "basemap.geojson").exists():
        basemap = str(src / "basemap.geojson")
    base = {"tiles": tiles, "basemap": basemap}
    bm = read_basemap(basemap, crs=store.crs) if basemap else None
    with CaseStore(default_db_path(store.path)) as cases:
        hits = cases.hits()
        panel = _panel_reports(store, cases, out)
        packs = _evidence_packs(store, cases, out, bm)
    crime_reports = _crime_reports(store, out, hits, base)
    maps = _subject_maps(store, out, hits, tiles, bm)
    receipts = sorted(str(p) for p in (out / "reports").glob("*/receipts/*.receipt.json"))
    summary = {
        "inbox_files": n_files, "nightly": nightly, "store": str(store.path),
        "case_records": str(default_db_path(store.path)), "audit_log": str(store.audit_path),
        "crime_reports": crime_reports, "subject_maps": maps, **panel, "evidence_packs": packs,
        "receipts": receipts, "base_map": basemap, "tiles": tiles,
    }
    summary["look_at"] = str(_index_page(out, summary))
    return summary


def _panel_reports(store, cases, out: Path) -> dict:
    """The cohort report of the sample week and the supervision pack of one subject."""
    from trailmon.report.cohort import write_cohort_report
    from trailmon.report.subject_pack import write_subject_pack

    t1, t2 = pd.Timestamp(WEEK[0]), pd.Timestamp(WEEK[1])
    who = {"user": DEMO_USER, "purpose": DEMO_PURPOSE}
    cohort = write_cohort_report(out / "cohort", store, cases, t1, t2, tz=SAMPLE_TZ, **who)
    pack = write_subject_pack(out / "subjects" / f"pack-{PACK_SUBJECT}.html", store, cases, PACK_SUBJECT, t1, t2,
                              justify="demonstration: a whole week on synthetic data", tz=SAMPLE_TZ, **who)
    return {"cohort_report": [str(p) for p in cohort["outputs"].values() if str(p).endswith(".html")],
            "subject_packs": [str(p) for p in pack["outputs"]]}


def _evidence_packs(store, cases, out: Path, basemap) -> list[str]:
    """Qualify the planted hit of ``EVIDENCE_CRIME`` (as the demo's reviewer, audited) and write its pack."""
    from trailmon._chromium import find_browser
    from trailmon.report.evidence_pack import write_evidence_pack
    from trailmon.store.audit import audit_run

    hits = cases.hits()
    mine = hits[hits["crime_ref"].astype(str) == EVIDENCE_CRIME]
    if not len(mine):
        return []
    for row in mine[mine["review_state"] == "pending"].itertuples():
        cases.review(int(row.hit_id), "qualified", user=DEMO_REVIEWER)
        audit_run(store, user=DEMO_REVIEWER, purpose="case review", action="review qualify", kind="consultation",
                  parameters={"hit_id": int(row.hit_id), "reason": None}, subjects=[str(row.subject_id)],
                  counts={"hits": 1})
    subjects = sorted(set(mine[mine["review_state"] != "rejected"]["subject_id"].astype(str)))
    written = []
    for suffix in (".docx", ".pdf") if find_browser() else (".docx",):
        res = write_evidence_pack(
            store, cases, EVIDENCE_CRIME, subjects, out / "packs" / f"evidence-{EVIDENCE_CRIME}{suffix}",
            author="A. Example (synthetic analyst)", authorised_by="M. Example (synthetic manager)",
            recipient=DEMO_RECIPIENT, user=DEMO_USER, purpose=DEMO_PURPOSE, basemap=basemap)
        written += res["outputs"]
    return written


def _crime_reports(store, out: Path, hits: pd.DataFrame, base: dict | None = None) -> list[str]:
    """Printable reports of the generic-file crimes with hits (short windows first)."""
    from trailmon.runs import run_crime_report

    crimes_file = out / "inbox" / "processed" / "crimes" / "crimes.csv"
    if not crimes_file.exists() or not len(hits):
        return []
    from trailmon.io.crimes import distinct_crimes, read_crimes

    crimes = distinct_crimes(read_crimes(crimes_file, crs=store.crs, tz=SAMPLE_TZ).accepted)
    span_h = (crimes["committed_to"] - crimes["committed_from"]).dt.total_seconds() / 3600
    hit_refs = set(hits["crime_ref"].astype(str))
    chosen = crimes[(span_h <= MAX_WINDOW_H) & crimes["crime_ref"].astype(str).isin(hit_refs)]
    written = []
    for ref in chosen["crime_ref"].astype(str).head(MAX_CRIME_REPORTS):
        path = out / "crimes" / f"crime-{_file_part(ref)}.html"
        res = run_crime_report(store, crimes_file, ref, path, user=DEMO_USER, purpose=DEMO_PURPOSE, tz=SAMPLE_TZ,
                               **(base or {}))
        written.append(res["outputs"][0])
    return written


def _subject_maps(store, out: Path, hits: pd.DataFrame, tiles=None, basemap=None, n: int = 3) -> list[str]:
    """48 h maps of the first subjects with hits, centred on their first hit."""
    from trailmon.map import save_map, subject_map
    from trailmon.store.audit import audit_run

    written = []
    if not len(hits):
        return written
    first = hits.sort_values("closest_time_ns").drop_duplicates("subject_id").head(n)
    for row in first.itertuples():
        t = pd.Timestamp(int(row.closest_time_ns), unit="ns", tz="UTC")
        t1, t2 = t - pd.Timedelta(hours=24), t + pd.Timedelta(hours=24)
        trails = store.read(t1, t2, [str(row.subject_id)], halo_s=900.0)
        m = subject_map(trails, str(row.subject_id), t1, t2, crs=store.crs, tiles=tiles, basemap=basemap)
        path = out / "maps" / f"subject-{_file_part(row.subject_id)}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_map(m, path)
        audit_run(store, user=DEMO_USER, purpose=DEMO_PURPOSE, action="map", kind="consultation",
                  parameters={"form": "subject", "subject": str(row.subject_id), "from": t1.isoformat(),
                              "to": t2.isoformat(), "out": str(path)},
                  subjects=[str(row.subject_id)], counts={"fixes": int(trails.n_fixes)})
        written.append(str(path))
    return written


def _file_part(text) -> str:
    """A safe piece of a file name for an id from the input (no folders, dots or odd characters).

    Ids from input files are data: ``../x`` or a 3,000-character id must not choose where a file goes.
    """
    import hashlib
    import re

    text = str(text)
    part = re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:40].strip("_") or "x"
    return part if part == text else f"{part}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def _index_page(out: Path, summary: dict) -> Path:
    """``OUT/index.html``: one page linking every report, map and table of the demo."""
    from trailmon.report.writers import MARKING

    def links(paths):
        return "".join(f'<li><a href="{html.escape(str(Path(p).relative_to(out)))}">'
                       f"{html.escape(Path(p).name)}</a></li>" for p in paths)

    tables = sorted(p for p in (out / "reports").rglob("*.csv"))
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>trailmon demo</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}.marking{{font-weight:bold;color:#a00}}</style>
</head><body><p class="marking">{MARKING}</p><h1>trailmon demo (synthetic sample data)</h1>
<h2>Proximity reports</h2><ul>{links(summary["crime_reports"])}</ul>
<h2>Subject maps (48 h)</h2><ul>{links(summary["subject_maps"])}</ul>
<h2>Cohort report (the sample week)</h2><ul>{links(summary["cohort_report"])}</ul>
<h2>Supervision pack</h2><ul>{links(summary["subject_packs"])}</ul>
<h2>Evidence pack for the force (crime {EVIDENCE_CRIME}, hit qualified by {DEMO_REVIEWER})</h2>
<ul>{links(summary["evidence_packs"])}</ul>
<h2>Ingestion receipts (for the senders of the inbox files)</h2><ul>{links(summary["receipts"])}</ul>
<h2>Nightly reports (CSV)</h2><ul>{links(tables)}</ul>
<p>Case records: <code>{html.escape(summary["case_records"])}</code>;
audit log: <code>{html.escape(summary["audit_log"])}</code> (check it with <code>trailmon audit --verify</code>).</p>
</body></html>"""
    path = out / "index.html"
    path.write_text(body, encoding="utf-8")
    return path
