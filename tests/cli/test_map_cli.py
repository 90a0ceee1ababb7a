"""``trailmon map`` and ``trailmon report crime`` in-process: outputs, refusals, caps, audit (SPEC §5)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from convertbng.cutil import convert_lonlat

from trailmon.cli import main
from trailmon.store import audit

E0, N0 = 430000.0, 433000.0
T0 = pd.Timestamp("2026-07-14T13:00:00Z")
ID = ["--user", "analyst1", "--purpose", "IOM panel"]


def _ll(e, n):
    lon, lat = convert_lonlat(np.asarray(e, float), np.asarray(n, float))
    return lat, lon


def _z(t: pd.Timestamp) -> str:
    return t.isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """S1 walks past K1 45 m north of it (a fix a minute); S2 stays 5 km east; an appointment and a zone."""
    d = tmp_path_factory.mktemp("mapcli")
    e = E0 - 1500 + 100 * np.arange(31)
    lat, lon = _ll(e, np.full(31, N0 + 45))
    rows = [
        f"S1,{_z(T0 + pd.Timedelta(minutes=k - 15))},{lat[k]:.10f},{lon[k]:.10f},10,gps" for k in range(31)
    ]
    lat2, lon2 = _ll(np.full(3, E0 + 5000), np.full(3, N0))
    rows += [f"S2,{_z(T0 + pd.Timedelta(minutes=k))},{lat2[k]:.10f},{lon2[k]:.10f},10,gps" for k in range(3)]
    (d / "trails.csv").write_text(
        "subject_id,timestamp,lat,lon,accuracy_m,fix_type\n" + "\n".join(rows) + "\n"
    )
    (d / "crimes.csv").write_text(
        "crime_ref,offence,easting,northing,committed_from,committed_to,radius_m\n"
        f"K1,TFP,{E0},{N0},2026-07-14T12:50:00Z,2026-07-14T13:10:00Z,100\n"
        f"K2,BIAD,{E0 + 5000},{N0},2026-07-14T12:59:00Z,2026-07-14T13:30:00Z,\n"
    )
    la, lo = _ll([E0 + 200], [N0 + 45])
    (d / "appts.csv").write_text(
        "appointment_id,subject_id,start,end,lat,lon,radius_m\n"
        f"A1,S1,2026-07-14T12:55:00Z,2026-07-14T13:05:00Z,{la[0]},{lo[0]},80\n"
    )
    (d / "zones.csv").write_text(
        "zone_id,subject_id,kind,active_from,active_to,lat,lon,radius_m\n"
        f"Z1,S1,exclusion,2026-07-01T00:00:00Z,,{la[0]},{lo[0]},300\n"
    )
    store = d / "store"
    assert main(["ingest", "--store", str(store), str(d / "trails.csv")]) == 0
    return d


def _run(capsys, argv):
    code = main(argv)
    cap = capsys.readouterr()
    return code, (json.loads(cap.out) if cap.out.strip().startswith("{") else cap.out), cap.err


def _no_external(html: str) -> bool:
    return not re.search(r"<(script|link)[^>]*(src|href)\s*=\s*[\"'](https?:)?//", html, re.I)


def test_subject_map(files, tmp_path, capsys):
    out = tmp_path / "s1.html"
    code, js, _ = _run(
        capsys,
        [
            "map",
            "--store",
            str(files / "store"),
            "--subject",
            "S1",
            "--from",
            "2026-07-14T12:40:00Z",
            "--to",
            "2026-07-14T13:20:00Z",
            "--crimes",
            str(files / "crimes.csv"),
            "--appointments",
            str(files / "appts.csv"),
            "--zones",
            str(files / "zones.csv"),
            "--out",
            str(out),
            "--json",
            *ID,
        ],
    )
    assert code == 0
    assert js == {"fixes": 31, "hits": 1, "appointments": 1, "subjects": ["S1"], "outputs": [str(out)]}
    html = out.read_text()
    assert _no_external(html) and "OFFICIAL-SENSITIVE" in html
    assert "appointment A1" in html and "zone Z1" in html and "crime K1" in html
    last = audit.entries(files / "store" / "audit.jsonl")[-1]
    assert (last["action"], last["user"], last["purpose"], last["subjects"]) == (
        "map",
        "analyst1",
        "IOM panel",
        ["S1"],
    )
    assert last["parameters"]["form"] == "subject" and last["counts"]["fixes"] == 31


def test_crime_map(files, tmp_path, capsys):
    out = tmp_path / "k1.html"
    code, js, _ = _run(
        capsys,
        [
            "map",
            "--store",
            str(files / "store"),
            "--crime",
            "K1",
            "--crimes",
            str(files / "crimes.csv"),
            "--out",
            str(out),
            "--json",
            *ID,
        ],
    )
    assert code == 0
    assert js["subjects"] == ["S1"] and js["hits"] == 1 and js["evidence_rows"] > 0
    assert _no_external(out.read_text())
    last = audit.entries(files / "store" / "audit.jsonl")[-1]
    assert last["parameters"]["crime"] == "K1" and last["subjects"] == ["S1"]


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        # no user and purpose: refused, exit 3
        (["--crime", "K1", "--crimes", "{crimes}"], 3, "map discloses location data"),
        # wider than 48 h without --justify: refused, exit 3
        (
            ["--subject", "S1", "--from", "2026-07-10T00:00:00Z", "--to", "2026-07-14T13:00:00Z", *ID],
            3,
            r"subject map over 109\.0 h is wider than the 48 h cap; give --justify TEXT",
        ),
        # neither form
        ([*ID], 1, "say what to map: --subject S --from T --to T, or --crime REF --crimes F"),
        # both forms
        (
            ["--subject", "S1", "--crime", "K1", *ID],
            1,
            "give either --subject S --from T --to T or --crime REF",
        ),
        # --crime without --crimes
        (["--crime", "K1", *ID], 1, "--crime 'K1' needs --crimes F"),
        # --subject without a period
        (
            ["--subject", "S1", "--from", "2026-07-14T12:00:00Z", *ID],
            1,
            "--subject needs --from T and --to T",
        ),
        # unknown crime
        (
            ["--crime", "K7", "--crimes", "{crimes}", *ID],
            1,
            r"--crime 'K7' is not in '.*crimes\.csv'; its crimes are: K1, K2",
        ),
        # a naive time
        (
            ["--subject", "S1", "--from", "2026-07-14T12:00:00", "--to", "2026-07-14T13:00:00Z", *ID],
            1,
            "--tz",
        ),
    ],
)
def test_map_refusals_and_errors(files, tmp_path, capsys, argv, code, message):
    argv = [a.replace("{crimes}", str(files / "crimes.csv")) for a in argv]
    got, _, err = _run(
        capsys, ["map", "--store", str(files / "store"), "--out", str(tmp_path / "m.html"), *argv]
    )
    assert got == code
    assert err.startswith("error: ") and re.search(message, err), err
    assert not (tmp_path / "m.html").exists()


def test_map_out_must_be_html(files, tmp_path, capsys):
    got, _, err = _run(
        capsys,
        [
            "map",
            "--store",
            str(files / "store"),
            "--crime",
            "K1",
            "--crimes",
            str(files / "crimes.csv"),
            "--out",
            str(tmp_path / "m.csv"),
            *ID,
        ],
    )
    assert got == 1 and "--out must be an .html file, got" in err


def test_wide_subject_map_with_justification_is_audited(files, tmp_path, capsys):
    out = tmp_path / "wide.html"
    code, js, _ = _run(
        capsys,
        [
            "map",
            "--store",
            str(files / "store"),
            "--subject",
            "S1",
            "--from",
            "2026-07-10T00:00:00Z",
            "--to",
            "2026-07-14T13:20:00Z",
            "--justify",
            "panel review of the week",
            "--out",
            str(out),
            "--json",
            *ID,
        ],
    )
    assert code == 0 and js["fixes"] == 31
    assert (
        audit.entries(files / "store" / "audit.jsonl")[-1]["parameters"]["justify"]
        == "panel review of the week"
    )


@pytest.mark.parametrize("store_first", [True, False])
def test_report_crime(files, tmp_path, capsys, store_first):
    out = tmp_path / "rep" / "k1.html"
    form = ["crime", "--crimes", str(files / "crimes.csv"), "--crime", "K1", "--out", str(out)]
    store = ["--store", str(files / "store")]
    argv = (
        ["report", *store, *form, *ID, "--json"] if store_first else ["report", *form, *store, *ID, "--json"]
    )
    code, js, _ = _run(capsys, argv)
    assert code == 0
    assert js["subjects"] == ["S1"] and js["hits"] == 1
    assert js["outputs"] == [str(out), str(out.with_name("k1.map.html")), str(out.with_name("k1.map.png"))]
    html = out.read_text()
    assert "OFFICIAL-SENSITIVE" in html.split("</head>")[0] and "Proximity report: crime K1" in html
    assert "analyst1: IOM panel" in html
    last = audit.entries(files / "store" / "audit.jsonl")[-1]
    assert (last["action"], last["subjects"], last["parameters"]["from"]) == (
        "report",
        ["S1"],
        "2026-07-14T12:50:00+00:00",
    )


def test_report_refusals(files, tmp_path, capsys):
    base = [
        "report",
        "--store",
        str(files / "store"),
        "crime",
        "--crimes",
        str(files / "crimes.csv"),
        "--crime",
        "K1",
        "--out",
        str(tmp_path / "r.html"),
    ]
    code, _, err = _run(capsys, base)
    assert code == 3 and "report discloses location data" in err
    with pytest.raises(SystemExit) as exc:  # usage: --store missing
        main(
            [
                "report",
                "crime",
                "--crimes",
                str(files / "crimes.csv"),
                "--crime",
                "K1",
                "--out",
                "r.html",
                *ID,
            ]
        )
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:  # usage: unknown form
        main(["report", "--store", str(files / "store"), "fortnight"])
    assert exc.value.code == 2
    code, _, err = _run(
        capsys, [*base, *ID, "--from", "2026-07-14T13:00:00Z", "--to", "2026-07-14T12:00:00Z"]
    )
    assert code == 1 and "is before --from" in err


def test_report_crime_pdf(files, tmp_path, capsys):
    import shutil

    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("no chromium or chromium-browser on PATH (.ci/run installs Debian's chromium)")
    out = tmp_path / "k1.html"
    code, js, _ = _run(
        capsys,
        [
            "report",
            "--store",
            str(files / "store"),
            "crime",
            "--crimes",
            str(files / "crimes.csv"),
            "--crime",
            "K1",
            "--out",
            str(out),
            "--pdf",
            "--json",
            *ID,
        ],
    )
    assert code == 0 and js["outputs"][-1] == str(tmp_path / "k1.pdf")
    assert (tmp_path / "k1.pdf").read_bytes()[:5] == b"%PDF-"


def test_report_crime_shows_the_device_of_the_monitoring_window(files, tmp_path, capsys):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(files / "store", store)
    act = tmp_path / "activations.csv"
    act.write_text("device_activation_id,device_activation_date,device_deactivation_date,person_id,device_id,"
                   "device_serial_number\n1,2026-07-01 00:00:00,2999-12-12 23:59:59,S1,DEV-7,SN-0007\n")
    assert main(["ingest", "--store", str(store), "--subjects", str(act)]) == 0
    out = tmp_path / "k1.html"
    code, _, _ = _run(capsys, ["report", "--store", str(store), "crime", "--crimes", str(files / "crimes.csv"),
                               "--crime", "K1", "--out", str(out), *ID, "--json"])
    assert code == 0
    html = out.read_text()
    assert "<td>DEV-7</td><td>SN-0007</td>" in html and "DEV-7 / SN-0007" in html
