"""The supervision pack: qualified hits only, calendar, data quality, capped track map, refusals, browser."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.report.test_cohort import T0, T1, filled, open_stores, screenshot  # noqa: F401 (fixture)
from trailmon.errors import AccessRefusedError, InputError
from trailmon.report.subject_pack import subject_pack, write_subject_pack
from trailmon.store import audit


def test_pack_content_from_the_case_store(filled):  # noqa: F811
    store, cases = open_stores(filled)
    with cases:
        pack = subject_pack(store, cases, "S1", T0, T1)
        q = cases.frame("SELECT hit_id FROM hits WHERE subject_id = 'S1' AND review_state = 'qualified'")
        nev = cases.frame(  # evidence is not stored per night: each hit keeps the count of its rows
            "SELECT SUM(evidence_rows) FROM hits WHERE subject_id = 'S1' AND review_state = 'qualified'"
        ).iloc[0, 0]
        zev = cases.frame("SELECT COUNT(*) FROM zone_events WHERE subject_id = 'S1' AND start_ns >= ? AND start_ns < ?",
                          [T0.value, T1.value]).iloc[0, 0]
    assert list(pack.hits["hit_id"]) == list(q["hit_id"]) and len(pack.evidence) == nev > 0
    assert len(pack.zone_events) == zev and pack.subject["crn"] == "A123456"
    assert pack.subject["pnc_id"] == "2012/0123456Y" and pack.subject["offender_manager"] == "OM One"
    assert list(pack.daily["period_label"]) == [f"2026-07-{d}" for d in range(13, 20)]
    assert pack.hit_states["qualified"] == 1


def test_write_pack_html_and_audit(filled, tmp_path):  # noqa: F811
    store, cases = open_stores(filled)
    with cases:
        res = write_subject_pack(tmp_path / "s1.html", store, cases, "S1", T0, T1, user="om", purpose="supervision")
    doc = Path(res["outputs"][0]).read_text()
    assert doc.count("OFFICIAL-SENSITIVE") >= 3
    for part in ("Attendance calendar", "Zone events", "Qualified proximity hits", "Evidence", "Data quality per day",
                 "Track map", "2026-W29", "lbs_share"):
        assert part in doc, part
    assert doc.count('src="data:image/png;base64,') == 2
    assert not re.search(r'(src|href)="(https?:)?//', doc)
    assert "the last 48 h" in doc  # a week: the map is capped without a justification
    e = audit.entries(store.audit_path)[-1]
    assert (e["user"], e["purpose"], e["kind"], e["subjects"]) == ("om", "supervision", "consultation", ["S1"])
    assert pd.Timestamp(e["parameters"]["map_from"]) == T1 - pd.Timedelta(hours=48)
    store, cases = open_stores(filled)
    with cases:
        write_subject_pack(tmp_path / "s1b.html", store, cases, "S1", T0, T1, user="om", purpose="supervision",
                           justify="review of the whole week")
    e = audit.entries(store.audit_path)[-1]
    assert e["parameters"]["justify"] == "review of the whole week" and pd.Timestamp(e["parameters"]["map_from"]) == T0


def test_appointments_and_no_data_in_calendar(filled, tmp_path):  # noqa: F811
    store, cases = open_stores(filled)
    with cases:
        pack = subject_pack(store, cases, "S2", T0, T1)
        write_subject_pack(tmp_path / "s2.html", store, cases, "S2", T0, T1, user="om", purpose="supervision")
    assert set(pack.attendance["status"]) == {"attended", "no_data"}
    doc = (tmp_path / "s2.html").read_text()
    assert 'class="st st-no_data"' in doc and 'class="st st-attended"' in doc
    assert "No qualified hit in the period." in doc  # S2's hit is pending or rejected: not shown


@pytest.mark.parametrize(("user", "purpose"), [(None, "p"), ("u", "")])
def test_refused_without_identity(filled, tmp_path, user, purpose):  # noqa: F811
    store, cases = open_stores(filled)
    with cases, pytest.raises(AccessRefusedError, match="report subject discloses location data"):
        write_subject_pack(tmp_path / "x.html", store, cases, "S1", T0, T1, user=user, purpose=purpose)
    assert not (tmp_path / "x.html").exists()


def test_errors(filled, tmp_path):  # noqa: F811
    store, cases = open_stores(filled)
    with cases:
        with pytest.raises(InputError, match="subject 'NOPE' is in neither the case-record store nor the trail"):
            subject_pack(store, cases, "NOPE", T0, T1)
        with pytest.raises(InputError, match=r"path must end in .html, got '.*x.pdf'"):
            write_subject_pack(tmp_path / "x.pdf", store, cases, "S1", T0, T1, user="u", purpose="p")


def test_pack_renders_in_headless_chromium(filled, tmp_path):  # noqa: F811
    store, cases = open_stores(filled)
    with cases:
        write_subject_pack(tmp_path / "s1.html", store, cases, "S1", T0, T1, user="om", purpose="supervision")
    img = screenshot(tmp_path / "s1.html", tmp_path)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 100


def test_device_of_each_monitoring_window_and_hit(filled, tmp_path):  # noqa: F811
    import shutil

    from trailmon.store.cases import CaseStore
    from trailmon.store.trails import TrailStore

    shutil.copytree(filled / "store", tmp_path / "store")
    day = pd.Timedelta(days=1).value
    with CaseStore(tmp_path / "store" / "cases.sqlite") as cases:
        closest = int(cases.frame("SELECT closest_time_ns FROM hits WHERE subject_id = 'S1' AND "
                                  "review_state = 'qualified'").iloc[0, 0])
        with cases.transaction() as c:
            c.executemany("INSERT INTO subject_devices VALUES (?,?,?,?,?)", [
                ("S1", T0.value - 30 * day, T0.value - 2 * day, "DEV-OLD", "SN-OLD"),  # ended before the period
                ("S1", T0.value - day, closest + 60 * 10**9, "DEV-7", "SN-0007"),  # holds the hit
                ("S1", closest + 120 * 10**9, None, "DEV-8", "SN-0008"),  # a later swap, open
                ("S2", T0.value - day, None, "DEV-S2", "SN-S2"),
            ])
    store, cases = TrailStore(tmp_path / "store"), CaseStore(tmp_path / "store" / "cases.sqlite")
    with cases:
        pack = subject_pack(store, cases, "S1", T0, T1)
        write_subject_pack(tmp_path / "s1.html", store, cases, "S1", T0, T1, user="om", purpose="supervision")
    assert list(pack.devices["device_id"].dropna()) == ["DEV-7", "DEV-8"]  # and a window sent without a device
    assert pack.hits[["device_id", "device_serial"]].values.tolist() == [["DEV-7", "SN-0007"]]
    doc = (tmp_path / "s1.html").read_text()
    assert "Monitoring windows and devices" in doc
    assert "<td>DEV-8</td><td>SN-0008</td>" in doc and "<td>open</td>" in doc
    assert "<td>DEV-7</td><td>SN-0007</td>" in doc  # on the hit row too
    assert "DEV-OLD" not in doc and "DEV-S2" not in doc and "<td>not recorded</td>" in doc
