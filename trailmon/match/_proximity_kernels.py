"""Exact crime-scene proximity kernels (SPEC §3): per-segment maths, per (crime, subject) evaluation.

Metres in the store's projected CRS, seconds UTC; contiguous float64/int64 arrays and scalars.
Coordinates are taken relative to the scene before any product, so squares stay small.

A subject's *pieces* are its segments (consecutive fixes at most ``max_gap_s`` apart, position
linear in time) and its isolated fixes (points at their instant), each clipped to the crime
window and to every monitoring window (closed intervals). Evaluating a run of pieces in time
order fills a small state vector (``_ST_*`` below): the closest approach (first instant on
ties), the within-R intervals merged into passes as they come, and the fixes within R.
"""

from __future__ import annotations

import numpy as np

from trailmon._jit import kernel, parallel_kernel, prange
from trailmon.index._kernels import box_distance2, scan_bound, scan_candidates, scan_gaps
from trailmon.match._kernels import coverage_window

# state vector of one (crime, subject) evaluation; also a row of the result matrix
ST_D2 = 0        # squared closest approach, m^2 (inf: nothing evaluated)
ST_T = 1         # closest_time, s
ST_ACC = 2       # accuracy at the closest approach, m
ST_NIN = 3       # fixes within R inside the windows
ST_CUR_S = 4     # current pass start, s
ST_CUR_E = 5     # current pass end, s
ST_DWELL = 6     # seconds within R (closed passes)
ST_PASSES = 7    # number of passes
ST_FIRST = 8     # first_within, s
ST_LAST = 9      # last_within, s
ST_STATUS = 10   # 0 nothing, 1 hit, 2 low (uncertain) candidate
ST_COVERAGE = 11  # coverage of the window, 0-1
ST_SIZE = 12

MODE_FULL = 0      # closest approach, passes and fixes within R
MODE_CLOSEST = 1   # closest approach only


@kernel
def _closest2(t0, x0, y0, t1, x1, y1, px, py, ta, tb):
    """Squared closest approach and its first instant on ``[ta, tb]`` of segment ``(t0,x0,y0)-(t1,x1,y1)``."""
    ax = x0 - px
    ay = y0 - py
    bx = x1 - px
    by = y1 - py
    dt = t1 - t0
    if dt <= 0.0:  # two fixes at one instant: two positions, no motion between them
        da = ax * ax + ay * ay
        db = bx * bx + by * by
        if da <= db:
            return da, t0
        return db, t0
    vx = bx - ax
    vy = by - ay
    a2 = vx * vx + vy * vy
    if a2 == 0.0:
        tc = ta
    else:
        f = -(ax * vx + ay * vy) / a2
        tc = t0 + f * dt
        if tc <= ta:
            tc = ta
        elif tc >= tb:
            tc = tb
        elif tc != t0 and tc != t1:
            # the distance from the exact fraction: seconds since 1970 are only good to ~0.2 us
            cx = ax + f * vx
            cy = ay + f * vy
            return cx * cx + cy * cy, tc
    if tc == t0:
        return ax * ax + ay * ay, tc
    if tc == t1:
        return bx * bx + by * by, tc
    f = (tc - t0) / dt
    cx = ax + f * vx
    cy = ay + f * vy
    return cx * cx + cy * cy, tc


@kernel
def closest_approach_segment(t0, x0, y0, t1, x1, y1, px, py, ta, tb):
    """Closest approach (m) to ``(px, py)`` over ``[ta, tb]`` of a segment and its first instant (s)."""
    d2, tc = _closest2(t0, x0, y0, t1, x1, y1, px, py, ta, tb)
    return np.sqrt(d2), tc


@kernel
def _within_given_closest(t0, x0, y0, t1, x1, y1, px, py, r, ta, tb, cd2, ct):
    """Interval of ``[ta, tb]`` within ``r`` of the scene, knowing the closest approach; NaNs when none."""
    r2 = r * r
    ax = x0 - px
    ay = y0 - py
    bx = x1 - px
    by = y1 - py
    da = ax * ax + ay * ay
    db = bx * bx + by * by
    dt = t1 - t0
    if dt <= 0.0:
        if da <= r2 or db <= r2:
            return t0, t0
        return np.nan, np.nan
    vx = bx - ax
    vy = by - ay
    a2 = vx * vx + vy * vy
    have = False
    flo = 0.0
    fhi = 0.0
    if a2 == 0.0:
        if da <= r2:
            have = True
            flo = 0.0
            fhi = 1.0
    else:
        fs = -(ax * vx + ay * vy) / a2
        cx = ax + fs * vx
        cy = ay + fs * vy
        m2 = cx * cx + cy * cy
        if m2 <= r2:
            h = np.sqrt((r2 - m2) / a2)
            flo = fs - h
            fhi = fs + h
            if fhi >= 0.0 and flo <= 1.0:  # the chord meets the segment
                have = True
                flo = flo if flo > 0.0 else 0.0
                fhi = fhi if fhi < 1.0 else 1.0
    # fixes decide for themselves: a fix within R makes its end of the segment within R
    if da <= r2:
        if not have or flo > 0.0:
            flo = 0.0
        if not have or fhi < 0.0:
            fhi = 0.0
        have = True
    if db <= r2:
        if not have or flo > 1.0:
            flo = 1.0
        if not have or fhi < 1.0:
            fhi = 1.0
        have = True
    lo = np.nan
    hi = np.nan
    if have:
        lo = t0 if flo <= 0.0 else (t1 if flo >= 1.0 else t0 + flo * dt)
        hi = t1 if fhi >= 1.0 else (t0 if fhi <= 0.0 else t0 + fhi * dt)
    if cd2 <= r2:  # the closest approach is within R: the interval holds it
        if not have:
            lo = ct
            hi = ct
        else:
            lo = ct if ct < lo else lo
            hi = ct if ct > hi else hi
        have = True
    if not have:
        return np.nan, np.nan
    if lo < ta:
        lo = ta
    if hi > tb:
        hi = tb
    if lo > hi:
        return np.nan, np.nan
    return lo, hi


@kernel
def time_within_segment(t0, x0, y0, t1, x1, y1, px, py, r, ta, tb):
    """Interval ``(lo, hi)`` (s) of ``[ta, tb]`` when the segment is within ``r`` (m) of the scene; NaNs when never."""
    if ta > tb:
        return np.nan, np.nan
    cd2, ct = _closest2(t0, x0, y0, t1, x1, y1, px, py, ta, tb)
    return _within_given_closest(t0, x0, y0, t1, x1, y1, px, py, r, ta, tb, cd2, ct)


@kernel
def state_init(st):
    """Reset a state vector (shape ``(ST_SIZE,)``)."""
    st[:] = 0.0
    st[ST_D2] = np.inf
    st[ST_T] = np.nan
    st[ST_ACC] = np.nan
    st[ST_FIRST] = np.nan
    st[ST_LAST] = np.nan
    st[ST_CUR_S] = np.nan
    st[ST_CUR_E] = np.nan


@kernel
def _close_pass(st, ivs):
    k = np.int64(st[ST_PASSES]) - 1
    st[ST_DWELL] += st[ST_CUR_E] - st[ST_CUR_S]
    if ivs.shape[0] >= 2 * k + 2:
        ivs[2 * k] = st[ST_CUR_S]
        ivs[2 * k + 1] = st[ST_CUR_E]


@kernel
def add_interval(st, ivs, a, b):
    """Add a within-R interval (s), in time order; touching or overlapping intervals merge into a pass."""
    if st[ST_PASSES] == 0.0:
        st[ST_CUR_S] = a
        st[ST_CUR_E] = b
        st[ST_PASSES] = 1.0
        st[ST_FIRST] = a
    elif a <= st[ST_CUR_E]:
        if b > st[ST_CUR_E]:
            st[ST_CUR_E] = b
    else:
        _close_pass(st, ivs)
        st[ST_CUR_S] = a
        st[ST_CUR_E] = b
        st[ST_PASSES] += 1.0


@kernel
def state_finish(st, ivs):
    """Close the last pass: dwell and last_within are final afterwards."""
    if st[ST_PASSES] > 0.0:
        _close_pass(st, ivs)
        st[ST_LAST] = st[ST_CUR_E]


@kernel
def _offer(st, d2, tc, acc):
    if d2 < st[ST_D2] or (d2 == st[ST_D2] and tc < st[ST_T]):
        st[ST_D2] = d2
        st[ST_T] = tc
        st[ST_ACC] = acc


@kernel
def _monitored(ws, we, wlo, whi, t):
    for w in range(wlo, whi):
        if ws[w] <= t <= we[w]:
            return True
    return False


@kernel
def _segment_span(t0, t1, w_from, w_to, m_from, m_to):
    """The part ``(ta, tb)`` of segment ``[t0, t1]`` inside two windows, seconds; empty when ``ta > tb``.

    ``[w_from, w_to]`` is the crime's window, ``[m_from, m_to]`` a monitoring window.
    """
    ta = t0
    if w_from > ta:
        ta = w_from
    if m_from > ta:
        ta = m_from
    tb = t1
    if w_to < tb:
        tb = w_to
    if m_to < tb:
        tb = m_to
    return ta, tb


@kernel
def eval_run(t_s, x_m, y_m, acc_m, a, b, own_end, lo, hi, ws, we, wlo, whi,
             px, py, r, t1, t2, max_gap_s, st, ivs, mode):
    """Evaluate fixes ``a..b`` (segments ``a..b-1``) of a subject with fixes ``lo:hi``.

    Fixes up to ``own_end`` are counted.
    """
    r2 = r * r
    for i in range(a, b + 1):
        ti = t_s[i]
        linked_next = i + 1 < hi and t_s[i + 1] - ti <= max_gap_s
        if i < b and linked_next:
            tn = t_s[i + 1]
            for w in range(wlo, whi):
                ta, tb = _segment_span(ti, tn, t1, t2, ws[w], we[w])
                if ta > tb:
                    continue
                cd2, ct = _closest2(ti, x_m[i], y_m[i], tn, x_m[i + 1], y_m[i + 1], px, py, ta, tb)
                if tn == ti:
                    dx = x_m[i] - px
                    dy = y_m[i] - py
                    acc = acc_m[i] if dx * dx + dy * dy == cd2 else acc_m[i + 1]
                elif ct == ti:
                    acc = acc_m[i]
                elif ct == tn:
                    acc = acc_m[i + 1]
                else:
                    acc = acc_m[i] if acc_m[i] > acc_m[i + 1] else acc_m[i + 1]
                _offer(st, cd2, ct, acc)
                if mode == MODE_FULL:
                    wa, wb = _within_given_closest(ti, x_m[i], y_m[i], tn, x_m[i + 1], y_m[i + 1],
                                                   px, py, r, ta, tb, cd2, ct)
                    if wa == wa:
                        add_interval(st, ivs, wa, wb)
        inside = t1 <= ti <= t2 and _monitored(ws, we, wlo, whi, ti)
        if not inside:
            continue
        dx = x_m[i] - px
        dy = y_m[i] - py
        d2 = dx * dx + dy * dy
        linked_prev = i > lo and ti - t_s[i - 1] <= max_gap_s
        if not linked_prev and not linked_next:  # an isolated fix: a point at its instant
            _offer(st, d2, ti, acc_m[i])
            if mode == MODE_FULL and d2 <= r2:
                add_interval(st, ivs, ti, ti)
        if mode == MODE_FULL and i <= own_end and d2 <= r2:
            st[ST_NIN] += 1.0


@kernel
def evaluate_subject(t_s, x_m, y_m, acc_m, lo, hi, ws, we, wlo, whi, px, py, r, t1, t2, max_gap_s, st, ivs):
    """Exact proximity of one subject (fixes ``lo:hi``) to one crime, without an index; fills ``st``."""
    state_init(st)
    if hi > lo:
        a = np.searchsorted(t_s[lo:hi], t1) + lo - 1
        if a < lo:
            a = lo
        b = np.searchsorted(t_s[lo:hi], t2, side="right") + lo
        if b > hi - 1:
            b = hi - 1
        eval_run(t_s, x_m, y_m, acc_m, a, b, b, lo, hi, ws, we, wlo, whi, px, py, r, t1, t2,
                 max_gap_s, st, ivs, MODE_FULL)
    state_finish(st, ivs)


@kernel
def known_time_runs(run_start, run_end, rlo, rhi, a, b):
    """Seconds of ``[a, b]`` where the position is known, from a subject's known runs ``[rlo:rhi]``; 0 when none."""
    k = np.searchsorted(run_start[rlo:rhi], a, side="right") + rlo - 1
    if k < rlo:
        k = rlo
    total = 0.0
    while k < rhi and run_start[k] < b:
        s = run_start[k] if run_start[k] > a else a
        e = run_end[k] if run_end[k] < b else b
        if e > s:
            total += e - s
        k += 1
    return total


@kernel
def coverage_indexed(t_s, lo, hi, a, b, max_gap_s, halo_s, ws, we, wlo, whi, run_start, run_end, rlo, rhi):
    """:func:`~trailmon.match._kernels.coverage_window` (0-1) from the subject's known runs, bit for bit.

    ``run_start[rlo:rhi]``, ``run_end[rlo:rhi]`` are the maximal known intervals (s) that
    ``known_time_window`` merges, so each run clipped to ``[a, b]`` is one of its merged intervals
    and the sums agree exactly, in a few steps instead of one per fix. Without runs (``rlo == rhi``)
    and for a zero-length window, ``coverage_window`` answers.
    """
    if b <= a or rhi <= rlo:
        return coverage_window(t_s, lo, hi, a, b, max_gap_s, halo_s, ws, we, wlo, whi)
    total = 0.0
    for w in range(wlo, whi):
        s = a if a > ws[w] else ws[w]
        e = b if b < we[w] else we[w]
        if e > s:
            total += known_time_runs(run_start, run_end, rlo, rhi, s, e)
    return total / (b - a)


@kernel
def classify(st, r, include_uncertain, t_s, lo, hi, t1, t2, max_gap_s, halo_s, ws, we, wlo, whi,
             run_start, run_end, rlo, rhi):
    """Set status (hit / low / nothing) and coverage of a finished state vector.

    Known runs as for :func:`coverage_indexed`; empty arrays when there are none.
    """
    if st[ST_PASSES] > 0.0:
        st[ST_STATUS] = 1.0
        if st[ST_D2] > r * r:  # a tangent at R: rounding may put the minimum a hair outside
            st[ST_D2] = r * r
    elif include_uncertain and st[ST_D2] < np.inf and np.sqrt(st[ST_D2]) - st[ST_ACC] <= r:
        st[ST_STATUS] = 2.0
    else:
        st[ST_STATUS] = 0.0
        return
    st[ST_COVERAGE] = coverage_indexed(t_s, lo, hi, t1, t2, max_gap_s, halo_s, ws, we, wlo, whi,
                                       run_start, run_end, rlo, rhi)


@kernel
def evaluate_group(t_s, x_m, y_m, acc_m, offsets, ws, we, win_offsets,
                   f0, f1, cx0, cy0, cx1, cy1, run_offsets, run_start, run_end, chunks, scratch,
                   px, py, r, t1, t2, max_gap_s, halo_s, include_uncertain, st):
    """Exact proximity of one subject to one crime from its candidate chunks (sorted by time).

    A chunk wholly within R and inside one monitoring window (a stay) is taken whole: one interval,
    its fixes counted without distances; its closest approach is evaluated afterwards only when its
    box could beat the best found (``scratch`` holds the deferred boxes' squared distances).
    """
    state_init(st)
    n_chunk_all = f0.shape[0]
    s = -1
    r2 = r * r
    empty = np.empty(0, np.float64)
    n = chunks.shape[0]
    for k in range(n):
        c = chunks[k]
        if k == 0:
            s = np.searchsorted(offsets, f0[c], side="right") - 1
        a = f0[c]
        b = f1[c]
        own_end = b
        if b > a and c + 1 < n_chunk_all and f0[c + 1] == b:
            own_end = b - 1
        lo = offsets[s]
        hi = offsets[s + 1]
        wlo = win_offsets[s]
        whi = win_offsets[s + 1]
        scratch[k] = -1.0
        if b > a:
            fx = max(abs(cx0[c] - px), abs(cx1[c] - px))  # farthest corner
            fy = max(abs(cy0[c] - py), abs(cy1[c] - py))
            if fx * fx + fy * fy <= r2:
                ta = t_s[a]
                tb = t_s[b]
                one_window = False
                for w in range(wlo, whi):
                    if ws[w] <= ta and tb <= we[w]:
                        one_window = True
                if one_window:
                    add_interval(st, empty, ta if ta > t1 else t1, tb if tb < t2 else t2)
                    if ta >= t1 and t_s[own_end] <= t2:
                        st[ST_NIN] += own_end - a + 1
                    else:
                        for i in range(a, own_end + 1):
                            if t1 <= t_s[i] <= t2:
                                st[ST_NIN] += 1.0
                    scratch[k] = box_distance2(cx0[c], cy0[c], cx1[c], cy1[c], px, py)
                    continue
        eval_run(t_s, x_m, y_m, acc_m, a, b, own_end, lo, hi, ws, we, wlo, whi, px, py, r, t1, t2,
                 max_gap_s, st, empty, MODE_FULL)
    state_finish(st, empty)
    # deferred stays: the one with the nearest box first, then any box that could still match the best
    best_k = -1
    for k in range(n):
        if scratch[k] >= 0.0 and (best_k < 0 or scratch[k] < scratch[best_k]):
            best_k = k
    if best_k >= 0:
        for rnd in range(2):
            for k in range(n):
                if scratch[k] < 0.0 or (rnd == 0) != (k == best_k):
                    continue
                if scratch[k] > st[ST_D2]:
                    continue
                c = chunks[k]
                eval_run(t_s, x_m, y_m, acc_m, f0[c], f1[c], f1[c], offsets[s], offsets[s + 1], ws, we,
                         win_offsets[s], win_offsets[s + 1], px, py, r, t1, t2, max_gap_s, st, empty,
                         MODE_CLOSEST)
    if s >= 0:
        classify(st, r, include_uncertain, t_s, offsets[s], offsets[s + 1], t1, t2, max_gap_s, halo_s,
                 ws, we, win_offsets[s], win_offsets[s + 1], run_start, run_end, run_offsets[s], run_offsets[s + 1])


@parallel_kernel
def evaluate_groups(t_s, x_m, y_m, acc_m, offsets, ws, we, win_offsets,
                    f0, f1, cx0, cy0, cx1, cy1, run_offsets, run_start, run_end, cands, group_offsets, group_query,
                    px, py, r, t1, t2, max_gap_s, halo_s, include_uncertain):
    """Evaluate every (crime, subject) group of candidate chunks; returns ``(n_group, ST_SIZE)`` states."""
    n = group_query.shape[0]
    res = np.empty((n, ST_SIZE), np.float64)
    scratch = np.empty(cands.shape[0], np.float64)
    for g in prange(n):
        q = group_query[g]
        a = group_offsets[g]
        b = group_offsets[g + 1]
        evaluate_group(t_s, x_m, y_m, acc_m, offsets, ws, we, win_offsets, f0, f1, cx0, cy0, cx1, cy1,
                       run_offsets, run_start, run_end, cands[a:b], scratch[a:b], px[q], py[q], r[q], t1[q], t2[q],
                       max_gap_s, halo_s, include_uncertain, res[g])
    return res


@kernel
def proximity_one(t_s, x_m, y_m, acc_m, offsets, ws, we, win_offsets,
                  f0, f1, cx0, cy0, cx1, cy1, run_offsets, run_start, run_end, slot_offsets, slot_chunks,
                  cell_m, bucket_s, px, py, r, rq, t1, t2, max_gap_s, halo_s, include_uncertain):
    """One crime on a built index, serially: ``(subject positions, states)`` of its evaluated subjects."""
    cands = np.empty(scan_bound(slot_offsets, cell_m, bucket_s, px, py, rq, t1, t2), np.int64)
    n = scan_candidates(t_s, f0, f1, cx0, cy0, cx1, cy1, slot_offsets, slot_chunks, cell_m, bucket_s,
                        px, py, rq, t1, t2, cands)
    cands = cands[:n]
    cands.sort()
    # chunks are ordered by subject, so a new subject starts where a chunk's first fix passes the
    # end of the previous chunk's subject
    starts = np.empty(n + 1, np.int64)
    subjects = np.empty(n, np.int64)
    n_group = 0
    end = -1
    for k in range(n):
        a = f0[cands[k]]
        if a >= end:
            s = np.searchsorted(offsets, a, side="right") - 1
            end = offsets[s + 1]
            starts[n_group] = k
            subjects[n_group] = s
            n_group += 1
    starts[n_group] = n
    res = np.empty((n_group, ST_SIZE), np.float64)
    scratch = np.empty(n, np.float64)
    for g in range(n_group):
        a = starts[g]
        b = starts[g + 1]
        evaluate_group(t_s, x_m, y_m, acc_m, offsets, ws, we, win_offsets, f0, f1, cx0, cy0, cx1, cy1,
                       run_offsets, run_start, run_end, cands[a:b], scratch[a:b], px, py, r, t1, t2, max_gap_s,
                       halo_s, include_uncertain, res[g])
    return subjects[:n_group].copy(), res


@parallel_kernel
def evaluate_subject_many(t_s, x_m, y_m, acc_m, lo, hi, ws, we, wlo, whi, px, py, r, t1, t2,
                          max_gap_s, halo_s, include_uncertain):
    """Exact proximity of one subject (fixes ``lo:hi``) to many crimes, without an index; ``(n, ST_SIZE)``."""
    n = px.shape[0]
    res = np.empty((n, ST_SIZE), np.float64)
    empty = np.empty(0, np.float64)
    for q in prange(n):
        evaluate_subject(t_s, x_m, y_m, acc_m, lo, hi, ws, we, wlo, whi, px[q], py[q], r[q], t1[q], t2[q],
                         max_gap_s, res[q], empty)
        classify(res[q], r[q], include_uncertain, t_s, lo, hi, t1[q], t2[q], max_gap_s, halo_s,
                 ws, we, wlo, whi, empty, empty, 0, 0)
    return res


@kernel
def locate(t_s, x_m, y_m, lo, hi, tq):
    """Position (m) at instant ``tq`` (s) of a subject's fixes ``lo:hi``, and its bracketing fixes ``(ja, jb)``.

    At a fix instant both are that fix (the first of equal instants); between fixes, linear interpolation.
    """
    j = np.searchsorted(t_s[lo:hi], tq) + lo
    if j < hi and t_s[j] == tq:
        return x_m[j], y_m[j], j, j
    if j <= lo:
        return x_m[lo], y_m[lo], lo, lo
    if j >= hi:
        return x_m[hi - 1], y_m[hi - 1], hi - 1, hi - 1
    f = (tq - t_s[j - 1]) / (t_s[j] - t_s[j - 1])
    return (x_m[j - 1] + f * (x_m[j] - x_m[j - 1]), y_m[j - 1] + f * (y_m[j] - y_m[j - 1]), j - 1, j)


@kernel
def _evidence_passes(t_s, x_m, y_m, acc_m, lo, hi, ws, we, wlo, whi, px, py, r, t1, t2, max_gap_s):
    """The exact passes of one hit: ``(n_pass, ivs)`` with pass ``k`` in ``ivs[2k:2k + 2]``."""
    a = np.searchsorted(t_s[lo:hi], t1) + lo
    b = np.searchsorted(t_s[lo:hi], t2, side="right") + lo
    st = np.empty(ST_SIZE, np.float64)
    # room for one pass per piece: evaluate_subject looks at fixes a - 1 .. b, in each window
    ivs = np.empty(2 * (b - a + 2) * (whi - wlo + 1) + 2, np.float64)
    evaluate_subject(t_s, x_m, y_m, acc_m, lo, hi, ws, we, wlo, whi, px, py, r, t1, t2, max_gap_s, st, ivs)
    return np.int64(st[ST_PASSES]), ivs


PRUNE_SLACK_M = 1.0
"""A segment whose bounding box lies farther than R + this from the scene is never within R, metres.

Far above float error (a box distance and a closest approach computed apart differ by nanometres),
so a skipped segment is one whose exact evaluation finds no within-R interval.
"""


@kernel
def _pruned_passes(t_s, x_m, y_m, lo, hi, ws, we, wlo, whi, px, py, r, t1, t2, max_gap_s, margin_m):
    """The passes of :func:`_evidence_passes`, skipping segments whose box is beyond R + :data:`PRUNE_SLACK_M`.

    Every other piece is evaluated as :func:`eval_run` does, in the same order, so the within-R
    intervals and their merging are the same: ``(n_pass, ivs, n_rows)`` with pass ``k`` in
    ``ivs[2k:2k + 2]``, and the number of evidence rows :func:`_evidence_rows` gives them (counted
    in the same scan of the fixes).
    """
    a0 = np.searchsorted(t_s[lo:hi], t1) + lo
    b0 = np.searchsorted(t_s[lo:hi], t2, side="right") + lo
    st = np.empty(ST_SIZE, np.float64)
    ivs = np.empty(2 * (b0 - a0 + 2) * (whi - wlo + 1) + 2, np.float64)
    state_init(st)
    n_fix = 0
    if hi > lo:
        a = a0 - 1 if a0 - 1 >= lo else lo
        b = b0 if b0 <= hi - 1 else hi - 1
        r2 = r * r
        rm2 = (r + margin_m) * (r + margin_m)
        far = r + PRUNE_SLACK_M
        far2 = far * far
        for i in range(a, b + 1):
            ti = t_s[i]
            linked_next = i + 1 < hi and t_s[i + 1] - ti <= max_gap_s
            if i < b and linked_next:
                xa, xb = x_m[i], x_m[i + 1]
                ya, yb = y_m[i], y_m[i + 1]
                if box_distance2(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb), px, py) <= far2:
                    tn = t_s[i + 1]
                    for w in range(wlo, whi):
                        ta, tb = _segment_span(ti, tn, t1, t2, ws[w], we[w])
                        if ta > tb:
                            continue
                        cd2, ct = _closest2(ti, xa, ya, tn, xb, yb, px, py, ta, tb)
                        wa, wb = _within_given_closest(ti, xa, ya, tn, xb, yb, px, py, r, ta, tb, cd2, ct)
                        if wa == wa:
                            add_interval(st, ivs, wa, wb)
            if a0 <= i < b0 and _monitored(ws, we, wlo, whi, ti):  # a fix row of the evidence, as counted there
                dx = x_m[i] - px
                dy = y_m[i] - py
                if dx * dx + dy * dy <= rm2:
                    n_fix += 1
            if not (t1 <= ti <= t2):
                continue
            linked_prev = i > lo and ti - t_s[i - 1] <= max_gap_s
            if linked_prev or linked_next:
                continue
            dx = x_m[i] - px
            dy = y_m[i] - py
            if dx * dx + dy * dy <= r2 and _monitored(ws, we, wlo, whi, ti):  # an isolated fix within R
                add_interval(st, ivs, ti, ti)
    state_finish(st, ivs)
    k = np.int64(st[ST_PASSES])
    return k, ivs, (n_fix + 2 * k if k > 0 else 0)


@kernel
def _evidence_rows(t_s, x_m, y_m, lo, hi, ws, we, wlo, whi, px, py, r, t1, t2, margin_m, n_pass, ivs,
                   out_kind, out_pass, out_t, out_x, out_y, out_fa, out_fb, out_d, fill):
    """Evidence rows of one hit with ``n_pass`` passes ``ivs``; returns their number, writing them when ``fill``.

    Rows come by pass, then time, then kind (first, fix, last at one instant): each fix within
    R + margin goes to the pass nearest in time (the first on a tie), so the fixes' passes rise
    with time, and a pass's first and last points are merged in among its fixes.
    """
    if n_pass == 0:
        return 0
    a = np.searchsorted(t_s[lo:hi], t1) + lo
    b = np.searchsorted(t_s[lo:hi], t2, side="right") + lo
    m = 0
    rm2 = (r + margin_m) * (r + margin_m)
    k = 0  # the pass whose rows are being written
    stage = 0  # 0: nothing of pass k yet, 1: its first point written, 2: its last point written
    for i in range(a, b):
        if not _monitored(ws, we, wlo, whi, t_s[i]):
            continue
        dx = x_m[i] - px
        dy = y_m[i] - py
        d2 = dx * dx + dy * dy
        if d2 > rm2:
            continue
        if fill:
            best = 0
            best_dt = np.inf
            for j in range(n_pass):
                s0 = ivs[2 * j]
                s1 = ivs[2 * j + 1]
                dtk = s0 - t_s[i] if t_s[i] < s0 else (t_s[i] - s1 if t_s[i] > s1 else 0.0)
                if dtk < best_dt:
                    best_dt = dtk
                    best = j
            # finish the passes before this fix's, and this pass's points at or before it
            while k < best or (k == best and ((stage == 0 and ivs[2 * k] <= t_s[i])
                                              or (stage == 1 and ivs[2 * k + 1] < t_s[i]))):
                _evidence_point(t_s, x_m, y_m, lo, hi, px, py, ivs, k, stage + 1, m, out_kind, out_pass, out_t,
                                out_x, out_y, out_fa, out_fb, out_d)
                m += 1
                stage += 1
                if stage == 2:
                    k += 1
                    stage = 0
            out_kind[m] = 0
            out_pass[m] = best
            out_t[m] = t_s[i]
            out_x[m] = x_m[i]
            out_y[m] = y_m[i]
            out_fa[m] = i
            out_fb[m] = i
            out_d[m] = np.sqrt(d2)
        m += 1
    if fill:
        while k < n_pass:
            _evidence_point(t_s, x_m, y_m, lo, hi, px, py, ivs, k, stage + 1, m, out_kind, out_pass, out_t,
                            out_x, out_y, out_fa, out_fb, out_d)
            m += 1
            stage += 1
            if stage == 2:
                k += 1
                stage = 0
    else:
        m += 2 * n_pass
    return m


@kernel
def _evidence_point(t_s, x_m, y_m, lo, hi, px, py, ivs, k, kind, m, out_kind, out_pass, out_t, out_x, out_y,
                    out_fa, out_fb, out_d):
    """Write the first (``kind`` 1) or last (2) point of pass ``k`` as row ``m``."""
    tq = ivs[2 * k + kind - 1]
    qx, qy, ja, jb = locate(t_s, x_m, y_m, lo, hi, tq)
    out_kind[m] = kind
    out_pass[m] = k
    out_t[m] = tq
    out_x[m] = qx
    out_y[m] = qy
    out_fa[m] = ja
    out_fb[m] = jb
    out_d[m] = np.sqrt((qx - px) * (qx - px) + (qy - py) * (qy - py))


EVIDENCE_KEEP_PASSES = 8
"""Passes per hit kept between :func:`evidence_counts` and :func:`evidence_fill` (more: evaluated again)."""


@parallel_kernel
def evidence_counts(t_s, x_m, y_m, acc_m, offsets, ws, we, win_offsets, subject, px, py, r, t1, t2, max_gap_s,
                    margin_m):
    """The counting phase of the evidence of many hits: ``(rows, n_pass, kept_passes)`` per hit.

    ``kept_passes[h]`` holds hit ``h``'s pass intervals (up to :data:`EVIDENCE_KEEP_PASSES`; a hit
    with more is evaluated again when filled), so :func:`evidence_fill` need not find them again.
    """
    n = subject.shape[0]
    counts = np.zeros(n, np.int64)
    npass = np.zeros(n, np.int64)
    keep = np.empty((n, 2 * EVIDENCE_KEEP_PASSES), np.float64)
    for h in prange(n):
        s = subject[h]
        lo, hi = offsets[s], offsets[s + 1]
        wlo, whi = win_offsets[s], win_offsets[s + 1]
        k, ivs, rows = _pruned_passes(t_s, x_m, y_m, lo, hi, ws, we, wlo, whi, px[h], py[h], r[h], t1[h], t2[h],
                                      max_gap_s, margin_m)
        counts[h] = rows
        npass[h] = k
        for j in range(min(2 * k, 2 * EVIDENCE_KEEP_PASSES)):
            keep[h, j] = ivs[j]
    return counts, npass, keep


@parallel_kernel
def evidence_fill(t_s, x_m, y_m, acc_m, offsets, ws, we, win_offsets, subject, px, py, r, t1, t2, max_gap_s,
                  margin_m, off, npass, keep):
    """The filling phase: evidence rows of hits (CSR ``off`` from :func:`evidence_counts`, from 0) by hit on threads.

    Returns ``(kind, pass, t, x, y, fa, fb, d)``: kind 0 fix, 1 first, 2 last point of a pass.
    """
    n = subject.shape[0]
    m = off[n]
    kind = np.empty(m, np.int64)
    pas = np.empty(m, np.int64)
    t = np.empty(m, np.float64)
    x = np.empty(m, np.float64)
    y = np.empty(m, np.float64)
    fa = np.empty(m, np.int64)
    fb = np.empty(m, np.int64)
    d = np.empty(m, np.float64)
    for h in prange(n):
        s = subject[h]
        a = off[h]
        b = off[h + 1]
        lo, hi = offsets[s], offsets[s + 1]
        wlo, whi = win_offsets[s], win_offsets[s + 1]
        if npass[h] <= EVIDENCE_KEEP_PASSES:
            k, ivs = npass[h], keep[h]
        else:
            k, ivs, _ = _pruned_passes(t_s, x_m, y_m, lo, hi, ws, we, wlo, whi, px[h], py[h], r[h], t1[h], t2[h],
                                       max_gap_s, margin_m)
        _evidence_rows(t_s, x_m, y_m, lo, hi, ws, we, wlo, whi, px[h], py[h], r[h], t1[h], t2[h], margin_m, k, ivs,
                       kind[a:b], pas[a:b], t[a:b], x[a:b], y[a:b], fa[a:b], fb[a:b], d[a:b], True)
    return kind, pas, t, x, y, fa, fb, d


def evidence_many(t_s, x_m, y_m, acc_m, offsets, ws, we, win_offsets, subject, px, py, r, t1, t2, max_gap_s,
                  margin_m):
    """Evidence rows of many hits (CSR by hit): ``(off, kind, pass, t, x, y, fa, fb, d)``; both phases at once."""
    args = (t_s, x_m, y_m, acc_m, offsets, ws, we, win_offsets, subject, px, py, r, t1, t2, max_gap_s, margin_m)
    counts, npass, keep = evidence_counts(*args)
    off = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=off[1:])
    return (off, *evidence_fill(*args, off, npass, keep))


@kernel
def _gap_coverage(t_s, offsets, ws, we, win_offsets, run_offsets, run_start, run_end, fix, t1, t2, max_gap_s,
                  halo_s, out_cov):
    for k in range(fix.shape[0]):
        s = np.searchsorted(offsets, fix[k], side="right") - 1
        out_cov[k] = coverage_indexed(t_s, offsets[s], offsets[s + 1], t1, t2, max_gap_s, halo_s, ws, we,
                                      win_offsets[s], win_offsets[s + 1], run_start, run_end, run_offsets[s],
                                      run_offsets[s + 1])


@kernel
def gaps_one(t_s, x_m, y_m, offsets, ws, we, win_offsets, gap_offsets, gap_fix, gap_max_s, gap_cell_m,
             run_offsets, run_start, run_end, px, py, t1, t2, max_gap_s, halo_s, near_m):
    """Gaps near one scene, serially: ``(first fixes, sorted; coverage of [t1, t2] of each gap's subject)``."""
    n = scan_gaps(t_s, x_m, y_m, gap_offsets, gap_fix, gap_max_s, gap_cell_m, px, py, t1, t2, near_m,
                  np.empty(0, np.int64))
    fix = np.empty(n, np.int64)
    scan_gaps(t_s, x_m, y_m, gap_offsets, gap_fix, gap_max_s, gap_cell_m, px, py, t1, t2, near_m, fix)
    fix.sort()
    cov = np.empty(n, np.float64)
    _gap_coverage(t_s, offsets, ws, we, win_offsets, run_offsets, run_start, run_end, fix, t1, t2, max_gap_s,
                  halo_s, cov)
    return fix, cov


@parallel_kernel
def gaps_many(t_s, x_m, y_m, offsets, ws, we, win_offsets, gap_offsets, gap_fix, gap_max_s, gap_cell_m,
              run_offsets, run_start, run_end, px, py, t1, t2, max_gap_s, halo_s, near_m):
    """Gaps longer than ``max_gap_s`` meeting each crime window with both fixes within ``near_m``; CSR by crime.

    Returns ``(offsets, first fixes (sorted per crime), coverage of each gap's subject)``.
    """
    n = px.shape[0]
    counts = np.zeros(n, np.int64)
    empty = np.empty(0, np.int64)
    for q in prange(n):
        counts[q] = scan_gaps(t_s, x_m, y_m, gap_offsets, gap_fix, gap_max_s, gap_cell_m, px[q], py[q], t1[q],
                              t2[q], near_m, empty)
    off = np.zeros(n + 1, np.int64)
    for q in range(n):
        off[q + 1] = off[q] + counts[q]
    fix = np.empty(off[n], np.int64)
    cov = np.empty(off[n], np.float64)
    for q in prange(n):
        a = off[q]
        b = off[q + 1]
        scan_gaps(t_s, x_m, y_m, gap_offsets, gap_fix, gap_max_s, gap_cell_m, px[q], py[q], t1[q], t2[q], near_m,
                  fix[a:b])
        fix[a:b].sort()
        _gap_coverage(t_s, offsets, ws, we, win_offsets, run_offsets, run_start, run_end, fix[a:b], t1[q], t2[q],
                      max_gap_s, halo_s, cov[a:b])
    return off, fix, cov


@kernel
def _quotient(num, den):
    """``num / den`` (floats) as NumPy divides: ``inf``, ``-inf`` or NaN for a zero ``den``, never an exception."""
    if den != 0.0:
        return num / den
    if num != num or num == 0.0:
        return np.nan
    if (num > 0.0) == (np.copysign(1.0, den) > 0.0):
        return np.inf
    return -np.inf


@kernel
def _rounded_ns(sec):
    """A computed instant (s UTC) as int64 ns rounded to the microsecond (half to even); NaN gives int64 min."""
    if sec != sec:
        return np.iinfo(np.int64).min
    return np.int64(np.rint(sec * 1e6) * 1000.0)


@parallel_kernel
def evidence_columns(off, pas, t, fa, fb, d, t_s, x_m, y_m, lat, lon, acc_m, fix_type, speed_mps, heading_deg,
                     flags, t_ns, offsets, subject, unknown, r, max_gap_s):
    """Per-row evidence columns from :func:`evidence_many`'s rows (CSR ``off`` by hit), one pass, by hit on threads.

    Returns ``(seq, fix_time_ns, lat, lon, acc, fix_type, vx, vy, supplied_speed, supplied_heading,
    flag_key, within)``: the row's number within its pass (from 1); the instant as int64 ns (a fix's
    from ``t_ns`` when it has rows, else rounded to the microsecond); WGS84 of fix rows (NaN between
    fixes); accuracy and fix type of the bracketing fix with the larger accuracy (the first on a
    tie); velocity (m/s) from the linked neighbours at a fix (NaN without one), along the segment
    between fixes; the fix's supplied speed (m/s) and heading (degrees), NaN between fixes;
    ``flags * 2 + unknown`` of the later fix and the subject; distance within ``r``.
    """
    n = subject.shape[0]
    m = t.shape[0]
    seq = np.empty(m, np.int64)
    time_ns = np.empty(m, np.int64)
    out_lat = np.empty(m, np.float64)
    out_lon = np.empty(m, np.float64)
    acc = np.empty(m, np.float64)
    ftype = np.empty(m, np.int32)
    vx = np.empty(m, np.float64)
    vy = np.empty(m, np.float64)
    sup_speed = np.empty(m, np.float64)
    sup_head = np.empty(m, np.float64)
    flag_key = np.empty(m, np.int64)
    within = np.empty(m, np.bool_)
    has_ns = t_ns.shape[0] > 0
    for h in prange(n):
        s = subject[h]
        lo, hi = offsets[s], offsets[s + 1]
        for k in range(off[h], off[h + 1]):
            seq[k] = seq[k - 1] + 1 if k > off[h] and pas[k] == pas[k - 1] else 1
            i, j = fa[k], fb[k]
            if acc_m[j] > acc_m[i]:
                acc[k] = acc_m[j]
                ftype[k] = fix_type[j]
            else:
                acc[k] = acc_m[i]
                ftype[k] = fix_type[i]
            if i == j:
                time_ns[k] = t_ns[i] if has_ns else _rounded_ns(t_s[i])
                out_lat[k] = lat[i]
                out_lon[k] = lon[i]
                a = i - 1 if i > lo and t_s[i] - t_s[i - 1] <= max_gap_s else i
                b = i + 1 if i + 1 < hi and t_s[i + 1] - t_s[i] <= max_gap_s else i
                dt = t_s[b] - t_s[a]
                if dt > 0:
                    vx[k] = (x_m[b] - x_m[a]) / dt
                    vy[k] = (y_m[b] - y_m[a]) / dt
                else:
                    vx[k] = np.nan
                    vy[k] = np.nan
                sup_speed[k] = speed_mps[i]
                sup_head[k] = heading_deg[i]
            else:
                time_ns[k] = _rounded_ns(t[k])
                out_lat[k] = np.nan
                out_lon[k] = np.nan
                dt = t_s[j] - t_s[i]
                vx[k] = _quotient(x_m[j] - x_m[i], dt)
                vy[k] = _quotient(y_m[j] - y_m[i], dt)
                sup_speed[k] = np.nan
                sup_head[k] = np.nan
            flag_key[k] = np.int64(flags[j]) * 2 + (1 if unknown[h] else 0)
            within[k] = d[k] <= r[h]
    return seq, time_ns, out_lat, out_lon, acc, ftype, vx, vy, sup_speed, sup_head, flag_key, within


@kernel
def dense_codes(keys, n_keys):
    """Codes of ``keys`` (int64 in ``0..n_keys - 1``) in the sorted distinct keys: ``(codes (int32), distinct keys)``.

    The same as ``np.unique(keys, return_inverse=True)`` swapped, in O(n + n_keys).
    """
    seen = np.zeros(n_keys, np.int64)
    for k in range(keys.shape[0]):
        seen[keys[k]] = 1
    distinct = 0
    for v in range(n_keys):
        if seen[v]:
            seen[v] = distinct
            distinct += 1
        else:
            seen[v] = -1
    uniq = np.empty(distinct, np.int64)
    for v in range(n_keys):
        if seen[v] >= 0:
            uniq[seen[v]] = v
    codes = np.empty(keys.shape[0], np.int32)
    for k in range(keys.shape[0]):
        codes[k] = seen[keys[k]]
    return codes, uniq
