"""Any split of the same files into nights, mixed with hand ingests, gives the case records of one catch-up
run (SPEC §8): a property test over a generated multi-day inbox with late fixes inside stored gaps,
subjects files that change, open starts and ends, and a tag removed mid-week.

``TRAILMON_NIGHTS_EXAMPLES`` sets the number of splits tried (default 4, each a handful of nightly runs).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.test_rematch import (
    E0,
    N0,
    appointments_csv,
    at,
    crimes_csv,
    drop,
    iso,
    ll,
    night,
    snapshot,
    subjects_csv,
    trails_csv,
    walk,
)
from trailmon.io.subjects import read_subjects
from trailmon.io.trails import read_trails
from trailmon.store.trails import TrailStore

NIGHTS = 5
EXAMPLES = int(os.environ.get("TRAILMON_NIGHTS_EXAMPLES", "4"))


def _files() -> list[tuple[str, str, str]]:
    """(kind, name, text) of the whole inbox, days 1-4."""
    files = []
    s1 = subjects_csv([("S1", iso(at(1)), ""), ("S3", iso(at(1)), "")], "OM")
    s2 = [("S1", iso(at(1)), ""), ("S2", "", iso(at(3, 12))), ("S3", iso(at(1)), iso(at(3)))]  # tag off, open start
    files += [("subjects", "s1.csv", s1), ("subjects", "s2.csv", subjects_csv(s2, "OM")),
              ("subjects", "s3.csv", subjects_csv(s2[::-1], "OM"))]  # re-sent: other bytes, same windows
    for d in range(1, 5):
        fixes = walk("S1", at(d, 12), 60, E0 - 60, N0 + 20, 2.0)  # through the scene at 12:30
        fixes += walk("S2", at(d, 9, 30), 120, E0 + 10, N0)  # at the venue
        fixes += [("S3", at(d) + pd.Timedelta(minutes=10 * k), E0 + (150 if k % 36 < 30 else 600), N0)
                  for k in range(144)]
        if d == 1:
            fixes += walk("S1", at(1, 23, 50), 20, E0, N0 + 50)  # in Z1 across midnight
        if d == 2:
            fixes += [("S1", at(2, 9) + pd.Timedelta(minutes=k), E0 + 200, N0) for k in range(61)]
            fixes += [("S1", at(2, 14) + pd.Timedelta(minutes=k), E0 + 200, N0) for k in range(61)]
        files.append(("trails", f"t{d}.csv", trails_csv(sorted(set(fixes), key=lambda f: (f[0], f[1])))))
    files.append(("trails", "t2-late.csv", trails_csv([("S1", at(2, 11, 30), E0 + 200, N0)])))  # in a stored gap
    for d in range(1, 5):
        files.append(("crimes", f"c{d}.csv", crimes_csv([(f"C{d}", E0, N0, at(d, 12, 25), at(d, 12, 35))])))
    files.append(("crimes", "c-late.csv", crimes_csv([("G2", E0, N0, at(2, 11), at(2, 11, 10))])))
    files.append(("appointments", "a.csv", appointments_csv(
        [("A1", "S2", at(2, 10), at(2, 11)), ("A2", "S2", at(4, 10), at(4, 11)), ("A3", "S3", at(4, 1), at(4, 2))])))
    lat, lon = ll(E0, N0)
    files.append(("zones", "z.csv", (
        "zone_id,subject_id,kind,active_from,active_to,lat,lon,radius_m,daily_start,daily_end\n"
        f"Z1,S1,exclusion,{iso(at(1))},{iso(at(5))},{lat:.10f},{lon:.10f},200,,\n"
        f"Z2,S3,inclusion,{iso(at(1))},{iso(at(5))},{lat:.10f},{lon:.10f},200,20:00,06:00\n")))
    return files


FILES = _files()


@pytest.fixture(scope="module")
def catch_up():
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for kind, name, text in FILES:
            drop(root, kind, name, text)
        night(root, NIGHTS + 1)
        yield snapshot(root)


@st.composite
def deliveries(draw):
    """Per file: the night it arrives and whether it comes through the inbox or a hand ingest."""
    plan = {}
    for kind, name, _ in FILES:
        n = draw(st.integers(1, NIGHTS))
        hand = kind in ("trails", "subjects") and draw(st.booleans())
        plan[name] = (n, hand)
    # later subjects files must not be overtaken by the first one (rows are upserted in arrival order)
    n1, hand1 = plan["s1.csv"]
    for name in ("s2.csv", "s3.csv"):
        n, hand = plan[name]
        n = max(n, n1)
        if n == n1 and not hand1:
            hand = False
        plan[name] = (n, hand)
    return plan


def _hand_ingest(store_path: Path, kind: str, path: Path) -> None:
    store = TrailStore(store_path, create=True)
    if kind == "trails":
        store.ingest([read_trails(path, crs=store.crs)])
    else:
        store.ingest(subjects=[read_subjects(path)])


@settings(max_examples=EXAMPLES)
@given(plan=deliveries())
def test_nights_and_hand_ingests_equal_one_catch_up(catch_up, plan):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for n in range(1, NIGHTS + 1):
            for kind, name, text in FILES:  # hand ingests first, in file order
                if plan[name] == (n, True):
                    p = root / "hand" / name
                    p.parent.mkdir(parents=True, exist_ok=True)
                    p.write_text(text)
                    _hand_ingest(root / "store", kind, p)
            for kind, name, text in FILES:
                if plan[name] == (n, False):
                    drop(root, kind, name, text)
            night(root, n + 1)
        got = snapshot(root)
    for table in catch_up:
        assert got[table] == catch_up[table], (table, plan)


def test_the_catch_up_holds_every_case(catch_up):
    """The generated week exercises what the property is about (not a vacuous equality)."""
    hits = {(r[1], r[3]) for r in catch_up["hits"]}
    assert {("C1", "S1"), ("C2", "S1"), ("C4", "S1")} <= hits
    gaps = catch_up["gaps"]
    assert any(r[1] == "G2" and r[3] == "S1" and r[5] == at(2, 11, 30).value for r in gaps)  # split by the late fix
    att = {r[0]: r[8] for r in catch_up["attendance"]}
    assert att["A2"] == "not_monitored" and att["A3"] == "not_monitored" and att["A1"] != "not_monitored"
    z1 = [r for r in catch_up["zone_events"] if r[0] == "Z1" and r[3] == "visit"]
    assert any(r[4] < at(2).value < r[5] for r in z1)  # one visit across midnight
    z2 = [r for r in catch_up["zone_events"] if r[0] == "Z2"]
    assert z2 and all(r[5] <= at(3).value for r in z2)  # nothing after the tag came off
