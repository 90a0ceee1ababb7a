"""The crime-series consultation: read, rank, write the tables, the map and a printable report, audit.

``trailmon series`` and the Python API's users call :func:`run_series`; :func:`series_report_html`
is the printable page (ranked table, per-subject long form, method and disclaimer).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from trailmon.report import _html as H
from trailmon.report.writers import MARKING, make_provenance, sibling, write_table
from trailmon.runs import counts, quarantine_rejects, run_id, time_span
from trailmon.store._files import write_bytes_atomic
from trailmon.store.audit import audit_run

__all__ = ["SERIES_DISCLAIMER", "run_series", "series_report_html"]

SERIES_DISCLAIMER = (
    "A ranking is a lead for an analyst, never evidence. A low p_tail says a subject was near more of these "
    "crimes, at their times of day, than their own routine on the 28 surrounding days explains; it does not "
    "show the person committed or witnessed any crime. It covers only monitored subjects while their "
    "equipment could be monitored; days with less than 50 % coverage are left out of the baseline."
)

DAY_S = 86_400.0


def run_series(store, crimes_path: str | Path, out: str | Path, *, user: str, purpose: str,
               radius_m: float | None = None, days: int = 14, max_gap_s: float = 600.0, tz: str | None = None,
               map_out: str | Path | None = None, report_out: str | Path | None = None, top: int = 5) -> dict:
    """Rank the store's subjects against a crime series; the ranked table to ``out``, the long form beside it.

    Parameters
    ----------
    store : TrailStore
        The trail store.
    crimes_path : path
        The series, any crime layout (SPEC §2).
    out : path
        The ranked table (.csv, .jsonl, .geojson, .parquet); the long form goes to ``<stem>.long<ext>``.
    user, purpose : str
        Who consults and why (audited).
    radius_m : float, optional
        Radius for crimes without one, metres (100 when omitted).
    days : int, default 14
        Shifted local days either side.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    tz : str, optional
        Zone of crime times written without an offset.
    map_out, report_out : path, optional
        Also write the series map and the printable report (HTML).
    top : int, default 5
        Subjects drawn on the map.

    Returns
    -------
    dict
        ``{"crimes": {...}, "subjects": n, "outputs": [...]}`` (the ``--json`` summary).
    """
    from trailmon.io.crimes import distinct_crimes, read_crimes
    from trailmon.match.series import hit_subjects, series

    crimes = read_crimes(crimes_path, crs=store.crs, tz=tz, radius_m=radius_m)
    rid = run_id("series")
    qpath = quarantine_rejects(store, crimes, rid)
    accepted = distinct_crimes(crimes.accepted)
    radius = radius_m if radius_m is not None else 100.0
    halo = max(max_gap_s, 60.0)
    t1, t2 = time_span(accepted["committed_from"], accepted["committed_to"])
    near = hit_subjects(store.read_span(t1, t2, halo_s=halo), accepted, radius_m=radius, max_gap_s=max_gap_s)
    if near:
        # a local day is 23-25 h: one extra day either side covers every shifted window
        pad = pd.Timedelta(seconds=(days + 1) * DAY_S)
        trails = store.read(t1 - pad, t2 + pad, near, halo_s=halo)
    else:
        trails = store.read_span(None, None)
    result = series(trails, accepted, radius_m=radius, max_gap_s=max_gap_s, days=days)
    params = {"radius_m": radius, "max_gap_s": max_gap_s, "days": days, "crimes": str(crimes_path),
              "crime_layout": crimes.info.get("layout"), "tz": tz, "store": str(store.path), "run_id": rid}
    prov = make_provenance("series", params, transformation=store.crs.info.as_dict(), inputs=[crimes_path],
                           user=user, purpose=purpose)
    outputs = [write_table(result.ranked, out, prov), write_table(result.long, sibling(out, "long"), prov)]
    if map_out is not None:
        from trailmon.map import save_map
        from trailmon.map.series import series_map

        m = series_map(trails, accepted, result.ranked, top=top, radius_m=radius, max_gap_s=max_gap_s,
                       crs=store.crs)
        save_map(m, map_out)
        outputs.append(Path(map_out))
    if report_out is not None:
        write_bytes_atomic(Path(report_out), series_report_html(accepted, result.ranked, result.long, prov).encode())
        outputs.append(Path(report_out))
    summary = {"crimes": counts(crimes), "subjects": len(result.ranked), "outputs": [str(p) for p in outputs]}
    if qpath:
        summary["quarantine"] = qpath
    audit_run(store, user=user, purpose=purpose, action="series", kind="consultation", parameters=params,
              subjects=list(result.ranked["subject_id"]), counts={"subjects": len(result.ranked)})
    return summary


def _fmt(v, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1e-3 and v != 0 else f"{v:.{digits}f}"
    return str(v)


def _table(df: pd.DataFrame, cols: list[str]) -> str:
    head = "".join(f"<th>{H.esc(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{H.esc(_fmt(v))}</td>" for v in row) + "</tr>"
                   for row in df[cols].itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def series_report_html(crimes: pd.DataFrame, ranked: pd.DataFrame, long: pd.DataFrame, provenance: dict) -> str:
    """The printable series report: the crimes, the ranking, each listed subject's crimes, method, disclaimer.

    Parameters
    ----------
    crimes : DataFrame
        The series (``crime_ref``, ``committed_from``, ``committed_to``, optional ``offence``).
    ranked, long : DataFrame
        :func:`trailmon.match.series.series` output (``SERIES``, ``SERIES_LONG``).
    provenance : dict
        The run's provenance record (:func:`trailmon.report.writers.make_provenance`).

    Returns
    -------
    str
        A complete HTML document, marked ``OFFICIAL-SENSITIVE`` on every printed page; all input text escaped.
    """
    cr = pd.DataFrame({
        "no": range(1, len(crimes) + 1),
        "crime_ref": crimes["crime_ref"].astype(str).to_numpy(),
        "offence": (crimes["offence"] if "offence" in crimes.columns else pd.Series([""] * len(crimes))).fillna(
            "").astype(str).to_numpy(),
        "from (UK local)": [H.local_text(pd.Timestamp(t), "Europe/London") for t in crimes["committed_from"]],
        "to (UK local)": [H.local_text(pd.Timestamp(t), "Europe/London") for t in crimes["committed_to"]],
    })
    parts = [
        f"<h1>Crime series: {len(crimes)} crime(s), {len(ranked)} subject(s) with a hit</h1>",
        f'<p class="note">{MARKING}. Generated {H.esc(provenance.get("generated", ""))} for '
        f'{H.esc(provenance.get("user", ""))}: {H.esc(provenance.get("purpose", ""))}.</p>',
        "<h2>Crimes</h2>", _table(cr, list(cr.columns)),
        "<h2>Subjects, most surprising first</h2>",
        '<p class="note">n_hits: crimes hit; expected_hits: hits the routine alone explains (sum of p); '
        "n_unknown: crimes without a counted day; p_tail: chance of at least this many hits from routine "
        "alone; routine_hits: hits where the subject is there on most days anyway (p &ge; 0.5).</p>",
        _table(ranked, list(ranked.columns)) if len(ranked) else '<p class="note">No subject was within R.</p>',
    ]
    for sid in ranked["subject_id"].tolist():
        mine = long[long["subject_id"] == sid]
        parts += [f"<h3>{H.esc(sid)}</h3>", _table(mine, ["crime_ref", "crime_version", "hit", "p",
                                                          "counted_days"])]
    parts += [
        "<h2>Method</h2>",
        '<p class="note">For each crime, the window is moved by whole days on the UK wall clock (-14..-1 and '
        "1..14, so 09:00-10:00 stays 09:00-10:00 across a clock change). A moved day counts when the subject "
        "was monitored throughout and the position was known for at least half of the window; p is the share "
        "of counted days on which the subject was within R at some instant (the proximity rule). p_tail is "
        "exact (Poisson-binomial by convolution).</p>",
        f'<h2>Disclaimer</h2><div class="disclaimer">{H.esc(SERIES_DISCLAIMER)}</div>',
        "<h2>Provenance</h2>",
        f'<pre class="note">{H.esc(json.dumps(provenance, indent=1, default=str))}</pre>',
    ]
    return H.page(f"crime series of {len(crimes)} crime(s)", parts)
