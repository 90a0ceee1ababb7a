"""Numba kernels of the spatiotemporal index: chunking, hashed counting sort, candidate scan, gaps, known runs.

Metres in the store's projected CRS, seconds UTC, contiguous float64/int64 arrays only.
"""

from __future__ import annotations

import numpy as np

from trailmon._jit import kernel, parallel_kernel, prange
from trailmon._known_kernels import fix_known_interval

_HX = 73856093
_HY = 19349663
_HT = 83492791


@kernel
def slot_of(cx, cy, tb, mask):
    """Hash slot of grid cell ``(cx, cy)`` and time bucket ``tb``."""
    return ((cx * _HX) ^ (cy * _HY) ^ (tb * _HT)) & mask


@kernel
def build_chunks(t_s, x_m, y_m, offsets, max_gap_s, max_fixes, max_extent_m, max_span_s):
    """Split each subject's fixes into chunks: runs joined by segments, bounded in fixes, extent and span.

    Returns ``(f0, f1, subject, x0, y0, x1, y1)``; chunks of a run share their boundary fix.
    """
    n = t_s.shape[0]
    f0 = np.empty(n, np.int64)
    f1 = np.empty(n, np.int64)
    sub = np.empty(n, np.int64)
    bx0 = np.empty(n, np.float64)
    by0 = np.empty(n, np.float64)
    bx1 = np.empty(n, np.float64)
    by1 = np.empty(n, np.float64)
    m = 0
    for s in range(offsets.shape[0] - 1):
        lo = offsets[s]
        hi = offsets[s + 1]
        i = lo
        while i < hi:
            # chunk starting at fix i
            a = i
            xa = x_m[i]
            ya = y_m[i]
            xb = xa
            yb = ya
            j = i
            while j + 1 < hi and t_s[j + 1] - t_s[j] <= max_gap_s:
                nx = x_m[j + 1]
                ny = y_m[j + 1]
                ux0 = xa if xa < nx else nx
                ux1 = xb if xb > nx else nx
                uy0 = ya if ya < ny else ny
                uy1 = yb if yb > ny else ny
                if j > a and (ux1 - ux0 > max_extent_m or uy1 - uy0 > max_extent_m
                              or t_s[j + 1] - t_s[a] > max_span_s or j + 1 - a >= max_fixes):
                    break
                xa = ux0
                xb = ux1
                ya = uy0
                yb = uy1
                j += 1
            f0[m] = a
            f1[m] = j
            sub[m] = s
            bx0[m] = xa
            by0[m] = ya
            bx1[m] = xb
            by1[m] = yb
            m += 1
            if j == a:
                i = j + 1  # isolated fix
            elif j + 1 < hi and t_s[j + 1] - t_s[j] <= max_gap_s:
                i = j  # the run goes on: the next chunk starts at the shared fix
            else:
                i = j + 1
    return f0[:m].copy(), f1[:m].copy(), sub[:m].copy(), bx0[:m].copy(), by0[:m].copy(), bx1[:m].copy(), by1[:m].copy()


@kernel
def count_keys(t_s, f0, f1, x0, y0, x1, y1, cell_m, bucket_s):
    """Number of (cell, bucket) keys each chunk touches, shape ``(n_chunk,)``."""
    n = f0.shape[0]
    out = np.empty(n, np.int64)
    for c in range(n):
        nx = np.int64(np.floor(x1[c] / cell_m)) - np.int64(np.floor(x0[c] / cell_m)) + 1
        ny = np.int64(np.floor(y1[c] / cell_m)) - np.int64(np.floor(y0[c] / cell_m)) + 1
        nt = np.int64(np.floor(t_s[f1[c]] / bucket_s)) - np.int64(np.floor(t_s[f0[c]] / bucket_s)) + 1
        out[c] = nx * ny * nt
    return out


@kernel
def fill_slots(t_s, f0, f1, x0, y0, x1, y1, cell_m, bucket_s, mask):
    """Counting sort of chunk ids into hash slots, each chunk once per slot; returns ``(slot_offsets, slot_chunks)``."""
    n = f0.shape[0]
    n_slot = mask + 1
    counts = np.zeros(n_slot + 1, np.int64)
    last = np.empty(n_slot, np.int64)  # last chunk put in each slot: two keys of one chunk may share a slot
    for phase in range(2):
        last[:] = -1
        if phase == 1:
            for h in range(n_slot):
                counts[h + 1] += counts[h]
            entries = np.empty(counts[n_slot], np.int64)
            cursor = counts[:n_slot].copy()
        else:
            entries = np.empty(0, np.int64)
            cursor = np.empty(0, np.int64)
        for c in range(n):
            cx0 = np.int64(np.floor(x0[c] / cell_m))
            cx1 = np.int64(np.floor(x1[c] / cell_m))
            cy0 = np.int64(np.floor(y0[c] / cell_m))
            cy1 = np.int64(np.floor(y1[c] / cell_m))
            tb0 = np.int64(np.floor(t_s[f0[c]] / bucket_s))
            tb1 = np.int64(np.floor(t_s[f1[c]] / bucket_s))
            for cx in range(cx0, cx1 + 1):
                for cy in range(cy0, cy1 + 1):
                    for tb in range(tb0, tb1 + 1):
                        h = slot_of(cx, cy, tb, mask)
                        if last[h] == c:
                            continue
                        last[h] = c
                        if phase == 0:
                            counts[h + 1] += 1
                        else:
                            entries[cursor[h]] = c
                            cursor[h] += 1
    return counts, entries


@kernel
def box_distance2(x0, y0, x1, y1, px, py):
    """Squared distance from point ``(px, py)`` to a box, square metres; 0 inside."""
    dx = 0.0
    if px < x0:
        dx = x0 - px
    elif px > x1:
        dx = px - x1
    dy = 0.0
    if py < y0:
        dy = y0 - py
    elif py > y1:
        dy = py - y1
    return dx * dx + dy * dy


@kernel
def scan_candidates(t_s, f0, f1, x0, y0, x1, y1, slot_offsets, slot_chunks, cell_m, bucket_s,
                    px, py, radius_m, t1_s, t2_s, out):
    """Chunks whose box comes within ``radius_m`` of ``(px, py)`` and whose span meets ``[t1_s, t2_s]``.

    Each chunk is reported once (in the key of its reference point). Writes up to ``len(out)``
    chunk ids into ``out`` (unsorted) and returns the number found.
    """
    mask = slot_offsets.shape[0] - 2
    r2 = radius_m * radius_m
    qx0 = px - radius_m
    qy0 = py - radius_m
    cx0 = np.int64(np.floor(qx0 / cell_m))
    cx1 = np.int64(np.floor((px + radius_m) / cell_m))
    cy0 = np.int64(np.floor(qy0 / cell_m))
    cy1 = np.int64(np.floor((py + radius_m) / cell_m))
    tb0 = np.int64(np.floor(t1_s / bucket_s))
    tb1 = np.int64(np.floor(t2_s / bucket_s))
    cap = out.shape[0]
    k = 0
    for cx in range(cx0, cx1 + 1):
        for cy in range(cy0, cy1 + 1):
            for tb in range(tb0, tb1 + 1):
                h = slot_of(cx, cy, tb, mask)
                for e in range(slot_offsets[h], slot_offsets[h + 1]):
                    c = slot_chunks[e]
                    ta = t_s[f0[c]]
                    if ta > t2_s or t_s[f1[c]] < t1_s:
                        continue
                    if box_distance2(x0[c], y0[c], x1[c], y1[c], px, py) > r2:
                        continue
                    # report once: in the key holding the reference point of box and time overlap
                    rx = x0[c] if x0[c] > qx0 else qx0
                    ry = y0[c] if y0[c] > qy0 else qy0
                    rt = ta if ta > t1_s else t1_s
                    if (np.int64(np.floor(rx / cell_m)) != cx or np.int64(np.floor(ry / cell_m)) != cy
                            or np.int64(np.floor(rt / bucket_s)) != tb):
                        continue
                    if k < cap:
                        out[k] = c
                    k += 1
    return k


@kernel
def scan_bound(slot_offsets, cell_m, bucket_s, px, py, radius_m, t1_s, t2_s):
    """Entries :func:`scan_candidates` visits for one query: an upper bound on its candidates."""
    mask = slot_offsets.shape[0] - 2
    cx0 = np.int64(np.floor((px - radius_m) / cell_m))
    cx1 = np.int64(np.floor((px + radius_m) / cell_m))
    cy0 = np.int64(np.floor((py - radius_m) / cell_m))
    cy1 = np.int64(np.floor((py + radius_m) / cell_m))
    tb0 = np.int64(np.floor(t1_s / bucket_s))
    tb1 = np.int64(np.floor(t2_s / bucket_s))
    k = 0
    for cx in range(cx0, cx1 + 1):
        for cy in range(cy0, cy1 + 1):
            for tb in range(tb0, tb1 + 1):
                h = slot_of(cx, cy, tb, mask)
                k += slot_offsets[h + 1] - slot_offsets[h]
    return k


@parallel_kernel
def candidates_many(t_s, f0, f1, x0, y0, x1, y1, slot_offsets, slot_chunks, cell_m, bucket_s,
                    px, py, radius_m, t1_s, t2_s):
    """Candidate chunk ids of every query in one scan, CSR ``(offsets, chunk_ids)``, sorted per query.

    The entries a query visits bound its candidates, so each query scans once into its own part of a
    scratch array, which is then compacted.
    """
    n = px.shape[0]
    bound = np.zeros(n + 1, np.int64)
    for q in range(n):
        bound[q + 1] = bound[q] + scan_bound(slot_offsets, cell_m, bucket_s, px[q], py[q], radius_m[q],
                                             t1_s[q], t2_s[q])
    scratch = np.empty(bound[n], np.int64)
    counts = np.empty(n, np.int64)
    for q in prange(n):
        a = bound[q]
        part = scratch[a:bound[q + 1]]
        k = scan_candidates(t_s, f0, f1, x0, y0, x1, y1, slot_offsets, slot_chunks, cell_m, bucket_s,
                            px[q], py[q], radius_m[q], t1_s[q], t2_s[q], part)
        part[:k].sort()
        counts[q] = k
    offsets = np.zeros(n + 1, np.int64)
    for q in range(n):
        offsets[q + 1] = offsets[q] + counts[q]
    out = np.empty(offsets[n], np.int64)
    for q in prange(n):
        out[offsets[q]:offsets[q + 1]] = scratch[bound[q]:bound[q] + counts[q]]
    return offsets, out


@kernel
def known_runs(t_s, offsets, max_gap_s, halo_s):
    """Maximal intervals where the position is known, CSR by subject: ``(run_offsets, run_start, run_end)``.

    The rule of :func:`trailmon._known_kernels.fix_known_interval` (each fix known within ``halo_s``,
    segments up to ``max_gap_s`` known), touching intervals merged, over the whole trail, seconds UTC;
    :func:`trailmon.match._kernels.known_time_window` sums the same intervals over a window.
    """
    n = t_s.shape[0]
    n_sub = offsets.shape[0] - 1
    rs = np.empty(n, np.float64)
    re = np.empty(n, np.float64)
    run_offsets = np.zeros(n_sub + 1, np.int64)
    m = 0
    for s in range(n_sub):
        lo = offsets[s]
        hi = offsets[s + 1]
        cur_e = -np.inf
        for i in range(lo, hi):
            a, b = fix_known_interval(t_s, i, hi, max_gap_s, halo_s)
            if i == lo or a > cur_e:
                rs[m] = a
                re[m] = b
                m += 1
                cur_e = b
            elif b > cur_e:
                cur_e = b
                re[m - 1] = b
        run_offsets[s + 1] = m
    return run_offsets, rs[:m].copy(), re[:m].copy()


@kernel
def gap_table(t_s, x_m, y_m, gap_fix, cell_m):
    """Gaps hashed by the grid cell of their first fix, by start time within a slot.

    Returns ``(slot_offsets, gap_fix sorted, slot_max_s)``: the longest gap of each slot, seconds.
    """
    n = gap_fix.shape[0]
    n_slot = 16
    while n_slot < n:
        n_slot *= 2
    mask = n_slot - 1
    slot = np.empty(n, np.int64)
    counts = np.zeros(n_slot + 1, np.int64)
    for k in range(n):
        i = gap_fix[k]
        h = slot_of(np.int64(np.floor(x_m[i] / cell_m)), np.int64(np.floor(y_m[i] / cell_m)), 0, mask)
        slot[k] = h
        counts[h + 1] += 1
    for h in range(n_slot):
        counts[h + 1] += counts[h]
    cursor = counts[:n_slot].copy()
    out = np.empty(n, np.int64)
    for k in range(n):
        out[cursor[slot[k]]] = gap_fix[k]
        cursor[slot[k]] += 1
    max_s = np.zeros(n_slot, np.float64)
    for h in range(n_slot):
        part = out[counts[h]:counts[h + 1]]
        order = np.argsort(t_s[part], kind="mergesort")
        part[:] = part[order]
        for i in part:
            d = t_s[i + 1] - t_s[i]
            if d > max_s[h]:
                max_s[h] = d
    return counts, out, max_s


@kernel
def scan_gaps(t_s, x_m, y_m, gap_offsets, gap_fix, gap_max_s, cell_m, px, py, t1_s, t2_s, near_m, out):
    """Gaps ``(i, i + 1)`` meeting ``(t1_s, t2_s)`` with both fixes within ``near_m`` of ``(px, py)``.

    Writes up to ``len(out)`` first fixes ``i`` into ``out`` (unsorted) and returns their number.
    """
    mask = gap_offsets.shape[0] - 2
    near2 = near_m * near_m
    cx0 = np.int64(np.floor((px - near_m) / cell_m))
    cx1 = np.int64(np.floor((px + near_m) / cell_m))
    cy0 = np.int64(np.floor((py - near_m) / cell_m))
    cy1 = np.int64(np.floor((py + near_m) / cell_m))
    cap = out.shape[0]
    m = 0
    for cx in range(cx0, cx1 + 1):
        for cy in range(cy0, cy1 + 1):
            h = slot_of(cx, cy, 0, mask)
            a = gap_offsets[h]
            b = gap_offsets[h + 1]
            if a == b:
                continue
            # starts after t1_s - longest gap of the slot: binary search on the sorted starts
            lo_t = t1_s - gap_max_s[h] - 1.0  # a second of slack for rounding; the exact test follows
            while a < b:
                mid = (a + b) // 2
                if t_s[gap_fix[mid]] <= lo_t:
                    a = mid + 1
                else:
                    b = mid
            for e in range(a, gap_offsets[h + 1]):
                i = gap_fix[e]
                if t_s[i] >= t2_s:
                    break
                if not t_s[i + 1] > t1_s:
                    continue
                if np.int64(np.floor(x_m[i] / cell_m)) != cx or np.int64(np.floor(y_m[i] / cell_m)) != cy:
                    continue  # another cell sharing the slot
                d0 = (x_m[i] - px) ** 2 + (y_m[i] - py) ** 2
                d1 = (x_m[i + 1] - px) ** 2 + (y_m[i + 1] - py) ** 2
                if d0 > near2 or d1 > near2:
                    continue
                if m < cap:
                    out[m] = i
                m += 1
    return m


@kernel
def monitored_gaps(t_s, offsets, ws, we, win_offsets, max_gap_s):
    """Fixes ``i`` followed by a gap longer than ``max_gap_s`` of the same subject, both fixes monitored."""
    n = t_s.shape[0]
    out = np.empty(n, np.int64)
    m = 0
    for s in range(offsets.shape[0] - 1):
        for i in range(offsets[s], offsets[s + 1] - 1):
            if t_s[i + 1] - t_s[i] > max_gap_s:
                ok_a = False
                ok_b = False
                for w in range(win_offsets[s], win_offsets[s + 1]):
                    if ws[w] <= t_s[i] <= we[w]:
                        ok_a = True
                    if ws[w] <= t_s[i + 1] <= we[w]:
                        ok_b = True
                if ok_a and ok_b:
                    out[m] = i
                    m += 1
    return out[:m].copy()
