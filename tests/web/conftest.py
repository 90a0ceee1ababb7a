"""A case-record store filled by the nightly job from ``sample_traces/`` (13-15 July), users, sign-in."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("flask", reason="the web app needs flask: pip install 'trailmon[web]'")

from trailmon.nightly import run_nightly  # noqa: E402
from trailmon.store.cases import CaseStore  # noqa: E402
from trailmon.web import create_app  # noqa: E402
from trailmon.web.auth import UsersFile  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[2] / "sample_traces"
PASSWORD = "a long test passphrase"
USERS = {"ana": "analyst", "rev": "reviewer", "om": "offender_manager", "aud": "auditor"}
"""One user per role, all with :data:`PASSWORD`."""

INBOX = [
    ("subjects", SAMPLE / "subjects.csv"),
    ("trails", SAMPLE / "trails" / "day-2026-07-13.csv"),
    ("trails", SAMPLE / "trails" / "day-2026-07-14.csv"),
    ("trails", SAMPLE / "trails" / "day-2026-07-15.csv"),
    ("crimes", SAMPLE / "crimes" / "crimes.csv"),
    ("appointments", SAMPLE / "appointments.csv"),
    ("zones", SAMPLE / "zones.csv"),
]


@pytest.fixture(scope="session")
def filled_store(tmp_path_factory) -> Path:
    """The nightly job run once over three sample days (as of 16 July 02:00Z), plus one user per role."""
    if not (SAMPLE / "expected.json").exists():
        pytest.skip(f"{SAMPLE} holds no generated sample")
    root = tmp_path_factory.mktemp("web")
    for kind, path in INBOX:
        (root / "inbox" / kind).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, root / "inbox" / kind / path.name)
    run_nightly(
        root / "store", root / "inbox", root / "out", as_of="2026-07-16T02:00:00Z", tz="Europe/London"
    )
    users = UsersFile(root / "store" / "users.json")
    for name, role in USERS.items():
        users.add(name, role, PASSWORD)
    return root / "store"


@pytest.fixture
def store(filled_store, tmp_path) -> Path:
    """A private copy of the filled store (tests change review states and the audit log)."""
    dest = tmp_path / "store"
    shutil.copytree(filled_store, dest)
    return dest


@pytest.fixture
def app(store):
    app = create_app(store, secret="test-secret-" + "x" * 32)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def T(response) -> str:
    """A response's text with HTML entities decoded (messages quote values with ')."""
    return html.unescape(response.get_data(as_text=True))


def csrf_of(client) -> str:
    """The CSRF token of the client's session."""
    with client.session_transaction() as s:
        return s["csrf"]


def sign_in(client, name: str, purpose: str = "test of the web app", password: str = PASSWORD):
    """Sign ``name`` in through the form; returns the response."""
    page = client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post(
        "/sign-in", data={"csrf_token": token, "username": name, "password": password, "purpose": purpose}
    )


def post(client, url: str, data: dict | None = None, **kw):
    """POST with the session's CSRF token."""
    return client.post(url, data={"csrf_token": csrf_of(client), **(data or {})}, **kw)


def hit_ids(store: Path, ref: str) -> list[int]:
    with CaseStore(store / "cases.sqlite") as cases:
        return [int(h) for h in cases.hits()[lambda d: d["crime_ref"] == ref]["hit_id"]]


def audit_entries(store: Path) -> list[dict]:
    from trailmon.store import audit

    return audit.entries(store / "audit.jsonl")
