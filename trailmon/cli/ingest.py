"""``trailmon ingest``: validate trail and subject files into the store, atomically."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import add_store, common, emit, progress_bar

TRAIL_SUFFIXES = (".csv", ".parquet", ".gpx", ".tcx", ".tcx.gz", ".plt", ".geojson")
"""Files a folder argument expands to (a ``.json`` file is read only when named on its own)."""


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser("ingest", help="validate trail / subject files into the store",
                       description="Validate trail and subject files into the trail store (atomic, idempotent). "
                                   "Every rejected row goes to STORE/quarantine/<ingest id>.csv with its reason.")
    add_store(p)
    p.add_argument("files", nargs="*", type=Path, metavar="FILE",
                   help="trail files (CSV, Parquet, EM positions export, GPX, TCX[.gz], GeoLife .plt, GeoJSON) "
                        "or folders of them")
    p.add_argument("--subjects", action="append", type=Path, default=[], metavar="F",
                   help="subjects file (generic CSV, EM activations or EM caseload); may be repeated")
    p.add_argument("--subject", metavar="S", help="subject id for GPX/TCX/GeoLife files that carry none")
    p.add_argument("--tz", metavar="ZONE", help="zone of timestamps written without an offset (e.g. Europe/London)")
    p.add_argument("--columns", metavar="MAP", help="header mapping, e.g. subject_id=vehicle_id,lat=latitude")
    p.add_argument("--crs", metavar="EPSG", help="projected CRS of a new store (default EPSG:27700, OSTN15)")
    common(p)
    p.set_defaults(run=run)


def expand_files(paths: list[Path]) -> list[Path]:
    """Files as given, folders expanded to the trail files inside them (sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file() and f.name.lower().endswith(TRAIL_SUFFIXES))
        else:
            out.append(p)
    return out


def run(args) -> int:
    """Run ``trailmon ingest``."""
    from trailmon.errors import InputError
    from trailmon.io._time import check_tz
    from trailmon.io.subjects import read_subjects
    from trailmon.io.trails import parse_columns_map, read_trails
    from trailmon.store.trails import TrailStore

    tz = check_tz(args.tz)
    files = expand_files(args.files)
    if not files and not args.subjects:
        raise InputError("nothing to ingest: give trail FILEs and/or --subjects F")
    for f in [*files, *args.subjects]:
        if not f.exists():
            raise InputError(f"input file {str(f)!r} does not exist")
    columns = parse_columns_map(args.columns) if args.columns else None
    store = TrailStore(args.store, crs=args.crs, create=True)
    subject_results = [read_subjects(f, tz=tz) for f in args.subjects]
    trail_results = []
    with progress_bar("reading", len(files), enabled=len(files) > 1 and not args.json) as advance:
        for f in files:
            trail_results.append(read_trails(f, crs=store.crs, tz=tz, columns=columns, subject=args.subject))
            advance()
    with progress_bar("writing days", None, enabled=not args.json) as advance:
        summary = store.ingest(trail_results, subject_results, progress=lambda done, total: advance())
    out = summary.as_dict()
    lines = [
        f"ingest {summary.ingest_id} into {args.store}",
        f"  read {summary.read}, accepted {summary.accepted} (added {summary.added}, "
        f"already stored {summary.already_stored}), rejected {summary.rejected}, flagged {summary.flagged}",
    ]
    lines += [f"  rejected {reason}: {n}" for reason, n in summary.rejected_by_reason.items()]
    if summary.subjects:
        s = summary.subjects
        lines.append(f"  subjects: read {s['read']}, accepted {s['accepted']}, rejected {s['rejected']}, "
                     f"flagged {s['flagged']}; {s.get('subjects', 0)} subjects, {s['windows']} monitoring windows")
    if summary.quarantine:
        lines.append(f"  quarantine: {summary.quarantine}")
    emit(args, out, lines)
    return 0
