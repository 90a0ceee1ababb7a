"""``trailmon review`` and ``trailmon export``: review flow, refusals, schema-valid exports, audit."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.test_nightly import SUBJECTS, appointments_csv, crimes_csv, daily_crime, drop, nightly, trail_csv
from trailmon.cli import main
from trailmon.store import audit
from trailmon.store.cases import load_schema


@pytest.fixture
def root(tmp_path):
    """Two days matched by the nightly job: hits K1, K2 (S1), outcomes A1 (S2)."""
    drop(
        tmp_path / "inbox",
        [
            ("subjects", "s.csv", SUBJECTS),
            ("appointments", "a.csv", appointments_csv()),
            ("trails", "d1.csv", trail_csv(1)),
            ("trails", "d2.csv", trail_csv(2)),
            ("crimes", "c.csv", crimes_csv([daily_crime(1), daily_crime(2)])),
        ],
    )
    nightly(tmp_path, 2)
    return tmp_path


def cli(capsys, *argv):
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_list_json_then_qualify_and_reject(root, capsys):
    store = str(root / "store")
    code, out, _ = cli(capsys, "review", "--store", store, "list", "--json", "--user", "rev1")
    assert code == 0
    hits = json.loads(out)["hits"]
    assert [(h["crime_ref"], h["subject_id"], h["review_state"]) for h in hits] == [
        ("K1", "S1", "pending"),
        ("K2", "S1", "pending"),
    ]
    ids = [h["hit_id"] for h in hits]
    assert cli(capsys, "review", "--store", store, "qualify", str(ids[0]), "--user", "rev1")[0] == 0
    code, out, _ = cli(
        capsys,
        "review",
        "--store",
        store,
        "--user",
        "rev2",
        "--json",
        "reject",
        str(ids[1]),
        "--reason",
        "bus route, not on foot",
    )
    assert code == 0 and json.loads(out)["review_state"] == "rejected"
    code, out, _ = cli(capsys, "review", "--store", store, "list", "--json", "--user", "rev1")
    got = {
        h["hit_id"]: (h["review_state"], h["reviewer"], h["review_reason"]) for h in json.loads(out)["hits"]
    }
    assert got == {
        ids[0]: ("qualified", "rev1", None),
        ids[1]: ("rejected", "rev2", "bus route, not on foot"),
    }
    # ids are stable: a later run that re-matches the crimes keeps them and their review state
    drop(root / "inbox", [("trails", "d2-late.csv", trail_csv(2).replace("S3,", "S4,"))])
    nightly(root, 3)
    code, out, _ = cli(capsys, "review", "--store", store, "list", "--json", "--user", "rev1")
    again = {
        h["hit_id"]: (h["review_state"], h["reviewer"], h["review_reason"]) for h in json.loads(out)["hits"]
    }
    assert again == got
    actions = [
        e["action"] for e in audit.entries(root / "store" / "audit.jsonl") if e["user"] in ("rev1", "rev2")
    ]
    assert actions.count("review qualify") == 1 and actions.count("review reject") == 1


def test_review_errors(root, capsys):
    store = str(root / "store")
    code, _, err = cli(capsys, "review", "--store", store, "list")
    assert code == 3 and "--user" in err
    code, _, err = cli(capsys, "review", "--store", store, "qualify", "999", "--user", "rev")
    assert code == 1 and "no hit with id 999" in err
    assert cli(capsys, "review", "--store", store, "qualify", "1", "--user", "rev")[0] == 0
    code, _, err = cli(capsys, "review", "--store", store, "reject", "1", "--reason", "x", "--user", "rev")
    assert code == 1 and "already qualified by rev" in err
    with pytest.raises(SystemExit) as exc:
        main(["review", "--store", store, "reject", "2", "--user", "rev"])
    assert exc.value.code == 2  # --reason is required
    with pytest.raises(SystemExit) as exc:
        main(["review", "list", "--user", "rev"])
    assert exc.value.code == 2  # --store is required


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_export_only_qualified_hits_schema_valid(root, capsys, suffix):
    import jsonschema

    store = str(root / "store")
    assert cli(capsys, "review", "--store", store, "qualify", "1", "--user", "rev")[0] == 0
    out = root / f"records{suffix}"
    code, so, _ = cli(
        capsys,
        "export",
        "--store",
        store,
        "--out",
        str(out),
        "--recipient",
        "IOM panel",
        "--user",
        "om1",
        "--purpose",
        "IOM panel briefing",
        "--json",
    )
    assert code == 0
    js = json.loads(so)
    assert js["by_event_type"] == {"appointment_outcome": 1, "proximity_hit": 1}
    if suffix == ".jsonl":
        records = [json.loads(line) for line in out.read_text().splitlines()]
        validator = jsonschema.Draft202012Validator(load_schema())
        for rec in records:
            validator.validate(rec)
    else:
        assert out.read_text().startswith("# marking: OFFICIAL-SENSITIVE")
        records = pd.read_csv(out, comment="#", dtype=str, keep_default_na=False).to_dict("records")
    hit = next(r for r in records if r["event_type"] == "proximity_hit")
    assert (hit["crime_ref"], hit["subject_id"], hit["crn"], hit["pnc_id"]) == (
        "K1",
        "S1",
        "A123456",
        "2012/0123456Y",
    )
    assert hit["review_state"] == "qualified" and hit["reviewer"] == "rev"
    appt = next(r for r in records if r["event_type"] == "appointment_outcome")
    assert (appt["appointment_id"], appt["status"], appt["review_state"]) == (
        "A1",
        "attended",
        "not_required",
    )
    e = audit.entries(root / "store" / "audit.jsonl")[-1]
    assert (e["action"], e["kind"], e["recipient"], e["user"]) == ("export", "disclosure", "IOM panel", "om1")
    assert e["counts"]["records"] == 2
    assert oct(out.stat().st_mode & 0o777) == "0o600"


def test_export_subject_filter(root, capsys):
    out = root / "s2.jsonl"
    assert (
        cli(
            capsys,
            "export",
            "--store",
            str(root / "store"),
            "--out",
            str(out),
            "--subject",
            "S2",
            "--recipient",
            "probation",
            "--user",
            "om1",
            "--purpose",
            "supervision",
        )[0]
        == 0
    )
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert {r["subject_id"] for r in records} == {"S2"} and len(records) == 1


@pytest.mark.parametrize(
    ("drop_arg", "needle"), [("--user", "--user"), ("--purpose", "--purpose"), ("--recipient", "--recipient")]
)
def test_export_refused_without_identity(root, capsys, drop_arg, needle):
    args = {"--user": "om1", "--purpose": "briefing", "--recipient": "IOM"}
    del args[drop_arg]
    argv = ["export", "--store", str(root / "store"), "--out", str(root / "x.csv")]
    for k, v in args.items():
        argv += [k, v]
    code, _, err = cli(capsys, *argv)
    assert code == 3 and needle in err
    assert not (root / "x.csv").exists()


def test_export_bad_extension(root, capsys):
    code, _, err = cli(
        capsys,
        "export",
        "--store",
        str(root / "store"),
        "--out",
        str(root / "x.geojson"),
        "--recipient",
        "IOM",
        "--user",
        "u",
        "--purpose",
        "p",
    )
    assert code == 1 and "use one of .csv, .jsonl" in err


def late_fix_csv() -> str:
    """S1 on day 1 at 13:00:30, 5 m from crime K1's scene: a fix sent late that changes K1's figures."""
    from tests.test_nightly import DAY1, E0, N0, _ll

    lat, lon = _ll(E0 + 20.0, N0 + 5.0)
    t = DAY1 + pd.Timedelta(hours=13, seconds=30)
    return (
        "subject_id,timestamp,lat,lon,accuracy_m,fix_type\n"
        f"S1,{t.strftime('%Y-%m-%dT%H:%M:%SZ')},{lat[0]:.10f},{lon[0]:.10f},10,gps\n"
    )


def _export(capsys, root, name):
    out = root / name
    code, _, err = cli(
        capsys,
        "export",
        "--store",
        str(root / "store"),
        "--out",
        str(out),
        "--recipient",
        "IOM panel",
        "--user",
        "om1",
        "--purpose",
        "briefing",
    )
    assert code == 0, err
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_qualified_hit_whose_figures_change_is_not_exported(root, capsys):
    """Regression: a re-match that changed a qualified hit's figures left it qualified, and exported."""
    store = str(root / "store")
    _, out, _ = cli(capsys, "review", "--store", store, "list", "--json", "--user", "rev1")
    ids = {h["crime_ref"]: h["hit_id"] for h in json.loads(out)["hits"]}
    assert cli(capsys, "review", "--store", store, "qualify", str(ids["K1"]), "--user", "rev1")[0] == 0
    assert cli(capsys, "review", "--store", store, "qualify", str(ids["K2"]), "--user", "rev1")[0] == 0
    hits = [r for r in _export(capsys, root, "before.jsonl") if r["event_type"] == "proximity_hit"]
    assert [r["crime_ref"] for r in hits] == ["K1", "K2"]
    drop(root / "inbox", [("trails", "d1-late.csv", late_fix_csv())])
    nightly(root, 3)
    hits = [r for r in _export(capsys, root, "after.jsonl") if r["event_type"] == "proximity_hit"]
    assert [r["crime_ref"] for r in hits] == ["K2"]  # K2's figures did not change: its verdict stands
    _, out, _ = cli(capsys, "review", "--store", store, "list", "--json", "--user", "rev1")
    got = {h["crime_ref"]: h for h in json.loads(out)["hits"]}
    k1, k2 = got["K1"], got["K2"]
    assert (k1["hit_id"], k1["review_state"], k1["changed_since_review"]) == (ids["K1"], "pending", True)
    assert (k2["review_state"], k2["changed_since_review"], k2["changes"]) == ("qualified", False, None)
    assert (k1["changes"]["verdict"]["state"], k1["changes"]["verdict"]["reviewer"]) == ("qualified", "rev1")
    d = k1["changes"]["changed"]["min_distance_m"]
    assert d["reviewed"] == pytest.approx(30.0, abs=0.01) and d["now"] < 25.0
    assert "evidence" in k1["changes"]["changed"]
    code, out, _ = cli(capsys, "review", "--store", store, "list", "--changed", "--user", "rev1")
    assert code == 0 and "changed_since_review" in out and "was qualified by rev1" in out
    assert "K2" not in out and "min_distance_m 30.000 -> 18.741" in out
    assert "closest_time 2026-07-13T13:00:00.000Z ->" in out
    # the reviewer looks again and qualifies the new figures: exported again, history kept
    assert cli(capsys, "review", "--store", store, "qualify", str(ids["K1"]), "--user", "rev2")[0] == 0
    hits = [r for r in _export(capsys, root, "again.jsonl") if r["event_type"] == "proximity_hit"]
    assert [(r["crime_ref"], r["reviewer"]) for r in hits] == [("K1", "rev2"), ("K2", "rev1")]
