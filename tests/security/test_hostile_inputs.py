"""Hostile input stays data (SPEC §9, §4): one generated input set through the demo, the nightly job,
every map, report and page.

Every free-text field of the inputs carries payloads (see :mod:`tests.security.hostile`). The demo
pipeline runs on them (the nightly job, proximity reports with their maps, subject maps, the cohort
report, a supervision pack), then ``trailmon map`` and every page of the web app for every role.
Every inline ``<script>`` of every HTML produced is tokenized (esprima): the payload marker only
ever appears inside string literals; no CSV cell trailmon wrote starts with a formula prefix;
every file is owner-only; nothing answers 500.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.security.hostile import SAMPLE, make_hostile_sample
from tests.security.jscheck import MARK, assert_csv_safe, assert_inert

pytestmark = pytest.mark.skipif(not (SAMPLE / "subjects.csv").exists(), reason="sample_traces/ is not here")

PASSWORD = "hostile input suite passphrase"
USERS = {"ana": "analyst", "rev": "reviewer", "om": "offender_manager", "aud": "auditor"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from trailmon.demo import run_demo

    root = tmp_path_factory.mktemp("hostile")
    rename = make_hostile_sample(root / "sample")
    summary = run_demo(root / "out", sample=root / "sample")
    return {"out": root / "out", "summary": summary, "rename": rename, "sample": root / "sample"}


def _outputs(out: Path, suffix: str) -> list[Path]:
    # inbox/processed holds the senders' own files as received: not written by trailmon
    return sorted(p for p in out.rglob(f"*{suffix}") if "processed" not in p.relative_to(out).parts)


def test_every_html_the_demo_writes_runs_no_payload(demo):
    out = demo["out"]
    pages = _outputs(out, ".html")
    assert len(pages) >= 8
    scripts_read = 0
    for p in pages:
        html = p.read_text(encoding="utf-8")
        scripts_read += assert_inert(html, str(p.relative_to(out)))
    maps = [p for p in pages if "map" in p.name]
    assert maps and scripts_read >= len(maps)  # every map drew payloads into its script, inertly
    assert all("Content-Security-Policy" in p.read_text(encoding="utf-8") for p in maps)


def test_every_csv_trailmon_writes_is_spreadsheet_safe(demo):
    out = demo["out"]
    files = _outputs(out, ".csv")
    assert any("quarantine" in str(p) for p in files) and any("reports" in str(p) for p in files)
    hostile_cells = 0
    for p in files:
        text = p.read_text(encoding="utf-8")
        hostile_cells += text.count("'=HYPERLINK") + text.count("'+SUM") + text.count("'@cmd")
        assert_csv_safe(text, str(p.relative_to(out)))
    assert hostile_cells > 0  # the payloads were there, and were quoted


def test_every_file_the_demo_writes_is_owner_only(demo):
    out = demo["out"]
    loose = [f"{p.relative_to(out)} {p.stat().st_mode & 0o777:o}" for p in out.rglob("*") if p.stat().st_mode & 0o077]
    assert not loose, loose[:5]


def test_trailmon_map_cli_on_hostile_ids(demo, tmp_path):
    from trailmon.cli import main

    store = demo["out"] / "store"
    sid = next(v for v in demo["rename"].values() if MARK in v and "/" not in v and "\\" not in v)
    out = tmp_path / "s.html"
    id_ = ["--user", "ana", "--purpose", "hostile input suite"]
    assert (
        main(
            [
                "map",
                "--store",
                str(store),
                "--subject",
                sid,
                "--from",
                "2026-07-14T08:00:00Z",
                "--to",
                "2026-07-14T12:00:00Z",
                "--out",
                str(out),
                *id_,
            ]
        )
        == 0
    )
    assert assert_inert(out.read_text(encoding="utf-8"), "trailmon map --subject") > 0
    with sqlite3.connect(store / "cases.sqlite") as con:
        ref = con.execute("SELECT crime_ref FROM hits ORDER BY hit_id LIMIT 1").fetchone()[0]
    crimes = demo["out"] / "inbox" / "processed" / "crimes" / "crimes.csv"
    out = tmp_path / "c.html"
    assert main(["map", "--store", str(store), "--crimes", str(crimes), "--crime", ref, "--out", str(out), *id_]) == 0
    assert assert_inert(out.read_text(encoding="utf-8"), "trailmon map --crime") > 0


@pytest.fixture(scope="module")
def web(demo):
    pytest.importorskip("flask", reason="the web app needs flask")
    from trailmon.web import create_app
    from trailmon.web.auth import UsersFile

    store = demo["out"] / "store"
    users = UsersFile(store / "users.json")
    for name, role in USERS.items():
        users.add(name, role, PASSWORD)
    app = create_app(store, secret="hostile-" + "x" * 40)
    app.config["TESTING"] = True
    return app, store


def _signed_in(app, name):
    c = app.test_client()
    page = c.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = c.post(
        "/sign-in",
        data={"csrf_token": token, "username": name, "password": PASSWORD, "purpose": "hostile <b>`${XSSMARK(9)}`</b>"},
    )
    assert r.status_code == 302
    return c


def _csrf(c) -> str:
    with c.session_transaction() as s:
        return s["csrf"]


def _check(r, where: str) -> str:
    assert r.status_code < 500, f"{where}: {r.status_code}"
    if r.mimetype == "text/html":
        assert_inert(r.get_data(as_text=True), where)
    return r.get_data(as_text=True)


@pytest.mark.parametrize("name", sorted(USERS))
def test_every_page_for_every_role_on_hostile_data(web, name):
    app, store = web
    c = _signed_in(app, name)
    with sqlite3.connect(store / "cases.sqlite") as con:
        crimes = con.execute("SELECT DISTINCT force, crime_ref FROM hits ORDER BY 1, 2 LIMIT 2").fetchall()
        crimes += con.execute(
            "SELECT force, crime_ref FROM crimes WHERE crime_ref LIKE '%XSSMARK%' AND crime_ref NOT IN "
            "(SELECT crime_ref FROM hits) LIMIT 1"
        ).fetchall()
        subjects = [r[0] for r in con.execute("SELECT DISTINCT subject_id FROM hits ORDER BY 1 LIMIT 3")]
        subjects += [r[0] for r in con.execute("SELECT subject_id FROM subjects WHERE length(subject_id) > 20 LIMIT 2")]
        hit_ids = [r[0] for r in con.execute("SELECT hit_id FROM hits LIMIT 1")]
    urls = [
        "/",
        "/crimes?all=1",
        "/crimes?" + urlencode({"ref": "XSSMARK"}),
        "/subjects",
        "/subjects?q=XSSMARK",
        "/cohort?from=2026-07-13&to=2026-07-20",
        "/cohort/report?from=2026-07-13&to=2026-07-20",
        "/export",
        "/audit",
        "/audit?user=ana",
    ]
    for force, ref in crimes:
        q = urlencode({"force": force or "", "ref": ref})
        urls += [f"/crime?{q}", f"/crime/map?{q}&" + urlencode({"justify": "`${XSSMARK(8)}`"})]
    for sid in subjects:
        urls += ["/subject?" + urlencode({"subject": sid}), "/trail?" + urlencode({"subject": sid})]
    for url in urls:
        _check(c.get(url), f"{name} GET {url[:80]}")
    if name == "rev" and hit_ids:
        r = c.post(
            f"/review/{hit_ids[0]}",
            data={"csrf_token": _csrf(c), "action": "reject", "reason": "</script><script>XSSMARK(7)</script>"},
        )
        _check(r, "review")
        _check(c.get(r.headers["Location"]), "crime after review")
    if name in ("ana", "om"):
        for sid in subjects[:2]:
            r = c.post(
                "/trail?" + urlencode({"subject": sid}),
                data={
                    "csrf_token": _csrf(c),
                    "from": "2026-07-14T08:00:00Z",
                    "to": "2026-07-14T12:00:00Z",
                    "purpose": '=HYPERLINK("x") `${XSSMARK(5)}`',
                    "justify": "",
                },
            )
            html = _check(r, f"trail {sid[:20]!r}")
            m = re.search(r'src="(/trail/map\?t=[^"]+)"', html)
            if m:
                _check(c.get(m.group(1).replace("&amp;", "&")), f"trail map {sid[:20]!r}")
    if name in ("ana", "rev"):
        r = c.post(
            "/export",
            data={
                "csrf_token": _csrf(c),
                "purpose": "p",
                "recipient": "=cmd|' /C calc'!A0",
                "format": "csv",
                "filename": "out.csv",
            },
        )
        assert r.status_code == 200
        assert_csv_safe(r.get_data(as_text=True), "export download")
    _check(c.get("/crime?" + urlencode({"ref": "x", "done": "<script>XSSMARK(1)</script>"})), "done banner")


@pytest.fixture(scope="module")
def web_with_episodes(web, tmp_path_factory):
    """The hostile store with co-location episodes recorded (loose: 500 m for 2 min), so the subject page lists them."""
    from trailmon.cli import main

    app, store = web
    out = tmp_path_factory.mktemp("hostile-assoc") / "together.csv"
    argv = ["associations", "--store", str(store), "--from", "2026-07-14T06:00:00Z", "--to", "2026-07-14T15:00:00Z",
            "--distance", "500", "--min-duration", "120", "--out", str(out), "--user", "ana", "--purpose", "p"]
    assert main(argv) == 0
    with sqlite3.connect(store / "cases.sqlite") as con:
        episodes = con.execute(
            "SELECT association_id, subject_a, subject_b FROM associations "
            "ORDER BY (subject_a LIKE '%XSSMARK%') + (subject_b LIKE '%XSSMARK%') DESC, association_id LIMIT 3"
        ).fetchall()
    assert episodes and any(MARK in a + b for _, a, b in episodes), "the hostile walkers met someone"
    return app, store, episodes


@pytest.mark.parametrize("name", sorted(USERS))
def test_new_pages_and_downloads_for_every_role_on_hostile_data(web_with_episodes, name):
    """/police-data, the evidence pack form and a refused pack, /series, episodes and /trail/csv stay inert."""
    app, store, episodes = web_with_episodes
    c = _signed_in(app, name)
    with sqlite3.connect(store / "cases.sqlite") as con:
        hostile = con.execute(
            "SELECT DISTINCT force, crime_ref FROM crimes WHERE crime_ref LIKE '%XSSMARK%' ORDER BY crime_ref"
        ).fetchall()
        hit = con.execute("SELECT force, crime_ref, subject_id FROM hits ORDER BY hit_id LIMIT 1").fetchone()
    assert hostile and hit
    evil = "</script><script>XSSMARK(11)</script>"
    urls = [
        "/police-data",
        "/police-data?" + urlencode({"force": evil, "from": "2026-07-13", "to": "2026-07-20"}),
        "/police-data?" + urlencode({"from": evil}),
        "/series",
    ]
    whole = [ref for _, ref in hostile if not re.search(r"[\s,;]", ref)][:3]  # refs the series form keeps whole
    assert whole
    for force, ref in [*hostile[:4], hit[:2]]:
        urls.append("/crime/pack?" + urlencode({"force": force or "", "ref": ref}))
    for aid, a, b in episodes:
        urls += ["/subject?" + urlencode({"subject": a}), "/subject?" + urlencode({"subject": b, "episode": aid}),
                 f"/association/map?id={aid}&" + urlencode({"justify": "`${XSSMARK(12)}`"})]
    seen = 0
    for url in urls:
        seen += _check(c.get(url), f"{name} GET {url[:80]}").count(MARK)
    assert seen > 0  # the payloads reached the pages this role may open

    # hostile references the form splits (unknown: refused) and whole ones (a series, its map and report)
    split = " ".join(ref for _, ref in hostile[:4])
    r = c.post("/series", data={"csrf_token": _csrf(c), "refs": split, "days": "3", "purpose": evil})
    assert _check(r, f"{name} POST /series split").count(MARK) and r.status_code == (400 if name == "ana" else 403)
    refs = "\n".join(whole)
    r = c.post("/series", data={"csrf_token": _csrf(c), "refs": refs, "days": "3", "purpose": evil, "justify": evil})
    html = _check(r, f"{name} POST /series")
    links = re.findall(r'src="(/series/map\?t=[^"]+)"', html) + re.findall(r'href="(/series/report\?t=[^"]+)"', html)
    assert (r.status_code, len(links) == 2) == ((200, True) if name == "ana" else (403, False)), (r.status_code, links)
    for link in links:
        _check(c.get(link.replace("&amp;", "&")), f"{name} {link[:20]}")

    # an evidence pack of a hit nobody qualified: refused (400) for a reviewer, 403 for the others
    form = {"csrf_token": _csrf(c), "force": hit[0] or "", "ref": hit[1], "subject": hit[2], "purpose": evil,
            "author": evil, "authorised_by": "=cmd|' /C calc'!A0", "recipient": "<b>XSSMARK</b>", "format": "docx"}
    r = c.post("/crime/pack", data=form)
    _check(r, f"{name} POST /crime/pack")
    assert r.status_code == (400 if name == "rev" else 403), r.status_code
    assert "attachment" not in r.headers.get("Content-Disposition", "")

    # the trail as CSV, for the roles that may view trails: every cell spreadsheet-safe
    sid = next(s for _, a, b in episodes for s in (a, b) if MARK in s)
    r = c.post("/trail/csv?" + urlencode({"subject": sid}), data={
        "csrf_token": _csrf(c), "from": "2026-07-14T08:00:00Z", "to": "2026-07-14T12:00:00Z",
        "purpose": '=HYPERLINK("x") `${XSSMARK(13)}`', "rows": "full"})
    if name in ("ana", "om"):
        assert r.status_code == 200 and r.mimetype == "text/csv", r.status_code
        text = r.get_data(as_text=True)
        assert text.count("\n") > 2 and MARK in text
        assert_csv_safe(text, f"{name} trail csv")
    else:
        _check(r, f"{name} POST /trail/csv")
        assert r.status_code == 403
