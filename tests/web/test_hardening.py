"""SPEC §9 findings against the web app: each test failed on the app before the fix."""

from __future__ import annotations

import re
import sqlite3
import threading
import time

import pytest

from tests.web.conftest import PASSWORD, T, audit_entries, csrf_of, post, sign_in
from trailmon.cli import main
from trailmon.errors import InputError
from trailmon.web.auth import UsersFile


def _sign_in_form(client, target: str, name: str = "rev", password: str = PASSWORD):
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/sign-in",
        data={"csrf_token": token, "username": name, "password": password, "purpose": "p", "next": target},
    )


# -- redirects and hosts ---------------------------------------------------------------------------------
@pytest.mark.parametrize("target", ["/\t/evil.example", "/\n/evil.example", "/\r\n/evil.example", "/ /evil.example"])
def test_redirect_with_tab_or_newline_stays_on_site(client, target):
    r = _sign_in_form(client, target)
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_next_from_a_url_with_encoded_tab_and_crlf(client):
    r = client.get("/sign-in?next=/%09/evil.example")
    assert r.status_code == 200 and "evil.example" not in r.text
    sign_in(client, "rev")
    r = post(client, "/purpose?next=/%0d%0aSet-Cookie:x=1", {"purpose": "again"})
    assert r.status_code == 302 and r.headers["Location"] == "/" and "Set-Cookie" not in r.headers.get("Location")
    r = post(client, "/purpose?next=/%09/evil.example", {"purpose": "again"})
    assert r.headers["Location"] == "/"


def test_foreign_host_is_refused(app, client):
    assert client.get("/sign-in", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/sign-in", headers={"Host": "evil.example:8765"}).status_code == 400
    for host in ("localhost", "127.0.0.1:8765", "[::1]:8765", "LOCALHOST"):
        assert client.get("/sign-in", headers={"Host": host}).status_code == 200, host


def test_configured_host_names(store):
    from trailmon.web import create_app

    app = create_app(store, secret="s" * 40, host_names=["trailmon.hub.internal"])
    c = app.test_client()
    assert c.get("/sign-in", headers={"Host": "trailmon.hub.internal"}).status_code == 200
    assert c.get("/sign-in", headers={"Host": "localhost"}).status_code == 400


# -- sessions --------------------------------------------------------------------------------------------
def _cookie(client) -> str:
    return client.get_cookie("trailmon_session").value


def test_copied_cookie_is_dead_after_sign_out(app, client):
    sign_in(client, "rev")
    copied = _cookie(client)
    elsewhere = app.test_client()
    elsewhere.set_cookie("trailmon_session", copied)
    assert elsewhere.get("/crimes").status_code == 200
    post(client, "/sign-out")
    thief = app.test_client()
    thief.set_cookie("trailmon_session", copied)
    assert thief.get("/crimes").status_code == 302
    assert elsewhere.get("/crimes").status_code == 302  # sign-out ends every session of the user


def test_password_reset_and_role_change_end_sessions_at_once(app, client, store, monkeypatch):
    import io

    sign_in(client, "rev")
    other = app.test_client()
    sign_in(other, "rev")
    monkeypatch.setattr("sys.stdin", io.StringIO("a brand new passphrase\n"))
    assert main(["users", "--store", str(store), "add", "rev", "--role", "reviewer", "--password-stdin"]) == 0
    assert client.get("/crimes").status_code == 302 and other.get("/crimes").status_code == 302
    e = audit_entries(store)[-1]
    assert e["action"] == "users add" and e["parameters"]["sessions_ended"] == 2


def test_removed_and_re_added_user_does_not_revive_old_cookies(app, client, store):
    sign_in(client, "ana")
    copied = _cookie(client)
    users = UsersFile(store / "users.json")
    users.remove("ana")
    users.add("ana", "analyst", PASSWORD)  # same name, same password, same role
    c = app.test_client()
    c.set_cookie("trailmon_session", copied)
    assert c.get("/crimes").status_code == 302


def test_idle_session_ends(client, store):
    sign_in(client, "rev")
    assert client.get("/crimes").status_code == 200
    with sqlite3.connect(store / "cases.sqlite") as con:
        con.execute("UPDATE web_sessions SET last_seen = ? WHERE user = 'rev'", (time.time() - 31 * 60,))
    assert client.get("/crimes").status_code == 302


def test_new_session_id_at_sign_in(app, client, store):
    sign_in(client, "rev")
    with client.session_transaction() as s:
        first = s["sid"]
    planted = _cookie(client)
    sign_in(client, "rev")
    with client.session_transaction() as s:
        assert s["sid"] != first
    with sqlite3.connect(store / "cases.sqlite") as con:
        rows = con.execute("SELECT sid_hash FROM web_sessions WHERE user = 'rev'").fetchall()
    assert len(rows) == 2 and all(first not in r[0] for r in rows)  # only hashes are stored
    c = app.test_client()
    c.set_cookie("trailmon_session", planted)
    assert c.get("/crimes").status_code == 200  # the first session is still live: it was not signed out


# -- throttling ------------------------------------------------------------------------------------------
def _client_from(app, addr: str):
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = addr
    return c


def test_lock_blocks_only_the_pair_and_is_audited(app, store):
    attacker = _client_from(app, "10.0.0.66")
    for _ in range(5):
        assert sign_in(attacker, "rev", password="not the password").status_code == 401
    assert sign_in(attacker, "rev").status_code == 429
    assert sign_in(_client_from(app, "10.0.0.7"), "rev").status_code == 302  # the user, elsewhere
    es = [e for e in audit_entries(store) if e["kind"] == "session" and e["user"] == "rev"]
    actions = [e["action"] for e in es]
    assert actions.count("sign-in failed") == 5 and actions.count("sign-in locked") == 1
    assert all(e["parameters"]["client"] == "10.0.0.66" for e in es if e["action"] != "sign-in")


def test_lock_persists_across_restarts(app, store):
    from trailmon.web import create_app

    attacker = _client_from(app, "10.0.0.66")
    for _ in range(5):
        sign_in(attacker, "rev", password="not the password")
    restarted = create_app(store, secret="test-secret-" + "x" * 32)
    assert sign_in(_client_from(restarted, "10.0.0.66"), "rev").status_code == 429


def test_parallel_guesses_are_all_counted(app, store):
    codes = []

    def guess():
        codes.append(sign_in(_client_from(app, "10.0.0.66"), "rev", password="not the password").status_code)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [401] * 5 + [429] * 7  # never more than 5 passwords checked
    with sqlite3.connect(store / "cases.sqlite") as con:
        assert con.execute("SELECT failures FROM sign_in_failures WHERE user = 'rev'").fetchone()[0] == 12


# -- passwords, banner, trail ----------------------------------------------------------------------------
@pytest.mark.parametrize("weak", [" " * 12, "a" * 12, "password1234", "Password1234", "qwerty123456", "short"])
def test_weak_passwords_refused(store, weak, monkeypatch, capsys):
    with pytest.raises(InputError):
        UsersFile(store / "users.json").add("newbie", "analyst", weak)
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(weak + "\n"))
    assert main(["users", "--store", str(store), "add", "newbie", "--role", "analyst", "--password-stdin"]) == 1
    assert "newbie" not in {u["name"] for u in UsersFile(store / "users.json").list()}


def test_review_banner_never_shows_text_from_the_url(client):
    sign_in(client, "rev")
    r = client.get("/crime?ref=C02&done=Your+session+expired%2C+call+0800+000+000")
    assert r.status_code == 200 and "0800" not in r.text and 'id="done"' not in r.text
    r = client.get("/crime?ref=C02&done=qualified&hit=7")
    assert '<p class="done" id="done">hit 7 qualified</p>' in r.text


@pytest.mark.parametrize("bad", [{"from": "NaT"}, {"to": "NaT"}, {"from": "nan"}])
def test_trail_with_nat_is_refused_and_audited(client, store, bad):
    sign_in(client, "ana")
    form = {"from": "2026-07-14T09:00:00Z", "to": "2026-07-14T10:00:00Z", "purpose": "p", **bad}
    r = post(client, "/trail?subject=N02", form)
    assert r.status_code == 400, T(r)[:500]
    e = audit_entries(store)[-1]
    assert e["action"] == "trail refused" and e["counts"] == {"fixes": 0}


def test_trail_with_no_fixes_is_shown_and_audited(client, store):
    sign_in(client, "ana")
    r = post(
        client, "/trail?subject=N02", {"from": "2030-01-01T00:00:00Z", "to": "2030-01-01T01:00:00Z", "purpose": "p"}
    )
    assert r.status_code == 200
    e = audit_entries(store)[-1]
    assert e["action"] == "trail" and e["counts"] == {"fixes": 0}
    r = post(
        client, "/trail?subject=NOBODY", {"from": "2026-07-14T09:00:00Z", "to": "2026-07-14T10:00:00Z", "purpose": "p"}
    )
    assert r.status_code == 200 and audit_entries(store)[-1]["counts"] == {"fixes": 0}


def test_csrf_token_is_per_session(client):
    client.get("/sign-in")
    before = csrf_of(client)
    sign_in(client, "rev")
    assert csrf_of(client) != before


# -- the crime map under the trail rules -------------------------------------------------------------------
def _map(client, ref="C02", **kw):
    from urllib.parse import urlencode

    return client.get("/crime/map?" + urlencode({"ref": ref, **kw}))


def test_crime_map_tracks_only_for_roles_that_may_view_trails(client, app, store):
    sign_in(client, "rev")
    r = _map(client)
    assert r.status_code == 200
    assert "L.polyline(" not in r.text and "may not view trails" in r.text
    e = audit_entries(store)[-1]
    assert e["action"] == "map" and e["counts"]["fixes"] == 0 and e["parameters"]["tracks"] is False
    ana = app.test_client()
    sign_in(ana, "ana")
    r = _map(ana)
    assert "L.polyline(" in r.text and "Tracks not drawn" not in r.text
    e = audit_entries(store)[-1]
    assert e["parameters"]["tracks"] is True and e["counts"]["fixes"] > 0
    assert e["parameters"]["from"] < "2026-07-14T09:38" < e["parameters"]["to"]  # the window, padded


def test_crime_map_wider_than_48_h_needs_a_justification(client, store, monkeypatch):

    monkeypatch.setattr("trailmon.web._request.MAP_MAX_FIXES", 300)  # keeps the drawing quick
    with sqlite3.connect(store / "cases.sqlite") as con:  # a police.uk month-long window
        con.execute(
            "UPDATE crimes SET committed_from_ns = committed_from_ns - ?, committed_to_ns = committed_to_ns + ? "
            "WHERE crime_ref = 'C02'",
            (15 * 86400 * 10**9, 15 * 86400 * 10**9),
        )
    sign_in(client, "ana")
    page = client.get("/crime?ref=C02")
    assert 'id="map-justify"' in page.text and 'target="crime-map"' in page.text
    r = _map(client)
    assert "L.polyline(" not in r.text and "wider than the 48 h cap" in r.text
    assert audit_entries(store)[-1]["counts"]["fixes"] == 0
    r = _map(client, justify="series of burglaries, IOM panel")
    assert "L.polyline(" in r.text
    e = audit_entries(store)[-1]
    assert e["parameters"]["justify"] == "series of burglaries, IOM panel" and e["counts"]["fixes"] > 0


def test_crime_map_thins_and_says_so_and_counts_the_fixes(client, store, monkeypatch):
    from trailmon.web.views import crimes

    sign_in(client, "ana")
    full = _map(client)
    n_full = audit_entries(store)[-1]["counts"]["fixes"]
    assert full.status_code == 200 and n_full > 40
    monkeypatch.setattr("trailmon.web._request.MAP_MAX_FIXES", 20)
    r = _map(client)
    assert "Tracks thinned" in r.text
    e = audit_entries(store)[-1]
    assert e["parameters"]["thinned"] is True and 0 < e["counts"]["fixes"] <= 20 + 2 * len(e["subjects"])
    monkeypatch.setattr(crimes, "MAP_MAX_SECONDS", 0.0)
    r = _map(client)
    assert "reading them took longer than 0 s" in r.text and "L.polyline(" not in r.text
    assert audit_entries(store)[-1]["counts"]["fixes"] == 0


def test_cli_export_is_audited_before_the_file_exists(store, tmp_path, monkeypatch):
    import trailmon.report.writers as writers

    out = tmp_path / "x.csv"
    real = writers.write_table
    seen = []

    def write_table(df, path, prov):
        e = audit_entries(store)[-1]
        seen.append((e["action"], e["kind"], e["recipient"], path.exists() if hasattr(path, "exists") else None))
        return real(df, path, prov)

    monkeypatch.setattr(writers, "write_table", write_table)
    argv = ["export", "--store", str(store), "--out", str(out), "--user", "ana", "--purpose", "p"]
    assert main([*argv, "--recipient", "IOM panel"]) == 0
    assert seen == [("export", "disclosure", "IOM panel", False)] and out.exists()


def test_serve_passes_host_names_and_proxy_trust(store, monkeypatch):
    import waitress

    served = {}
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: served.update(app=app, **kw))
    argv = ["serve", "--store", str(store), "--host-name", "trailmon.hub.internal", "--trust-proxy"]
    assert main(argv) == 0
    c = served["app"].test_client()
    assert c.get("/sign-in", headers={"Host": "trailmon.hub.internal"}).status_code == 200
    assert c.get("/sign-in", headers={"Host": "localhost"}).status_code == 400
    h = {"Host": "trailmon.hub.internal", "X-Forwarded-For": "10.1.2.3"}
    token = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/sign-in", headers=h).text).group(1)
    form = {"csrf_token": token, "username": "rev", "password": "not the password", "purpose": "p"}
    assert c.post("/sign-in", data=form, headers=h).status_code == 401
    e = audit_entries(store)[-1]
    assert e["action"] == "sign-in failed" and e["parameters"]["client"] == "10.1.2.3"  # the real client


def test_audit_page_fails_on_a_truncated_log_and_shows_the_head(client, store):
    from trailmon.store import audit

    sign_in(client, "aud")
    r = client.get("/audit")
    n, h = audit.head(store / "audit.jsonl")
    assert f"{n - 1}:" in r.text or f"{n}:" in r.text  # the head shown was taken before this view's entry
    lines = (store / "audit.jsonl").read_text().splitlines(keepends=True)
    (store / "audit.jsonl").write_text("".join(lines[:-10]))
    r = client.get("/audit")
    assert r.status_code == 200 and "cut off the end" in T(r) and 'class="error" id="verify"' in r.text


def test_trail_map_thins_and_says_so(client, store, monkeypatch):
    monkeypatch.setattr("trailmon.web._request.MAP_MAX_FIXES", 50)
    sign_in(client, "ana")
    form = {"from": "2026-07-14T08:00:00Z", "to": "2026-07-14T12:00:00Z", "purpose": "p"}
    r = post(client, "/trail?subject=N02", form)
    url = re.search(r'src="(/trail/map\?t=[^"]+)"', r.text).group(1).replace("&amp;", "&")
    m = client.get(url)
    assert m.status_code == 200 and "Tracks thinned" in m.text
    e = audit_entries(store)[-1]
    assert e["action"] == "map" and e["parameters"]["thinned"] is True and 0 < e["counts"]["fixes"] <= 52
