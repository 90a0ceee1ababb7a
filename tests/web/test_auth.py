"""Users file, scrypt passwords, the permission table, ``trailmon users`` and ``trailmon serve`` checks."""

from __future__ import annotations

import io
import json
import os
import stat

import pytest

from tests.web.conftest import PASSWORD, USERS
from trailmon.cli import main
from trailmon.errors import InputError, StoreError
from trailmon.store import audit
from trailmon.store.trails import TrailStore
from trailmon.web.auth import (
    KDF,
    PERMISSIONS,
    ROLES,
    User,
    UsersFile,
    allowed,
    hash_password,
    verify_password,
)


def test_hash_is_salted_scrypt_and_verifies():
    a, b = hash_password(PASSWORD), hash_password(PASSWORD)
    assert a["kdf"] == KDF and a["kdf"]["name"] == "scrypt" and 128 * KDF["r"] * KDF["n"] >= 16 * 2**20
    assert a["salt"] != b["salt"] and a["key"] != b["key"]  # per-user salt
    assert PASSWORD not in json.dumps(a)
    assert verify_password(PASSWORD, a) and verify_password(PASSWORD, b)
    assert not verify_password(PASSWORD + "!", a)
    assert not verify_password(PASSWORD, {"kdf": KDF, "salt": "zz", "key": "00"})  # damaged record
    assert not verify_password("x" * 5000, a)  # over the bound: refused before the KDF


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short", r"a password must have 12 to 1024 characters, got 5"),
        ("x" * 1025, r"got 1025"),
        (None, r"got NoneType"),
    ],
)
def test_bad_password_is_refused(password, message):
    with pytest.raises(InputError, match=message):
        hash_password(password)


def test_users_file_add_list_remove(tmp_path):
    users = UsersFile(tmp_path / "users.json")
    assert users.list() == []
    assert users.add("ana", "analyst", PASSWORD) == User("ana", "analyst")
    users.add("rev", "reviewer", PASSWORD)
    assert stat.S_IMODE(os.stat(users.path).st_mode) == 0o600
    text = users.path.read_text()
    assert PASSWORD not in text and "scrypt" in text
    assert [(u["name"], u["role"]) for u in users.list()] == [("ana", "analyst"), ("rev", "reviewer")]
    assert users.authenticate("ana", PASSWORD) == User("ana", "analyst")
    assert users.authenticate("ana", "wrong password here") is None
    assert users.authenticate("nobody", PASSWORD) is None
    assert users.role_of("rev") == "reviewer"
    users.add("rev", "auditor", PASSWORD + "2")  # re-adding resets role and password
    assert users.role_of("rev") == "auditor" and users.authenticate("rev", PASSWORD) is None
    users.remove("rev")
    assert users.role_of("rev") is None
    with pytest.raises(InputError, match=r"no user 'rev' in .*; its users are: ana"):
        users.remove("rev")


@pytest.mark.parametrize(
    ("name", "role", "message"),
    [
        ("../etc", "analyst", r"user name must be 1-64 letters, digits .* got '../etc'"),
        ("", "analyst", r"user name must be .* got ''"),
        ("a" * 65, "analyst", r"user name must be"),
        ("ana", "admin", r"role must be one of analyst, reviewer, offender_manager, auditor, got 'admin'"),
    ],
)
def test_bad_user_is_refused(tmp_path, name, role, message):
    with pytest.raises(InputError, match=message):
        UsersFile(tmp_path / "users.json").add(name, role, PASSWORD)


def test_damaged_users_file(tmp_path):
    path = tmp_path / "users.json"
    path.write_text("[1, 2]")
    with pytest.raises(StoreError, match=r"is not a trailmon users file"):
        UsersFile(path).list()
    assert UsersFile(path).authenticate("ana", PASSWORD) is None
    path.write_text("{not json")
    with pytest.raises(StoreError, match=r"cannot be read"):
        UsersFile(path).list()


def test_permission_table():
    assert set(ROLES) == {"analyst", "reviewer", "offender_manager", "auditor"}
    for what, roles in PERMISSIONS.items():
        assert roles and roles <= set(ROLES), what
    # the policy, written out: who may open what
    assert {w for w in PERMISSIONS if allowed("reviewer", w)} == {
        "crimes",
        "crime",
        "review",
        "evidence_pack",
        "police_data",
        "subjects",
        "subject",
        "export",
        "associations",
        "association_review",
    }
    assert {w for w in PERMISSIONS if allowed("analyst", w)} == {
        "crimes",
        "crime",
        "police_data",
        "subjects",
        "subject",
        "trail",
        "cohort",
        "export",
        "series",
        "associations",
        "association_map",
    }
    assert {w for w in PERMISSIONS if allowed("offender_manager", w)} == {
        "subjects",
        "subject",
        "trail",
        "cohort",
        "associations",
        "association_map",
    }
    assert {w for w in PERMISSIONS if allowed("auditor", w)} == {"audit"}
    assert not allowed(None, "crime")
    with pytest.raises(KeyError):
        allowed("analyst", "no-such-page")


# -- trailmon users ---------------------------------------------------------------------------------------
def _cli(capsys, monkeypatch, *argv, stdin: str | None = None):
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def test_users_cli(tmp_path, capsys, monkeypatch):
    store = tmp_path / "store"
    TrailStore(store, create=True)
    s = str(store)
    code, out, _ = _cli(
        capsys,
        monkeypatch,
        "users",
        "--store",
        s,
        "add",
        "ana",
        "--role",
        "analyst",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    assert code == 0 and "user ana (analyst) saved" in out
    code, out, _ = _cli(capsys, monkeypatch, "users", "--store", s, "--json", "list")
    assert code == 0 and [(u["name"], u["role"]) for u in json.loads(out)["users"]] == [("ana", "analyst")]
    assert UsersFile(store / "users.json").authenticate("ana", PASSWORD) == User("ana", "analyst")
    code, _, err = _cli(
        capsys,
        monkeypatch,
        "users",
        "--store",
        s,
        "add",
        "bob",
        "--role",
        "reviewer",
        "--password-stdin",
        stdin="short\n",
    )
    assert code == 1 and "a password must have 12 to 1024 characters" in err
    code, _, err = _cli(
        capsys, monkeypatch, "users", "--store", s, "add", "bob", "--role", "reviewer", stdin=""
    )
    assert code == 1 and "pipe it in with --password-stdin" in err
    code, out, _ = _cli(capsys, monkeypatch, "users", "--store", s, "remove", "ana")
    assert code == 0 and "removed" in out
    code, out, _ = _cli(capsys, monkeypatch, "users", "--store", s, "list")
    assert out.strip() == "no users"
    code, _, err = _cli(capsys, monkeypatch, "users", "--store", s, "remove", "ana")
    assert code == 1 and "no user 'ana'" in err
    entries = audit.entries(store / "audit.jsonl")
    assert [(e["action"], e["kind"], e["parameters"]) for e in entries] == [
        ("users add", "administration", {"name": "ana", "role": "analyst", "sessions_ended": 0}),
        ("users remove", "administration", {"name": "ana", "sessions_ended": 0}),
    ]
    assert audit.verify(store / "audit.jsonl") == 2
    with pytest.raises(SystemExit) as exc:
        main(["users", "--store", s, "add", "x", "--role", "boss"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["users", "list"])
    assert exc.value.code == 2


def test_users_cli_needs_a_store(tmp_path, capsys):
    assert main(["users", "--store", str(tmp_path / "none"), "list"]) == 1
    assert "no trail store" in capsys.readouterr().err


# -- trailmon serve -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.1.2.3", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
        ("::", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host, loopback):
    from trailmon.cli.serve import is_loopback

    assert is_loopback(host) is loopback


def test_serve_binds_loopback_by_default(tmp_path, capsys, monkeypatch):
    import waitress

    store = tmp_path / "store"
    TrailStore(store, create=True)
    calls = []
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: calls.append((app, kw)))
    assert main(["serve", "--store", str(store)]) == 0
    ((app, kw),) = calls
    assert kw["host"] == "127.0.0.1" and kw["port"] == 8765
    assert app.config["SESSION_COOKIE_HTTPONLY"] and app.config["SESSION_COOKIE_SAMESITE"] == "Strict"
    assert not app.config["SESSION_COOKIE_SECURE"]
    err = capsys.readouterr().err
    assert "no users yet" in err and "http://127.0.0.1:8765/" in err
    secret = store / "web_secret"
    assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600 and len(secret.read_text().strip()) == 64
    first = secret.read_text()
    assert main(["serve", "--store", str(store), "--port", "9000", "--secure-cookies"]) == 0
    assert secret.read_text() == first  # kept across restarts: sessions survive them
    assert calls[-1][1]["port"] == 9000 and calls[-1][0].config["SESSION_COOKIE_SECURE"]


def test_serve_refuses_remote_without_allow_remote(tmp_path, capsys, monkeypatch):
    import waitress

    store = tmp_path / "store"
    TrailStore(store, create=True)
    calls = []
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: calls.append(kw))
    assert main(["serve", "--store", str(store), "--host", "0.0.0.0"]) == 1
    err = capsys.readouterr().err
    assert "error: --host '0.0.0.0' is not a loopback address" in err and "--allow-remote" in err
    assert calls == []
    assert main(["serve", "--store", str(store), "--host", "0.0.0.0", "--allow-remote"]) == 0
    assert "warning: serving on 0.0.0.0:8765, reachable from other machines" in capsys.readouterr().err
    assert calls[-1]["host"] == "0.0.0.0"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--port", "0"], r"--port must be 1-65535, got 0"),
        (["--threads", "0"], r"--threads must be 1-64, got 0"),
    ],
)
def test_serve_argument_errors(tmp_path, capsys, argv, message):
    store = tmp_path / "store"
    TrailStore(store, create=True)
    assert main(["serve", "--store", str(store), *argv]) == 1
    assert message.replace("\\", "") in capsys.readouterr().err


def test_create_app_checks(tmp_path):
    from trailmon.web import create_app

    with pytest.raises(StoreError, match=r"no trail store"):
        create_app(tmp_path / "none")
    TrailStore(tmp_path / "s", create=True)
    with pytest.raises(InputError, match=r"secret must be at least 16 bytes, got 3"):
        create_app(tmp_path / "s", secret="abc")
    (tmp_path / "s" / "web_secret").write_text("short\n")
    with pytest.raises(StoreError, match=r"holds no usable secret"):
        create_app(tmp_path / "s")


def test_every_role_has_a_user_in_the_fixture():
    assert set(USERS.values()) == set(ROLES)
