r"""Offender identifiers: CRN, NOMIS number and PNC id (SPEC §2, subjects).

- **CRN** (case reference number, probation): one letter and six digits, ``^[A-Z]\\d{6}$``.
- **NOMIS** (prison number): ``^[A-Z]\\d{4}[A-Z]{2}$``, e.g. ``A1234BC``.
- **PNC id** (Police National Computer): year, serial and a mod-23 check letter. Input
  ``\\d{2,4}/?\\d{1,7}[A-Z]``; the serial is zero-padded to seven digits; a two-digit year YY
  means 20YY when YY is at most this year's YY, else 19YY; the check letter is
  ``"ZABCDEFGHJKLMNPQRTUVWXY"[int(YY + serial7) % 23]`` with YY the last two digits of the
  year; the canonical form is ``YYYY/NNNNNNNC``.

Surrounding spaces are ignored and letters are compared in upper case. A value that fails
its rule is blanked by the readers and the row flagged ``BAD_IDENTIFIER``; it never rejects
the subject.
"""

from __future__ import annotations

import datetime as dt
import re

__all__ = ["PNC_CHECK_LETTERS", "canonical_pnc", "pnc_check_letter", "valid_crn", "valid_nomis"]

PNC_CHECK_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"
"""Check letters of the PNC id, indexed by ``int(YY + serial7) % 23``."""

_CRN = re.compile(r"[A-Z]\d{6}")
_NOMIS = re.compile(r"[A-Z]\d{4}[A-Z]{2}")
_PNC = re.compile(r"(\d{2,4})/?(\d{1,7})([A-Z])")
_PNC_SLASH = re.compile(r"(\d{2,4})/(\d{1,7})([A-Z])")


def _norm(text: object) -> str:
    return "" if text is None or not isinstance(text, str) else text.strip().upper()


def valid_crn(text: str | None) -> bool:
    """Whether ``text`` is a CRN: a letter and six digits (``X123456``).

    Parameters
    ----------
    text : str or None
        The value; surrounding spaces are ignored, letters compared in upper case.

    Returns
    -------
    bool
        True for a well-formed CRN.

    Examples
    --------
    >>> valid_crn("X123456"), valid_crn("X12345"), valid_crn("123456X")
    (True, False, False)
    """
    return _CRN.fullmatch(_norm(text)) is not None


def valid_nomis(text: str | None) -> bool:
    """Whether ``text`` is a NOMIS number: a letter, four digits, two letters (``A1234BC``).

    Parameters
    ----------
    text : str or None
        The value; surrounding spaces are ignored, letters compared in upper case.

    Returns
    -------
    bool
        True for a well-formed NOMIS number.

    Examples
    --------
    >>> valid_nomis("A1234BC"), valid_nomis("A123BC")
    (True, False)
    """
    return _NOMIS.fullmatch(_norm(text)) is not None


def pnc_check_letter(year: int, serial: int) -> str:
    """The PNC check letter of a year and serial number.

    Parameters
    ----------
    year : int
        The year (only its last two digits count).
    serial : int
        The serial number, 0 to 9,999,999.

    Returns
    -------
    str
        ``"ZABCDEFGHJKLMNPQRTUVWXY"[int(YY + serial7) % 23]``.

    Examples
    --------
    >>> pnc_check_letter(2012, 1234)
    'Y'
    """
    return PNC_CHECK_LETTERS[int(f"{year % 100:02d}{serial:07d}") % 23]


def _split_pnc(s: str) -> tuple[str, str, str] | None:
    m = _PNC_SLASH.fullmatch(s)
    if m:
        return m.group(1), m.group(2), m.group(3)
    if _PNC.fullmatch(s) is None:
        return None
    digits, letter = s[:-1], s[-1]
    # Without a slash the split is ambiguous; the written forms are YYNNNNNNN (up to 9 digits)
    # and YYYYNNNNNNN (10 or 11 digits).
    if len(digits) >= 10:
        return digits[:4], digits[4:], letter
    return digits[:2], digits[2:], letter


def canonical_pnc(text: str | None, *, today: dt.date | None = None) -> str | None:
    r"""The canonical ``YYYY/NNNNNNNC`` form of a PNC id, or None when it is not valid.

    Parameters
    ----------
    text : str or None
        The value as written: ``12/1234Z``, ``2012/0001234Z``, ``121234Z``...
    today : datetime.date, optional
        The date that decides the century of a two-digit year (default: today, UTC).

    Returns
    -------
    str or None
        ``YYYY/NNNNNNNC``, or None when the form, the year or the check letter is wrong.

    Notes
    -----
    The input must match ``\\d{2,4}/?\\d{1,7}[A-Z]``. A two-digit year YY means 20YY when
    YY is at most this year's YY, else 19YY. A three-digit year is not a year and fails; a
    four-digit one must lie between 1900 and this year. Without a slash, 10 or 11 digits are
    read as YYYY + serial, fewer as YY + serial. The check letter must equal
    ``"ZABCDEFGHJKLMNPQRTUVWXY"[int(YY + serial7) % 23]``.

    Examples
    --------
    >>> canonical_pnc("12/1234Y", today=dt.date(2026, 1, 1))
    '2012/0001234Y'
    >>> canonical_pnc("12/1234Z", today=dt.date(2026, 1, 1)) is None
    True
    """
    parts = _split_pnc(_norm(text))
    if parts is None:
        return None
    year_s, serial_s, letter = parts
    if len(serial_s) > 7:
        return None
    today = today or dt.datetime.now(dt.UTC).date()
    if len(year_s) == 2:
        yy = int(year_s)
        year = 2000 + yy if yy <= today.year % 100 else 1900 + yy
    elif len(year_s) == 4:
        year = int(year_s)
        if not 1900 <= year <= today.year:
            return None
    else:
        return None
    serial = int(serial_s)
    if pnc_check_letter(year, serial) != letter:
        return None
    return f"{year:04d}/{serial:07d}{letter}"
