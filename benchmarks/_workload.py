"""The seeded "national day" workload (SPEC §6), shared by the benchmarks and ``sample_traces/``.

Every subject lives at a home inside one metropolitan area and makes one home-anchored tour a
day: home -> up to four destinations (shared hotspots, places near home, home for lunch) ->
home, each leg on an L-shaped street path by foot (1.4 m/s), bus (7.5 m/s moving, 15-45 s at
each stop: ~6 m/s overall) or car (~12 m/s, some waits at lights). The noise-free path is a
piecewise-linear function of time (the *truth*); the tag observes it about once a step with

- GPS noise of sigma 5 m per axis and a reported accuracy of 4-12 m,
- 1 % multipath outliers: GPS fixes 30-500 m off that still report 6-25 m accuracy,
- 3 % LBS fixes (accuracy ~500 m, position error to match), 1 % wifi fixes (20-60 m),
  and some RF fixes from the home unit,
- one charging gap per subject-day (30-120 min without fixes), 0-2 signal losses of
  3-12 min and 0.5 % single dropped fixes.

Three layers keep the generator editable (``sample_traces/generate.py`` plants its cases by
editing a :class:`Schedule` before the path is built):

``draw_schedules`` -> :class:`Schedule` -> ``build_paths`` -> :class:`Paths` -> ``observe`` ->
(:class:`Fixes`, :class:`Truth`)

:func:`iter_chunks` yields one (day, block of subjects) at a time so a month can be written to
disk without holding it; :func:`national_day` builds the whole day on it and adds the crimes
(~30 % planted within 150 m of a subject's interpolated position inside the window) and the
appointments (half at a real visit). :func:`write_csv` writes the generic trail CSV.

All randomness comes from ``numpy.random.default_rng`` streams keyed by ``(seed, ...)``: the
same arguments give the same arrays and the same bytes. Homes and hotspots depend on the seed
only; a block's trails depend on the seed, the day and the block (so on ``chunk_subjects``).

Run ``python benchmarks/_workload.py`` to time the full day.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from trailmon.trail import FIX_TYPES

__all__ = [
    "AREA",
    "DENSE_HOTSPOTS",
    "SEED",
    "START",
    "Chunk",
    "Fixes",
    "NationalDay",
    "Paths",
    "Schedule",
    "Truth",
    "build_paths",
    "concat_chunks",
    "draw_schedules",
    "iter_chunks",
    "make_pnc",
    "national_day",
    "observe",
    "plant_appointments",
    "plant_crimes",
    "subjects_frame",
    "trail_min_distance",
    "truth_position",
    "write_csv",
]

SEED = 20260714
START = "2026-07-14T00:00:00Z"
AREA = (375000.0, 385000.0, 405000.0, 410000.0)
DENSE_HOTSPOTS = 5
"""Hotspots of the dense national day: 26.9 exact hits per crime (269,218), the density SPEC §6 quotes (~27)."""
"""Default area ``(e_min, n_min, e_max, n_max)`` (bounds, as shapely orders them), British National Grid
metres: SPEC §6's 30 x 25 km."""

K_MAX = 4
"""Most destinations in a day's tour."""
N_STOPS = 8
"""Intermediate points on every leg (bus stops, lights); the path is sampled at them."""
SLOT_S = 4 * 86400.0
"""Time slot per subject when all subjects' waypoints are laid end to end for one ``np.interp``."""
DAY_S = 86400.0

WALK_MPS = 1.4
BUS_MPS = 7.5  # moving; with 15-45 s at each stop the trip averages ~6 m/s
CAR_MPS = 12.0
MODES = ("walk", "bus", "car")
MODE_SPEED = np.array([WALK_MPS, BUS_MPS, CAR_MPS])

GPS_SIGMA_M = 5.0
OUTLIER_SHARE = 0.01
LBS_SHARE = 0.03
WIFI_SHARE = 0.01
RF_AT_HOME_SHARE = 0.02
DROP_SHARE = 0.005
CODE = {name: i for i, name in enumerate(FIX_TYPES)}

MOJ_CODES = ("RB", "BIAD", "AB", "BOTD", "TOMV", "TFMV", "TFP")
PNC_LETTERS = "ZABCDEFGHJKLMNPQRTUVWXY"


# ----------------------------------------------------------------------------------------- arrays
class Schedule(NamedTuple):
    """One day's plan for ``n`` subjects; every time is seconds after the day's origin (UTC midnight).

    Stops are ``home, d1 .. d4, home``; stops after ``n_dest`` are home and legs between them
    have length zero. Edit the arrays in place, then call :func:`build_paths`.
    """

    home_x_m: np.ndarray  # (n,)
    home_y_m: np.ndarray  # (n,)
    stop_x_m: np.ndarray  # (n, K_MAX + 2)
    stop_y_m: np.ndarray  # (n, K_MAX + 2)
    n_dest: np.ndarray  # (n,) int64, 0 .. K_MAX
    depart_s: np.ndarray  # (n,) leaving home
    stay_s: np.ndarray  # (n, K_MAX + 2) time spent at each stop after arriving (0 for homes)
    mode: np.ndarray  # (n, K_MAX + 1) int64 leg mode (index into MODES); -1 = by distance
    mode_u: np.ndarray  # (n, K_MAX + 1) uniform draw that picks the mode by distance
    corner_x_first: np.ndarray  # (n, K_MAX + 1) bool: the L path goes east-west first
    speed_factor: np.ndarray  # (n, K_MAX + 1)
    stop_wait_u: np.ndarray  # (n, K_MAX + 1, N_STOPS) uniform draws for waits at stops / lights
    charge_start_s: np.ndarray  # (n,) the day's charging gap
    charge_s: np.ndarray  # (n,)
    loss_start_s: np.ndarray  # (n, 2) signal losses (length 0 = none)
    loss_s: np.ndarray  # (n, 2)


class Paths(NamedTuple):
    """Noise-free paths: waypoints per subject (CSR), absolute seconds UTC and BNG metres."""

    wp_offsets: np.ndarray  # (n + 1,)
    wp_t_s: np.ndarray
    wp_x_m: np.ndarray
    wp_y_m: np.ndarray
    stay_subject: np.ndarray  # (n_stay,) subject position within the block
    stay_arrive_s: np.ndarray
    stay_depart_s: np.ndarray
    stay_x_m: np.ndarray
    stay_y_m: np.ndarray
    stay_is_home: np.ndarray
    leg_mode: np.ndarray  # (n, K_MAX + 1) mode actually used (-1 for a zero-length leg)


class Fixes(NamedTuple):
    """Observed fixes sorted by subject then time (CSR by subject)."""

    subject_ids: np.ndarray  # (n_subject,) str
    offsets: np.ndarray  # (n_subject + 1,) int64
    t_s: np.ndarray  # (n_fix,) float64 seconds UTC (whole seconds)
    x_m: np.ndarray  # (n_fix,) float64 BNG easting, metres
    y_m: np.ndarray  # (n_fix,) float64 BNG northing, metres
    accuracy_m: np.ndarray  # (n_fix,) float64, metres
    fix_code: np.ndarray  # (n_fix,) int8 index into trailmon.trail.FIX_TYPES

    @property
    def n_fixes(self) -> int:
        return len(self.t_s)

    @property
    def subject_id(self) -> np.ndarray:
        """Subject of every fix, ``(n_fix,)`` str."""
        return np.repeat(self.subject_ids, np.diff(self.offsets))

    @property
    def fix_type(self) -> np.ndarray:
        """``gps|lbs|wifi|rf`` of every fix, ``(n_fix,)`` str."""
        return np.asarray(FIX_TYPES)[self.fix_code]

    def to_frame(self) -> pd.DataFrame:
        """One row per fix: ``subject_id, t_s, x_m, y_m, accuracy_m, fix_type``."""
        return pd.DataFrame(
            {
                "subject_id": self.subject_id,
                "t_s": self.t_s,
                "x_m": self.x_m,
                "y_m": self.y_m,
                "accuracy_m": self.accuracy_m,
                "fix_type": self.fix_type,
            }
        )


class Truth(NamedTuple):
    """What the generator knows and the tag does not."""

    x_m: np.ndarray  # (n_fix,) noise-free position at each fix instant
    y_m: np.ndarray
    outlier: np.ndarray  # (n_fix,) bool, multipath outliers (reported as gps)
    charge_start_s: np.ndarray  # (n_subject,) absolute seconds UTC
    charge_end_s: np.ndarray
    paths: Paths


class Chunk(NamedTuple):
    """One day of one block of subjects."""

    day: int
    first_subject: int
    fixes: Fixes
    truth: Truth
    schedule: Schedule


class NationalDay(NamedTuple):
    """The SPEC §6 reference workload."""

    fixes: Fixes
    truth: Truth
    crimes: pd.DataFrame
    appointments: pd.DataFrame
    subjects: pd.DataFrame


# ------------------------------------------------------------------------------------- schedules
def _start_s(start: str | pd.Timestamp) -> int:
    ts = pd.Timestamp(start)
    if ts.tzinfo is None:
        raise ValueError(f"start must carry a UTC offset or Z, got {start!r}")
    return int(ts.tz_convert("UTC").value // 10**9)


def homes_and_hotspots(
    n_subjects: int, seed: int, area: tuple[float, float, float, float], n_hotspots: int = 40
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Homes ``(n_subjects,)`` and hotspots ``(n_hotspots,)``: ``(home_x, home_y, hot_x, hot_y)``, metres."""
    e0, n0, e1, n1 = area
    rng = np.random.default_rng([seed, 0])
    margin = min(500.0, (e1 - e0) / 10, (n1 - n0) / 10)
    hot_x = rng.uniform(e0 + margin, e1 - margin, n_hotspots)
    hot_y = rng.uniform(n0 + margin, n1 - margin, n_hotspots)
    home_x = rng.uniform(e0 + margin, e1 - margin, n_subjects)
    home_y = rng.uniform(n0 + margin, n1 - margin, n_subjects)
    return home_x, home_y, hot_x, hot_y


def draw_schedules(
    rng: np.random.Generator,
    home_x_m: np.ndarray,
    home_y_m: np.ndarray,
    hot_x_m: np.ndarray,
    hot_y_m: np.ndarray,
    area: tuple[float, float, float, float],
    span_s: tuple[float, float] = (0.0, DAY_S),
) -> Schedule:
    """Random home-anchored tours for one day.

    Parameters
    ----------
    rng : numpy.random.Generator
        The only source of randomness.
    home_x_m, home_y_m : ndarray, shape (n,)
        Homes, BNG metres.
    hot_x_m, hot_y_m : ndarray, shape (n_hotspots,)
        Shared destinations (town centre, shops), BNG metres.
    area : tuple of float
        ``(e_min, n_min, e_max, n_max)``, metres; destinations are kept inside.
    span_s : tuple of float, default (0, 86400)
        Observed part of the day, seconds after the origin; the charging gap and the signal
        losses fall inside it.

    Returns
    -------
    Schedule
    """
    n = len(home_x_m)
    e0, n0, e1, n1 = area
    n_dest = rng.choice(K_MAX + 1, size=n, p=[0.08, 0.27, 0.32, 0.21, 0.12]).astype(np.int64)
    kind = rng.uniform(size=(n, K_MAX))
    hot = rng.integers(0, len(hot_x_m), size=(n, K_MAX))
    jit = rng.normal(size=(n, K_MAX, 2))
    dx = np.where(kind < 0.45, hot_x_m[hot] + 150 * jit[..., 0], home_x_m[:, None] + 1500 * jit[..., 0])
    dy = np.where(kind < 0.45, hot_y_m[hot] + 150 * jit[..., 1], home_y_m[:, None] + 1500 * jit[..., 1])
    lunch = kind > 0.88
    dx = np.where(lunch, home_x_m[:, None], np.clip(dx, e0, e1))
    dy = np.where(lunch, home_y_m[:, None], np.clip(dy, n0, n1))
    stop_x = np.repeat(home_x_m[:, None], K_MAX + 2, axis=1)
    stop_y = np.repeat(home_y_m[:, None], K_MAX + 2, axis=1)
    stop_x[:, 1 : K_MAX + 1] = dx
    stop_y[:, 1 : K_MAX + 1] = dy
    stay = np.zeros((n, K_MAX + 2))
    stay[:, 1 : K_MAX + 1] = np.exp(rng.uniform(np.log(15 * 60), np.log(3 * 3600), size=(n, K_MAX)))
    depart = rng.uniform(5 * 3600, 12 * 3600, n)
    lo, hi = span_s
    charge = rng.uniform(30 * 60, 120 * 60, n)
    charge_start = rng.uniform(lo + 600, np.maximum(lo + 600, hi - charge - 600))
    loss = np.where(rng.uniform(size=(n, 2)) < [0.5, 0.2], rng.uniform(180, 720, size=(n, 2)), 0.0)
    loss_start = rng.uniform(lo, hi, size=(n, 2))
    sched = Schedule(
        home_x_m=np.asarray(home_x_m, dtype=np.float64),
        home_y_m=np.asarray(home_y_m, dtype=np.float64),
        stop_x_m=stop_x,
        stop_y_m=stop_y,
        n_dest=n_dest,
        depart_s=depart,
        stay_s=stay,
        mode=np.full((n, K_MAX + 1), -1, dtype=np.int64),
        mode_u=rng.uniform(size=(n, K_MAX + 1)),
        corner_x_first=rng.uniform(size=(n, K_MAX + 1)) < 0.5,
        speed_factor=rng.uniform(0.85, 1.15, size=(n, K_MAX + 1)),
        stop_wait_u=rng.uniform(size=(n, K_MAX + 1, N_STOPS)),
        charge_start_s=charge_start,
        charge_s=charge,
        loss_start_s=loss_start,
        loss_s=loss,
    )
    return sched


def _mode_by_distance(length_m: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Walk / bus / car from the leg length and a uniform draw."""
    p_walk = np.select([length_m < 1200, length_m < 5000], [0.85, 0.10], 0.0)
    p_bus = np.select([length_m < 1200, length_m < 5000], [0.05, 0.50], 0.5)
    return np.where(u < p_walk, 0, np.where(u < p_walk + p_bus, 1, 2)).astype(np.int64)


def build_paths(sched: Schedule, origin_s: float, end_of_day_s: float = 23.5 * 3600) -> Paths:
    """Waypoints of the noise-free paths of one day.

    Parameters
    ----------
    sched : Schedule
        The day's plan (times after the origin).
    origin_s : float
        The day's origin, seconds since the Unix epoch, UTC.
    end_of_day_s : float, default 23.5 h
        Stays are shortened so that everyone is home by then (seconds after the origin), so
        that consecutive days join at home.

    Returns
    -------
    Paths
        The waypoints, strictly increasing in time per subject, from the origin (at home)
        to the end of the subject's slot (at home).
    """
    n = len(sched.depart_s)
    k1 = K_MAX + 1
    idx = np.arange(K_MAX + 2)
    active = idx[None, :] <= sched.n_dest[:, None]  # stops 0..n_dest are home + destinations
    sx = np.where(active, sched.stop_x_m, sched.home_x_m[:, None])
    sy = np.where(active, sched.stop_y_m, sched.home_y_m[:, None])
    stay = np.where(active & (idx[None, :] > 0), sched.stay_s, 0.0)
    ox, oy, dx, dy = sx[:, :-1], sy[:, :-1], sx[:, 1:], sy[:, 1:]  # legs (n, k1)
    cx = np.where(sched.corner_x_first, dx, ox)
    cy = np.where(sched.corner_x_first, oy, dy)
    l1 = np.hypot(cx - ox, cy - oy)
    l2 = np.hypot(dx - cx, dy - cy)
    length = l1 + l2
    mode = np.where(sched.mode >= 0, sched.mode, _mode_by_distance(length, sched.mode_u))
    mode = np.where(length > 0, mode, -1)
    speed = MODE_SPEED[np.maximum(mode, 0)] * sched.speed_factor
    # points along each leg at equal path-length fractions (n, k1, N_STOPS + 2)
    f = np.linspace(0.0, 1.0, N_STOPS + 2)
    s = f[None, None, :] * length[..., None]
    first = s <= l1[..., None]
    safe1 = np.where(l1 > 0, l1, 1.0)[..., None]
    safe2 = np.where(l2 > 0, l2, 1.0)[..., None]
    px = np.where(
        first,
        ox[..., None] + (cx - ox)[..., None] * s / safe1,
        cx[..., None] + (dx - cx)[..., None] * (s - l1[..., None]) / safe2,
    )
    py = np.where(
        first,
        oy[..., None] + (cy - oy)[..., None] * s / safe1,
        cy[..., None] + (dy - cy)[..., None] * (s - l1[..., None]) / safe2,
    )
    chord = np.zeros_like(px)
    chord[..., 1:] = np.hypot(np.diff(px, axis=-1), np.diff(py, axis=-1))
    move = chord / speed[..., None]
    wait = np.zeros_like(px)
    u = sched.stop_wait_u
    bus_wait = 15 + 30 * u
    car_wait = np.where(u < 0.6, 0.0, 5 + 40 * (u - 0.6) / 0.4)
    wait[..., 1:-1] = np.where(mode[..., None] == 1, bus_wait, np.where(mode[..., None] == 2, car_wait, 0.0))
    wait[..., 1:-1] *= (length > 0)[..., None]
    # shorten the stays so the tour ends by end_of_day_s
    travel = (move + wait).sum(axis=(1, 2))
    total_stay = stay.sum(axis=1)
    room = end_of_day_s - sched.depart_s - travel
    scale = np.clip(np.where(total_stay > 0, room / np.where(total_stay > 0, total_stay, 1.0), 1.0), 0.0, 1.0)
    stay = stay * scale[:, None]
    wait[..., -1] = stay[:, 1:]
    m = move.reshape(n, -1)
    w = wait.reshape(n, -1)
    arrive = sched.depart_s[:, None] + np.cumsum(m, axis=1) + np.cumsum(w, axis=1) - w
    depart = arrive + w
    t = np.stack([arrive, depart], axis=-1).reshape(n, -1)
    x = np.repeat(px.reshape(n, -1), 2, axis=1)
    y = np.repeat(py.reshape(n, -1), 2, axis=1)
    t = np.concatenate([np.zeros((n, 1)), t, np.full((n, 1), SLOT_S - 1.0)], axis=1)
    x = np.concatenate([sched.home_x_m[:, None], x, sched.home_x_m[:, None]], axis=1)
    y = np.concatenate([sched.home_y_m[:, None], y, sched.home_y_m[:, None]], axis=1)
    # keep strictly increasing times (duplicates have equal positions: zero-length moves)
    keep = np.ones(t.shape, dtype=bool)
    keep[:, 1:] = np.diff(t, axis=1) > 0
    counts = keep.sum(axis=1)
    wp_offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=wp_offsets[1:])
    # stays: morning at home, each destination, evening at home
    arr_leg = arrive.reshape(n, k1, N_STOPS + 2)[..., -1]  # arrival at stop j + 1
    dep_leg = depart.reshape(n, k1, N_STOPS + 2)[..., -1]
    subj = np.repeat(np.arange(n), K_MAX + 2)
    st_arr = np.concatenate([np.zeros((n, 1)), arr_leg], axis=1)
    st_dep = np.concatenate([sched.depart_s[:, None], dep_leg], axis=1)
    last = sched.n_dest + 1
    st_dep[np.arange(n), last] = SLOT_S - 1.0
    is_home = np.hypot(sx - sched.home_x_m[:, None], sy - sched.home_y_m[:, None]) < 1.0
    real = (idx[None, :] <= last[:, None]) & ((st_dep > st_arr) | (idx[None, :] == 0))
    real = real.ravel()
    return Paths(
        wp_offsets=wp_offsets,
        wp_t_s=t[keep] + origin_s,
        wp_x_m=x[keep],
        wp_y_m=y[keep],
        stay_subject=subj[real],
        stay_arrive_s=st_arr.ravel()[real] + origin_s,
        stay_depart_s=st_dep.ravel()[real] + origin_s,
        stay_x_m=sx.ravel()[real],
        stay_y_m=sy.ravel()[real],
        stay_is_home=is_home.ravel()[real],
        leg_mode=mode,
    )


def truth_position(paths: Paths, subject: np.ndarray, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free position of block subject(s) ``subject`` at ``t_s`` (seconds UTC), metres."""
    subject = np.asarray(subject, dtype=np.int64)
    t_s = np.asarray(t_s, dtype=np.float64)
    subject, t_s = np.broadcast_arrays(subject, t_s)
    n = len(paths.wp_offsets) - 1
    slot = np.repeat(np.arange(n, dtype=np.float64) * SLOT_S, np.diff(paths.wp_offsets))
    base = paths.wp_t_s[paths.wp_offsets[:-1]]  # origin of each subject's day
    gt = paths.wp_t_s - np.repeat(base, np.diff(paths.wp_offsets)) + slot
    q = t_s - base[subject] + subject * SLOT_S
    return np.interp(q, gt, paths.wp_x_m), np.interp(q, gt, paths.wp_y_m)


# ------------------------------------------------------------------------------------- observing
def observe(
    paths: Paths,
    sched: Schedule,
    rng: np.random.Generator,
    subject_ids: np.ndarray,
    origin_s: float,
    span_s: tuple[float, float],
    step_s: float = 60.0,
    clean: list[tuple[int, float, float]] | None = None,
) -> tuple[Fixes, Truth]:
    """Sample the paths like a tag: noise, outliers, LBS / wifi / RF fixes, gaps.

    Parameters
    ----------
    paths : Paths
        From :func:`build_paths`.
    sched : Schedule
        The same day's schedule (charging gaps and signal losses).
    rng : numpy.random.Generator
        The only source of randomness.
    subject_ids : ndarray of str, shape (n,)
        Identifiers of the block's subjects.
    origin_s : float
        The day's origin, seconds UTC.
    span_s : tuple of float
        Observed interval, seconds after the origin ``[lo, hi)``.
    step_s : float, default 60
        Nominal time between fixes, seconds (whole seconds).
    clean : list of (subject, t0_s, t1_s), optional
        Intervals (absolute seconds UTC) in which the subject's fixes are plain GPS with
        5 m noise: no outliers, LBS, wifi, RF or dropped fixes (planted cases).

    Returns
    -------
    (Fixes, Truth)
    """
    n = len(sched.depart_s)
    lo, hi = span_s
    step = int(step_s)
    n_t = int(np.ceil((hi - lo) / step))
    jitter_max = min(4, step - 1)
    grid = lo + np.arange(n_t, dtype=np.float64) * step
    t_rel = grid[None, :] + rng.integers(0, jitter_max + 1, size=(n, n_t))
    keep = t_rel < hi
    charge0 = sched.charge_start_s[:, None]
    keep &= ~((t_rel >= charge0) & (t_rel < charge0 + sched.charge_s[:, None]))
    for j in range(sched.loss_s.shape[1]):
        l0 = sched.loss_start_s[:, j : j + 1]
        keep &= ~((t_rel >= l0) & (t_rel < l0 + sched.loss_s[:, j : j + 1]))
    u_kind = rng.uniform(size=(n, n_t))
    t_abs = t_rel + origin_s
    is_clean = np.zeros((n, n_t), dtype=bool)
    for k, c0, c1 in clean or ():
        is_clean[k] |= (t_abs[k] >= c0) & (t_abs[k] <= c1)
    keep &= (u_kind >= DROP_SHARE) | is_clean
    counts = keep.sum(axis=1)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    subj = np.repeat(np.arange(n), counts)
    t = t_abs[keep]
    u = u_kind[keep]
    cln = is_clean[keep]
    m = len(t)
    tx, ty = truth_position(paths, subj, t)
    # categories from one draw (the first DROP_SHARE went to dropped fixes)
    v = (u - DROP_SHARE) / (1 - DROP_SHARE)
    v = np.where(cln, 1.0, np.clip(v, 0.0, 1.0))
    lbs = v < LBS_SHARE
    wifi = (v >= LBS_SHARE) & (v < LBS_SHARE + WIFI_SHARE)
    outlier = (v >= LBS_SHARE + WIFI_SHARE) & (v < LBS_SHARE + WIFI_SHARE + OUTLIER_SHARE)
    at_home = np.hypot(tx - sched.home_x_m[subj], ty - sched.home_y_m[subj]) < 30.0
    rf = at_home & (v >= 0.1) & (v < 0.1 + RF_AT_HOME_SHARE)
    noise = rng.normal(size=(m, 2))
    acc_u = rng.uniform(size=m)
    ang = rng.uniform(0, 2 * np.pi, m)
    out_d = np.exp(np.log(30.0) + (np.log(500.0) - np.log(30.0)) * acc_u)
    lbs_acc = np.clip(np.round(500.0 * np.exp(0.35 * rng.normal(size=m))), 150.0, 2000.0)
    acc = np.round(4.0 + 8.0 * acc_u, 1)
    sigma = np.full(m, GPS_SIGMA_M)
    acc = np.where(outlier, np.round(6.0 + 19.0 * acc_u, 1), acc)
    acc = np.where(wifi, np.round(20.0 + 40.0 * acc_u, 1), acc)
    sigma = np.where(wifi, acc / 2.5, sigma)
    acc = np.where(lbs, lbs_acc, acc)
    sigma = np.where(lbs, lbs_acc / 2.0, sigma)
    acc = np.where(rf, 50.0, acc)
    x = tx + sigma * noise[:, 0] + np.where(outlier, out_d * np.cos(ang), 0.0)
    y = ty + sigma * noise[:, 1] + np.where(outlier, out_d * np.sin(ang), 0.0)
    code = np.zeros(m, dtype=np.int8)
    code[lbs] = CODE["lbs"]
    code[wifi] = CODE["wifi"]
    code[rf] = CODE["rf"]
    fixes = Fixes(
        subject_ids=np.asarray(subject_ids),
        offsets=offsets,
        t_s=t,
        x_m=np.round(x, 3),
        y_m=np.round(y, 3),
        accuracy_m=acc,
        fix_code=code,
    )
    truth = Truth(
        x_m=tx,
        y_m=ty,
        outlier=outlier,
        charge_start_s=sched.charge_start_s + origin_s,
        charge_end_s=sched.charge_start_s + sched.charge_s + origin_s,
        paths=paths,
    )
    return fixes, truth


# ---------------------------------------------------------------------------------------- chunks
def subject_names(n_subjects: int, prefix: str = "S") -> np.ndarray:
    """``S00001 ..``: zero-padded so that text order is number order."""
    width = max(5, len(str(n_subjects)))
    return np.array([f"{prefix}{i + 1:0{width}d}" for i in range(n_subjects)])


def iter_chunks(
    n_subjects: int = 5000,
    *,
    days: int = 1,
    hours: float = 24,
    step_s: float = 60,
    seed: int = SEED,
    start: str = START,
    area: tuple[float, float, float, float] = AREA,
    chunk_subjects: int = 500,
    n_hotspots: int = 40,
) -> Iterator[Chunk]:
    """Yield the workload one (day, block of subjects) at a time, days outermost.

    Parameters
    ----------
    n_subjects : int, default 5000
        Subjects in all.
    days : int, default 1
        Consecutive days.
    hours : float, default 24
        Observed hours a day, from ``start``'s time of day.
    step_s : float, default 60
        Nominal seconds between fixes.
    seed : int
        Seed of every random stream.
    start : str, default "2026-07-14T00:00:00Z"
        First observed instant, ISO 8601 with an offset or Z; a day's schedule runs from
        the UTC midnight before it.
    area : tuple of float
        ``(e_min, n_min, e_max, n_max)``, British National Grid metres.
    chunk_subjects : int, default 500
        Subjects per block.
    n_hotspots : int, default 40
        Shared destinations; fewer make a denser day (more subjects near each busy scene).

    Yields
    ------
    Chunk
    """
    if n_subjects < 1 or chunk_subjects < 1 or days < 1:
        raise ValueError(
            f"n_subjects, chunk_subjects and days must be >= 1, got {n_subjects}, {chunk_subjects}, {days}"
        )
    if not 0 < hours <= 24:
        raise ValueError(f"hours must be in (0, 24], got {hours!r}")
    start_s = _start_s(start)
    day0 = start_s - start_s % int(DAY_S)
    span = (float(start_s - day0), float(start_s - day0) + hours * 3600.0)
    home_x, home_y, hot_x, hot_y = homes_and_hotspots(n_subjects, seed, area, n_hotspots)
    names = subject_names(n_subjects)
    for d in range(days):
        origin = float(day0 + d * DAY_S)
        for c, a in enumerate(range(0, n_subjects, chunk_subjects)):
            b = min(a + chunk_subjects, n_subjects)
            rng = np.random.default_rng([seed, 1, d, c])
            sched = draw_schedules(rng, home_x[a:b], home_y[a:b], hot_x, hot_y, area, span)
            paths = build_paths(sched, origin)
            fixes, truth = observe(paths, sched, rng, names[a:b], origin, span, step_s)
            yield Chunk(d, a, fixes, truth, sched)


def concat_chunks(chunks: list[Chunk]) -> tuple[Fixes, Truth]:
    """Join blocks of one day (subjects in order) into one :class:`Fixes` and :class:`Truth`."""
    fx = [c.fixes for c in chunks]
    tr = [c.truth for c in chunks]
    counts = np.concatenate([np.diff(f.offsets) for f in fx])
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    fixes = Fixes(
        subject_ids=np.concatenate([f.subject_ids for f in fx]),
        offsets=offsets,
        **{
            k: np.concatenate([getattr(f, k) for f in fx])
            for k in ("t_s", "x_m", "y_m", "accuracy_m", "fix_code")
        },
    )
    ps = [t.paths for t in tr]
    wcounts = np.concatenate([np.diff(p.wp_offsets) for p in ps])
    wp_offsets = np.zeros(len(wcounts) + 1, dtype=np.int64)
    np.cumsum(wcounts, out=wp_offsets[1:])
    shift = np.cumsum([0] + [len(p.wp_offsets) - 1 for p in ps[:-1]])
    paths = Paths(
        wp_offsets=wp_offsets,
        **{k: np.concatenate([getattr(p, k) for p in ps]) for k in ("wp_t_s", "wp_x_m", "wp_y_m")},
        stay_subject=np.concatenate([p.stay_subject + s for p, s in zip(ps, shift, strict=True)]),
        **{
            k: np.concatenate([getattr(p, k) for p in ps])
            for k in ("stay_arrive_s", "stay_depart_s", "stay_x_m", "stay_y_m", "stay_is_home")
        },
        leg_mode=np.concatenate([p.leg_mode for p in ps]),
    )
    truth = Truth(
        **{
            k: np.concatenate([getattr(t, k) for t in tr])
            for k in ("x_m", "y_m", "outlier", "charge_start_s", "charge_end_s")
        },
        paths=paths,
    )
    return fixes, truth


# --------------------------------------------------------------------------- crimes, appointments
def _utc(seconds: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(np.asarray(seconds, dtype="int64"), unit="s", utc=True)).as_unit(
        "ns"
    )


def plant_crimes(
    fixes: Fixes,
    n_crimes: int,
    rng: np.random.Generator,
    span_s: tuple[float, float],
    area: tuple[float, float, float, float],
    hot_x_m: np.ndarray,
    hot_y_m: np.ndarray,
    *,
    planted_share: float = 0.3,
    max_planted_m: float = 140.0,
    radius_m: float = 100.0,
    prefix: str = "NDC",
) -> pd.DataFrame:
    """Crimes with windows of 15 min - 12 h, ``planted_share`` of them near a subject's trail.

    A planted crime picks a segment between two clean GPS fixes of one subject at most 600 s
    apart (half of them on moving segments, > 100 m long), an instant ``tc`` on it (80 %
    strictly between the fixes), and puts the scene within ``max_planted_m`` of the
    interpolated *observed* position at ``tc``; the window contains ``tc``. The others are at
    hotspots or anywhere in the area, at any time.

    Returns
    -------
    pandas.DataFrame
        ``crime_ref, offence, x_m, y_m, committed_from, committed_to`` (UTC), ``radius_m``, and
        the ground truth ``planted, planted_subject, planted_t_s, planted_distance_m``.
    """
    lo, hi = span_s
    n_pl = int(round(planted_share * n_crimes))
    n_bg = n_crimes - n_pl
    t, x, y = fixes.t_s, fixes.x_m, fixes.y_m
    subj = np.repeat(np.arange(len(fixes.subject_ids)), np.diff(fixes.offsets))
    good = fixes.fix_code == CODE["gps"]
    seg_ok = (subj[:-1] == subj[1:]) & (np.diff(t) <= 600) & good[:-1] & good[1:]
    seg_len = np.hypot(np.diff(x), np.diff(y))
    cand_move = np.flatnonzero(seg_ok & (seg_len > 100))
    cand_any = np.flatnonzero(seg_ok)
    n_move = n_pl // 2 if len(cand_move) else 0
    i = np.concatenate(
        [
            rng.choice(cand_move, n_move) if n_move else np.zeros(0, np.int64),
            rng.choice(cand_any, n_pl - n_move),
        ]
    ).astype(np.int64)
    u = np.where(rng.uniform(size=n_pl) < 0.2, 0.0, rng.uniform(size=n_pl))
    tc = t[i] + u * (t[i + 1] - t[i])
    px = x[i] + u * (x[i + 1] - x[i])
    py = y[i] + u * (y[i + 1] - y[i])
    d = max_planted_m * np.sqrt(rng.uniform(size=n_pl))
    a = rng.uniform(0, 2 * np.pi, n_pl)
    span_len = hi - lo
    w = np.minimum(np.exp(rng.uniform(np.log(900), np.log(43200), n_crimes)), span_len)
    t1_pl = tc - rng.uniform(size=n_pl) * w[:n_pl]
    t1_pl = np.clip(t1_pl, np.maximum(lo, tc - w[:n_pl]), np.minimum(hi - w[:n_pl], tc))
    e0, n0, e1, n1 = area
    at_hot = rng.uniform(size=n_bg) < 0.5
    h = rng.integers(0, len(hot_x_m), n_bg)
    bx = np.where(at_hot, hot_x_m[h] + 300 * rng.normal(size=n_bg), rng.uniform(e0, e1, n_bg))
    by = np.where(at_hot, hot_y_m[h] + 300 * rng.normal(size=n_bg), rng.uniform(n0, n1, n_bg))
    t1_bg = lo + rng.uniform(size=n_bg) * (span_len - w[n_pl:])
    cx = np.concatenate([px + d * np.cos(a), bx])
    cy = np.concatenate([py + d * np.sin(a), by])
    t1 = np.floor(np.concatenate([t1_pl, t1_bg]))
    t2 = np.ceil(np.concatenate([t1_pl, t1_bg]) + w)
    planted = np.arange(n_crimes) < n_pl
    who = np.full(n_crimes, "", dtype=object)
    who[:n_pl] = fixes.subject_ids[subj[i]]
    order = rng.permutation(n_crimes)
    offence = np.asarray(MOJ_CODES)[rng.integers(0, len(MOJ_CODES), n_crimes)]
    width = max(6, len(str(n_crimes)))
    return pd.DataFrame(
        {
            "crime_ref": [f"{prefix}{k + 1:0{width}d}" for k in range(n_crimes)],
            "offence": offence,
            "x_m": np.round(cx[order], 3),
            "y_m": np.round(cy[order], 3),
            "committed_from": _utc(t1[order]),
            "committed_to": _utc(t2[order]),
            "radius_m": np.full(n_crimes, radius_m),
            "planted": planted[order],
            "planted_subject": who[order].astype(str),
            "planted_t_s": np.concatenate([tc, np.full(n_bg, np.nan)])[order],
            "planted_distance_m": np.concatenate([d, np.full(n_bg, np.nan)])[order],
        }
    )


def plant_appointments(
    truth: Truth,
    subject_ids: np.ndarray,
    n_appointments: int,
    rng: np.random.Generator,
    span_s: tuple[float, float],
    hot_x_m: np.ndarray,
    hot_y_m: np.ndarray,
    *,
    prefix: str = "NDA",
) -> pd.DataFrame:
    """Appointments: half during a real visit of >= 45 min (planted), half at a hotspot at any time.

    Returns
    -------
    pandas.DataFrame
        ``appointment_id, subject_id, start, end`` (UTC), ``center_x_m, center_y_m, radius_m``
        and ``planted``.
    """
    lo, hi = span_s
    p = truth.paths
    long = np.flatnonzero(
        ~p.stay_is_home
        & (p.stay_depart_s - p.stay_arrive_s >= 45 * 60)
        & (p.stay_arrive_s >= lo)
        & (p.stay_depart_s <= hi)
    )
    n_pl = min(n_appointments // 2, len(long))
    n_bg = n_appointments - n_pl
    s = rng.choice(long, n_pl, replace=False) if n_pl else np.zeros(0, np.int64)
    length = p.stay_depart_s[s] - p.stay_arrive_s[s]
    a0 = np.ceil((p.stay_arrive_s[s] + rng.uniform(0, 600, n_pl)) / 60) * 60
    dur = np.minimum(np.round(rng.uniform(30, 60, n_pl)) * 60, np.floor((length - 900) / 60) * 60)
    sub_bg = rng.integers(0, len(subject_ids), n_bg)
    h = rng.integers(0, len(hot_x_m), n_bg)
    dur_bg = np.round(rng.uniform(30, 60, n_bg)) * 60
    b0 = np.floor((lo + rng.uniform(size=n_bg) * (hi - lo - dur_bg)) / 60) * 60
    start = np.concatenate([a0, b0])
    end = start + np.concatenate([np.maximum(dur, 15 * 60), dur_bg])
    width = max(6, len(str(n_appointments)))
    return pd.DataFrame(
        {
            "appointment_id": [f"{prefix}{k + 1:0{width}d}" for k in range(n_appointments)],
            "subject_id": np.concatenate([subject_ids[p.stay_subject[s]], subject_ids[sub_bg]]).astype(str),
            "start": _utc(start),
            "end": _utc(end),
            "center_x_m": np.round(
                np.concatenate([p.stay_x_m[s], hot_x_m[h] + 100 * rng.normal(size=n_bg)]), 3
            ),
            "center_y_m": np.round(
                np.concatenate([p.stay_y_m[s], hot_y_m[h] + 100 * rng.normal(size=n_bg)]), 3
            ),
            "radius_m": np.round(rng.uniform(50, 100, n_appointments)),
            "planted": np.arange(n_appointments) < n_pl,
        }
    )


def trail_min_distance(
    t_s: np.ndarray,
    x_m: np.ndarray,
    y_m: np.ndarray,
    px_m: float,
    py_m: float,
    t1_s: float,
    t2_s: float,
    max_gap_s: float = 600.0,
) -> float:
    """Closest approach of one subject's interpolated trail to a point within ``[t1_s, t2_s]``, metres.

    Brute force over every fix and every segment (fixes at most ``max_gap_s`` apart), each
    clipped to the window; ``inf`` when the position is never known inside it.
    """
    t_s, x_m, y_m = (np.asarray(v, dtype=np.float64) for v in (t_s, x_m, y_m))
    best = np.inf
    inside = (t_s >= t1_s) & (t_s <= t2_s)
    if inside.any():
        best = float(np.min(np.hypot(x_m[inside] - px_m, y_m[inside] - py_m)))
    a, b = t_s[:-1], t_s[1:]
    ok = (b - a <= max_gap_s) & (b > a) & (b >= t1_s) & (a <= t2_s)
    if not ok.any():
        return best
    a, b = a[ok], b[ok]
    x0, x1, y0, y1 = x_m[:-1][ok], x_m[1:][ok], y_m[:-1][ok], y_m[1:][ok]
    fa = (np.maximum(a, t1_s) - a) / (b - a)
    fb = (np.minimum(b, t2_s) - a) / (b - a)
    ax, ay = x0 + fa * (x1 - x0), y0 + fa * (y1 - y0)
    dx, dy = (fb - fa) * (x1 - x0), (fb - fa) * (y1 - y0)
    len2 = dx * dx + dy * dy
    u = np.clip(((px_m - ax) * dx + (py_m - ay) * dy) / np.where(len2 > 0, len2, 1.0), 0.0, 1.0)
    return min(best, float(np.min(np.hypot(ax + u * dx - px_m, ay + u * dy - py_m))))


def make_pnc(year: int, serial: int) -> str:
    """Canonical PNC id ``YYYY/NNNNNNNC`` with its mod-23 check letter (SPEC §2).

    >>> make_pnc(2003, 1234567)
    '2003/1234567Q'
    """
    yy = f"{year % 100:02d}"
    return f"{year:04d}/{serial:07d}{PNC_LETTERS[int(yy + f'{serial:07d}') % 23]}"


def subjects_frame(
    n_subjects: int = 5000,
    *,
    seed: int = SEED,
    start: str = START,
    subject_ids: np.ndarray | None = None,
) -> pd.DataFrame:
    """The generic subjects file: monitoring windows around ``start`` and valid identifiers.

    Returns
    -------
    pandas.DataFrame
        ``subject_id, cohort, monitoring_start, monitoring_end`` (UTC), ``crn, pnc_id, nomis_id,
        offender_manager``.
    """
    ids = subject_names(n_subjects) if subject_ids is None else np.asarray(subject_ids)
    n = len(ids)
    rng = np.random.default_rng([seed, 3])
    t0 = _start_s(start)
    ms = t0 - np.round(rng.uniform(10, 300, n)) * DAY_S
    me = t0 + np.round(rng.uniform(30, 300, n)) * DAY_S
    letters = np.array(list("ABCDEFGHJKLMNPRSTUVWXYZ"))
    crn = [
        f"{c}{v:06d}" for c, v in zip(letters[rng.integers(0, 23, n)], rng.integers(0, 10**6, n), strict=True)
    ]
    pnc = [
        make_pnc(int(yr), int(s))
        for yr, s in zip(rng.integers(1995, 2026, n), rng.integers(0, 10**7, n), strict=True)
    ]
    nl = letters[rng.integers(0, 23, (n, 3))]
    nomis = [f"{a}{v:04d}{b}{c}" for (a, b, c), v in zip(nl, rng.integers(0, 10**4, n), strict=True)]
    om = [f"Officer {chr(65 + k % 26)}{k // 26 + 1} (synthetic)" for k in rng.integers(0, 60, n)]
    return pd.DataFrame(
        {
            "subject_id": ids.astype(str),
            "cohort": np.asarray(["fixed", "flex", "free"])[rng.choice(3, n, p=[0.2, 0.3, 0.5])],
            "monitoring_start": _utc(ms),
            "monitoring_end": _utc(me),
            "crn": crn,
            "pnc_id": pnc,
            "nomis_id": nomis,
            "offender_manager": om,
        }
    )


def national_day(
    n_subjects: int = 5000,
    hours: float = 24,
    step_s: float = 60,
    n_crimes: int = 10000,
    n_appointments: int = 5000,
    seed: int = SEED,
    start: str = START,
    area: tuple[float, float, float, float] = AREA,
    *,
    chunk_subjects: int = 500,
    n_hotspots: int = 40,
) -> NationalDay:
    """The SPEC §6 reference day: trails, crimes, appointments and subjects.

    Parameters
    ----------
    n_subjects : int, default 5000
        Subjects, all living inside ``area``.
    hours : float, default 24
        Observed hours from ``start``.
    step_s : float, default 60
        Nominal seconds between fixes (5,000 x 24 h x 1/min = 7.2 M fixes before gaps).
    n_crimes : int, default 10000
        Crimes (windows 15 min - 12 h, radius 100 m), 30 % planted.
    n_appointments : int, default 5000
        Appointments, half during real visits.
    seed : int
        Seed of every random stream.
    start : str, default "2026-07-14T00:00:00Z"
        First observed instant (ISO 8601 with an offset).
    area : tuple of float, default (375000, 385000, 405000, 410000)
        ``(e_min, n_min, e_max, n_max)``, British National Grid metres.
    chunk_subjects : int, default 500
        Block size of :func:`iter_chunks` (part of what the seed reproduces).
    n_hotspots : int, default 40
        Shared destinations. 40 gives ~11 exact hits per crime; :data:`DENSE_HOTSPOTS` gives the
        density SPEC §6 quotes (~27 per crime).

    Returns
    -------
    NationalDay
    """
    chunks = list(
        iter_chunks(
            n_subjects,
            hours=hours,
            step_s=step_s,
            seed=seed,
            start=start,
            area=area,
            chunk_subjects=chunk_subjects,
            n_hotspots=n_hotspots,
        )
    )
    fixes, truth = concat_chunks(chunks)
    start_s = _start_s(start)
    span = (float(start_s), start_s + hours * 3600.0)
    _, _, hot_x, hot_y = homes_and_hotspots(n_subjects, seed, area, n_hotspots)
    crimes = plant_crimes(fixes, n_crimes, np.random.default_rng([seed, 2]), span, area, hot_x, hot_y)
    appts = plant_appointments(
        truth, fixes.subject_ids, n_appointments, np.random.default_rng([seed, 4]), span, hot_x, hot_y
    )
    return NationalDay(fixes, truth, crimes, appts, subjects_frame(n_subjects, seed=seed, start=start))


# ------------------------------------------------------------------------------------------ files
TRAIL_CSV_HEADER = "subject_id,timestamp,lat,lon,accuracy_m,fix_type\n"


def lonlat(x_m: np.ndarray, y_m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BNG metres to WGS84 ``(lon, lat)`` with OSTN15, rounded to 1e-7 degrees (~1 cm)."""
    from convertbng.cutil import convert_lonlat

    lon, lat = convert_lonlat(
        np.ascontiguousarray(x_m, dtype=np.float64), np.ascontiguousarray(y_m, dtype=np.float64)
    )
    return np.round(np.asarray(lon), 7), np.round(np.asarray(lat), 7)


def iso_z(t_s: np.ndarray):
    """Whole seconds UTC to ``YYYY-MM-DDTHH:MM:SSZ`` (a pyarrow string array)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pc.cast(pa.array(np.asarray(t_s).astype("int64").astype("datetime64[s]")), pa.string())
    return pc.binary_join_element_wise(pc.replace_substring(text, " ", "T"), "Z", "")


def write_csv(fixes: Fixes, path: str | Path, *, append: bool = False) -> Path:
    """Write the generic trail CSV ``subject_id,timestamp,lat,lon,accuracy_m,fix_type``.

    Times are ISO 8601 ``...Z`` (whole seconds), lat/lon WGS84 from OSTN15 (7 decimals),
    formatted by pyarrow's CSV writer (no per-row Python: ~10 s for 7.2 M rows here).

    Parameters
    ----------
    fixes : Fixes
        The fixes, in the order to write.
    path : str or Path
        Output file.
    append : bool, default False
        Append rows without a header (for writing chunk after chunk).

    Returns
    -------
    Path
    """
    import pyarrow as pa
    import pyarrow.csv as pcsv

    path = Path(path)
    lon, lat = lonlat(fixes.x_m, fixes.y_m)
    codes = np.repeat(np.arange(len(fixes.subject_ids), dtype=np.int32), np.diff(fixes.offsets))
    table = pa.table(
        {
            "subject_id": pa.DictionaryArray.from_arrays(
                pa.array(codes), pa.array(fixes.subject_ids.astype(str))
            ),
            "timestamp": iso_z(fixes.t_s),
            "lat": lat,
            "lon": lon,
            "accuracy_m": fixes.accuracy_m,
            "fix_type": pa.DictionaryArray.from_arrays(
                pa.array(fixes.fix_code.astype(np.int32)), pa.array(FIX_TYPES)
            ),
        }
    )
    with open(path, "ab" if append else "wb") as fh:
        if not append:
            fh.write(TRAIL_CSV_HEADER.encode())
        pcsv.write_csv(table, fh, write_options=pcsv.WriteOptions(include_header=False, quoting_style="none"))
    return path


def main() -> None:
    """Time the full national day and its CSV."""
    import tempfile
    import tracemalloc

    tracemalloc.start()
    t0 = time.perf_counter()
    day = national_day()
    t1 = time.perf_counter()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"national_day: {day.fixes.n_fixes:,} fixes, {len(day.crimes):,} crimes, "
        f"{len(day.appointments):,} appointments in {t1 - t0:.1f} s (peak traced {peak / 2**30:.2f} GiB)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        t2 = time.perf_counter()
        p = write_csv(day.fixes, Path(tmp) / "day.csv")
        t3 = time.perf_counter()
        print(f"write_csv: {p.stat().st_size / 2**20:.0f} MiB in {t3 - t2:.1f} s")


if __name__ == "__main__":
    main()
