"""The printable proximity report for one crime (SPEC §4 "Proximity report").

One HTML page that prints cleanly (A4, the marking on every page, tables that do not split
rows, one subject per page): the summary, the map (a PNG embedded as a data URI, with a link to
the interactive map saved beside it), per subject the first and last points in the vicinity and
the evidence table, the gaps near the scene, the disclaimer and the provenance. The marking is a
repeated table header and footer, so it is printed on every page without covering the text.
:func:`print_pdf` prints it to PDF with headless Chromium (Debian's ``chromium``), offline, the
browser the map test already uses (WeasyPrint would add Pango and another dependency).
"""

from __future__ import annotations

import base64
import html as _html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon.errors import InputError
from trailmon.report.writers import MARKING

__all__ = ["DISCLAIMER", "crime_report_html", "hit_devices", "print_pdf", "write_crime_report"]

DISCLAIMER = (
    "A proximity hit shows only that the tagged person's recorded or interpolated position was within "
    "the stated radius of the crime location at some time in the stated window. It does not show that the "
    "person committed or witnessed the crime, or was aware of it. It covers only people who were being "
    "monitored, and only while their equipment could be monitored (fixes recorded, within their "
    "monitoring window); a person without a hit may still have been there, and gaps in the data are listed. "
    "Positions carry the accuracy stated for each fix; interpolated positions assume straight-line movement "
    "between fixes at most the stated maximum gap apart. Hits must be reviewed and qualified by a "
    "caseworker before being used as intelligence."
)
"""The SPEC §4 disclaimer, printed on every proximity report."""

_CSS = """
@page { size: A4; margin: 16mm 12mm 16mm 12mm; }
body { font: 10pt/1.35 "DejaVu Sans", Arial, sans-serif; color: #000; margin: 0 auto; max-width: 190mm; }
.marking { font-weight: bold; text-align: center; letter-spacing: 0.05em; border: 2px solid #000;
           padding: 2px 0; margin: 4px 0; }
.marking.top { position: sticky; top: 0; background: #fff; }
h1 { font-size: 15pt; margin: 8px 0 4px; }
h2 { font-size: 12pt; margin: 14px 0 4px; border-bottom: 1px solid #444; }
h3 { font-size: 10.5pt; margin: 10px 0 4px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0 8px; font-size: 8.5pt; }
th, td { border: 1px solid #999; padding: 2px 4px; text-align: left; vertical-align: top;
         overflow-wrap: anywhere; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; overflow-wrap: normal; }
table.wide { font-size: 7pt; }
table.kv th { width: 30%; }
figure { margin: 0; }
img.map { width: 100%; max-width: 180mm; border: 1px solid #999; }
.disclaimer { border: 2px solid #b00; padding: 6px 8px; background: #fff5f5; }
.note { color: #444; font-size: 8.5pt; }
table.page { table-layout: fixed; width: 100%; margin: 0; }
table.page, table.page > * > tr > td { border: 0; padding: 0; font-size: inherit; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
@media print {
  .marking.top { position: static; }
  .subject { break-before: page; }
  tr, img, figure, .disclaimer, table.kv { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  thead { display: table-header-group; }
  .screen-only { display: none; }
  a { color: #000; text-decoration: none; }
}
"""

_EVIDENCE_SHOWN = [
    "label",
    "kind",
    "time",
    "distance_m",
    "within_r",
    "accuracy_m",
    "fix_type",
    "speed_kmh",
    "heading_deg",
    "lat",
    "lon",
    "easting",
    "northing",
    "flags",
]
_HIT_SHOWN = [
    "subject_id",
    "device_id",
    "device_serial",
    "min_distance_m",
    "closest_time",
    "first_within",
    "last_within",
    "dwell_s",
    "passes",
    "n_fixes_within",
    "between_fixes",
    "accuracy_m",
    "confidence",
    "coverage",
    "flags",
]
_GAP_SHOWN = [
    "subject_id",
    "gap_start",
    "gap_end",
    "gap_s",
    "before_distance_m",
    "after_distance_m",
    "coverage",
    "min_speed_kmh",
    "reachable_by",
]
_DECIMALS = {
    "min_distance_m": 1,
    "distance_m": 1,
    "accuracy_m": 1,
    "dwell_s": 1,
    "speed_kmh": 1,
    "heading_deg": 0,
    "lat": 6,
    "lon": 6,
    "easting": 1,
    "northing": 1,
    "gap_s": 0,
    "before_distance_m": 1,
    "after_distance_m": 1,
    "coverage": 3,
    "min_speed_kmh": 1,
}


def _e(v) -> str:
    return _html.escape("" if v is None else str(v))


def _fmt(col: str, v) -> str:
    if v is None:
        return ""
    if isinstance(v, pd.Timestamp):
        if v is pd.NaT:
            return ""
        v = v.tz_convert("UTC") if v.tzinfo else v.tz_localize("UTC")
        return v.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(v, bool | np.bool_):
        return "true" if v else "false"
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return ""
        return f"{v:.{_DECIMALS.get(col, 3)}f}"
    try:
        if pd.isna(v):
            return ""
    except (TypeError, ValueError):
        pass
    return str(v)


def _table(df: pd.DataFrame, cols: list[str], empty: str) -> str:
    cols = [c for c in cols if c in df.columns]
    if not len(df):
        return f'<p class="note">{_e(empty)}</p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = []
    for rec in df[cols].itertuples(index=False):
        cells = []
        for c, v in zip(cols, rec, strict=True):
            num = isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool | np.bool_)
            cells.append(f'<td class="num">{_e(_fmt(c, v))}</td>' if num else f"<td>{_e(_fmt(c, v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    wide = ' class="wide"' if len(cols) > 10 else ""
    return f"<table{wide}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv(rows: list[tuple[str, str]]) -> str:
    return (
        '<table class="kv">'
        + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
        + "</table>"
    )


def _check(frame, name: str, needed: tuple[str, ...]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(f"{name} lacks the columns {missing}; its columns are {list(frame.columns)}")


def hit_devices(hits: pd.DataFrame, windows: pd.DataFrame | None) -> pd.DataFrame:
    """``hits`` with ``device_id`` and ``device_serial`` of the monitoring window holding each closest approach.

    Parameters
    ----------
    hits : DataFrame
        Hits with ``subject_id`` and ``closest_time`` (tz-aware); device columns they already carry
        (e.g. from :meth:`trailmon.store.cases.CaseStore.hits`) are kept where not empty.
    windows : DataFrame or None
        Monitoring windows, one a row: ``subject_id, monitoring_start, monitoring_end, device_id,
        device_serial`` (the trail store's subjects table, :meth:`trailmon.store.trails.TrailStore.subjects`);
        an empty start or end is open. Of several windows holding the instant, the latest started wins.

    Returns
    -------
    DataFrame
        A copy of ``hits``; a hit no window holds (or with no device recorded) gets empty cells.
    """
    out = hits.copy()
    for col in ("device_id", "device_serial"):
        if col not in out.columns:
            out[col] = None
        out[col] = out[col].astype(object)
    if windows is None or not len(windows) or not len(out) or "device_id" not in windows.columns:
        return out
    w = windows[windows["device_id"].notna() | windows.get("device_serial", windows["device_id"]).notna()]
    start = pd.to_datetime(w.get("monitoring_start"), utc=True) if "monitoring_start" in w else None
    end = pd.to_datetime(w.get("monitoring_end"), utc=True) if "monitoring_end" in w else None
    sid_w = w["subject_id"].astype(str).to_numpy()
    for i, row in enumerate(out.itertuples(index=False)):
        if not (pd.isna(row.device_id) or row.device_id == "") or "closest_time" not in out.columns:
            continue
        t = pd.Timestamp(row.closest_time)
        t = t.tz_convert("UTC") if t.tzinfo else t.tz_localize("UTC")
        keep = sid_w == str(row.subject_id)
        if start is not None:
            keep &= (start.isna() | (start <= t)).to_numpy()
        if end is not None:
            keep &= (end.isna() | (end >= t)).to_numpy()
        if not keep.any():
            continue
        cand = w[keep]
        if start is not None:
            order = start[keep].fillna(pd.Timestamp.min.tz_localize("UTC")).to_numpy().argsort(kind="stable")
            cand = cand.iloc[order]
        best = cand.iloc[-1]
        for col in ("device_id", "device_serial"):
            v = best.get(col)
            out.iat[i, out.columns.get_loc(col)] = None if v is None or pd.isna(v) else str(v)
    return out


def _vicinity(ev: pd.DataFrame) -> pd.DataFrame:
    """The first point of the first pass and the last point of the last pass of one subject."""
    first = ev[ev["kind"].astype(str) == "first"]
    last = ev[ev["kind"].astype(str) == "last"]
    rows = []
    if len(first):
        rows.append(first.sort_values("time").iloc[[0]].assign(point="first in the vicinity"))
    if len(last):
        rows.append(last.sort_values("time").iloc[[-1]].assign(point="last in the vicinity"))
    return pd.concat(rows, ignore_index=True) if rows else ev.iloc[:0].assign(point=[])


def crime_report_html(
    crime_row,
    hits: pd.DataFrame,
    evidence: pd.DataFrame,
    gaps: pd.DataFrame,
    *,
    radius_m: float = 100.0,
    map_png: bytes | None = None,
    map_href: str | None = None,
    provenance: dict | None = None,
    devices: pd.DataFrame | None = None,
) -> str:
    """The printable proximity report of one crime as an HTML string.

    Parameters
    ----------
    crime_row : pandas.Series or dict
        The crime (``CRIME_INPUT``): ``crime_ref``, ``committed_from``/``committed_to`` (tz-aware),
        ``lat, lon`` (degrees), ``x_m, y_m`` (store metres), optional ``offence``, ``radius_m``
        (metres), ``crime_version``.
    hits, evidence, gaps : DataFrame
        The proximity frames (``HITS``, ``EVIDENCE``, ``GAPS``); only this crime's rows are used.
    radius_m : float, default 100.0
        Radius when the crime has none of its own, metres.
    map_png : bytes, optional
        The static map (:func:`trailmon.map.static_map_png`), embedded as a data URI.
    map_href : str, optional
        Relative link to the interactive map (screen only).
    provenance : dict, optional
        The provenance record (:func:`trailmon.report.writers.make_provenance`), printed at the end.
    devices : DataFrame, optional
        Monitoring windows with their EM device (:func:`hit_devices`); each hit shows the device id /
        serial of the window holding its closest approach (hits from the case store carry theirs).

    Returns
    -------
    str
        A complete HTML document carrying the marking ``OFFICIAL-SENSITIVE`` in its header.

    Raises
    ------
    InputError
        When a frame lacks the columns it needs or the crime row has no ``crime_ref``.
    """
    if not hasattr(crime_row, "get") or crime_row.get("crime_ref") is None:
        raise InputError(
            f"crime_row must be a Series or dict with a crime_ref, got {type(crime_row).__name__}"
        )
    _check(hits, "hits", ("crime_ref", "subject_id"))
    _check(evidence, "evidence", ("crime_ref", "subject_id", "label", "kind", "time"))
    _check(gaps, "gaps", ("crime_ref", "subject_id"))
    ref = str(crime_row["crime_ref"])
    version = crime_row.get("crime_version")

    def mine(df: pd.DataFrame) -> pd.DataFrame:
        keep = df["crime_ref"].astype(str).to_numpy() == ref
        if version is not None and not pd.isna(version) and "crime_version" in df.columns:
            keep &= pd.to_numeric(df["crime_version"], errors="coerce").to_numpy() == float(version)
        return df[keep].reset_index(drop=True)

    h, ev, gp = mine(hits), mine(evidence), mine(gaps)
    h = hit_devices(h, devices)  # the device of each hit's monitoring window (SPEC §4)
    r = crime_row.get("radius_m")
    r = float(r) if r is not None and not pd.isna(r) else float(radius_m)
    t_from, t_to = pd.Timestamp(crime_row["committed_from"]), pd.Timestamp(crime_row["committed_to"])
    when = f"{_fmt('', t_from)} to {_fmt('', t_to)}"
    conf = h["confidence"].astype(str).value_counts().to_dict() if "confidence" in h.columns else {}
    n_within = int((h["confidence"].astype(str) != "low").sum()) if "confidence" in h.columns else len(h)
    prov = provenance or {}
    summary = [
        (
            "crime reference",
            ref + (f" (version {version})" if version is not None and not pd.isna(version) else ""),
        ),
        (
            "offence",
            f"{crime_row.get('offence', '') or ''}"
            + (f" ({crime_row.get('offence_group')})" if crime_row.get("offence_group") else ""),
        ),
        ("window (UTC)", when),
        (
            "location",
            f"lat {_fmt('lat', crime_row.get('lat'))}, lon {_fmt('lon', crime_row.get('lon'))}; "
            f"easting {_fmt('easting', crime_row.get('x_m'))}, "
            f"northing {_fmt('northing', crime_row.get('y_m'))}",
        ),
        ("radius", f"{r:g} m"),
        (
            "subjects within the radius",
            f"{n_within} (confidence: {', '.join(f'{k} {v}' for k, v in sorted(conf.items())) or 'none'})",
        ),
        (
            "gaps near the scene",
            f"{len(gp)} (subjects not hit, with a data gap near the scene and coverage < 50 %)",
        ),
        ("generated", str(prov.get("generated", ""))),
        ("requested by", f"{prov.get('user', '')}: {prov.get('purpose', '')}"),
        (
            "engine / transformation",
            f"{prov.get('engine', '')}; {(prov.get('transformation') or {}).get('method', '')}",
        ),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta name="protective-marking" content="{MARKING}">',
        f"<title>{MARKING} - proximity report {_e(ref)}</title>",
        f"<style>{_CSS}</style></head><body>",
        # the marking in a repeated table header and footer: on every printed page, never over the text
        '<table class="page"><thead><tr><td>',
        f'<header class="marking top">{MARKING}</header></td></tr></thead>',
        f'<tfoot><tr><td><footer class="marking bottom">{MARKING}</footer></td></tr></tfoot><tbody><tr><td>',
        f"<h1>Proximity report: crime {_e(ref)}</h1>",
        "<h2>Summary</h2>",
        _kv(summary),
        f'<div class="disclaimer"><b>Read this first.</b> {_e(DISCLAIMER)}</div>',
        "<figure><h2>Map</h2>",
    ]
    if map_png:
        parts.append(
            f'<img class="map" alt="proximity map of crime {_e(ref)}" '
            f'src="data:image/png;base64,{base64.b64encode(map_png).decode()}">'
        )
    else:
        parts.append('<p class="note">no static map was drawn</p>')
    parts.append("</figure>")
    if map_href:
        parts.append(
            f'<p class="screen-only"><a href="{_e(map_href)}">Open the interactive map</a> '
            "(self-contained, works offline).</p>"
        )
    parts += [
        "<h2>Subjects within the radius</h2>",
        _table(h, _HIT_SHOWN, "No monitored subject was within the radius during the window."),
    ]
    for sid in dict.fromkeys(h["subject_id"].astype(str)):
        e_s = ev[ev["subject_id"].astype(str).to_numpy() == sid].reset_index(drop=True)
        row = h[h["subject_id"].astype(str).to_numpy() == sid].iloc[0]
        parts += [
            f'<section class="subject"><h2>Subject {_e(sid)}</h2>',
            _kv(
                [
                    (
                        "closest approach",
                        f"{_fmt('min_distance_m', row.get('min_distance_m'))} m at "
                        f"{_fmt('', row.get('closest_time'))}",
                    ),
                    (
                        "passes / time within",
                        f"{_fmt('', row.get('passes'))} / {_fmt('dwell_s', row.get('dwell_s'))} s",
                    ),
                    (
                        "confidence",
                        f"{_fmt('', row.get('confidence'))} (accuracy "
                        f"{_fmt('accuracy_m', row.get('accuracy_m'))} m)",
                    ),
                    ("coverage of the window", _fmt("coverage", row.get("coverage"))),
                    (
                        "device id / serial",
                        f"{_fmt('', row.get('device_id')) or 'not recorded'} / "
                        f"{_fmt('', row.get('device_serial')) or 'not recorded'}",
                    ),
                    ("flags", _fmt("", row.get("flags"))),
                ]
            ),
            "<h3>First and last points in the vicinity</h3>",
            _table(_vicinity(e_s), ["point", *_EVIDENCE_SHOWN], "No time within the radius (low candidate)."),
            "<h3>Evidence</h3>",
            '<p class="note">Fixes within the radius + 50 m during the window, labelled by pass (A, B, ...) '
            "and sequence; rows of kind first/last are the interpolated first and last points of a pass.</p>",
            _table(e_s, _EVIDENCE_SHOWN, "No evidence rows."),
            "</section>",
        ]
    parts += [
        "<h2>Gaps near the scene</h2>",
        '<p class="note">min_speed_kmh is the least average speed, in straight lines, at which the subject '
        "could have been at the scene point during the gap and the window (blank: not possible); "
        "reachable_by is the slowest of foot, cycle and vehicle at or above it. It is a bound, never "
        "evidence of presence.</p>",
        _table(gp, _GAP_SHOWN, "None."),
        f'<figure><h2>Disclaimer</h2><div class="disclaimer">{_e(DISCLAIMER)}</div></figure>',
        "<h2>Provenance</h2>",
        f'<pre class="note">{_e(json.dumps(prov, indent=1, default=str))}</pre>',
        "</td></tr></tbody></table></body></html>",
    ]
    return "\n".join(parts)


def write_crime_report(
    path: str | Path,
    trails,
    crime_row,
    hits: pd.DataFrame,
    evidence: pd.DataFrame,
    gaps: pd.DataFrame,
    *,
    radius_m: float = 100.0,
    max_gap_s: float = 600.0,
    t_from=None,
    t_to=None,
    crs=None,
    provenance: dict | None = None,
    tiles: str | None = None,
    basemap=None,
    devices: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write the report, its interactive map ``<stem>.map.html`` and its PNG ``<stem>.map.png``.

    Parameters
    ----------
    path : str or Path
        The report, ``.html``.
    trails : Trails
        Fixes (store metres, seconds UTC) covering the window, for the maps.
    crime_row : pandas.Series or dict
        The crime (``CRIME_INPUT``).
    hits, evidence, gaps : DataFrame
        The proximity frames of this crime.
    radius_m : float, default 100.0
        Radius when the crime has none of its own, metres.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    t_from, t_to : datetime-like, optional
        Period of track drawn on the maps (tz-aware); the crime window when omitted.
    crs : StoreCRS, optional
        The store's CRS (British National Grid when omitted).
    provenance : dict, optional
        The provenance record printed in the report.
    tiles : str, optional
        XYZ tile URL template for the interactive map (:mod:`trailmon.map.basemap`).
    basemap : BaseMap, optional
        Offline vector base map drawn beneath both maps.
    devices : DataFrame, optional
        Monitoring windows with their EM device, for the device id / serial of each hit
        (:func:`hit_devices`).

    Returns
    -------
    dict
        ``{"report": path, "map": <stem>.map.html, "png": <stem>.map.png}``.

    Raises
    ------
    InputError
        When ``path`` does not end in ``.html``, or for the reasons of :func:`crime_report_html`.
    """
    from trailmon.map import crime_map, save_map, static_map_png
    from trailmon.map._offline import write_private
    from trailmon.map.crime import add_prism_layer

    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"the proximity report is HTML; path must end in .html, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    map_path = path.with_name(f"{path.stem}.map.html")
    png_path = path.with_name(f"{path.stem}.map.png")
    kw = {"radius_m": radius_m, "max_gap_s": max_gap_s, "t_from": t_from, "t_to": t_to, "crs": crs}
    m = crime_map(trails, crime_row, hits, evidence, tiles=tiles, basemap=basemap, **kw)
    add_prism_layer(m, trails, crime_row, gaps, crs=crs)  # the area reachable in each gap near the scene
    save_map(m, map_path)
    png = static_map_png(trails, crime_row, hits, evidence, path=png_path, basemap=basemap, **kw)
    doc = crime_report_html(
        crime_row,
        hits,
        evidence,
        gaps,
        radius_m=radius_m,
        map_png=png,
        map_href=map_path.name,
        provenance=provenance,
        devices=devices,
    )
    write_private(path, doc.encode("utf-8"))
    return {"report": path, "map": map_path, "png": png_path}


"""Headless browsers tried, in order, by :func:`print_pdf` (Debian's ``chromium``)."""


def print_pdf(html_path: str | Path, pdf_path: str | Path | None = None, *, timeout_s: float = 120.0) -> Path:
    """Print an HTML report to PDF with headless Chromium, offline.

    Parameters
    ----------
    html_path : str or Path
        The report, e.g. from :func:`write_crime_report`.
    pdf_path : str or Path, optional
        The PDF to write; ``html_path`` with the suffix ``.pdf`` when omitted.
    timeout_s : float, default 120.0
        Longest time the browser may take, seconds.

    Returns
    -------
    Path
        The PDF (owner-only).

    Raises
    ------
    InputError
        When no ``chromium`` or ``chromium-browser`` is on PATH, or the browser writes no PDF.

    Notes
    -----
    The browser runs with networking features off and a throw-away profile; the report holds
    no external reference, so nothing is fetched.
    """
    import os

    from trailmon._chromium import find_browser, run_headless

    html_path = Path(html_path).resolve()
    pdf_path = Path(pdf_path) if pdf_path is not None else html_path.with_suffix(".pdf")
    browser = find_browser()
    if browser is None:
        raise InputError(
            "printing to PDF needs headless Chromium, and neither chromium nor chromium-browser is "
            "on PATH; install Debian's chromium (apt-get install chromium) or print the HTML "
            "report from a browser"
        )
    pdf_path.unlink(missing_ok=True)
    done = run_headless(browser, html_path, "--no-pdf-header-footer", f"--print-to-pdf={pdf_path.resolve()}",
                        timeout_s=timeout_s)
    if not pdf_path.exists():
        raise InputError(
            f"{browser} wrote no PDF for {str(html_path)!r} (exit {done.returncode}): "
            f"{done.stderr.strip()[-300:]}"
        )
    os.chmod(pdf_path, 0o600)
    return pdf_path
