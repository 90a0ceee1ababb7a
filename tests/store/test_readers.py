"""Readers never fail because a writer committed (SPEC §8): leases, retired files, own temp files only."""

from __future__ import annotations

import json
import os
import re
import threading
import time

import numpy as np
import pandas as pd
import pytest

from trailmon.cli import main
from trailmon.io.quarantine import ReadResult, empty_rejected
from trailmon.report._columns import TRAIL_INPUT
from trailmon.store import retention
from trailmon.store.trails import TrailStore, held_generations

D0 = pd.Timestamp("2026-07-10T12:00:00Z")  # an old day, written and purged again and again
D1 = pd.Timestamp("2026-07-14T12:00:00Z")
D2 = pd.Timestamp("2026-07-15T12:00:00Z")
WINDOW_START = pd.Timestamp("2026-01-01T00:00:00Z")
WINDOW_END = pd.Timestamp("2027-01-01T00:00:00Z")
X, Y = 430_000.0, 433_000.0
RUN_S = 3.0


def _fixes(rows, file: str) -> ReadResult:
    """Accepted trail rows ``(subject, time, x, y)``."""
    df = pd.DataFrame({
        "subject_id": [r[0] for r in rows], "t_ns": [int(r[1].value) for r in rows],
        "x_m": [float(r[2]) for r in rows], "y_m": [float(r[3]) for r in rows],
        "lat": 53.8, "lon": -1.55, "accuracy_m": 10.0, "fix_type": "gps", "speed_mps": np.nan,
        "heading_deg": np.nan,
    })[TRAIL_INPUT]
    df["row"] = np.arange(1, len(df) + 1)
    return ReadResult(df, empty_rejected(), len(df), files=[file])


def _subjects(end: pd.Timestamp) -> ReadResult:
    df = pd.DataFrame({"subject_id": ["MARK"], "cohort": ["fixed"], "monitoring_start": [WINDOW_START],
                       "monitoring_end": [end], "crn": [None], "pnc_id": [None], "nomis_id": [None],
                       "offender_manager": [None], "flags": [None]})
    df["row"] = [1]
    return ReadResult(df, empty_rejected(), 1, files=["subjects.csv"])


def _generation(store: TrailStore, k: int) -> None:
    """Generation ``k``: MARK gains one fix on each of D1 and D2 and its window ends k seconds later."""
    s = pd.Timedelta(seconds=k)
    store.ingest([_fixes([("MARK", D1 + s, X + k, Y), ("MARK", D2 + s, X + k, Y)], f"g{k}.csv")],
                 [_subjects(WINDOW_END + s)])


def _consistent(trails) -> int:
    """The generation a read saw; fails when its fixes and windows come from different generations."""
    ids = list(trails.subject_ids)
    i = ids.index("MARK")
    t = trails.t_s[trails.offsets[i]:trails.offsets[i + 1]]
    on_d1 = int(np.sum((t >= D1.value / 1e9) & (t < D1.value / 1e9 + 3600)))
    on_d2 = int(np.sum((t >= D2.value / 1e9) & (t < D2.value / 1e9 + 3600)))
    w = trails.win_offsets[i]
    window_k = int(round(trails.win_end_s[w] - WINDOW_END.value / 1e9))
    assert on_d1 == on_d2 == window_k + 1, (on_d1, on_d2, window_k)
    return window_k


@pytest.fixture
def store(tmp_path) -> TrailStore:
    store = TrailStore(tmp_path / "store", create=True)
    _generation(store, 0)
    (tmp_path / "crimes.csv").write_text(
        "crime_ref,offence,easting,northing,committed_from,committed_to,radius_m,force\n"
        f"C1,burglary,{X},{Y},2026-07-14T11:59:00Z,2026-07-14T12:30:00Z,100,\n"
    )
    return store


def test_one_read_uses_one_generation_even_when_a_commit_lands_between_its_files(store, monkeypatch):
    # a commit lands right after the read has looked at the manifest: the old read saw the new
    # generation's windows with the old generation's fixes
    import trailmon.store.trails as trails_mod

    real = trails_mod._read_hours
    fired = []

    def commit_in_between(paths, lo, hi, **kw):
        out = real(paths, lo, hi, **kw)
        if not fired:
            fired.append(1)
            _generation(TrailStore(store.path), 1)
        return out

    monkeypatch.setattr(trails_mod, "_read_hours", commit_in_between)
    tr = store.read(D1 - pd.Timedelta(hours=1), D2 + pd.Timedelta(hours=2))
    assert fired
    assert _consistent(tr) == 0
    assert _consistent(TrailStore(store.path).read(D1 - pd.Timedelta(hours=1), D2 + pd.Timedelta(hours=2))) == 1


def test_files_of_a_leased_generation_stay_until_the_lease_ends(store):
    with store.snapshot() as snap:
        gen = snap.manifest["generation"]
        for k in (1, 2, 3):
            _generation(TrailStore(store.path), k)
        store.purge(pd.Timestamp("2030-01-01T00:00:00Z"))  # every day gone from the current generation
        assert held_generations(store.path) == {gen}
        assert _consistent(snap.read(D1 - pd.Timedelta(hours=1), D2 + pd.Timedelta(hours=2))) == 0
        assert len(snap.subjects()) == 1
    _generation(TrailStore(store.path), 4)  # the next writer finds no lease and deletes the retired files
    m = store.manifest
    named = set(m["days"].values()) | set(m["edges"].values())
    assert {f"trails/{p.name}" for p in (store.path / "trails").glob("*.parquet")} == named
    assert json.loads((store.path / ".retired.json").read_text()) == {}
    assert not list((store.path / ".readers").glob("*.lease"))


def test_the_writer_removes_only_its_own_temp_files_of_dead_processes(store):
    dead = 2**22 + 7  # above Linux's largest pid: no such process
    live = os.getpid()
    root = store.path
    theirs = [root / f".users.json.tmp-{dead}-abc123", root / "quarantine" / f".nightly-x-crimes-1.csv.tmp-{dead}",
              root / "trails" / f".2026-07-14.20260714T000000Z-abcdef.parquet.tmp-{live}-0001aa"]
    mine_dead = [root / "trails" / f".2026-07-14.20260714T000000Z-abcdef.parquet.tmp-{dead}-0001aa",
                 root / f".manifest.json.tmp-{dead}"]
    for p in theirs + mine_dead:
        p.write_bytes(b"half written")
    _generation(store, 1)
    assert all(p.exists() for p in theirs)  # another command's, or a live writer's
    assert not any(p.exists() for p in mine_dead)


def test_readers_never_fail_while_ingests_and_purges_commit(store, tmp_path):
    """Ingests and a purge in a loop; a proximity run, web pages, a Dask task and plain reads meanwhile."""
    from tests.web.conftest import PASSWORD, csrf_of, sign_in
    from trailmon.web import create_app
    from trailmon.web.auth import UsersFile

    dd = pytest.importorskip("dask.distributed")
    from trailmon import distributed

    UsersFile(store.path / "users.json").add("ana", "analyst", PASSWORD)
    app = create_app(store.path, secret="test-secret-" + "x" * 32)
    app.config["TESTING"] = True
    web = app.test_client()
    assert sign_in(web, "ana").status_code in (200, 302)
    crimes = pd.DataFrame({"crime_ref": ["C1"], "x_m": [X], "y_m": [Y], "radius_m": [100.0],
                           "committed_from": [D1 - pd.Timedelta(minutes=1)],
                           "committed_to": [D1 + pd.Timedelta(minutes=30)]})
    stop = threading.Event()
    failures: list[str] = []
    seen: dict[str, list] = {"read": [], "proximity": [], "web": [], "dask": []}

    def guard(name, fn):
        def loop():
            n = 0
            while not stop.is_set() or n == 0:
                try:
                    seen[name].append(fn(n))
                except Exception as exc:  # every failure is a finding
                    failures.append(f"{name}: {type(exc).__name__}: {exc}")
                n += 1
        return threading.Thread(target=loop, name=name)

    def plain(n):
        return _consistent(TrailStore(store.path).read(D1 - pd.Timedelta(hours=1), D2 + pd.Timedelta(hours=2)))

    def cli_proximity(n):
        out = tmp_path / f"prox-{threading.get_ident()}-{n}.csv"
        rc = main(["proximity", "--store", str(store.path), "--crimes", str(tmp_path / "crimes.csv"),
                   "--out", str(out), "--user", "u", "--purpose", "readers test", "--json"])
        assert rc == 0, rc
        return rc

    def web_page(n):
        r = web.post("/trail", data={"csrf_token": csrf_of(web), "sid": "MARK", "subject": "MARK",
                                     "from": "2026-07-14T11:00:00Z", "to": "2026-07-15T13:00:00Z",
                                     "justify": "", "purpose": "readers test"})
        assert r.status_code == 200, r.status_code
        fixes = int(re.search(r"(\d+) fix", r.get_data(as_text=True)).group(1))
        assert fixes % 2 == 0, fixes  # one per day per generation: an odd count mixes two
        return fixes

    with dd.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:

        def dask_task(n):
            res = distributed.proximity(TrailStore(store.path), crimes, client=client, progress=False)
            assert len(res.hits) == 1
            return len(res.hits)

        readers = [guard("read", plain), guard("proximity", cli_proximity), guard("web", web_page),
                   guard("dask", dask_task)]
        for r in readers:
            r.start()
        k, t_end, purges = 1, time.monotonic() + RUN_S, 0
        writer = TrailStore(store.path)
        try:
            while time.monotonic() < t_end or purges == 0:
                _generation(writer, k)
                writer.ingest([_fixes([("OLD", D0 + pd.Timedelta(seconds=k), X, Y)], f"old{k}.csv")])
                purges += len(retention.purge(store.path, pd.Timestamp("2026-07-12T00:00:00Z"))["trail_days"])
                k += 1
        finally:  # a failing writer stops the readers too, so the test ends
            stop.set()
            for r in readers:
                r.join(timeout=120)
    assert not failures, failures[:5]
    assert purges >= 1 and k >= 3
    assert all(seen[name] for name in seen), {n: len(v) for n, v in seen.items()}
    assert max(seen["read"]) >= 1  # the reads did see later generations
