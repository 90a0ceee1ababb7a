"""Co-location by brute force: every pair of subjects, every pair of known pieces, bisection on the distance."""

from __future__ import annotations

from tests.naive import proximity as prox
from tests.naive import segment as seg

MERGE_S = 1e-6
TIE_M = 1e-6


def subject_pieces(trails, s, t1, t2, max_gap_s, max_accuracy_m):
    """``(ta, tb, (t, x, y), i, j)`` of subject ``s``: the accuracy rule first, then the §3 pieces."""
    lo, hi = int(trails.offsets[s]), int(trails.offsets[s + 1])
    keep = [k for k in range(lo, hi) if not trails.accuracy_m[k] > max_accuracy_m]
    t = [float(trails.t_s[k]) for k in keep]
    x = [float(trails.x_m[k]) for k in keep]
    y = [float(trails.y_m[k]) for k in keep]
    return [(ta, tb, (t, x, y), i, j) for ta, tb, i, j in prox.pieces(t, prox.windows_of(trails, s), t1, t2,
                                                                       max_gap_s)]


def _at(p, at):
    _, _, (t, x, y), i, j = p
    return seg.position(t[i], x[i], y[i], t[j], x[j], y[j], at)


def episodes(trails, t1, t2, distance_m=50.0, min_duration_s=600.0, max_gap_s=600.0, max_accuracy_m=100.0):
    """``[(a, b, start, end, min_distance, closest_time, mid_x, mid_y)]`` over all pairs a < b."""
    ids = trails.subject_ids.tolist()
    pieces = [subject_pieces(trails, s, t1, t2, max_gap_s, max_accuracy_m) for s in range(len(ids))]
    out = []
    for a in range(len(ids)):
        for b in range(a + 1, len(ids)):
            ivs = []
            for pa in pieces[a]:
                for pb in pieces[b]:
                    lo, hi = max(pa[0], pb[0]), min(pa[1], pb[1])
                    if lo > hi:
                        continue
                    (ax0, ay0), (bx0, by0) = _at(pa, lo), _at(pb, lo)
                    (ax1, ay1), (bx1, by1) = _at(pa, hi), _at(pb, hi)
                    r = (lo, ax0 - bx0, ay0 - by0, hi, ax1 - bx1, ay1 - by1)
                    iv = seg.time_within_segment(*r, 0.0, 0.0, distance_m, lo, hi)
                    if iv is None:
                        continue
                    d, tc = seg.closest_approach_segment(*r, 0.0, 0.0, iv[0], iv[1])
                    (xa, ya), (xb, yb) = _at(pa, tc), _at(pb, tc)
                    ivs.append([iv[0], iv[1], d, tc, (xa + xb) / 2, (ya + yb) / 2])
            ivs.sort()
            merged = []
            for iv in ivs:
                if merged and iv[0] <= merged[-1][1] + MERGE_S:
                    m = merged[-1]
                    m[1] = max(m[1], iv[1])
                    if iv[2] < m[2] - TIE_M or (abs(iv[2] - m[2]) <= TIE_M and iv[3] < m[3]):
                        m[2:] = iv[2:]
                else:
                    merged.append(list(iv))
            out += [(ids[a], ids[b], *m[:2], m[2], m[3], m[4], m[5]) for m in merged if m[1] - m[0] >= min_duration_s]
    return out
