"""The evidence pack for a force: DOCX read back, PDF rendered, refusals, the audited disclosure."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess

import pytest

from tests.test_nightly import SUBJECTS, crimes_csv, daily_crime, drop, nightly, trail_csv
from trailmon._chromium import find_browser
from trailmon.cli import main
from trailmon.report.case_evidence import hit_evidence
from trailmon.store import audit
from trailmon.store.cases import CaseStore
from trailmon.store.trails import TrailStore

docx = pytest.importorskip("docx", reason="python-docx (a main dependency) is not installed")

ACTIVATIONS = ("device_activation_id,device_activation_date,device_deactivation_date,person_id,device_id,"
               "device_serial_number\n1,2026-07-01 00:00:00,2999-12-12 23:59:59,S1,DEV-7,SN-0007\n")
WHO = ["--user", "rev1", "--purpose", "disclosure to force"]
PACK = ["--author", "A. Analyst", "--authorised-by", "M. Manager", "--recipient", "Notts CID"]


@pytest.fixture
def root(tmp_path):
    """Two crimes K1, K2 with a hit of S1 each; K1's hit qualified, K2's left pending."""
    drop(tmp_path / "inbox", [
        ("subjects", "s.csv", SUBJECTS),
        ("subjects", "t.csv", ACTIVATIONS),
        ("trails", "d1.csv", trail_csv(1)),
        ("trails", "d2.csv", trail_csv(2)),
        ("crimes", "c.csv", crimes_csv([daily_crime(1), daily_crime(2)])),
    ])
    nightly(tmp_path, 2)
    with CaseStore(tmp_path / "store" / "cases.sqlite") as cases:
        hits = cases.hits()
        k1 = int(hits[hits["crime_ref"] == "K1"]["hit_id"].iloc[0])
        cases.review(k1, "qualified", user="rev1")
    return tmp_path


def cli(capsys, *argv):
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def pack(capsys, root, crime, out, *extra):
    return cli(capsys, "report", "--store", str(root / "store"), "evidence", "--crime", crime, "--subject", "S1",
               "--out", str(out), *PACK, *WHO, "--json", *extra)


def test_docx_pack_read_back(root, capsys):
    out = root / "pack.docx"
    code, stdout, err = pack(capsys, root, "K1", out)
    assert code == 0, err
    res = json.loads(stdout)
    assert res["exhibits"] == ["EMAC/01", "EMAC/02", "EMAC/03", "EMAC/04"]
    d = docx.Document(str(out))
    text = "\n".join(p.text for p in d.paragraphs)
    # headings are Word heading styles, so a force can restyle and navigate the document
    styles = {p.style.name for p in d.paragraphs if p.text.startswith(("Exhibit", "1. Summary", "5. Draft"))}
    assert {"Heading 1", "Heading 2"} <= styles
    for n in res["exhibits"]:
        assert f"Exhibit {n}" in text
    # the statement names every exhibit
    produce = next(p.text for p in d.paragraphs if p.text.startswith("I produce the following exhibits"))
    assert all(n in produce for n in res["exhibits"])
    assert "Criminal Justice Act 1967, s. 9" in text and "I shall be liable to prosecution" in text
    assert "does not show that the person committed or witnessed the crime" in text
    # four pictures: overview, one detail map, the key (and nothing else)
    assert len(d.inline_shapes) == 3
    # positions table rows = the qualified hit's evidence rows
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        h = cases.hits(state="qualified")
        ev = hit_evidence(cases, TrailStore(root / "store"), h["hit_id"]).rows
    table = next(t for t in d.tables if t.rows[0].cells[0].text == "subject")
    rows = [[c.text for c in r.cells] for r in table.rows[1:]]
    assert len(rows) == len(ev) > 0
    assert [r[1] for r in rows] == list(ev["label"])
    assert all(r[3].endswith(("BST", "GMT")) and r[4].endswith("Z") for r in rows)
    # identifiers, review and the method statement
    cells = {c.text for t in d.tables for r in t.rows for c in r.cells}
    assert {"A123456", "2012/0123456Y", "DEV-7", "SN-0007"} <= cells  # CRN, PNC, device of the window
    assert any(c.startswith("qualified by rev1 at ") for c in cells)
    assert any("EPSG:27700" in c and "OSTN15" in c for c in cells)
    assert any("sha256" in c for c in cells)
    assert "A. Analyst" in cells and "M. Manager" in cells
    # the disclosure is audited with the recipient and the pack's sha256
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    assert res["sha256"] == sha
    last = audit.entries(root / "store" / "audit.jsonl")[-1]
    assert (last["kind"], last["action"], last["recipient"]) == ("disclosure", "report evidence", "Notts CID")
    assert last["parameters"]["sha256"] == sha and last["subjects"] == ["S1"]
    assert (out.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize(
    ("state", "match"),
    [("pending", "is pending: only qualified hits go into an evidence pack; review it first"),
     ("rejected", "is rejected: only qualified hits go into an evidence pack; it was rejected by rev2")],
)
def test_unqualified_hit_is_refused(root, capsys, state, match):
    if state == "rejected":
        with CaseStore(root / "store" / "cases.sqlite") as cases:
            hits = cases.hits()
            cases.review(int(hits[hits["crime_ref"] == "K2"]["hit_id"].iloc[0]), "rejected", user="rev2",
                         reason="on a bus")
    n = len(audit.entries(root / "store" / "audit.jsonl"))
    code, _, err = pack(capsys, root, "K2", root / "p.docx")
    assert code == 1 and match in err
    assert not (root / "p.docx").exists()
    assert len(audit.entries(root / "store" / "audit.jsonl")) == n  # nothing disclosed, nothing audited


def test_refusals(root, capsys):
    store = str(root / "store")
    code, _, err = cli(capsys, "report", "--store", store, "evidence", "--crime", "K1", "--subject", "S1", "--out",
                       str(root / "p.docx"), "--author", "A", "--authorised-by", "M", *WHO)
    assert code == 3 and "--recipient" in err
    code, _, err = pack(capsys, root, "K1", root / "p.odt")
    assert code == 1 and "use one of .docx, .pdf" in err
    code, _, err = cli(capsys, "report", "--store", store, "evidence", "--crime", "K1", "--subject", "S3", "--out",
                       str(root / "p.docx"), *PACK, *WHO)
    assert code == 1 and "subject 'S3' has no hit on crime 'K1' version 1" in err
    code, _, err = cli(capsys, "report", "--store", store, "evidence", "--crime", "K9", "--subject", "S1", "--out",
                       str(root / "p.docx"), *PACK, *WHO)
    assert code == 1 and "no crime 'K9'" in err


@pytest.mark.skipif(find_browser() is None, reason="no chromium or chromium-browser on PATH to print the PDF")
def test_pdf_pack_renders(root, capsys, tmp_path):
    out = root / "pack.pdf"
    code, stdout, err = pack(capsys, root, "K1", out, "--prefix", "NOT")
    assert code == 0, err
    data = out.read_bytes()
    assert data.startswith(b"%PDF") and json.loads(stdout)["sha256"] == hashlib.sha256(data).hexdigest()
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed to render the PDF to PNG")
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "3", str(out), str(tmp_path / "page")],
                   check=True, timeout=120)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert len(pages) == 3 and all(p.stat().st_size > 5000 for p in pages)


def test_hits_show_the_device_of_their_monitoring_window(root, capsys):
    code, out, _ = cli(capsys, "review", "--store", str(root / "store"), "list", "--json", "--user", "rev1")
    assert code == 0
    assert {(h["crime_ref"], h["device_id"], h["device_serial"]) for h in json.loads(out)["hits"]} == {
        ("K1", "DEV-7", "SN-0007"), ("K2", "DEV-7", "SN-0007")}


def test_pdf_without_chromium_is_a_clear_error(root, capsys, monkeypatch):
    import trailmon._chromium

    monkeypatch.setattr(trailmon._chromium, "find_browser", lambda: None)
    n = len(audit.entries(root / "store" / "audit.jsonl"))
    code, _, err = pack(capsys, root, "K1", root / "p.pdf")
    assert code == 1 and "printed with headless Chromium" in err and "or write the pack as .docx" in err
    assert not (root / "p.pdf").exists() and len(audit.entries(root / "store" / "audit.jsonl")) == n


def _add_gaps(root):
    """Two gaps near K1's scene, of subjects without a hit: one reachable on foot, one not at all."""
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        crime = cases.frame("SELECT force, crime_version, committed_from_ns FROM crimes WHERE crime_ref = 'K1' "
                            "ORDER BY crime_version DESC LIMIT 1").iloc[0]
        t = int(crime["committed_from_ns"])
        with cases.transaction() as c:
            c.executemany(
                "INSERT INTO gaps (force, crime_ref, crime_version, subject_id, gap_start_ns, gap_end_ns, gap_s, "
                "before_distance_m, after_distance_m, coverage, min_speed_kmh, reachable_by) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                [(crime["force"], "K1", int(crime["crime_version"]), "S2", t - 600 * 10**9, t + 1200 * 10**9,
                  1800.0, 250.0, 400.0, 0.25, 4.123456, "foot"),
                 (crime["force"], "K1", int(crime["crime_version"]), "S3", t + 60 * 10**9, t + 900 * 10**9,
                  840.0, 9000.0, 12000.0, 0.4, None, "no")],
            )


def test_gaps_near_the_scene_with_reachability_in_docx_html_and_audit(root, capsys):
    from trailmon.report.evidence_pack import GAP_CAVEAT, evidence_pack, render_html

    _add_gaps(root)
    with CaseStore(root / "store" / "cases.sqlite") as cases:
        p = evidence_pack(TrailStore(root / "store"), cases, "K1", ["S1"], author="A", authorised_by="M",
                          recipient="Notts CID")
    assert list(p.gaps["subject_id"]) == ["S2", "S3"]
    assert list(p.gaps["min_speed_kmh"]) == ["4.1", ""] and list(p.gaps["reachable_by"]) == ["foot", "no"]
    assert p.gaps["gap_start_uk"].iloc[0].endswith(("BST", "GMT")) and p.gaps["gap_start_utc"].iloc[0].endswith("Z")
    assert "never evidence of presence" in GAP_CAVEAT
    html = render_html(p)
    assert "Gaps near the scene" in html and "<th>least speed, km/h</th>" in html and "<th>reachable by</th>" in html
    assert "<td>4.1</td><td>foot</td>" in html and "bound from straight lines, never evidence of presence" in html
    out = root / "gaps.docx"
    code, _, err = pack(capsys, root, "K1", out)
    assert code == 0, err
    d = docx.Document(str(out))
    text = "\n".join(p.text for p in d.paragraphs)
    assert "Gaps near the scene" in text and "never evidence of presence" in text
    table = next(t for t in d.tables if t.rows[0].cells[-1].text == "reachable by")
    rows = [[c.text for c in r.cells] for r in table.rows[1:]]
    assert [(r[0], r[-2], r[-1]) for r in rows] == [("S2", "4.1", "foot"), ("S3", "", "no")]
    assert [(r[6], r[7], r[8]) for r in rows] == [("250.0", "400.0", "0.250"), ("9000.0", "12000.0", "0.400")]
    last = audit.entries(root / "store" / "audit.jsonl")[-1]
    assert last["subjects"] == ["S1", "S2", "S3"] and last["parameters"]["gap_subjects"] == ["S2", "S3"]
    assert last["counts"]["gaps_near_scene"] == 2


def test_no_gaps_recorded_says_so(root, capsys):
    from trailmon.report.evidence_pack import evidence_pack, render_html

    with CaseStore(root / "store" / "cases.sqlite") as cases:
        p = evidence_pack(TrailStore(root / "store"), cases, "K1", ["S1"], author="A", authorised_by="M",
                          recipient="Notts CID")
    assert p.gaps.empty and "None recorded for this crime version." in render_html(p)
