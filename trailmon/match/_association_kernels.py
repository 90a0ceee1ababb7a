"""Kernels of co-location (SPEC §3): an occupancy index of (cell, hour) keys, candidate pairs, exact together time.

Pieces are the known parts of each subject's trail (a segment between linked fixes, or an isolated
fix), clipped to its monitoring windows and the period, CSR by subject and in time order. Metres in
the store's CRS, seconds UTC.
"""

from __future__ import annotations

import numpy as np

from trailmon._jit import kernel, parallel_kernel, prange
from trailmon.match._proximity_kernels import closest_approach_segment, time_within_segment


@kernel
def piece_position(t_s, x_m, y_m, i, j, t):
    """Position (m) at instant ``t`` of the piece between fixes ``i`` and ``j`` (``i == j``: the fix)."""
    if j == i or t_s[j] == t_s[i]:
        return x_m[i], y_m[i]
    f = (t - t_s[i]) / (t_s[j] - t_s[i])
    return x_m[i] + f * (x_m[j] - x_m[i]), y_m[i] + f * (y_m[j] - y_m[i])


@kernel
def _piece_keys(t_s, x_m, y_m, pi, pj, pa, pb, p, cell_m, hour_s, cx0, cy0, h0, nx, ny, out_key, m):
    """Write the (hour, cell) keys of piece ``p``'s box into ``out_key[m:]`` (when long enough); returns the count."""
    xa, ya = piece_position(t_s, x_m, y_m, pi[p], pj[p], pa[p])
    xb, yb = piece_position(t_s, x_m, y_m, pi[p], pj[p], pb[p])
    c0 = np.int64(np.floor(min(xa, xb) / cell_m)) - cx0
    c1 = np.int64(np.floor(max(xa, xb) / cell_m)) - cx0
    r0 = np.int64(np.floor(min(ya, yb) / cell_m)) - cy0
    r1 = np.int64(np.floor(max(ya, yb) / cell_m)) - cy0
    k0 = np.int64(np.floor(pa[p] / hour_s)) - h0
    k1 = np.int64(np.floor(pb[p] / hour_s)) - h0
    n = 0
    cap = out_key.shape[0]
    for k in range(k0, k1 + 1):
        for r in range(r0, r1 + 1):
            for c in range(c0, c1 + 1):
                if m + n < cap:
                    # one cell of padding either side: a neighbour's key never wraps into another row or hour
                    out_key[m + n] = (k * (ny + 2) + (r + 1)) * (nx + 2) + (c + 1)
                n += 1
    return n


@parallel_kernel
def occupancy_keys(t_s, x_m, y_m, pi, pj, pa, pb, psub, cell_m, hour_s, cx0, cy0, h0, nx, ny):
    """Every (hour, cell) key each piece occupies, with its subject: ``(keys, subjects)``, unsorted."""
    n = pi.shape[0]
    counts = np.zeros(n, np.int64)
    empty = np.empty(0, np.int64)
    for p in prange(n):
        counts[p] = _piece_keys(t_s, x_m, y_m, pi, pj, pa, pb, p, cell_m, hour_s, cx0, cy0, h0, nx, ny, empty, 0)
    off = np.zeros(n + 1, np.int64)
    for p in range(n):
        off[p + 1] = off[p] + counts[p]
    keys = np.empty(off[n], np.int64)
    subj = np.empty(off[n], np.int64)
    for p in prange(n):
        _piece_keys(t_s, x_m, y_m, pi, pj, pa, pb, p, cell_m, hour_s, cx0, cy0, h0, nx, ny, keys[off[p]:off[p + 1]],
                    0)
        subj[off[p]:off[p + 1]] = psub[p]
    return keys, subj


@kernel
def _group_of(gkeys, key):
    """Position of ``key`` in the sorted ``gkeys``, or -1."""
    a = 0
    b = gkeys.shape[0]
    while a < b:
        mid = (a + b) // 2
        if gkeys[mid] < key:
            a = mid + 1
        else:
            b = mid
    if a < gkeys.shape[0] and gkeys[a] == key:
        return a
    return -1


@kernel
def _emit_pairs(gkeys, goff, gsub, g, nx, stride, out_a, out_b, out_k, m):
    """Pairs of subjects in group ``g`` and its neighbour cells (each unordered cell pair once); returns the count."""
    g = np.int64(g)  # a prange index may be unsigned: keep every group position int64
    cap = out_a.shape[0]
    n = 0
    key = gkeys[g]
    k = key // stride
    for d in range(5):  # self, then east, north-west, north, north-east: each neighbouring cell pair once
        if d == 0:
            g2 = g
        else:
            dx = 1 if d == 1 else (d - 3)
            dy = 0 if d == 1 else 1
            g2 = _group_of(gkeys, key + dy * (nx + 2) + dx)
            if g2 < 0:
                continue
        for u in range(goff[g], goff[g + 1]):
            lo = goff[g2]
            if g2 == g:
                lo = u + 1
            for w in range(lo, goff[g2 + 1]):
                a = gsub[u]
                b = gsub[w]
                if a == b:
                    continue
                if m + n < cap:
                    out_a[m + n] = min(a, b)
                    out_b[m + n] = max(a, b)
                    out_k[m + n] = k
                n += 1
    return n


@parallel_kernel
def candidate_pairs(gkeys, goff, gsub, nx, ny):
    """Pairs of subjects occupying neighbouring cells in the same hour: ``(a, b, hour offset)``, a < b, with repeats.

    ``gkeys`` are the distinct keys, sorted; group ``g`` holds the distinct subjects ``gsub[goff[g]:goff[g + 1]]``.
    """
    n = gkeys.shape[0]
    stride = (ny + 2) * (nx + 2)
    counts = np.zeros(n, np.int64)
    e = np.empty(0, np.int64)
    for g in prange(n):
        counts[g] = _emit_pairs(gkeys, goff, gsub, g, nx, stride, e, e, e, 0)
    off = np.zeros(n + 1, np.int64)
    for g in range(n):
        off[g + 1] = off[g] + counts[g]
    out_a = np.empty(off[n], np.int64)
    out_b = np.empty(off[n], np.int64)
    out_k = np.empty(off[n], np.int64)
    for g in prange(n):
        _emit_pairs(gkeys, goff, gsub, g, nx, stride, out_a[off[g]:off[g + 1]], out_b[off[g]:off[g + 1]],
                    out_k[off[g]:off[g + 1]], 0)
    return out_a, out_b, out_k


@kernel
def _first_piece(pb, lo, hi, t):
    """First piece in ``[lo, hi)`` ending at or after ``t`` (pieces in time order)."""
    a = lo
    b = hi
    while a < b:
        mid = (a + b) // 2
        if pb[mid] < t:
            a = mid + 1
        else:
            b = mid
    return a


@kernel
def _boxes_near(x_m, y_m, i1, j1, i2, j2, dist_m):
    """False when the boxes of two fix pairs are more than ``dist_m`` apart along x or y (never together)."""
    if min(x_m[i1], x_m[j1]) - max(x_m[i2], x_m[j2]) > dist_m:
        return False
    if min(x_m[i2], x_m[j2]) - max(x_m[i1], x_m[j1]) > dist_m:
        return False
    if min(y_m[i1], y_m[j1]) - max(y_m[i2], y_m[j2]) > dist_m:
        return False
    return not min(y_m[i2], y_m[j2]) - max(y_m[i1], y_m[j1]) > dist_m


@kernel
def _together(t_s, x_m, y_m, pi, pj, pa, pb, poff, sa, sb, w0, w1, dist_m, out, m):
    """Together intervals of subjects ``sa`` and ``sb`` within ``[w0, w1]``, written to ``out[m:]``; the count.

    Each row of ``out``: start, end (s), least squared distance (m^2) and its first instant, midpoint x, y.
    """
    cap = out.shape[0]
    n = 0
    ua = _first_piece(pb, poff[sa], poff[sa + 1], w0)
    ub = _first_piece(pb, poff[sb], poff[sb + 1], w0)
    while ua < poff[sa + 1] and ub < poff[sb + 1]:
        if pa[ua] > w1 or pa[ub] > w1:
            break
        lo = max(pa[ua], pa[ub], w0)
        hi = min(pb[ua], pb[ub], w1)
        if lo <= hi and _boxes_near(x_m, y_m, pi[ua], pj[ua], pi[ub], pj[ub], dist_m):
            xa0, ya0 = piece_position(t_s, x_m, y_m, pi[ua], pj[ua], lo)
            xb0, yb0 = piece_position(t_s, x_m, y_m, pi[ub], pj[ub], lo)
            xa1, ya1 = piece_position(t_s, x_m, y_m, pi[ua], pj[ua], hi)
            xb1, yb1 = piece_position(t_s, x_m, y_m, pi[ub], pj[ub], hi)
            # relative motion is linear on the overlap: the proximity maths with the scene at the origin
            r0x = xa0 - xb0
            r0y = ya0 - yb0
            r1x = xa1 - xb1
            r1y = ya1 - yb1
            u0, u1 = time_within_segment(lo, r0x, r0y, hi, r1x, r1y, 0.0, 0.0, dist_m, lo, hi)
            if not np.isnan(u0):
                if m + n < cap:  # the counting pass needs no closest approach
                    d, tc = closest_approach_segment(lo, r0x, r0y, hi, r1x, r1y, 0.0, 0.0, u0, u1)
                    xa, ya = piece_position(t_s, x_m, y_m, pi[ua], pj[ua], tc)
                    xb, yb = piece_position(t_s, x_m, y_m, pi[ub], pj[ub], tc)
                    out[m + n, 0] = u0
                    out[m + n, 1] = u1
                    out[m + n, 2] = d * d
                    out[m + n, 3] = tc
                    out[m + n, 4] = (xa + xb) / 2
                    out[m + n, 5] = (ya + yb) / 2
                n += 1
        # advance the piece that ends first (both when they end together)
        if pb[ua] <= pb[ub]:
            if pb[ub] == pb[ua]:
                ub += 1
            ua += 1
        else:
            ub += 1
    return n


@parallel_kernel
def together_intervals(t_s, x_m, y_m, pi, pj, pa, pb, poff, ca, cb, cw0, cw1, dist_m):
    """Together intervals of each candidate ``(ca[q], cb[q])`` over ``[cw0[q], cw1[q]]``: ``(offsets, rows (n, 6))``."""
    n = ca.shape[0]
    counts = np.zeros(n, np.int64)
    e = np.empty((0, 6), np.float64)
    for q in prange(n):
        counts[q] = _together(t_s, x_m, y_m, pi, pj, pa, pb, poff, ca[q], cb[q], cw0[q], cw1[q], dist_m, e, 0)
    off = np.zeros(n + 1, np.int64)
    for q in range(n):
        off[q + 1] = off[q] + counts[q]
    out = np.empty((off[n], 6), np.float64)
    for q in prange(n):
        if counts[q] == 0:  # most candidates are never together: walk them once only
            continue
        _together(t_s, x_m, y_m, pi, pj, pa, pb, poff, ca[q], cb[q], cw0[q], cw1[q], dist_m, out[off[q]:off[q + 1]], 0)
    return off, out


@kernel
def merge_episodes(pair, rows):
    """Merge touching together intervals of each pair (rows sorted by pair, then start) into episodes.

    Returns ``(pair, start, end, least squared distance, its first instant, midpoint x, midpoint y)`` per episode.
    """
    n = pair.shape[0]
    ep = np.empty(n, np.int64)
    out = np.empty((n, 6), np.float64)
    m = -1
    for k in range(n):
        if m >= 0 and pair[k] == ep[m] and rows[k, 0] <= out[m, 1]:
            if rows[k, 1] > out[m, 1]:
                out[m, 1] = rows[k, 1]
            if rows[k, 2] < out[m, 2]:  # strictly less: the first instant of the minimum stays
                out[m, 2] = rows[k, 2]
                out[m, 3] = rows[k, 3]
                out[m, 4] = rows[k, 4]
                out[m, 5] = rows[k, 5]
        else:
            m += 1
            ep[m] = pair[k]
            out[m, :] = rows[k, :]
    return ep[:m + 1], out[:m + 1]
