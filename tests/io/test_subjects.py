import json

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from trailmon.errors import InputError, TimezoneError, TrailmonError
from trailmon.io.identifiers import pnc_check_letter
from trailmon.io.quarantine import RejectReason
from trailmon.io.subjects import read_subjects
from trailmon.report._columns import SUBJECT_INPUT

HEADER = "subject_id,cohort,monitoring_start,monitoring_end,crn,pnc_id,nomis_id,offender_manager"
GOOD = "S1,fixed,2026-01-01T00:00:00Z,2026-06-01T00:00:00Z,X123456,,A1234BC,Jo Bloggs"


def write(tmp_path, text, name="subjects.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def check_counts(r):
    assert len(r.accepted) + len(r.rejected) == r.n_read


@pytest.mark.parametrize(("row", "code"), [
    ("S1,fixed,2026-01-01T00:00:00Z", RejectReason.WRONG_COLUMN_COUNT),                             # 3 of 8 fields
    (",fixed,2026-01-01T00:00:00Z,,,,,", RejectReason.MISSING_SUBJECT),                             # empty subject
    ("S1,gold,2026-01-01T00:00:00Z,,,,,", RejectReason.BAD_COHORT),                                 # unknown cohort
    ("S1,flex,yesterday,,,,,", RejectReason.BAD_TIMESTAMP),                                         # not a time
    ("S1,flex,2026-01-01T00:00:00,,,,,", RejectReason.NO_TIMEZONE),                                 # stray naive
    ("S1,flex,2026-02-01T00:00:00Z,2026-01-01T00:00:00Z,,,,", RejectReason.BAD_WINDOW),             # end < start
])
def test_generic_reject_codes(tmp_path, row, code):
    r = read_subjects(write(tmp_path, f"{HEADER}\n{GOOD}\n{row}\n"))
    check_counts(r)
    assert len(r.accepted) == 1
    assert r.rejected["reason"].tolist() == [code.value]
    assert r.rejected["row"].tolist() == [2]


def test_generic_accepted_frame(tmp_path):
    pnc = f"12/1234{pnc_check_letter(2012, 1234)}"
    text = (f"{HEADER},extra\n{GOOD},a\nS2,,2026-01-01T00:00:00+01:00,,bad,{pnc},A1,,b\n"
            "S3,FREE,,,,,,,c\n")
    r = read_subjects(write(tmp_path, text))
    a = r.accepted
    assert list(a.columns) == [*SUBJECT_INPUT, "row", "extra"]
    assert str(a["monitoring_start"].dtype) == "datetime64[ns, UTC]"
    assert a["cohort"].tolist() == ["fixed", "free", "free"]           # empty -> free, case ignored
    assert a["monitoring_start"][1] == pd.Timestamp("2025-12-31T23:00:00Z")
    assert pd.isna(a["monitoring_end"][1])                             # open end
    assert pd.isna(a["monitoring_start"][2])                           # unknown start
    assert a["crn"][1] == "" and a["nomis_id"][1] == ""                 # blanked
    assert a["pnc_id"][1] == "2012/0001234" + pnc_check_letter(2012, 1234)
    assert a["flags"].tolist() == ["", "BAD_IDENTIFIER", ""]
    assert r.notes[0]["kind"] == "flag" and r.notes[0]["code"] == "BAD_IDENTIFIER" and r.notes[0]["rows"] == 1
    assert r.n_flagged == 1
    assert a["extra"].tolist() == ["a", "b", "c"]


def test_naive_times_need_tz(tmp_path):
    p = write(tmp_path, f"{HEADER}\nS1,fixed,2026-01-01 00:00,,,,,\n")
    with pytest.raises(TimezoneError, match="monitoring_start values carry no UTC offset"):
        read_subjects(p)
    r = read_subjects(p, tz="Europe/London")
    assert r.accepted["monitoring_start"][0] == pd.Timestamp("2026-01-01T00:00:00Z")


def test_unknown_layout(tmp_path):
    with pytest.raises(InputError, match="is not a subjects file: its header"):
        read_subjects(write(tmp_path, "a,b\n1,2\n"))


def test_unknown_tz(tmp_path):
    with pytest.raises(InputError, match="unknown time zone 'Mars/Base'"):
        read_subjects(write(tmp_path, f"{HEADER}\n{GOOD}\n"), tz="Mars/Base")


ACT = "device_activation_id,device_activation_date,device_deactivation_date,person_id,device_id,device_serial_number"


@pytest.mark.parametrize(("row", "code"), [
    ("1,2025-01-01 10:00:00,2025-02-01 10:00:00", RejectReason.WRONG_COLUMN_COUNT),   # 3 of 6 fields
    ("2,2025-01-01 10:00:00,2025-02-01 10:00:00,,D1,SN1", RejectReason.MISSING_SUBJECT),  # no person_id
    ("3,,2025-02-01 10:00:00,P1,D1,SN1", RejectReason.BAD_TIMESTAMP),                   # no activation date
    ("4,2025-01-01 10:00:00,2025-13-01 10:00:00,P1,D1,SN1", RejectReason.BAD_TIMESTAMP),  # month 13
    ("5,2025-03-01 10:00:00,2025-02-01 10:00:00,P1,D1,SN1", RejectReason.BAD_WINDOW),    # ends before start
])
def test_em_activation_reject_codes(tmp_path, row, code):
    good = "0,2025-01-01 10:00:00.250000,2999-12-12 23:59:59,P1,D1,SN1"
    r = read_subjects(write(tmp_path, f"{ACT}\n{good}\n{row}\n"))
    check_counts(r)
    assert r.rejected["reason"].tolist() == [code.value]


def test_em_activations(tmp_path):
    text = (f"{ACT}\n1,2025-01-01 10:00:00.250000,2025-02-01 09:00:00,P1,D1,SN1\n"
            "2,2025-03-01 10:00:00,2999-12-12 23:59:59,P1,D2,SN2\n")
    r = read_subjects(write(tmp_path, text))
    a = r.accepted
    assert list(a.columns[: len(SUBJECT_INPUT) + 1]) == [*SUBJECT_INPUT, "row"]
    assert a["subject_id"].tolist() == ["P1", "P1"]
    assert a["cohort"].tolist() == ["", ""]                       # the generic file's cohort wins
    assert a["monitoring_start"][0] == pd.Timestamp("2025-01-01T10:00:00.25Z")  # Athena naive = UTC
    assert a["monitoring_end"][0] == pd.Timestamp("2025-02-01T09:00:00Z")
    assert pd.isna(a["monitoring_end"][1])                        # 2999-12-12: still active
    assert a["device_id"].tolist() == ["D1", "D2"]
    assert r.info["layout"] == "em_activations"


CASELOAD = ("grouped_date,unique_device_wearer_id,first_name,last_name,date_of_birth,house_number_and_street_name,"
            "city_or_town,county,country,postcode,nomis_id,pnc_id,mdss_person_id,order_id,order_start_date,"
            "order_commencement_date,order_end_date,order_type,order_type_description,order_type_detail,"
            "responsible_organisation,responsible_officer_name,is_monitored")
PERSONAL = ["Alexandra", "Quixote", "1987-03-04", "12 Secret Lane", "Sometown", "Shire", "England", "ZZ9 9ZZ"]


def test_em_caseload_drops_personal_data(tmp_path):
    pnc = f"12/1234{pnc_check_letter(2012, 1234)}"
    good = ["2025-01-01", "U1", *PERSONAL, "A1234BC", pnc, "P1", "O1", "2025-01-01", "2025-01-01", "2026-01-01",
            "T", "d", "dd", "Probation", "Pat Officer", "true"]
    no_id = ["2025-01-01", "U2", *PERSONAL, "bad", "", "", "O2", "", "", "", "", "", "", "", "", "true"]
    ragged = good[:12]
    text = CASELOAD + "\n" + "\n".join(",".join(r) for r in (good, no_id, ragged)) + "\n"
    r = read_subjects(write(tmp_path, text))
    check_counts(r)
    a = r.accepted
    assert a["subject_id"].tolist() == ["P1"]
    assert a["nomis_id"][0] == "A1234BC" and a["pnc_id"][0].startswith("2012/0001234")
    assert a["offender_manager"][0] == "Pat Officer"
    assert sorted(r.rejected["reason"]) == ["MISSING_SUBJECT", "WRONG_COLUMN_COUNT"]
    everything = a.to_csv() + r.rejected.to_csv() + json.dumps(r.notes) + json.dumps(r.info)
    for value in PERSONAL:
        assert value not in everything
    for name in ("first_name", "last_name", "date_of_birth", "postcode"):
        assert name not in a.columns
        assert name not in everything


garbage = st.lists(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40),
                   max_size=12)


@given(rows=st.lists(st.lists(st.text(max_size=12), max_size=10), max_size=8), header=st.booleans())
def test_garbage_never_crashes(tmp_path_factory, rows, header):
    p = tmp_path_factory.mktemp("g") / "s.csv"
    lines = ([HEADER] if header else []) + [",".join(f'"{v.replace(chr(34), "")}"' for v in r) for r in rows]
    p.write_text("\n".join(lines), encoding="utf-8")
    try:
        r = read_subjects(p)
    except TrailmonError:
        return
    check_counts(r)


@given(raw=st.binary(max_size=300))
def test_garbage_bytes_never_crash(tmp_path_factory, raw):
    p = tmp_path_factory.mktemp("g") / "s.csv"
    p.write_bytes((HEADER + "\n").encode() + raw)
    try:
        r = read_subjects(p)
    except TrailmonError:
        return
    check_counts(r)
