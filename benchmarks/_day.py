"""The national day as trailmon arrays, built once per process (shared by the proximity benchmarks)."""

from __future__ import annotations

import numpy as np
from _workload import national_day

from trailmon.trail import Trails, windows_to_csr


def day_trails(n_subjects: int = 5000, n_crimes: int = 10000, hours: float = 24):
    """``(Trails, crimes frame, NationalDay)`` for the SPEC §6 workload (monitoring windows unknown)."""
    day = national_day(n_subjects=n_subjects, hours=hours, n_crimes=n_crimes, n_appointments=min(5000, n_subjects))
    f = day.fixes
    n = f.n_fixes
    wo, ws, we, known = windows_to_csr(np.asarray(f.subject_ids, dtype=object), None)
    nan = np.full(n, np.nan)
    trails = Trails(
        subject_ids=np.asarray(f.subject_ids, dtype=object), offsets=f.offsets.astype(np.int64),
        t_s=np.ascontiguousarray(f.t_s, dtype=np.float64), x_m=np.ascontiguousarray(f.x_m),
        y_m=np.ascontiguousarray(f.y_m), lat=nan, lon=nan, accuracy_m=np.ascontiguousarray(f.accuracy_m),
        fix_type=f.fix_code.astype(np.int8), speed_mps=nan, heading_deg=nan, flags=np.zeros(n, np.int32),
        win_offsets=wo, win_start_s=ws, win_end_s=we, window_known=known)
    crimes = day.crimes.copy()
    crimes["crime_version"] = 1
    return trails, crimes, day
