"""The CLI in-process: exit codes, --json, errors as one line, refusals, audit (SPEC §5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from convertbng.cutil import convert_lonlat

from tests.conftest import held_lock
from trailmon.cli import main
from trailmon.store.trails import TrailStore

E0, N0 = 430000.0, 433000.0
T0 = pd.Timestamp("2026-07-14T13:00:00Z")


def _ll(e, n):
    lon, lat = convert_lonlat(np.asarray(e, float), np.asarray(n, float))
    return lat, lon


@pytest.fixture
def trail_csv(tmp_path):
    """A bus passing 45 m north of (E0, N0) at 10 m/s, fixes 600 m apart, plus a dweller."""
    e = E0 - 1500 + 600 * np.arange(5)
    lat, lon = _ll(e, np.full(5, N0 + 45))
    rows = [f"S1,{(T0 + pd.Timedelta(seconds=60 * (k - 2) - 30)).isoformat().replace('+00:00', 'Z')},"
            f"{lat[k]:.10f},{lon[k]:.10f},10,gps" for k in range(5)]
    lat2, lon2 = _ll(np.full(3, E0 + 5000), np.full(3, N0))
    rows += [f"S2,{(T0 + pd.Timedelta(minutes=k)).isoformat().replace('+00:00', 'Z')},{lat2[k]:.10f},"
             f"{lon2[k]:.10f},10,gps" for k in range(3)]
    path = tmp_path / "trails.csv"
    path.write_text("subject_id,timestamp,lat,lon,accuracy_m,fix_type\n" + "\n".join(rows) + "\n")
    return path


@pytest.fixture
def crimes_csv(tmp_path):
    path = tmp_path / "crimes.csv"
    path.write_text("crime_ref,offence,easting,northing,committed_from,committed_to,radius_m\n"
                    f"K1,TFP,{E0},{N0},2026-07-14T12:50:00Z,2026-07-14T13:10:00Z,100\n"
                    f"K2,BIAD,{E0 + 5000},{N0},2026-07-14T12:59:00Z,2026-07-14T13:30:00Z,\n")
    return path


@pytest.fixture
def store(tmp_path, trail_csv):
    path = tmp_path / "store"
    assert main(["ingest", "--store", str(path), str(trail_csv)]) == 0
    return path


def run_json(capsys, argv):
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def test_help_exits_zero(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    assert "proximity" in capsys.readouterr().out


def test_usage_error_exits_two(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["proximity", "--store"])
    assert exc.value.code == 2


def test_ingest_json_counts_add_up(tmp_path, trail_csv, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text(trail_csv.read_text() + "S3,not a time,53.8,-1.55,10,gps\n,2026-07-14T13:00:00Z,53.8,-1.55,10,gps\n")
    code, js = run_json(capsys, ["ingest", "--store", str(tmp_path / "s"), "--json", str(bad)])
    assert code == 0
    assert (js["read"], js["accepted"], js["rejected"]) == (10, 8, 2)
    assert js["rejected_by_reason"] == {"BAD_TIMESTAMP": 1, "MISSING_SUBJECT": 1}
    assert js["added"] + js["already_stored"] == js["accepted"]
    q = pd.read_csv(js["quarantine"])
    assert sorted(q["reason"]) == ["BAD_TIMESTAMP", "MISSING_SUBJECT"] and set(q["row"]) == {9, 10}
    code, js = run_json(capsys, ["ingest", "--store", str(tmp_path / "s"), "--json", str(bad)])
    assert (js["added"], js["already_stored"]) == (0, 8)


def test_zoneless_timestamps_name_tz(tmp_path, capsys):
    f = tmp_path / "naive.csv"
    f.write_text("subject_id,timestamp,lat,lon\nS1,2026-07-14 13:00:00,53.8,-1.55\n")
    assert main(["ingest", "--store", str(tmp_path / "s"), str(f)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--tz" in err and "Traceback" not in err
    assert main(["ingest", "--store", str(tmp_path / "s"), "--tz", "Europe/London", str(f)]) == 0


def test_proximity_refused_without_identity(store, crimes_csv, tmp_path, capsys):
    code = main(["proximity", "--store", str(store), "--crimes", str(crimes_csv), "--out", str(tmp_path / "h.csv"),
                 "--user", "analyst"])
    assert code == 3
    assert "--purpose" in capsys.readouterr().err
    assert not (tmp_path / "h.csv").exists()


def test_proximity_writes_three_files_and_audits(store, crimes_csv, tmp_path, capsys):
    out = tmp_path / "h.csv"
    code, js = run_json(capsys, ["proximity", "--store", str(store), "--crimes", str(crimes_csv), "--out", str(out),
                                 "--user", "analyst", "--purpose", "op test", "--json"])
    assert code == 0
    assert js["crimes"] == {"read": 2, "accepted": 2, "rejected": 0, "rejected_by_reason": {}}
    assert js["hits"] == 2
    for p in (out, tmp_path / "h.evidence.csv", tmp_path / "h.gaps.csv"):
        assert p.exists() and p.read_text().startswith("# marking: OFFICIAL-SENSITIVE")
    hits = pd.read_csv(out, comment="#")
    k1 = hits[hits.crime_ref == "K1"].iloc[0]
    assert k1.subject_id == "S1" and k1.min_distance_m == pytest.approx(45.0, abs=0.05)
    assert k1.dwell_s == pytest.approx(2 * np.sqrt(100**2 - 45**2) / 10, abs=0.05)
    entries = [json.loads(line) for line in (store / "audit.jsonl").read_text().splitlines()]
    assert entries[-1]["action"] == "proximity" and entries[-1]["user"] == "analyst"
    assert entries[-1]["subjects"] == ["S1", "S2"] and entries[-1]["counts"]["hits"] == 2
    assert main(["audit", "--store", str(store), "--verify"]) == 0


def test_output_formats_by_extension(store, crimes_csv, tmp_path, capsys):
    for ext in (".jsonl", ".geojson", ".parquet"):
        out = tmp_path / f"h{ext}"
        assert main(["proximity", "--store", str(store), "--crimes", str(crimes_csv), "--out", str(out),
                     "--user", "a", "--purpose", "p"]) == 0
        assert out.exists() and (tmp_path / f"h.evidence{ext}").exists()
    assert main(["proximity", "--store", str(store), "--crimes", str(crimes_csv), "--out", str(tmp_path / "h.txt"),
                 "--user", "a", "--purpose", "p"]) == 1
    assert "unknown output extension '.txt'" in capsys.readouterr().err


def test_trail_cap_and_justify(store, tmp_path, capsys):
    base = ["trail", "--store", str(store), "--subject", "S1", "--from", "2026-07-13T00:00:00Z",
            "--to", "2026-07-16T00:00:00Z", "--out", str(tmp_path / "t.csv"), "--user", "a", "--purpose", "p"]
    assert main(base) == 3
    assert "48 h cap" in capsys.readouterr().err
    assert main([*base, "--justify", "series of burglaries, DI approval 123"]) == 0
    rows = pd.read_csv(tmp_path / "t.csv", comment="#")
    assert list(rows.columns) == ["subject_id", "time", "lat", "lon", "easting", "northing", "accuracy_m", "fix_type",
                                  "speed_kmh", "heading_deg", "flags"]
    assert len(rows) == 5 and rows.speed_kmh.iloc[1] == pytest.approx(36.0, abs=0.01)
    last = json.loads((store / "audit.jsonl").read_text().splitlines()[-1])
    assert last["parameters"]["justify"].startswith("series") and last["counts"] == {"fixes": 5}


def test_naive_cli_time_names_tz(store, tmp_path, capsys):
    code = main(["trail", "--store", str(store), "--subject", "S1", "--from", "2026-07-14T12:00:00",
                 "--to", "2026-07-14T14:00:00Z", "--out", str(tmp_path / "t.csv"), "--user", "a", "--purpose", "p"])
    assert code == 1 and "--tz" in capsys.readouterr().err


def test_locked_store_exits_four(store, trail_csv, capsys):
    with held_lock(store, "nightly"):
        assert main(["ingest", "--store", str(store), str(trail_csv)]) == 4
    assert "locked" in capsys.readouterr().err


def test_audit_tamper_exits_five(store, crimes_csv, tmp_path, capsys):
    for _ in range(2):
        main(["proximity", "--store", str(store), "--crimes", str(crimes_csv), "--out", str(tmp_path / "h.csv"),
              "--user", "a", "--purpose", "p"])
    log = store / "audit.jsonl"
    lines = log.read_text().splitlines()
    lines[0] = lines[0].replace('"user": "a"', '"user": "b"')
    log.write_text("\n".join(lines) + "\n")
    assert main(["audit", "--store", str(store), "--verify"]) == 5
    assert "changed" in capsys.readouterr().err


def test_purge_logs_erasure(store, capsys):
    assert main(["purge", "--store", str(store), "--older-than", "1d"]) == 3
    assert main(["purge", "--store", str(store), "--older-than", "1d", "--user", "dpo", "--json"]) == 0
    js = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert js["days_removed"] == ["2026-07-14"]
    assert TrailStore(store).read().n_fixes == 0
    assert json.loads((store / "audit.jsonl").read_text().splitlines()[-1])["kind"] == "erasure"


@pytest.mark.slow
def test_console_script_and_module_agree():
    exe = shutil.which("trailmon")
    if exe is None:
        pytest.skip("the trailmon console script is not installed (pip install -e .)")
    a = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    b = subprocess.run([sys.executable, "-m", "trailmon", "--version"], capture_output=True, text=True,
                       check=True).stdout
    assert a == b and a.startswith("trailmon ")


@pytest.mark.slow
def test_ingest_takes_every_sample_format(tmp_path, capsys):
    from tests.conftest import REPO

    sample = REPO / "sample_traces"
    code, js = run_json(capsys, ["ingest", "--store", str(tmp_path / "s"), "--json",
                                 "--subjects", str(sample / "subjects.csv"),
                                 "--subjects", str(sample / "em" / "activations.csv"),
                                 "--subjects", str(sample / "em" / "caseload.csv"),
                                 str(sample / "trails"), str(sample / "em" / "positions.csv")])
    assert code == 0
    assert js["read"] == js["accepted"] + js["rejected"] and js["accepted"] == js["added"]
    suffixes = {f["file"].rsplit("/", 1)[-1].split(".", 1)[-1] for f in js["files"]}
    assert suffixes == {"csv", "gpx", "tcx.gz", "geojson"}  # generic CSV, EM positions CSV, GPX, TCX, GeoJSON
    assert all(f["read"] == f["accepted"] + f["rejected"] for f in js["files"])
    assert sum(js["rejected_by_reason"].values()) == js["rejected"] == 10  # bad_rows.csv, one per code
    assert js["subjects"]["read"] == js["subjects"]["accepted"] + js["subjects"]["rejected"]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_batch_commands_keep_freed_memory_unless_told_otherwise():
    """glibc keeps freed blocks for reuse (mallopt): a 64 MB array then comes from the heap, not a fresh
    mapping (mallinfo2's ``hblkhd``: bytes in mapped blocks); a user's MALLOC_* settings are left alone."""
    import ctypes

    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("the C library has no mallinfo2 (glibc < 2.33 or not glibc)")
    code = textwrap.dedent("""
        import ctypes, sys
        import numpy as np
        from trailmon.cli import keep_freed_memory

        class MallInfo2(ctypes.Structure):
            _fields_ = [(k, ctypes.c_size_t) for k in
                        ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
                         "fordblks", "keepcost")]

        libc = ctypes.CDLL(None)
        libc.mallinfo2.restype = MallInfo2
        kept = keep_freed_memory()
        big = np.ones(8 << 20)
        sys.stdout.write(f"{kept} {libc.mallinfo2().hblkhd >= big.nbytes}")
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert got.stdout == "True False"
    got = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**env, "MALLOC_TRIM_THRESHOLD_": "131072"})
    assert got.stdout == "False True"


def test_the_command_as_a_process_says_everything_and_exits_with_its_code(tmp_path, trail_csv, crimes_csv):
    """``python -m trailmon`` ends at once after the command (no interpreter teardown): the files, the
    ``--json`` summary on stdout (piped, so block-buffered), the error line and every exit code are all there."""
    def run(*args):
        return subprocess.run([sys.executable, "-m", "trailmon", *args], capture_output=True, text=True,
                              cwd=tmp_path)

    store = tmp_path / "store"
    ingest = run("ingest", "--store", str(store), "--json", str(trail_csv))
    assert ingest.returncode == 0 and json.loads(ingest.stdout)["accepted"] == 8
    prox = run("proximity", "--store", str(store), "--crimes", str(crimes_csv), "--out", str(tmp_path / "h.csv"),
               "--user", "analyst", "--purpose", "test", "--json")
    summary = json.loads(prox.stdout)
    assert prox.returncode == 0 and summary["hits"] == 2 and summary["evidence_rows"] > 0
    for path in summary["outputs"]:
        assert Path(path).read_text().endswith("\n") and Path(path + ".provenance.json").exists()
    refused = run("proximity", "--store", str(store), "--crimes", str(crimes_csv), "--out", str(tmp_path / "x.csv"))
    assert refused.returncode == 3 and refused.stderr.startswith("error: ")
    assert run("proximity", "--store").returncode == 2
    assert run("status", "--store", str(store)).stdout.startswith("store ")
