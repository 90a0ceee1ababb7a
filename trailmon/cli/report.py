"""``trailmon report``: printable reports (audited). The ``crime`` form writes the proximity report.

The form is a sub-command of its own (``report --store DIR crime --crimes F --crime REF ...``), so
that ``cohort`` and ``subject`` forms can be added beside it. The options shared by every form
(``--store``, ``--from``, ``--to``, ``--user``, ``--purpose``, ``--json``, ``--debug``) are accepted
before or after the form's name.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from trailmon.cli._common import add_base_layer_args, check_positive_options

FORMS = ("crime", "cohort", "subject", "evidence")
"""Report forms (SPEC §5)."""


def _shared(p: argparse.ArgumentParser, *, suppress: bool) -> None:
    d = {"default": argparse.SUPPRESS} if suppress else {"default": None}
    p.add_argument("--store", type=Path, metavar="DIR", help="trail store folder (required)", **d)
    p.add_argument("--from", dest="t_from", metavar="T", help="ISO 8601 with an offset or Z", **d)
    p.add_argument("--to", dest="t_to", metavar="T", help="ISO 8601 with an offset or Z", **d)
    p.add_argument("--tz", metavar="ZONE", help="zone of times written without an offset", **d)
    p.add_argument("--user", metavar="U", help="who consults the data (required)", **d)
    p.add_argument("--purpose", metavar="TEXT", help="why (required)", **d)
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout", **d)
    p.add_argument("--debug", action="store_true", help="show tracebacks on error", **d)


def add_parser(sub) -> None:
    """Register the sub-command and its forms."""
    p = sub.add_parser(
        "report",
        help="printable reports: crime, cohort, subject; audited",
        description="Printable HTML reports. `crime`: the proximity report of one crime (summary, "
        "per subject the evidence and first/last points, the map, the disclaimer), "
        "with its interactive map <stem>.map.html and static map <stem>.map.png "
        "beside it.",
    )
    _shared(p, suppress=False)
    forms = p.add_subparsers(dest="form", metavar="FORM", required=True)
    c = forms.add_parser(
        "crime",
        help="the proximity report of one crime",
        description="--from/--to set the period of track drawn on the map (default: the "
        "crime window); matching always uses the crime window.",
    )
    c.add_argument(
        "--crimes", required=True, type=Path, metavar="F", help="crimes file (any of the three layouts)"
    )
    c.add_argument("--crime", required=True, metavar="REF", help="the crime reference")
    c.add_argument("--out", required=True, type=Path, metavar="F.html")
    c.add_argument(
        "--radius", type=float, metavar="M", help="radius for crimes without one, metres (default 100)"
    )
    c.add_argument(
        "--pdf",
        action="store_true",
        help="also print the report to <stem>.pdf with headless Chromium (offline)",
    )
    c.add_argument(
        "--max-gap",
        type=float,
        default=600.0,
        metavar="S",
        help="longest gap still interpolated, seconds (default 600)",
    )
    add_base_layer_args(c)
    _shared(c, suppress=True)
    c.set_defaults(run=run_crime, _parser=c)
    for name, helptext in (
        ("cohort", "IOM cohort report: per cohort and offender manager, per ISO week and month"),
        ("subject", "an offender manager's supervision pack for one subject (HTML)"),
    ):
        f = forms.add_parser(name, help=helptext, description=helptext + "; periods in Europe/London.")
        if name == "subject":
            f.add_argument("--subject", required=True, metavar="S", help="the subject id")
            f.add_argument("--justify", metavar="TEXT", help="why the track map may cover more than 48 h")
        f.add_argument("--out", required=True, type=Path, metavar="DIR" if name == "cohort" else "F.html")
        f.add_argument("--db", type=Path, metavar="F", help="case store (default STORE/cases.sqlite)")
        f.add_argument("--max-gap", type=float, default=600.0, metavar="S", help="longest gap interpolated, s")
        _shared(f, suppress=True)
        f.set_defaults(run=run_cohort_or_subject, _parser=f)
    _add_evidence(forms)


def _add_evidence(forms) -> None:
    """The ``evidence`` form: the evidence pack for a force (a disclosure)."""
    e = forms.add_parser(
        "evidence",
        help="the evidence pack for a force: DOCX or PDF from qualified hits (a disclosure, audited)",
        description="The evidence pack of one crime for the subjects named (qualified hits only): summary, "
        "identifiers and devices, exhibits PREFIX/01 overview map, /02 detail maps, /03 map key, /04 "
        "positions table, method statement, draft s.9 witness statement and the disclaimer. --out F.docx "
        "(editable) or F.pdf (printed with headless Chromium). Audited with the recipient and the sha256.",
    )
    e.add_argument("--crime", required=True, metavar="REF", help="the crime reference")
    e.add_argument("--force", metavar="F", help="the force, when more than one sent the reference")
    e.add_argument("--version", type=int, metavar="N", help="the crime version (default: the latest)")
    e.add_argument("--subject", action="append", required=True, metavar="S",
                   help="a subject whose qualified hit goes in (repeat for more)")
    e.add_argument("--out", required=True, type=Path, metavar="F.{docx,pdf}")
    e.add_argument("--author", metavar="NAME", help="who makes the witness statement (required)")
    e.add_argument("--authorised-by", dest="authorised_by", metavar="NAME",
                   help="the manager who authorised the disclosure (required)")
    e.add_argument("--recipient", metavar="R", help="who receives the pack (required)")
    e.add_argument("--prefix", default="EMAC", metavar="P", help="exhibit prefix (default EMAC: EMAC/01 ...)")
    e.add_argument("--basemap", metavar="FILE", default=None,
                   help="offline vector base map drawn beneath the tracks (default $TRAILMON_BASEMAP)")
    e.add_argument("--db", type=Path, metavar="F", help="case store (default STORE/cases.sqlite)")
    _shared(e, suppress=True)
    e.set_defaults(run=run_evidence, _parser=e)


def run_crime(args) -> int:
    """Run ``trailmon report crime``."""
    from trailmon.cli._common import emit
    from trailmon.errors import InputError
    from trailmon.io._time import check_tz, parse_instant
    from trailmon.runs import run_crime_report
    from trailmon.store.audit import require_identity
    from trailmon.store.trails import TrailStore

    if args.store is None:
        args._parser.error("the following arguments are required: --store")
    user, purpose = require_identity(args.user, args.purpose, action="report")
    if args.out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out must be an .html file, got {str(args.out)!r}")
    check_positive_options(args, radius="metres", max_gap="seconds")
    tz = check_tz(args.tz)
    t1 = parse_instant(args.t_from, tz, what="--from") if args.t_from else None
    t2 = parse_instant(args.t_to, tz, what="--to") if args.t_to else None
    from trailmon.map.basemap import resolve_base_layers

    tiles, basemap = resolve_base_layers(args.tiles, args.basemap)
    summary = run_crime_report(TrailStore(args.store), args.crimes, args.crime, args.out, user=user,
                               purpose=purpose, t_from=t1, t_to=t2, radius_m=args.radius, max_gap_s=args.max_gap,
                               tz=tz, pdf=args.pdf, tiles=tiles, basemap=basemap)
    emit(
        args,
        summary,
        [
            f"crime {args.crime}: {summary['hits']} hits, {summary['evidence_rows']} evidence rows",
            *[f"wrote {p}" for p in summary["outputs"]],
        ],
    )
    return 0


def run_cohort_or_subject(args) -> int:
    """Run ``trailmon report cohort`` or ``trailmon report subject``."""
    from trailmon.cli._common import emit
    from trailmon.io._time import check_tz, parse_instant
    from trailmon.store.audit import require_identity
    from trailmon.store.cases import CaseStore, default_db_path
    from trailmon.store.trails import TrailStore

    if args.store is None:
        args._parser.error("the following arguments are required: --store")
    user, purpose = require_identity(args.user, args.purpose, action=f"report {args.form}")
    if not (args.t_from and args.t_to):
        args._parser.error("the following arguments are required: --from, --to")
    check_positive_options(args, max_gap="seconds")
    tz = check_tz(args.tz)
    t1, t2 = parse_instant(args.t_from, tz, what="--from"), parse_instant(args.t_to, tz, what="--to")
    # one trail-store generation for the whole report (SPEC §8)
    with TrailStore(args.store).snapshot() as store, CaseStore(args.db or default_db_path(store.path)) as cases:
        if args.form == "cohort":
            from trailmon.report.cohort import write_cohort_report

            res = write_cohort_report(args.out, store, cases, t1, t2, user=user, purpose=purpose,
                                      max_gap_s=args.max_gap)
            outputs = list(res["outputs"].values())
        else:
            from trailmon.report.subject_pack import write_subject_pack

            res = write_subject_pack(
                args.out, store, cases, args.subject, t1, t2, user=user, purpose=purpose,
                justify=args.justify, max_gap_s=args.max_gap,
            )
            outputs = res["outputs"]
    emit(args, {**res, "outputs": outputs}, [f"wrote {p}" for p in outputs])
    return 0


def run_evidence(args) -> int:
    """Run ``trailmon report evidence``."""
    from trailmon.cli._common import emit
    from trailmon.errors import AccessRefusedError
    from trailmon.report.evidence_pack import write_evidence_pack
    from trailmon.store.audit import require_identity
    from trailmon.store.cases import CaseStore, default_db_path
    from trailmon.store.trails import TrailStore

    if args.store is None:
        args._parser.error("the following arguments are required: --store")
    user, purpose = require_identity(args.user, args.purpose, action="report evidence")
    for flag, v in (("--author", args.author), ("--authorised-by", args.authorised_by),
                    ("--recipient", args.recipient)):
        if not (v and v.strip()):
            raise AccessRefusedError(f"an evidence pack is a disclosure: give {flag} (recorded in the pack and "
                                     "the audit log)")
    store = TrailStore(args.store)
    basemap = _basemap(args.basemap, store)
    with CaseStore(args.db or default_db_path(store.path)) as cases:
        res = write_evidence_pack(store, cases, args.crime, args.subject, args.out, author=args.author,
                                  authorised_by=args.authorised_by, recipient=args.recipient, user=user,
                                  purpose=purpose, force=args.force, version=args.version, prefix=args.prefix,
                                  basemap=basemap)
    emit(args, res, [f"crime {res['crime_ref']} v{res['crime_version']}: {len(res['hit_ids'])} qualified hit(s), "
                     f"{res['evidence_rows']} evidence rows -> {args.out} for {res['recipient']} "
                     f"(sha256 {res['sha256']})"])
    return 0


def _basemap(path, store):
    """The base map named by ``--basemap`` or ``$TRAILMON_BASEMAP``, read for the store's CRS, or None."""
    from trailmon.map.basemap import read_basemap, resolve_base_layers

    _, bm = resolve_base_layers(None, path)
    return None if bm is None else read_basemap(bm, crs=store.crs)
