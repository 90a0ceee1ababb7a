import datetime as dt

import numpy as np
import pytest

from trailmon.io.identifiers import PNC_CHECK_LETTERS, canonical_pnc, pnc_check_letter, valid_crn, valid_nomis
from trailmon.io.subjects import check_identifiers

TODAY = dt.date(2026, 7, 1)


def letter(yy: int, serial: int) -> str:
    """The SPEC formula, written out independently of the code under test."""
    return "ZABCDEFGHJKLMNPQRTUVWXY"[int(f"{yy:02d}" + f"{serial:07d}") % 23]


@pytest.mark.parametrize(("text", "expected"), [
    (f"12/1234{letter(12, 1234)}", f"2012/0001234{letter(12, 1234)}"),        # short form, 20xx
    (f"2012/0001234{letter(12, 1234)}", f"2012/0001234{letter(12, 1234)}"),   # already canonical
    (f"121234{letter(12, 1234)}", f"2012/0001234{letter(12, 1234)}"),         # no slash, YY + serial
    (f"20120001234{letter(12, 1234)}", f"2012/0001234{letter(12, 1234)}"),    # no slash, YYYY + 7 digits
    (f"26/1{letter(26, 1)}", f"2026/0000001{letter(26, 1)}"),                 # this year's YY -> 20YY
    (f"27/1{letter(27, 1)}", f"1927/0000001{letter(27, 1)}"),                 # next year's YY -> 19YY
    (f"99/9999999{letter(99, 9999999)}", f"1999/9999999{letter(99, 9999999)}"),  # 19xx, full serial
    (f" 12/1234{letter(12, 1234).lower()} ", f"2012/0001234{letter(12, 1234)}"),  # spaces, lower case
    (f"1927/1{letter(27, 1)}", f"1927/0000001{letter(27, 1)}"),               # four-digit 19xx year
])
def test_canonical_pnc_valid(text, expected):
    assert canonical_pnc(text, today=TODAY) == expected


@pytest.mark.parametrize("text", [
    f"12/1234{PNC_CHECK_LETTERS[(PNC_CHECK_LETTERS.index(letter(12, 1234)) + 1) % 23]}",  # wrong check letter
    "12/12345678A",        # serial of 8 digits
    "1/1234Z",             # one-digit year
    "120/1234Z",           # three-digit year is not a year
    f"2027/1{letter(27, 1)}",  # four-digit year in the future
    "12-1234Z",            # wrong separator
    "12/1234",             # no check letter
    "",                    # empty
    None,                  # missing
])
def test_canonical_pnc_invalid(text):
    assert canonical_pnc(text, today=TODAY) is None


def test_pnc_check_letter_matches_formula():
    for yy, serial in [(0, 0), (12, 1234), (99, 9999999), (5, 42)]:
        assert pnc_check_letter(2000 + yy, serial) == letter(yy, serial)


@pytest.mark.parametrize(("text", "ok"), [
    ("X123456", True),    # letter + six digits
    ("x123456", True),    # case ignored
    (" X123456 ", True),  # spaces ignored
    ("X12345", False),    # five digits
    ("X1234567", False),  # seven digits
    ("1123456", False),   # no letter
    ("", False),          # empty
])
def test_valid_crn(text, ok):
    assert valid_crn(text) is ok


@pytest.mark.parametrize(("text", "ok"), [
    ("A1234BC", True),    # letter, four digits, two letters
    ("a1234bc", True),    # case ignored
    ("A123BC", False),    # three digits
    ("A1234B", False),    # one trailing letter
    ("11234BC", False),   # leading digit
    (None, False),        # missing
])
def test_valid_nomis(text, ok):
    assert valid_nomis(text) is ok


def test_check_identifiers_blanks_and_flags():
    good_pnc = f"12/1234{letter(12, 1234)}"
    crn = np.array(["X123456", "bad", ""], dtype=object)
    pnc = np.array([good_pnc, "", "12/1234Q"], dtype=object)
    nomis = np.array(["a1234bc", "A1234BC", ""], dtype=object)
    c, p, n, flagged = check_identifiers(crn, pnc, nomis, today=TODAY)
    assert list(c) == ["X123456", "", ""]
    assert list(p) == [f"2012/0001234{letter(12, 1234)}", "", ""]
    assert list(n) == ["A1234BC", "A1234BC", ""]
    assert list(flagged) == [False, True, True]  # "Q" is not the check letter of 12/1234
