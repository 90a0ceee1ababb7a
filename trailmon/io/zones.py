"""Zones: exclusion and inclusion (curfew) geofences with their active periods (SPEC §2, zones).

``zone_id, subject_id, kind (exclusion|inclusion), geofence, active_from, active_to
[, daily_start, daily_end]``; the geofence as in appointments (a circle ``lat, lon, radius_m``
or ``geofence_wkt``). ``daily_start`` / ``daily_end`` are local wall-clock ``HH:MM`` times
kept as text: the matcher lays them out in its zone (default Europe/London), where a
``daily_end`` at or before ``daily_start`` ends the next day (a 19:00-07:00 curfew).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from trailmon.crs import BNG, StoreCRS
from trailmon.errors import InputError
from trailmon.io._csv import EXTRA_PREFIX, carried, column, find_column, read_csv_strings, time_column, utc_series
from trailmon.io._time import NAT, check_tz
from trailmon.io.appointments import apply_geofence_reasons
from trailmon.io.geofence import geofences_from_columns
from trailmon.io.quarantine import ReadResult, Rejector, RejectReason
from trailmon.report._columns import ZONE_INPUT

__all__ = ["ZONE_KINDS", "read_zones"]

ZONE_KINDS = ("exclusion", "inclusion")
"""Kinds of zone: keep out (exclusion) or stay in (inclusion, e.g. a curfew at home)."""

_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
_USED = {"zone_id", "subject_id", "kind", "active_from", "active_to", "daily_start", "daily_end", "lat", "lon",
         "radius_m", "geofence_wkt"}


def read_zones(
    path: str | Path,
    *,
    crs: StoreCRS | None = None,
    tz: str | None = None,
) -> ReadResult:
    """Read a zones CSV.

    Parameters
    ----------
    path : str or Path
        The CSV file.
    crs : StoreCRS, optional
        The store's projected CRS (default British National Grid, EPSG:27700, with OSTN15).
    tz : str, optional
        IANA zone of active_from/active_to values written without an offset.

    Returns
    -------
    ReadResult
        ``accepted``: the columns ``ZONE_INPUT`` (``active_from``/``active_to`` as
        ``datetime64[ns, UTC]``, ``active_to`` NaT when open; ``daily_start``/``daily_end``
        ``HH:MM`` text or ""; the geofence as in :func:`read_appointments`), then ``row``, then
        the columns carried through.

    Raises
    ------
    InputError
        When a required column or both geofence forms are missing from the header.
    TimezoneError
        When active times carry no offset and ``tz`` is None.

    Notes
    -----
    Rules, first broken wins: ``WRONG_COLUMN_COUNT``; ``MISSING_ID`` (empty zone_id);
    ``MISSING_SUBJECT``; ``BAD_ZONE_KIND`` (not exclusion or inclusion, case ignored);
    ``BAD_TIMESTAMP`` / ``NO_TIMEZONE`` (active_from required, an empty active_to is open);
    ``BAD_WINDOW`` (active_to before active_from); ``BAD_DAILY_TIME`` (a daily time that is not
    ``HH:MM`` from 00:00 to 23:59, or only one of the two); then the geofence rules of
    :func:`trailmon.io.geofence.geofences_from_columns`.
    """
    check_tz(tz)
    crs = crs or StoreCRS(BNG)
    table = read_csv_strings(path)
    frame = table.frame.drop(columns=[c for c in table.frame.columns if str(c).startswith(EXTRA_PREFIX)])
    for name in ("zone_id", "subject_id", "kind", "active_from", "active_to"):
        column(frame, name, required=True, path=str(path))
    if not (all(find_column(frame, c) is not None for c in ("lat", "lon", "radius_m"))
            or find_column(frame, "geofence_wkt") is not None):
        raise InputError(f"{str(path)!r} has no geofence columns: give lat, lon, radius_m (a circle) or "
                         f"geofence_wkt (a WGS84 polygon); its columns are {list(map(str, frame.columns))}")
    n = len(frame)
    rej = Rejector(table.frame, path, table.row)
    rej.reject(table.ragged, RejectReason.WRONG_COLUMN_COUNT, f"expected {table.n_columns} fields as in the header")
    ident, subject = column(frame, "zone_id"), column(frame, "subject_id")
    kind = np.asarray([k.lower() for k in column(frame, "kind")], dtype=object)
    rej.reject(ident == "", RejectReason.MISSING_ID, "zone_id is empty")
    rej.reject(subject == "", RejectReason.MISSING_SUBJECT, "subject_id is empty")
    rej.reject(~np.isin(kind, ZONE_KINDS), RejectReason.BAD_ZONE_KIND, "kind must be exclusion or inclusion")
    lo, hi = np.full(n, NAT, dtype=np.int64), np.full(n, NAT, dtype=np.int64)
    time_column(frame, "active_from", tz, rej, lo, required=True)
    time_column(frame, "active_to", tz, rej, hi)
    rej.reject((lo != NAT) & (hi != NAT) & (hi < lo), RejectReason.BAD_WINDOW, "active_to is before active_from")
    d0, d1 = column(frame, "daily_start"), column(frame, "daily_end")
    bad = np.zeros(n, dtype=bool)
    for i in range(n):
        a, b = d0[i], d1[i]
        if (a == "") != (b == ""):
            bad[i] = True
        elif a and (_HHMM.fullmatch(a) is None or _HHMM.fullmatch(b) is None):
            bad[i] = True
    rej.reject(bad, RejectReason.BAD_DAILY_TIME,
               "daily_start and daily_end must both be HH:MM (00:00 to 23:59) or both be empty")
    geo = geofences_from_columns(column(frame, "lat"), column(frame, "lon"), column(frame, "radius_m"),
                                 column(frame, "geofence_wkt"), crs)
    apply_geofence_reasons(rej, geo)
    ok = rej.ok
    acc = pd.DataFrame({
        "zone_id": ident[ok], "subject_id": subject[ok], "kind": kind[ok], "active_from": utc_series(lo[ok]),
        "active_to": utc_series(hi[ok]), "daily_start": d0[ok], "daily_end": d1[ok],
        "center_x_m": geo.center_x_m[ok], "center_y_m": geo.center_y_m[ok], "radius_m": geo.radius_m[ok],
        "geometry": pd.Series(geo.geometry[ok], dtype=object),
    }, columns=ZONE_INPUT)
    acc["row"] = table.row[ok]
    extras = carried(frame, _USED)
    for c in extras.columns:
        if c not in acc.columns:
            acc[c] = extras[c].to_numpy(dtype=object)[ok]
    info = {"layout": "zones", "tz": tz, "encoding": table.encoding, "transformation": crs.info.as_dict()}
    return ReadResult(acc, rej.rejected_frame(), n, [str(path)], [], info)
