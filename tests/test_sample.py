"""End to end on the shipped sample: the demo reproduces every planted outcome of expected.json."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import REPO
from trailmon.demo import run_demo

pytestmark = pytest.mark.slow
SAMPLE = REPO / "sample_traces"


def table(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, comment="#", dtype={"subject_id": str, "crime_ref": str})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    summary = run_demo(out, sample=SAMPLE, quiet=True)
    return out / "reports", summary, json.loads((SAMPLE / "expected.json").read_text())


def test_ingest_counts_add_up_and_bad_rows_coded(demo, tmp_path):
    _, summary, _ = demo
    ing = summary["ingest"]
    assert ing["read"] == ing["accepted"] + ing["rejected"]
    assert ing["accepted"] == ing["added"] + ing["already_stored"]
    bad = json.loads((SAMPLE / "trails" / "bad_rows.expected.json").read_text())
    q = pd.read_csv(ing["quarantine"])
    q = q[q["file"].str.endswith("bad_rows.csv")]
    want = {r["row"]: r["code"] for r in bad["rows"] if r["code"]}
    assert dict(zip(q["row"], q["reason"], strict=True)) == want


def _hits(reports, name):
    h = table(reports / f"proximity-{name}.csv")
    return {(r.crime_ref, str(r.crime_version), r.subject_id) for r in h.itertuples()}


def test_planted_crimes(demo):
    reports, _, exp = demo
    hits = {(c, s) for c, _, s in _hits(reports, "crimes")}
    gaps = table(reports / "proximity-crimes.gaps.csv")
    for ref, case in exp["crimes"].items():
        for s in case["subjects"]:
            assert ((ref, s["subject_id"]) in hits) == s["hit"], (ref, s)
        for sid in case.get("gaps_near_scene", []):
            assert ((gaps.crime_ref == ref) & (gaps.subject_id == sid)).any(), (ref, sid)


def test_planted_crime_mapping_versions(demo):
    reports, _, exp = demo
    hits = _hits(reports, "crime_mapping_NOT20260720")
    for ref, versions in exp["crime_mapping"].items():
        for version, subjects in versions.items():
            for s in subjects:
                assert ((ref, version, s["subject_id"]) in hits) == s["hit"], (ref, version, s)


def test_planted_police_uk(demo):
    reports, _, exp = demo
    hits = {(c, s) for c, _, s in _hits(reports, "police_uk_street")}
    for ref, subjects in exp["police_uk"].items():
        for s in subjects:
            assert ((ref, s["subject_id"]) in hits) == s["hit"], (ref, s)


def test_planted_appointments(demo):
    reports, _, exp = demo
    att = table(reports / "attendance.csv").set_index("appointment_id")
    for aid, case in exp["appointments"].items():
        assert att.loc[aid, "status"] == case["status"], (aid, att.loc[aid].to_dict())


def test_planted_zone_events(demo):
    reports, _, exp = demo
    z = table(reports / "zones.csv")
    for zid, case in exp["zones"].items():
        got = z[z.zone_id == zid]
        tol = pd.Timedelta(seconds=case["tolerance_s"])
        for ev in case["events"]:
            m = got[(got.event == ev["event"])
                    & ((pd.to_datetime(got.start) - pd.Timestamp(ev["start"])).abs() <= tol)
                    & ((pd.to_datetime(got.end) - pd.Timestamp(ev["end"])).abs() <= tol)]
            assert len(m) == 1, (zid, ev, got.to_dict("records"))
        if zid != "Z1":
            assert len(got) == len(case["events"]), (zid, got.to_dict("records"))
