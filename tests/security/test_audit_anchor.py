"""The audit log cannot be shortened or rewritten unnoticed (SPEC §9): heads outside the log, HMAC, CLI."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest

from trailmon.cli import main
from trailmon.errors import AuditTamperedError, StoreError
from trailmon.store import audit
from trailmon.store.cases import CaseStore
from trailmon.store.trails import TrailStore


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.delenv(audit.KEY_ENV, raising=False)
    ts = TrailStore(tmp_path / "store", create=True)
    CaseStore(ts.path / "cases.sqlite", create=True).close()
    for k in range(15):
        audit.append(
            ts.audit_path,
            user="ana" if k % 3 else "bob",
            purpose="test",
            action="trail",
            parameters={"k": k},
            subjects=[f"S{k}"],
        )
    return ts.path


def _verify(store, *extra) -> int:
    return main(["audit", "--store", str(store), "--verify", *extra])


def _rewrite(path, es):
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in es))


def _rehash(es):
    """What an attacker without the key does: rebuild the chain over the entries kept."""
    prev = audit.GENESIS
    out = []
    for seq, e in enumerate(es, start=1):
        e = {k: v for k, v in e.items() if k not in ("hash", "hmac")}
        e.update(seq=seq, prev=prev)
        e["hash"] = audit._digest(e)
        prev = e["hash"]
        out.append(e)
    return out


def test_heads_kept_outside_the_log(store):
    n, h = audit.head(store / "audit.jsonl")
    assert n == 15
    assert json.loads((store / "audit.head").read_text()) == {"entries": 15, "hash": h}
    assert oct((store / "audit.head").stat().st_mode & 0o777) == "0o600"
    with sqlite3.connect(store / "cases.sqlite") as con:
        assert con.execute("SELECT entries, last_hash FROM audit_head").fetchone() == (15, h)
    assert _verify(store) == 0


@pytest.mark.parametrize("how", ["cut 10", "empty", "delete"])
def test_truncated_emptied_or_deleted_log_fails(store, how, capsys):
    log = store / "audit.jsonl"
    if how == "cut 10":
        _rewrite(log, audit.entries(log)[:-10])
    elif how == "empty":
        log.write_text("")
    else:
        log.unlink()
    assert _verify(store) == 5
    assert "cut off the end" in capsys.readouterr().err


def test_head_file_alone_rewritten_is_still_caught_by_the_case_store(store):
    log = store / "audit.jsonl"
    kept = audit.entries(log)[:-10]
    _rewrite(log, kept)
    (store / "audit.head").write_text(json.dumps({"entries": len(kept), "hash": kept[-1]["hash"]}))
    with pytest.raises(AuditTamperedError, match="case store records 15 entries"):
        audit.verify(log)


def test_appending_after_truncation_does_not_hide_it(store):
    log = store / "audit.jsonl"
    _rewrite(log, audit.entries(log)[:-3])
    audit.append(log, user="ana", purpose="p", action="trail")
    with pytest.raises(AuditTamperedError, match="cut off the end|rewritten"):
        audit.verify(log)


def test_rewritten_and_rehashed_log_fails_with_the_key(tmp_path, monkeypatch):
    key = tmp_path / "keys" / "audit.key"
    key.parent.mkdir()
    key.write_text("k" * 40)
    os.chmod(key, 0o600)
    monkeypatch.setenv(audit.KEY_ENV, str(key))
    ts = TrailStore(tmp_path / "store", create=True)
    for k in range(6):
        audit.append(ts.audit_path, user="ana" if k % 2 else "bob", purpose="p", action="trail")
    assert all(len(e["hmac"]) == 64 for e in audit.entries(ts.audit_path))
    assert audit.verify(ts.audit_path) == 6
    # remove bob's entries, re-hash the chain and rewrite the head too: only the HMAC tells
    forged = _rehash([e for e in audit.entries(ts.audit_path) if e["user"] != "bob"])
    _rewrite(ts.audit_path, forged)
    (ts.path / "audit.head").write_text(json.dumps({"entries": len(forged), "hash": forged[-1]["hash"]}))
    with pytest.raises(AuditTamperedError, match="no valid HMAC"):
        audit.verify(ts.audit_path)
    assert main(["audit", "--store", str(ts.path), "--verify"]) == 5


def test_key_inside_the_store_or_readable_by_others_is_refused(tmp_path, monkeypatch):
    ts = TrailStore(tmp_path / "store", create=True)
    inside = ts.path / "audit.key"
    inside.write_text("k" * 40)
    os.chmod(inside, 0o600)
    monkeypatch.setenv(audit.KEY_ENV, str(inside))
    with pytest.raises(StoreError, match="keep the audit key off the store"):
        audit.append(ts.audit_path, user="a", purpose="p", action="x")
    outside = tmp_path / "k"
    outside.write_text("k" * 40)
    os.chmod(outside, 0o644)
    monkeypatch.setenv(audit.KEY_ENV, str(outside))
    with pytest.raises(StoreError, match="can be read by others"):
        audit.append(ts.audit_path, user="a", purpose="p", action="x")


def test_head_and_expect_head(store, capsys):
    assert main(["audit", "--store", str(store), "--head"]) == 0
    head = capsys.readouterr().out.strip()
    n, h = audit.parse_head(head)
    assert n == 15 and h == audit.entries(store / "audit.jsonl")[-1]["hash"]
    audit.append(store / "audit.jsonl", user="ana", purpose="p", action="trail")
    assert _verify(store, "--expect-head", head) == 0  # the log still extends the recorded head
    # an attacker rewrites log and both stored heads, dropping entry 15 onward: the recorded head catches it
    log = store / "audit.jsonl"
    forged = _rehash(audit.entries(log)[:12])
    _rewrite(log, forged)
    (store / "audit.head").write_text(json.dumps({"entries": 12, "hash": forged[-1]["hash"]}))
    with sqlite3.connect(store / "cases.sqlite") as con:
        con.execute("UPDATE audit_head SET entries = 12, last_hash = ?", (forged[-1]["hash"],))
    assert _verify(store) == 0
    assert _verify(store, "--expect-head", head) == 5
    assert _verify(store, "--expect-head", "nonsense") == 5
