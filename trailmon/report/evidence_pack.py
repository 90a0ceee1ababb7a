"""The evidence pack a force receives for one crime (SPEC §4 "Evidence pack for a force").

Built from the case-record store, from **qualified** hits only (a pending or rejected hit is
refused, naming its state), for the subjects the reviewer picks:

- a summary (crime, version, window, location, radius, force, batch);
- per subject its identifiers (subject id, CRN, PNC, NOMIS, the device id / serial of the
  monitoring window holding the hit), the hit's figures and its review (who qualified it, when);
- exhibits ``<prefix>/01`` overview map, ``<prefix>/02`` one detail map per subject,
  ``<prefix>/03`` the map key, ``<prefix>/04`` the positions table (the hits' evidence rows
  ``A1`` …: time in UK local time and UTC, lat, lon, accuracy circle, speed, heading);
- a method statement (trail model, interpolation, distances on EPSG:27700 via OSTN15,
  parameters, engine version, input digests, run id);
- a draft witness statement in the s.9 Criminal Justice Act 1967 layout (declaration, body
  naming the exhibits, signature and date left blank), with the author and the authorising manager;
- the gaps near the scene of that crime version (case store ``gaps``: subject, gap start and end in
  UK local time and UTC, distances before and after, coverage, the least average speed ``min_speed_kmh``
  and ``reachable_by``), with the caveat that the speed is a bound from straight lines, never evidence
  of presence; their subjects are named in the disclosure's audit entry;
- the disclaimer.

The content is built once as a list of blocks (headings, paragraphs, tables, images) and
rendered twice: to **DOCX** with ``python-docx`` (Word heading styles, real tables and pictures,
so a force can edit it) and to **PDF** by printing the same blocks, as HTML, with headless
Chromium (:func:`trailmon.report.crime_report.print_pdf`). Chromium rather than LibreOffice: CI
and the browser tests already install Debian's ``chromium`` (the crime report prints with it), while
LibreOffice would add a ~300 MB dependency only for this, and a DOCX-to-PDF conversion would make the
PDF depend on how LibreOffice lays out Word files; printing the HTML gives a PDF whose text and
tables are the DOCX's. Without Chromium a PDF pack is refused with an error that says so.

Building a pack is a disclosure: refused without a recipient, and written to the audit log with
the recipient and the pack's sha256 before the file is put in place under its name.
"""

from __future__ import annotations

import base64
import hashlib
import html as _html
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon import __version__
from trailmon.errors import AccessRefusedError, InputError
from trailmon.report.writers import MARKING

__all__ = [
    "DEFAULT_PREFIX",
    "PACK_SUFFIXES",
    "POSITION_COLUMNS",
    "GAP_CAVEAT",
    "GAP_COLUMNS",
    "EvidencePack",
    "evidence_pack",
    "render_docx",
    "render_html",
    "write_evidence_pack",
]

DEFAULT_PREFIX = "EMAC"
"""Exhibit prefix when none is given: ``EMAC/01`` …."""

PACK_SUFFIXES = (".docx", ".pdf")
"""Output formats, by the file's extension."""

UK_TZ = "Europe/London"

POSITION_COLUMNS = [
    "subject_id", "label", "kind", "time_uk", "time_utc", "lat", "lon", "accuracy_m", "distance_m",
    "speed_kmh", "heading_deg",
]
"""Columns of the positions table (exhibit ``<prefix>/04``)."""

GAP_COLUMNS = [
    "subject_id", "gap_start_uk", "gap_start_utc", "gap_end_uk", "gap_end_utc", "gap_s", "before_distance_m",
    "after_distance_m", "coverage", "min_speed_kmh", "reachable_by",
]
"""Columns of the gaps-near-the-scene table."""

_GAP_HEADERS = [
    "subject", "gap start (UK local)", "gap start (UTC)", "gap end (UK local)", "gap end (UTC)", "gap, s",
    "distance before, m", "distance after, m", "coverage", "least speed, km/h", "reachable by",
]

GAP_CAVEAT = (
    "The least speed is the least average speed, in straight lines from the fixes either side of the gap "
    "(less their accuracy), at which the subject could have been at the crime location during the gap and "
    "the committed window (blank: not possible); reachable by names the slowest of foot (6 km/h), cycle "
    "(20 km/h) and vehicle (112 km/h) at or above it, or no. It is a bound from straight lines, never "
    "evidence of presence."
)

_POSITION_HEADERS = [
    "subject", "label", "kind", "time (UK local)", "time (UTC)", "lat", "lon", "accuracy circle, m",
    "distance to scene, m", "speed, km/h", "heading, deg",
]

TRAIL_MODEL = (
    "A subject's trail is the sequence of fixes recorded by the tag, inside the subject's monitoring "
    "windows. Between two consecutive fixes at most the maximum gap apart, the position is interpolated "
    "linearly in time along the straight line joining them; across a longer gap nothing is known and no "
    "position is assumed. A hit means that the interpolated trail came within the radius of the crime "
    "location at some instant of the committed window; the closest approach is computed exactly on each "
    "segment, not only at the fixes. Fixes flagged as implausible jumps (over 70 m/s) or less accurate "
    "than stated are shown with their flags."
)


@dataclass
class _Block:
    kind: str  # heading | para | kv | table | image | pagebreak
    text: str = ""
    level: int = 1
    rows: list = field(default_factory=list)
    columns: list = field(default_factory=list)
    png: bytes = b""
    style: str = ""


@dataclass
class EvidencePack:
    """The content of one pack (rendered by :func:`write_evidence_pack`).

    Attributes
    ----------
    blocks : list
        Headings, paragraphs, tables and images, in order.
    crime : dict
        The crime version (``force, crime_ref, crime_version, offence, ...``).
    hits : DataFrame
        The qualified hits, one per subject, in the order asked.
    positions : DataFrame
        Exhibit ``<prefix>/04``: one row per evidence row of those hits (``POSITION_COLUMNS``).
    exhibits : list of tuple
        ``(number, title)`` of each exhibit, e.g. ``("EMAC/01", "overview map")``.
    run_ids : list of str
        The matching runs that found the hits.
    gaps : DataFrame
        The crime version's gaps near the scene (``GAP_COLUMNS``), by subject and gap start.
    """

    blocks: list
    crime: dict
    hits: pd.DataFrame
    positions: pd.DataFrame
    exhibits: list
    run_ids: list
    gaps: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=GAP_COLUMNS))


# -- gathering -------------------------------------------------------------------------------------------
def _crime_version(cases, crime_ref: str, force: str | None, version: int | None) -> dict:
    crimes = cases.frame("SELECT * FROM crimes WHERE crime_ref = ? ORDER BY force, crime_version", [crime_ref])
    if not len(crimes):
        raise InputError(f"no crime {crime_ref!r} in the case store; check the reference (`trailmon review list`)")
    if force is not None:
        crimes = crimes[crimes["force"].astype(str) == str(force)]
        if not len(crimes):
            raise InputError(f"crime {crime_ref!r} has no version from force {force!r}")
    forces = sorted(set(crimes["force"].astype(str)))
    if len(forces) > 1:
        raise InputError(f"crime reference {crime_ref!r} was sent by more than one force ({forces}); "
                         "name one with --force")
    if version is not None:
        crimes = crimes[crimes["crime_version"].astype(int) == int(version)]
        if not len(crimes):
            raise InputError(f"crime {crime_ref!r} has no version {version!r}")
    return dict(crimes.iloc[-1])


def _subject_rows(store, hit) -> dict:
    """Identifiers of the hit's subject and the device of the monitoring window holding the hit."""
    subject_id = str(hit["subject_id"])
    subj = store.subjects()
    rows = subj[subj["subject_id"].astype(str) == subject_id]
    out = {"subject_id": subject_id, "crn": "", "pnc_id": "", "nomis_id": "", "cohort": ""}
    if len(rows):
        first = rows.iloc[0]
        for k in ("crn", "pnc_id", "nomis_id", "cohort"):
            v = first.get(k)
            out[k] = "" if v is None or pd.isna(v) else str(v)
    for k in ("device_id", "device_serial"):  # CaseStore.hits: the device of the hit's monitoring window
        v = hit.get(k)
        out[k] = "" if v is None or pd.isna(v) else str(v)
    return out


def _utc(ns) -> str:
    if ns is None or (isinstance(ns, float) and np.isnan(ns)):
        return ""
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _uk(ns) -> str:
    if ns is None or (isinstance(ns, float) and np.isnan(ns)):
        return ""
    t = pd.Timestamp(int(ns), unit="ns", tz="UTC").tz_convert(UK_TZ)
    return t.strftime("%d/%m/%Y %H:%M:%S.%f")[:-3] + " " + t.tzname()


def _num(v, digits: int) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return ""
    return "" if not np.isfinite(f) else f"{f:.{digits}f}"


def _pick_hits(cases, crime: dict, subjects: list[str]) -> pd.DataFrame:
    hits = cases.hits()
    mine = hits[
        (hits["force"].astype(str) == str(crime["force"]))
        & (hits["crime_ref"].astype(str) == str(crime["crime_ref"]))
        & (hits["crime_version"].astype(int) == int(crime["crime_version"]))
    ]
    out = []
    for s in subjects:
        h = mine[mine["subject_id"].astype(str) == s]
        if not len(h):
            have = sorted(set(mine["subject_id"].astype(str)))
            raise InputError(
                f"subject {s!r} has no hit on crime {crime['crime_ref']!r} version {crime['crime_version']}; "
                f"the subjects with hits are {have}"
            )
        row = h.iloc[0]
        if row["review_state"] != "qualified":
            how = ("review it first: `trailmon review --store DIR qualify "
                   f"{row['hit_id']} --user U`") if row["review_state"] == "pending" else (
                f"it was rejected by {row['reviewer']} ({row['review_reason']}) and cannot be disclosed")
            raise InputError(
                f"hit {row['hit_id']} (subject {s!r}, crime {crime['crime_ref']!r} version "
                f"{crime['crime_version']}) is {row['review_state']}: only qualified hits go into an "
                f"evidence pack; {how}"
            )
        if int(row["hit_id"]) not in cases.current_verdicts([int(row["hit_id"])]):
            raise InputError(
                f"hit {row['hit_id']} (subject {s!r}) was qualified on figures a later match changed; "
                "review it again before it goes into an evidence pack"
            )
        out.append(row)
    return pd.DataFrame(out).reset_index(drop=True)


def _gaps(cases, crime: dict) -> pd.DataFrame:
    """The crime version's gaps near the scene (case store ``gaps``) as ``GAP_COLUMNS`` text, in order."""
    g = cases.frame(
        "SELECT * FROM gaps WHERE force = ? AND crime_ref = ? AND crime_version = ? ORDER BY subject_id, gap_start_ns",
        [str(crime["force"]), str(crime["crime_ref"]), int(crime["crime_version"])],
    )
    rows = []
    for r in g.to_dict("records"):
        reach = r.get("reachable_by")
        rows.append([
            str(r["subject_id"]), _uk(r["gap_start_ns"]), _utc(r["gap_start_ns"]), _uk(r["gap_end_ns"]),
            _utc(r["gap_end_ns"]), _num(r["gap_s"], 0), _num(r["before_distance_m"], 1),
            _num(r["after_distance_m"], 1), _num(r["coverage"], 3), _num(r.get("min_speed_kmh"), 1),
            "" if reach is None or (isinstance(reach, float) and np.isnan(reach)) else str(reach),
        ])
    return pd.DataFrame(rows, columns=GAP_COLUMNS)


def _positions(ev: pd.DataFrame, hits: pd.DataFrame) -> pd.DataFrame:
    sid = {int(h): str(s) for h, s in zip(hits["hit_id"], hits["subject_id"], strict=True)}
    order = {int(h): k for k, h in enumerate(hits["hit_id"])}
    if not len(ev):
        return pd.DataFrame(columns=POSITION_COLUMNS)
    ev = ev.assign(_o=[order[int(h)] for h in ev["hit_id"]]).sort_values(["_o", "time_ns", "seq", "kind"],
                                                                          kind="stable")
    return pd.DataFrame({
        "subject_id": [sid[int(h)] for h in ev["hit_id"]],
        "label": ev["label"].astype(str).to_numpy(),
        "kind": ev["kind"].astype(str).to_numpy(),
        "time_uk": [_uk(t) for t in ev["time_ns"]],
        "time_utc": [_utc(t) for t in ev["time_ns"]],
        "lat": [_num(v, 6) for v in ev["lat"]],
        "lon": [_num(v, 6) for v in ev["lon"]],
        "accuracy_m": [_num(v, 1) for v in ev["accuracy_m"]],
        "distance_m": [_num(v, 1) for v in ev["distance_m"]],
        "speed_kmh": [_num(v, 1) for v in ev["speed_kmh"]],
        "heading_deg": [_num(v, 0) for v in ev["heading_deg"]],
    }, columns=POSITION_COLUMNS)


def _maps(store, crime: dict, hits: pd.DataFrame, ev: pd.DataFrame, radius_m: float, max_gap_s: float,
          basemap=None) -> tuple[bytes, list[bytes], bytes]:
    from trailmon.map.static import map_key_png, static_map_png

    t1 = pd.Timestamp(int(crime["committed_from_ns"]), unit="ns", tz="UTC")
    t2 = pd.Timestamp(int(crime["committed_to_ns"]), unit="ns", tz="UTC")
    subjects = [str(s) for s in hits["subject_id"]]
    trails = store.read(t1, t2, subjects, halo_s=max(max_gap_s, 60.0))
    row = {
        "crime_ref": str(crime["crime_ref"]), "crime_version": int(crime["crime_version"]),
        "offence": crime.get("offence") or "", "x_m": float(crime["x_m"]), "y_m": float(crime["y_m"]),
        "lat": crime.get("lat"), "lon": crime.get("lon"), "committed_from": t1, "committed_to": t2,
        "radius_m": radius_m,
    }
    sid = {int(h): str(s) for h, s in zip(hits["hit_id"], hits["subject_id"], strict=True)}
    hf = hits.assign(crime_ref=str(crime["crime_ref"]), crime_version=int(crime["crime_version"]))
    ef = ev.assign(
        crime_ref=str(crime["crime_ref"]), crime_version=int(crime["crime_version"]),
        subject_id=[sid[int(h)] for h in ev["hit_id"]],
        time=pd.to_datetime(pd.to_numeric(ev["time_ns"]), unit="ns", utc=True),
    ) if len(ev) else pd.DataFrame(columns=["crime_ref", "crime_version", "subject_id", "label", "kind", "time",
                                            "easting", "northing", "lat", "lon"])
    kw = {"radius_m": radius_m, "max_gap_s": max_gap_s, "crs": store.crs}
    if basemap is not None:
        kw["basemap"] = basemap
    overview = static_map_png(trails, row, hf, ef, **kw)
    details = []
    for s in subjects:
        details.append(static_map_png(trails, row, hf[hf["subject_id"].astype(str) == s],
                                      ef[ef["subject_id"].astype(str) == s], **kw))
    key = map_key_png(subjects, radius_m=radius_m, basemap=basemap)
    return overview, details, key


def _run_info(cases, run_ids: list[str], received_run: str | None) -> tuple[dict, list[dict]]:
    runs = cases.runs()
    params: dict = {}
    for rid in run_ids:
        r = runs[runs["run_id"].astype(str) == rid]
        if len(r) and r.iloc[0]["parameters"]:
            params = json.loads(r.iloc[0]["parameters"])
    wanted = sorted({*run_ids, *([received_run] if received_run else [])})
    if not wanted:
        return params, []
    files = cases.frame(
        f"SELECT name, kind, sha256, run_id FROM inbox_files WHERE run_id IN ({','.join('?' * len(wanted))}) "
        "AND kind IN ('crimes', 'trails', 'subjects') ORDER BY run_id, kind, name", wanted)
    return params, files.to_dict("records") if len(files) else []


def evidence_pack(
    store,
    cases,
    crime_ref: str,
    subjects: list[str],
    *,
    author: str,
    authorised_by: str,
    recipient: str,
    force: str | None = None,
    version: int | None = None,
    prefix: str = DEFAULT_PREFIX,
    max_gap_s: float | None = None,
    basemap=None,
) -> EvidencePack:
    """Gather and lay out the evidence pack of one crime for the subjects given.

    Parameters
    ----------
    store : TrailStore
        The trail store (fixes for the maps, subjects and devices).
    cases : CaseStore
        The case-record store (crime versions, hits, evidence, runs).
    crime_ref : str
        The crime reference.
    subjects : list of str
        The subjects whose qualified hits go in, in this order (at least one).
    author, authorised_by : str
        The statement's author and the manager who authorised the disclosure.
    recipient : str
        Who receives the pack.
    force : str, optional
        The force, when the reference was sent by more than one.
    version : int, optional
        The crime version; the latest when omitted.
    prefix : str, default "EMAC"
        Exhibit prefix (``EMAC/01`` …).
    max_gap_s : float, optional
        Longest gap interpolated on the maps, seconds; the matching run's when omitted.
    basemap : BaseMap, optional
        An offline vector base map drawn beneath the tracks (:func:`trailmon.map.basemap.read_basemap`).

    Returns
    -------
    EvidencePack

    Raises
    ------
    InputError
        For an unknown crime, version or subject, a subject without a hit, or a hit that is not
        qualified (the message names its state).
    AccessRefusedError
        Without author, authorising manager or recipient.
    """
    for name, v in (("author", author), ("authorised_by", authorised_by), ("recipient", recipient)):
        if not (v and str(v).strip()):
            raise AccessRefusedError(f"an evidence pack is a disclosure: give {name.replace('_', ' ')} "
                                     f"(--{name.replace('_', '-')})")
    subjects = [str(s) for s in dict.fromkeys(subjects or [])]
    if not subjects:
        raise InputError("name at least one subject whose qualified hit goes into the pack (--subject S)")
    prefix = str(prefix).strip()
    if not prefix or any(c in prefix for c in "/\\\n\r"):
        raise InputError(f"prefix must be a short text without slashes, got {prefix!r}")
    crime = _crime_version(cases, str(crime_ref), force, version)
    hits = _pick_hits(cases, crime, subjects)
    from trailmon.report.case_evidence import hit_evidence

    ev = hit_evidence(cases, store, hits["hit_id"].astype(int)).rows  # frozen with each verdict
    run_ids = list(dict.fromkeys(str(r) for r in hits["run_id"] if r))
    params, files = _run_info(cases, run_ids, crime.get("received_run"))
    radius = float(crime["radius_m"]) if crime.get("radius_m") is not None and np.isfinite(
        float(crime["radius_m"])) else float(params.get("radius_m", 100.0))
    gap = float(max_gap_s if max_gap_s is not None else params.get("max_gap_s", 600.0))
    positions = _positions(ev, hits)
    overview, details, key = _maps(store, crime, hits, ev, radius, gap, basemap)
    ex = [(f"{prefix}/01", "overview map"), (f"{prefix}/02", "detail map of each subject"),
          (f"{prefix}/03", "map key"), (f"{prefix}/04", "table of positions")]
    idents = {str(h["subject_id"]): _subject_rows(store, h) for _, h in hits.iterrows()}
    transform = store.crs.info
    B: list[_Block] = []
    ref, ver = str(crime["crime_ref"]), int(crime["crime_version"])
    B.append(_Block("heading", f"Electronic monitoring evidence pack: crime {ref}", level=0))
    B.append(_Block("para", f"{MARKING}. Prepared for {recipient} by {author}; disclosure authorised by "
                            f"{authorised_by}. Exhibits are numbered {prefix}/01 to {prefix}/04."))
    B.append(_Block("heading", "1. Summary", level=1))
    lat, lon = crime.get("lat"), crime.get("lon")
    B.append(_Block("kv", rows=[
        ("crime reference", ref), ("version", str(ver)), ("force", str(crime.get("force") or "")),
        ("batch", str(crime.get("batch_id") or "")), ("offence", str(crime.get("offence") or "")),
        ("committed from", f"{_uk(crime['committed_from_ns'])} ({_utc(crime['committed_from_ns'])})"),
        ("committed to", f"{_uk(crime['committed_to_ns'])} ({_utc(crime['committed_to_ns'])})"),
        ("location", f"easting {_num(crime['x_m'], 1)}, northing {_num(crime['y_m'], 1)} ({transform.crs}); "
                     f"lat {_num(lat, 6)}, lon {_num(lon, 6)}"),
        ("radius", f"{radius:g} m"), ("subjects in this pack", ", ".join(subjects)),
    ]))
    B.append(_Block("heading", "2. Subjects and hits", level=1))
    for k, (s, h) in enumerate(zip(subjects, hits.itertuples(index=False), strict=True)):
        ids = idents[s]
        B.append(_Block("heading", f"2.{k + 1} Subject {s}", level=2))
        B.append(_Block("kv", rows=[
            ("subject id", s), ("CRN", ids["crn"]), ("PNC", ids["pnc_id"]), ("NOMIS", ids["nomis_id"]),
            ("device id", ids["device_id"]), ("device serial", ids["device_serial"]),
            ("closest approach", f"{_num(h.min_distance_m, 1)} m at {_uk(h.closest_time_ns)} "
                                 f"({_utc(h.closest_time_ns)})"),
            ("first within R", f"{_uk(h.first_within_ns)} ({_utc(h.first_within_ns)})"),
            ("last within R", f"{_uk(h.last_within_ns)} ({_utc(h.last_within_ns)})"),
            ("time within R", f"{_num(h.dwell_s, 1)} s in {h.passes} pass(es)"),
            ("fixes within R", str(h.n_fixes_within)),
            ("closest approach between fixes", "yes" if h.between_fixes else "no"),
            ("accuracy", f"{_num(h.accuracy_m, 1)} m"), ("confidence", str(h.confidence or "")),
            ("coverage of the window", _num(h.coverage, 3)), ("flags", str(h.flags or "")),
            ("review", f"qualified by {h.reviewer} at {h.reviewed_at}"), ("hit id", str(h.hit_id)),
            ("matching run", str(h.run_id or "")),
        ]))
    gaps = _gaps(cases, crime)
    B.append(_Block("heading", f"2.{len(subjects) + 1} Gaps near the scene", level=2))
    B.append(_Block("para", "Monitored subjects without a hit on this crime version whose trail has a gap "
                            "in the data near the scene during the committed window (what trailmon recorded "
                            "for the version; a subject listed here is not in the pack otherwise). "
                            + GAP_CAVEAT))
    if len(gaps):
        B.append(_Block("table", columns=_GAP_HEADERS, rows=gaps.values.tolist(), style="wide nowrap"))
    else:
        B.append(_Block("para", "None recorded for this crime version."))
    B.append(_Block("pagebreak"))
    B.append(_Block("heading", "3. Exhibits", level=1))
    B.append(_Block("heading", f"Exhibit {prefix}/01: overview map", level=2))
    B.append(_Block("image", f"{prefix}/01 overview: crime {ref} and the tracks of {', '.join(subjects)} "
                             "during the committed window", png=overview))
    for k, (s, png) in enumerate(zip(subjects, details, strict=True)):
        B.append(_Block("pagebreak"))
        B.append(_Block("heading", f"Exhibit {prefix}/02 (sheet {k + 1} of {len(subjects)}): subject {s}",
                        level=2))
        B.append(_Block("image", f"{prefix}/02 detail map, subject {s}", png=png))
    B.append(_Block("pagebreak"))
    B.append(_Block("heading", f"Exhibit {prefix}/03: map key", level=2))
    B.append(_Block("image", f"{prefix}/03 key to the symbols of {prefix}/01 and {prefix}/02", png=key))
    B.append(_Block("pagebreak"))
    B.append(_Block("heading", f"Exhibit {prefix}/04: table of positions", level=2))
    B.append(_Block("para", "Evidence rows of each hit: the fixes within the radius (labels A1, A2 … per "
                            "pass) and the interpolated first and last points of each pass. Times in UK "
                            "local time (GMT/BST) and in UTC; the accuracy circle is the radius stated by "
                            "the device for the fix."))
    B.append(_Block("table", columns=_POSITION_HEADERS, rows=positions.values.tolist(), style="wide nowrap"))
    B.append(_Block("heading", "4. Method statement", level=1))
    B.append(_Block("para", TRAIL_MODEL))
    B.append(_Block("kv", rows=[
        ("interpolation", f"linear in time between consecutive fixes at most {gap:g} s apart; none across "
                          "longer gaps"),
        ("distances", f"planar, in metres on {transform.crs} ({transform.description})"),
        ("radius", f"{radius:g} m"), ("maximum gap", f"{gap:g} s"),
        ("parameters of the matching run", json.dumps({k: params[k] for k in sorted(params)
                                                       if k in ("radius_m", "max_gap_s", "max_accuracy_m",
                                                                "as_of", "tz")}, sort_keys=True)),
        ("engine", f"trailmon {__version__}"), ("run id(s)", ", ".join(run_ids)),
        ("input digests", f"{len(files)} crime, trail and subject file(s) read by the run(s), below"
                          if files else "none recorded"),
    ]))
    if files:
        B.append(_Block("table", columns=["input", "file", "sha256", "run"],
                        rows=[[f["kind"], f["name"], f["sha256"], f["run_id"]] for f in files]))
    B.append(_Block("pagebreak"))
    B.append(_Block("heading", "5. Draft witness statement", level=1))
    B.extend(_statement(author, authorised_by, recipient, ref, ver, crime, subjects, hits, ex))
    B.append(_Block("heading", "6. Disclaimer", level=1))
    from trailmon.report.crime_report import DISCLAIMER

    B.append(_Block("para", DISCLAIMER, style="disclaimer"))
    return EvidencePack(B, crime, hits, positions, ex, run_ids, gaps)


def _statement(author, authorised_by, recipient, ref, ver, crime, subjects, hits, ex) -> list[_Block]:
    dots = "." * 40
    body = (
        f"I am {author}. I have access to the records of the electronic monitoring service kept in the "
        f"trailmon system (version {__version__}), which holds the positions recorded by the tags worn by "
        "people subject to electronic monitoring. At the request of "
        f"{recipient} I have examined those records in relation to crime reference {ref} (version {ver}, "
        f"{crime.get('force') or 'force not stated'}), an offence of {crime.get('offence') or 'a type not stated'} "
        f"committed between {_uk(crime['committed_from_ns'])} and {_uk(crime['committed_to_ns'])}. "
        f"The records show that the tag of {len(subjects)} subject(s), {', '.join(subjects)}, recorded or "
        "implied positions within the stated radius of the crime location during that time. Each result "
        "was reviewed and qualified before disclosure ("
        + "; ".join(f"{h.subject_id} by {h.reviewer} at {h.reviewed_at}" for h in hits.itertuples(index=False))
        + ")."
    )
    produce = "I produce the following exhibits: " + "; ".join(f"{n}, {t}" for n, t in ex) + "."
    return [
        _Block("para", "WITNESS STATEMENT", style="centre"),
        _Block("para", "(Criminal Procedure Rules, r. 16.2; Criminal Justice Act 1967, s. 9; Magistrates' Courts "
                       "Act 1980, s. 5B)", style="centre"),
        _Block("kv", rows=[("Statement of", author), ("Age if under 18", "Over 18"), ("Occupation", dots),
                           ("URN", dots), ("Authorised by", authorised_by)]),
        _Block("para", "This statement (consisting of " + "....." + " page(s) each signed by me) is true to the "
                       "best of my knowledge and belief and I make it knowing that, if it is tendered in "
                       "evidence, I shall be liable to prosecution if I have wilfully stated in it anything "
                       "which I know to be false, or do not believe to be true."),
        _Block("kv", rows=[("Signature", dots), ("Date", dots)]),
        _Block("para", body),
        _Block("para", produce),
        _Block("para", "The positions are those of the tag, not a sighting of the person; their accuracy is "
                       "stated for each fix, and between fixes the position is interpolated as set out in the "
                       "method statement."),
        _Block("kv", rows=[("Signature", dots), ("Signature witnessed by", dots)]),
    ]


# -- rendering -------------------------------------------------------------------------------------------
def render_docx(pack: EvidencePack) -> bytes:
    """The pack as a Word document (``python-docx``): heading styles, tables, pictures."""
    try:
        import docx
        from docx.enum.text import WD_ALIGN_PARAGRAPH
        from docx.shared import Cm, Pt
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise InputError("an evidence pack needs python-docx: pip install python-docx") from exc
    doc = docx.Document()
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Cm(21.0), Cm(29.7)
    sec.left_margin = sec.right_margin = Cm(1.8)
    sec.top_margin = sec.bottom_margin = Cm(1.8)
    for part in (sec.header, sec.footer):
        p = part.paragraphs[0]
        p.text = MARKING
        p.alignment = WD_ALIGN_PARAGRAPH.CENTER
        p.runs[0].bold = True
    doc.core_properties.title = f"Evidence pack, crime {pack.crime['crime_ref']}"
    doc.core_properties.subject = MARKING
    doc.styles["Normal"].font.size = Pt(10)
    width = Cm(17.0)
    for b in pack.blocks:
        if b.kind == "heading":
            doc.add_heading(b.text, level=b.level)
        elif b.kind == "para":
            p = doc.add_paragraph(b.text)
            if b.style == "centre":
                p.alignment = WD_ALIGN_PARAGRAPH.CENTER
                p.runs[0].bold = True
            elif b.style == "disclaimer":
                p.runs[0].italic = True
        elif b.kind == "kv":
            t = doc.add_table(rows=0, cols=2)
            t.style = "Table Grid"
            for k, v in b.rows:
                cells = t.add_row().cells
                cells[0].text, cells[1].text = str(k), str(v)
                cells[0].paragraphs[0].runs[0].bold = True
            doc.add_paragraph()
        elif b.kind == "table":
            t = doc.add_table(rows=1, cols=len(b.columns))
            t.style = "Table Grid"
            for c, h in zip(t.rows[0].cells, b.columns, strict=True):
                c.text = h
                c.paragraphs[0].runs[0].bold = True
            for row in b.rows:
                cells = t.add_row().cells
                for c, v in zip(cells, row, strict=True):
                    c.text = str(v)
            for row in t.rows:
                for c in row.cells:
                    for r in c.paragraphs[0].runs:
                        r.font.size = Pt(7)
            doc.add_paragraph()
        elif b.kind == "image":
            doc.add_picture(io.BytesIO(b.png), width=width)
            doc.add_paragraph(b.text, style="Caption")
        elif b.kind == "pagebreak":
            doc.add_page_break()
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


_CSS = """
@page { size: A4; margin: 16mm 14mm; }
body { font: 10pt/1.35 "DejaVu Sans", Arial, sans-serif; color: #000; max-width: 182mm; margin: 0 auto; }
.marking { font-weight: bold; text-align: center; border: 2px solid #000; padding: 2px 0; margin: 4px 0; }
h1.title { font-size: 16pt; } h1 { font-size: 14pt; border-bottom: 1px solid #444; } h2 { font-size: 12pt; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 10px; }
th, td { border: 1px solid #888; padding: 2px 4px; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
table.kv th { width: 32%; background: #eee; }
table.wide { font-size: 7pt; } table.wide th { background: #eee; }
table.nowrap td, table.nowrap th { overflow-wrap: normal; }
img { width: 100%; border: 1px solid #999; } figcaption { font-size: 8.5pt; color: #333; }
.centre { text-align: center; font-weight: bold; } .disclaimer { border: 2px solid #b00; padding: 6px 8px; }
.pagebreak { break-after: page; }
@media print { tr, img, figure, table.kv { break-inside: avoid; } h1, h2 { break-after: avoid; }
  thead { display: table-header-group; } }
"""


def render_html(pack: EvidencePack) -> str:
    """The same content as one printable HTML page (pictures as data URIs, no external reference)."""
    e = _html.escape
    out = [f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(MARKING)} - evidence pack '
           f'{e(str(pack.crime["crime_ref"]))}</title><style>{_CSS}</style></head><body>'
           f'<div class="marking">{e(MARKING)}</div>']
    for b in pack.blocks:
        if b.kind == "heading":
            tag = "h1" if b.level <= 1 else "h2"
            cls = ' class="title"' if b.level == 0 else ""
            out.append(f"<{tag}{cls}>{e(b.text)}</{tag}>")
        elif b.kind == "para":
            cls = f' class="{b.style}"' if b.style else ""
            out.append(f"<p{cls}>{e(b.text)}</p>")
        elif b.kind == "kv":
            out.append('<table class="kv">' + "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>"
                                                       for k, v in b.rows) + "</table>")
        elif b.kind == "table":
            head = "".join(f"<th>{e(h)}</th>" for h in b.columns)
            body = "".join("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in r) + "</tr>" for r in b.rows)
            cls = b.style or "wide"
            out.append(f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>')
        elif b.kind == "image":
            uri = "data:image/png;base64," + base64.b64encode(b.png).decode("ascii")
            out.append(f'<figure><img src="{uri}" alt="{e(b.text)}"><figcaption>{e(b.text)}</figcaption></figure>')
        elif b.kind == "pagebreak":
            out.append('<div class="pagebreak"></div>')
    out.append(f'<div class="marking">{e(MARKING)}</div></body></html>')
    return "".join(out)


def _render_pdf(pack: EvidencePack, tmp: Path) -> bytes:
    from trailmon.report.crime_report import print_pdf

    page = tmp.with_name(tmp.name + ".html")
    fd = os.open(page, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(render_html(pack))
    try:
        pdf = print_pdf(page, tmp.with_name(tmp.name + ".pdf"))
        data = pdf.read_bytes()
        pdf.unlink()
        return data
    finally:
        page.unlink(missing_ok=True)


def write_evidence_pack(
    store,
    cases,
    crime_ref: str,
    subjects: list[str],
    out: str | Path,
    *,
    author: str,
    authorised_by: str,
    recipient: str,
    user: str,
    purpose: str,
    force: str | None = None,
    version: int | None = None,
    prefix: str = DEFAULT_PREFIX,
    max_gap_s: float | None = None,
    basemap=None,
) -> dict:
    """Build the evidence pack of one crime, audit the disclosure, then write it (DOCX or PDF).

    Parameters
    ----------
    store, cases, crime_ref, subjects, author, authorised_by, recipient, force, version, prefix, max_gap_s, basemap
        As for :func:`evidence_pack`.
    out : str or Path
        The file to write: ``.docx`` (editable Word document) or ``.pdf`` (printed with headless Chromium).
    user, purpose : str
        Who discloses and why (audited).

    Returns
    -------
    dict
        ``outputs``, ``sha256``, ``crime_ref``, ``crime_version``, ``force``, ``subjects``, ``hit_ids``,
        ``evidence_rows``, ``exhibits``, ``recipient``.

    Raises
    ------
    InputError
        For an unknown extension, crime, subject, a hit that is not qualified, or no Chromium for a PDF.
    AccessRefusedError
        Without user, purpose, author, authorising manager or recipient.

    Notes
    -----
    The pack is written to a temporary file beside ``out``, its sha256 taken and the disclosure
    appended to the audit log (kind ``disclosure``, with the recipient and the sha256); only then is
    the file renamed to ``out``, so no pack exists that the audit log does not name.
    """
    from trailmon.store import audit

    if not (user and str(user).strip() and purpose and str(purpose).strip()):
        raise AccessRefusedError("an evidence pack discloses location data: say who you are and why with "
                                 "--user and --purpose (every disclosure is written to the audit log)")
    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in PACK_SUFFIXES:
        raise InputError(f"unknown evidence pack extension {suffix!r} for {str(out)!r}; use one of "
                         + ", ".join(PACK_SUFFIXES))
    if suffix == ".pdf":
        from trailmon._chromium import find_browser

        if find_browser() is None:
            raise InputError("a PDF evidence pack is printed with headless Chromium, and neither chromium nor "
                             "chromium-browser is on PATH; install Debian's chromium (apt-get install chromium) "
                             "or write the pack as .docx")
    pack = evidence_pack(store, cases, crime_ref, subjects, author=author, authorised_by=authorised_by,
                         recipient=recipient, force=force, version=version, prefix=prefix, max_gap_s=max_gap_s,
                         basemap=basemap)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    data = render_docx(pack) if suffix == ".docx" else _render_pdf(pack, tmp)
    sha = hashlib.sha256(data).hexdigest()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        crime = pack.crime
        hit_ids = [int(h) for h in pack.hits["hit_id"]]
        summary = {
            "crime_ref": str(crime["crime_ref"]), "crime_version": int(crime["crime_version"]),
            "force": str(crime.get("force") or ""), "subjects": [str(s) for s in pack.hits["subject_id"]],
            "hit_ids": hit_ids, "evidence_rows": len(pack.positions),
            "exhibits": [n for n, _ in pack.exhibits], "recipient": str(recipient), "sha256": sha,
            "format": suffix[1:], "outputs": [str(out)],
        }
        audit.append(
            store.audit_path, user=str(user).strip(), purpose=str(purpose).strip(), action="report evidence",
            kind="disclosure",
            parameters={"crime": summary["crime_ref"], "crime_version": summary["crime_version"],
                        "force": summary["force"], "hit_ids": hit_ids, "prefix": prefix, "format": summary["format"],
                        "author": author, "authorised_by": authorised_by, "out": str(out), "sha256": sha,
                        "run_ids": pack.run_ids,
                        "gap_subjects": sorted(set(pack.gaps["subject_id"].astype(str)))},
            subjects=list(dict.fromkeys(summary["subjects"] + sorted(set(pack.gaps["subject_id"].astype(str))))),
            counts={"hits": len(hit_ids), "evidence_rows": len(pack.positions), "gaps_near_scene": len(pack.gaps)},
            recipient=str(recipient),
        )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return summary
