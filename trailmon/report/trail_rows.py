"""The rows of a trail consultation (SPEC §5 ``trail``) and the 48 h cap on trail and subject-map windows."""

from __future__ import annotations

__all__ = ["MAX_WINDOW_S", "trail_frame"]

MAX_WINDOW_S = 48 * 3600.0
"""A trail or subject map wider than this needs a justification (audited), seconds (SPEC §5, §7)."""


def trail_frame(trails, subject: str):
    """The SPEC §5 trail rows of ``subject`` from :class:`Trails` (fixes inside monitoring windows)."""
    import numpy as np
    import pandas as pd

    from trailmon.report._columns import TRAIL
    from trailmon.trail import FIX_TYPES, flags_to_text, speed_heading

    speed, heading = speed_heading(trails)
    k = trails.subject_index(subject)
    if k < 0:
        return pd.DataFrame({c: [] for c in TRAIL})
    lo, hi = trails.offsets[k], trails.offsets[k + 1]
    t = trails.t_s[lo:hi]
    ws = trails.win_start_s[trails.win_offsets[k]:trails.win_offsets[k + 1]]
    we = trails.win_end_s[trails.win_offsets[k]:trails.win_offsets[k + 1]]
    inside = ((t[:, None] >= ws[None, :]) & (t[:, None] <= we[None, :])).any(axis=1)
    sl = np.arange(lo, hi)[inside]
    flags = flags_to_text(trails.flags[sl])
    if not trails.window_known[k]:
        flags = np.where(flags == "", "monitoring_window_unknown", flags + ";monitoring_window_unknown")
    return pd.DataFrame({
        "subject_id": subject,
        "time": pd.to_datetime(trails.t_ns[sl] if trails.t_ns is not None else
                               np.round(trails.t_s[sl] * 1e6).astype("int64") * 1000, unit="ns", utc=True),
        "lat": trails.lat[sl], "lon": trails.lon[sl], "easting": trails.x_m[sl], "northing": trails.y_m[sl],
        "accuracy_m": trails.accuracy_m[sl],
        "fix_type": np.asarray(FIX_TYPES, dtype=object)[trails.fix_type[sl].astype(int)],
        "speed_kmh": speed[sl] * 3.6, "heading_deg": heading[sl], "flags": flags,
    })[TRAIL]
