"""Adaptors to independent implementations: MEOS (pymeos), planar, SRID 27700, linear interpolation."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime

import pytest

requires_pymeos = pytest.mark.skipif(importlib.util.find_spec("pymeos") is None, reason="pymeos is not installed")

_INITIALISED = False


def _meos():
    global _INITIALISED
    import pymeos

    if not _INITIALISED:
        pymeos.pymeos_initialize("UTC")
        _INITIALISED = True
    return pymeos


def _iso(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, tz=UTC).isoformat(timespec="microseconds")


def meos_trail(t, x, y, max_gap_s=600.0):
    """A ``TGeomPointSeqSet`` (SRID 27700): sequences split at gaps > max_gap_s, isolated fixes as instants."""
    pm = _meos()
    seqs, cur = [], [0]
    for i in range(1, len(t)):
        if t[i] - t[i - 1] <= max_gap_s:
            cur.append(i)
        else:
            seqs.append(cur)
            cur = [i]
    seqs.append(cur)
    text = ", ".join("[" + ", ".join(f"POINT({float(x[i]):.6f} {float(y[i]):.6f})@{_iso(float(t[i]))}" for i in s)
                     + "]" for s in seqs)
    return pm.TGeomPointSeqSet(f"SRID=27700;{{{text}}}")


def meos_window(trail, t1, t2):
    """The trail restricted to ``[t1, t2]``, or None."""
    pm = _meos()
    return trail.at(pm.TsTzSpan(f"[{_iso(t1)}, {_iso(t2)}]"))


def meos_min_distance(trail, px, py):
    """Nearest-approach distance to the scene, metres."""
    import shapely

    return trail.nearest_approach_distance(shapely.set_srid(shapely.Point(px, py), 27700))


def meos_time_within(trail, px, py, r):
    """Seconds the trail spends within ``r`` of the scene (``tdwithin``), 0 when never."""
    import shapely

    spans = trail.within_distance(shapely.set_srid(shapely.Point(px, py), 27700), r).when_true()
    return 0.0 if spans is None else spans.duration().total_seconds()
