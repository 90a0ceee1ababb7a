"""Brute-force twin of the index: every subject, every piece (no pruning at all)."""

from __future__ import annotations

from tests.naive import proximity as naive_proximity


def hit_set(trails, px, py, r, t1, t2, max_gap_s=600.0):
    """Subject positions whose interpolated position is within r of (px, py) during [t1, t2]."""
    return {s for s in range(trails.n_subjects)
            if naive_proximity.evaluate(trails, s, px, py, r, t1, t2, max_gap_s) is not None}


def candidate_superset_ok(candidates, trails, px, py, r, t1, t2, max_gap_s=600.0):
    """True when ``candidates`` holds every true hit."""
    return hit_set(trails, px, py, r, t1, t2, max_gap_s) <= set(int(c) for c in candidates)
