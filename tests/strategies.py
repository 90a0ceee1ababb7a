"""Hypothesis strategies: trails and crimes drawn at millimetre and millisecond resolution."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from trailmon.trail import make_trails

T0 = 1_784_030_400.0  # 2026-07-14T12:00:00Z, seconds UTC: realistic magnitudes for float rounding
MAX_GAP_S = 600.0

mm = st.integers(-600_000, 600_000).map(lambda v: v / 1000.0)          # metres, +-600 m, 1 mm steps
ms_step = st.one_of(                                                     # seconds between fixes, 1 ms steps
    st.integers(1, 120_000), st.integers(120_000, 700_000), st.just(60_000), st.just(0),
).map(lambda v: v / 1000.0)


def _at_ms(v: float) -> float:
    return T0 + round(v * 1000.0) / 1000.0


@st.composite
def segments(draw):
    """``(t0, x0, y0, t1, x1, y1)``: a segment with t1 >= t0, mm and ms resolution."""
    t0 = _at_ms(draw(st.integers(0, 3_600_000)) / 1000.0)
    dt = draw(st.integers(0, 600_000)) / 1000.0
    x0, y0 = draw(mm), draw(mm)
    if draw(st.booleans()):
        x1, y1 = x0, y0  # stationary
    else:
        x1, y1 = draw(mm), draw(mm)
    return t0, x0, y0, t0 + dt, x1, y1


@st.composite
def crime_windows(draw, seg=None):
    """``(px, py, ta, tb)``: a scene and a sub-window (used with a segment's span)."""
    px, py = draw(mm), draw(mm)
    return px, py, draw(st.floats(0.0, 1.0)), draw(st.floats(0.0, 1.0))


@st.composite
def subject_fixes(draw, max_fixes=10, duplicates=True):
    """Lists ``t, x, y, acc`` of one subject: mm positions, ms times, gaps and stays included."""
    n = draw(st.integers(1, max_fixes))
    t = [_at_ms(draw(st.integers(0, 1_800_000)) / 1000.0)]
    x, y = [draw(mm)], [draw(mm)]
    for _ in range(n - 1):
        step = draw(ms_step if duplicates else ms_step.filter(lambda v: v > 0))
        t.append(_at_ms(t[-1] - T0 + step))
        if draw(st.integers(0, 3)) == 0:
            x.append(x[-1])  # a stay: same place
            y.append(y[-1])
        else:
            x.append(draw(mm))
            y.append(draw(mm))
    acc = [draw(st.sampled_from([5.0, 10.0, 50.0, 500.0])) for _ in range(n)]
    return t, x, y, acc


@st.composite
def trails(draw, max_subjects=3, max_fixes=10, with_windows=True, duplicates=True):
    """:class:`~trailmon.trail.Trails` of up to ``max_subjects`` subjects, with optional monitoring windows."""
    k = draw(st.integers(1, max_subjects))
    sid, t, x, y, acc = [], [], [], [], []
    windows = {}
    for s in range(k):
        ts, xs, ys, accs = draw(subject_fixes(max_fixes=max_fixes, duplicates=duplicates))
        name = f"S{s}"
        sid += [name] * len(ts)
        t += ts
        x += xs
        y += ys
        acc += accs
        if with_windows and draw(st.booleans()):
            a = _at_ms(draw(st.integers(0, 2_400_000)) / 1000.0)
            windows[name] = [(a, a + draw(st.integers(0, 2_400_000)) / 1000.0)]
            if draw(st.booleans()):
                b = windows[name][0][1] + draw(st.integers(1, 600_000)) / 1000.0
                windows[name].append((b, b + draw(st.integers(0, 1_200_000)) / 1000.0))
    return make_trails(np.array(sid, dtype=object), np.array(t), np.array(x), np.array(y),
                       accuracy_m=np.array(acc), windows=windows)


@st.composite
def crimes(draw):
    """``(px, py, radius_m, t1, t2)``: a scene within the trails' box and a window, mm and ms resolution."""
    px, py = draw(mm), draw(mm)
    r = draw(st.sampled_from([50.0, 100.0, 150.5, 400.0]))
    t1 = _at_ms(draw(st.integers(-300_000, 3_000_000)) / 1000.0)
    t2 = _at_ms(t1 - T0 + draw(st.one_of(st.just(0), st.integers(0, 4_000_000))) / 1000.0)
    return px, py, r, t1, t2
