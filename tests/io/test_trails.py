"""read_trails on small generated files of every format (SPEC §2 trails, §7 validation)."""

from __future__ import annotations

import gzip
import json
import math

import numpy as np
import pandas as pd
import pytest

from trailmon.crs import StoreCRS
from trailmon.errors import InputError, TimezoneError
from trailmon.io.quarantine import REJECTED_COLUMNS, RejectReason
from trailmon.io.trails import EM_POSITION_COLUMNS, parse_columns_map, read_trails
from trailmon.report._columns import TRAIL_INPUT

HEADER = "subject_id,timestamp,lat,lon,accuracy_m,fix_type,speed_mps,heading_deg"
BNG_HEADER = "subject_id,timestamp,easting,northing"
GOOD = "S1,2026-07-14T10:00:00Z,53.8,-1.55,10,gps,1.5,90"
T0_NS = 1784023200 * 10**9  # 2026-07-14T10:00:00Z


def write(tmp_path, name, text, *, gz=False):
    path = tmp_path / name
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def read(path, **kw):
    r = read_trails(path, **kw)
    assert len(r.accepted) + len(r.rejected) == r.n_read
    assert list(r.accepted.columns[: len(TRAIL_INPUT) + 1]) == [*TRAIL_INPUT, "row"]
    assert list(r.rejected.columns) == REJECTED_COLUMNS
    assert set(r.rejected["reason"]) <= {c.value for c in RejectReason}
    rows = sorted([*r.accepted["row"], *r.rejected["row"]])
    assert rows == list(range(1, r.n_read + 1)), "every data row is accepted or rejected exactly once"
    return r


def csv_of(*rows, header=HEADER):
    return header + "\n" + "\n".join(rows) + "\n"


# -- the happy path ---------------------------------------------------------------------------


def test_csv_accepted_frame_and_info(tmp_path):
    f = write(tmp_path, "t.csv", csv_of(GOOD, "S2,2026-07-14T11:00:00+01:00,53.81,-1.56,,LBS,,"))
    r = read(f)
    a = r.accepted
    assert r.n_read == 2 and len(a) == 2 and r.rejected.empty
    assert a["subject_id"].tolist() == ["S1", "S2"]
    assert a["t_ns"].dtype == np.int64 and a["t_ns"].tolist() == [T0_NS, T0_NS]
    x, y = StoreCRS().from_wgs84(np.array([-1.55, -1.56]), np.array([53.8, 53.81]))
    np.testing.assert_allclose(a["x_m"], x, atol=1e-6)
    np.testing.assert_allclose(a["y_m"], y, atol=1e-6)
    assert a["lat"].tolist() == [53.8, 53.81] and a["lon"].tolist() == [-1.55, -1.56]
    assert a["accuracy_m"].tolist() == [10.0, 500.0]          # lbs default for the empty cell
    assert a["fix_type"].tolist() == ["gps", "lbs"]
    assert a["speed_mps"].iloc[0] == 1.5 and math.isnan(a["speed_mps"].iloc[1])
    assert a["heading_deg"].iloc[0] == 90.0 and math.isnan(a["heading_deg"].iloc[1])
    assert a["row"].tolist() == [1, 2]
    assert r.info == {"transformation": StoreCRS().info.as_dict(), "tz": None, "format": "csv"}
    assert r.files == [str(f)]


@pytest.mark.parametrize(("fix_type", "expected_acc"), [
    ("gps", 10.0),        # SPEC §2 defaults by fix type
    ("wifi", 50.0),
    ("rf", 50.0),
    ("lbs", 500.0),
    ("", 10.0),           # an empty fix type is gps
    (" WiFi ", 50.0),     # case and spaces do not matter
])
def test_default_accuracy_by_fix_type(tmp_path, fix_type, expected_acc):
    f = write(tmp_path, "t.csv", csv_of(f"S1,2026-07-14T10:00:00Z,53.8,-1.55,,{fix_type},,"))
    r = read(f)
    assert r.accepted["accuracy_m"].tolist() == [expected_acc]
    assert r.accepted["fix_type"].tolist() == [fix_type.strip().lower() or "gps"]


def test_minimal_columns_and_extras_carried_through(tmp_path):
    f = write(tmp_path, "t.csv",
              "note,subject_id,timestamp,lon,lat,row\nhello,S1,2026-07-14T10:00:00Z,-1.55,53.8,x\n")
    r = read(f)
    a = r.accepted
    assert list(a.columns) == [*TRAIL_INPUT, "row", "note", "row_in"]   # a clashing name gets _in
    assert a["note"].tolist() == ["hello"] and a["row_in"].tolist() == ["x"]
    assert a["accuracy_m"].tolist() == [10.0] and a["fix_type"].tolist() == ["gps"]


def test_easting_northing_input_gets_wgs84(tmp_path):
    f = write(tmp_path, "t.csv", csv_of("S1,2026-07-14T10:00:00Z,429730.5,433847.2", header=BNG_HEADER))
    r = read(f)
    a = r.accepted
    assert a["x_m"].tolist() == [429730.5] and a["y_m"].tolist() == [433847.2]
    lon, lat = StoreCRS().to_wgs84(np.array([429730.5]), np.array([433847.2]))
    assert a["lat"].iloc[0] == pytest.approx(lat[0], abs=1e-9)
    assert a["lon"].iloc[0] == pytest.approx(lon[0], abs=1e-9)
    assert a["lat"].iloc[0] == pytest.approx(53.8001, abs=1e-4)


def test_easting_northing_outside_grid(tmp_path):
    f = write(tmp_path, "t.csv", csv_of("S1,2026-07-14T10:00:00Z,-900000,-900000", header=BNG_HEADER))
    assert read(f).rejected["reason"].tolist() == ["OUTSIDE_GRID"]


def test_other_store_crs(tmp_path):
    f = write(tmp_path, "t.csv", csv_of("S1,2026-07-14T10:00:00Z,39.99,116.32,,,,"))
    r = read(f, crs=StoreCRS("EPSG:32650"))
    assert r.accepted["x_m"].iloc[0] == pytest.approx(441869.0, abs=1000)
    assert r.info["transformation"]["crs"] == "EPSG:32650"
    assert read(f).rejected["reason"].tolist() == ["OUTSIDE_GRID"]       # Beijing is not in OSTN15


def test_out_of_order_rows_are_accepted(tmp_path):
    f = write(tmp_path, "t.csv", csv_of("S1,2026-07-14T10:02:00Z,53.8,-1.55,,,,", GOOD))
    r = read(f)
    assert len(r.accepted) == 2 and r.accepted["row"].tolist() == [1, 2]


def test_crlf_bom_quotes_blank_lines_and_gzip(tmp_path):
    quoted = '"S 1","2026-07-14T10:00:00Z","53.8","-1.55",,,,'
    text = "\ufeff" + HEADER + "\r\n" + quoted + "\r\n\r\n" + GOOD + "\r\n"
    for name, gz in (("t.csv", False), ("t.csv.gz", True)):
        r = read(write(tmp_path, name, text, gz=gz))
        assert r.accepted["subject_id"].tolist() == ["S 1", "S1"] and r.accepted["row"].tolist() == [1, 2]


def test_header_only_and_empty_file(tmp_path):
    r = read(write(tmp_path, "h.csv", HEADER + "\n"))
    assert r.n_read == 0 and list(r.accepted.columns[:len(TRAIL_INPUT)]) == TRAIL_INPUT
    with pytest.raises(InputError, match="is empty; a header row"):
        read_trails(write(tmp_path, "e.csv", ""))


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        read_trails(tmp_path / "nope.csv")
    f = write(tmp_path, "t.csv", csv_of(GOOD))
    with pytest.raises(InputError, match="unknown trail format 'xls'; use one of csv, em"):
        read_trails(f, fmt="xls")
    with pytest.raises(InputError, match="unknown time zone 'Mars/Olympus'"):
        read_trails(f, tz="Mars/Olympus")
    with pytest.raises(InputError, match="subject must be a non-empty identifier, got ' '"):
        read_trails(f, subject=" ")


def test_required_columns_named_in_message(tmp_path):
    f = write(tmp_path, "t.csv", "vehicle,time,latitude,longitude\n1,2026-07-14T10:00:00Z,53.8,-1.55\n")
    msg = r"lacks trail column\(s\): subject_id .*timestamp; lat and lon.*--columns"
    with pytest.raises(InputError, match=msg):
        read_trails(f)


def test_duplicate_header_names(tmp_path):
    f = write(tmp_path, "t.csv", "subject_id,timestamp,lat,lat,lon\nS1,2026-07-14T10:00:00Z,1,2,3\n")
    with pytest.raises(InputError, match=r"names column\(s\) \['lat'\] more than once"):
        read_trails(f)


# -- one row built to break each rule ---------------------------------------------------------

BAD_ROWS = [
    ("S1,2026-07-14T10:01:00Z,53.8", "WRONG_COLUMN_COUNT"),                          # too few fields
    ("S1,2026-07-14T10:01:00Z,53.8,-1.55,10,gps,1,2,extra", "WRONG_COLUMN_COUNT"),    # too many fields
    (",2026-07-14T10:01:00Z,53.8,-1.55,10,gps,,", "MISSING_SUBJECT"),                # empty subject
    ("   ,2026-07-14T10:01:00Z,53.8,-1.55,10,gps,,", "MISSING_SUBJECT"),             # blank subject
    (",not a time,999,999,-1,zz,x,y", "MISSING_SUBJECT"),                            # first rule wins
    ("S1,,53.8,-1.55,10,gps,,", "BAD_TIMESTAMP"),                                    # missing time
    ("S1,14/07/2026 10:02,53.8,-1.55,10,gps,,", "BAD_TIMESTAMP"),                    # not ISO 8601
    ("S1,2026-02-30T10:00:00Z,53.8,-1.55,10,gps,,", "BAD_TIMESTAMP"),                # no such day
    ("S1,2026-07-14T10:01:00,53.8,-1.55,10,gps,,", "NO_TIMEZONE"),                   # stray naive among zoned
    ("S1,2026-07-14T10:01:00Z,,,10,gps,,", "BAD_COORDINATE"),                        # no coordinates
    ("S1,2026-07-14T10:01:00Z,53.8,,10,gps,,", "BAD_COORDINATE"),                    # only one of the pair
    ("S1,2026-07-14T10:01:00Z,91,-1.55,10,gps,,", "BAD_COORDINATE"),                 # lat > 90
    ("S1,2026-07-14T10:01:00Z,53.8,-181,10,gps,,", "BAD_COORDINATE"),                # lon < -180
    ("S1,2026-07-14T10:01:00Z,north,-1.55,10,gps,,", "BAD_COORDINATE"),              # not a number
    ("S1,2026-07-14T10:01:00Z,nan,-1.55,10,gps,,", "BAD_COORDINATE"),                # NaN
    ("S1,2026-07-14T10:01:00Z,48.85,2.35,10,gps,,", "OUTSIDE_GRID"),                 # Paris: outside OSTN15
    ("S1,2026-07-14T10:01:00Z,53.8,-1.55,abc,gps,,", "BAD_ACCURACY"),                # not a number
    ("S1,2026-07-14T10:01:00Z,53.8,-1.55,0,gps,,", "BAD_ACCURACY"),                  # zero
    ("S1,2026-07-14T10:01:00Z,53.8,-1.55,-5,gps,,", "BAD_ACCURACY"),                 # negative
    ("S1,2026-07-14T10:01:00Z,53.8,-1.55,inf,gps,,", "BAD_ACCURACY"),                # infinite
    ("S1,2026-07-14T10:01:00Z,53.8,-1.55,10,satellite,,", "BAD_FIX_TYPE"),           # unknown fix type
    ("S1,2026-07-14T10:01:00Z,53.8,-1.55,10,gps,fast,", "BAD_SPEED"),                # speed not a number
    ("S1,2026-07-14T10:01:00Z,53.8,-1.55,10,gps,inf,", "BAD_SPEED"),                 # infinite speed
    ("S1,2026-07-14T10:01:00Z,53.8,-1.55,10,gps,1,north", "BAD_HEADING"),            # heading not a number
    (GOOD, "DUPLICATE"),                                                             # identical copy of row 1
    ("S1,2026-07-14T10:00:00Z,53.8,-1.55,,,9,45", "DUPLICATE"),                      # same fix by defaults
    ("S1,2026-07-14T11:00:00+01:00,53.80,-1.550,10,GPS,,", "DUPLICATE"),             # same instant and values
    ("S1,2026-07-14T10:00:00Z,53.9,-1.55,20,gps,,", "CONFLICTING_DUPLICATE"),        # elsewhere, worse acc.
    ("S1,2026-07-14T10:00:00Z,53.9,-1.55,10,gps,,", "CONFLICTING_DUPLICATE"),        # tie: the first wins
    ("S1,2026-07-14T10:00:00Z,53.8,-1.55,10,wifi,,", "CONFLICTING_DUPLICATE"),       # other fix type
]


@pytest.mark.parametrize(("bad", "reason"), BAD_ROWS)
def test_each_reason_code(tmp_path, bad, reason):
    f = write(tmp_path, "t.csv", csv_of(GOOD, bad))
    r = read(f)
    assert r.n_read == 2
    assert r.accepted["row"].tolist() == [1]
    rej = r.rejected.iloc[0]
    assert (rej["reason"], int(rej["row"]), rej["file"]) == (reason, 2, str(f))
    assert rej["detail"]
    assert r.rejected_by_reason == {reason: 1}


def test_conflict_keeps_the_better_accuracy_even_when_later(tmp_path):
    f = write(tmp_path, "t.csv", csv_of(GOOD, "S1,2026-07-14T10:00:00Z,53.9,-1.55,4,gps,,",
                                       "S2,2026-07-14T10:00:00Z,53.9,-1.55,4,gps,,"))
    r = read(f)
    assert r.accepted["row"].tolist() == [2, 3]
    assert r.rejected[["row", "reason"]].values.tolist() == [[1, "CONFLICTING_DUPLICATE"]]
    assert "row 2" in r.rejected["detail"].iloc[0]


def test_rejected_rows_keep_the_original_text(tmp_path):
    # typed fast path: the quarantine still shows "53.80" and "010", not re-formatted numbers
    f = write(tmp_path, "t.csv", csv_of("S1,2026-07-14T10:00:00Z,53.80,-1.550,010,gps,,",
                                       "S1,2026-07-14T10:00:00Z,53.80,-1.550,010,gps,,"))
    r = read(f)
    values = json.loads(r.rejected["values"].iloc[0])
    assert values == {"subject_id": "S1", "timestamp": "2026-07-14T10:00:00Z", "lat": "53.80",
                      "lon": "-1.550", "accuracy_m": "010", "fix_type": "gps", "speed_mps": None,
                      "heading_deg": None}


def test_wrong_column_count_keeps_values_and_numbers_rows(tmp_path):
    f = write(tmp_path, "t.csv", csv_of(GOOD, "a,b", "S1,2026-07-14T10:05:00Z,53.8,-1.55,,,,"))
    r = read(f)
    rej = r.rejected.iloc[0]
    assert (rej["reason"], rej["row"]) == ("WRONG_COLUMN_COUNT", 2)
    assert rej["detail"] == "2 fields, the header has 8"
    assert json.loads(rej["values"]) == {"subject_id": "a", "timestamp": "b"}
    assert r.accepted["row"].tolist() == [1, 3]


def test_not_utf8_is_read(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes((csv_of(GOOD) + "S\xe9,2026-07-14T10:05:00Z,53.8,-1.55,,,,\n").encode("latin-1"))
    r = read(path)
    assert len(r.accepted) == 2 and r.accepted["subject_id"].iloc[1] == "S\ufffd"


# -- time zones -------------------------------------------------------------------------------


def test_all_naive_without_tz_names_tz(tmp_path):
    f = write(tmp_path, "t.csv", csv_of("S1,2026-07-14 10:00:00,53.8,-1.55,,,,"))
    with pytest.raises(TimezoneError, match="--tz"):
        read_trails(f)


@pytest.mark.parametrize(("local", "utc"), [
    ("2026-01-15T12:00:00", "2026-01-15T12:00:00"),   # winter: GMT = UTC
    ("2026-07-15T12:00:00", "2026-07-15T11:00:00"),   # summer: BST = UTC + 1
    ("2026-10-25T01:30:00", "2026-10-25T00:30:00"),   # repeated hour: the first occurrence (BST)
])
def test_dst_with_tz(tmp_path, local, utc):
    f = write(tmp_path, "t.csv", csv_of(f"S1,{local},53.8,-1.55,,,,"))
    r = read(f, tz="Europe/London")
    assert r.accepted["t_ns"].iloc[0] == pd.Timestamp(utc, tz="UTC").value
    assert r.info["tz"] == "Europe/London"


def test_stray_naive_row_rejected_even_with_tz(tmp_path):
    # --tz names the zone of zone-less files; a zone-less row among zoned ones stays a stray row
    f = write(tmp_path, "t.csv", csv_of("S1,2026-07-15T12:00:00Z,53.8,-1.55,,,,",
                                       "S2,2026-07-15T12:00:00,53.8,-1.55,,,,"))
    r = read(f, tz="Europe/London")
    assert r.accepted["t_ns"].tolist() == [pd.Timestamp("2026-07-15T12:00Z").value]
    assert r.rejected["reason"].tolist() == ["NO_TIMEZONE"]


def test_fractional_seconds_and_offsets(tmp_path):
    f = write(tmp_path, "t.csv", csv_of("S1,2026-07-14T11:00:00.123456+01:00,53.8,-1.55,,,,",
                                       "S2, 2026-07-14T10:00:00.5Z ,53.8,-1.55,,,,"))
    r = read(f)
    assert r.accepted["t_ns"].tolist() == [T0_NS + 123456000, T0_NS + 500000000]


# -- --columns --------------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [
    "subject_id=vehicle_id,lat=latitude,lon=longitude,heading_deg=bearing,timestamp=time",  # CLI text
    {"subject_id": "vehicle_id", "lat": "latitude", "lon": "longitude", "heading_deg": "bearing",
     "timestamp": "time"},                                                                # a dict
    " subject_id = Vehicle_ID , lat=LATITUDE,lon=longitude,heading_deg=bearing,timestamp=time",  # case+spaces
])
def test_columns_mapping(tmp_path, columns):
    f = write(tmp_path, "bus.csv",
              'id,vehicle_id,time,latitude,longitude,bearing\n7,"4716",2026-07-14 10:00:00,53.8,-1.55,53\n')
    r = read(f, columns=columns, tz="UTC")
    a = r.accepted
    assert a["subject_id"].tolist() == ["4716"] and a["heading_deg"].tolist() == [53.0]
    assert a["t_ns"].tolist() == [T0_NS]
    assert list(a.columns[len(TRAIL_INPUT) + 1:]) == ["id"]


def test_columns_mapping_errors(tmp_path):
    f = write(tmp_path, "t.csv", csv_of(GOOD))
    with pytest.raises(InputError, match=r"unknown trail column\(s\) \['latitude'\]; use any of subject_id"):
        read_trails(f, columns={"latitude": "lat"})
    with pytest.raises(InputError, match="columns maps 'lat' to 'Latitude', but .* has no such column"):
        read_trails(f, columns="lat=Latitude")


@pytest.mark.parametrize(("text", "expected"), [
    ("subject_id=vehicle_id,lat=latitude", {"subject_id": "vehicle_id", "lat": "latitude"}),  # SPEC's form
    ("  ", {}),                                                                               # nothing to map
    ("lat = latitude ,", None),                                                               # trailing comma
    ("lat", None),                                                                            # no '='
    ("=latitude", None),                                                                      # no name
    ("lat=", None),                                                                           # no column
    ("lat=a,lat=b", None),                                                                    # name twice
])
def test_parse_columns_map(text, expected):
    if expected is None:
        with pytest.raises(InputError, match="--columns"):
            parse_columns_map(text)
    else:
        assert parse_columns_map(text) == expected


def test_subject_argument_fills_a_file_without_subjects(tmp_path):
    f = write(tmp_path, "t.csv", "timestamp,lat,lon\n2026-07-14T10:00:00Z,53.8,-1.55\n")
    assert read(f, subject="S9").accepted["subject_id"].tolist() == ["S9"]
    g = write(tmp_path, "u.csv", csv_of(GOOD))
    assert read(g, subject="S9").accepted["subject_id"].tolist() == ["S1"]     # the file's column wins


# -- EM datastore export ----------------------------------------------------------------------


def em_row(**kw):
    base = dict(client_id="9", device_id="D1", location_id="", person_id="P1", position_circulation_id="",
                position_direction="", position_geometry="", position_gps_date="", position_hdop="1.2",
                position_id="1", position_latitude="53.8", position_lbs="1", position_longitude="-1.55",
                position_precision="12", position_recorded_date="2026-07-14 10:00:00.250000",
                position_satellite="", position_speed="", position_uploaded_date="2026-07-14 10:05:00")
    base.update(kw)
    return ",".join(base[c] for c in EM_POSITION_COLUMNS)


def test_em_export(tmp_path):
    text = ",".join(EM_POSITION_COLUMNS) + "\n" + "\n".join([
        em_row(position_direction=str(math.pi / 2), position_speed="36"),                 # rad, km/h
        em_row(position_id="2", position_recorded_date="2026-07-14 10:01:00", position_lbs="5",
               position_precision=""),                                                     # LBS default 500 m
        em_row(position_id="3", position_recorded_date="2026-07-14 10:02:00", position_lbs="6"),
        em_row(position_id="4", position_recorded_date="2026-07-14 10:03:00", position_lbs="4"),
        em_row(position_id="5", position_recorded_date="2026-07-14 10:04:00", position_lbs="3"),  # no code 3
        em_row(position_id="6", position_recorded_date="2026-07-14 10:05:00", position_lbs=""),  # empty: gps
    ]) + "\n"
    f = write(tmp_path, "positions.csv", text)
    r = read(f)                                              # no tz: the layout is UTC
    a = r.accepted
    assert r.info["format"] == "em" and r.info["tz"] == "UTC"
    assert a["subject_id"].tolist() == ["P1"] * 5
    assert a["t_ns"].iloc[0] == T0_NS + 250_000_000
    assert a["heading_deg"].iloc[0] == pytest.approx(90.0) and a["speed_mps"].iloc[0] == pytest.approx(10.0)
    assert a["fix_type"].tolist() == ["gps", "lbs", "wifi", "rf", "gps"]
    assert a["accuracy_m"].tolist() == [12.0, 500.0, 12.0, 12.0, 12.0]
    assert r.rejected[["row", "reason"]].values.tolist() == [[5, "BAD_FIX_TYPE"]]
    assert {"device_id", "position_id", "position_hdop", "client_id"} <= set(a.columns)
    assert "person_id" not in a.columns


def test_em_export_forced_needs_its_columns(tmp_path):
    f = write(tmp_path, "t.csv", csv_of(GOOD))
    with pytest.raises(InputError, match="not an EM device-positions export"):
        read_trails(f, fmt="em")


# -- GPX, TCX, GeoLife, GeoJSON, Parquet ------------------------------------------------------

GPX = """<?xml version="1.0" encoding="UTF-8"?>
<gpx version="1.1" creator="test" xmlns="http://www.topografix.com/GPX/1/1">
  <wpt lat="53.80" lon="-1.55"><time>2026-07-14T10:00:00Z</time></wpt>
  <trk><trkseg>
    <trkpt lat="53.801" lon="-1.551"><ele>50</ele><time>2026-07-14T10:01:00Z</time></trkpt>
    <trkpt lat="53.802" lon="-1.552"><ele>51</ele></trkpt>
    <trkpt lat="95" lon="-1.552"><time>2026-07-14T10:03:00Z</time></trkpt>
  </trkseg></trk>
  <rte><rtept lat="53.803" lon="-1.553"><time>2026-07-14T10:04:00Z</time></rtept></rte>
</gpx>
"""


def test_gpx(tmp_path):
    f = write(tmp_path, "walk-01.gpx", GPX)
    r = read(f)
    assert r.info["format"] == "gpx" and r.n_read == 5
    assert r.accepted["subject_id"].tolist() == ["walk-01"] * 3
    assert r.accepted["lat"].tolist() == [53.8, 53.801, 53.803]
    assert r.accepted["ele_m"].isna().tolist() == [True, False, True]
    assert r.rejected[["row", "reason"]].values.tolist() == [[3, "BAD_TIMESTAMP"], [4, "BAD_COORDINATE"]]
    assert read(f, subject="S7").accepted["subject_id"].unique().tolist() == ["S7"]


def test_gpx_not_xml(tmp_path):
    with pytest.raises(InputError, match="cannot read .* as GPX"):
        read_trails(write(tmp_path, "x.gpx", "<gpx><trkpt"))


TCX = """<?xml version="1.0" encoding="UTF-8"?>
<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">
 <Activities><Activity Sport="Running"><Lap StartTime="2013-06-14T09:52:52Z"><Track>
  <Trackpoint><Time>2013-06-14T09:52:52Z</Time>
   <Position><LatitudeDegrees>51.2558259</LatitudeDegrees><LongitudeDegrees>1.0197438</LongitudeDegrees></Position>
   <AltitudeMeters>25.6</AltitudeMeters>
   <Extensions><TPX xmlns="http://www.garmin.com/xmlschemas/ActivityExtension/v2"><Speed>1.191</Speed></TPX></Extensions>
  </Trackpoint>
  <Trackpoint><Time>2013-06-14T09:52:53Z</Time><AltitudeMeters>25.6</AltitudeMeters></Trackpoint>
  <Trackpoint><Time>2013-06-14T09:52:52Z</Time>
   <Position><LatitudeDegrees>51.2558259</LatitudeDegrees><LongitudeDegrees>1.0197438</LongitudeDegrees></Position>
  </Trackpoint>
 </Track></Lap></Activity></Activities>
</TrainingCenterDatabase>
"""


@pytest.mark.parametrize(("name", "gz"), [
    ("2013-06-14-105252.tcx", False),      # plain
    ("2013-06-14-105252.TCX.gz", True),    # as trackeR ships them
])
def test_tcx(tmp_path, name, gz):
    r = read(write(tmp_path, name, TCX, gz=gz))
    assert r.info["format"] == "tcx" and r.n_read == 3
    a = r.accepted
    assert a["subject_id"].tolist() == ["2013-06-14-105252"]
    assert a["speed_mps"].tolist() == [1.191] and a["altitude_m"].tolist() == ["25.6"]
    assert r.rejected[["row", "reason"]].values.tolist() == [[2, "BAD_COORDINATE"], [3, "DUPLICATE"]]


PLT = """Geolife trajectory
WGS 84
Altitude is in Feet
Reserved 3
0,2,255,My Track,0,0,2,8421376
0
39.999976,116.326565,0,492,39755.4261111111,2008-11-03,10:13:36
40.000032,116.326175,0,492,39755.4261689815,2008-11-03,10:13:41
40.000038,116.326154,0,492
"""


def test_geolife_plt(tmp_path):
    d = tmp_path / "017" / "Trajectory"
    d.mkdir(parents=True)
    f = write(d, "20081103101336.plt", PLT)
    r = read(f, crs=StoreCRS("EPSG:32650"))
    assert r.info["format"] == "plt" and r.info["tz"] == "UTC" and r.n_read == 3
    a = r.accepted
    assert a["subject_id"].tolist() == ["017", "017"]
    assert a["t_ns"].iloc[0] == pd.Timestamp("2008-11-03T10:13:36Z").value
    assert a["altitude_ft"].tolist() == ["492", "492"]
    assert r.rejected[["row", "reason"]].values.tolist() == [[3, "WRONG_COLUMN_COUNT"]]
    bng = read(f)
    assert bng.rejected_by_reason == {"OUTSIDE_GRID": 2, "WRONG_COLUMN_COUNT": 1}
    assert read(f, subject="S1", crs=StoreCRS("EPSG:32650")).accepted["subject_id"].tolist() == ["S1", "S1"]


def geojson(features):
    return json.dumps({"type": "FeatureCollection", "features": features})


def feature(coords, **props):
    geom = None if coords is None else {"type": "Point", "coordinates": coords}
    return {"type": "Feature", "geometry": geom, "properties": props}


def test_geojson(tmp_path):
    f = write(tmp_path, "fixes.geojson", geojson([
        feature([-1.55, 53.8], subject_id="S1", timestamp="2026-07-14T10:00:00Z", accuracy_m=5, colour="red"),
        feature([-1.55, 53.8], subject_id="S1", timestamp="2026-07-14T10:01:00Z", fix_type="wifi"),
        feature(None, subject_id="S1", timestamp="2026-07-14T10:02:00Z"),
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]},
         "properties": {"subject_id": "S1", "timestamp": "2026-07-14T10:03:00Z"}},
        feature([-1.55, 53.8], subject_id="S1", timestamp="2026-07-14T10:04:00Z", accuracy_m="bad"),
    ]))
    r = read(f)
    a = r.accepted
    assert r.info["format"] == "geojson"
    assert a["accuracy_m"].tolist() == [5.0, 50.0] and a["fix_type"].tolist() == ["gps", "wifi"]
    assert a["colour"].tolist()[0] == "red"
    assert r.rejected[["row", "reason"]].values.tolist() == [
        [3, "BAD_COORDINATE"], [4, "BAD_COORDINATE"], [5, "BAD_ACCURACY"]]


def test_geojson_not_a_collection(tmp_path):
    with pytest.raises(InputError, match="is not a GeoJSON FeatureCollection"):
        read_trails(write(tmp_path, "x.geojson", json.dumps({"type": "Point", "coordinates": [0, 0]})))


def test_parquet_typed_columns(tmp_path):
    df = pd.DataFrame({
        "subject_id": ["S1", "S1", None],
        "timestamp": pd.to_datetime(["2026-07-14T10:00:00Z", "2026-07-14T10:01:00Z", "2026-07-14T10:02:00Z"]),
        "lat": [53.8, 95.0, 53.8], "lon": [-1.55, -1.55, -1.55], "accuracy_m": [5.0, None, 5.0],
        "fix_type": ["gps", "gps", "gps"], "trip": [1, 2, 3],
    })
    f = tmp_path / "t.parquet"
    df.to_parquet(f)
    r = read(f)
    assert r.info["format"] == "parquet"
    assert r.accepted["t_ns"].tolist() == [T0_NS] and r.accepted["trip"].tolist() == [1]
    assert r.rejected[["row", "reason"]].values.tolist() == [[2, "BAD_COORDINATE"], [3, "MISSING_SUBJECT"]]


def test_parquet_naive_timestamps_need_tz(tmp_path):
    f = tmp_path / "t.parquet"
    pd.DataFrame({"subject_id": ["S1"], "timestamp": pd.to_datetime(["2026-07-15T12:00:00"]),
                  "lat": [53.8], "lon": [-1.55]}).to_parquet(f)
    with pytest.raises(TimezoneError, match="--tz"):
        read_trails(f)
    assert read(f, tz="Europe/London").accepted["t_ns"].tolist() == [pd.Timestamp("2026-07-15T11:00Z").value]


@pytest.mark.parametrize("epsg", [4326, 27700])
def test_geoparquet_points(tmp_path, epsg):
    import geopandas as gpd
    from shapely.geometry import Point

    pts = [Point(-1.55, 53.8), Point(-1.56, 53.81)]
    gdf = gpd.GeoDataFrame({"subject_id": ["S1", "S2"], "timestamp": ["2026-07-14T10:00:00Z"] * 2},
                           geometry=pts, crs="EPSG:4326").to_crs(epsg)
    f = tmp_path / "t.geoparquet"
    gdf.to_parquet(f)
    r = read(f)
    # geopandas' to_crs(27700) is pyproj's Helmert without grids; back through OSTN15 it is ~2 m off
    tol = 1e-4 if epsg == 27700 else 1e-9
    assert r.accepted["lat"].tolist() == pytest.approx([53.8, 53.81], abs=tol)
    assert r.accepted["lon"].tolist() == pytest.approx([-1.55, -1.56], abs=tol)
    if epsg == 27700:   # BNG points are taken as they are
        assert r.accepted["x_m"].tolist() == gdf.geometry.x.tolist()


@pytest.mark.parametrize(("name", "text", "fmt"), [
    ("trail", csv_of(GOOD), "csv"),                 # no suffix: a CSV
    ("trail", GPX, "gpx"),                          # no suffix: XML with <gpx
    ("trail", TCX, "tcx"),                          # no suffix: TrainingCenterDatabase
    ("trail", geojson([feature([-1.55, 53.8], subject_id="S1", timestamp="2026-07-14T10:00Z")]), "geojson"),
    ("trail", PLT, "plt"),                          # no suffix: the GeoLife banner
])
def test_sniffed_from_content(tmp_path, name, text, fmt):
    r = read(write(tmp_path, name, text), crs=StoreCRS("EPSG:32650") if fmt == "plt" else None)
    assert r.info["format"] == fmt and r.n_read >= 1


def test_fmt_forces_the_reader(tmp_path):
    f = write(tmp_path, "points.txt", GPX)
    assert read(f, fmt="gpx").n_read == 5


def test_fast_and_tolerant_paths_agree(tmp_path):
    rows = [GOOD, "S2,2026-07-14T10:01:00+01:00,53.81,-1.56,,wifi,,",
            '"S3","2026-07-14T10:02:00Z","53.82","-1.57","7","rf","0","359.5"',
            "S1,2026-07-14T10:00:00Z,53.9,-1.55,20,gps,,", "S4,2026-07-14T10:03:00Z,48.85,2.35,,,,"]
    fast = read(write(tmp_path, "a.csv", csv_of(*rows)))                         # pyarrow, typed floats
    text = read(write(tmp_path, "b.csv", csv_of(*rows, "S5,2026-07-14T10:04:00Z,53.8,-1.55,x,,,")))  # as text
    ragged = read(write(tmp_path, "c.csv", csv_of(*rows, "S5,oops")))            # Python csv module
    for other in (text, ragged):
        pd.testing.assert_frame_equal(fast.accepted, other.accepted)
        pd.testing.assert_frame_equal(fast.rejected.drop(columns="file"),
                                      other.rejected.drop(columns="file").iloc[:2])
    assert ragged.rejected["reason"].tolist() == [
        "CONFLICTING_DUPLICATE", "OUTSIDE_GRID", "WRONG_COLUMN_COUNT"]


@pytest.mark.parametrize(("text", "value"), [
    ("5.", 5.0),        # trailing point
    (".5", 0.5),        # leading point
    ("+2", 2.0),        # explicit sign
    ("1E1", 10.0),      # exponent
    (" 7 ", 7.0),       # spaces around
    ("1,5", None),      # decimal comma: not a number
    ("0x10", None),     # hexadecimal: not a number
    ("1.2.3", None),    # two points
    ("1e999", None),    # overflows to infinity
])
def test_number_forms(tmp_path, text, value):
    f = write(tmp_path, "t.csv", csv_of(f'S1,2026-07-14T10:00:00Z,53.8,-1.55,"{text}",gps,,',
                                       "S1,2026-07-14T10:01:00Z,53.8,-1.55,x,gps,,"))   # x: the text path too
    r = read(f)
    if value is None:
        assert r.rejected["reason"].tolist() == ["BAD_ACCURACY", "BAD_ACCURACY"]
    else:
        assert r.accepted["accuracy_m"].tolist() == [value]
    g = write(tmp_path, "u.csv", csv_of(f'S1,2026-07-14T10:00:00Z,53.8,-1.55,"{text}",gps,,'))
    assert read(g).accepted["accuracy_m"].tolist() == ([] if value is None else [value])


def test_blank_lines_before_the_header_and_unnamed_columns(tmp_path):
    text = "\n\n subject_id , timestamp,lat,lon,,\n" + "S1,2026-07-14T10:00:00Z,53.8,-1.55,,\n"
    for name, body in (("a.csv", text), ("b.csv", text + "S1,ragged\n")):
        r = read(write(tmp_path, name, body))
        assert r.accepted["row"].tolist() == [1]
        assert list(r.accepted.columns[len(TRAIL_INPUT) + 1:]) == ["column_5", "column_6"]
