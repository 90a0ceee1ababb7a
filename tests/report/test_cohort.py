"""The cohort report: figures recomputed from the case-record store and the trail store, files, HTML."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.test_nightly import drop, nightly, week
from trailmon.errors import AccessRefusedError, InputError
from trailmon.match._kernels import coverage_window
from trailmon.report.cohort import cohort_tables, report_periods, write_cohort_report
from trailmon.report.metrics import METRICS, metric_columns
from trailmon.store import audit
from trailmon.store.cases import CaseStore
from trailmon.store.trails import TrailStore

T0 = pd.Timestamp("2026-07-13T00:00:00+01:00")
T1 = pd.Timestamp("2026-07-20T00:00:00+01:00")


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """Four nights of the generated week (tests/test_nightly.py): hits of S1/S2, A1-A2 of S2, zone Z1 of S1;
    one hit qualified and one rejected."""
    root = tmp_path_factory.mktemp("cohort")
    for n, files in week().items():
        if n <= 4:
            drop(root / "inbox", files)
    nightly(root, 4)
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        ids = [int(i) for i in cases.hits()["hit_id"]]
        cases.review(ids[0], "qualified", user="rev")
        cases.review(ids[1], "rejected", user="rev", reason="on a bus")
        with cases.transaction() as c:  # an offender manager for one subject
            c.execute("UPDATE subjects SET offender_manager = 'OM One' WHERE subject_id = 'S1'")
    return root


def open_stores(root):
    return TrailStore(root / "store"), CaseStore(root / "store" / "cases.sqlite")


@pytest.fixture(scope="module")
def tables(filled):
    ts, cs = open_stores(filled)
    with cs:
        return cohort_tables(ts, cs, T0, T1)


def row(tables, group_by, group, period="report"):
    c = tables.cohort
    sel = c[(c["group_by"] == group_by) & (c["group"] == group) & (c["period"] == period)]
    assert len(sel) == 1
    return sel.iloc[0]


def test_columns_are_the_metric_table(tables):
    assert list(tables.cohort.columns) == metric_columns("cohort")
    assert list(tables.hits.columns) == metric_columns("hits")
    assert list(tables.daily.columns) == metric_columns("daily")
    names = {m.name for m in METRICS}
    assert set(tables.cohort.columns) | set(tables.hits.columns) | set(tables.daily.columns) <= names | {
        "subject_id"
    }


def test_figures_recomputed_by_sql(filled, tables):
    _, cases = open_stores(filled)
    lo, hi = T0.value, T1.value
    with cases:
        att = cases.frame(
            "SELECT s.cohort, a.status, COUNT(*) AS n FROM attendance a JOIN subjects s USING (subject_id) "
            "WHERE a.start_ns >= ? AND a.start_ns < ? GROUP BY s.cohort, a.status",
            [lo, hi],
        )
        hits = cases.frame(
            "SELECT s.cohort, h.review_state, COUNT(*) AS n, COUNT(DISTINCT h.crime_ref) AS crimes FROM hits h "
            "JOIN subjects s USING (subject_id) JOIN crimes c USING (force, crime_ref, crime_version) "
            "WHERE c.committed_from_ns < ? AND c.committed_to_ns >= ? GROUP BY s.cohort, h.review_state",
            [hi, lo],
        )
        zones = cases.frame(
            "SELECT COUNT(*), SUM(duration_s) FROM zone_events WHERE kind = 'exclusion' AND event = 'visit' "
            "AND start_ns >= ? AND start_ns < ?",
            [lo, hi],
        )
        nodata = cases.frame(
            "SELECT COUNT(*) FROM zone_events WHERE event = 'no_data' AND start_ns >= ? AND start_ns < ?", [lo, hi]
        )
    assert len(att) and len(hits)
    for r in att.itertuples(index=False):
        assert row(tables, "cohort", r.cohort)[f"appt_{r.status}"] == r.n
    for r in hits.itertuples(index=False):
        assert row(tables, "cohort", r.cohort)[f"hits_{r.review_state}"] == r.n
    total = row(tables, "all", "all")
    assert total["hits_qualified"] == 1 and total["hits_rejected"] == 1
    assert total["zone_breaches"] == zones.iloc[0, 0] > 0
    assert total["zone_breach_s"] == pytest.approx(zones.iloc[0, 1])
    assert total["zone_no_data"] == nodata.iloc[0, 0]
    assert total["appointments"] == att["n"].sum()
    # weeks and months add up to the report period (all additive counts)
    for col in ("appointments", "appt_no_data", "hits_pending", "zone_breaches", "monitored_days", "n_fixes"):
        for period in ("week", "month"):
            c = tables.cohort
            assert c[(c.group_by == "all") & (c.period == period)][col].sum() == total[col], (col, period)
    # cohorts and offender managers partition the subjects
    for col in ("appointments", "hits_pending", "monitored_s", "gaps_gt_60min"):
        c = tables.cohort
        rep = c[c.period == "report"]
        assert rep[rep.group_by == "cohort"][col].sum() == pytest.approx(total[col])
        assert rep[rep.group_by == "offender_manager"][col].sum() == pytest.approx(total[col])
    assert row(tables, "offender_manager", "OM One")["subjects_monitored"] == 1


def test_coverage_recomputed_with_the_shared_kernel(filled, tables):
    store, _ = open_stores(filled)
    tr = store.read(T0, T1)
    d = tables.daily
    for sid, day in (("S1", "2026-07-14"), ("S2", "2026-07-13"), ("S3", "2026-07-17")):
        k = tr.subject_index(sid)
        p = report_periods(T0, T1, "day")
        a, b = p.set_index("label").loc[day, ["start_s", "end_s"]]
        wlo, whi = int(tr.win_offsets[k]), int(tr.win_offsets[k + 1])
        ref = coverage_window(
            tr.t_s, int(tr.offsets[k]), int(tr.offsets[k + 1]), a, b, 600.0, 60.0, tr.win_start_s, tr.win_end_s,
            wlo, whi,
        )
        got = d[(d.subject_id == sid) & (d.period_label == day)].iloc[0]
        assert got["coverage"] == pytest.approx(ref, abs=1e-12)  # monitored all day: same denominator
    # each subject day 1-3 (UTC noon to 14:00 every minute): 2 h + 2 x 60 s halo known
    s1 = d[(d.subject_id == "S1") & (d.period_label == "2026-07-14")].iloc[0]
    assert s1["known_s"] == pytest.approx(7320.0) and s1["monitored_s"] == 86400.0


def test_no_data_is_neither_missed_nor_attended(tables):
    flex = row(tables, "cohort", "flex")
    assert flex["appt_no_data"] >= 1
    assert flex["appointments_judged"] == flex["appointments"] - flex["appt_no_data"] - flex["appt_not_monitored"]
    assert flex["missed_share"] == pytest.approx(flex["appt_not_attended"] / flex["appointments_judged"])
    assert flex["attended_share"] == pytest.approx(flex["appt_attended"] / flex["appointments_judged"])


def test_write_files_marking_html_and_audit(filled, tmp_path):
    store, cases = open_stores(filled)
    with cases:
        res = write_cohort_report(tmp_path / "out", store, cases, T0, T1, user="panel", purpose="IOM panel")
    out = res["outputs"]
    for key in ("cohort", "hits", "daily", "metrics"):
        text = Path(out[key]).read_text()
        assert text.startswith("# marking: OFFICIAL-SENSITIVE\n")
    csv = pd.read_csv(out["cohort"], comment="#")
    assert list(csv.columns) == metric_columns("cohort")
    doc = Path(out["html"]).read_text()
    assert doc.count("OFFICIAL-SENSITIVE") >= 3 and "ISO weeks (Monday to Sunday)" in doc and "Europe/London" in doc
    assert doc.count('src="data:image/png;base64,') == 4
    assert not re.search(r'(src|href)="(https?:)?//', doc)  # nothing fetched from a network
    for m in METRICS:
        assert f"<td>{m.name}</td>" in doc
    e = audit.entries(store.audit_path)[-1]
    assert (e["user"], e["purpose"], e["action"], e["kind"]) == ("panel", "IOM panel", "report", "consultation")
    assert e["parameters"]["form"] == "cohort" and e["subjects"] == ["S1", "S2", "S3"]
    assert audit.verify(store.audit_path) == len(audit.entries(store.audit_path))


@pytest.mark.parametrize(("user", "purpose"), [(None, "p"), ("u", None), ("  ", "p")])
def test_refused_without_user_and_purpose(filled, tmp_path, user, purpose):
    store, cases = open_stores(filled)
    n = len(audit.entries(store.audit_path))
    with cases, pytest.raises(AccessRefusedError, match="report cohort discloses location data"):
        write_cohort_report(tmp_path / "o", store, cases, T0, T1, user=user, purpose=purpose)
    assert not (tmp_path / "o").exists() and len(audit.entries(store.audit_path)) == n


def test_period_errors(filled):
    store, cases = open_stores(filled)
    with cases:
        with pytest.raises(InputError, match=r"t_from must carry a time zone .*'2026-07-13 00:00:00'"):
            cohort_tables(store, cases, pd.Timestamp("2026-07-13"), T1)
        with pytest.raises(InputError, match=r"t_to \(.*\) must be after t_from"):
            cohort_tables(store, cases, T1, T0)


def screenshot(page, tmp_path):
    from PIL import Image

    from trailmon._chromium import find_browser, run_headless

    browser = find_browser()
    if browser is None:
        pytest.skip("no chromium or chromium-browser on PATH (apt-get install -y chromium to run this test)")
    shot = tmp_path / "shot.png"
    done = run_headless(browser, page, f"--screenshot={shot}", "--window-size=1200,1600",
                        profile=tmp_path / "profile")
    assert shot.exists(), f"no screenshot; chromium said: {done.stderr[-2000:]}"
    return np.asarray(Image.open(shot).convert("RGB"))


def test_html_renders_in_headless_chromium_with_charts(filled, tmp_path):
    store, cases = open_stores(filled)
    with cases:
        res = write_cohort_report(tmp_path / "out", store, cases, T0, T1, user="panel", purpose="IOM panel")
    img = screenshot(tmp_path / "out" / "cohort.html", tmp_path)
    assert img.shape[:2] == (1600, 1200)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 100  # charts drawn, not a blank page
    green = (img[..., 0] < 80) & (img[..., 1] > 100) & (img[..., 2] < 80)
    assert green.sum() > 500  # the appointments chart's 'attended' bars (#2e7d32)
    assert json.loads(json.dumps(res))["counts"]["appointments"] >= 1
