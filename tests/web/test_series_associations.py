"""The crime-series page and the co-location records of the subject page: roles, answers, audit, hostile input."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from convertbng.cutil import convert_lonlat

from tests.web.conftest import PASSWORD, USERS, T, audit_entries, post, sign_in
from trailmon.cli import main
from trailmon.io.crimes import read_crimes
from trailmon.store.cases import CaseStore
from trailmon.store.trails import TrailStore
from trailmon.web import create_app
from trailmon.web.auth import UsersFile

E0, N0 = 430000.0, 433000.0
T_SERIES = pd.Timestamp("2026-07-14T09:00:00Z")  # 10:00 BST
T_WALK = pd.Timestamp("2026-07-14T13:00:00Z")
HOSTILE_SUBJECT = "X<script>alert(1)</script>"
HOSTILE_REF = "R<img src=x onerror=alert(1)>"


def _fix(sid, t, e, n):
    lon, lat = convert_lonlat(np.array([e], float), np.array([n], float))
    return f"{sid},{t.isoformat().replace('+00:00', 'Z')},{lat[0]:.10f},{lon[0]:.10f},5,gps"


def _trails() -> list[str]:
    rows = []
    for d in range(-3, 4):  # S_ROUTINE at the scene every morning, S_LEAD only on the crime day
        t0 = T_SERIES + pd.Timedelta(days=d)
        for m in range(31):
            t = t0 + pd.Timedelta(minutes=m)
            rows.append(_fix("S_ROUTINE", t, E0, N0))
            rows.append(_fix("S_LEAD", t, E0 + (0 if d == 0 else 4000), N0))
    for m in range(13):  # A and B walk the same street 30 m apart for 12 min; C 900 m away
        t = T_WALK + pd.Timedelta(minutes=m)
        e = E0 + 1.4 * 60 * m
        rows += [_fix("A", t, e, N0 + 2000), _fix("B", t, e, N0 + 2030), _fix("C", t, e, N0 + 2900)]
        rows += [_fix(HOSTILE_SUBJECT, t, e, N0 + 2010)]
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A store with the two series subjects, three walkers and a hostile one; crimes and associations recorded."""
    root = tmp_path_factory.mktemp("series-web")
    trails = root / "trails.csv"
    trails.write_text("subject_id,timestamp,lat,lon,accuracy_m,fix_type\n" + "\n".join(_trails()) + "\n")
    store = root / "store"
    assert main(["ingest", "--store", str(store), str(trails)]) == 0
    crimes = root / "crimes.csv"
    rows = [f"B1,BIAD,{E0},{N0},2026-07-14T09:05:00Z,2026-07-14T09:25:00Z,100",
            f"B2,BIAD,{E0 + 20000},{N0},2026-07-14T09:05:00Z,2026-07-14T09:25:00Z,100",  # nobody near
            f'"{HOSTILE_REF}",BIAD,{E0 + 30000},{N0},2026-07-13T09:05:00Z,2026-07-13T09:25:00Z,100']
    rows += [f"M{k:02d},BIAD,{E0 + 40000},{N0},2026-07-10T09:05:00Z,2026-07-10T09:25:00Z,100" for k in range(51)]
    crimes.write_text("crime_ref,offence,easting,northing,committed_from,committed_to,radius_m\n"
                      + "\n".join(rows) + "\n")
    read = read_crimes(crimes, crs=TrailStore(store).crs)
    assert len(read.accepted) == 54
    with CaseStore(store / "cases.sqlite", create=True) as cases, cases.transaction() as c:
        cases.upsert_crimes(c, read.accepted, "test-run")
    assert main(["associations", "--store", str(store), "--from", "2026-07-14T12:00:00Z", "--to",
                 "2026-07-14T15:00:00Z", "--out", str(root / "together.csv"), "--user", "analyst1",
                 "--purpose", "op Y"]) == 0
    users = UsersFile(store / "users.json")
    for name, role in USERS.items():
        users.add(name, role, PASSWORD)
    return store


@pytest.fixture
def store(built, tmp_path):
    import shutil

    dest = tmp_path / "store"
    shutil.copytree(built, dest)
    return dest


@pytest.fixture
def client(store):
    app = create_app(store, secret="test-secret-" + "x" * 32)
    app.config["TESTING"] = True
    return app.test_client()


def _assoc(store, a, b) -> dict:
    with CaseStore(store / "cases.sqlite") as cases:
        df = cases.associations()
    return df[(df["subject_a"] == a) & (df["subject_b"] == b)].iloc[0].to_dict()


def _series(client, **form):
    data = {"refs": "B1, B2", "days": "3", "purpose": "burglary series op X", **form}
    return post(client, "/series", data)


# -- the series page ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(USERS))
def test_series_page_roles(client, name):
    assert sign_in(client, name).status_code == 302
    r = client.get("/series")
    if USERS[name] == "analyst":
        assert r.status_code == 200
        text = T(r)
        assert "at most 50 crimes per series" in text and "Crime series" in text
    else:
        assert r.status_code == 403
        assert f"the {USERS[name]} role may not open this page (series)" in T(r)
        assert _series(client).status_code == 403


def test_series_ranks_shows_map_and_report_and_audits(client, store):
    sign_in(client, "ana")
    r = _series(client)
    assert r.status_code == 200, r.text[:800]
    text = T(r)
    assert "2 crime(s), 2 subject(s) with a hit" in text
    ranked = re.search(r'<table id="series-ranked".*?</table>', r.text, re.S).group(0)
    assert ranked.index("S_LEAD") < ranked.index("S_ROUTINE")  # the lead first: p_tail 0 against 1
    assert re.search(r'id="series-long"', r.text)
    frame = re.search(r'<iframe id="series-map"[^>]*sandbox="allow-scripts"[^>]*src="([^"]+)"', r.text)
    assert frame
    entry = audit_entries(store)[-1]
    assert entry["action"] == "series" and entry["user"] == "ana" and entry["purpose"] == "burglary series op X"
    assert entry["parameters"]["interface"] == "web" and entry["parameters"]["days"] == 3
    assert entry["parameters"]["crimes"] == ["B1/v1", "B2/v1"]
    assert entry["subjects"] == ["S_LEAD", "S_ROUTINE"]
    assert entry["counts"] == {"crimes": 2, "subjects": 2}

    m = client.get(frame.group(1).replace("&amp;", "&"))
    assert m.status_code == 200
    assert "sandbox allow-scripts" in m.headers["Content-Security-Policy"]
    assert "Track S_LEAD" in m.text and "1: B1" in m.text
    entry = audit_entries(store)[-1]
    assert entry["action"] == "map" and entry["parameters"]["form"] == "series"
    assert entry["subjects"] == ["S_LEAD", "S_ROUTINE"] and entry["counts"]["fixes"] > 0

    link = re.search(r'href="([^"]+)" id="series-report-link"', r.text).group(1).replace("&amp;", "&")
    rep = client.get(link)
    assert rep.status_code == 200 and "sandbox" in rep.headers["Content-Security-Policy"]
    assert "OFFICIAL-SENSITIVE" in rep.text and "never evidence" in rep.text and "S_ROUTINE" in rep.text
    assert audit_entries(store)[-1]["action"] == "series report"

    # the links are the user's own: another analyst cannot replay them
    client.post("/sign-out", data={"csrf_token": _csrf(client)})
    UsersFile(store / "users.json").add("ana2", "analyst", PASSWORD)
    sign_in(client, "ana2")
    assert client.get(link).status_code == 403
    assert client.get(link.replace("t=", "t=x")).status_code == 403


def _csrf(client):
    with client.session_transaction() as s:
        return s["csrf"]


def test_series_by_period_and_group(client, store):
    sign_in(client, "ana")
    r = _series(client, refs="", **{"from": "2026-07-13", "to": "2026-07-14"}, group="burglary")
    assert r.status_code == 200, r.text[:800]
    assert "3 crime(s), 2 subject(s) with a hit" in T(r)
    # the hostile reference is shown as text, never as markup
    assert HOSTILE_REF not in r.text and "R&lt;img src=x onerror=alert(1)&gt;" in r.text
    src = re.search(r'<iframe id="series-map"[^>]*src="([^"]+)"', r.text).group(1).replace("&amp;", "&")
    m = client.get(src)
    assert m.status_code == 200 and "<img src=x" not in m.text and "3 crime(s)" in m.text
    link = re.search(r'href="([^"]+)" id="series-report-link"', r.text).group(1).replace("&amp;", "&")
    assert "<img src=x" not in client.get(link).text


def test_series_empty_result(client, store):
    sign_in(client, "ana")
    r = _series(client, refs="B2")
    assert r.status_code == 200
    assert "1 crime(s), 0 subject(s) with a hit" in T(r) and 'id="series-none"' in r.text
    entry = audit_entries(store)[-1]
    assert entry["action"] == "series" and entry["subjects"] == [] and entry["counts"]["subjects"] == 0


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"refs": "B1 NOPE"}, "no crime 'NOPE' in the case records"),
        ({"refs": HOSTILE_REF + "Z"}, "in the case records"),
        ({"refs": " ".join(f"M{k:02d}" for k in range(51))}, "at most 50 crimes, got 51 references"),
        ({"refs": "", "from": "2026-07-10", "to": "2026-07-10"}, "at most 50 crimes; more than that match"),
        ({"refs": "", "from": "2026-06-01", "to": "2026-06-02"}, "no crime of the case records matches"),
        ({"refs": ""}, "give crime references, or a period"),
        ({"refs": "", "from": "soon", "to": "later"}, "from"),
        ({"days": "0"}, "days must be from 1 to 28"),
        ({"days": "many"}, "days must be a number"),
        ({"radius": "-5"}, "radius must be from 1.0 to 5000.0"),
        ({"radius": "nan"}, "radius must be from"),
        ({"group": "arson"}, "offence group must be one of"),
        ({"refs": "B1\x00"}, "control characters"),
        ({"refs": "x" * 4001}, "at most 4000 characters"),
    ],
)
def test_series_bad_input_is_400(client, store, form, message):
    sign_in(client, "ana")
    before = len(audit_entries(store))
    r = _series(client, **form)
    assert r.status_code == 400, r.text[:800]
    assert message in T(r)
    assert "<img src=x" not in r.text
    assert [e["action"] for e in audit_entries(store)[before:]] == []


def test_series_needs_purpose_and_csrf(client, store):
    sign_in(client, "ana")
    r = _series(client, purpose="")
    assert r.status_code == 403 and "say why you need this" in T(r)
    r = client.post("/series", data={"refs": "B1", "purpose": "p"})
    assert r.status_code == 400 and "CSRF" in T(r)


# -- co-location on the subject page ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(USERS))
def test_associations_on_subject_page_by_role(client, store, name):
    role = USERS[name]
    sign_in(client, name)
    r = client.get("/subject?subject=A")
    if role == "auditor":
        assert r.status_code == 403
        return
    assert r.status_code == 200, r.text[:500]
    table = re.search(r'<table id="associations-table".*?</table>', r.text, re.S).group(0)
    assert ">B<" in table and "pending" in table
    aid = int(_assoc(store, "A", "B")["association_id"])
    assert (f'id="aqualify-{aid}"' in r.text) == (role == "reviewer")
    assert (f'id="episode-link-{aid}"' in r.text) == (role in ("analyst", "offender_manager"))
    entry = audit_entries(store)[-1]
    assert entry["action"] == "subject" and entry["counts"]["associations"] >= 1
    assert {"A", "B"} <= set(entry["subjects"])
    # the review action and the episode map follow the table of permissions
    m = client.get(f"/association/map?id={aid}")
    assert m.status_code == (200 if role in ("analyst", "offender_manager") else 403)
    q = post(client, f"/association/{aid}/review", {"action": "qualify", "subject": "A"})
    assert q.status_code == (302 if role == "reviewer" else 403)


def test_reviewer_qualifies_and_rejects_as_the_cli_does(client, store):
    sign_in(client, "rev", purpose="case review of co-location")
    ab = int(_assoc(store, "A", "B")["association_id"])
    r = post(client, f"/association/{ab}/review", {"action": "qualify", "subject": "B"})
    assert r.status_code == 302 and r.headers["Location"].startswith("/subject?subject=B")
    assert _assoc(store, "A", "B")["review_state"] == "qualified"
    entry = audit_entries(store)[-1]
    assert entry["action"] == "review qualify" and entry["user"] == "rev" and entry["kind"] == "consultation"
    assert entry["parameters"] == {"interface": "web", "kind": "association", "id": ab, "reason": None}
    assert entry["subjects"] == ["A", "B"] and entry["counts"] == {"associations": 1}
    page = client.get(r.headers["Location"])
    assert f"association {ab} qualified" in T(page) and "qualified by rev" in T(page)
    # a second verdict is refused
    r = post(client, f"/association/{ab}/review", {"action": "reject", "reason": "dup"})
    assert r.status_code == 400 and "already qualified" in T(r)
    # rejection needs a reason
    hb = _assoc(store, "B", HOSTILE_SUBJECT) if _has(store, "B", HOSTILE_SUBJECT) else _assoc(store, "A", "C")
    hid = int(hb["association_id"])
    r = post(client, f"/association/{hid}/review", {"action": "reject"})
    assert r.status_code == 400 and "needs a reason" in T(r)
    r = post(client, f"/association/{hid}/review", {"action": "reject", "reason": "walked <b>past</b>"})
    assert r.status_code == 302
    entry = audit_entries(store)[-1]
    assert entry["action"] == "review reject" and entry["parameters"]["reason"] == "walked <b>past</b>"
    assert post(client, "/association/999999/review", {"action": "qualify"}).status_code == 400
    assert post(client, f"/association/{ab}/review", {"action": "delete"}).status_code == 400
    assert client.post(f"/association/{ab}/review", data={"action": "qualify"}).status_code == 400  # no CSRF


def _has(store, a, b) -> bool:
    with CaseStore(store / "cases.sqlite") as cases:
        df = cases.associations()
    return bool(((df["subject_a"] == a) & (df["subject_b"] == b)).any())


def test_hostile_subject_id_is_escaped_and_mapped(client, store):
    with CaseStore(store / "cases.sqlite") as cases:
        df = cases.associations(subject=HOSTILE_SUBJECT)
    assert len(df)  # the hostile walker is 10 m from A and 20 m from B
    sign_in(client, "ana")
    r = client.get("/subject", query_string={"subject": HOSTILE_SUBJECT})
    assert r.status_code == 200
    assert "<script>alert(1)</script>" not in r.text and "X&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    r = client.get("/subject?subject=A")
    assert "<script>alert(1)" not in r.text
    aid = int(df["association_id"].iloc[0])
    m = client.get(f"/association/map?id={aid}")
    assert m.status_code == 200 and "<script>alert(1)</script>" not in m.text


def test_episode_map_in_a_sandboxed_frame_and_audited(client, store):
    sign_in(client, "om")
    aid = int(_assoc(store, "A", "B")["association_id"])
    r = client.get(f"/subject?subject=A&episode={aid}")
    assert r.status_code == 200
    src = re.search(r'<iframe id="episode-map"[^>]*sandbox="allow-scripts"[^>]*src="([^"]+)"', r.text).group(1)
    m = client.get(src.replace("&amp;", "&"))
    assert m.status_code == 200 and "Track A" in m.text and "Track B" in m.text
    assert "sandbox allow-scripts" in m.headers["Content-Security-Policy"]
    entry = audit_entries(store)[-1]
    assert entry["action"] == "map" and entry["parameters"]["form"] == "association"
    assert entry["parameters"]["association_id"] == aid and entry["subjects"] == ["A", "B"]
    assert entry["counts"]["fixes"] == 26  # 13 fixes each
    # an episode of another subject, or a bad id, is refused without a 500
    r = client.get("/subject", query_string={"subject": HOSTILE_SUBJECT, "episode": aid})
    assert r.status_code == 400 and "one of this subject's associations" in T(r)
    assert client.get("/subject?subject=A&episode=abc").status_code == 400
    assert client.get("/association/map?id=abc").status_code == 400
    assert client.get("/association/map?id=987654").status_code == 404


def test_long_episode_needs_a_justification(client, store):
    aid = int(_assoc(store, "A", "B")["association_id"])
    with CaseStore(store / "cases.sqlite") as cases, cases.transaction() as c:
        c.execute("UPDATE associations SET end_ns = start_ns + ? WHERE association_id = ?", (50 * 3600 * 10**9, aid))
    sign_in(client, "ana")
    assert client.get(f"/association/map?id={aid}").status_code == 403
    r = client.get(f"/subject?subject=A&episode={aid}")
    assert r.status_code == 200 and 'id="episode-justify"' in r.text and 'id="episode-map"' not in r.text
    r = client.get(f"/subject?subject=A&episode={aid}&justify=op+Y+timeline")
    src = re.search(r'<iframe id="episode-map"[^>]*src="([^"]+)"', r.text).group(1).replace("&amp;", "&")
    assert client.get(src).status_code == 200
    assert audit_entries(store)[-1]["parameters"]["justify"] == "op Y timeline"


def test_series_map_thins_tracks_and_says_so(client, store, monkeypatch):
    from trailmon.web import _request as R

    monkeypatch.setattr(R, "MAP_MAX_FIXES", 10)
    sign_in(client, "ana")
    r = _series(client, refs="B1")
    src = re.search(r'<iframe id="series-map"[^>]*src="([^"]+)"', r.text).group(1).replace("&amp;", "&")
    m = client.get(src)
    assert m.status_code == 200 and "Tracks thinned" in m.text and "Track S_LEAD" in m.text
    entry = audit_entries(store)[-1]
    assert entry["parameters"]["thinned"] is True and 0 < entry["counts"]["fixes"] <= 12


def test_series_map_of_a_month_long_crime_needs_a_justification(client, store):
    with CaseStore(store / "cases.sqlite") as cases, cases.transaction() as c:
        c.execute(
            "INSERT INTO crimes (force, crime_ref, crime_version, offence, offence_group, x_m, y_m, lat, lon, "
            "committed_from_ns, committed_to_ns, radius_m, batch_id, source_format, content, received_run, "
            "needs_match) SELECT force, 'LONG1', 1, offence, offence_group, x_m, y_m, lat, lon, "
            "committed_from_ns - ?, committed_to_ns + ?, radius_m, batch_id, source_format, 'x', received_run, 0 "
            "FROM crimes WHERE crime_ref = 'B1'",
            (2 * 86_400 * 10**9, 2 * 86_400 * 10**9),
        )
    sign_in(client, "ana")
    for justify, tracks in (("", False), ("op X: the month of the series", True)):
        r = _series(client, refs="LONG1", justify=justify)
        assert r.status_code == 200, r.text[:800]
        src = re.search(r'<iframe id="series-map"[^>]*src="([^"]+)"', r.text).group(1).replace("&amp;", "&")
        m = client.get(src)
        assert m.status_code == 200
        assert ("Track S_LEAD" in m.text) == tracks and ("wider than the 48 h cap" in m.text) == (not tracks)
        entry = audit_entries(store)[-1]
        assert entry["parameters"]["tracks"] is tracks and entry["parameters"]["justify"] == (justify or None)
        assert (entry["counts"]["fixes"] > 0) == tracks
