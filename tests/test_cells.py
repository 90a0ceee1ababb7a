"""SPEC §4: text cells that start with a formula prefix are written with a leading quote."""

import pandas as pd
import pytest

from trailmon._cells import safe_cell, safe_text_frame
from trailmon.report.writers import make_provenance, write_table


@pytest.mark.parametrize(("raw", "written"), [
    ("=HYPERLINK(\"http://evil\")", "'=HYPERLINK(\"http://evil\")"),  # formula
    ("+SUM(1,1)", "'+SUM(1,1)"),                                    # plus
    ("-2+3", "'-2+3"),                                              # minus
    ("@cmd", "'@cmd"),                                              # at
    ("\tx", "'\tx"),                                                # tab
    ("\rx", "'\rx"),                                                # carriage return
    ("C02", "C02"),                                                 # plain text untouched
    ("", ""),                                                       # empty
])
def test_safe_cell(raw, written):
    assert safe_cell(raw) == written


def test_numbers_stay_numbers():
    df = pd.DataFrame({"ref": ["=1+1", "ok"], "x": [-1.5, 2.0], "mixed": [-3, "-3"]})
    out = safe_text_frame(df)
    assert list(out["ref"]) == ["'=1+1", "ok"] and list(out["x"]) == [-1.5, 2.0]
    assert list(out["mixed"]) == [-3, "'-3"]
    assert list(df["ref"]) == ["=1+1", "ok"]  # the input is not changed


def test_csv_report_cells_and_header_are_safe(tmp_path):
    df = pd.DataFrame({"crime_ref": ["=HYPERLINK(\"x\")", "@SUM(A1)"], "min_distance_m": [-0.0, 1.25]})
    prov = make_provenance("proximity", {"note": "=cmd|' /C calc'!A0", "multi": "a\nb"})
    p = write_table(df, tmp_path / "h.csv", prov)
    text = p.read_text()
    head = [line for line in text.splitlines() if line.startswith("#")]
    assert head[0] == "# marking: OFFICIAL-SENSITIVE"
    assert all("\r" not in line for line in head) and not any("# b" in line for line in head)
    params = next(line for line in head if line.startswith("# parameters: "))
    assert params.startswith('# parameters: "{')  # a JSON value with commas and quotes is one quoted field
    body = pd.read_csv(p, comment=None, skiprows=len(head))
    assert list(body["crime_ref"]) == ["'=HYPERLINK(\"x\")", "'@SUM(A1)"]
    assert list(body["min_distance_m"]) == [-0.0, 1.25]
