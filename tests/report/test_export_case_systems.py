"""The export for case systems (``trailmon export``) against the cohort-report issue's requirements."""

from __future__ import annotations

import json

import jsonschema
import pandas as pd

from tests.report.test_cohort import filled  # noqa: F401 (fixture)
from trailmon.cli import main
from trailmon.store import audit
from trailmon.store.cases import CaseStore, load_schema


def export(root, out, capsys):
    code = main(["export", "--store", str(root / "store"), "--out", str(out), "--recipient", "nDelius",
                 "--user", "om", "--purpose", "case system update"])
    capsys.readouterr()
    return code


def test_export_rows_keyed_valid_and_qualified_only(filled, tmp_path, capsys):  # noqa: F811
    assert export(filled, tmp_path / "e.jsonl", capsys) == 0
    assert export(filled, tmp_path / "e.csv", capsys) == 0
    schema = load_schema()
    validator = jsonschema.Draft202012Validator(schema)
    rows = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text().splitlines()]
    for r in rows:
        validator.validate(r)
    csv = pd.read_csv(tmp_path / "e.csv", comment="#", dtype=str, keep_default_na=False)
    assert csv.iloc[0, 0] != "" and list(csv.columns) == list(schema["properties"]) and len(csv) == len(rows)
    assert (tmp_path / "e.csv").read_text().startswith("# marking: OFFICIAL-SENSITIVE")
    s1 = [r for r in rows if r["subject_id"] == "S1"]
    assert s1 and all(r["crn"] == "A123456" and r["pnc_id"] == "2012/0123456Y" and r["cohort"] == "fixed"
                      for r in s1)
    hits = [r for r in rows if r["event_type"] == "proximity_hit"]
    with CaseStore(filled / "store" / "cases.sqlite") as cases:
        q = cases.hits(state="qualified")
        att = cases.frame("SELECT COUNT(*) FROM attendance").iloc[0, 0]
    assert [r["record_id"] for r in hits] == [f"hit:{i}" for i in q["hit_id"]]  # only qualified hits leave
    assert all(r["review_state"] == "qualified" and r["crime_ref"] and r["start"] for r in hits)
    types = {r["event_type"] for r in rows}
    assert types == {"proximity_hit", "appointment_outcome", "zone_event"}
    assert sum(r["event_type"] == "appointment_outcome" for r in rows) == att
    assert all(r["status"] and r["start"] is not None for r in rows)


def test_export_logged_as_disclosure_with_recipient(filled, tmp_path, capsys):  # noqa: F811
    assert export(filled, tmp_path / "e.jsonl", capsys) == 0
    e = audit.entries(filled / "store" / "audit.jsonl")[-1]
    assert (e["action"], e["kind"], e["recipient"], e["user"]) == ("export", "disclosure", "nDelius", "om")
    code = main(["export", "--store", str(filled / "store"), "--out", str(tmp_path / "x.csv"), "--user", "om",
                 "--purpose", "p"])
    assert code == 3 and "--recipient" in capsys.readouterr().err
