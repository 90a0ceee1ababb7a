"""The web app keeps answering, pages and reviews, while a nightly run writes (SPEC §8, WAL)."""

from __future__ import annotations

import sqlite3
import threading
import time

import pandas as pd
import pytest

from tests.web.conftest import SAMPLE, post, sign_in
from trailmon.nightly import run_nightly
from trailmon.store import cases as cases_mod
from trailmon.store.cases import CaseStore

HOLD_S = 6.0


def _long_proximity_write(monkeypatch, inside: threading.Event):
    """``apply_proximity`` as a big nightly step: its pages spill to disk, the transaction stays open."""
    real = cases_mod.CaseStore.apply_proximity

    def slow(self, c, *args, **kwargs):
        c.execute("PRAGMA cache_size = 1")  # pages leave the cache as they are written, as a large step's do
        out = real(self, c, *args, **kwargs)
        inside.set()
        time.sleep(HOLD_S)
        return out

    monkeypatch.setattr(cases_mod.CaseStore, "apply_proximity", slow)


def test_pages_and_reviews_answer_while_a_nightly_step_writes(store, client, tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    (inbox / "crimes").mkdir(parents=True)
    crimes = pd.read_csv(SAMPLE / "crimes" / "crimes.csv", dtype=str, keep_default_na=False)
    crimes["radius_m"] = "150"  # every crime re-sent with a new radius: a new version each, all re-matched
    crimes.to_csv(inbox / "crimes" / "crimes-v2.csv", index=False)
    with CaseStore(store / "cases.sqlite") as cases:
        pending = [int(h) for h in cases.hits(state="pending")["hit_id"]][:4]
    assert len(pending) >= 2
    sign_in(client, "rev", purpose="review during the night")

    urls = ("/crimes", "/crime?ref=C02", "/subjects", "/subject?subject=N02")
    baseline = {}
    for url in urls:  # each page's own time, warm, with no writer: what a loaded machine takes anyway
        t0 = time.monotonic()
        assert client.get(url).status_code == 200
        baseline[url] = time.monotonic() - t0

    inside = threading.Event()
    _long_proximity_write(monkeypatch, inside)
    result: dict = {}

    def nightly():
        try:
            result["summary"] = run_nightly(store, inbox, tmp_path / "out", as_of="2026-07-17T02:00:00Z",
                                            tz="Europe/London")
        except Exception as exc:  # reported below
            result["error"] = exc

    job = threading.Thread(target=nightly)
    job.start()
    try:
        assert inside.wait(120), result
        statuses, slow_reads = [], []
        for url in urls:
            t0 = time.monotonic()
            r = client.get(url)
            statuses.append((url, r.status_code))
            if time.monotonic() - t0 - baseline[url] > HOLD_S / 2:  # a page that waited for the write lock
                slow_reads.append(url)
        assert not slow_reads, f"pages waited for the nightly write: {slow_reads}"
        for k, hit in enumerate(pending):
            r = post(client, f"/review/{hit}", {"action": "qualify" if k % 2 == 0 else "reject", "reason": "seen"})
            statuses.append((f"review {hit}", r.status_code))
    finally:
        job.join(timeout=300)
    assert "error" not in result, result.get("error")
    assert all(code < 400 for _, code in statuses), statuses
    assert result["summary"]["proximity"]["crimes"] > 0
    with CaseStore(store / "cases.sqlite") as cases:
        assert cases.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_write_lock_held_past_one_wait_is_retried_not_raised(tmp_path, monkeypatch):
    db = tmp_path / "cases.sqlite"
    CaseStore(db, create=True).close()
    monkeypatch.setattr(cases_mod, "BUSY_TIMEOUT_S", 0.1)
    other = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # a nightly step holding the write lock for longer than one wait
    release = threading.Timer(0.6, other.execute, ["COMMIT"])
    release.start()
    with CaseStore(db) as cases, cases.transaction() as c:
        c.execute("INSERT INTO pending_spans (lo_ns, hi_ns, run_id) VALUES (1, 2, 'r')")
    release.join()
    with CaseStore(db) as cases:
        assert cases.pending_spans() == [(1, 2)]
    other.close()


def test_retries_are_bounded(tmp_path, monkeypatch):
    db = tmp_path / "cases.sqlite"
    CaseStore(db, create=True).close()
    monkeypatch.setattr(cases_mod, "BUSY_TIMEOUT_S", 0.05)
    monkeypatch.setattr(cases_mod, "BUSY_RETRIES", 2)
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with CaseStore(db) as cases, pytest.raises(sqlite3.OperationalError, match="locked"):
            with cases.transaction():
                pass
    finally:
        other.execute("ROLLBACK")
        other.close()
