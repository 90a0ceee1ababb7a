"""A slow, obviously right twin of proximity for one (crime, subject): every piece, brute force."""

from __future__ import annotations

import math

from tests.naive import segment as seg

MERGE_S = 1e-6  # intervals this close in time touch
TIE_M = 1e-6    # closest approaches this close are ties (the first instant wins)


def windows_of(trails, s):
    lo, hi = trails.win_offsets[s], trails.win_offsets[s + 1]
    return list(zip(trails.win_start_s[lo:hi].tolist(), trails.win_end_s[lo:hi].tolist(), strict=True))


def pieces(t, windows, t1, t2, max_gap_s):
    """(ta, tb, i, j): segment i->j (j = i + 1) or isolated fix i (j = i), clipped to every window."""
    out = []
    n = len(t)
    for i in range(n):
        linked_prev = i > 0 and t[i] - t[i - 1] <= max_gap_s
        linked_next = i + 1 < n and t[i + 1] - t[i] <= max_gap_s
        if linked_next:
            for ws, we in windows:
                ta, tb = max(t[i], t1, ws), min(t[i + 1], t2, we)
                if ta <= tb:
                    out.append((ta, tb, i, i + 1))
        if not linked_prev and not linked_next:
            for ws, we in windows:
                if max(t1, ws) <= t[i] <= min(t2, we):
                    out.append((t[i], t[i], i, i))
    return out


def evaluate(trails, s, px, py, r, t1, t2, max_gap_s=600.0):
    """Dict of the hit fields for subject position ``s``, or None when not a hit."""
    lo, hi = int(trails.offsets[s]), int(trails.offsets[s + 1])
    t = trails.t_s[lo:hi].tolist()
    x = trails.x_m[lo:hi].tolist()
    y = trails.y_m[lo:hi].tolist()
    acc = trails.accuracy_m[lo:hi].tolist()
    wins = windows_of(trails, s)
    best = None
    intervals = []
    for ta, tb, i, j in pieces(t, wins, t1, t2, max_gap_s):
        d, tc = seg.closest_approach_segment(t[i], x[i], y[i], t[j], x[j], y[j], px, py, ta, tb)
        if t[i] == t[j]:
            a = acc[i] if math.hypot(x[i] - px, y[i] - py) <= math.hypot(x[j] - px, y[j] - py) else acc[j]
        elif tc == t[i]:
            a = acc[i]
        elif tc == t[j]:
            a = acc[j]
        else:
            a = max(acc[i], acc[j])
        if best is None or d < best[0] - TIE_M or (abs(d - best[0]) <= TIE_M and tc < best[1]):
            best = (d, tc, a)
        iv = seg.time_within_segment(t[i], x[i], y[i], t[j], x[j], y[j], px, py, r, ta, tb)
        if iv is not None:
            intervals.append(iv)
    n_within = sum(1 for k in range(len(t)) if t1 <= t[k] <= t2 and any(ws <= t[k] <= we for ws, we in wins)
                   and math.hypot(x[k] - px, y[k] - py) <= r)
    if not intervals:
        return None
    intervals.sort()
    passes = [list(intervals[0])]
    for a, b in intervals[1:]:
        if a <= passes[-1][1] + MERGE_S:
            passes[-1][1] = max(passes[-1][1], b)
        else:
            passes.append([a, b])
    return dict(min_distance_m=min(best[0], r), closest_time=best[1], accuracy_m=best[2],
                first_within=passes[0][0], last_within=passes[-1][1],
                dwell_s=sum(b - a for a, b in passes), passes=len(passes), n_fixes_within=n_within,
                between_fixes=n_within == 0, pass_intervals=passes,
                coverage=coverage(t, wins, t1, t2, max_gap_s))


def coverage(t, windows, t1, t2, max_gap_s, halo_s=60.0):
    """Fraction of [t1, t2] known (linked segment or within halo of a fix) and monitored."""
    known = [(ti - halo_s, ti + halo_s) for ti in t]
    known += [(t[i], t[i + 1]) for i in range(len(t) - 1) if t[i + 1] - t[i] <= max_gap_s]
    if t2 <= t1:
        return float(any(a <= t1 <= b for a, b in known) and any(a <= t1 <= b for a, b in windows))
    cuts = sorted({t1, t2, *[v for a, b in known + windows for v in (a, b) if t1 < v < t2]})
    total = 0.0
    for a, b in zip(cuts[:-1], cuts[1:], strict=True):
        m = (a + b) / 2
        if any(p <= m <= q for p, q in known) and any(p <= m <= q for p, q in windows):
            total += b - a
    return total / (t2 - t1)
