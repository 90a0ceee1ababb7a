"""``proximity --evidence none``: hits and gaps only, the same hits as with evidence."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tests.cli.test_cli import crimes_csv, store, trail_csv  # noqa: F401  (fixtures)
from trailmon.cli import main


def test_evidence_none_writes_hits_and_gaps_only(store, crimes_csv, tmp_path, capsys):  # noqa: F811
    base = ["proximity", "--store", str(store), "--crimes", str(crimes_csv), "--user", "a", "--purpose", "p", "--json"]
    assert main([*base, "--out", str(tmp_path / "all.csv")]) == 0
    full = json.loads(capsys.readouterr().out)
    assert main([*base, "--out", str(tmp_path / "none.csv"), "--evidence", "none"]) == 0
    lean = json.loads(capsys.readouterr().out)
    assert full["evidence_rows"] > 0 and lean["evidence_rows"] is None
    assert not (tmp_path / "none.evidence.csv").exists() and (tmp_path / "none.gaps.csv").exists()
    assert lean["hits"] == full["hits"] and lean["gaps_near_scene"] == full["gaps_near_scene"]
    a = pd.read_csv(tmp_path / "all.csv", comment="#")
    b = pd.read_csv(tmp_path / "none.csv", comment="#")
    pd.testing.assert_frame_equal(a, b)
    head = (tmp_path / "none.csv").read_text()
    assert '"evidence": "none"' in head.replace('""', '"')
    with pytest.raises(SystemExit) as exc:
        main([*base, "--out", str(tmp_path / "x.csv"), "--evidence", "some"])
    assert exc.value.code == 2
