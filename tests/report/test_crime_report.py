"""The printable proximity report of one crime (SPEC §4 "Proximity report")."""

from __future__ import annotations

import base64
import re
from html import escape

import numpy as np
import pandas as pd
import pytest

from trailmon.errors import InputError
from trailmon.match.proximity import proximity
from trailmon.report.crime_report import DISCLAIMER, crime_report_html, write_crime_report
from trailmon.report.writers import MARKING, make_provenance
from trailmon.testing import make_trail

E0, N0 = 530000.0, 180000.0
T0 = 1_783_000_000.0


@pytest.fixture(scope="module")
def case():
    # S1 passes 30 m north of the scene twice (out and back), S2 is far away with a gap near nothing
    rows = [(T0 + 60 * k, E0 - 300 + 60 * k, N0 + 30) for k in range(11)]
    rows += [(T0 + 900 + 60 * k, E0 + 300 - 60 * k, N0 + 30) for k in range(11)]
    tr = make_trail(rows)
    t = pd.to_datetime([T0, T0 + 1800], unit="s", utc=True)
    crimes = pd.DataFrame(
        {
            "crime_ref": ["K1"],
            "crime_version": [1],
            "offence": ["BIAD"],
            "offence_group": ["burglary"],
            "x_m": [E0],
            "y_m": [N0],
            "lat": [51.5],
            "lon": [-0.12],
            "committed_from": t[:1],
            "committed_to": t[1:],
            "radius_m": [100.0],
        }
    )
    res = proximity(tr, crimes)
    return tr, crimes.iloc[0], res


def test_report_sections(case):
    _, crime, res = case
    prov = make_provenance("report crime", {"crime": "K1"}, user="analyst1", purpose="IOM panel")
    fake_png = b"\x89PNG fake"
    html = crime_report_html(
        crime, res.hits, res.evidence, res.gaps, map_png=fake_png, map_href="k1.map.html", provenance=prov
    )
    head = html.split("</head>")[0]
    assert MARKING in head and f'content="{MARKING}"' in head  # the marking in the header
    assert html.count(MARKING) >= 3  # banner, footer, provenance
    assert html.count(escape(DISCLAIMER)) == 2  # after the summary and at the end
    assert "does not show that the person committed or witnessed the crime" in DISCLAIMER
    assert "only while their equipment could be monitored" in DISCLAIMER
    assert "Proximity report: crime K1" in html and "burglary" in html
    assert "analyst1: IOM panel" in html
    assert f'src="data:image/png;base64,{base64.b64encode(fake_png).decode()}"' in html
    assert 'href="k1.map.html"' in html
    assert "@media print" in html and "break-before: page" in html


def test_report_evidence_and_first_last_points(case):
    _, crime, res = case
    html = crime_report_html(crime, res.hits, res.evidence, res.gaps)
    ev = res.evidence
    assert set(ev["pass"]) == {"A", "B"}
    for label in ev["label"]:
        assert f"<td>{label}</td>" in html
    assert "first in the vicinity" in html and "last in the vicinity" in html
    first = ev[ev["kind"] == "first"].sort_values("time").iloc[0]
    last = ev[ev["kind"] == "last"].sort_values("time").iloc[-1]
    section = html.split("First and last points in the vicinity")[1].split("<h3>Evidence")[0]
    assert section.index(f"<td>{first['label']}</td>") < section.index(f"<td>{last['label']}</td>")
    assert "no static map was drawn" in html


def test_report_without_hits(case):
    _, crime, res = case
    html = crime_report_html(crime, res.hits.iloc[:0], res.evidence.iloc[:0], res.gaps)
    assert "No monitored subject was within the radius during the window." in html
    assert 'class="subject"' not in html


def test_report_errors(case):
    _, crime, res = case
    with pytest.raises(InputError, match=r"evidence lacks the columns \['label'\]"):
        crime_report_html(crime, res.hits, res.evidence.drop(columns="label"), res.gaps)
    with pytest.raises(InputError, match="crime_row must be a Series or dict with a crime_ref, got list"):
        crime_report_html([], res.hits, res.evidence, res.gaps)


def test_write_crime_report(case, tmp_path):
    tr, crime, res = case
    paths = write_crime_report(tmp_path / "out" / "k1.html", tr, crime, res.hits, res.evidence, res.gaps)
    assert {k: p.name for k, p in paths.items()} == {
        "report": "k1.html",
        "map": "k1.map.html",
        "png": "k1.map.png",
    }
    for p in paths.values():
        assert p.stat().st_mode & 0o777 == 0o600
    html = paths["report"].read_text()
    png = paths["png"].read_bytes()
    assert base64.b64encode(png).decode() in html
    assert not re.search(
        r"<(script|link)[^>]*(src|href)\s*=\s*[\"'](https?:)?//", html + paths["map"].read_text()
    )
    with pytest.raises(InputError, match=r"path must end in \.html, got '.*k1\.pdf'"):
        write_crime_report(tmp_path / "k1.pdf", tr, crime, res.hits, res.evidence, res.gaps)
    assert np.isfinite(res.hits["min_distance_m"]).all()


def test_print_pdf(case, tmp_path):
    import shutil

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no chromium or chromium-browser on PATH (.ci/run installs Debian's chromium)")
    from trailmon.report.crime_report import print_pdf

    tr, crime, res = case
    paths = write_crime_report(tmp_path / "k1.html", tr, crime, res.hits, res.evidence, res.gaps)
    pdf = print_pdf(paths["report"])
    assert pdf == tmp_path / "k1.pdf"
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 20_000  # text, tables and the embedded map
    assert pdf.stat().st_mode & 0o777 == 0o600


def test_print_pdf_without_browser(tmp_path, monkeypatch):
    import shutil

    from trailmon.report.crime_report import print_pdf

    monkeypatch.setattr(shutil, "which", lambda name: None)
    (tmp_path / "r.html").write_text("<html></html>")
    with pytest.raises(InputError, match="printing to PDF needs headless Chromium, and neither chromium nor"):
        print_pdf(tmp_path / "r.html")


def test_report_shows_the_device_of_each_hits_monitoring_window(case):
    _, crime, res = case
    closest = pd.Timestamp(res.hits["closest_time"].iloc[0])
    windows = pd.DataFrame(
        {
            "subject_id": ["S1", "S1", "S1", "S2"],
            "monitoring_start": [closest - pd.Timedelta(days=30), closest - pd.Timedelta(hours=1),
                                 closest + pd.Timedelta(minutes=1), closest - pd.Timedelta(days=1)],
            "monitoring_end": [closest - pd.Timedelta(days=2), pd.NaT, pd.NaT, pd.NaT],
            "device_id": ["DEV-OLD", "DEV-7", "DEV-NEXT", "DEV-S2"],
            "device_serial": ["SN-OLD", "SN-77", "SN-NEXT", "SN-S2"],
        }
    )
    sid = str(res.hits["subject_id"].iloc[0])
    windows["subject_id"] = windows["subject_id"].replace("S1", sid)
    html = crime_report_html(crime, res.hits, res.evidence, res.gaps, devices=windows)
    assert "<th>device_id</th>" in html and "<td>DEV-7</td><td>SN-77</td>" in html
    assert "DEV-7 / SN-77" in html  # in the subject's section
    assert "DEV-OLD" not in html and "DEV-NEXT" not in html and "DEV-S2" not in html
    # without windows: not recorded, never another subject's device
    bare = crime_report_html(crime, res.hits, res.evidence, res.gaps)
    assert "not recorded / not recorded" in bare
    # hits from the case store carry their device already
    carried = res.hits.assign(device_id="DEV-CS", device_serial="SN-CS")
    assert "DEV-CS / SN-CS" in crime_report_html(crime, carried, res.evidence, res.gaps, devices=windows)
