"""``trailmon map``: a subject's movements or one crime's proximity as offline HTML (audited)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import (
    add_base_layer_args,
    add_identity,
    add_store,
    check_positive_options,
    common,
    emit,
    parse_period,
)
from trailmon.report.trail_rows import MAX_WINDOW_S


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "map",
        help="a subject or crime map as self-contained HTML (audited)",
        description="Either a subject over a period (--subject S --from T --to T, with the "
        "--crimes, --appointments and --zones given) or one crime's proximity map "
        "(--crime REF --crimes F). The HTML renders with no network. A subject map "
        "wider than 48 h needs --justify (audited).",
    )
    add_store(p)
    p.add_argument("--subject", metavar="S", help="the subject to map over --from/--to")
    p.add_argument("--from", dest="t_from", metavar="T", help="ISO 8601 with an offset or Z")
    p.add_argument("--to", dest="t_to", metavar="T", help="ISO 8601 with an offset or Z")
    p.add_argument("--crime", metavar="REF", help="the crime to map (needs --crimes)")
    p.add_argument("--crimes", type=Path, metavar="F", help="crimes file (any of the three layouts)")
    p.add_argument("--appointments", type=Path, metavar="F", help="appointments CSV (subject map)")
    p.add_argument("--zones", type=Path, metavar="F", help="zones CSV (subject map)")
    p.add_argument(
        "--radius", type=float, metavar="M", help="radius for crimes without one, metres (default 100)"
    )
    p.add_argument(
        "--max-gap",
        type=float,
        default=600.0,
        metavar="S",
        help="longest gap still interpolated, seconds (default 600)",
    )
    p.add_argument(
        "--justify",
        metavar="TEXT",
        help="why a map wider than 48 h is needed (a subject period, or a crime window padded by --max-gap)",
    )
    p.add_argument(
        "--max-fixes",
        type=int,
        metavar="N",
        help="most fixes a subject map draws; above it the track is thinned evenly and the legend says so "
        "(default 10000)",
    )
    p.add_argument("--tz", metavar="ZONE", help="zone of times written without an offset")
    add_base_layer_args(p)
    p.add_argument("--out", required=True, type=Path, metavar="F.html")
    add_identity(p, required=True)
    common(p)
    p.set_defaults(run=run)


def _check_common(args):
    from trailmon.errors import InputError

    if args.out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out must be an .html file, got {str(args.out)!r}")
    check_positive_options(args, radius="metres", max_gap="seconds")
    if args.max_fixes is not None and args.max_fixes < 1:
        raise InputError(f"--max-fixes must be at least 1, got {args.max_fixes!r}")


def run(args) -> int:
    """Run ``trailmon map``."""
    from trailmon.errors import InputError
    from trailmon.store.audit import require_identity

    user, purpose = require_identity(args.user, args.purpose, action="map")
    _check_common(args)
    from trailmon.map.basemap import resolve_base_layers

    args.tiles, args.basemap = resolve_base_layers(args.tiles, args.basemap)
    if args.crime and args.subject:
        raise InputError("give either --subject S --from T --to T or --crime REF --crimes F, not both")
    if args.crime:
        if args.crimes is None:
            raise InputError(f"--crime {args.crime!r} needs --crimes F, the file that holds it")
        return _crime(args, user, purpose)
    if args.subject:
        if not (args.t_from and args.t_to):
            raise InputError("--subject needs --from T and --to T (ISO 8601 with an offset or Z)")
        return _subject(args, user, purpose)
    raise InputError("say what to map: --subject S --from T --to T, or --crime REF --crimes F")


def _subject(args, user: str, purpose: str) -> int:
    from trailmon.errors import AccessRefusedError
    from trailmon.map import _layers as L
    from trailmon.map import save_map, subject_map
    from trailmon.map.subject import MAX_FIXES, thin_evenly
    from trailmon.runs import quarantine_rejects, run_id
    from trailmon.store.audit import audit_run
    from trailmon.store.trails import TrailStore

    tz, t1, t2 = parse_period(args)
    span = (t2 - t1).total_seconds()
    if span > MAX_WINDOW_S and not (args.justify and args.justify.strip()):
        raise AccessRefusedError(
            f"a subject map over {span / 3600:.1f} h is wider than the 48 h cap; "
            "give --justify TEXT (it is audited) or narrow --from/--to"
        )
    store = TrailStore(args.store)
    rid = run_id("map")
    trails = store.read(t1, t2, [args.subject], halo_s=max(args.max_gap, 900.0))
    radius = args.radius if args.radius is not None else 100.0
    crimes = hits = evidence = appts = att = zones = None
    notes = {}
    if args.crimes is not None:
        from trailmon.io.crimes import distinct_crimes, read_crimes
        from trailmon.match.proximity import proximity

        read = read_crimes(args.crimes, crs=store.crs, tz=tz, radius_m=args.radius)
        notes["crimes_quarantine"] = quarantine_rejects(store, read, rid)
        crimes = distinct_crimes(read.accepted)
        crimes = crimes[(crimes["committed_from"] <= t2) & (crimes["committed_to"] >= t1)].reset_index(
            drop=True
        )
        clipped = crimes.assign(
            committed_from=crimes["committed_from"].clip(lower=t1),
            committed_to=crimes["committed_to"].clip(upper=t2),
        )
        res = proximity(trails, clipped, radius_m=radius, max_gap_s=args.max_gap, crs=store.crs)
        hits, evidence = res.hits, res.evidence
    if args.appointments is not None:
        from trailmon.io.appointments import read_appointments
        from trailmon.match.attendance import attendance

        read = read_appointments(args.appointments, crs=store.crs, tz=tz)
        notes["appointments_quarantine"] = quarantine_rejects(store, read, rid)
        appts = read.accepted[read.accepted["subject_id"].astype(str).to_numpy() == args.subject]
        appts = appts[(appts["start"] <= t2) & (appts["end"] >= t1)].reset_index(drop=True)
        att = attendance(trails, appts, max_gap_s=args.max_gap) if len(appts) else None
    if args.zones is not None:
        from trailmon.io.zones import read_zones

        read = read_zones(args.zones, crs=store.crs, tz=tz)
        notes["zones_quarantine"] = quarantine_rejects(store, read, rid)
        zones = read.accepted
    # SPEC §9 size limit: matching above used every fix; the drawing is thinned evenly above --max-fixes
    max_fixes = args.max_fixes if args.max_fixes is not None else MAX_FIXES
    drawn, n_period, stride = thin_evenly(trails, t1.value / 1e9, t2.value / 1e9, max_fixes)
    legend = []
    if stride > 1:
        legend.append(
            f"Track thinned: {n_period} fixes in the period, about one in {stride} drawn (at most {max_fixes}; "
            "raise with --max-fixes); gaps between drawn fixes are wider than recorded."
        )
    m = subject_map(
        drawn,
        args.subject,
        t1,
        t2,
        crimes=crimes,
        hits=hits,
        evidence=evidence,
        appointments=appts,
        attendance=att,
        zones=zones,
        tiles=args.tiles,
        basemap=_basemap(args, store),
        crs=store.crs,
        max_gap_s=args.max_gap,
        radius_m=radius,
        notes=legend,
    )
    save_map(m, args.out)
    n_fixes = len(L.subject_fixes(drawn, args.subject, t1.value / 1e9, t2.value / 1e9, store.crs).t_s)
    n_hits = 0 if hits is None else int((hits["subject_id"].astype(str) == args.subject).sum())
    params = {
        "form": "subject",
        "subject": args.subject,
        "from": t1.isoformat(),
        "to": t2.isoformat(),
        "justify": args.justify,
        "crimes": _s(args.crimes),
        "appointments": _s(args.appointments),
        "zones": _s(args.zones),
        "radius_m": radius,
        "max_gap_s": args.max_gap,
        "max_fixes": max_fixes,
        "thinned": stride > 1,
        "tiles": args.tiles,
        "basemap": args.basemap,
        "store": str(args.store),
        "out": str(args.out),
        "run_id": rid,
    }
    counts = {"fixes": n_fixes, "hits": n_hits, "appointments": 0 if appts is None else len(appts)}
    audit_run(
        store,
        user=user,
        purpose=purpose,
        action="map",
        kind="consultation",
        parameters=params,
        subjects=[args.subject] if (n_fixes or n_hits) else [],
        counts=counts,
    )
    summary = {
        **counts,
        "subjects": [args.subject] if (n_fixes or n_hits) else [],
        "outputs": [str(args.out)],
        **({"thinned": True, "fixes_in_period": n_period, "max_fixes": max_fixes} if stride > 1 else {}),
        **{k: v for k, v in notes.items() if v},
    }
    emit(args, summary, [f"{n_fixes} fixes, {n_hits} hits -> {args.out}", *legend])
    return 0


def _crime(args, user: str, purpose: str) -> int:
    import pandas as pd

    from trailmon.errors import AccessRefusedError
    from trailmon.io._time import check_tz
    from trailmon.io.crimes import distinct_crimes, read_crimes
    from trailmon.map import _layers as L
    from trailmon.map import crime_map, save_map
    from trailmon.map.crime import add_prism_layer
    from trailmon.match.proximity import proximity
    from trailmon.runs import crime_version_value, pick_crime, quarantine_rejects, run_id
    from trailmon.store.audit import audit_run
    from trailmon.store.trails import TrailStore

    tz = check_tz(args.tz)
    store = TrailStore(args.store)
    rid = run_id("map")
    read = read_crimes(args.crimes, crs=store.crs, tz=tz, radius_m=args.radius)
    qpath = quarantine_rejects(store, read, rid)
    crime_df = pick_crime(distinct_crimes(read.accepted), args.crime, args.crimes)
    crime = crime_df.iloc[0]
    radius = args.radius if args.radius is not None else 100.0
    # the trail rules (SPEC §9): tracks within the crime window padded by max_gap, over 48 h only when justified
    pad = pd.Timedelta(seconds=float(args.max_gap))
    t_from, t_to = crime["committed_from"] - pad, crime["committed_to"] + pad
    span = (t_to - t_from).total_seconds()
    if span > MAX_WINDOW_S and not (args.justify and args.justify.strip()):
        raise AccessRefusedError(
            f"the crime window padded by --max-gap is {span / 3600:.1f} h, wider than the "
            f"{MAX_WINDOW_S / 3600:.0f} h cap; give --justify TEXT (audited) to map the tracks over it"
        )
    trails = store.read(crime["committed_from"], crime["committed_to"], halo_s=max(args.max_gap, 60.0))
    res = proximity(trails, crime_df, radius_m=radius, max_gap_s=args.max_gap, crs=store.crs)
    m = crime_map(
        trails,
        crime,
        res.hits,
        res.evidence,
        radius_m=radius,
        max_gap_s=args.max_gap,
        t_from=t_from,
        t_to=t_to,
        crs=store.crs,
        tiles=args.tiles,
        basemap=_basemap(args, store),
    )
    add_prism_layer(m, trails, crime, res.gaps, crs=store.crs)  # the area reachable in each gap near the scene
    subjects = sorted(set(res.hits["subject_id"].astype(str)))
    a_s, b_s = t_from.value / 1e9, t_to.value / 1e9
    n_fixes = sum(len(L.subject_fixes(trails, s, a_s, b_s, store.crs).t_s) for s in subjects)
    params = {
        "form": "crime",
        "crime": args.crime,
        "crime_version": crime_version_value(crime.get("crime_version")),
        "crimes": str(args.crimes),
        "radius_m": radius,
        "max_gap_s": args.max_gap,
        "from": t_from.isoformat(),
        "to": t_to.isoformat(),
        "justify": args.justify,
        "tiles": args.tiles,
        "basemap": args.basemap,
        "store": str(args.store),
        "out": str(args.out),
        "run_id": rid,
    }
    counts = {"hits": len(res.hits), "evidence_rows": len(res.evidence), "fixes": n_fixes}
    audit_run(  # recorded before the file exists
        store,
        user=user,
        purpose=purpose,
        action="map",
        kind="consultation",
        parameters=params,
        subjects=subjects,
        counts=counts,
    )
    save_map(m, args.out)
    summary = {**counts, "subjects": subjects, "outputs": [str(args.out)]}
    if qpath:
        summary["quarantine"] = qpath
    emit(args, summary, [f"crime {args.crime}: {len(res.hits)} hits -> {args.out}"])
    return 0


def _basemap(args, store):
    from trailmon.map.basemap import read_basemap

    return read_basemap(args.basemap, crs=store.crs) if args.basemap else None


def _s(v) -> str | None:
    return None if v is None else str(v)
