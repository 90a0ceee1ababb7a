import pandas as pd
import pytest
import shapely

from trailmon.errors import InputError, TimezoneError
from trailmon.io.appointments import read_appointments
from trailmon.io.quarantine import RejectReason
from trailmon.report._columns import APPOINTMENT_INPUT

HEADER = "appointment_id,subject_id,start,end,lat,lon,radius_m,geofence_wkt,appointment_type"
GOOD = "A1,S1,2026-01-05T10:00:00Z,2026-01-05T11:00:00Z,51.5,-0.1,50,,probation"
SQUARE = '"POLYGON((-0.10 51.50, -0.09 51.50, -0.09 51.51, -0.10 51.51, -0.10 51.50))"'


def write(tmp_path, text, name="appointments.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


T = "2026-01-05T10:00:00Z,2026-01-05T11:00:00Z"


@pytest.mark.parametrize(("row", "code"), [
    ("A2,S1,2026-01-05T10:00:00Z", RejectReason.WRONG_COLUMN_COUNT),                         # 3 fields
    (f",S1,{T},51.5,-0.1,50,,", RejectReason.MISSING_ID),                                     # no id
    (f"A2,,{T},51.5,-0.1,50,,", RejectReason.MISSING_SUBJECT),                                # no subject
    ("A2,S1,later,2026-01-05T11:00:00Z,51.5,-0.1,50,,", RejectReason.BAD_TIMESTAMP),          # start not a time
    ("A2,S1,2026-01-05T10:00:00Z,,51.5,-0.1,50,,", RejectReason.BAD_TIMESTAMP),               # end empty
    ("A2,S1,2026-01-05T10:00:00,2026-01-05T11:00:00Z,51.5,-0.1,50,,", RejectReason.NO_TIMEZONE),  # stray naive
    ("A2,S1,2026-01-05T12:00:00Z,2026-01-05T11:00:00Z,51.5,-0.1,50,,", RejectReason.BAD_WINDOW),  # end < start
    (f"A2,S1,{T},,,,,", RejectReason.BAD_GEOFENCE),                                           # no geofence
    (f"A2,S1,{T},51.5,-0.1,50,{SQUARE},", RejectReason.BAD_GEOFENCE),                         # both forms
    (f"A2,S1,{T},,,,POINT(-0.1 51.5),", RejectReason.BAD_GEOFENCE),                           # not a polygon
    (f"A2,S1,{T},,,,POLYGON((oops)),", RejectReason.BAD_GEOFENCE),                            # WKT does not parse
    (f'A2,S1,{T},,,,"POLYGON((-1 51.5, -0.5 51.5, -1 51.5, -1 51.5))",', RejectReason.BAD_GEOFENCE),         # no area
    (f"A2,S1,{T},51.5,,50,,", RejectReason.BAD_COORDINATE),                                   # lat without lon
    (f"A2,S1,{T},95,-0.1,50,,", RejectReason.BAD_COORDINATE),                                 # lat > 90
    (f'A2,S1,{T},,,,"POLYGON((51.5 -0.1, 51.5 -0.09, 51.51 -0.09, 51.5 -0.1))",', RejectReason.OUTSIDE_GRID),  # lat lon
    (f'A2,S1,{T},,,,"POLYGON((-0.1 95, 1 95, 1 96, -0.1 95))",', RejectReason.BAD_COORDINATE),  # lat 95
    (f"A2,S1,{T},51.5,-0.1,,,", RejectReason.BAD_RADIUS),                                     # no radius
    (f"A2,S1,{T},51.5,-0.1,-3,,", RejectReason.BAD_RADIUS),                                   # negative radius
    (f"A2,S1,{T},40.0,116.3,50,,", RejectReason.OUTSIDE_GRID),                                # Beijing
])
def test_reject_codes(tmp_path, row, code):
    r = read_appointments(write(tmp_path, f"{HEADER}\n{GOOD}\n{row}\n"))
    assert len(r.accepted) + len(r.rejected) == r.n_read
    assert r.accepted["appointment_id"].tolist() == ["A1"]
    assert r.rejected["reason"].tolist() == [code.value]


def test_circle_and_polygon(tmp_path):
    r = read_appointments(write(tmp_path, f"{HEADER},room\n{GOOD},3\nA2,S2,{T},,,,{SQUARE},,4\n"))
    a = r.accepted
    assert list(a.columns) == [*APPOINTMENT_INPUT, "row", "room"]
    assert a["geometry"][0] is None and a["radius_m"][0] == 50
    assert 531000 < a["center_x_m"][0] < 533000
    g = a["geometry"][1]
    assert g.geom_type == "Polygon" and g.is_valid
    assert pd.isna(a["center_x_m"][1]) and pd.isna(a["radius_m"][1])
    minx, miny, maxx, maxy = g.bounds
    assert 531000 < minx < maxx < 533500 and 179000 < miny < maxy < 181000   # x y = lon lat -> BNG
    assert a["appointment_type"].tolist() == ["probation", ""]


def test_bow_tie_is_made_valid(tmp_path):
    bow = '"POLYGON((-0.10 51.50, -0.09 51.51, -0.09 51.50, -0.10 51.51, -0.10 51.50))"'
    r = read_appointments(write(tmp_path, f"{HEADER}\nA1,S1,{T},,,,{bow},\n"))
    g = r.accepted["geometry"][0]
    assert g.is_valid and g.geom_type == "MultiPolygon" and g.area > 0


def test_polygon_with_hole_and_multipolygon(tmp_path):
    holed = ('"POLYGON((-0.10 51.50, -0.08 51.50, -0.08 51.52, -0.10 51.52, -0.10 51.50),'
             '(-0.095 51.505, -0.085 51.505, -0.085 51.515, -0.095 51.505))"')
    multi = ('"MULTIPOLYGON(((-0.10 51.50, -0.09 51.50, -0.09 51.51, -0.10 51.50)),'
             '((0.10 51.50, 0.11 51.50, 0.11 51.51, 0.10 51.50)))"')
    r = read_appointments(write(tmp_path, f"{HEADER}\nA1,S1,{T},,,,{holed},\nA2,S1,{T},,,,{multi},\n"))
    a = r.accepted
    assert len(shapely.get_interior_ring(a["geometry"][0], 0).coords) == 4
    assert a["geometry"][1].geom_type == "MultiPolygon"


def test_circle_only_columns(tmp_path):
    r = read_appointments(write(tmp_path, "appointment_id,subject_id,start,end,lat,lon,radius_m\n"
                                          f"A1,S1,{T},51.5,-0.1,50\n"))
    assert len(r.accepted) == 1


def test_wkt_only_columns(tmp_path):
    r = read_appointments(write(tmp_path, f"appointment_id,subject_id,start,end,geofence_wkt\nA1,S1,{T},{SQUARE}\n"))
    assert r.accepted["geometry"][0].geom_type == "Polygon"


def test_no_geofence_columns(tmp_path):
    with pytest.raises(InputError, match="has no geofence columns"):
        read_appointments(write(tmp_path, f"appointment_id,subject_id,start,end\nA1,S1,{T}\n"))


@pytest.mark.parametrize(("local", "utc"), [
    ("2026-01-05 10:00", "2026-01-05T10:00:00Z"),    # GMT: local = UTC
    ("2026-07-06 10:00", "2026-07-06T09:00:00Z"),    # BST: UTC+1
    ("2026-03-29 00:30", "2026-03-29T00:30:00Z"),    # just before the spring change
    ("2026-03-29 01:30", "2026-03-29T01:30:00Z"),    # does not exist: moves forward by the gap (02:30 BST)
    ("2026-03-29 02:30", "2026-03-29T01:30:00Z"),    # after the change
    ("2026-10-25 01:30", "2026-10-25T00:30:00Z"),    # occurs twice: the first (BST)
    ("2026-10-25 02:30", "2026-10-25T02:30:00Z"),    # after the autumn change (GMT)
])
def test_local_times_across_dst(tmp_path, local, utc):
    r = read_appointments(write(tmp_path, f"{HEADER}\nA1,S1,{local},2026-12-31 23:00,51.5,-0.1,50,,\n"),
                          tz="Europe/London")
    assert r.accepted["start"][0] == pd.Timestamp(utc)
    assert str(r.accepted["start"].dtype) == "datetime64[ns, UTC]"


def test_dst_hour_long_appointment(tmp_path):
    # 00:30-02:30 local on the autumn Sunday lasts three hours of real time
    r = read_appointments(write(tmp_path, f"{HEADER}\nA1,S1,2026-10-25 00:30,2026-10-25 02:30,51.5,-0.1,50,,\n"),
                          tz="Europe/London")
    a = r.accepted
    assert (a["end"][0] - a["start"][0]) == pd.Timedelta(hours=3)


def test_naive_without_tz(tmp_path):
    with pytest.raises(TimezoneError, match="start values carry no UTC offset"):
        read_appointments(write(tmp_path, f"{HEADER}\nA1,S1,2026-01-05 10:00,2026-01-05 11:00,51.5,-0.1,50,,\n"))
