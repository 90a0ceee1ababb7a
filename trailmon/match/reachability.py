"""Reachability across a gap near the scene: the space-time prism's least speed (SPEC §3).

A gap near the scene says only that the position was unknown between two fixes A and B. How
fast would the subject have had to move to be *at the scene point P* at some admissible instant?
The answer is a closed form over plain arrays (vectorised NumPy: a handful of operations per gap,
no loop worth a kernel).
"""

from __future__ import annotations

import numpy as np

from trailmon.errors import InputError

__all__ = ["REACHABLE_BY", "SPEED_THRESHOLDS_KMH", "gap_reachability", "min_speed_mps", "reachable_by"]

SPEED_THRESHOLDS_KMH: dict[str, float] = {"foot": 6.0, "cycle": 20.0, "vehicle": 112.0}
"""Default upper speeds of each class, km/h: a v* at or below a threshold is reachable that way."""

REACHABLE_BY: tuple[str, ...] = ("foot", "cycle", "vehicle", "no")
"""The values of ``reachable_by``, slowest first."""


def min_speed_mps(d_a_m, d_b_m, t_a_s, t_b_s, t1_s, t2_s) -> np.ndarray:
    """Least average speed to be at the scene during the gap and the window, m/s (``inf`` when impossible).

    Parameters
    ----------
    d_a_m, d_b_m : float or array, shape (n_gap,)
        Distances from the scene of the fixes A (before the gap) and B (after it), each already
        reduced by that fix's accuracy and floored at 0, metres.
    t_a_s, t_b_s : float or array, shape (n_gap,)
        Instants of A and B, seconds UTC; ``t_a_s <= t_b_s``.
    t1_s, t2_s : float or array, shape (n_gap,)
        The crime window, seconds UTC; it must meet ``[t_a_s, t_b_s]``.

    Returns
    -------
    ndarray of float64, shape (n_gap,)
        v* in metres per second; ``inf`` when the admissible instants allow no finite speed.

    Raises
    ------
    InputError
        When a distance is negative or not a number, or the gap does not meet the window.

    Notes
    -----
    With the admissible instants ``[a, b] = [max(tA, T1), min(tB, T2)]``,
    ``v* = min over t in [a, b] of max(dA / (t - tA), dB / (tB - t))`` (``x/0 = inf`` for x > 0 and
    ``0/0 = 0``). The first term grows and the second falls with t, so the minimum is where they
    cross, ``t0 = tA + (tB - tA) dA / (dA + dB)`` (``a`` when ``dA + dB = 0``), clipped to ``[a, b]``;
    where ``t0`` lies inside ``[a, b]`` the value is ``(dA + dB) / (tB - tA)``, computed so.

    Examples
    --------
    >>> float(min_speed_mps(3000.0, 1000.0, 0.0, 1200.0, 0.0, 1200.0)) * 3.6
    12.0
    """
    d_a, d_b, t_a, t_b, t1, t2 = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64)
                                                        for v in (d_a_m, d_b_m, t_a_s, t_b_s, t1_s, t2_s)))
    if not ((d_a >= 0) & (d_b >= 0)).all():
        raise InputError("d_a_m and d_b_m must be distances >= 0 metres (accuracy already taken off, floored "
                         f"at 0), got {d_a[~(d_a >= 0)][:1].tolist() + d_b[~(d_b >= 0)][:1].tolist()}")
    a = np.maximum(t_a, t1)
    b = np.minimum(t_b, t2)
    if (a > b).any():
        k = int(np.flatnonzero(a > b)[0])
        raise InputError(f"the gap [{t_a.flat[k]!r}, {t_b.flat[k]!r}] does not meet the window "
                         f"[{t1.flat[k]!r}, {t2.flat[k]!r}] at position {k}; reachability needs both to meet")
    s = d_a + d_b
    gap = t_b - t_a
    # in seconds after tA: instants near 1.8e9 s would cost the crossing its last digits
    lo, hi = a - t_a, b - t_a
    with np.errstate(divide="ignore", invalid="ignore"):
        u0 = np.where(s > 0, gap * np.where(s > 0, d_a / s, 0.0), lo)
        u = np.clip(u0, lo, hi)
        ends = np.maximum(_ratio(d_a, u), _ratio(d_b, gap - u))
        # at an interior crossing both terms equal (dA + dB) / (tB - tA): no rounding of t0 to spoil it
        inside = (s > 0) & (u0 >= lo) & (u0 <= hi) & (gap > 0)
        return np.where(inside, s / np.where(gap > 0, gap, 1.0), ends)


def _ratio(d: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """``d / dt`` with ``x/0 = inf`` for x > 0 and ``0/0 = 0`` (d, dt >= 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dt > 0, d / np.where(dt > 0, dt, 1.0), np.where(d > 0, np.inf, 0.0))


def reachable_by(v_mps, thresholds_kmh: dict[str, float] | None = None) -> np.ndarray:
    """The slowest class that reaches the scene at speed ``v_mps``: ``foot``, ``cycle``, ``vehicle`` or ``no``.

    Parameters
    ----------
    v_mps : float or array, shape (n_gap,)
        Exact least speeds, m/s (``inf`` allowed), as :func:`min_speed_mps` gives.
    thresholds_kmh : dict, optional
        Upper speeds ``{"foot", "cycle", "vehicle"}`` in km/h; :data:`SPEED_THRESHOLDS_KMH` by default.

    Returns
    -------
    ndarray of object, shape (n_gap,)
        One of :data:`REACHABLE_BY` per speed (an infinite speed is ``no``).

    Raises
    ------
    InputError
        For thresholds that are missing, not positive or not increasing.

    Examples
    --------
    >>> reachable_by([1.0, 5.0, 30.0, 40.0, float("inf")]).tolist()
    ['foot', 'cycle', 'vehicle', 'no', 'no']
    """
    th = dict(SPEED_THRESHOLDS_KMH if thresholds_kmh is None else thresholds_kmh)
    missing = [k for k in ("foot", "cycle", "vehicle") if k not in th]
    if missing:
        raise InputError(f"thresholds_kmh lacks {missing}; give km/h for 'foot', 'cycle' and 'vehicle'")
    lim = [float(th["foot"]), float(th["cycle"]), float(th["vehicle"])]
    if not (0 < lim[0] <= lim[1] <= lim[2] < np.inf):
        raise InputError(f"thresholds_kmh must be positive, finite and increasing foot <= cycle <= vehicle, got {th!r}")
    kmh = np.asarray(v_mps, dtype=np.float64) * 3.6
    out = np.full(kmh.shape, "no", dtype=object)
    for name, v in zip(("vehicle", "cycle", "foot"), lim[::-1], strict=True):
        out[kmh <= v] = name
    return out


def gap_reachability(px_m, py_m, ax_m, ay_m, acc_a_m, bx_m, by_m, acc_b_m, t_a_s, t_b_s, t1_s, t2_s,
                     thresholds_kmh: dict[str, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``min_speed_kmh`` (rounded to 1e-6, NaN when infinite) and ``reachable_by`` of gaps near a scene.

    Parameters
    ----------
    px_m, py_m : float or array, shape (n_gap,)
        Scene, store metres.
    ax_m, ay_m, bx_m, by_m : array, shape (n_gap,)
        Fixes A and B bracketing each gap, store metres.
    acc_a_m, acc_b_m : array, shape (n_gap,)
        Their accuracies, metres; a missing one (NaN) counts as 0.
    t_a_s, t_b_s, t1_s, t2_s : array, shape (n_gap,)
        Instants of A and B, and the crime window, seconds UTC.
    thresholds_kmh : dict, optional
        As for :func:`reachable_by`.

    Returns
    -------
    tuple of ndarray
        ``min_speed_kmh`` (float64, NaN for an infinite v*) and ``reachable_by`` (object).

    Examples
    --------
    >>> kmh, by = gap_reachability(0.0, 0.0, 3000.0, 0.0, 0.0, 1000.0, 0.0, 0.0, 0.0, 1200.0, 0.0, 1200.0)
    >>> kmh.tolist(), by.tolist()
    ([12.0], ['cycle'])
    """
    def reduced(x, y, acc):
        acc = np.nan_to_num(np.asarray(acc, dtype=np.float64), nan=0.0)
        return np.maximum(0.0, np.hypot(np.asarray(x, dtype=np.float64) - px_m, np.asarray(y, dtype=np.float64)
                                        - py_m) - acc)

    v = np.atleast_1d(min_speed_mps(reduced(ax_m, ay_m, acc_a_m), reduced(bx_m, by_m, acc_b_m), t_a_s, t_b_s,
                                    t1_s, t2_s))
    kmh = np.where(np.isfinite(v), np.round(v * 3.6, 6), np.nan)
    return kmh, reachable_by(v, thresholds_kmh)
