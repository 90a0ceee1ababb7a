"""Pages that say what happened: police data, match state and versions on the crime page, what changed
since review, the evidence pack download, export filters, the trail CSV and the app's base maps."""

from __future__ import annotations

import hashlib
import io
import re

import pandas as pd
import pytest

from tests.web.conftest import SAMPLE, T, audit_entries, hit_ids, post, sign_in
from trailmon.io.quarantine import REQUIRED_ACTION, RejectReason
from trailmon.nightly import run_nightly
from trailmon.report._columns import TRAIL
from trailmon.store.cases import CaseStore

PAYLOAD = "<script>alert('x')</script> side door forced"
TEST_FORCE = "NOT"  # the crime-mapping force code of Nottinghamshire
BATCH = "NOT20260717"
CRIMES_CSV = (  # crime-mapping layout (no header); X01 at the scene of C03 in its window: N03 and N04 pass it
    f"Nottinghamshire,BIAD,Burglary in a dwelling,{BATCH},X01,20260715094600,20260715104600,457320,339900,,,OSGB36,"
    f"{PAYLOAD}\n"
    f"Nottinghamshire,RB,Robbery,{BATCH},X02,2026071509,20260715104600,457320,339900,,,OSGB36,late\n"
    f"Nottinghamshire,RB,Robbery,{BATCH},X03,20260715094600,20260715104600,,,,,OSGB36,where\n"
)
CRIMES_FILE = f"crime_mapping_{BATCH}.csv"
# C05 sent again with a later end: a new version whose committed_to changed
C05 = next(line for line in (SAMPLE / "crimes" / "crimes.csv").read_text().splitlines() if line.startswith("C05,"))
# a late fix of N03 on the scene of C03 (between its fixes of 09:57:02 and 09:58:01): C03's hit changes
LATE_FIX = "subject_id,timestamp,lat,lon,accuracy_m,fix_type\nN03,2026-07-15T09:57:30Z,52.9534441,-1.1482636,5.0,gps\n"


def night2(store, tmp_path, *, crimes: str | None = None, trails: str | None = None) -> str:
    """A second night over ``store`` with these inbox files; returns its run id."""
    inbox = tmp_path / "inbox2"
    for kind, name, text in (("crimes", CRIMES_FILE, crimes), ("trails", "late.csv", trails)):
        if text is not None:
            (inbox / kind).mkdir(parents=True, exist_ok=True)
            (inbox / kind / name).write_text(text)
    got = run_nightly(store, inbox, tmp_path / "out2", as_of="2026-07-17T02:00:00Z", tz="Europe/London")
    return got["run_id"]


def _c05_resent() -> str:
    head = (SAMPLE / "crimes" / "crimes.csv").read_text().splitlines()[0]
    cells = C05.split(",")
    i = head.split(",").index("committed_to")
    cells[i] = str(pd.Timestamp(cells[i]) + pd.Timedelta(minutes=30)).replace("+00:00", "Z").replace(" ", "T")
    return head + "\n" + ",".join(cells) + "\n"


# -- police data ---------------------------------------------------------------------------------------------
def test_police_data_page_shows_batches_errors_actions_and_the_run(client, store, tmp_path):
    run_id = night2(store, tmp_path, crimes=CRIMES_CSV)
    sign_in(client, "ana", purpose="police data check")
    r = client.get("/police-data")
    assert r.status_code == 200
    page, text = r.text, T(r)
    assert "<script>" not in page.split("<main>")[1]  # hostile free text stays data
    rows = re.findall(r"<tr><td>([\d-]+)</td><td>([^<]*)</td><td>([^<]*)</td><td><a [^>]*>([^<]+)</a>", page)
    assert ("2026-07-17", TEST_FORCE, BATCH, CRIMES_FILE) in rows
    assert ("2026-07-16", "Nottinghamshire Police", "", "crimes.csv") in rows
    section = text.split(CRIMES_FILE)[-1]
    assert "partial" in section and "3 read, 1 accepted, 2 rejected" in section
    for reason in (RejectReason.INVALID_FROM_DATE_FORMAT, RejectReason.MISSING_LOCATION_DATA):
        assert reason.value in section and REQUIRED_ACTION[reason] in section
    assert "<td>BIAD</td><td>burglary</td><td>1</td>" in page
    assert f"matched by run {run_id} (done" in section
    e = audit_entries(store)[-1]
    got = (e["user"], e["action"], e["kind"], e["purpose"])
    assert got == ("ana", "police data", "consultation", "police data check")
    assert e["parameters"]["interface"] == "web" and e["counts"]["batches"] == 2
    # filters: force, and days
    page = client.get("/police-data?force=nottinghamshire").text
    assert CRIMES_FILE not in page and ">crimes.csv<" in page
    page = client.get("/police-data?from=2026-07-17").text
    assert CRIMES_FILE in page and ">crimes.csv<" not in page
    page = client.get("/police-data?to=2026-07-16").text
    assert CRIMES_FILE not in page and ">crimes.csv<" in page
    r = client.get("/police-data?from=yesterday-ish")
    assert r.status_code == 400 and "from must be a day" in T(r)


def test_police_data_without_receipts_reads_the_case_store(client, store):
    from trailmon.store.retention import PLACES

    (store / PLACES).unlink()  # receipts purged, or a store whose output folders are unknown
    sign_in(client, "ana")
    r = client.get("/police-data")
    assert r.status_code == 200
    text = T(r)
    assert "crimes.csv" in text and "none found in the output folders the nightly job used" in text
    assert "<td>BIAD</td><td>burglary</td><td>6</td>" in r.text  # by type, from the stored crimes
    assert "matched by run nightly-" in text


def test_police_data_shows_at_most_max_batches_newest_first(client, store, tmp_path, monkeypatch):
    from trailmon.web.views import police

    night2(store, tmp_path, crimes=CRIMES_CSV)
    monkeypatch.setattr(police, "MAX_BATCHES", 1)
    sign_in(client, "rev")
    r = client.get("/police-data")
    assert "1 batch(es), newest first; 1 more match" in T(r) and CRIMES_FILE in r.text and ">crimes.csv<" not in r.text
    assert audit_entries(store)[-1]["counts"]["more"] == 1


@pytest.mark.parametrize(("role", "code"), [("ana", 200), ("rev", 200), ("om", 403), ("aud", 403)])
def test_police_data_for_every_role(client, role, code):
    sign_in(client, role)
    r = client.get("/police-data")
    assert r.status_code == code
    assert ('href="/police-data"' in r.text) is (code == 200)


# -- the crime page -----------------------------------------------------------------------------------------
def test_crime_page_says_whether_and_when_it_was_matched(client, store):
    sign_in(client, "ana")
    with CaseStore(store / "cases.sqlite") as cases:
        run = cases.frame("SELECT matched_run FROM crimes WHERE crime_ref = 'C03'").iat[0, 0]
        ended = cases.frame("SELECT ended FROM runs WHERE run_id = ?", [run]).iat[0, 0]
        # a version nobody was near (no hits), and one loaded but never matched
        empty = cases.frame(
            "SELECT c.crime_ref FROM crimes c LEFT JOIN hits h USING (force, crime_ref, crime_version) "
            "WHERE h.hit_id IS NULL AND c.force = '' ORDER BY c.crime_ref LIMIT 1"
        ).iat[0, 0]
        cases.conn.execute("UPDATE crimes SET needs_match = 1, matched_run = NULL WHERE crime_ref = 'C11'")
        cases.conn.commit()
    r = client.get("/crime?ref=C03")
    assert f"Matched by run {run} at {ended}: 2 hit(s) within 100 m." in T(r)
    r = client.get(f"/crime?ref={empty}")
    assert f"Matched by run {run} at {ended}: nobody within 100 m." in T(r)
    r = client.get("/crime?ref=C11")
    assert "Not yet matched: the next nightly run matches this version" in T(r)


def test_versions_table_says_what_changed_and_marks_the_latest(client, store, tmp_path):
    night2(store, tmp_path, crimes=_c05_resent())
    sign_in(client, "rev")
    r = client.get("/crime?ref=C05&version=1")
    assert r.status_code == 200
    rows = re.findall(r"<tr[^>]*>\s*<td><a [^>]*>(\d+)</a></td>(.*?)</tr>", r.text.split('id="versions"')[1], re.S)
    got = {int(v): (re.search(r'class="changed">([^<]*)<', rest).group(1), "latest" in rest) for v, rest in rows}
    assert got == {1: ("first version", False), 2: ("committed_to", True)}


def test_crime_page_shows_the_free_text_as_received_escaped(client, store, tmp_path):
    night2(store, tmp_path, crimes=CRIMES_CSV)
    sign_in(client, "ana")
    r = client.get(f"/crime?ref=NOT/X01&force={TEST_FORCE}")
    assert r.status_code == 200
    received = r.text.split('id="as-received"')[1].split("</table>")[0]
    assert "<script>" not in received and "&lt;script&gt;" in received
    assert PAYLOAD in T(r) and "<th>crimeText</th>" in received and "Burglary in a dwelling" in received
    r = client.get("/crime?ref=C03")  # no free text: the offence as sent
    assert "<th>offence</th><td>Robbery</td>" in r.text.split('id="as-received"')[1]


def test_hit_changed_since_review_shows_the_verdict_lost_and_the_figures(client, store, tmp_path):
    sign_in(client, "rev", purpose="review")
    with CaseStore(store / "cases.sqlite") as cases:
        h = cases.hits().query("crime_ref == 'C03' and subject_id == 'N03'").iloc[0]
    hid, before = int(h["hit_id"]), float(h["min_distance_m"])
    assert post(client, f"/review/{hid}", {"action": "qualify"}).status_code == 302
    run_id = night2(store, tmp_path, trails=LATE_FIX)
    with CaseStore(store / "cases.sqlite") as cases:
        now = cases.hits().set_index("hit_id").loc[hid]
        assert now["changed_since_review"] == 1 and now["review_state"] == "pending"
    r = client.get("/crime?ref=C03")
    box = T(r).split(f'id="changes-{hid}"')[1].split("</div>")[0]
    assert "Changed since review" in box and "qualified by rev at" in box and f"ended by run {run_id}" in box
    row = re.search(r"<td>min_distance_m</td><td>([^<]+)</td><td>([^<]+)</td>", box)
    assert float(row.group(1)) == pytest.approx(before, abs=1e-3)
    assert float(row.group(2)) == pytest.approx(float(now["min_distance_m"]), abs=1e-3) and float(row.group(2)) < 1
    assert "<td>evidence</td>" in box
    # a changed hit cannot go into a pack until reviewed again
    r = client.get("/crime/pack?ref=C03")
    assert f'id="subject-{hid}" disabled' in r.text.replace(" checked", "")


# -- the evidence pack ------------------------------------------------------------------------------------
PACK_FORM = {
    "ref": "C03",
    "force": "",
    "version": "1",
    "author": "PC 123 Example",
    "authorised_by": "Insp Manager",
    "recipient": "Nottinghamshire Police, CID",
    "purpose": "disclosure for C03",
    "format": "docx",
}


def test_reviewer_downloads_the_evidence_pack_audited_before_sent(client, store):
    docx = pytest.importorskip("docx", reason="the evidence pack needs python-docx")
    ids = dict(zip(["N03", "N04"], sorted(hit_ids(store, "C03")), strict=True))
    sign_in(client, "rev", purpose="daily review")
    r = client.get("/crime?ref=C03")
    assert "No qualified hit on current figures yet" in T(r)
    post(client, f"/review/{ids['N04']}", {"action": "qualify"})
    r = client.get("/crime?ref=C03")
    assert 'href="/crime/pack?ref=C03&amp;force=&amp;version=1"' in r.text
    form = client.get("/crime/pack?ref=C03").text
    assert re.search(rf'id="subject-{ids["N04"]}" checked', form)
    assert re.search(rf'id="subject-{ids["N03"]}" disabled', form) and "pending: only qualified hits" in form
    e = audit_entries(store)[-1]
    assert (e["action"], e["subjects"], e["counts"]) == (
        "evidence pack form",
        ["N03", "N04"],
        {"hits": 2, "qualified_current": 1},
    )
    n = len(audit_entries(store))
    r = post(client, "/crime/pack", {**PACK_FORM, "subject": ["N04"]})
    assert r.status_code == 200, T(r)[-600:]
    assert r.headers["Content-Disposition"] == 'attachment; filename="evidence-C03-v1.docx"'
    data = r.data
    doc = docx.Document(io.BytesIO(data))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "EMAC/01" in text and "N04" in "\n".join(c.text for t in doc.tables for row in t.rows for c in row.cells)
    (e,) = audit_entries(store)[n:]
    assert (e["user"], e["action"], e["kind"], e["recipient"], e["purpose"]) == (
        "rev",
        "report evidence",
        "disclosure",
        PACK_FORM["recipient"],
        PACK_FORM["purpose"],
    )
    assert e["parameters"]["sha256"] == hashlib.sha256(data).hexdigest() == r.headers["X-Content-SHA256"]
    assert e["parameters"]["interface"] == "web" and e["parameters"]["hit_ids"] == [ids["N04"]]
    assert e["parameters"]["author"] == PACK_FORM["author"] and e["subjects"] == ["N04"]


def test_pack_refuses_pending_rejected_and_missing_fields_as_pages(client, store, monkeypatch):
    ids = dict(zip(["N03", "N04"], sorted(hit_ids(store, "C03")), strict=True))
    sign_in(client, "rev")
    post(client, f"/review/{ids['N04']}", {"action": "reject", "reason": "a neighbour"})
    n = len(audit_entries(store))
    r = post(client, "/crime/pack", {**PACK_FORM, "subject": ["N03"]})
    assert r.status_code == 400 and "is pending: only qualified hits go into an evidence pack" in T(r)
    r = post(client, "/crime/pack", {**PACK_FORM, "subject": ["N04"]})
    assert r.status_code == 400 and "is rejected" in T(r) and "cannot be disclosed" in T(r)
    r = post(client, "/crime/pack", {**PACK_FORM, "subject": ["N99"]})
    assert r.status_code == 400 and "has no hit on crime 'C03'" in T(r)
    r = post(client, "/crime/pack", {**PACK_FORM})
    assert r.status_code == 400 and "tick at least one subject" in T(r)
    for field in ("recipient", "author", "authorised_by"):
        r = post(client, "/crime/pack", {**PACK_FORM, field: " ", "subject": ["N03"]})
        assert r.status_code == 403 and "an evidence pack is a disclosure" in T(r)
    r = post(client, "/crime/pack", {**PACK_FORM, "purpose": "", "subject": ["N03"]})
    assert r.status_code == 403 and "say why you need this" in T(r)
    import trailmon._chromium

    monkeypatch.setattr(trailmon._chromium, "find_browser", lambda: None)
    assert "PDF is not offered" in client.get("/crime/pack?ref=C03").text
    r = post(client, "/crime/pack", {**PACK_FORM, "format": "pdf", "subject": ["N03"]})
    assert r.status_code == 400 and "headless Chromium" in T(r) and "download the pack as DOCX" in T(r)
    assert [e for e in audit_entries(store)[n:] if e["kind"] == "disclosure"] == []


@pytest.mark.parametrize("role", ["ana", "om", "aud"])
def test_pack_is_for_reviewers_only(client, role):
    sign_in(client, role)
    assert client.get("/crime/pack?ref=C03").status_code == 403
    r = post(client, "/crime/pack", {**PACK_FORM, "subject": ["N03"]})
    assert r.status_code == 403 and "(evidence_pack)" in T(r)
    if role == "ana":
        assert 'id="pack-link"' not in client.get("/crime?ref=C03").text


# -- export filters ----------------------------------------------------------------------------------------
def _export(client, **form):
    r = post(client, "/export", {"recipient": "CPS", "purpose": "file", "format": "csv", **form})
    assert r.status_code == 200, T(r)[-500:]
    body = "\n".join(line for line in r.text.splitlines() if not line.startswith("#"))
    return pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False)


def test_export_filtered_by_force_batch_and_days(client, store, tmp_path):
    night2(store, tmp_path, crimes=CRIMES_CSV)
    sign_in(client, "rev", purpose="disclosure")
    with CaseStore(store / "cases.sqlite") as cases:
        hits = cases.hits()
    for hid in hits.loc[hits["crime_ref"].isin(["C03", "B07", "NOT/X01"]), "hit_id"]:
        post(client, f"/review/{int(hid)}", {"action": "qualify"})
    every = _export(client)
    assert {"C03", "B07", "NOT/X01"} <= set(every["crime_ref"]) and "appointment_outcome" in set(every["event_type"])
    got = _export(client, force="Nottinghamshire Police")
    assert set(got["crime_ref"]) == {"B07"} and set(got["event_type"]) == {"proximity_hit"}
    got = _export(client, batch=BATCH)
    assert set(got["crime_ref"]) == {"NOT/X01"} and set(got["force"]) == {TEST_FORCE}
    got = _export(client, **{"from": "2026-07-15", "to": "2026-07-15"})
    assert len(got) and set(got["start"].str[:10]) == {"2026-07-15"}
    assert len(_export(client, **{"from": "2026-07-20"})) == 0
    e = audit_entries(store)[-1]
    assert e["kind"] == "disclosure" and e["parameters"]["from"] == "2026-07-20" and e["recipient"] == "CPS"
    r = post(client, "/export", {"recipient": "CPS", "purpose": "file", "from": "2026-07-16", "to": "2026-07-15"})
    assert r.status_code == 400 and "is before" in T(r)
    r = post(client, "/export", {"recipient": "CPS", "purpose": "file", "to": "soon"})
    assert r.status_code == 400 and "'to' must be a day" in T(r)


# -- the trail page ----------------------------------------------------------------------------------------
TRAIL_FORM = {"subject": "N03", "from": "2026-07-15T09:00", "to": "2026-07-15T10:00", "purpose": "curfew check"}


def test_trail_page_gives_london_time_beside_utc(client):
    sign_in(client, "om")
    r = post(client, "/trail?subject=N03", TRAIL_FORM)
    assert r.status_code == 200
    html = r.text
    assert "<th>time</th><th>time_europe_london</th>" in html
    first = re.search(r"<td>N03</td><td>([^<]+)</td><td>([^<]+)</td>", html)
    utc, local = pd.Timestamp(first.group(1)), pd.Timestamp(first.group(2))
    assert local == utc and first.group(2).endswith("+01:00")  # BST in July
    assert "(Europe/London: 2026-07-15T09:00:00.000+01:00 to 2026-07-15T10:00:00.000+01:00)" in html
    assert utc >= pd.Timestamp("2026-07-15T08:00Z")


@pytest.mark.parametrize("mode", ["condensed", "full"])
def test_trail_csv_download_under_the_trail_rules(client, store, mode):
    sign_in(client, "ana")
    n = len(audit_entries(store))
    r = post(client, "/trail/csv", {**TRAIL_FORM, "rows": mode})
    assert r.status_code == 200 and r.mimetype == "text/csv"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="trail-N03-20260715T080000Z')
    head = [line for line in r.text.splitlines() if line.startswith("#")]
    assert "# purpose: curfew check" in head and "# user: ana" in head
    df = pd.read_csv(io.StringIO("\n".join(line for line in r.text.splitlines() if not line.startswith("#"))))
    want = (
        ["subject_id", "time", "time_europe_london", "lat", "lon", "accuracy_m", "flags"]
        if mode == "condensed"
        else [*TRAIL[:2], "time_europe_london", *TRAIL[2:]]
    )
    assert list(df.columns) == want and len(df) > 10
    assert (pd.to_datetime(df["time"], utc=True) == pd.to_datetime(df["time_europe_london"], utc=True)).all()
    (e,) = audit_entries(store)[n:]
    got = (e["action"], e["purpose"], e["subjects"], e["counts"])
    assert got == ("trail csv", "curfew check", ["N03"], {"fixes": len(df)})
    assert e["parameters"]["rows"] == mode and e["parameters"]["interface"] == "web"


def test_trail_csv_refused_over_the_cap_without_justification(client, store):
    sign_in(client, "ana")
    wide = {**TRAIL_FORM, "from": "2026-07-13T00:00", "to": "2026-07-16T00:00", "rows": "full"}
    r = post(client, "/trail/csv", wide)
    assert r.status_code == 403 and "wider than the 48 h cap" in T(r)
    e = audit_entries(store)[-1]
    assert e["action"] == "trail refused" and e["parameters"]["download"] == "csv"
    r = post(client, "/trail/csv", {**wide, "justify": "three nights of curfew breaches"})
    assert r.status_code == 200 and audit_entries(store)[-1]["parameters"]["justify"].startswith("three nights")
    r = post(client, "/trail/csv", {**TRAIL_FORM, "purpose": ""})
    assert r.status_code == 403 and "say why you need this" in T(r)
    r = post(client, "/trail/csv", {**TRAIL_FORM, "rows": "everything"})
    assert r.status_code == 400 and "rows must be one of condensed, full" in T(r)


@pytest.mark.parametrize(("role", "code"), [("ana", 200), ("om", 200), ("rev", 403), ("aud", 403)])
def test_trail_csv_for_every_role(client, role, code):
    sign_in(client, role)
    assert post(client, "/trail/csv", TRAIL_FORM).status_code == code


# -- base maps in the app ----------------------------------------------------------------------------------
TILES = "https://tiles.example.internal:8443/osm/{z}/{x}/{y}.png"


def test_app_maps_draw_the_tiles_and_base_map_and_allow_exactly_that_origin(store):
    from trailmon.web import create_app

    app = create_app(store, secret="s" * 40, tiles=TILES, basemap=SAMPLE / "basemap.geojson")
    c = app.test_client()
    sign_in(c, "ana")
    r = c.get("/crime/map?ref=C03")
    assert r.status_code == 200
    assert TILES in r.text and "Base map" in r.text
    csp = r.headers["Content-Security-Policy"]
    assert re.search(r"img-src ([^;]*);", csp).group(1) == "data: https://tiles.example.internal:8443"
    assert "tiles.example.internal" not in c.get("/crime?ref=C03").headers["Content-Security-Policy"]
    # without tiles the maps fetch nothing
    plain = create_app(store, secret="s" * 40).test_client()
    sign_in(plain, "ana")
    r = plain.get("/crime/map?ref=C03")
    assert re.search(r"img-src ([^;]*);", r.headers["Content-Security-Policy"]).group(1) == "data:"
    assert "Base map" not in r.text


def test_serve_takes_tiles_and_basemap_from_flags_or_environment(store, monkeypatch, capsys):
    import waitress

    from trailmon.cli import main

    calls = []
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: calls.append(app))
    monkeypatch.setenv("TRAILMON_TILES", TILES)
    monkeypatch.setenv("TRAILMON_BASEMAP", str(SAMPLE / "basemap.geojson"))
    assert main(["serve", "--store", str(store)]) == 0
    st = calls[-1].extensions["trailmon"]
    assert st["tiles"] == TILES and st["basemap"] is not None and len(st["basemap"]) > 0
    other = "https://other.example/{z}/{x}/{y}.png"
    assert main(["serve", "--store", str(store), "--tiles", other, "--basemap", ""]) == 0
    st = calls[-1].extensions["trailmon"]
    assert st["tiles"] == other and st["basemap"] is None
    assert main(["serve", "--store", str(store), "--tiles", "ftp://tiles.example/{z}/{x}/{y}.png"]) != 0
    assert "--tiles must be" in capsys.readouterr().err


def test_pack_as_pdf_when_chromium_is_installed(client, store):
    from trailmon._chromium import find_browser

    if find_browser() is None:
        pytest.skip("no chromium on PATH: the PDF pack is printed with headless Chromium")
    (hid, _) = sorted(hit_ids(store, "C03"))
    sign_in(client, "rev")
    post(client, f"/review/{hid}", {"action": "qualify"})
    assert "PDF is not offered" not in client.get("/crime/pack?ref=C03").text
    r = post(client, "/crime/pack", {**PACK_FORM, "format": "pdf", "subject": ["N03"]})
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    e = audit_entries(store)[-1]
    assert e["kind"] == "disclosure" and e["parameters"]["sha256"] == hashlib.sha256(r.data).hexdigest()
