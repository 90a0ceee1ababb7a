"""The cohort report, in the page and printable on its own."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from flask import Blueprint, Response, g, render_template, request, session, url_for

from trailmon.errors import InputError
from trailmon.web._request import (
    DEFAULT_TZ,
    REPORT_CSP,
    _field,
    open_cases,
    page,
    trail_store,
)

bp = Blueprint("cohort", __name__)


@bp.get("/cohort")
@page("cohort")
def cohort():
    """The cohort report's period form (and the report in a frame once a period is given)."""
    import importlib.util

    available = importlib.util.find_spec("trailmon.report.cohort") is not None
    q = {"from": _field(request.args, "from") or "", "to": _field(request.args, "to") or ""}
    report_url = None
    if available and q["from"] and q["to"]:
        _cohort_period(q)  # checked here, so a bad period is refused on this page
        report_url = url_for("cohort.cohort_report", **q)
    return render_template("cohort.html", available=available, q=q, report_url=report_url, tz=DEFAULT_TZ)


@bp.get("/cohort/report")
@page("cohort")
def cohort_report():
    """The cohort report as a printable page of its own.

    Fixes and monitoring windows come from one trail-store generation (``TrailStore.snapshot``):
    an ingest committed while the report is written is not half seen (SPEC §8).
    """
    from trailmon.report.cohort import write_cohort_report

    q = {
        "from": _field(request.args, "from", required=True),
        "to": _field(request.args, "to", required=True),
    }
    t1, t2 = _cohort_period(q)
    with (
        trail_store().snapshot() as ts,
        open_cases() as cases,
        tempfile.TemporaryDirectory(prefix="trailmon-cohort-") as tmp,
    ):
        res = write_cohort_report(
            tmp,
            ts,
            cases,
            t1,
            t2,
            user=g.user.name,
            purpose=session["purpose"],
            parameters={"interface": "web"},
        )
        html = Path(res["outputs"]["html"]).read_text(encoding="utf-8")
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = REPORT_CSP
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    return resp


def _cohort_period(q: dict) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The cohort report's ``[from, to)``: days or times, in :data:`DEFAULT_TZ` unless given an offset."""
    from trailmon.io._time import parse_instant

    t1 = parse_instant(q["from"], DEFAULT_TZ, what="from")
    t2 = parse_instant(q["to"], DEFAULT_TZ, what="to")
    if t2 <= t1:
        raise InputError(f"'to' ({q['to']}) must be after 'from' ({q['from']})")
    if (t2 - t1).days > 400:
        raise InputError(f"a cohort report covers at most 400 days, got {(t2 - t1).days} days")
    return t1, t2
