import pandas as pd
import pytest

from trailmon.io.quarantine import RejectReason
from trailmon.io.zones import read_zones
from trailmon.report._columns import ZONE_INPUT

HEADER = "zone_id,subject_id,kind,active_from,active_to,daily_start,daily_end,lat,lon,radius_m,geofence_wkt"
A = "2026-01-01T00:00:00Z,2026-06-01T00:00:00Z"
GOOD = f"Z1,S1,inclusion,{A},19:00,07:00,51.5,-0.1,30,"


def write(tmp_path, text):
    p = tmp_path / "zones.csv"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(("row", "code"), [
    ("Z2,S1,inclusion", RejectReason.WRONG_COLUMN_COUNT),                                     # 3 fields
    (f",S1,exclusion,{A},,,51.5,-0.1,30,", RejectReason.MISSING_ID),                          # no zone id
    (f"Z2,,exclusion,{A},,,51.5,-0.1,30,", RejectReason.MISSING_SUBJECT),                     # no subject
    (f"Z2,S1,curfew,{A},,,51.5,-0.1,30,", RejectReason.BAD_ZONE_KIND),                        # unknown kind
    (f"Z2,S1,,{A},,,51.5,-0.1,30,", RejectReason.BAD_ZONE_KIND),                              # empty kind
    ("Z2,S1,exclusion,,2026-06-01T00:00:00Z,,,51.5,-0.1,30,", RejectReason.BAD_TIMESTAMP),    # no active_from
    ("Z2,S1,exclusion,2026-01-01T00:00:00,2026-06-01T00:00:00Z,,,51.5,-0.1,30,", RejectReason.NO_TIMEZONE),
    ("Z2,S1,exclusion,2026-06-01T00:00:00Z,2026-01-01T00:00:00Z,,,51.5,-0.1,30,", RejectReason.BAD_WINDOW),
    (f"Z2,S1,inclusion,{A},19:00,,51.5,-0.1,30,", RejectReason.BAD_DAILY_TIME),               # only one
    (f"Z2,S1,inclusion,{A},7pm,07:00,51.5,-0.1,30,", RejectReason.BAD_DAILY_TIME),            # not HH:MM
    (f"Z2,S1,inclusion,{A},24:00,07:00,51.5,-0.1,30,", RejectReason.BAD_DAILY_TIME),          # hour 24
    (f"Z2,S1,inclusion,{A},19:00,7:00,51.5,-0.1,30,", RejectReason.BAD_DAILY_TIME),           # one-digit hour
    (f"Z2,S1,exclusion,{A},,,,,,", RejectReason.BAD_GEOFENCE),                                # no geofence
    (f"Z2,S1,exclusion,{A},,,95,-0.1,30,", RejectReason.BAD_COORDINATE),                      # lat > 90
    (f"Z2,S1,exclusion,{A},,,51.5,-0.1,0,", RejectReason.BAD_RADIUS),                         # radius 0
    (f"Z2,S1,exclusion,{A},,,40.0,116.3,30,", RejectReason.OUTSIDE_GRID),                     # Beijing
])
def test_reject_codes(tmp_path, row, code):
    r = read_zones(write(tmp_path, f"{HEADER}\n{GOOD}\n{row}\n"))
    assert len(r.accepted) + len(r.rejected) == r.n_read
    assert r.accepted["zone_id"].tolist() == ["Z1"]
    assert r.rejected["reason"].tolist() == [code.value]


def test_accepted_frame(tmp_path):
    poly = '"POLYGON((-0.10 51.50, -0.09 51.50, -0.09 51.51, -0.10 51.50))"'
    text = (f"{HEADER},note\n{GOOD},a\n"
            f"Z2,S1,Exclusion,2026-01-01T00:00:00Z,,,,,,,{poly},b\n")
    r = read_zones(write(tmp_path, text))
    a = r.accepted
    assert list(a.columns) == [*ZONE_INPUT, "row", "note"]
    assert a["kind"].tolist() == ["inclusion", "exclusion"]
    assert a["daily_start"].tolist() == ["19:00", ""] and a["daily_end"].tolist() == ["07:00", ""]
    assert pd.isna(a["active_to"][1])                                    # open-ended
    assert a["active_from"][0] == pd.Timestamp("2026-01-01T00:00:00Z")
    assert a["geometry"][0] is None and a["radius_m"][0] == 30
    assert a["geometry"][1].geom_type == "Polygon" and pd.isna(a["radius_m"][1])


def test_local_active_times(tmp_path):
    r = read_zones(write(tmp_path, f"{HEADER}\nZ1,S1,inclusion,2026-07-01 19:00,,19:00,07:00,51.5,-0.1,30,\n"),
                   tz="Europe/London")
    assert r.accepted["active_from"][0] == pd.Timestamp("2026-07-01T18:00:00Z")
