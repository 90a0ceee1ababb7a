"""Refusals: no session, wrong role, no purpose, bad CSRF token, the 48 h cap, export names, bad input."""

from __future__ import annotations

import re
import time

import pytest

from tests.web.conftest import T, audit_entries, csrf_of, hit_ids, post, sign_in
from trailmon.store.cases import CaseStore

DATA_GETS = [
    "/crimes?ref=C0",
    "/crime?ref=C02",
    "/crime/map?ref=C02",
    "/subjects",
    "/subject?subject=N02",
    "/trail?subject=N02",
    "/cohort",
    "/export",
    "/audit",
    "/purpose",
]
POSTS = ["/review/1", "/trail?subject=N02", "/export"]


def _state(store, hit_id: int) -> str:
    with CaseStore(store / "cases.sqlite") as cases:
        return cases.conn.execute("SELECT review_state FROM hits WHERE hit_id = ?", (hit_id,)).fetchone()[0]


def test_no_session_no_data(client, store):
    n = len(audit_entries(store))
    for url in DATA_GETS:
        r = client.get(url)
        assert r.status_code == 302 and r.headers["Location"].startswith("/sign-in"), url
    for url in POSTS:
        # a valid token of an anonymous session is not a sign-in
        r = client.post(url, data={"csrf_token": csrf_of(client), "action": "qualify", "purpose": "p"})
        assert r.status_code == 403 and "sign in first" in T(r), url
    r = client.post("/purpose", data={"csrf_token": csrf_of(client), "purpose": "p"})
    assert r.status_code == 302 and r.headers["Location"] == "/sign-in"
    assert _state(store, 1) == "pending"
    assert len(audit_entries(store)) == n


def test_wrong_role_is_refused_with_the_roles_allowed(client, store):
    sign_in(client, "aud")
    n = len(audit_entries(store))
    r = client.get("/crime?ref=C02")
    assert (
        r.status_code == 403
        and "the auditor role may not open this page (crime); roles allowed: analyst, reviewer" in T(r)
    )
    r = post(client, "/export", {"recipient": "x", "purpose": "y"})
    assert r.status_code == 403
    assert len(audit_entries(store)) == n  # refusals show no data, so nothing was consulted


def test_session_without_purpose_goes_to_the_purpose_page(client, store):
    sign_in(client, "ana")
    with client.session_transaction() as s:
        del s["purpose"]
    r = client.get("/crime?ref=C02")
    assert r.status_code == 302 and r.headers["Location"] == "/purpose?next=/crime?ref%3DC02"
    r = post(
        client, "/trail?subject=N02", {"from": "2026-07-14T09:00Z", "to": "2026-07-14T10:00Z", "purpose": "p"}
    )
    assert r.status_code == 403 and "state the purpose of this session first" in T(r)
    r = post(client, "/purpose", {"purpose": "  "})
    assert r.status_code == 403 and "state the purpose of this session" in T(r)
    assert post(client, "/purpose", {"purpose": "back to work"}).status_code == 302
    assert client.get("/crime?ref=C02").status_code == 200


def test_trail_and_export_ask_for_a_purpose_each_time(client, store):
    sign_in(client, "ana", purpose="session purpose")
    n = len(audit_entries(store))
    r = post(client, "/trail?subject=N02", {"from": "2026-07-14T09:00:00Z", "to": "2026-07-14T10:00:00Z"})
    assert r.status_code == 403 and "say why you need this: type a purpose" in T(r)
    r = post(client, "/export", {"recipient": "IOM panel", "purpose": " "})
    assert r.status_code == 403 and "say why you need this" in T(r)
    r = post(client, "/export", {"purpose": "panel"})
    assert r.status_code == 403 and "name who receives it" in T(r)
    assert len(audit_entries(store)) == n


def test_bad_csrf_token_changes_nothing(client, store):
    hid = hit_ids(store, "C02")[0]
    sign_in(client, "rev")
    n = len(audit_entries(store))
    for data in ({}, {"csrf_token": ""}, {"csrf_token": "forged"}, {"csrf_token": csrf_of(client) + "x"}):
        r = client.post(f"/review/{hid}", data={"action": "qualify", **data})
        assert r.status_code == 400 and "CSRF token is missing or wrong" in T(r)
    r = client.post("/sign-out")
    assert r.status_code == 400
    assert _state(store, hid) == "pending" and len(audit_entries(store)) == n
    # the token of another session does not work either
    other = client.application.test_client()
    sign_in(other, "rev")
    r = client.post(f"/review/{hid}", data={"action": "qualify", "csrf_token": csrf_of(other)})
    assert r.status_code == 400 and _state(store, hid) == "pending"


def test_sign_in_form_has_a_csrf_token_and_a_new_one_after_sign_in(client):
    page = client.get("/sign-in")
    before = csrf_of(client)
    assert f'name="csrf_token" value="{before}"' in page.text
    r = client.post(
        "/sign-in", data={"username": "rev", "password": "a long test passphrase", "purpose": "p"}
    )
    assert r.status_code == 400  # no token: refused before the password is checked
    sign_in(client, "rev")
    assert csrf_of(client) != before  # no fixation of the pre-sign-in session


def test_72_hours_of_trail_need_a_justification(client, store):
    sign_in(client, "om")
    n = len(audit_entries(store))
    form = {"from": "2026-07-13T00:00:00Z", "to": "2026-07-16T00:00:00Z", "purpose": "pattern of life"}
    r = post(client, "/trail?subject=N02", form)
    assert r.status_code == 403
    assert "a trail over 72.0 h is wider than the 48 h cap; enter a justification" in T(r)
    r = post(client, "/trail?subject=N02", {**form, "justify": "   "})
    assert r.status_code == 403
    refused = audit_entries(store)[n:]  # refusals are recorded, with nothing shown
    assert [(e["action"], e["subjects"], e["counts"]) for e in refused] == [("trail refused", [], {"fixes": 0})] * 2
    r = post(client, "/trail?subject=N02", {**form, "to": "2026-07-15T00:00:00Z"})  # exactly 48 h: allowed
    assert r.status_code == 200
    r = post(client, "/trail?subject=N02", {**form, "justify": "IOM panel review of the week"})
    assert r.status_code == 200
    e = audit_entries(store)[-1]
    assert (e["action"], e["parameters"]["justify"]) == ("trail", "IOM panel review of the week")


@pytest.mark.parametrize(
    "name",
    [
        "../x.csv",
        "..%2fx.csv",
        "../../etc/passwd.csv",
        "/tmp/x.csv",
        "a/b.csv",
        "..\\x.csv",
        "C:\\x.csv",
        ".hidden.csv",
        "x..csv",
        "x.csv/..",
        "x .csv",
        "x.txt",
        "x.jsonl",
        "x.csv\x00.jsonl",
        "-",
        "%2e%2e",
    ],
)
def test_export_names_cannot_leave_their_place(client, store, name):
    sign_in(client, "rev")
    n = len(audit_entries(store))
    r = post(client, "/export", {"recipient": "panel", "purpose": "p", "format": "csv", "filename": name})
    assert r.status_code == 400
    assert "file name must" in T(r) or "must not hold control characters" in T(r)
    assert len(audit_entries(store)) == n
    assert not list(store.parent.glob("*.csv")) and not (store.parent.parent / "x.csv").exists()


def test_oversized_request_is_refused(client, store):
    sign_in(client, "rev")
    r = post(client, "/review/1", {"action": "reject", "reason": "x" * (70 * 1024)})
    assert r.status_code == 413 and "at most 64 KiB" in T(r)
    assert _state(store, 1) == "pending"


@pytest.mark.parametrize(
    ("method", "url", "data", "status", "message"),
    [
        (
            "post",
            "/review/{hid}",
            {"action": "reject", "reason": "x" * 501},
            400,
            "reason must be at most 500 characters, got 501",
        ),
        (
            "post",
            "/review/{hid}",
            {"action": "reject", "reason": "bad\x1bchars"},
            400,
            "reason must not hold control characters",
        ),
        ("post", "/review/{hid}", {"action": "qualify" * 3}, 400, "action must be at most 10 characters"),
        ("post", "/review/{hid}", {}, 400, "action is required"),
        ("post", "/review/abc", {"action": "qualify"}, 404, ""),
        ("post", "/review/-1", {"action": "qualify"}, 404, ""),
        ("get", "/crime?ref=C02&version=abc", None, 400, "version must be a whole number, got 'abc'"),
        ("get", "/crime?ref=C02&version=99999999", None, 400, "version must be a whole number"),
        ("get", "/crime", None, 400, "crime reference is required"),
        (
            "get",
            "/crime?ref=" + "C" * 101,
            None,
            400,
            "crime reference must be at most 100 characters, got 101",
        ),
        ("get", "/crimes?date=someday", None, 400, "date must be a day such as 2026-07-14, got 'someday'"),
        ("get", "/crimes?group=arson", None, 400, "offence group must be one of robbery, burglary, vehicle"),
        ("get", "/subject", None, 400, "subject is required"),
        (
            "post",
            "/export",
            {"recipient": "r", "purpose": "p", "format": "xlsx"},
            400,
            "format must be 'csv' or 'jsonl', got 'xlsx'",
        ),
    ],
)
def test_malformed_input_is_refused(client, store, method, url, data, status, message):
    hid = hit_ids(store, "C02")[0]
    sign_in(client, "rev")
    url = url.format(hid=hid)
    r = post(client, url, data) if method == "post" else client.get(url)
    assert r.status_code == status, T(r)[:2000]
    assert message in T(r)
    assert _state(store, hid) == "pending"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"from": "yesterday", "to": "2026-07-14T10:00:00Z"}, "from must be an ISO 8601 time"),
        ({"from": "2026-07-14T10:00:00Z", "to": "2026-07-14T09:00:00Z"}, "is before 'from'"),
        ({"from": "", "to": "2026-07-14T10:00:00Z"}, "from is required"),
        (
            {"from": "2026-07-14T10:00:00Z" + " " * 40, "to": "2026-07-14T11:00:00Z"},
            "from must be at most 40",
        ),
    ],
)
def test_trail_form_errors(client, form, message):
    sign_in(client, "ana")
    r = post(client, "/trail?subject=N02", {**form, "purpose": "p"})
    assert r.status_code == 400 and message in T(r)


def test_cookie_flags_and_lifetime(client):
    r = sign_in(client, "rev")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # loopback HTTP; --secure-cookies behind a TLS proxy
    expires = re.search(r"Expires=([^;]+)", cookie).group(1)
    left = time.mktime(time.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT")) - time.mktime(time.gmtime())
    assert 8 * 3600 - 120 <= left <= 8 * 3600 + 120
    value = re.search(r"trailmon_session=([^;]+)", cookie).group(1)
    assert "rev" not in value.split(".")[0] or value.startswith(
        "."
    )  # signed (and compressed), not plain JSON


def test_secure_cookies_option(store):
    from trailmon.web import create_app

    c = create_app(store, secret="s" * 40, secure_cookies=True).test_client()
    r = sign_in(c, "rev")
    assert "Secure" in r.headers["Set-Cookie"]


def test_tampered_or_foreign_cookie_is_no_session(client, app, store):
    from trailmon.web import create_app

    sign_in(client, "rev")
    cookie = client.get_cookie("trailmon_session").value
    client.set_cookie("trailmon_session", cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB"))
    assert client.get("/crimes").status_code == 302
    other = create_app(store, secret="another-secret-" + "y" * 32).test_client()
    other.set_cookie("trailmon_session", cookie)  # signed with another key
    assert other.get("/crimes").status_code == 302


def test_session_expires_after_8_hours(client, store):
    import sqlite3

    sign_in(client, "rev")
    with sqlite3.connect(store / "cases.sqlite") as con:
        con.execute("UPDATE web_sessions SET created = ? WHERE user = 'rev'", (time.time() - 8 * 3600 - 1,))
    assert client.get("/crimes").status_code == 302


def test_removed_user_or_changed_role_ends_the_session(client, store):
    from trailmon.web.auth import UsersFile

    sign_in(client, "rev")
    users = UsersFile(store / "users.json")
    users.add("rev", "auditor", "another long passphrase")
    assert client.get("/crimes").status_code == 302
    sign_in(client, "ana")
    users.remove("ana")
    assert client.get("/crimes").status_code == 302


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:x"]
)
def test_no_open_redirect_after_sign_in(client, target):
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = client.post(
        "/sign-in",
        data={
            "csrf_token": token,
            "username": "rev",
            "password": "a long test passphrase",
            "purpose": "p",
            "next": target,
        },
    )
    assert r.status_code == 302 and r.headers["Location"] == "/"


def test_pages_escape_what_they_show_and_load_nothing_external(client, store):
    sign_in(client, "ana")
    r = client.get("/crimes?ref=%3Cscript%3Ealert(1)%3C/script%3E")
    assert r.status_code == 200
    assert "<script>alert(1)</script>" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    for url in ["/sign-in", "/crimes?ref=C0", "/crime?ref=C02", "/subject?subject=N02", "/export"]:
        r = client.get(url)
        assert not re.search(r"""(?:src|href)=["']?(?:https?:)?//""", r.text), url
        assert "<script" not in r.text  # the app's pages run no scripts at all
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Cache-Control"] == "no-store" and r.headers["Referrer-Policy"] == "no-referrer"
    with client.get("/static/style.css") as css:
        assert css.status_code == 200 and "url(" not in css.text and "@import" not in css.text


def test_static_files_cannot_be_escaped(client):
    for url in [
        "/static/../app.py",
        "/static/%2e%2e/app.py",
        "/static/..%2fapp.py",
        "/static/../../store/audit.jsonl",
    ]:
        with client.get(url) as r:
            assert r.status_code == 404, url


def test_wrong_methods(client):
    sign_in(client, "rev")
    assert client.get("/review/1").status_code == 405
    assert client.get("/sign-out").status_code == 405
    assert post(client, "/crimes").status_code == 405


def test_repeated_failed_sign_ins_lock_the_user_name(client, app):
    for _ in range(5):
        assert sign_in(client, "rev", password="not the password").status_code == 401
    r = sign_in(client, "rev")  # even the right password, for a while
    assert r.status_code == 429
    assert "Too many failed sign-ins for this user name from this address: wait 15 minutes." in T(r)
    assert sign_in(app.test_client(), "ana").status_code == 302  # other users are not affected
