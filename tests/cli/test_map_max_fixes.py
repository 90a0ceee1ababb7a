"""``trailmon map --subject`` draws at most ``--max-fixes`` fixes (SPEC §9) and says when it thinned."""

from __future__ import annotations

from tests.cli.test_map_cli import ID, _run, files  # noqa: F401
from trailmon.store import audit

PERIOD = ["--subject", "S1", "--from", "2026-07-14T12:40:00Z", "--to", "2026-07-14T13:20:00Z"]


def test_subject_map_thins_above_max_fixes_and_says_so(files, tmp_path, capsys):  # noqa: F811
    store = files / "store"
    full = tmp_path / "full.html"
    code, js, _ = _run(capsys, ["map", "--store", str(store), *PERIOD, "--out", str(full), *ID, "--json"])
    assert code == 0 and "thinned" not in js and js["fixes"] == 31  # the JSON names thinning only when it happened
    assert "Track thinned" not in full.read_text()
    out = tmp_path / "thin.html"
    argv = ["map", "--store", str(store), *PERIOD, "--out", str(out), "--max-fixes", "10", *ID]
    code, js, _ = _run(capsys, [*argv, "--json"])
    assert code == 0 and js["thinned"] is True and js["max_fixes"] == 10 and js["fixes_in_period"] == 31
    assert 0 < js["fixes"] <= 10 + 1  # every 4th fix and the last
    assert "Track thinned: 31 fixes in the period, about one in 4 drawn (at most 10" in out.read_text()
    e = audit.entries(store / "audit.jsonl")[-1]
    assert e["action"] == "map" and e["parameters"]["thinned"] is True and e["counts"]["fixes"] == js["fixes"]
    code, text, _ = _run(capsys, argv)
    assert code == 0 and "Track thinned" in text and "--max-fixes" in text


def test_max_fixes_must_be_positive(files, tmp_path, capsys):  # noqa: F811
    argv = ["map", "--store", str(files / "store"), *PERIOD, "--out", str(tmp_path / "m.html"), "--max-fixes", "0"]
    code, _, err = _run(capsys, [*argv, *ID])
    assert code != 0 and "--max-fixes must be at least 1" in err
