"""Every metric of the cohort report and the supervision pack, defined once (name, definition, unit).

:data:`METRICS` is the one table: the computations in :mod:`trailmon.report.cohort` and
:mod:`trailmon.report.subject_pack` produce exactly these columns (tested), the HTML pages print
the table, and ``metrics.csv`` is written beside the cohort CSVs. Periods are local calendar
days, ISO weeks (Monday start) and calendar months in :data:`REPORT_TZ`.

``no_data`` is never a missed appointment and never compliance: it is counted in its own column,
and it is left out of the denominator of :data:`ATTENDED_STATUSES` / ``missed_share`` (so is
``not_monitored``). A zone's ``no_data`` spell is neither a breach nor compliance.
"""

from __future__ import annotations

from typing import NamedTuple

import pandas as pd

__all__ = [
    "APPOINTMENT_STATUSES",
    "ATTENDED_STATUSES",
    "CRIME_GROUPS",
    "GAP_BANDS",
    "JUDGED_STATUSES",
    "METRICS",
    "REPORT_TZ",
    "Metric",
    "metric_columns",
    "metrics_frame",
]

REPORT_TZ = "Europe/London"
"""Zone of the report's days, ISO weeks (Monday start) and calendar months."""

APPOINTMENT_STATUSES = (
    "attended",
    "late",
    "left_early",
    "partial",
    "not_attended",
    "no_data",
    "not_monitored",
)
"""Attendance statuses of SPEC §3, in report order."""

JUDGED_STATUSES = ("attended", "late", "left_early", "partial", "not_attended")
"""Statuses GPS can support: ``no_data`` and ``not_monitored`` are not judged (neither missed nor kept)."""

ATTENDED_STATUSES = ("attended", "late", "left_early", "partial")
"""Statuses with time inside the venue."""

GAP_BANDS: tuple[tuple[str, float, float], ...] = (
    ("gaps_lt_10min", 0.0, 600.0),
    ("gaps_10_60min", 600.0, 3600.0),
    ("gaps_gt_60min", 3600.0, float("inf")),
)
"""Gap length bands ``(column, low_s, high_s)``: a gap of length L falls in the band with low <= L < high."""

CRIME_GROUPS = ("robbery", "burglary", "vehicle", "theft_from_person", "other")
"""SPEC §1 neighbourhood-crime groups (:func:`trailmon.io.crimes.offence_group`), plus ``other``."""


class Metric(NamedTuple):
    """One metric: its column name, what it counts, its unit and the tables that carry it."""

    name: str
    definition: str
    unit: str
    tables: str


_PERIOD = "the period row (local day, ISO week or calendar month, clipped to the report's --from/--to)"
METRICS: tuple[Metric, ...] = (
    Metric("group_by", "What the row groups by: cohort, offender_manager or all.", "text", "cohort"),
    Metric(
        "group",
        "The cohort (fixed / flex / free; free when no subjects file says), the offender manager "
        "('(not recorded)' when none), or 'all'.",
        "text",
        "cohort",
    ),
    Metric(
        "period", "day, week (ISO, Monday start) or month, in Europe/London local time.", "text", "cohort"
    ),
    Metric("period_label", "YYYY-MM-DD (day), YYYY-Www (ISO week) or YYYY-MM (month).", "text", "cohort"),
    Metric("period_start", "Local start of the period (ISO 8601 with offset).", "time", "cohort"),
    Metric(
        "subjects_monitored",
        "Subjects with monitored time in " + _PERIOD + ". Monitored = inside a monitoring window; a "
        "subject with fixes but no known window counts as monitored over the whole report period "
        "(SPEC §5, flagged monitoring_window_unknown).",
        "subjects",
        "cohort",
    ),
    Metric(
        "monitored_days",
        "Subject-days: local calendar days with monitored time > 0, summed over subjects.",
        "subject-days",
        "cohort, daily",
    ),
    Metric("monitored_s", "Monitored time in the period, summed over subjects.", "seconds", "cohort, daily"),
    Metric(
        "known_s",
        "Monitored time with a known position (SPEC §3 trail model: interpolated between fixes at most "
        "max_gap apart, or within 60 s of a fix), computed with the shared coverage kernels.",
        "seconds",
        "cohort, daily",
    ),
    Metric(
        "coverage",
        "known_s / monitored_s; empty when nothing was monitored.",
        "fraction 0-1",
        "cohort, daily",
    ),
    Metric(
        "gaps_lt_10min",
        "Gaps shorter than 10 min. A gap is a maximal spell of monitored time with no known position; "
        "it is counted once, in the period where it starts, by its whole length.",
        "gaps",
        "cohort, daily",
    ),
    Metric("gaps_10_60min", "Gaps of 10 min to under 60 min (as gaps_lt_10min).", "gaps", "cohort, daily"),
    Metric("gaps_gt_60min", "Gaps of 60 min or longer (as gaps_lt_10min).", "gaps", "cohort, daily"),
    Metric("n_fixes", "Stored fixes inside the monitoring windows in the period.", "fixes", "cohort, daily"),
    Metric(
        "lbs_share", "Fixes of type lbs / n_fixes; empty when n_fixes is 0.", "fraction 0-1", "cohort, daily"
    ),
    Metric(
        "appointments",
        "Appointment outcomes in the case store whose appointment starts in the period.",
        "appointments",
        "cohort, daily",
    ),
    *(
        Metric(
            f"appt_{s}",
            f"Appointments with status {s} (SPEC §3)."
            + (" Never counted as missed or as attended." if s in ("no_data", "not_monitored") else ""),
            "appointments",
            "cohort, daily",
        )
        for s in APPOINTMENT_STATUSES
    ),
    Metric(
        "appointments_judged",
        "appt_attended + appt_late + appt_left_early + appt_partial + appt_not_attended "
        "(no_data and not_monitored left out).",
        "appointments",
        "cohort",
    ),
    Metric(
        "attended_share",
        "appt_attended / appointments_judged; empty when none judged. GPS alone never decides "
        "acceptable or unacceptable absence.",
        "fraction 0-1",
        "cohort",
    ),
    Metric(
        "missed_share",
        "appt_not_attended / appointments_judged (no_data is not missed); empty when none judged.",
        "fraction 0-1",
        "cohort",
    ),
    Metric(
        "zone_breaches",
        "Zone events that are breaches and start in the period: visits to exclusion zones and "
        "absences from inclusion (curfew) zones.",
        "events",
        "cohort, daily",
    ),
    Metric("zone_breach_s", "Total duration of those breaches.", "seconds", "cohort, daily"),
    Metric(
        "zone_no_data",
        "Zone no_data spells (position unknown while a zone was active) starting in the period: "
        "neither a breach nor compliance.",
        "events",
        "cohort, daily",
    ),
    Metric("zone_no_data_s", "Total duration of those no_data spells.", "seconds", "cohort, daily"),
    Metric(
        "hits_pending",
        "Proximity hits awaiting review whose crime window starts in the period (clipped to --from).",
        "hits",
        "cohort, hits",
    ),
    Metric("hits_qualified", "Hits qualified by a reviewer (as hits_pending).", "hits", "cohort, hits"),
    Metric("hits_rejected", "Hits rejected by a reviewer (as hits_pending).", "hits", "cohort, hits"),
    Metric(
        "crimes_matched",
        "Distinct crime versions (force, crime_ref, crime_version) with at least one hit of the "
        "group's subjects, any review state (so 'all' is not the sum of the cohorts).",
        "crimes",
        "cohort, hits",
    ),
    Metric(
        "crime_group",
        "SPEC §1 group of the crime's offence: robbery, burglary, vehicle, theft_from_person, or other.",
        "text",
        "hits",
    ),
)
"""The metric table: every column of the cohort and per-day tables, defined once."""

_BY_NAME = {m.name: m for m in METRICS}


def metric_columns(table: str) -> list[str]:
    """The columns of one table (``"cohort"``, ``"daily"`` or ``"hits"``), in :data:`METRICS` order.

    Parameters
    ----------
    table : {"cohort", "daily", "hits"}
        The table.

    Returns
    -------
    list of str
        Column names.

    Raises
    ------
    ValueError
        For an unknown table name.

    Examples
    --------
    >>> metric_columns("hits")[:3]
    ['group_by', 'group', 'period']
    """
    if table not in ("cohort", "daily", "hits"):
        raise ValueError(f"table must be one of 'cohort', 'daily', 'hits', got {table!r}")
    lead = {
        "cohort": ["group_by", "group", "period", "period_label", "period_start"],
        "daily": ["subject_id", "period_label", "period_start"],
        "hits": ["group_by", "group", "period", "period_label", "period_start", "crime_group"],
    }[table]
    rest = [
        m.name for m in METRICS if m.name not in lead and table in [t.strip() for t in m.tables.split(",")]
    ]
    if table == "hits":
        rest = [c for c in rest if c != "crime_group"]
    return lead + rest


def metrics_frame() -> pd.DataFrame:
    """:data:`METRICS` as a frame with columns ``name, definition, unit, tables``."""
    return pd.DataFrame(list(METRICS), columns=list(Metric._fields)).astype(object)


def definition(name: str) -> Metric:
    """The :class:`Metric` called ``name``; :class:`KeyError` naming the known metrics otherwise."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no metric {name!r}; known: {', '.join(_BY_NAME)}") from None
