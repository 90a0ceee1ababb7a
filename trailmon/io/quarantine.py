"""Rejected rows and their reason codes: nothing read is ever lost.

Every reader returns a :class:`ReadResult` whose ``accepted`` and ``rejected`` frames add up
to the rows read. A rejected row keeps the file, its 1-based data-row number (the first row
after any header is 1), the reason code, a one-line detail and the original values as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["REJECTED_COLUMNS", "ReadResult", "RejectReason", "Rejector", "concat_results"]


class RejectReason(StrEnum):
    """Every reason a row can be rejected or a file flagged, for every input (SPEC §2)."""

    # trails
    MISSING_SUBJECT = "MISSING_SUBJECT"
    BAD_TIMESTAMP = "BAD_TIMESTAMP"
    NO_TIMEZONE = "NO_TIMEZONE"
    BAD_COORDINATE = "BAD_COORDINATE"
    OUTSIDE_GRID = "OUTSIDE_GRID"
    BAD_ACCURACY = "BAD_ACCURACY"
    BAD_FIX_TYPE = "BAD_FIX_TYPE"
    BAD_SPEED = "BAD_SPEED"
    BAD_HEADING = "BAD_HEADING"
    WRONG_COLUMN_COUNT = "WRONG_COLUMN_COUNT"
    DUPLICATE = "DUPLICATE"
    CONFLICTING_DUPLICATE = "CONFLICTING_DUPLICATE"
    # subjects
    BAD_COHORT = "BAD_COHORT"
    BAD_WINDOW = "BAD_WINDOW"
    BAD_IDENTIFIER = "BAD_IDENTIFIER"  # a flag: the field is blanked, the row kept
    # crimes (generic and police.uk)
    MISSING_CRIME_REF = "MISSING_CRIME_REF"
    MISSING_OFFENCE = "MISSING_OFFENCE"
    BAD_RADIUS = "BAD_RADIUS"
    BAD_WINDOW_ORDER = "BAD_WINDOW_ORDER"
    # crime-mapping request CSV (MoJ codes, in the order their rules apply)
    INVALID_COLUMN_COUNT = "INVALID_COLUMN_COUNT"
    INVALID_POLICE_FORCE = "INVALID_POLICE_FORCE"
    INVALID_CRIME_TYPE = "INVALID_CRIME_TYPE"
    MISSING_BATCH_ID = "MISSING_BATCH_ID"
    INVALID_BATCH_ID_FORMAT = "INVALID_BATCH_ID_FORMAT"
    INVALID_BATCH_ID_DATE = "INVALID_BATCH_ID_DATE"
    MISSING_CRIME_REFERENCE = "MISSING_CRIME_REFERENCE"
    INVALID_FROM_DATE_FORMAT = "INVALID_FROM_DATE_FORMAT"
    INVALID_TO_DATE_FORMAT = "INVALID_TO_DATE_FORMAT"
    CRIME_DATE_TIME_TO_AFTER_FROM = "CRIME_DATE_TIME_TO_AFTER_FROM"
    CRIME_DATE_TIME_EXCEEDS_WINDOW = "CRIME_DATE_TIME_EXCEEDS_WINDOW"
    INVALID_LOCATION_DATA_RANGE = "INVALID_LOCATION_DATA_RANGE"
    MISSING_LOCATION_DATA = "MISSING_LOCATION_DATA"
    DEPENDENT_LOCATION_DATA = "DEPENDENT_LOCATION_DATA"
    MULTIPLE_LOCATION_DATA_TYPES = "MULTIPLE_LOCATION_DATA_TYPES"
    INVALID_NUMBER = "INVALID_NUMBER"
    INVALID_TEXT = "INVALID_TEXT"
    # crime-mapping file-level notes
    MULTIPLE_POLICE_FORCES = "MULTIPLE_POLICE_FORCES"
    MULTIPLE_BATCH_IDS = "MULTIPLE_BATCH_IDS"
    ALL_RECORDS_FAILED = "ALL_RECORDS_FAILED"
    # appointments and zones
    MISSING_ID = "MISSING_ID"
    BAD_GEOFENCE = "BAD_GEOFENCE"
    BAD_ZONE_KIND = "BAD_ZONE_KIND"
    BAD_DAILY_TIME = "BAD_DAILY_TIME"


REASON_TEXT: dict[RejectReason, tuple[str, str]] = {
    RejectReason.MISSING_SUBJECT: ("trails", "no subject id"),
    RejectReason.BAD_TIMESTAMP: ("all", "a time that is missing or not ISO 8601 (or not the layout's format)"),
    RejectReason.NO_TIMEZONE: ("trails", "a zone-less time among times with an offset"),
    RejectReason.BAD_COORDINATE: ("trails, crimes, geofences",
                                  "coordinates missing, unparseable, out of range or unpaired"),
    RejectReason.OUTSIDE_GRID: ("trails", "outside OSTN15 coverage in a British National Grid store"),
    RejectReason.BAD_ACCURACY: ("trails", "accuracy present but not a positive number of metres"),
    RejectReason.BAD_FIX_TYPE: ("trails", "fix type not gps, lbs, wifi or rf (EM: position_lbs not 1, 4, 5, 6)"),
    RejectReason.BAD_SPEED: ("trails", "speed present but not a number"),
    RejectReason.BAD_HEADING: ("trails", "heading present but not a number"),
    RejectReason.WRONG_COLUMN_COUNT: ("all CSV", "a row with more or fewer fields than the header"),
    RejectReason.DUPLICATE: ("trails, crimes", "an identical copy of an earlier row of the same file"),
    RejectReason.CONFLICTING_DUPLICATE: ("trails", "same subject and instant, another position: the less "
                                                   "accurate one (or the one conflicting with the store)"),
    RejectReason.BAD_COHORT: ("subjects", "cohort not fixed, flex or free"),
    RejectReason.BAD_WINDOW: ("subjects, appointments, zones", "an end before the start"),
    RejectReason.BAD_IDENTIFIER: ("subjects (flag)", "an invalid CRN, NOMIS or PNC: the field is blanked, "
                                                      "the row kept"),
    RejectReason.MISSING_CRIME_REF: ("crimes", "no crime reference"),
    RejectReason.MISSING_OFFENCE: ("crimes", "no offence"),
    RejectReason.BAD_RADIUS: ("crimes, geofences", "a radius present but not a positive number of metres"),
    RejectReason.BAD_WINDOW_ORDER: ("crimes", "committed_to before committed_from"),
    RejectReason.INVALID_COLUMN_COUNT: ("crime-mapping", "not exactly 13 columns"),
    RejectReason.INVALID_POLICE_FORCE: ("crime-mapping", "not the name of one of the 19 pilot forces"),
    RejectReason.INVALID_CRIME_TYPE: ("crime-mapping", "not RB, BIAD, AB, BOTD, TOMV, TFP or TFMV"),
    RejectReason.MISSING_BATCH_ID: ("crime-mapping", "no batch id"),
    RejectReason.INVALID_BATCH_ID_FORMAT: ("crime-mapping", "batch id not <force code>yyyyMMdd[-n][-R|-A]"),
    RejectReason.INVALID_BATCH_ID_DATE: ("crime-mapping", "batch id date is not a real date"),
    RejectReason.MISSING_CRIME_REFERENCE: ("crime-mapping", "no crime reference"),
    RejectReason.INVALID_FROM_DATE_FORMAT: ("crime-mapping", "crimeDateTimeFrom not yyyyMMddHHmmss"),
    RejectReason.INVALID_TO_DATE_FORMAT: ("crime-mapping", "crimeDateTimeTo not yyyyMMddHHmmss"),
    RejectReason.CRIME_DATE_TIME_TO_AFTER_FROM: ("crime-mapping", "To before From"),
    RejectReason.CRIME_DATE_TIME_EXCEEDS_WINDOW: ("crime-mapping", "To - From longer than 12 h"),
    RejectReason.INVALID_LOCATION_DATA_RANGE: ("crime-mapping", "easting/northing or lat/lon out of range"),
    RejectReason.MISSING_LOCATION_DATA: ("crime-mapping, police.uk", "no location (or the datum names no pair)"),
    RejectReason.DEPENDENT_LOCATION_DATA: ("crime-mapping", "a coordinate without its partner"),
    RejectReason.MULTIPLE_LOCATION_DATA_TYPES: ("crime-mapping", "both easting/northing and lat/lon"),
    RejectReason.INVALID_NUMBER: ("crime-mapping", "a number that does not parse"),
    RejectReason.INVALID_TEXT: ("crime-mapping", "text with control characters"),
    RejectReason.MULTIPLE_POLICE_FORCES: ("crime-mapping (file)", "more than one force in a file: reported"),
    RejectReason.MULTIPLE_BATCH_IDS: ("crime-mapping (file)", "more than one batch in a file: kept apart"),
    RejectReason.ALL_RECORDS_FAILED: ("crime-mapping (file)", "every row of the file failed"),
    RejectReason.MISSING_ID: ("appointments, zones", "no appointment / zone id or subject"),
    RejectReason.BAD_GEOFENCE: ("appointments, zones", "no usable circle or WGS84 polygon (or both given)"),
    RejectReason.BAD_ZONE_KIND: ("zones", "kind not exclusion or inclusion"),
    RejectReason.BAD_DAILY_TIME: ("zones", "daily_start / daily_end not HH:MM, or only one of them"),
}
"""Where each code applies and what it means: the one table of reject reasons (README too)."""


REQUIRED_ACTION: dict[RejectReason, str] = {
    RejectReason.MISSING_SUBJECT: "give every row the subject (person) id and send the rows again",
    RejectReason.BAD_TIMESTAMP: "send the time as ISO 8601 with an offset or Z (crime-mapping: yyyyMMddHHmmss)",
    RejectReason.NO_TIMEZONE: "give every time of the file an offset or Z, as the other rows have",
    RejectReason.BAD_COORDINATE: "send lat and lon (or easting and northing) as a pair of numbers in range",
    RejectReason.OUTSIDE_GRID: "check the position: it lies outside Great Britain (OSTN15 coverage)",
    RejectReason.BAD_ACCURACY: "send the accuracy as a positive number of metres, or leave it empty",
    RejectReason.BAD_FIX_TYPE: "send the fix type as gps, lbs, wifi or rf (EM position_lbs 1, 4, 5 or 6)",
    RejectReason.BAD_SPEED: "send the speed as a number, or leave it empty",
    RejectReason.BAD_HEADING: "send the heading as a number of degrees, or leave it empty",
    RejectReason.WRONG_COLUMN_COUNT: "send the row with exactly as many fields as the header, quoting commas",
    RejectReason.DUPLICATE: "none: the row repeats an earlier row of the same file and was kept once",
    RejectReason.CONFLICTING_DUPLICATE: "check the device's positions: two positions were sent for one instant",
    RejectReason.BAD_COHORT: "send the cohort as fixed, flex or free (or leave it empty for free)",
    RejectReason.BAD_WINDOW: "send an end that is not before the start",
    RejectReason.BAD_IDENTIFIER: "correct the CRN, NOMIS number or PNC id; the row was kept without it",
    RejectReason.MISSING_CRIME_REF: "give the crime reference and send the row again",
    RejectReason.MISSING_OFFENCE: "give the offence and send the row again",
    RejectReason.BAD_RADIUS: "send the radius as a positive number of metres, or leave it empty",
    RejectReason.BAD_WINDOW_ORDER: "send committed_to at or after committed_from",
    RejectReason.INVALID_COLUMN_COUNT: "send the row with exactly the 13 columns of the crime-mapping layout",
    RejectReason.INVALID_POLICE_FORCE: "send the police force as the name of one of the 19 pilot forces",
    RejectReason.INVALID_CRIME_TYPE: "send the crime type as RB, BIAD, AB, BOTD, TOMV, TFP or TFMV",
    RejectReason.MISSING_BATCH_ID: "give the batch id (<force code>yyyyMMdd) and send the row again",
    RejectReason.INVALID_BATCH_ID_FORMAT: "send the batch id as <force code>yyyyMMdd, then optionally -n and -R or -A",
    RejectReason.INVALID_BATCH_ID_DATE: "send the batch id with a real date (yyyyMMdd)",
    RejectReason.MISSING_CRIME_REFERENCE: "give the crime reference and send the row again",
    RejectReason.INVALID_FROM_DATE_FORMAT: "send the crime window start as yyyyMMddHHmmss",
    RejectReason.INVALID_TO_DATE_FORMAT: "send the crime window end as yyyyMMddHHmmss",
    RejectReason.CRIME_DATE_TIME_TO_AFTER_FROM: "send crimeDateTimeTo at or after crimeDateTimeFrom",
    RejectReason.CRIME_DATE_TIME_EXCEEDS_WINDOW: "send a crime window of at most 12 hours",
    RejectReason.INVALID_LOCATION_DATA_RANGE: "send easting/northing or lat/lon inside Great Britain",
    RejectReason.MISSING_LOCATION_DATA: "give the location as easting and northing or as lat and lon",
    RejectReason.DEPENDENT_LOCATION_DATA: "send both coordinates of the pair, not one",
    RejectReason.MULTIPLE_LOCATION_DATA_TYPES: "send either easting/northing or lat/lon, not both",
    RejectReason.INVALID_NUMBER: "send the number in plain digits (a dot for decimals)",
    RejectReason.INVALID_TEXT: "remove the control characters from the text and send the row again",
    RejectReason.MULTIPLE_POLICE_FORCES: "send one file per police force",
    RejectReason.MULTIPLE_BATCH_IDS: "send one file per batch",
    RejectReason.ALL_RECORDS_FAILED: "correct the rows as the errors say and send the file again",
    RejectReason.MISSING_ID: "give the appointment or zone id and the subject id and send the row again",
    RejectReason.BAD_GEOFENCE: "give either a circle (centre and radius) or a WGS84 polygon, not both",
    RejectReason.BAD_ZONE_KIND: "send the zone kind as exclusion or inclusion",
    RejectReason.BAD_DAILY_TIME: "send both daily_start and daily_end as HH:MM, or neither",
}
"""What the sender of a file must do about each code (the ``required_action`` of an ingestion receipt)."""


def reasons_markdown() -> str:
    """The reject-code table as Markdown (the README's copy is checked against it)."""
    lines = ["| code | input | meaning | required action |", "|---|---|---|---|"]
    lines += [f"| `{r.value}` | {where} | {text} | {REQUIRED_ACTION[r]} |" for r, (where, text) in REASON_TEXT.items()]
    return "\n".join(lines)


REJECTED_COLUMNS = ["file", "row", "reason", "detail", "values"]


@dataclass
class ReadResult:
    """Rows a reader accepted and rejected.

    Attributes
    ----------
    accepted : pandas.DataFrame
        Validated rows in the reader's canonical columns (plus extra columns carried through).
    rejected : pandas.DataFrame
        Columns ``file, row, reason, detail, values`` (values: the original row as JSON).
    n_read : int
        Data rows read; always ``len(accepted) + len(rejected)``.
    files : list of str
        The files read.
    notes : list of dict
        File-level findings (e.g. ``MULTIPLE_BATCH_IDS``) and flags (``BAD_IDENTIFIER``).
    info : dict
        Anything provenance needs (transformation used, time zone assumed).
    """

    accepted: pd.DataFrame
    rejected: pd.DataFrame
    n_read: int
    files: list[str] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.accepted) + len(self.rejected) != self.n_read:
            raise AssertionError(  # an internal invariant, never user input
                f"read {self.n_read} rows but accepted {len(self.accepted)} + rejected {len(self.rejected)}"
            )

    @property
    def rejected_by_reason(self) -> dict[str, int]:
        """Count of rejected rows per reason code."""
        if self.rejected.empty:
            return {}
        return {str(k): int(v) for k, v in self.rejected["reason"].value_counts().sort_index().items()}

    @property
    def n_accepted(self) -> int:
        """Rows accepted (``len(accepted)``)."""
        return len(self.accepted)

    @property
    def n_flagged(self) -> int:
        """Accepted rows that carry a flag (e.g. ``BAD_IDENTIFIER``)."""
        return int(sum(n.get("rows", 0) for n in self.notes if n.get("kind") == "flag"))


def empty_rejected() -> pd.DataFrame:
    """A rejected frame with no rows."""
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == "row" else object) for c in REJECTED_COLUMNS})


class Rejector:
    """Vectorised first-rule-wins rejection over a frame of raw string values.

    Rules are applied in the order they are called; a row keeps the reason of the first rule
    it breaks (the crime-mapping table's order, for instance).

    Parameters
    ----------
    raw : pandas.DataFrame
        The rows as read (strings), in file order.
    file : str or Path
        The file they came from.
    row_numbers : array of int, optional
        1-based data-row numbers; default ``1..len(raw)``.
    """

    def __init__(self, raw: pd.DataFrame, file: str | Path, row_numbers: np.ndarray | None = None) -> None:
        self.raw = raw
        self.file = str(file)
        n = len(raw)
        self.rows = np.arange(1, n + 1, dtype=np.int64) if row_numbers is None else np.asarray(row_numbers)
        self._n = n
        self._reason: np.ndarray | None = None  # made on the first rejection: most files reject nothing
        self._detail: np.ndarray | None = None

    @property
    def reason(self) -> np.ndarray:
        """Reason code of each row (object array; None where not rejected)."""
        if self._reason is None:
            self._reason = np.full(self._n, None, dtype=object)
        return self._reason

    @reason.setter
    def reason(self, value: np.ndarray) -> None:
        self._reason = value

    @property
    def detail(self) -> np.ndarray:
        """Detail of each rejected row (object array; None where not rejected)."""
        if self._detail is None:
            self._detail = np.full(self._n, None, dtype=object)
        return self._detail

    @detail.setter
    def detail(self, value: np.ndarray) -> None:
        self._detail = value

    @property
    def any_rejected(self) -> bool:
        """Whether some row has been rejected."""
        return self._reason is not None and not bool(np.equal(self._reason, None).all())

    @property
    def ok(self) -> np.ndarray:
        """Rows not rejected so far."""
        if self._reason is None:
            return np.ones(self._n, dtype=bool)
        return np.equal(self._reason, None)

    def reject(self, mask: np.ndarray, reason: RejectReason, detail: str | np.ndarray = "") -> None:
        """Reject the rows in ``mask`` that no earlier rule rejected."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():  # the common case: skip the O(n) object comparison in ``ok``
            return
        mask = mask & self.ok
        self.reason[mask] = reason.value
        self.detail[mask] = detail[mask] if isinstance(detail, np.ndarray) else detail

    def rejected_frame(self) -> pd.DataFrame:
        """The rejected rows with their original values as JSON."""
        bad = ~self.ok
        if not bad.any():
            return empty_rejected()
        raw = self.raw.loc[bad] if isinstance(self.raw.index, pd.RangeIndex) else self.raw[bad]
        values = [json.dumps({str(k): (None if _isna(v) else str(v)) for k, v in rec.items()}, ensure_ascii=False)
                  for rec in raw.to_dict("records")]
        return pd.DataFrame({
            "file": self.file, "row": self.rows[bad], "reason": self.reason[bad],
            "detail": self.detail[bad], "values": values,
        })


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def rejected_rows(file: str | Path, rows: np.ndarray, reason: RejectReason, detail: str,
                  values: list[dict]) -> pd.DataFrame:
    """A rejected frame built row by row (for readers of XML and other non-tabular files)."""
    return pd.DataFrame({
        "file": str(file), "row": np.asarray(rows, dtype=np.int64), "reason": reason.value, "detail": detail,
        "values": [json.dumps(v, ensure_ascii=False, default=str) for v in values],
    }) if len(rows) else empty_rejected()


def concat_results(results: list[ReadResult]) -> ReadResult:
    """Combine the results of several files into one."""
    if not results:
        return ReadResult(pd.DataFrame(), empty_rejected(), 0)
    acc = [r.accepted for r in results if len(r.accepted)]
    rej = [r.rejected for r in results if len(r.rejected)]
    accepted = pd.concat(acc, ignore_index=True) if acc else results[0].accepted.iloc[0:0]
    rejected = pd.concat(rej, ignore_index=True) if rej else empty_rejected()
    info: dict = {}
    for r in results:
        info.update(r.info)
    return ReadResult(accepted, rejected, sum(r.n_read for r in results),
                      [f for r in results for f in r.files], [n for r in results for n in r.notes], info)
