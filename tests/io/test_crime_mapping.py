import pandas as pd
import pytest

from trailmon.io.crimes import PILOT_FORCES, read_crimes
from trailmon.io.quarantine import RejectReason
from trailmon.report._columns import CRIME_INPUT

FIELDS = ["policeForceArea", "crimeTypeId", "crimeTypeDescription", "batchId", "crimeReference",
          "crimeDateTimeFrom", "crimeDateTimeTo", "easting", "northing", "latitude", "longitude", "datum", "crimeText"]
BASE = {
    "policeForceArea": "Cheshire", "crimeTypeId": "TFMV", "crimeTypeDescription": "Theft from a vehicle",
    "batchId": "CHS20260115", "crimeReference": "0000001", "crimeDateTimeFrom": "20260114220000",
    "crimeDateTimeTo": "20260115080000", "easting": "350000", "northing": "380000", "latitude": "",
    "longitude": "", "datum": "OSGB36", "crimeText": "rear window smashed",
}


def line(**changes) -> str:
    rec = {**BASE, **changes}
    return ",".join('"' + rec[f].replace('"', '""') + '"' if "," in rec[f] or "\n" in rec[f] else rec[f]
                    for f in FIELDS)


def write(tmp_path, lines, name="request.csv"):
    p = tmp_path / name
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def check_counts(r):
    assert len(r.accepted) + len(r.rejected) == r.n_read


WGS = {"easting": "", "northing": "", "latitude": "53.2", "longitude": "-2.5", "datum": "WGS84"}

CASES = [
    (line() + ",surplus", RejectReason.INVALID_COLUMN_COUNT),                                   # 14 fields
    (",".join(line().split(",")[:12]), RejectReason.INVALID_COLUMN_COUNT),                       # 12 fields
    (line(policeForceArea="Merseyside"), RejectReason.INVALID_POLICE_FORCE),                    # not a pilot force
    (line(policeForceArea="CHS"), RejectReason.INVALID_POLICE_FORCE),                           # a code, not a name
    (line(crimeTypeId="ASB"), RejectReason.INVALID_CRIME_TYPE),                                 # not a MoJ type
    (line(batchId=""), RejectReason.MISSING_BATCH_ID),                                          # empty batch id
    (line(batchId="KNT20260115"), RejectReason.INVALID_BATCH_ID_FORMAT),                        # other force's code
    (line(batchId="CHS2026011"), RejectReason.INVALID_BATCH_ID_FORMAT),                         # seven digits
    (line(batchId="CHS20260115-X"), RejectReason.INVALID_BATCH_ID_FORMAT),                      # bad suffix
    (line(batchId="CHS20260230"), RejectReason.INVALID_BATCH_ID_DATE),                          # 30 February
    (line(batchId="CHS20261301-1-R"), RejectReason.INVALID_BATCH_ID_DATE),                      # month 13
    (line(crimeReference=""), RejectReason.MISSING_CRIME_REFERENCE),                            # no reference
    (line(crimeDateTimeFrom="2026-01-14 22:00"), RejectReason.INVALID_FROM_DATE_FORMAT),        # ISO, not compact
    (line(crimeDateTimeFrom="20260114250000"), RejectReason.INVALID_FROM_DATE_FORMAT),          # hour 25
    (line(crimeDateTimeTo=""), RejectReason.INVALID_TO_DATE_FORMAT),                            # empty To
    (line(crimeDateTimeTo="20260114215959"), RejectReason.CRIME_DATE_TIME_TO_AFTER_FROM),       # To < From
    (line(crimeDateTimeTo="20260115100001"), RejectReason.CRIME_DATE_TIME_EXCEEDS_WINDOW),      # 12 h + 1 s
    (line(easting="650000"), RejectReason.INVALID_LOCATION_DATA_RANGE),                         # easting > 600 km
    (line(northing="-1"), RejectReason.INVALID_LOCATION_DATA_RANGE),                            # northing < 0
    (line(**{**WGS, "latitude": "49.4"}), RejectReason.INVALID_LOCATION_DATA_RANGE),             # lat < 49.5
    (line(**{**WGS, "longitude": "2.7"}), RejectReason.INVALID_LOCATION_DATA_RANGE),             # lon > 2.6
    (line(easting="", northing="", datum=""), RejectReason.MISSING_LOCATION_DATA),              # no location
    (line(datum="WGS84"), RejectReason.MISSING_LOCATION_DATA),                                  # datum names lat/lon
    (line(datum="ED50"), RejectReason.MISSING_LOCATION_DATA),                                   # unknown datum
    (line(northing=""), RejectReason.DEPENDENT_LOCATION_DATA),                                  # easting alone
    (line(**{**WGS, "longitude": ""}), RejectReason.DEPENDENT_LOCATION_DATA),                    # latitude alone
    (line(latitude="53.2", longitude="-2.5"), RejectReason.MULTIPLE_LOCATION_DATA_TYPES),       # both pairs
    (line(easting="35e4x"), RejectReason.INVALID_NUMBER),                                       # not a number
    (line(crimeText="bell\x07rang"), RejectReason.INVALID_TEXT),                                # control character
    (line(crimeTypeId="ASB", batchId=""), RejectReason.INVALID_CRIME_TYPE),                     # first rule wins
    (line(batchId="", crimeReference="", easting="x"), RejectReason.MISSING_BATCH_ID),          # first rule wins
]


@pytest.mark.parametrize(("bad", "code"), CASES)
def test_reject_codes(tmp_path, bad, code):
    r = read_crimes(write(tmp_path, [line(), bad]))
    check_counts(r)
    assert r.accepted["crime_ref"].tolist() == ["CHS/0000001"]
    assert r.rejected["reason"].tolist() == [code.value]
    assert r.rejected["row"].tolist() == [2]


def test_every_crime_mapping_code_has_a_case():
    table_codes = {
        "INVALID_COLUMN_COUNT", "INVALID_POLICE_FORCE", "INVALID_CRIME_TYPE", "MISSING_BATCH_ID",
        "INVALID_BATCH_ID_FORMAT", "INVALID_BATCH_ID_DATE", "MISSING_CRIME_REFERENCE", "INVALID_FROM_DATE_FORMAT",
        "INVALID_TO_DATE_FORMAT", "CRIME_DATE_TIME_TO_AFTER_FROM", "CRIME_DATE_TIME_EXCEEDS_WINDOW",
        "INVALID_LOCATION_DATA_RANGE", "MISSING_LOCATION_DATA", "DEPENDENT_LOCATION_DATA",
        "MULTIPLE_LOCATION_DATA_TYPES", "INVALID_NUMBER", "INVALID_TEXT",
    }
    assert {c.value for _, c in CASES} == table_codes


@pytest.mark.parametrize(("to", "ok"), [
    ("20260115100000", True),    # exactly 12 h passes
    ("20260115100001", False),   # 12 h + 1 s fails
    ("20260114220000", True),    # zero-length window
])
def test_twelve_hour_limit(tmp_path, to, ok):
    r = read_crimes(write(tmp_path, [line(crimeDateTimeFrom="20260114220000", crimeDateTimeTo=to)]))
    assert (len(r.accepted) == 1) is ok


@pytest.mark.parametrize("batch", ["CHS20260115", "CHS20260115-2", "CHS20260115-R", "CHS20260115-3-a",
                                   "CHS20240229"])  # suffixes; a leap day
def test_batch_id_forms(tmp_path, batch):
    assert len(read_crimes(write(tmp_path, [line(batchId=batch)])).accepted) == 1


def test_accepted_frame(tmp_path):
    lines = [line(), line(policeForceArea="city of london", batchId="CoLP20260115", crimeTypeId="rb", **WGS)]
    r = read_crimes(write(tmp_path, lines), radius_m=150)
    a = r.accepted
    assert list(a.columns[: len(CRIME_INPUT)]) == CRIME_INPUT
    assert a["crime_ref"].tolist() == ["CHS/0000001", "CoLP/0000001"]
    assert a["force"].tolist() == ["CHS", "CoLP"]
    assert a["offence"].tolist() == ["TFMV", "RB"]
    assert a["offence_group"].tolist() == ["vehicle", "robbery"]
    assert a["crime_version"].tolist() == [1, 1]
    assert a["committed_from"][0] == pd.Timestamp("2026-01-14T22:00:00Z")
    assert a["x_m"][0] == 350000 and a["y_m"][0] == 380000
    assert 53 < a["lat"][0] < 54                                   # OSGB36 -> WGS84 with OSTN15
    assert a["lat"][1] == 53.2 and 300000 < a["x_m"][1] < 400000
    assert a["radius_m"].tolist() == [150.0, 150.0]
    assert a["source_format"].unique().tolist() == ["crime_mapping"]
    assert a["crimeText"][0] == "rear window smashed"
    assert "OSTN15" in r.info["note"]


def test_file_notes_multiple_forces_and_batches(tmp_path):
    lines = [line(), line(batchId="CHS20260116", crimeReference="2"),
             line(policeForceArea="Kent", batchId="KNT20260115", crimeReference="3")]
    r = read_crimes(write(tmp_path, lines))
    codes = {n["code"]: n for n in r.notes}
    assert codes["MULTIPLE_POLICE_FORCES"]["values"] == ["CHS", "KNT"]
    assert codes["MULTIPLE_BATCH_IDS"]["values"] == ["CHS20260115", "CHS20260116", "KNT20260115"]
    assert r.accepted["batch_id"].tolist() == ["CHS20260115", "CHS20260116", "KNT20260115"]  # kept apart
    assert len(r.accepted) == 3


def test_one_force_one_batch_has_no_file_notes(tmp_path):
    r = read_crimes(write(tmp_path, [line(), line(crimeReference="2")]))
    assert r.notes == []


def test_all_records_failed(tmp_path):
    r = read_crimes(write(tmp_path, [line(crimeTypeId="X"), line(batchId="")]))
    check_counts(r)
    assert len(r.accepted) == 0 and len(r.rejected) == 2
    assert [n["code"] for n in r.notes] == ["ALL_RECORDS_FAILED"]


def test_versions_within_a_file(tmp_path):
    lines = [
        line(),                                            # v1
        line(batchId="CHS20260116"),                       # identical re-send (other batch): merged into row 1
        line(crimeText="rear and side windows smashed"),   # different content: v2
        line(),                                            # v1 again: merged into row 1
        line(crimeReference="0000002"),                    # another crime: v1
    ]
    r = read_crimes(write(tmp_path, lines))
    check_counts(r)
    a = r.accepted
    assert a["crime_version"].tolist() == [1, 1, 2, 1, 1]
    assert a["merged_into"].tolist()[1] == 1 and a["merged_into"].tolist()[3] == 1
    assert a["merged_into"].isna().tolist() == [True, False, True, False, True]
    merged = [n for n in r.notes if n["kind"] == "merged"]
    assert merged[0]["rows"] == 2


def test_nineteen_pilot_forces():
    assert len(PILOT_FORCES) == 19
    assert PILOT_FORCES["Metropolitan"] == "MPS" and PILOT_FORCES["City of London"] == "CoLP"


def test_crlf_and_quoted_text(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(("\r\n".join([line(crimeText="a, b"), line(crimeReference="2")]) + "\r\n").encode())
    r = read_crimes(p)
    assert r.accepted["crimeText"].tolist() == ["a, b", "rear window smashed"]
