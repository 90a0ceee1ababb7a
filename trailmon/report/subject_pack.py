"""An offender manager's supervision pack for one subject: one self-contained, printable HTML page.

Sections: the subject's identifiers, an attendance calendar (ISO weeks, local days), the
appointment outcomes, zone events, qualified proximity hits with their evidence, data quality per
day (coverage, gaps by length, LBS share, from the same computation as the cohort report) and a
small track map (matplotlib, store metres, no tiles, no network). Every figure comes from the
case-record store and the trail store; the metrics are those of :data:`trailmon.report.metrics.METRICS`.

A pack is a consultation of location data: refused without a user and a purpose, and audited.
The track map covers at most the last 48 h of the period unless a justification is given
(SPEC §5: a subject map wider than 48 h needs ``--justify``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from trailmon.errors import InputError
from trailmon.report import _html as H
from trailmon.report.cohort import (
    PERIOD_NOTE,
    _case_events,
    _check_period,
    daily_quality,
    definitions_html,
    num_table,
    report_periods,
    subject_attributes,
)
from trailmon.report.metrics import APPOINTMENT_STATUSES, GAP_BANDS, REPORT_TZ, metric_columns
from trailmon.trail import DEFAULT_MAX_GAP_S, FIX_HALO_S, FIX_TYPES, Trails

__all__ = ["MAP_CAP_S", "SubjectPack", "subject_pack", "subject_pack_html", "write_subject_pack"]

MAP_CAP_S = 48 * 3600.0
"""Longest track drawn without a justification, seconds (SPEC §5)."""

_CAPPED = "the last 48 h: a wider map needs a justification"


class SubjectPack(NamedTuple):
    """What the supervision pack shows (frames straight from the stores)."""

    subject: dict
    """``subject_id, cohort, offender_manager, crn, pnc_id, window_known``."""
    daily: pd.DataFrame
    """Data quality and events per local day: ``metric_columns("daily")``."""
    attendance: pd.DataFrame
    """Appointment outcomes starting in the period (case store ``attendance``)."""
    zone_events: pd.DataFrame
    """Zone events starting in the period (case store ``zone_events``)."""
    hits: pd.DataFrame
    """Qualified hits whose crime window overlaps the period, with the crime (only verdicts given on the
    hits' current figures and evidence, SPEC §8)."""
    evidence: pd.DataFrame
    """Evidence rows of those hits, as frozen with their verdicts."""
    hit_states: dict
    """Counts of this subject's hits in the period by review state."""
    trails: Trails
    """The subject's fixes over the period (for the map)."""
    t_from: pd.Timestamp
    t_to: pd.Timestamp
    devices: pd.DataFrame | None = None
    """The subject's monitoring windows overlapping the period with their EM device (case store
    ``subject_devices``: ``start_ns, end_ns, device_id, device_serial``), by start."""


def subject_pack(
    trail_store,
    cases,
    subject: str,
    t_from,
    t_to,
    *,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    tz: str = REPORT_TZ,
) -> SubjectPack:
    """Gather one subject's supervision pack.

    Parameters
    ----------
    trail_store : TrailStore
        Fixes and monitoring windows.
    cases : CaseStore
        The case-record store.
    subject : str
        The subject id.
    t_from, t_to : pandas.Timestamp
        The period ``[t_from, t_to)`` (tz-aware).
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    tz : str, default "Europe/London"
        Zone of the local days.

    Returns
    -------
    SubjectPack

    Raises
    ------
    InputError
        For an empty subject id, a subject neither store knows, or a bad period.
    """
    if not (subject and str(subject).strip()):
        raise InputError(f"subject must be a subject id, got {subject!r}")
    subject = str(subject).strip()
    t0, t1 = _check_period(t_from, t_to)
    s0, s1 = t0.value / 1e9, t1.value / 1e9
    attrs = subject_attributes(trail_store, cases)
    trails = trail_store.read(t0, t1, [subject], halo_s=max(float(max_gap_s), FIX_HALO_S))
    if subject not in set(attrs["subject_id"]) and trails.subject_index(subject) < 0:
        raise InputError(
            f"subject {subject!r} is in neither the case-record store nor the trail store; "
            "`trailmon review list` and the subjects files show the known ids"
        )
    attrs = subject_attributes(trail_store, cases, [subject])
    row = attrs[attrs["subject_id"] == subject].iloc[0].to_dict()
    ev = _case_events(cases, s0, s1)
    ev = {k: v[v["subject_id"] == subject].reset_index(drop=True) for k, v in ev.items()}
    daily, _ = daily_quality(trails, trail_store.windows(), [subject], t0, t1, max_gap_s=max_gap_s, tz=tz)
    row["window_known"] = bool(daily["window_known"].iloc[0]) if len(daily) else False
    from trailmon.report.cohort import _add_daily_events

    daily = _add_daily_events(daily, ev, tz, t0, t1)[metric_columns("daily")]
    h = ev["hits"]
    states = {
        st: int((h["review_state"] == st).sum()) if len(h) else 0
        for st in ("pending", "qualified", "rejected")
    }
    q = h[h["review_state"] == "qualified"] if len(h) else h
    if len(q):  # only verdicts given on the current figures and evidence (SPEC §8)
        q = q[q["hit_id"].astype(int).isin(cases.current_verdicts(q["hit_id"]))]
    hits = pd.DataFrame()
    evidence = pd.DataFrame()
    if len(q):
        ids = [int(i) for i in q["hit_id"]]
        marks = ",".join("?" * len(ids))
        dev = (  # the device of the monitoring window holding the closest approach (as CaseStore.hits)
            "(SELECT d.{0} FROM subject_devices d WHERE d.subject_id = h.subject_id AND d.start_ns <= "
            "h.closest_time_ns AND (d.end_ns IS NULL OR d.end_ns >= h.closest_time_ns) ORDER BY d.start_ns DESC "
            "LIMIT 1) AS {0}"
        )
        hits = cases.frame(
            "SELECT h.*, c.offence, c.offence_group, c.committed_from_ns, c.committed_to_ns, c.x_m, c.y_m, "
            "c.radius_m, " + dev.format("device_id") + ", " + dev.format("device_serial") + " "
            f"FROM hits h JOIN crimes c USING (force, crime_ref, crime_version) "
            f"WHERE h.hit_id IN ({marks}) ORDER BY c.committed_from_ns, h.hit_id",
            ids,
        )
        from trailmon.report.case_evidence import hit_evidence

        got = hit_evidence(cases, trail_store, ids)  # frozen with each verdict (or as matched)
        shown = [h for h, st in got.status.items() if st in ("frozen", "stored", "computed")]
        evidence = got.rows[got.rows["hit_id"].astype(int).isin(shown)].reset_index(drop=True)
    devices = cases.frame(
        "SELECT start_ns, end_ns, device_id, device_serial FROM subject_devices WHERE subject_id = ? "
        "AND start_ns < ? AND (end_ns IS NULL OR end_ns >= ?) ORDER BY start_ns",
        [subject, int(t1.value), int(t0.value)],
    )
    return SubjectPack(
        row, daily, ev["attendance"], ev["zone_events"], hits, evidence, states, trails, t0, t1, devices
    )


def _local(ns, tz: str) -> str:
    if ns is None or (isinstance(ns, float) and np.isnan(ns)):
        return ""
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").tz_convert(tz).strftime("%Y-%m-%d %H:%M:%S")


def _calendar(pack: SubjectPack, tz: str) -> str:
    """ISO weeks as rows, Monday to Sunday as columns; each day: appointments, breaches, coverage."""
    days = pack.daily.set_index("period_label")
    att = pack.attendance
    by_day: dict[str, list[str]] = {}
    for r in att.itertuples(index=False):
        d = pd.Timestamp(int(r.start_ns), unit="ns", tz="UTC").tz_convert(tz)
        by_day.setdefault(d.strftime("%Y-%m-%d"), []).append(
            f'<span class="st st-{H.esc(r.status)}">{H.esc(d.strftime("%H:%M"))} '
            f"{H.esc(r.appointment_id)}: {H.esc(r.status)}</span>"
        )
    weeks = report_periods(pack.t_from, pack.t_to, "week", tz)
    rows = []
    for w in weeks.itertuples(index=False):
        monday = pd.Timestamp(w.start).tz_localize(None).normalize()
        cells = [f"<th>{H.esc(w.label)}</th>"]
        for k in range(7):
            day = (monday + pd.Timedelta(days=k)).strftime("%Y-%m-%d")
            if day not in days.index:
                cells.append(f'<td class="out">{day[5:]}</td>')
                continue
            d = days.loc[day]
            bits = [f"<b>{day[5:]}</b>"] + by_day.get(day, [])
            if d["zone_breaches"]:
                bits.append(f'<span class="st st-breach">zone breaches {int(d["zone_breaches"])}</span>')
            if d["zone_no_data"]:
                bits.append(f'<span class="st st-nodata">zone no_data {int(d["zone_no_data"])}</span>')
            cov = d["coverage"]
            bits.append(f"coverage {'' if pd.isna(cov) else f'{cov:.2f}'}")
            cells.append("<td>" + "<br>".join(bits) + "</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    head = "<tr><th>ISO week</th>" + "".join(
        f"<th>{d}</th>" for d in ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    )
    return f'<table class="cal"><thead>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _coverage_chart(daily: pd.DataFrame):
    fig = H.new_figure(7.0, 2.4)
    ax = fig.add_subplot()
    x = np.arange(len(daily))
    ax.bar(
        x,
        np.nan_to_num(daily["coverage"].to_numpy(float)),
        0.7,
        color="#1565c0",
        edgecolor="black",
        label="coverage",
    )
    lbs = daily["lbs_share"].to_numpy(float)
    ax.plot(x, np.nan_to_num(lbs), "o--", color="#c62828", label="LBS share")
    ax.set_xticks(
        x, [lab[5:] for lab in daily["period_label"]], rotation=90 if len(x) > 14 else 0, fontsize=7
    )
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("fraction (0-1)")
    ax.set_title("Data coverage and LBS share per local day")
    ax.legend(fontsize=7, loc="upper right")
    return fig


def _track_chart(trails: Trails, pack: SubjectPack, lo_s: float, hi_s: float, max_gap_s: float):
    """Fixes inside the monitoring windows in ``[lo_s, hi_s]``, coloured by time; venues and scenes."""
    fig = H.new_figure(6.0, 5.0)
    ax = fig.add_subplot()
    k = trails.subject_index(str(pack.subject["subject_id"]))
    drew = False
    if k >= 0:
        a, b = int(trails.offsets[k]), int(trails.offsets[k + 1])
        t, x, y = trails.t_s[a:b], trails.x_m[a:b], trails.y_m[a:b]
        ws, we = (
            trails.win_start_s[trails.win_offsets[k] : trails.win_offsets[k + 1]],
            trails.win_end_s[trails.win_offsets[k] : trails.win_offsets[k + 1]],
        )
        inwin = np.zeros(len(t), dtype=bool)
        for s, e in zip(ws, we, strict=True):
            inwin |= (t >= s) & (t <= e)
        sel = inwin & (t >= lo_s) & (t <= hi_s)
        t, x, y = t[sel], x[sel], y[sel]
        if len(t):
            drew = True
            brk = np.flatnonzero(np.diff(t) > max_gap_s) + 1
            for seg in np.split(np.arange(len(t)), brk):
                ax.plot(x[seg], y[seg], "-", color="#555", linewidth=0.6)
            sc = ax.scatter(x, y, c=(t - t[0]) / 3600.0, s=4, cmap="viridis", zorder=3)
            fig.colorbar(sc, ax=ax, label="hours since the first fix drawn")
            lbs = trails.fix_type[a:b][sel] == FIX_TYPES.index("lbs")
            if lbs.any():
                ax.scatter(x[lbs], y[lbs], marker="x", color="#c62828", s=16, label="LBS fix", zorder=4)
    if len(pack.hits):
        ax.scatter(
            pd.to_numeric(pack.hits["x_m"]),
            pd.to_numeric(pack.hits["y_m"]),
            marker="*",
            s=120,
            color="#b71c1c",
            edgecolor="black",
            label="crime scene (qualified hit)",
            zorder=5,
        )
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("easting (m)")
    ax.set_ylabel("northing (m)")
    ax.ticklabel_format(useOffset=False, style="plain")
    ax.tick_params(labelsize=7)
    ax.set_title("Track (store CRS metres; segments break at gaps > max_gap)", fontsize=9)
    if not drew:
        ax.text(
            0.5,
            0.5,
            "no fixes inside the monitoring windows in this span",
            ha="center",
            transform=ax.transAxes,
        )
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left")
    return fig


_EVIDENCE_COLS = [
    "hit_id",
    "label",
    "kind",
    "time",
    "distance_m",
    "within_r",
    "accuracy_m",
    "fix_type",
    "speed_kmh",
    "heading_deg",
    "easting",
    "northing",
    "flags",
]


def subject_pack_html(
    pack: SubjectPack,
    *,
    provenance: dict | None = None,
    map_from=None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    tz: str = REPORT_TZ,
) -> str:
    """The supervision pack as one self-contained HTML page.

    Parameters
    ----------
    pack : SubjectPack
        From :func:`subject_pack`.
    provenance : dict, optional
        Printed at the end.
    map_from : pandas.Timestamp, optional
        Start of the track drawn (tz-aware); the period's start when omitted.
    max_gap_s : float, default 600.0
        Longest gap drawn as a joined segment, seconds.
    tz : str, default "Europe/London"
        Zone of the local times shown.

    Returns
    -------
    str
        The HTML document, marked ``OFFICIAL-SENSITIVE`` in its header and on every printed page.
    """
    s = pack.subject
    prov = provenance or {}
    lo = pack.t_from if map_from is None else pd.Timestamp(map_from)
    att = pack.attendance.copy()
    if len(att):
        for c in ("start", "end", "arrival", "departure"):
            att[c] = [_local(v, tz) for v in att[f"{c}_ns"]]
        for c in ("inside_s", "coverage"):
            att[c] = pd.to_numeric(att[c]).astype(float)
    zev = pack.zone_events.copy()
    if len(zev):
        zev["start"] = [_local(v, tz) for v in zev["start_ns"]]
        zev["end"] = [_local(v, tz) for v in zev["end_ns"]]
        zev["breach"] = zev["breach"].astype(bool)
    hits = pack.hits.copy()
    if len(hits):
        for c in (
            "closest_time_ns",
            "first_within_ns",
            "last_within_ns",
            "committed_from_ns",
            "committed_to_ns",
        ):
            hits[c.replace("_ns", "")] = [_local(v, tz) for v in hits[c]]
        for c in ("min_distance_m", "dwell_s", "accuracy_m", "coverage"):
            hits[c] = pd.to_numeric(hits[c]).astype(float)
        hits["passes"] = pd.to_numeric(hits["passes"]).astype(np.int64)
    dv = pack.devices.copy() if pack.devices is not None else pd.DataFrame()
    if len(dv):
        dv["window_start"] = [_local(v, tz) for v in dv["start_ns"]]
        dv["window_end"] = [_local(v, tz) or "open" for v in dv["end_ns"]]
        for c in ("device_id", "device_serial"):
            dv[c] = [v if isinstance(v, str) and v else "not recorded" for v in dv[c]]
    ev = pack.evidence.copy()
    if len(ev):
        ev["time"] = [_local(v, tz) for v in ev["time_ns"]]
        ev["within_r"] = ev["within_r"].astype(bool)
        for c in ("distance_m", "accuracy_m", "speed_kmh", "heading_deg", "easting", "northing"):
            ev[c] = pd.to_numeric(ev[c]).astype(float)
        ev["hit_id"] = ev["hit_id"].astype(np.int64)
    d = pack.daily
    totals = {
        "monitored_s": float(d["monitored_s"].sum()),
        "known_s": float(d["known_s"].sum()),
    }
    cov = totals["known_s"] / totals["monitored_s"] if totals["monitored_s"] > 0 else float("nan")
    appt_counts = {
        st: int((pack.attendance["status"] == st).sum()) if len(pack.attendance) else 0
        for st in APPOINTMENT_STATUSES
    }
    summary = [
        ("subject", str(s["subject_id"])),
        ("CRN / PNC ID", f"{s.get('crn') or 'not recorded'} / {s.get('pnc_id') or 'not recorded'}"),
        ("cohort / offender manager", f"{s.get('cohort')} / {s.get('offender_manager')}"),
        (
            "monitoring window",
            "known"
            if s.get("window_known")
            else "unknown: counted as monitored where fixes exist (flag monitoring_window_unknown)",
        ),
        (
            "period",
            f"{H.local_text(pack.t_from, tz)} to {H.local_text(pack.t_to, tz)} ({tz}); "
            f"UTC {pack.t_from.isoformat()} to {pack.t_to.isoformat()}",
        ),
        (
            "data coverage",
            "" if np.isnan(cov) else f"{cov:.3f} of {totals['monitored_s'] / 3600:.1f} h monitored",
        ),
        ("appointments", ", ".join(f"{k} {v}" for k, v in appt_counts.items())),
        (
            "zone breaches / no-data spells",
            f"{int(d['zone_breaches'].sum())} / {int(d['zone_no_data'].sum())}",
        ),
        (
            "proximity hits",
            ", ".join(f"{k} {v}" for k, v in pack.hit_states.items()) + " (only qualified hits are shown)",
        ),
        ("requested by", f"{prov.get('user', '')}: {prov.get('purpose', '')}"),
        ("generated", str(prov.get("generated", ""))),
    ]
    track = _track_chart(pack.trails, pack, lo.value / 1e9, pack.t_to.value / 1e9, max_gap_s)
    parts = [
        f"<h1>Supervision pack: subject {H.esc(s['subject_id'])}</h1>",
        f'<p class="note">{H.esc(PERIOD_NOTE)} no_data is never a missed appointment and never '
        "compliance.</p>",
        H.kv(summary),
        "<h2>Monitoring windows and devices</h2>",
        num_table(
            dv,
            ["window_start", "window_end", "device_id", "device_serial"],
            "No recorded monitoring window overlaps the period.",
        ),
        "<h2>Attendance calendar</h2>",
        _calendar(pack, tz),
        "<h3>Appointments</h3>",
        num_table(
            att,
            [
                "appointment_id",
                "start",
                "end",
                "arrival",
                "departure",
                "status",
                "inside_s",
                "coverage",
                "flags",
                "outcome",
            ],
            "No appointment outcome in the period.",
        ),
        "<h2>Zone events</h2>",
        num_table(
            zev,
            ["zone_id", "kind", "event", "breach", "start", "end", "duration_s"],
            "No zone event in the period.",
        ),
        '<section class="part"><h2>Qualified proximity hits</h2>',
        '<p class="note">A hit does not show that the person committed or witnessed the crime; it covers '
        "only monitored time with data. Pending and rejected hits are not shown.</p>",
        num_table(
            hits,
            [
                "hit_id",
                "crime_ref",
                "crime_version",
                "device_id",
                "device_serial",
                "offence",
                "committed_from",
                "committed_to",
                "min_distance_m",
                "closest_time",
                "dwell_s",
                "passes",
                "confidence",
                "coverage",
                "reviewer",
            ],
            "No qualified hit in the period.",
        ),
        "<h3>Evidence</h3>",
        num_table(ev, _EVIDENCE_COLS, "No evidence rows."),
        "</section>",
        '<section class="part"><h2>Data quality per day</h2>',
        H.figure_html(_coverage_chart(d), "bar chart of daily data coverage and LBS share"),
        num_table(
            d,
            [
                "period_label",
                "monitored_s",
                "known_s",
                "coverage",
                *(b[0] for b in GAP_BANDS),
                "n_fixes",
                "lbs_share",
            ],
        ),
        "<h2>Track map</h2>",
        f'<p class="note">Track from {H.esc(H.local_text(lo, tz))} to {H.esc(H.local_text(pack.t_to, tz))} '
        f"({'the whole period' if lo <= pack.t_from else _CAPPED}).</p>",
        H.figure_html(track, "track map of the subject's fixes coloured by time"),
        "</section>",
        '<section class="part"><h2>Definitions</h2>',
        definitions_html(metric_columns("daily")[3:]),
        "<h2>Provenance</h2>",
        f'<pre class="note">{H.esc(json.dumps(prov, indent=1, default=str))}</pre>',
        "</section>",
    ]
    return H.page(f"supervision pack {s['subject_id']}", parts)


def write_subject_pack(
    path: str | Path,
    trail_store,
    cases,
    subject: str,
    t_from,
    t_to,
    *,
    user: str | None,
    purpose: str | None,
    justify: str | None = None,
    max_gap_s: float = DEFAULT_MAX_GAP_S,
    tz: str = REPORT_TZ,
) -> dict:
    """Write one subject's supervision pack (``.html``); a consultation, refused without identity, audited.

    Parameters
    ----------
    path : str or Path
        The pack, ``.html``.
    trail_store : TrailStore
        Fixes and monitoring windows; its audit log records the consultation.
    cases : CaseStore
        The case-record store.
    subject : str
        The subject id.
    t_from, t_to : pandas.Timestamp
        The period (tz-aware).
    user, purpose : str
        Who consults the data and why.
    justify : str, optional
        Why the track map may cover more than 48 h (audited); without it the map shows the last 48 h.
    max_gap_s : float, default 600.0
        Longest gap still interpolated, seconds.
    tz : str, default "Europe/London"
        Zone of the local days and times.

    Returns
    -------
    dict
        ``{"outputs": [path], "subject": S, "counts": {...}}``.

    Raises
    ------
    AccessRefusedError
        Without ``user`` or ``purpose``.
    InputError
        When ``path`` is not ``.html``, or for the reasons of :func:`subject_pack`.
    """
    from trailmon.map._offline import write_private
    from trailmon.report.writers import make_provenance
    from trailmon.store.audit import audit_run, require_identity

    user, purpose = require_identity(user, purpose, action="report subject")
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"the supervision pack is HTML; path must end in .html, got {str(path)!r}")
    pack = subject_pack(trail_store, cases, subject, t_from, t_to, max_gap_s=max_gap_s, tz=tz)
    justified = bool(justify and justify.strip())
    span = (pack.t_to - pack.t_from).total_seconds()
    map_from = (
        pack.t_from if (justified or span <= MAP_CAP_S) else pack.t_to - pd.Timedelta(seconds=MAP_CAP_S)
    )
    params = {
        "form": "subject",
        "subject": pack.subject["subject_id"],
        "from": pack.t_from.isoformat(),
        "to": pack.t_to.isoformat(),
        "map_from": map_from.isoformat(),
        "justify": justify.strip() if justified else None,
        "tz": tz,
        "max_gap_s": float(max_gap_s),
        "store": str(trail_store.path),
        "cases": str(cases.path),
        "out": str(path),
    }
    prov = make_provenance(
        "report subject",
        params,
        transformation=trail_store.crs.info.as_dict(),
        user=user,
        purpose=purpose,
        extra={"periods": PERIOD_NOTE},
    )
    doc = subject_pack_html(pack, provenance=prov, map_from=map_from, max_gap_s=max_gap_s, tz=tz)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, doc.encode("utf-8"))
    counts = {
        "appointments": len(pack.attendance),
        "zone_events": len(pack.zone_events),
        "qualified_hits": len(pack.hits),
        "evidence_rows": len(pack.evidence),
        "days": len(pack.daily),
    }
    audit_run(
        trail_store,
        user=user,
        purpose=purpose,
        action="report",
        kind="consultation",
        parameters=params,
        subjects=[pack.subject["subject_id"]],
        counts=counts,
    )
    return {"outputs": [str(path)], "subject": pack.subject["subject_id"], "counts": counts}
