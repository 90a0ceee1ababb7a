"""Appointment attendance (SPEC §3): every status by hand, the acceptance office, DST, the naive twin."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import assume, given
from hypothesis import strategies as st
from shapely.geometry import Polygon

from tests.naive import attendance as naive
from trailmon.errors import InputError, TimezoneError
from trailmon.match.attendance import ATTENDANCE_OUTCOMES, AttendanceStatus, attendance
from trailmon.report._columns import ATTENDANCE
from trailmon.testing import make_trail
from trailmon.trail import make_trails

T0 = pd.Timestamp("2026-07-15T13:00:00Z").value / 1e9  # S of the hand cases, seconds UTC
EVER = [(T0 - 1e7, T0 + 1e7)]  # a known monitoring window around everything
IN, OUT = (0.0, 0.0), (1000.0, 0.0)  # a 50 m circle at the origin: crossings 3 s off a 60 s fix


def trail(inside=(), times=range(-2040, 5041, 60), acc=None, subject="S1"):
    """Fixes at ``T0 + times``: inside the circle when in one of the ``(lo, hi)`` spans, else 1 km off."""
    rows = []
    for t in times:
        pos = IN if any(lo <= t <= hi for lo, hi in inside) else OUT
        rows.append((T0 + t, *pos, (acc or {}).get(t, 10.0), "gps", subject))
    return rows


def appt(subject="S1", start=0.0, end=3600.0, aid="A1", **geofence):
    geofence = geofence or dict(center_x_m=[0.0], center_y_m=[0.0], radius_m=[50.0])
    return pd.DataFrame({
        "appointment_id": [aid], "subject_id": [subject],
        "start": pd.to_datetime([T0 + start], unit="s", utc=True),
        "end": pd.to_datetime([T0 + end], unit="s", utc=True),
        "appointment_type": ["probation supervision"], **geofence,
    })


def run(rows, windows="ever", **kw):
    wins = {"S1": EVER} if windows == "ever" else windows
    frame = kw.pop("appointments", None)
    frame = appt(**kw.pop("appt", {})) if frame is None else frame
    return attendance(make_trail(rows, windows=wins), frame, **kw)


STATUS_CASES = [
    # (rows, windows, appointment, status, flags, inside_s, arrival, departure): times relative to S = T0
    pytest.param(trail([(-600, 9000)]), "ever", {}, "attended", "inside_at_end", 4203.0, -603.0, 3600.0,
                 id="attended: in 10 min early, still in at the end"),
    pytest.param(trail([(-2000, 9000)]), "ever", {}, "attended", "inside_at_start;inside_at_end", 4500.0,
                 -900.0, 3600.0, id="attended: in all along, arrival is S - 15 min"),
    pytest.param(trail([(1200, 9000)]), "ever", {}, "late", "inside_at_end;late", 2403.0, 1197.0, 3600.0,
                 id="late: in 20 min after S, stays"),
    pytest.param(trail([(-600, 2400)]), "ever", {}, "left_early", "left_early", 3006.0, -603.0, 2403.0,
                 id="left_early: on time, out 20 min before E"),
    pytest.param(trail([(900, 2700)]), "ever", {}, "late", "late;left_early", 1806.0, 897.0, 2703.0,
                 id="late wins over left_early, both flagged"),
    pytest.param(trail([(1200, 1800)]), "ever", {}, "partial", "", 606.0, 1197.0, 1803.0,
                 id="partial: 10 min inside of 60"),
    pytest.param(trail([]), "ever", {}, "not_attended", "", 0.0, None, None,
                 id="not_attended: away all along, fully covered"),
    pytest.param(trail([], times=range(-4000, -1999, 60)), "ever", {}, "no_data", "", 0.0, None, None,
                 id="no_data: the trail ends before the window"),
    pytest.param(trail([], times=range(2400, 5001, 60)), "ever", {}, "no_data", "", 0.0, None, None,
                 id="no_data: away, but coverage 35 %"),
    pytest.param(trail([(-2000, 9000)]), {"S1": [(T0 - 1e7, T0 - 1000)]}, {}, "not_monitored", "", 0.0, None,
                 None, id="not_monitored: the window ended before S - 15 min"),
    pytest.param(trail([(-300, 9000)]), "ever", {"end": 1800.0}, "attended", "inside_at_end", 2103.0, -303.0,
                 1800.0, id="attended: 30 min appointment, 50 % is enough"),
    pytest.param(trail([(0, 600)]), "ever", {"end": 1800.0}, "partial", "", 606.0, -3.0, 603.0,
                 id="partial: 10 min of a 30 min appointment"),
    pytest.param(trail([(2100, 2100)], times=range(-2100, 5000, 700)), "ever", {}, "partial", "data_gap", 0.0,
                 2100.0, 2100.0, id="partial: an isolated fix inside is an instant, gaps around it"),
    pytest.param(trail([(-600, 1800), (3000, 9000)], times=[*range(-2040, 1801, 60), *range(3000, 5001, 60)]),
                 "ever", {}, "attended", "inside_at_end;data_gap", 3003.0, -603.0, 3600.0,
                 id="attended: a 20 min gap while inside ends the inside time at the last fix"),
    pytest.param(trail([(1200, 1380)], acc={t: 500.0 for t in range(1200, 1381, 60)}), "ever", {},
                 "not_attended", "", 0.0, None, None,
                 id="not_attended: the fixes inside are too coarse, their neighbours join across"),
    pytest.param(trail([(-2000, 9000)]), {"S1": [(T0 + 1800, T0 + 1e7)]}, {}, "attended",
                 "inside_at_end;partly_monitored", 1800.0, 1800.0, 3600.0,
                 id="partly monitored: judged on the monitored half"),
    pytest.param(trail([(-600, 9000)]), None, {}, "attended", "inside_at_end;monitoring_window_unknown",
                 4203.0, -603.0, 3600.0, id="attended, the monitoring window unknown"),
    pytest.param(trail([]), "ever", {"subject": "NOBODY"}, "no_data", "monitoring_window_unknown", 0.0, None,
                 None, id="no_data: a subject without any fix"),
    pytest.param(trail([(-600, 9000)], acc={t: 500.0 for t in range(-2040, 5041, 60)}), "ever", {}, "no_data",
                 "", 0.0, None, None, id="no_data: every fix too coarse, the subject left without evidence"),
    pytest.param(trail([], acc={t: 500.0 for t in range(-2040, 5041, 60)}), {"S1": [(T0 + 4000, T0 + 1e7)]},
                 {}, "not_monitored", "", 0.0, None, None,
                 id="not_monitored: no usable fix, and the window opens after E"),
]


@pytest.mark.kernels
@pytest.mark.parametrize(("rows", "windows", "ap", "status", "flags", "inside_s", "arrival", "departure"),
                         STATUS_CASES)
def test_status_hand_cases(rows, windows, ap, status, flags, inside_s, arrival, departure):
    got = run(rows, windows, appt=ap).iloc[0]
    assert got.status == status
    assert got["flags"] == flags
    assert got.outcome == ATTENDANCE_OUTCOMES[AttendanceStatus(status)]
    assert got.inside_s == pytest.approx(inside_s, abs=1e-6)
    for col, want in (("arrival", arrival), ("departure", departure)):
        if want is None:
            assert pd.isna(got[col])
        else:
            assert (got[col].value / 1e9 - T0) == pytest.approx(want, abs=1e-6)


def test_every_status_has_its_outcome():
    assert {s.value for s in AttendanceStatus} == {
        "attended", "late", "left_early", "partial", "not_attended", "no_data", "not_monitored"}
    assert AttendanceStatus.NOT_ATTENDED.outcome == "no fixes at the venue"
    assert AttendanceStatus.NO_DATA.outcome == "insufficient data"
    assert ATTENDANCE_OUTCOMES[AttendanceStatus.ATTENDED] == "location consistent with attendance"
    assert set(ATTENDANCE_OUTCOMES) == set(AttendanceStatus)


def acceptance_office():
    """The public acceptance case (make_cases.py): V1 in a 40 m office 12:56-13:57 UTC, V2 away."""
    day = "2026-07-15"
    t0 = pd.Timestamp(f"{day}T12:00:00Z").value / 1e9
    e1, n1 = 433_000.0, 430_000.0
    rows = []
    for k in range(181):
        t = t0 + 60 * k
        inside = t0 + 56 * 60 <= t <= t0 + 117 * 60
        rows.append((t, e1 if inside else e1 + 1200, n1, 10.0, "gps", "V1"))
        rows.append((t, e1 + 1200, n1, 10.0, "gps", "V2"))
    start = pd.to_datetime([f"{day}T14:00:00"] * 2).tz_localize("Europe/London")  # BST: 13:00 UTC
    appts = pd.DataFrame({"appointment_id": ["P1", "P2"], "subject_id": ["V1", "V2"], "start": start,
                          "end": start + pd.Timedelta(hours=1), "center_x_m": [e1, e1],
                          "center_y_m": [n1, n1], "radius_m": [40.0, 40.0]})
    window = (pd.Timestamp("2026-06-01T00:00Z").value / 1e9, pd.Timestamp("2026-12-01T00:00Z").value / 1e9)
    return make_trail(rows, windows={"V1": [window], "V2": [window]}), appts


@pytest.mark.kernels
def test_acceptance_office_exact_crossings():
    tr, appts = acceptance_office()
    got = attendance(tr, appts)
    assert list(got.columns) == ATTENDANCE
    p1, p2 = got.iloc[0], got.iloc[1]
    assert p1.start == pd.Timestamp("2026-07-15T13:00:00Z")
    assert p1.arrival == pd.Timestamp("2026-07-15T12:55:58Z")  # 2 s to cross 40 m at 20 m/s
    assert p1.departure == pd.Timestamp("2026-07-15T13:57:02Z")
    assert p1.inside_s == pytest.approx(3664.0, abs=1e-6)
    assert (p1.status, p1.coverage, p1["flags"]) == ("attended", 1.0, "")
    assert (p2.status, p2.inside_s, p2.coverage) == ("not_attended", 0.0, 1.0)
    assert pd.isna(p2.arrival) and pd.isna(p2.departure)


def test_output_dtypes():
    tr, appts = acceptance_office()
    got = attendance(tr, appts)
    for col in ("start", "end", "arrival", "departure"):
        assert str(got[col].dtype) == "datetime64[ns, UTC]"
    assert got.inside_s.dtype == np.float64 and got.coverage.dtype == np.float64
    assert list(got.appointment_id) == ["P1", "P2"]


@pytest.mark.parametrize(
    ("local_day", "utc_start"),
    [
        ("2026-03-30", "2026-03-30T09:00:00Z"),  # Monday after the spring change: BST, UTC + 1
        ("2026-10-26", "2026-10-26T10:00:00Z"),  # Monday after the autumn change: GMT again
        ("2026-01-12", "2026-01-12T10:00:00Z"),  # a winter Monday: GMT
        ("2026-07-13", "2026-07-13T09:00:00Z"),  # a summer Monday: BST
    ],
)
def test_local_time_appointments_across_clock_changes(local_day, utc_start):
    s_utc = pd.Timestamp(utc_start).value / 1e9
    # present 10 min before to 5 min after the hour, in UTC; the appointment is 10:00-11:00 local
    rows = [(s_utc + t, *(IN if -600 <= t <= 3900 else OUT), 10.0) for t in range(-3600, 7201, 60)]
    tr = make_trail(rows)
    start = pd.to_datetime([f"{local_day}T10:00:00"]).tz_localize("Europe/London")
    appts = pd.DataFrame({"appointment_id": ["A"], "subject_id": ["S1"], "start": start,
                          "end": start + pd.Timedelta(hours=1), "center_x_m": [0.0], "center_y_m": [0.0],
                          "radius_m": [50.0]})
    got = attendance(tr, appts).iloc[0]
    assert got.start == pd.Timestamp(utc_start)
    assert got.end == pd.Timestamp(utc_start) + pd.Timedelta(hours=1)
    assert got.status == "attended"
    assert got.arrival == pd.Timestamp(utc_start) - pd.Timedelta(seconds=603)
    # the same presence read an hour off (local taken as UTC) would be wrong: check the zone matters
    wrong = appts.assign(start=start.tz_localize(None).tz_localize("UTC") + pd.Timedelta(hours=2),
                         end=start.tz_localize(None).tz_localize("UTC") + pd.Timedelta(hours=3))
    assert attendance(tr, wrong).iloc[0].status != "attended"


def test_polygon_geofence_with_a_hole():
    ring = [(-100, -100), (100, -100), (100, 100), (-100, 100)]
    courtyard = [(-20, -20), (20, -20), (20, 20), (-20, 20)]
    donut = Polygon(ring, [courtyard])
    geo = dict(center_x_m=[np.nan], center_y_m=[np.nan], radius_m=[np.nan], geometry=[donut])
    # standing in the courtyard (the hole) all along: never inside
    in_hole = run(trail([(-2000, 9000)]), appointments=appt(**geo)).iloc[0]
    assert in_hole.status == "not_attended"
    # walking east along y = 0 from x = -1000 to 1000 over an hour: inside 80 m of the 200 m span twice
    rows = [(T0 + t, -1000.0 + 2000.0 * t / 3600, 0.0) for t in range(0, 3601, 60)]
    got = run(rows, appointments=appt(**geo)).iloc[0]
    assert got.inside_s == pytest.approx(2 * 80.0 * 3600 / 2000, abs=1e-6)
    assert (got.arrival.value / 1e9 - T0) == pytest.approx(900 * 3600 / 2000 / 1, abs=1e-6)


def test_absent_geofence_and_bad_inputs_are_named():
    rows = trail([])
    with pytest.raises(InputError, match=r"appointment 'A1': the geofence must be a circle .* got None"):
        run(rows, appointments=appt(center_x_m=[np.nan], center_y_m=[np.nan], radius_m=[np.nan],
                                    geometry=[None]))
    with pytest.raises(InputError, match=r"appointment 'A1': radius_m must be > 0, got -5.0"):
        run(rows, appointments=appt(center_x_m=[0.0], center_y_m=[0.0], radius_m=[-5.0]))
    with pytest.raises(InputError, match=r"'A1': a circle needs center_x_m, center_y_m and radius_m"):
        run(rows, appointments=appt(center_x_m=[0.0], center_y_m=[np.nan], radius_m=[5.0]))
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    with pytest.raises(InputError, match=r"'A1': the geofence geometry is not valid \(Self-inter"):
        run(rows, appointments=appt(center_x_m=[np.nan], center_y_m=[np.nan], radius_m=[np.nan],
                                    geometry=[bowtie]))
    with pytest.raises(InputError, match=r"appointment 'A1': end must not be before start"):
        run(rows, appt={"start": 100.0, "end": 0.0})
    with pytest.raises(InputError, match=r"appointments lacks the column\(s\) end"):
        run(rows, appointments=appt().drop(columns=["end"]))
    naive_times = appt().assign(start=lambda f: f.start.dt.tz_localize(None))
    with pytest.raises(TimezoneError, match=r"appointment column 'start' holds times without a zone"):
        run(rows, appointments=naive_times)
    with pytest.raises(InputError, match=r"min_coverage must be a fraction between 0 and 1, got 1.5"):
        run(rows, min_coverage=1.5)
    with pytest.raises(InputError, match=r"max_accuracy_m must be > 0, got 0"):
        run(rows, max_accuracy_m=0)
    with pytest.raises(InputError, match=r"late_s must be a finite number >= 0, got -1"):
        run(rows, late_s=-1)


def test_thresholds_are_parameters():
    rows = trail([(1200, 1800)])  # 606 s inside, arrival at S + 1197 s
    assert run(rows).iloc[0].status == "partial"
    assert run(rows, min_inside_s=600.0).iloc[0].status == "late"
    assert run(rows, min_inside_s=600.0, late_s=1200.0).iloc[0].status == "left_early"
    assert run(rows, min_inside_s=600.0, late_s=3000.0).iloc[0].status == "attended"
    away = trail([], times=range(2400, 5001, 60))  # coverage 0.35
    assert run(away, min_coverage=0.3).iloc[0].status == "not_attended"


def test_many_appointments_keep_their_order_and_subjects():
    rows = trail([(-600, 9000)], subject="S2") + trail([], subject="S1")
    frames = [appt(subject=s, aid=a) for s, a in (("S2", "B"), ("S1", "A"), ("S9", "C"))]
    got = attendance(make_trail(rows), pd.concat(frames, ignore_index=True))
    assert list(got.appointment_id) == ["B", "A", "C"]
    assert list(got.status) == ["attended", "not_attended", "no_data"]


def test_empty_appointments_frame():
    got = attendance(make_trail(trail([])), appt().iloc[:0])
    assert list(got.columns) == ATTENDANCE and len(got) == 0


# ----------------------------------------------------------------------------------- naive twin
@st.composite
def random_case(draw):
    """A trail every 20-700 s around a 60 m circle or a concave polygon, an appointment inside it."""
    n = draw(st.integers(5, 40))
    steps = draw(st.lists(st.integers(20, 700), min_size=n, max_size=n))
    t = T0 - 2000.0 + np.cumsum(steps)
    xs = np.array(draw(st.lists(st.integers(-150, 150), min_size=n, max_size=n)), float)
    ys = np.array(draw(st.lists(st.integers(-150, 150), min_size=n, max_size=n)), float)
    start = T0 + draw(st.integers(-1500, 1500))
    length = draw(st.sampled_from([0, 600, 1800, 3600, 5400]))
    shape = draw(st.sampled_from(["circle", "polygon"]))
    return t, xs, ys, start, start + length, shape


CONCAVE = Polygon([(-80, -80), (80, -80), (80, 80), (30, 80), (30, -20), (-30, -20), (-30, 80), (-80, 80)])


@given(random_case())
def test_attendance_matches_naive_sampling(case):
    t, xs, ys, s, e, shape = case
    assume(e > s)
    if shape == "circle":
        geo = dict(center_x_m=[0.0], center_y_m=[0.0], radius_m=[60.0])

        def inside_xy(x, y):
            return x * x + y * y <= 60.0 * 60.0
    else:
        geo = dict(center_x_m=[np.nan], center_y_m=[np.nan], radius_m=[np.nan], geometry=[CONCAVE])

        def inside_xy(x, y):
            return shapely.intersects_xy(CONCAVE, x, y)
    tr = make_trails(np.full(len(t), "S1"), t, xs, ys)
    frame = pd.DataFrame({"appointment_id": ["A"], "subject_id": ["S1"],
                          "start": pd.to_datetime([s], unit="s", utc=True),
                          "end": pd.to_datetime([e], unit="s", utc=True), **geo})
    got = attendance(tr, frame).iloc[0]
    ref = naive.attendance_one(t, xs, ys, [(-np.inf, np.inf)], s, e, inside_xy)
    n_cross = 2 * len(t) + 2
    tol = 1.0 * n_cross  # the 1-s sampling errs at most a step per crossing
    assert got.inside_s == pytest.approx(ref["inside_s"], abs=tol)
    assert got.coverage == pytest.approx(ref["coverage"], abs=2 * n_cross / (e - s))
    if pd.isna(got.arrival):
        assert np.isnan(ref["arrival"])
        return
    arr, dep = got.arrival.value / 1e9, got.departure.value / 1e9
    # the sampling never finds inside time before the arrival or after the departure ...
    if not np.isnan(ref["arrival"]):
        assert ref["arrival"] >= arr - 1.0 and ref["departure"] <= dep + 1.0
    # ... and the arrival and departure instants are on the trail, inside or on the boundary
    px, py = naive.position_at(t, xs, ys, 600.0, np.array([arr, dep]))
    assert not np.isnan(px).any()
    if shape == "circle":
        assert np.all(np.hypot(px, py) <= 60.0 + 1e-4)  # instants are stored to ~0.2 us
    else:
        assert np.all(shapely.distance(CONCAVE, shapely.points(px, py)) <= 1e-4)
    margins = [abs(got.inside_s - min(0.5 * (e - s), 1200.0)), abs(arr - (s + 600)), abs(dep - (e - 600)),
               abs(got.coverage - 0.5) * (e - s), abs(arr - ref["arrival"]) > 1.0]
    if min(margins[:4]) > tol and not margins[4] and not np.isnan(ref["arrival"]):
        assert got.status == ref["status"]
