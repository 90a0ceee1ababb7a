"""``trailmon associations`` end to end: episodes, case records of kind association and their review, map, audit."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from convertbng.cutil import convert_lonlat

from trailmon.cli import main

E0, N0 = 430000.0, 433000.0
T0 = pd.Timestamp("2026-07-14T13:00:00Z")


def _walk(sid, dn, minutes=12):
    e = E0 + 1.4 * 60 * np.arange(minutes + 1)
    lon, lat = convert_lonlat(e, np.full(minutes + 1, N0 + dn))
    return [f"{sid},{(T0 + pd.Timedelta(minutes=k)).isoformat().replace('+00:00', 'Z')},{lat[k]:.10f},"
            f"{lon[k]:.10f},5,gps" for k in range(minutes + 1)]


@pytest.fixture
def store(tmp_path):
    trails = tmp_path / "trails.csv"
    rows = _walk("A", 0.0) + _walk("B", 30.0) + _walk("C", 900.0)
    trails.write_text("subject_id,timestamp,lat,lon,accuracy_m,fix_type\n" + "\n".join(rows) + "\n")
    path = tmp_path / "store"
    assert main(["ingest", "--store", str(path), str(trails)]) == 0
    return path


def _run(store, out, *extra):
    return main(["associations", "--store", str(store), "--from", "2026-07-14T12:00:00Z", "--to",
                 "2026-07-14T15:00:00Z", "--out", str(out), "--user", "analyst1", "--purpose", "op Y", "--json",
                 *extra])


def test_associations_write_record_review_and_audit(tmp_path, store, capsys):
    out = tmp_path / "together.csv"
    assert _run(store, out, "--map", str(tmp_path / "episode.html")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["episodes"] == 1 and summary["recorded"]["new"] == 1
    ep = pd.read_csv(out, comment="#")
    assert ep[["subject_a", "subject_b"]].values.tolist() == [["A", "B"]]
    assert ep["duration_s"].iloc[0] == pytest.approx(720.0, abs=1e-3)
    assert ep["min_distance_m"].iloc[0] == pytest.approx(30.0, abs=0.05)  # OSTN15 round trip of the inputs
    html = (tmp_path / "episode.html").read_text()
    assert "Track A" in html and "Track B" in html and "OFFICIAL-SENSITIVE" in html
    # a re-run records nothing new
    assert _run(store, out) == 0
    assert json.loads(capsys.readouterr().out)["recorded"]["unchanged"] == 1
    # reviewed like hits
    assert main(["review", "--store", str(store), "--user", "rev1", "list", "--kind", "association", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["associations"]
    assert [(r["subject_a"], r["subject_b"], r["review_state"]) for r in rows] == [("A", "B", "pending")]
    aid = str(rows[0]["association_id"])
    assert main(["review", "--store", str(store), "--user", "rev1", "qualify", aid, "--kind", "association"]) == 0
    capsys.readouterr()
    assert main(["review", "--store", str(store), "--user", "rev1", "reject", aid, "--kind", "association",
                 "--reason", "dup"]) == 1
    assert "already qualified" in capsys.readouterr().err
    entries = [json.loads(x) for x in (store / "audit.jsonl").read_text().splitlines()]
    assert [e["action"] for e in entries if e["action"].startswith(("associations", "review"))] == [
        "associations", "associations", "review list", "review qualify"]


def test_subject_filter_and_refusal(tmp_path, store, capsys):
    assert _run(store, tmp_path / "c.csv", "--subject", "C") == 0
    assert json.loads(capsys.readouterr().out)["episodes"] == 0
    code = main(["associations", "--store", str(store), "--from", "2026-07-14T12:00:00Z", "--to",
                 "2026-07-14T15:00:00Z", "--out", str(tmp_path / "x.csv"), "--user", "analyst1"])
    assert code == 3
    code = main(["associations", "--store", str(store), "--from", "2026-07-14T12:00:00", "--to",
                 "2026-07-14T15:00:00Z", "--out", str(tmp_path / "x.csv"), "--user", "u", "--purpose", "p"])
    assert code == 1 and "--tz" in capsys.readouterr().err


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_export_carries_qualified_associations_one_record_per_subject(tmp_path, store, capsys, suffix):
    import jsonschema

    from trailmon.store.cases import load_schema

    def export(name):
        out = tmp_path / name
        assert main(["export", "--store", str(store), "--out", str(out), "--recipient", "IOM panel", "--user",
                     "om1", "--purpose", "IOM panel briefing", "--json"]) == 0
        return out, json.loads(capsys.readouterr().out)

    assert _run(store, tmp_path / "together.csv") == 0
    capsys.readouterr()
    out, js = export(f"pending{suffix}")
    assert js["records"] == 0  # a pending episode is never exported
    assert main(["review", "--store", str(store), "--user", "rev1", "qualify", "1", "--kind", "association"]) == 0
    capsys.readouterr()
    out, js = export(f"qualified{suffix}")
    assert js["by_event_type"] == {"association": 2}
    schema = load_schema()
    if suffix == ".jsonl":
        recs = [json.loads(line) for line in out.read_text().splitlines()]
        for r in recs:
            jsonschema.Draft202012Validator(schema).validate(r)
    else:
        frame = pd.read_csv(out, comment="#", dtype=str, keep_default_na=False)
        assert list(frame.columns) == list(schema["properties"])
        recs = frame.to_dict("records")
    assert [(r["record_id"], r["subject_id"], r["other_subject_id"]) for r in recs] == [
        ("association:1:A", "A", "B"), ("association:1:B", "B", "A")]
    assert all(r["reviewer"] == "rev1" and r["event_type"] == "association" for r in recs)
    e = [json.loads(x) for x in (store / "audit.jsonl").read_text().splitlines()][-1]
    assert (e["action"], e["subjects"], e["counts"]["association"]) == ("export", ["A", "B"], 2)
