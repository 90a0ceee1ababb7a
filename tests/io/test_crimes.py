import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trailmon.crs import StoreCRS
from trailmon.errors import InputError, TimezoneError, TrailmonError
from trailmon.io._csv import read_csv_strings
from trailmon.io.crimes import offence_group, read_crimes
from trailmon.io.quarantine import RejectReason
from trailmon.report._columns import CRIME_INPUT

HEADER = "crime_ref,offence,lat,lon,easting,northing,committed_from,committed_to,radius_m,force"
GOOD = "C1,TFMV,53.4,-2.98,,,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,,Merseyside"


def write(tmp_path, text, name="crimes.csv", newline="\n"):
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode("utf-8"))
    return p


def check_counts(r):
    assert len(r.accepted) + len(r.rejected) == r.n_read


@pytest.mark.parametrize(("row", "code"), [
    ("C2,TFMV,53.4", RejectReason.WRONG_COLUMN_COUNT),                                                  # 3 fields
    (",TFMV,53.4,-2.98,,,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,,", RejectReason.MISSING_CRIME_REF),  # no ref
    ("C2,,53.4,-2.98,,,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,,", RejectReason.MISSING_OFFENCE),      # no offence
    ("C2,RB,,,,,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,,", RejectReason.BAD_COORDINATE),              # no location
    ("C2,RB,53.4,,,,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,,", RejectReason.BAD_COORDINATE),          # half a pair
    ("C2,RB,95,-2.98,,,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,,", RejectReason.BAD_COORDINATE),       # lat > 90
    ("C2,RB,,,800000,300000,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,,", RejectReason.BAD_COORDINATE),  # easting
    ("C2,RB,40.0,116.3,,,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,,", RejectReason.OUTSIDE_GRID),       # Beijing
    ("C2,RB,53.4,-2.98,,,soon,2026-01-01T11:00:00Z,,", RejectReason.BAD_TIMESTAMP),                     # not a time
    ("C2,RB,53.4,-2.98,,,2026-01-01T10:00:00,2026-01-01T11:00:00Z,,", RejectReason.NO_TIMEZONE),         # stray naive
    ("C2,RB,53.4,-2.98,,,2026-01-01T12:00:00Z,2026-01-01T11:00:00Z,,", RejectReason.BAD_WINDOW_ORDER),   # to < from
    ("C2,RB,53.4,-2.98,,,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,0,", RejectReason.BAD_RADIUS),        # radius 0
    ("C2,RB,53.4,-2.98,,,2026-01-01T10:00:00Z,2026-01-01T11:00:00Z,wide,", RejectReason.BAD_RADIUS),     # not a number
])
def test_generic_reject_codes(tmp_path, row, code):
    r = read_crimes(write(tmp_path, f"{HEADER}\n{GOOD}\n{row}\n"))
    check_counts(r)
    assert r.accepted["crime_ref"].tolist() == ["C1"]
    assert r.rejected["reason"].tolist() == [code.value]


def test_generic_frame(tmp_path):
    text = (f"{HEADER},note\n{GOOD},n1\n"
            "C2,Burglary,,,334000,390000,2026-01-01T10:00:00+01:00,2026-01-01T10:00:00+01:00,250,,n2\n")
    r = read_crimes(write(tmp_path, text), radius_m=80)
    a = r.accepted
    assert list(a.columns) == [*CRIME_INPUT, "row", "merged_into", "note"]
    assert a["crime_version"].tolist() == [1, 1]
    assert a["offence_group"].tolist() == ["vehicle", "burglary"]
    assert a["radius_m"].tolist() == [80.0, 250.0]                         # argument, then the row's value
    assert a["source_format"].tolist() == ["generic", "generic"]
    assert a["committed_from"][1] == pd.Timestamp("2026-01-01T09:00:00Z")
    assert a["x_m"][1] == 334000 and a["y_m"][1] == 390000                 # BNG stays as given
    assert 53 < a["lat"][1] < 54 and -3 < a["lon"][1] < -2
    assert 330000 < a["x_m"][0] < 340000                                    # OSTN15 from WGS84
    assert a["merged_into"].isna().all()
    assert r.info["layout"] == "generic"
    assert r.info["transformation"]["method"] == "OSTN15"


def test_generic_default_radius_is_nan(tmp_path):
    r = read_crimes(write(tmp_path, f"{HEADER}\n{GOOD}\n"))
    assert np.isnan(r.accepted["radius_m"][0])


def test_generic_other_crs(tmp_path):
    r = read_crimes(write(tmp_path, f"{HEADER}\n{GOOD}\n"), crs=StoreCRS("EPSG:32630"))
    assert 400_000 < r.accepted["x_m"][0] < 600_000 and r.accepted["y_m"][0] > 5_900_000


def test_generic_naive_needs_tz(tmp_path):
    p = write(tmp_path, f"{HEADER}\nC1,RB,53.4,-2.98,,,2026-07-01 10:00,2026-07-01 11:00,,\n")
    with pytest.raises(TimezoneError, match="committed_from values carry no UTC offset"):
        read_crimes(p)
    r = read_crimes(p, tz="Europe/London")
    assert r.accepted["committed_from"][0] == pd.Timestamp("2026-07-01T09:00:00Z")


@pytest.mark.parametrize("radius", [0, -5, "x", float("nan")])
def test_bad_radius_argument(tmp_path, radius):
    with pytest.raises(InputError, match="radius_m must be a number > 0"):
        read_crimes(write(tmp_path, f"{HEADER}\n{GOOD}\n"), radius_m=radius)


def test_unknown_layout(tmp_path):
    with pytest.raises(InputError, match="cannot tell the crime layout"):
        read_crimes(write(tmp_path, "a,b,c\n1,2,3\n"))


def test_missing_column(tmp_path):
    with pytest.raises(InputError, match="has no column 'committed_to'"):
        read_crimes(write(tmp_path, "crime_ref,offence,lat,lon,committed_from\nC1,RB,53,-2,2026-01-01T00:00Z\n"))


def test_empty_file(tmp_path):
    r = read_crimes(write(tmp_path, ""))
    assert r.n_read == 0 and list(r.accepted.columns[: len(CRIME_INPUT)]) == CRIME_INPUT


@pytest.mark.parametrize(("offence", "group"), [
    ("RB", "robbery"), ("34", "robbery"), ("Robbery", "robbery"),                          # robbery
    ("BIAD", "burglary"), ("ab", "burglary"), ("BOTD", "burglary"),                        # MoJ burglary codes
    ("28", "burglary"), ("29", "burglary"), ("30A", "burglary"), ("31", "burglary"),       # Home Office burglary
    ("Burglary", "burglary"),                                                              # police.uk category
    ("TOMV", "vehicle"), ("TFMV", "vehicle"), ("48", "vehicle"), ("45", "vehicle"),        # vehicle
    ("Vehicle crime", "vehicle"),                                                          # police.uk category
    ("TFP", "theft_from_person"), ("39", "theft_from_person"),                             # theft from the person
    ("Theft from the person", "theft_from_person"),                                        # police.uk category
    ("Drugs", ""), ("Anti-social behaviour", ""), ("", ""), ("sneak-in", ""), ("340", ""),  # everything else
])
def test_offence_group(offence, group):
    assert offence_group(offence) == group


PUK = ("Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,"
       "Last outcome category,Context")


@pytest.mark.parametrize(("row", "code"), [
    ("x1,2014-04,M,M,-2.9", RejectReason.WRONG_COLUMN_COUNT),                                     # 5 fields
    ("x1,April,M,M,-2.9,53.4,On or near X,E1,L,Burglary,,", RejectReason.BAD_TIMESTAMP),          # month text
    ("x1,2014-04,M,M,-2.9,53.4,On or near X,E1,L,,,", RejectReason.MISSING_OFFENCE),              # no crime type
    ("x1,2014-04,M,M,,,No location,,,Burglary,,", RejectReason.MISSING_LOCATION_DATA),            # no location
    ("x1,2014-04,M,M,-2.9,west,On or near X,E1,L,Burglary,,", RejectReason.BAD_COORDINATE),       # not a number
    ("x1,2014-04,M,M,116.3,40.0,On or near X,E1,L,Burglary,,", RejectReason.OUTSIDE_GRID),        # Beijing
])
def test_police_uk_reject_codes(tmp_path, row, code):
    good = "a1,2014-04,M,M,-2.9,53.4,On or near X,E1,L,Robbery,,"
    r = read_crimes(write(tmp_path, f"{PUK}\n{good}\n{row}\n", newline="\r"))
    check_counts(r)
    assert r.rejected["reason"].tolist() == [code.value]


def test_police_uk_window_merge_and_derived_refs(tmp_path):
    rows = [
        "a1,2014-10,M,M,-2.9,53.4,On or near X,E1,L,Robbery,,",
        ",2014-10,M,M,-2.9,53.4,On or near X,E1,L,Anti-social behaviour,,",
        ",2014-10,M,M,-2.9,53.4,On or near X,E1,L,Anti-social behaviour,,",   # same content: another occurrence
        "a1,2014-10,M,M,-2.9,53.4,On or near X,E1,L,Robbery,Under investigation,",  # same Crime ID: merged
    ]
    p = write(tmp_path, PUK + "\n" + "\n".join(rows) + "\n", newline="\r")
    r = read_crimes(p)
    check_counts(r)
    a = r.accepted
    assert len(a) == 4
    assert a["committed_from"].unique().tolist() == [pd.Timestamp("2014-09-30T23:00:00Z")]   # 1 Oct 00:00 BST
    assert a["committed_to"].unique().tolist() == [pd.Timestamp("2014-11-01T00:00:00Z")]     # 1 Nov 00:00 GMT
    assert a["merged_into"].tolist()[3] == 1 and a["merged_into"][:3].isna().all()
    assert r.notes == [{"kind": "merged", "code": "DUPLICATE", "rows": 1,
                        "detail": "rows repeating a Crime ID; accepted and merged into the first (column merged_into)"}]
    derived = a["crime_ref"][1:3].tolist()
    assert all(d.startswith("PUK-") and len(d) == 20 for d in derived) and derived[0] != derived[1]
    assert read_crimes(p).accepted["crime_ref"].tolist() == a["crime_ref"].tolist()   # stable
    assert a["source_format"].unique().tolist() == ["police_uk"]
    assert r.info["evidence"] is False
    assert a["offence_group"].tolist() == ["robbery", "", "", "robbery"]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_csv_line_endings_and_ragged_rows(tmp_path, newline):
    text = 'a,b,c\n1,2,3\n\n4,5\n"x\ny",z,w,extra\n'
    t = read_csv_strings(write(tmp_path, text, newline=newline))
    assert t.header == ["a", "b", "c"]
    assert t.n_fields.tolist() == [3, 2, 4]
    assert t.row.tolist() == [1, 2, 3]
    assert t.frame["a"].tolist()[0] == "1" and t.frame["c"].tolist()[1] is None
    assert t.frame["_extra_1"].tolist() == [None, None, "extra"]
    assert t.ragged.tolist() == [False, True, True]


def test_csv_fast_and_slow_paths_agree(tmp_path):
    text = '\ufeffa,b\n1,"q,r"\n"s\nt",\n'
    fast = read_csv_strings(write(tmp_path, text, name="f.csv"))
    slow = read_csv_strings(write(tmp_path, text + "ragged,row,here\n", name="s.csv"))
    assert fast.header == slow.header == ["a", "b"]
    assert fast.frame.to_dict("list") == {k: v[:2] for k, v in slow.frame[["a", "b"]].to_dict("list").items()}


def test_csv_cp1252(tmp_path):
    p = tmp_path / "w.csv"
    p.write_bytes("a,b\ncaf\u00e9,\u00a3\n".encode("cp1252"))
    t = read_csv_strings(p)
    assert t.frame["a"][0] == "caf\u00e9" and t.encoding == "cp1252"


cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=15)


@given(rows=st.lists(st.lists(cells, min_size=0, max_size=14), max_size=8),
       head=st.sampled_from(["", HEADER, PUK]))
def test_garbage_never_crashes(tmp_path_factory, rows, head):
    p = tmp_path_factory.mktemp("g") / "c.csv"
    lines = ([head] if head else []) + [",".join('"' + v.replace('"', '""') + '"' for v in r) for r in rows]
    p.write_text("\n".join(lines), encoding="utf-8")
    try:
        r = read_crimes(p)
    except TrailmonError:
        return
    check_counts(r)


@given(raw=st.binary(max_size=400), head=st.sampled_from([b"", HEADER.encode(), PUK.encode()]))
def test_garbage_bytes_never_crash(tmp_path_factory, raw, head):
    p = tmp_path_factory.mktemp("g") / "c.csv"
    p.write_bytes(head + b"\n" + raw if head else raw)
    try:
        r = read_crimes(p)
    except TrailmonError:
        return
    check_counts(r)
