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
    out = tmp_path_factory.mktemp("demo") / "out"
    summary = run_demo(out, sample=SAMPLE)
    (day,) = sorted(p for p in (out / "reports").iterdir() if p.is_dir())
    assert (out / "reports" / "metrics.prom").is_file()  # written by every nightly run (SPEC §8)
    return day, summary, json.loads((SAMPLE / "expected.json").read_text())


def test_demo_writes_reports_maps_and_an_index(demo):
    day, summary, _ = demo
    out = day.parent.parent
    assert summary["crime_reports"] and summary["subject_maps"]
    assert summary["cohort_report"] and summary["subject_packs"]
    page = (out / "index.html").read_text()
    assert "OFFICIAL-SENSITIVE" in page
    for p in summary["crime_reports"] + summary["subject_maps"] + summary["cohort_report"] + summary["subject_packs"]:
        assert Path(p).exists() and Path(p).relative_to(out).as_posix() in page
    from trailmon.store.audit import entries, verify

    assert verify(summary["audit_log"]) == len(entries(summary["audit_log"])) > 0
    assert {e["user"] for e in entries(summary["audit_log"])} == {"trailmon-demo", "trailmon-demo-reviewer"}


def test_demo_evidence_pack_receipts_and_streets(demo):
    """The planted hit of C02 qualified (audited) and packed; receipts for the crime files; maps over streets."""
    import docx

    from trailmon.store.audit import entries

    day, summary, _ = demo
    out = day.parent.parent
    page = (out / "index.html").read_text()
    (pack,) = [p for p in summary["evidence_packs"] if p.endswith(".docx")]
    assert Path(pack).relative_to(out).as_posix() in page
    d = docx.Document(pack)
    assert "Exhibit EMAC/04: table of positions" in [p.text for p in d.paragraphs]
    log = entries(summary["audit_log"])
    qualify = [e for e in log if e["action"] == "review qualify"]
    disclosed = [e for e in log if e["action"] == "report evidence"]
    assert qualify and qualify[0]["user"] == "trailmon-demo-reviewer" and qualify[0]["subjects"] == ["N02"]
    assert disclosed and disclosed[0]["seq"] > qualify[0]["seq"] and disclosed[0]["parameters"]["sha256"]
    crime_receipts = [p for p in summary["receipts"] if json.loads(Path(p).read_text())["kind"] == "crimes"]
    assert len(crime_receipts) == 3  # crimes.csv, the crime-mapping file, the police.uk file
    for p in crime_receipts:
        rec = json.loads(Path(p).read_text())
        assert rec["kind"] == "crimes" and rec["status"] in ("ingested", "partial")
        assert Path(p).relative_to(out).as_posix() in page
    cm = json.loads(Path(next(p for p in crime_receipts if "crime_mapping" in p)).read_text())
    assert (cm["force"], cm["batch_id"]) == ("NOT", "NOT20260720")
    # the demo's maps show the sample's streets
    assert summary["base_map"].endswith("basemap.geojson")
    for p in summary["subject_maps"] + [c.replace(".html", ".map.html") for c in summary["crime_reports"]]:
        html = Path(p).read_text()
        assert "Base map" in html and '"road"' in html


def test_bad_rows_quarantined_with_their_codes(demo):
    _, summary, _ = demo
    quarantine = Path(summary["store"]) / "quarantine"
    q = pd.concat([pd.read_csv(p) for p in quarantine.glob("*.csv")], ignore_index=True)
    q = q[q["file"].str.endswith("bad_rows.csv")]
    bad = json.loads((SAMPLE / "trails" / "bad_rows.expected.json").read_text())
    want = {r["row"]: r["code"] for r in bad["rows"] if r["code"]}
    assert dict(zip(q["row"], q["reason"], strict=True)) == want


def _hits(day, name=None):
    h = table(day / "hits.csv")
    return {(r.crime_ref, str(r.crime_version), r.subject_id) for r in h.itertuples()}


def test_planted_crimes(demo):
    reports, _, exp = demo
    hits = {(c, s) for c, _, s in _hits(reports, "crimes")}
    gaps = table(reports / "gaps.csv")
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
        assert len(got) == len(case["events"]), (zid, got.to_dict("records"))  # one event, one record


def test_demo_reruns_into_its_own_folder_only(tmp_path):
    from trailmon.errors import InputError

    other = tmp_path / "other"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not empty and holds no earlier demo"):
        run_demo(other, sample=SAMPLE)
    assert (other / "keep.txt").read_text() == "mine"
