"""Queued rows grouped by overlapping time spans, so a job reads the store one group at a time (SPEC §8).

A night's crimes (appointments, hits whose evidence is shown) may reach far back: a crime reported a
month late. Reading ``[earliest start, latest end]`` of all of them at once would hold every fix of
the month between; grouped, each read holds at most :data:`GROUP_SPAN_NS` of fixes.
"""

from __future__ import annotations

import numpy as np

from trailmon.store.cases import times_to_ns

__all__ = ["GROUP_JOIN_NS", "GROUP_SPAN_NS", "span_groups", "window_groups"]

DAY_NS = 86_400 * 10**9

GROUP_SPAN_NS = 2 * DAY_NS
"""A group of crimes (appointments) read and matched together spans at most this, int ns (a longer row: alone)."""
GROUP_JOIN_NS = 3_600 * 10**9
"""Rows whose spans come within this of each other join one group (the store is read in whole hours), int ns."""


def span_groups(lo_ns: np.ndarray, hi_ns: np.ndarray, max_span_ns: int = GROUP_SPAN_NS,
                join_ns: int = GROUP_JOIN_NS) -> list[np.ndarray]:
    """Row positions grouped by overlapping spans ``[lo, hi]`` (int ns), earliest first.

    Rows are taken by their start; a row joins the current group when it starts within ``join_ns``
    of the group's end and the group then spans at most ``max_span_ns``. Each group is read and
    matched on its own, so a night holds one group's fixes at a time, not ``[min lo, max hi]`` of
    everything queued (SPEC §8 "Memory and time"): the day's crimes, whose windows reach into the
    days either side, are read once; a late crime is read with those whose windows meet its own.

    Examples
    --------
    >>> h = 3_600 * 10**9
    >>> [g.tolist() for g in span_groups(np.array([0, 5 * h, 1, 30 * h]), np.array([2 * h, 6 * h, 5 * h, 31 * h]))]
    [[0, 1, 2], [3]]
    >>> [g.tolist() for g in span_groups(np.array([0, 40 * h]), np.array([30 * h, 60 * h]))]  # 60 h > 2 days
    [[0], [1]]
    """
    lo = np.asarray(lo_ns, dtype=np.int64)
    hi = np.asarray(hi_ns, dtype=np.int64)
    order = np.argsort(lo, kind="stable")
    cuts = []
    g_lo = g_hi = 0
    for k, i in enumerate(order.tolist()):
        if k and lo[i] <= g_hi + join_ns and max(g_hi, hi[i]) - g_lo <= max_span_ns:
            g_hi = max(g_hi, int(hi[i]))
            continue
        if k:
            cuts.append(k)
        g_lo, g_hi = int(lo[i]), int(hi[i])
    return [np.sort(g) for g in np.split(order, cuts)] if len(order) else []


def window_groups(starts, ends, halo_s: float) -> list[np.ndarray]:
    """Row positions of windows ``[starts, ends]`` (datetime columns) grouped as reads ``halo_s`` around them.

    :func:`span_groups` of the windows widened by ``halo_s`` seconds either side (what a read of
    each group takes): how the nightly job groups its crimes, and how their evidence is read again.
    """
    halo = int(halo_s * 1e9)
    return span_groups(times_to_ns(starts) - halo, times_to_ns(ends) + halo)
