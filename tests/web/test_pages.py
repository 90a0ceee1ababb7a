"""Every page for every role through Flask's test client, the CLI's answers, and the audit entries."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest

from tests.web.conftest import USERS, T, audit_entries, csrf_of, hit_ids, post, sign_in
from trailmon.cli import main
from trailmon.report._columns import ATTENDANCE, EVIDENCE, GAPS, HITS, TRAIL, ZONES
from trailmon.store import audit
from trailmon.store.cases import CaseStore
from trailmon.store.trails import TrailStore

PAGES = {
    # page (PERMISSIONS key): a GET url that shows it with data
    "crimes": "/crimes?ref=C0",
    "crime": "/crime?ref=C02",
    "subjects": "/subjects?q=N0",
    "subject": "/subject?subject=N02",
    "trail": "/trail?subject=N02",
    "cohort": "/cohort",
    "export": "/export",
    "audit": "/audit",
    "police_data": "/police-data",
    "evidence_pack": "/crime/pack?ref=C03",
}
EXPECTED = {
    # role: the pages it may open (the policy of PERMISSIONS, written out)
    "analyst": {"crimes", "crime", "subjects", "subject", "trail", "cohort", "export", "police_data"},
    "reviewer": {"crimes", "crime", "subjects", "subject", "export", "police_data", "evidence_pack"},
    "offender_manager": {"subjects", "subject", "trail", "cohort"},
    "auditor": {"audit"},
}


def _user_of(role: str) -> str:
    return next(n for n, r in USERS.items() if r == role)


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_every_page_for_every_role(client, role):
    assert sign_in(client, _user_of(role)).status_code == 302
    for what, url in PAGES.items():
        r = client.get(url)
        if what in EXPECTED[role]:
            assert r.status_code == 200, (role, what, r.text[:500])
            assert "OFFICIAL-SENSITIVE" in T(r)
        else:
            assert r.status_code == 403, (role, what)
            assert f"the {role} role may not open this page ({what})" in T(r)
    home = client.get("/")
    assert home.status_code == 302 and client.get(home.headers["Location"]).status_code == 200


def test_sign_in_and_out_are_audited(client, store):
    r = sign_in(client, "rev", purpose="overnight hits")
    assert r.status_code == 302 and r.headers["Location"] == "/"
    assert client.get("/crimes").status_code == 200
    r = post(client, "/sign-out")
    assert r.status_code == 302 and r.headers["Location"].startswith("/sign-in")
    assert client.get("/crimes").status_code == 302
    got = [(e["user"], e["action"], e["kind"], e["purpose"]) for e in audit_entries(store)[-2:]]
    assert got == [
        ("rev", "sign-in", "session", "overnight hits"),
        ("rev", "sign-out", "session", "overnight hits"),
    ]


def test_sign_in_failures(client):
    r = sign_in(client, "rev", password="not the password")
    assert r.status_code == 401 and "Unknown user name or wrong password." in T(r)
    r = sign_in(client, "ghost")
    assert r.status_code == 401 and "Unknown user name or wrong password." in T(r)
    r = sign_in(client, "rev", purpose="   ")
    assert r.status_code == 400 and "State the purpose of this session" in T(r)
    assert client.get("/crimes").status_code == 302


def test_next_after_sign_in_and_purpose_change(client, store):
    r = client.get("/crime?ref=C02")
    assert r.status_code == 302 and r.headers["Location"] == "/sign-in?next=/crime?ref%3DC02"
    page = client.get(r.headers["Location"])
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/sign-in",
        data={
            "csrf_token": token,
            "username": "rev",
            "password": "a long test passphrase",
            "purpose": "p1",
            "next": "/crime?ref=C02",
        },
    )
    assert r.headers["Location"] == "/crime?ref=C02"
    assert client.get("/purpose").status_code == 200
    r = post(client, "/purpose", {"purpose": "p2", "next": "/crimes"})
    assert r.status_code == 302 and r.headers["Location"] == "/crimes"
    client.get("/crime?ref=C02")
    assert audit_entries(store)[-1]["purpose"] == "p2"


# -- crimes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("query", "refs"),
    [
        ("ref=C0", {"C01", "C02", "C03", "C04", "C05", "C06", "C07", "C08", "C09"}),
        ("ref=c11", {"C11"}),  # case-insensitive
        ("ref=C1&group=vehicle", {"C11"}),
        ("ref=C0&group=burglary", {"C05", "C06"}),  # BIAD and police.uk Burglary; not free text
        ("date=2026-07-15&ref=C", {"C03", "C05", "C07"}),  # window overlaps the UTC day
        ("group=robbery&ref=C", {"C03", "C04", "C10"}),  # Robbery, Home Office 34, MoJ RB
        ("force=Nottinghamshire&ref=B0", {f"B0{k}" for k in range(1, 10)}),
        ("ref=%25", set()),  # LIKE wildcards are literal
    ],
)
def test_crime_search(client, store, query, refs):
    sign_in(client, "ana")
    r = client.get(f"/crimes?{query}")
    assert r.status_code == 200
    found = set(re.findall(r'<a href="/crime\?[^"]*">([^<]+)</a>', r.text))
    assert found == refs
    e = audit_entries(store)[-1]
    assert (e["action"], e["kind"], e["counts"]) == ("crime search", "consultation", {"crimes": len(refs)})
    assert e["parameters"]["interface"] == "web"


def test_crime_page_shows_the_stored_answers(client, store):
    sign_in(client, "ana", purpose="C03 enquiry")
    r = client.get("/crime?ref=C03")
    assert r.status_code == 200
    html = r.text
    for col in HITS + EVIDENCE + GAPS:
        assert f"<th>{col}</th>" in html, col
    with CaseStore(store / "cases.sqlite") as cases:
        hits = cases.hits()
        hits = hits[hits["crime_ref"] == "C03"]
        n_ev = cases.frame(
            "SELECT SUM(evidence_rows) FROM hits WHERE crime_ref = 'C03'"  # rows are computed on view
        ).iat[0, 0]
    assert set(hits["subject_id"]) == {"N03", "N04"}
    for _, h in hits.iterrows():
        assert f"{h['min_distance_m']:.3f}" in html  # to the millimetre
        assert f'id="evidence-{h["hit_id"]}"' in html
    body = html.split("<tbody>")
    assert sum(html.count("<tr><td>") for _ in [0]) >= n_ev
    assert 'sandbox="allow-scripts" src="/crime/map?' in html
    assert "Qualify" not in html  # an analyst reads, a reviewer decides
    e = audit_entries(store)[-1]
    assert (e["user"], e["action"], e["purpose"]) == ("ana", "crime", "C03 enquiry")
    assert e["subjects"] == ["N03", "N04"] and e["counts"] == {
        "hits": 2,
        "evidence_rows": int(n_ev),
        "gaps_near_scene": 0,
    }
    assert len(body) > 3


def test_crime_page_gaps_near_scene_and_versions(client, store):
    sign_in(client, "rev")
    r = client.get("/crime?ref=C05")
    assert r.status_code == 200
    gaps = r.text.split('id="gaps"')[1]
    assert "<td>N06</td>" in gaps
    assert 'id="versions"' in T(r) and "/crime?ref=C05&force=&version=1" in T(r)
    assert client.get("/crime?ref=C05&version=1").status_code == 200
    r = client.get("/crime?ref=C05&version=7")
    assert r.status_code == 404 and "has no version 7; it has 1" in T(r)
    r = client.get("/crime?ref=NOPE")
    assert r.status_code == 404 and "no crime 'NOPE'" in T(r)
    r = client.get("/crime?ref=B07&force=Nottinghamshire%20Police")
    assert r.status_code == 200 and "N17" in T(r)


def test_crime_map_is_offline_and_audited(client, store):
    sign_in(client, "rev", purpose="map check")
    r = client.get("/crime/map?ref=C03&force=&version=1")
    assert r.status_code == 200
    html = r.text
    assert "L.map(" in html and "leaflet" in html.lower()
    assert not re.search(r"""<(?:script|link)[^>]+(?:src|href)=["']?(?:https?:)?//""", html)  # no CDN
    assert "N03" in html and "N04" in html and "A1" in html
    csp = r.headers["Content-Security-Policy"]
    assert "script-src 'sha256-" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'self'" in csp
    assert "sandbox allow-scripts" in csp and "allow-same-origin" not in csp  # sandboxed even as a page
    e = audit_entries(store)[-1]
    assert (e["action"], e["parameters"]["form"], e["subjects"]) == ("map", "crime", ["N03", "N04"])
    # a crime without hits still gets its scene map
    assert client.get("/crime/map?ref=C04").status_code == 200


def test_review_writes_what_the_cli_writes(client, store, capsys):
    ids = hit_ids(store, "C03")
    sign_in(client, "rev", purpose="daily review")
    page = client.get("/crime?ref=C03").text
    assert f'id="qualify-{ids[0]}"' in page and f'id="reject-{ids[1]}"' in page
    r = post(client, f"/review/{ids[0]}", {"action": "qualify"})
    assert r.status_code == 302 and r.headers["Location"].endswith(f"#hit-{ids[0]}")
    r = client.get(r.headers["Location"])
    assert f"hit {ids[0]} qualified" in T(r) and f'id="qualify-{ids[0]}"' not in T(r)
    r = post(client, f"/review/{ids[1]}", {"action": "reject", "reason": "on the bus, not on foot"})
    assert r.status_code == 302
    # the same reviews through the CLI on a twin store give the same records
    assert main(["review", "--store", str(store), "list", "--json", "--user", "rev"]) == 0
    web = {h["hit_id"]: h for h in json.loads(capsys.readouterr().out)["hits"]}
    assert (web[ids[0]]["review_state"], web[ids[0]]["reviewer"], web[ids[0]]["review_reason"]) == (
        "qualified",
        "rev",
        None,
    )
    assert (web[ids[1]]["review_state"], web[ids[1]]["reviewer"], web[ids[1]]["review_reason"]) == (
        "rejected",
        "rev",
        "on the bus, not on foot",
    )
    other = hit_ids(store, "C07")[0]
    assert main(["review", "--store", str(store), "qualify", str(other), "--user", "rev"]) == 0
    with CaseStore(store / "cases.sqlite") as cases:
        rows = cases.frame("SELECT hit_id, review_state, reviewer, review_reason, reviewed_at FROM hits")
    by_id = {int(r.hit_id): r for r in rows.itertuples()}
    assert by_id[ids[0]].review_state == by_id[other].review_state == "qualified"
    assert by_id[ids[0]].reviewer == by_id[other].reviewer == "rev"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", by_id[ids[0]].reviewed_at)
    entries = [e for e in audit_entries(store) if e["action"].startswith("review ")]
    web_entries = [e for e in entries if e["parameters"].get("interface") == "web"]
    assert [
        (e["action"], e["user"], e["purpose"], e["subjects"], e["counts"], e["parameters"]["hit_id"])
        for e in web_entries
    ] == [
        ("review qualify", "rev", "daily review", ["N03"], {"hits": 1}, ids[0]),
        ("review reject", "rev", "daily review", ["N04"], {"hits": 1}, ids[1]),
    ]
    assert web_entries[1]["parameters"]["reason"] == "on the bus, not on foot"
    assert audit.verify(store / "audit.jsonl") == len(audit_entries(store))


def test_every_form_carries_the_session_token(client, store):
    sign_in(client, "rev")
    token = csrf_of(client)
    for url in ["/crime?ref=C03", "/export", "/purpose", "/crimes"]:
        html = client.get(url).text
        forms = re.findall(r'<form method="post".*?</form>', html, flags=re.S)
        assert forms, url
        for form in forms:
            assert f'name="csrf_token" value="{token}"' in form, (url, form)
    # a hit's qualify form, posted exactly as the page gives it, works
    hid = hit_ids(store, "C03")[0]
    form = re.search(
        rf'<form method="post" action="/review/{hid}".*?</form>',
        client.get("/crime?ref=C03").text,
        flags=re.S,
    ).group(0)
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]+)">', form))
    assert client.post(f"/review/{hid}", data=fields).status_code == 302


def test_review_refusals(client, store):
    ids = hit_ids(store, "C02")
    sign_in(client, "rev")
    r = post(client, f"/review/{ids[0]}", {"action": "reject", "reason": "  "})
    assert r.status_code == 400 and "a rejection needs a reason" in T(r)
    r = post(client, f"/review/{ids[0]}", {"action": "promote"})
    assert r.status_code == 400 and "action must be 'qualify' or 'reject', got 'promote'" in T(r)
    r = post(client, "/review/99999", {"action": "qualify"})
    assert r.status_code == 400 and "no hit with id 99999" in T(r)
    assert post(client, f"/review/{ids[0]}", {"action": "qualify"}).status_code == 302
    r = post(client, f"/review/{ids[0]}", {"action": "reject", "reason": "changed my mind"})
    assert r.status_code == 400 and f"hit {ids[0]} was already qualified by rev" in T(r)
    n = len(audit_entries(store))
    post(client, "/sign-out")
    sign_in(client, "ana")
    r = post(client, f"/review/{ids[0]}", {"action": "qualify"})
    assert r.status_code == 403 and "the analyst role may not open this page (review)" in T(r)
    assert [e["action"] for e in audit_entries(store)[n:]] == ["sign-out", "sign-in"]


# -- subjects, trails ------------------------------------------------------------------------------------
def test_subject_page(client, store):
    ids = hit_ids(store, "C02")
    sign_in(client, "rev")
    post(client, f"/review/{ids[0]}", {"action": "qualify"})
    post(client, "/sign-out")
    sign_in(client, "om", purpose="supervision N02")
    r = client.get("/subjects?q=N0")
    assert r.status_code == 200 and "/subject?subject=N02" in T(r)
    r = client.get("/subject?subject=N02")
    assert r.status_code == 200
    html = r.text
    for col in ATTENDANCE + ZONES + HITS:
        assert f"<th>{col}</th>" in html, col
    ident = html.split('id="identifiers"')[1].split("</table>")[0]
    with CaseStore(store / "cases.sqlite") as cases:
        s = cases.frame("SELECT * FROM subjects WHERE subject_id = 'N02'").iloc[0]
    for k in ("cohort", "crn", "pnc_id", "nomis_id"):
        assert f"<td>{s[k]}</td>" in ident
    start = TrailStore(store).subjects().set_index("subject_id").loc["N02", "monitoring_start"]
    assert pd.Timestamp(start).strftime("%Y-%m-%dT%H:%M:%S.000Z") in html.split('id="windows"')[1]
    assert "<td>C02</td>" in html.split('id="qualified-hits"')[1]
    assert 'id="trail-link"' in html
    e = audit_entries(store)[-1]
    assert (e["action"], e["user"], e["subjects"], e["counts"]) == (
        "subject",
        "om",
        ["N02"],
        {"appointments": 0, "zone_events": 0, "qualified_hits": 1, "associations": 0},
    )
    r = client.get("/subject?subject=N10")
    assert "<td>no_data</td>" in T(r).split('id="zone-events"')[1]
    r = client.get("/subject?subject=N07")
    assert "<td>A06</td>" in T(r).split('id="attendance"')[1]
    r = client.get("/subject?subject=NOBODY")
    assert r.status_code == 404 and "no subject 'NOBODY'" in T(r)


def test_trail_view_equals_the_cli(client, store, tmp_path):
    sign_in(client, "om", purpose="session purpose")
    assert 'name="justify"' in client.get("/trail?subject=N02").text
    r = post(
        client,
        "/trail?subject=N02",
        {"from": "2026-07-14T09:00:00Z", "to": "2026-07-14T12:00:00Z", "purpose": "check N02 near C02"},
    )
    assert r.status_code == 200
    html = r.text
    for col in TRAIL:
        assert f"<th>{col}</th>" in html
    out = tmp_path / "t.csv"
    assert (
        main(
            [
                "trail",
                "--store",
                str(store),
                "--subject",
                "N02",
                "--from",
                "2026-07-14T09:00:00Z",
                "--to",
                "2026-07-14T12:00:00Z",
                "--out",
                str(out),
                "--user",
                "om",
                "--purpose",
                "x",
            ]
        )
        == 0
    )
    cli = pd.read_csv(out, comment="#")
    table = html.split('id="trail"')[1]
    assert table.count("<tr><td>N02</td>") == len(cli) > 100
    assert f"<td>{cli['time'].iloc[0]}</td>" in table and f"<td>{cli['time'].iloc[-1]}</td>" in table
    web = [
        e
        for e in audit_entries(store)
        if e["action"] == "trail" and e["parameters"].get("interface") == "web"
    ]
    assert len(web) == 1
    e = web[0]
    assert (e["user"], e["purpose"], e["subjects"], e["counts"]) == (
        "om",
        "check N02 near C02",
        ["N02"],
        {"fixes": len(cli)},
    )
    assert e["parameters"]["from"] == "2026-07-14T09:00:00+00:00" and e["parameters"]["justify"] is None
    # the map link in the page serves the subject map, audited with the trail's purpose
    url = re.search(r'id="trail-map"[^>]*src="([^"]+)"', html).group(1).replace("&amp;", "&")
    m = client.get(url)
    assert m.status_code == 200 and "L.map(" in m.text
    e = audit_entries(store)[-1]
    assert (e["action"], e["parameters"]["form"], e["purpose"], e["counts"]) == (
        "map",
        "subject",
        "check N02 near C02",
        {"fixes": len(cli)},
    )


def test_trail_local_times_and_justified_wide_window(client, store):
    sign_in(client, "ana")
    r = post(
        client,
        "/trail?subject=N02",
        {"from": "2026-07-14T10:00", "to": "2026-07-14T11:00", "purpose": "local time"},
    )
    assert r.status_code == 200 and "2026-07-14T09:00:00.000Z to 2026-07-14T10:00:00.000Z" in T(r)  # BST
    r = post(
        client,
        "/trail?subject=N02",
        {
            "from": "2026-07-13T00:00:00Z",
            "to": "2026-07-16T00:00:00Z",
            "justify": "pattern of life for the panel",
            "purpose": "IOM panel",
        },
    )
    assert r.status_code == 200
    e = [e for e in audit_entries(store) if e["action"] == "trail"][-1]
    assert e["parameters"]["justify"] == "pattern of life for the panel" and e["counts"]["fixes"] > 2000


def test_trail_map_link_is_bound_to_its_user(client, app, store):
    sign_in(client, "om")
    html = post(
        client,
        "/trail?subject=N02",
        {"from": "2026-07-14T09:00:00Z", "to": "2026-07-14T10:00:00Z", "purpose": "p"},
    ).text
    url = re.search(r'id="trail-map"[^>]*src="([^"]+)"', html).group(1).replace("&amp;", "&")
    other = app.test_client()
    sign_in(other, "ana")
    r = other.get(url)
    assert r.status_code == 403 and "made for another user" in T(r)
    r = client.get(url[:-3] + "xyz")
    assert r.status_code == 403 and "not valid or has expired" in T(r)


# -- cohort, export, audit ---------------------------------------------------------------------------------
def test_cohort_page(client, store):
    import importlib.util

    sign_in(client, "om", purpose="IOM panel July")
    r = client.get("/cohort")
    assert r.status_code == 200
    if importlib.util.find_spec("trailmon.report.cohort") is None:
        assert 'id="not-available"' in T(r)
        return
    assert 'id="cohort-form"' in T(r) and 'id="cohort-report"' not in T(r)
    r = client.get("/cohort?from=2026-07-13&to=2026-07-16")
    assert r.status_code == 200
    url = re.search(r'id="cohort-report" class="report" sandbox="" src="([^"]+)"', r.text).group(1)
    r = client.get(url.replace("&amp;", "&"))
    assert r.status_code == 200 and "OFFICIAL-SENSITIVE" in T(r) and "<img" in r.text
    assert "script-src" not in r.headers["Content-Security-Policy"]
    e = audit_entries(store)[-1]
    assert (e["action"], e["user"], e["purpose"], e["parameters"]["form"], e["parameters"]["interface"]) == (
        "report",
        "om",
        "IOM panel July",
        "cohort",
        "web",
    )
    assert e["parameters"]["from"] == "2026-07-12T23:00:00+00:00"  # local midnight, BST
    r = client.get("/cohort?from=2026-07-16&to=2026-07-13")
    assert r.status_code == 400 and "'to' (2026-07-13) must be after 'from' (2026-07-16)" in T(r)
    r = client.get("/cohort/report?from=2020-01-01&to=2026-01-01")
    assert r.status_code == 400 and "at most 400 days" in T(r)


def _qualify_some(client, store) -> list[int]:
    ids = hit_ids(store, "C03")
    sign_in(client, "rev")
    for i in ids:
        post(client, f"/review/{i}", {"action": "qualify"})
    return ids


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_equals_the_cli_and_is_a_disclosure(client, store, tmp_path, fmt):
    _qualify_some(client, store)
    r = post(
        client,
        "/export",
        {
            "recipient": "IOM panel Nottingham",
            "purpose": "panel 2026-07-20",
            "format": fmt,
            "filename": f"panel.{fmt}",
        },
    )
    assert r.status_code == 200
    assert r.headers["Content-Disposition"] == f'attachment; filename="panel.{fmt}"'
    out = tmp_path / f"cli.{fmt}"
    assert (
        main(
            [
                "export",
                "--store",
                str(store),
                "--out",
                str(out),
                "--recipient",
                "IOM panel Nottingham",
                "--user",
                "rev",
                "--purpose",
                "panel 2026-07-20",
            ]
        )
        == 0
    )

    def rows(text):
        return [line for line in text.splitlines() if not line.startswith("#")]

    assert rows(r.get_data(as_text=True)) == rows(out.read_text())
    if fmt == "csv":
        assert r.get_data(as_text=True).startswith("# marking: OFFICIAL-SENSITIVE")
        df = pd.read_csv(out, comment="#")
    else:
        df = pd.DataFrame([json.loads(line) for line in out.read_text().splitlines()])
    assert set(df[df["event_type"] == "proximity_hit"]["crime_ref"]) == {"C03"}  # only qualified hits
    web = [e for e in audit_entries(store) if e["action"] == "export"][0]
    assert (web["kind"], web["user"], web["purpose"], web["recipient"]) == (
        "disclosure",
        "rev",
        "panel 2026-07-20",
        "IOM panel Nottingham",
    )
    assert web["counts"]["records"] == len(df) and web["parameters"]["file"] == f"panel.{fmt}"
    assert web["subjects"] == sorted(set(df["subject_id"]))


def test_export_of_one_subject_with_default_name(client, store):
    _qualify_some(client, store)
    r = post(client, "/export", {"recipient": "OM", "purpose": "p", "subject": "N04", "format": "jsonl"})
    assert r.status_code == 200
    assert re.fullmatch(
        r'attachment; filename="case-records-\d{8}T\d{6}Z\.jsonl"', r.headers["Content-Disposition"]
    )
    recs = [json.loads(line) for line in r.get_data(as_text=True).splitlines()]
    assert {x["subject_id"] for x in recs} == {"N04"} and recs[0]["event_type"] == "proximity_hit"


def test_audit_page_verifies_and_shows_every_step(client, app, store):
    ids = hit_ids(store, "C02")
    sign_in(client, "rev", purpose="hit review")
    client.get("/crimes?ref=C02")
    client.get("/crime?ref=C02")
    client.get("/crime/map?ref=C02")
    post(client, f"/review/{ids[0]}", {"action": "qualify"})
    post(client, "/sign-out")
    sign_in(client, "aud", purpose="monthly audit")
    r = client.get("/audit?user=rev")
    assert r.status_code == 200
    assert "Hash chain verified" in T(r)
    actions = re.findall(r'<td class="action">([^<]+)</td>', r.text)
    assert actions == [
        "sign-out",
        "review qualify",
        "map",
        "crime",
        "crime search",
        "sign-in",
    ]  # newest first
    assert audit_entries(store)[-1]["action"] == "audit"
    # a changed line is reported
    path = store / "audit.jsonl"
    lines = path.read_text().splitlines()
    first = json.loads(lines[0])
    first["purpose"] = "something else"
    lines[0] = json.dumps(first, sort_keys=True)
    path.write_text("\n".join(lines) + "\n")
    r = client.get("/audit")
    assert "The hash chain does NOT verify: audit log line 1 (seq 1) was changed" in T(r)


def test_every_view_of_location_data_is_audited(client, store):
    sign_in(client, "ana", purpose="coverage of the audit")
    views = [
        "/crimes?ref=C02",
        "/crime?ref=C02",
        "/crime/map?ref=C02",
        "/subjects?q=N02",
        "/subject?subject=N02",
    ]
    n = len(audit_entries(store))
    for url in views:
        assert client.get(url).status_code == 200
    new = audit_entries(store)[n:]
    assert [e["action"] for e in new] == ["crime search", "crime", "map", "subject search", "subject"]
    assert all(e["user"] == "ana" and e["purpose"] == "coverage of the audit" for e in new)
    assert all(e["kind"] == "consultation" and e["parameters"]["interface"] == "web" for e in new)
    # forms and static files are not data views: nothing logged
    for url in ["/crimes", "/trail?subject=N02", "/export", "/static/style.css", "/purpose"]:
        with client.get(url) as r:
            assert r.status_code == 200
    assert len(audit_entries(store)) == n + len(views)
