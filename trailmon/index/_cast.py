"""Boundary of the index: check and cast arguments before they reach the kernels."""

from __future__ import annotations

import math

import numpy as np

from trailmon.errors import InputError
from trailmon.trail import Trails

__all__ = ["as_f64", "check_positive", "check_query", "check_trails"]


def as_f64(name: str, values, n: int | None = None) -> np.ndarray:
    """Contiguous float64 array of shape ``(n,)``; a scalar is broadcast to ``n``."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 0 and n is not None:
        arr = np.full(n, float(arr))
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        want = f"({n},)" if n is not None else "(n,)"
        raise InputError(f"{name} must have shape {want}, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (or >= 0), else InputError naming ``name``."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InputError(f"{name} must be a finite number {bound}, got {value!r}")
    return v


def check_trails(trails: Trails) -> None:
    """Raise InputError when the fix arrays cannot be indexed (not finite, not sorted in time)."""
    if not isinstance(trails, Trails):
        raise InputError(f"trails must be a trailmon.trail.Trails, got {type(trails).__name__}")
    for name in ("t_s", "x_m", "y_m"):
        arr = getattr(trails, name)
        if arr.dtype != np.float64 or not arr.flags.c_contiguous:
            raise InputError(f"trails.{name} must be contiguous float64, got {arr.dtype}")
        bad = ~np.isfinite(arr)
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise InputError(f"trails.{name} must be finite, got {float(arr[k])!r} at fix {k}")
    if trails.n_fixes > 1:
        step = np.diff(trails.t_s)
        starts = trails.offsets[1:-1]
        step_ok = step >= 0
        step_ok[starts[(starts > 0) & (starts < trails.n_fixes)] - 1] = True
        if not step_ok.all():
            k = int(np.flatnonzero(~step_ok)[0])
            raise InputError(f"trails.t_s must increase within each subject; fix {k + 1} is earlier than fix {k}")


def check_query(x_m, y_m, t1_s, t2_s, radius_m) -> tuple[np.ndarray, ...]:
    """Query arguments as float64 arrays of one length; InputError for empty or reversed windows."""
    x = np.atleast_1d(np.asarray(x_m, dtype=np.float64))
    n = x.shape[0]
    x = as_f64("x_m", x, n)
    y = as_f64("y_m", y_m, n)
    t1 = as_f64("t1_s", t1_s, n)
    t2 = as_f64("t2_s", t2_s, n)
    r = as_f64("radius_m", radius_m, n)
    for name, arr in (("x_m", x), ("y_m", y), ("t1_s", t1), ("t2_s", t2)):
        if not np.isfinite(arr).all():
            k = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise InputError(f"{name} must be finite, got {float(arr[k])!r} at position {k}")
    if not (np.isfinite(r) & (r > 0)).all():
        k = int(np.flatnonzero(~(np.isfinite(r) & (r > 0)))[0])
        raise InputError(f"radius_m must be > 0, got {float(r[k])!r} at position {k}")
    if (t2 < t1).any():
        k = int(np.flatnonzero(t2 < t1)[0])
        raise InputError(f"t2_s must be >= t1_s, got t1_s={float(t1[k])!r}, t2_s={float(t2[k])!r} at position {k}")
    return x, y, t1, t2, r
