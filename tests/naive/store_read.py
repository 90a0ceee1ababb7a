"""A plain reading of the store's bracketed read (``TrailStore.read``), row by row in pandas.

Every stored fix is loaded; per subject it keeps the fixes in ``[lo, hi]``, the last fix before
``lo`` found on the days from ``BRACKET_DAYS`` before the first day read up to it, and the first
fix after ``hi`` up to ``BRACKET_DAYS`` after the last day read; known subjects (a monitoring
window) without fixes are listed too. No row groups, edge files, codes or gathers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from trailmon.store.trails import BRACKET_DAYS, DAY_NS, TrailStore
from trailmon.trail import Trails, windows_to_csr


def read(store: TrailStore, t_from: pd.Timestamp, t_to: pd.Timestamp, subjects=None, *,
         halo_s: float = 600.0) -> Trails:
    """What ``store.read(t_from, t_to, subjects, halo_s=halo_s)`` must give."""
    lo = int(pd.Timestamp(t_from).value - halo_s * 1e9)
    hi = int(pd.Timestamp(t_to).value + halo_s * 1e9)
    first_day, last_day = lo // DAY_NS, hi // DAY_NS
    with store.snapshot() as s:
        every = s.fixes_frame()
        windows = s.windows()
    every["subject_id"] = every["subject_id"].astype(str)
    if subjects is not None:
        every = every[every["subject_id"].isin({str(x) for x in subjects})]
    picked = []
    for _, rows in every.groupby("subject_id", sort=True):
        rows = rows.sort_values("t_ns")
        t = rows["t_ns"]
        day = t // DAY_NS
        inside = rows[(t >= lo) & (t <= hi)]
        before = rows[(t < lo) & (day >= first_day - BRACKET_DAYS)].tail(1)
        after = rows[(t > hi) & (day <= last_day + BRACKET_DAYS)].head(1)
        picked += [before, inside, after]
    fixes = pd.concat(picked, ignore_index=True) if picked else every.iloc[:0]
    known = set(windows)
    if subjects is not None:
        known &= {str(x) for x in subjects}
    names = np.array(sorted(set(fixes["subject_id"]) | known), dtype=object)
    counts = fixes["subject_id"].value_counts().reindex(names, fill_value=0).to_numpy()
    offsets = np.r_[0, np.cumsum(counts)].astype(np.int64)
    wo, ws, we, window_known = windows_to_csr(names, windows)

    def col(c, dtype):
        return np.ascontiguousarray(fixes[c].to_numpy(dtype))

    t_ns = col("t_ns", np.int64)
    return Trails(subject_ids=names, offsets=offsets, t_s=t_ns / 1e9, x_m=col("x_m", np.float64),
                  y_m=col("y_m", np.float64), lat=col("lat", np.float64), lon=col("lon", np.float64),
                  accuracy_m=col("accuracy_m", np.float64), fix_type=col("fix_type", np.int8),
                  speed_mps=col("speed_mps", np.float64), heading_deg=col("heading_deg", np.float64),
                  flags=col("flags", np.int32), win_offsets=wo, win_start_s=ws, win_end_s=we,
                  window_known=window_known, t_ns=t_ns)
