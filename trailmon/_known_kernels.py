"""The one known-time rule of the trail model (SPEC §3), shared by every kernel that needs it.

Seconds since the Unix epoch (UTC). The position counts as known within ``halo_s`` (60 s) of
each fix, and along each segment to the next fix when that fix is at most ``max_gap_s`` away.
:func:`fix_known_interval` gives the interval one fix contributes; the index's ``known_runs``
(merged intervals over a whole trail) and the matchers' ``known_time_window`` (known seconds of
a window) both build on it, so the two cannot drift apart. Lowest layer: imports ``_jit`` only.
"""

from __future__ import annotations

from trailmon._jit import kernel

__all__ = ["fix_known_interval"]


@kernel
def fix_known_interval(t_s, i, hi, max_gap_s, halo_s):
    """``(start, end)`` of the time fix ``i`` makes known, fixes ``t_s[:hi]`` of one subject, seconds.

    ``[t_i - halo_s, t_i + halo_s]``, stretched to the next fix ``t_{i+1}`` when it lies within
    ``max_gap_s`` (the segment between them is interpolated) and beyond the halo.
    """
    a = t_s[i] - halo_s
    b = t_s[i] + halo_s
    if i + 1 < hi and t_s[i + 1] - t_s[i] <= max_gap_s and t_s[i + 1] > b:
        b = t_s[i + 1]
    return a, b
