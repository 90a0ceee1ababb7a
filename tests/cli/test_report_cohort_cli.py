"""``trailmon report cohort`` and ``trailmon report subject``: exit codes, outputs, audit."""

from __future__ import annotations

import json

import pytest

from tests.report.test_cohort import filled  # noqa: F401 (fixture)
from trailmon.cli import main
from trailmon.store import audit

PERIOD = ["--from", "2026-07-13T00:00:00+01:00", "--to", "2026-07-20T00:00:00+01:00"]


def cli(capsys, *argv):
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_cohort_and_subject(filled, tmp_path, capsys):  # noqa: F811
    store = str(filled / "store")
    code, out, err = cli(capsys, "report", "--store", store, "cohort", "--out", str(tmp_path / "c"), *PERIOD,
                         "--user", "panel", "--purpose", "IOM panel", "--json")
    assert code == 0, err
    res = json.loads(out)
    assert {p.rsplit("/", 1)[1] for p in res["outputs"]} == {
        "cohort.csv", "cohort_hits.csv", "cohort_daily.csv", "metrics.csv", "cohort.html"}
    code, out, err = cli(capsys, "report", "--store", store, "--user", "om", "--purpose", "supervision", "subject",
                         "--subject", "S1", "--out", str(tmp_path / "s1.html"), *PERIOD)
    assert code == 0, err
    assert out.strip() == f"wrote {tmp_path / 's1.html'}"
    actions = [(e["parameters"].get("form"), e["user"]) for e in audit.entries(filled / "store" / "audit.jsonl")]
    assert actions[-2:] == [("cohort", "panel"), ("subject", "om")]


@pytest.mark.parametrize("form", [["cohort", "--out", "o"], ["subject", "--subject", "S1", "--out", "s.html"]])
def test_refused_without_user_or_purpose(filled, tmp_path, capsys, form):  # noqa: F811
    code, out, err = cli(capsys, "report", "--store", str(filled / "store"), *form, *PERIOD, "--user", "u")
    assert code == 3 and out == ""
    assert err.startswith("error: report ") and "--purpose" in err


def test_usage_errors(filled, tmp_path, capsys):  # noqa: F811
    with pytest.raises(SystemExit) as exc:
        main(["report", "--store", str(filled / "store"), "cohort", "--out", "o", "--user", "u", "--purpose", "p"])
    assert exc.value.code == 2
    assert "--from, --to" in capsys.readouterr().err
    code, _, err = cli(capsys, "report", "--store", str(filled / "store"), "cohort", "--out", str(tmp_path / "o"),
                       "--from", "2026-07-13T00:00", "--to", "2026-07-14T00:00Z", "--user", "u", "--purpose", "p")
    assert code == 1 and "--tz" in err
