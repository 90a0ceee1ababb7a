"""Subjects: cohort, monitoring windows and identifiers (SPEC §2, subjects).

Three layouts, told by their header:

- the generic subjects CSV ``subject_id, cohort, monitoring_start, monitoring_end[, crn]
  [, pnc_id][, nomis_id][, offender_manager]``;
- the EM datastore's **device activations** (``device_activation_id, device_activation_date,
  device_deactivation_date, person_id, device_id, device_serial_number``): one monitoring
  window per row, Athena times without a zone that are UTC by definition of the layout, a
  deactivation of ``2999-12-12 23:59:59`` meaning still active;
- the EM datastore's **caseload** (23 columns): identifiers and the offender manager of
  ``mdss_person_id``. Names, addresses and birth dates are dropped as the file is read: they
  never reach the accepted rows, the rejected rows or any message.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon.errors import InputError
from trailmon.io._csv import EXTRA_PREFIX, carried, column, read_csv_strings, time_column, utc_series
from trailmon.io._time import NAT, check_tz
from trailmon.io.identifiers import canonical_pnc, valid_crn, valid_nomis
from trailmon.io.quarantine import ReadResult, Rejector, RejectReason
from trailmon.report._columns import SUBJECT_INPUT

__all__ = ["COHORTS", "EM_CASELOAD_PERSONAL", "read_subjects"]

COHORTS = ("fixed", "flex", "free")
"""IOM cohorts; an empty cohort means ``free``."""

DEFAULT_COHORT = "free"

EM_STILL_ACTIVE = "2999-12-12"
"""Date prefix of an EM deactivation that means the device is still active."""

EM_CASELOAD_PERSONAL = frozenset({
    "first_name", "last_name", "date_of_birth", "house_number_and_street_name", "city_or_town", "county",
    "country", "postcode",
})
"""Caseload columns dropped at the door: names, addresses and birth dates are not needed."""

_GENERIC = {"subject_id", "cohort", "monitoring_start", "monitoring_end", "crn", "pnc_id", "nomis_id",
            "offender_manager"}
_ACTIVATIONS = {"device_activation_date", "device_deactivation_date", "person_id"}
_CASELOAD = {"mdss_person_id", "nomis_id", "pnc_id", "responsible_officer_name"}


def read_subjects(path: str | Path, *, tz: str | None = None, today: dt.date | None = None) -> ReadResult:
    """Read a subjects file: generic CSV, EM device activations or EM caseload.

    Parameters
    ----------
    path : str or Path
        The CSV file; its layout is told by its header.
    tz : str, optional
        IANA zone of generic timestamps written without an offset (``Europe/London``); the EM
        layouts are UTC by definition and ignore it.
    today : datetime.date, optional
        The date that decides the century of two-digit PNC years (default today, UTC).

    Returns
    -------
    ReadResult
        ``accepted`` has the columns ``SUBJECT_INPUT`` (``monitoring_start`` and
        ``monitoring_end`` as ``datetime64[ns, UTC]``, NaT when open or unknown; ``flags`` a
        ``;``-joined string), then ``row``, then the columns carried through. ``notes`` holds
        ``{"kind": "flag", "code": "BAD_IDENTIFIER", "rows": n}`` when identifiers were blanked.

    Raises
    ------
    InputError
        When the header matches none of the three layouts, or a required column is missing.
    TimezoneError
        When generic timestamps carry no offset and ``tz`` is None.

    Notes
    -----
    Rules, first broken wins: a row with the wrong number of fields is ``WRONG_COLUMN_COUNT``;
    an empty subject ``MISSING_SUBJECT``; a cohort other than fixed, flex or free
    ``BAD_COHORT`` (empty means free in the generic layout; the EM layouts leave it empty so
    that a generic file's cohort wins); a timestamp that does not parse ``BAD_TIMESTAMP``
    (``NO_TIMEZONE`` for a stray zone-less one); ``monitoring_end < monitoring_start``
    ``BAD_WINDOW``. An empty monitoring start or end is open (NaT). An invalid CRN, NOMIS
    number or PNC id blanks that field and adds ``BAD_IDENTIFIER`` to the row's flags; the
    row is accepted. PNC ids are written in their canonical form ``YYYY/NNNNNNNC``.
    """
    check_tz(tz)
    table = read_csv_strings(path)
    names = {h.lower() for h in table.header or []}
    if "subject_id" in names:
        layout = "generic"
    elif _ACTIVATIONS <= names:
        layout = "em_activations"
    elif "mdss_person_id" in names:
        layout = "em_caseload"
    else:
        raise _layout_error(path, table.header)
    frame = table.frame
    if layout == "em_caseload":
        personal = [c for c in frame.columns if str(c).lower() in EM_CASELOAD_PERSONAL]
        frame = frame.drop(columns=personal)
        ragged = table.ragged
        if ragged.any():  # shifted fields may hold personal data: keep none of a ragged row's values
            frame = frame.astype(object)
            frame.loc[ragged, :] = None
    else:
        ragged = table.ragged
    n = len(frame)
    rej = Rejector(frame, path, table.row)
    rej.reject(ragged, RejectReason.WRONG_COLUMN_COUNT,
               f"expected {table.n_columns} fields as in the header")
    extra_cols = [c for c in frame.columns if str(c).startswith(EXTRA_PREFIX)]
    if extra_cols:
        frame = frame.drop(columns=extra_cols)
    start_ns = np.full(n, NAT, dtype=np.int64)
    end_ns = np.full(n, NAT, dtype=np.int64)
    empty = np.full(n, "", dtype=object)
    if layout == "generic":
        subject = column(frame, "subject_id")
        cohort = np.asarray([c.lower() for c in column(frame, "cohort")], dtype=object)
        rej.reject(subject == "", RejectReason.MISSING_SUBJECT, "subject_id is empty")
        bad_cohort = ~np.isin(cohort, [*COHORTS, ""])
        rej.reject(bad_cohort, RejectReason.BAD_COHORT, "cohort must be one of fixed, flex, free")
        cohort[cohort == ""] = DEFAULT_COHORT
        for name, out in (("monitoring_start", start_ns), ("monitoring_end", end_ns)):
            time_column(frame, name, tz, rej, out)
        crn, pnc, nomis = column(frame, "crn"), column(frame, "pnc_id"), column(frame, "nomis_id")
        manager = column(frame, "offender_manager")
        used = _GENERIC
    elif layout == "em_activations":
        subject = column(frame, "person_id")
        cohort = empty.copy()
        rej.reject(subject == "", RejectReason.MISSING_SUBJECT, "person_id is empty")
        time_column(frame, "device_activation_date", "UTC", rej, start_ns, required=True)
        deact = column(frame, "device_deactivation_date")
        active = np.asarray([v.startswith(EM_STILL_ACTIVE) for v in deact], dtype=bool)
        time_column(frame, "device_deactivation_date", "UTC", rej, end_ns, skip=active)
        crn, pnc, nomis, manager = empty.copy(), empty.copy(), empty.copy(), empty.copy()
        used = _ACTIVATIONS | {"device_activation_date"}
    else:
        subject = column(frame, "mdss_person_id")
        cohort = empty.copy()
        rej.reject(subject == "", RejectReason.MISSING_SUBJECT, "mdss_person_id is empty")
        crn = empty.copy()
        pnc, nomis = column(frame, "pnc_id"), column(frame, "nomis_id")
        manager = column(frame, "responsible_officer_name")
        used = _CASELOAD
    both = (start_ns != NAT) & (end_ns != NAT)
    rej.reject(both & (end_ns < start_ns), RejectReason.BAD_WINDOW,
               "the monitoring end is before its start")
    ok = rej.ok
    crn, pnc, nomis, flagged = check_identifiers(crn, pnc, nomis, today=today)
    flagged &= ok
    flags = np.where(flagged, RejectReason.BAD_IDENTIFIER.value, "").astype(object)
    accepted = pd.DataFrame({
        "subject_id": subject[ok], "cohort": cohort[ok],
        "monitoring_start": utc_series(start_ns[ok]), "monitoring_end": utc_series(end_ns[ok]),
        "crn": crn[ok], "pnc_id": pnc[ok], "nomis_id": nomis[ok], "offender_manager": manager[ok],
        "flags": flags[ok],
    }, columns=SUBJECT_INPUT)
    accepted["row"] = table.row[ok]
    if layout == "em_activations":  # the device of the monitoring window, by its trailmon names
        accepted["device_id"] = column(frame, "device_id")[ok]
        accepted["device_serial"] = column(frame, "device_serial_number")[ok]
        used = used | {"device_id", "device_serial_number"}
    extras = carried(frame, used)
    for c in extras.columns:
        if c not in accepted.columns:
            accepted[c] = extras[c].to_numpy(dtype=object)[ok]
    notes = []
    if flagged.any():
        notes.append({"kind": "flag", "code": RejectReason.BAD_IDENTIFIER.value, "rows": int(flagged.sum()),
                      "detail": "invalid CRN, NOMIS number or PNC id blanked"})
    info = {"layout": layout, "tz": "UTC" if layout != "generic" else tz, "encoding": table.encoding}
    return ReadResult(accepted, rej.rejected_frame(), n, [str(path)], notes, info)


def _layout_error(path: str | Path, header: list[str] | None) -> InputError:
    return InputError(
        f"{str(path)!r} is not a subjects file: its header {header!r} names none of subject_id "
        "(generic layout), device_activation_date + person_id (EM device activations) or "
        "mdss_person_id (EM caseload)"
    )


def check_identifiers(crn: np.ndarray, pnc: np.ndarray, nomis: np.ndarray, *,
                      today: dt.date | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate identifier columns: blank invalid values, canonicalise PNC ids.

    Parameters
    ----------
    crn, pnc, nomis : ndarray of str, shape (n_row,)
        Stripped values; "" where absent.
    today : datetime.date, optional
        Decides the century of two-digit PNC years.

    Returns
    -------
    crn, pnc, nomis : ndarray of str, shape (n_row,)
        Upper-case values, PNC ids canonical; "" where absent or invalid.
    flagged : ndarray of bool, shape (n_row,)
        Rows where some present identifier was invalid.
    """
    flagged = np.zeros(len(crn), dtype=bool)
    out = []
    for vals, check in ((crn, lambda v: v.upper() if valid_crn(v) else None),
                        (pnc, lambda v: canonical_pnc(v, today=today)),
                        (nomis, lambda v: v.upper() if valid_nomis(v) else None)):
        cache: dict[str, str | None] = {}
        res = np.empty(len(vals), dtype=object)
        for i, v in enumerate(vals):
            if v == "":
                res[i] = ""
                continue
            if v not in cache:
                cache[v] = check(v)
            got = cache[v]
            if got is None:
                flagged[i] = True
                res[i] = ""
            else:
                res[i] = got
        out.append(res)
    return out[0], out[1], out[2], flagged
