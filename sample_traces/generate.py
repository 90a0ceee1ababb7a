"""Build the committed sample in ``sample_traces/`` from the seeded workload generator.

Seventeen synthetic subjects in Nottingham (Nottinghamshire is a pilot force of the MoJ
crime-mapping service, so all three crime formats can hit the same trails) over the week
2026-07-13 .. 2026-07-19, plus one subject over the October 2026 clock change. Every planted
case (crime hits, near misses, a charging gap over a crime window, appointment outcomes, an
exclusion-zone visit, curfew absences) is made by editing the generator's schedules, and its
expectation is computed from the noise-free path and then checked against the fixes as written.

    python sample_traces/generate.py            # rewrites sample_traces/ in place
    python sample_traces/generate.py --out DIR  # writes the same bytes elsewhere

Deterministic: a fixed seed, no wall clock; the same bytes on every run.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _workload as wl  # noqa: E402

SEED = 20260713
AREA = (452000.0, 333000.0, 464000.0, 345000.0)  # Nottingham, British National Grid metres
WEEK0 = datetime(2026, 7, 13, tzinfo=UTC)
OCT0 = datetime(2026, 10, 24, tzinfo=UTC)
N_DAYS = 7
N_OCT_DAYS = 3
LONDON = ZoneInfo("Europe/London")
UTC = UTC

GENERIC = [f"N{i:02d}" for i in (*range(1, 11), 16, 17, 18)]  # generic CSV, the whole week
EM_ID, GPX_ID, TCX_ID, GEOJSON_ID = "40011", "N12", "N13", "N14"
OCT_ID = "N15"
JULY_IDS = GENERIC + [EM_ID, GPX_ID, TCX_ID, GEOJSON_ID]
EM_DAYS, GPX_DAYS, TCX_DAYS, GEOJSON_DAYS = (1, 2, 3), (0, 1, 2), (1,), (3, 4)
FORCE, FORCE_CODE = "Nottinghamshire", "NOT"
BATCH = "NOT20260720"

MOJ_TEXT = {
    "RB": "Robbery",
    "BIAD": "Burglary in a dwelling",
    "AB": "Aggravated burglary",
    "BOTD": "Burglary other than dwelling",
    "TOMV": "Theft of a motor vehicle",
    "TFMV": "Theft from a motor vehicle",
    "TFP": "Theft from the person",
}
POLICE_UK_TYPES = [
    "Burglary",
    "Robbery",
    "Vehicle crime",
    "Theft from the person",
    "Anti-social behaviour",
    "Shoplifting",
    "Criminal damage and arson",
]
STREETS = [
    "Example Road",
    "Sample Street",
    "Synthetic Lane",
    "Placeholder Avenue",
    "Fictional Close",
    "Test Crescent",
    "Demo Way",
    "Mock Terrace",
]


# ------------------------------------------------------------------------------------------ helpers
def epoch(dt: datetime) -> float:
    """Seconds since the Unix epoch."""
    return dt.timestamp()


def iso(t_s: float, ms: bool = False) -> str:
    """ISO 8601 in UTC with ``Z`` (whole seconds, or milliseconds)."""
    dt = datetime.fromtimestamp(round(t_s, 3), UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{dt.microsecond // 1000:03d}" if ms else "") + "Z"


def local_naive(t_s: float) -> str:
    """Zone-less Europe/London wall-clock time, as appointments are written."""
    return datetime.fromtimestamp(t_s, UTC).astimezone(LONDON).strftime("%Y-%m-%dT%H:%M:%S")


def athena(t_s: float) -> str:
    """Athena timestamp ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC)."""
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def compact(t_s: float) -> str:
    """Crime-mapping timestamp ``yyyyMMddHHmmss`` (UTC)."""
    return datetime.fromtimestamp(t_s, UTC).strftime("%Y%m%d%H%M%S")


def ll(x, y):
    """BNG metres to WGS84 ``(lat, lon)`` arrays with OSTN15."""
    lon, lat = wl.lonlat(np.atleast_1d(np.asarray(x, float)), np.atleast_1d(np.asarray(y, float)))
    return lat, lon


def round_up(t_s: float, step: int = 300) -> float:
    """Round seconds up to a multiple of ``step``."""
    return float(np.ceil(t_s / step) * step)


def round_down(t_s: float, step: int = 300) -> float:
    """Round seconds down to a multiple of ``step``."""
    return float(np.floor(t_s / step) * step)


class Day:
    """One UTC day of a group of subjects: schedule, paths, fixes, truth."""

    def __init__(self, ids, origin_s, sched):
        self.ids = np.asarray(ids)
        self.origin = origin_s
        self.sched = sched
        self.clean: list[tuple[int, float, float]] = []
        self.paths = self.fixes = self.truth = None

    def k(self, sid: str) -> int:
        """Position of ``sid`` in the group."""
        return int(np.flatnonzero(self.ids == sid)[0])

    def tour(self, sid, dests, depart_h, modes=None):
        """Set a subject's tour: ``dests`` = [(x, y, stay_min)], leaving home at ``depart_h`` UTC."""
        s, k = self.sched, self.k(sid)
        s.n_dest[k] = len(dests)
        for j, (x, y, stay_min) in enumerate(dests, start=1):
            s.stop_x_m[k, j], s.stop_y_m[k, j], s.stay_s[k, j] = x, y, stay_min * 60.0
        s.depart_s[k] = depart_h * 3600.0
        s.mode[k] = -1
        for j, m in enumerate(modes or []):
            s.mode[k, j] = wl.MODES.index(m)

    def charge(self, sid, start_h, minutes):
        """Move the subject's charging gap (hours after the origin, minutes long)."""
        k = self.k(sid)
        self.sched.charge_start_s[k] = start_h * 3600.0
        self.sched.charge_s[k] = minutes * 60.0

    def no_loss(self, sid):
        """Drop the subject's signal losses of the day."""
        self.sched.loss_s[self.k(sid)] = 0.0

    def build(self):
        """Build the noise-free paths."""
        self.paths = wl.build_paths(self.sched, self.origin)

    def stays(self, sid):
        """Arrival, departure and place of each of the subject's stays."""
        p, k = self.paths, self.k(sid)
        m = p.stay_subject == k
        return p.stay_arrive_s[m], p.stay_depart_s[m], p.stay_x_m[m], p.stay_y_m[m]

    def leg(self, sid, j):
        """(start, end) of leg ``j`` (0 = leaving home), seconds UTC."""
        a, d, _, _ = self.stays(sid)
        return d[j], a[j + 1]

    def keep_clean(self, sid, t0, t1, keep_charge=False):
        """Plain GPS fixes in [t0, t1]; the day's charging gap and signal losses moved out of it."""
        s, k = self.sched, self.k(sid)
        self.clean.append((k, t0, t1))
        r0, r1 = t0 - self.origin - 600, t1 - self.origin + 600
        c0 = s.charge_start_s[k]
        if not keep_charge and c0 < r1 and c0 + s.charge_s[k] > r0:
            s.charge_start_s[k] = 1800.0 if r0 > s.charge_s[k] + 3600 else wl.DAY_S - s.charge_s[k] - 1800.0
            if s.charge_start_s[k] < r1 and s.charge_start_s[k] + s.charge_s[k] > r0:
                raise RuntimeError(f"no room for the charging gap of {sid} outside a planted interval")
        hit = (s.loss_start_s[k] < r1) & (s.loss_start_s[k] + s.loss_s[k] > r0)
        s.loss_s[k, hit] = 0.0

    def observe(self, rng):
        """Sample the tag's fixes."""
        self.fixes, self.truth = wl.observe(
            self.paths, self.sched, rng, self.ids, self.origin, (0.0, wl.DAY_S), 60, self.clean
        )

    def pos(self, sid, t):
        """Noise-free position at ``t`` (seconds UTC)."""
        return wl.truth_position(self.paths, self.k(sid), np.asarray(t, float))

    def subject_fixes(self, sid):
        """Return the subject's observed fixes ``(t, x, y, accuracy, code)``."""
        f, k = self.fixes, self.k(sid)
        sl = slice(f.offsets[k], f.offsets[k + 1])
        return f.t_s[sl], f.x_m[sl], f.y_m[sl], f.accuracy_m[sl], f.fix_code[sl]


def perpendicular(day: Day, sid: str, tc: float, offset_m: float):
    """Return the point ``offset_m`` to the left of the noise-free path at ``tc``."""
    x0, y0 = day.pos(sid, tc - 1.0)
    x1, y1 = day.pos(sid, tc + 1.0)
    px, py = day.pos(sid, tc)
    vx, vy = float(x1 - x0), float(y1 - y0)
    n = np.hypot(vx, vy)
    if n < 1e-9:
        return float(px) + offset_m, float(py)
    return float(px) - vy / n * offset_m, float(py) + vx / n * offset_m


def between_fixes_instant(day: Day, sid: str, t0: float, t1: float, min_step_m: float = 300.0) -> float:
    """Return the midpoint in time of the fix pair in [t0, t1] whose true positions are farthest apart."""
    t, _, _, _, _ = day.subject_fixes(sid)
    k = day.k(sid)
    sl = slice(day.fixes.offsets[k], day.fixes.offsets[k + 1])
    tx, ty = day.truth.x_m[sl], day.truth.y_m[sl]
    m = np.flatnonzero((t[:-1] >= t0) & (t[1:] <= t1))
    step = np.hypot(tx[m + 1] - tx[m], ty[m + 1] - ty[m])
    i = m[np.argmax(step)]
    if step.max() < min_step_m:
        raise RuntimeError(f"no fix pair of {sid} moves {min_step_m} m in [{iso(t0)}, {iso(t1)}]")
    return float((t[i] + t[i + 1]) / 2.0)


def crossings(day: Day, sid: str, cx, cy, r, t0, t1):
    """Entry and exit instants of the noise-free path into the circle, sampled at 1 s."""
    tt = np.arange(np.floor(t0), np.ceil(t1) + 1)
    x, y = day.pos(sid, tt)
    inside = np.hypot(x - cx, y - cy) <= r
    idx = np.flatnonzero(np.diff(inside.astype(int)))
    return [(float(tt[i] + 0.5), "in" if not inside[i] else "out") for i in idx]


# ------------------------------------------------------------------------------------------ the week
def build(seed: int = SEED):
    """Plan, edit and observe the week and the October days."""
    home_x, home_y, hot_x, hot_y = wl.homes_and_hotspots(len(JULY_IDS) + 1, seed, AREA, n_hotspots=12)
    hx, hy = home_x[:-1], home_y[:-1]
    homes = {sid: (float(hx[i]), float(hy[i])) for i, sid in enumerate(JULY_IDS)}
    homes[OCT_ID] = (float(home_x[-1]), float(home_y[-1]))

    # places: far from every home so that nobody is inside by accident
    def far_place(cands, min_m):
        for x, y in cands:
            if min(np.hypot(x - hx_, y - hy_) for hx_, hy_ in homes.values()) >= min_m:
                return float(x), float(y)
        raise RuntimeError("no place far enough from every home")

    grid = [
        (x, y) for x in np.arange(454000.0, 462001.0, 500.0) for y in np.arange(335000.0, 343001.0, 500.0)
    ]
    office = far_place(grid[len(grid) // 2 :] + grid[: len(grid) // 2], 1200.0)  # probation office
    centre = far_place([g for g in grid if np.hypot(g[0] - office[0], g[1] - office[1]) > 2000], 1200.0)
    square = (457300.0, 339900.0)  # Old Market Square

    days = []
    for d in range(N_DAYS):
        rng = np.random.default_rng([seed, 1, d])
        sched = wl.draw_schedules(rng, hx, hy, hot_x, hot_y, AREA, (0.0, wl.DAY_S))
        days.append((Day(JULY_IDS, epoch(WEEK0) + d * wl.DAY_S, sched), rng))
    D = [day for day, _ in days]

    # N09 keeps a 19:00-07:00 (local) curfew: out after 07:00 UTC, home by ~16:00 UTC, clean nights
    for d, day in enumerate(D):
        h = homes["N09"]
        if d == 3:  # the one absence: an evening visit 2 km away, Thursday 16 July
            day.tour("N09", [(h[0] + 2000.0, h[1] + 300.0, 50)], 19.5)
        else:
            day.tour(
                "N09", [(h[0] + 900.0, h[1] - 700.0, 70), (h[0] - 400.0, h[1] + 1200.0, 50)], 7.25 + 0.25 * d
            )
        day.charge("N09", 11.0, 40 + 5 * d)
        day.no_loss("N09")
        day.keep_clean("N09", day.origin, day.origin + 7 * 3600)
        day.keep_clean("N09", day.origin + 17 * 3600, day.origin + wl.DAY_S)

    # crimes.csv cases
    far = (homes["N01"][0] + 5500.0 * np.sign(458000 - homes["N01"][0]), homes["N01"][1] + 2500.0)
    D[1].tour("N01", [(far[0], far[1], 90)], 8.5, ["car", "car"])
    D[1].tour("N02", [(homes["N02"][0] + 900.0, homes["N02"][1] + 600.0, 60)], 10.0, ["walk", "walk"])
    D[2].tour("N03", [(square[0], square[1], 120)], 9.0)
    D[2].tour("N04", [(square[0] + 10.0, square[1] - 10.0, 120)], 9.5)
    D[1].tour("N05", [(homes["N05"][0] - 800.0, homes["N05"][1] - 700.0, 45)], 11.0, ["walk", "walk"])
    D[2].charge("N06", 1.0, 105)
    D[2].no_loss("N06")
    D[2].tour("N08", [(centre[0] - 1500.0, centre[1] + 800.0, 90)], 9.0)
    D[1].tour(TCX_ID, [(homes[TCX_ID][0] + 1000.0, homes[TCX_ID][1] + 500.0, 40)], 9.0, ["walk", "walk"])
    D[3].tour(GEOJSON_ID, [(hot_x[3], hot_y[3], 100)], 10.0)
    D[4].tour("N10", [(homes["N10"][0] + 3000.0, homes["N10"][1] - 2500.0, 30)], 8.0, ["bus", "bus"])
    # crime-mapping cases
    D[3].tour(EM_ID, [(homes[EM_ID][0] - 4000.0, homes[EM_ID][1] + 1500.0, 60)], 9.0, ["car", "car"])
    D[1].tour(GPX_ID, [(hot_x[5], hot_y[5], 120)], 10.0)
    D[4].tour("N02", [(hot_x[7], hot_y[7], 150)], 11.0)
    D[2].tour("N02", [(homes["N02"][0] - 1000.0, homes["N02"][1], 60)], 9.0)
    # EM device swap: no positions between the two activations on 15 July
    swap = (
        epoch(datetime(2026, 7, 15, 10, 12, 31, tzinfo=UTC)),
        epoch(datetime(2026, 7, 15, 10, 41, 5, tzinfo=UTC)),
    )
    D[2].sched.loss_start_s[D[2].k(EM_ID), 0] = swap[0] - D[2].origin
    D[2].sched.loss_s[D[2].k(EM_ID), 0] = swap[1] - swap[0]
    D[2].charge(EM_ID, 20.0, 60)
    # appointments
    D[3].tour("N01", [(office[0], office[1], 75)], 9.0)
    D[3].tour("N02", [(office[0] + 5.0, office[1] + 5.0, 60)], 12.0)
    D[4].tour("N04", [(office[0], office[1] - 5.0, 60)], 9.5)
    D[4].tour("N05", [(office[0] - 5.0, office[1], 12), (hot_x[2], hot_y[2], 60)], 13.0)
    D[4].tour("N06", [], 9.0)
    D[4].charge("N06", 2.0, 60)
    D[1].tour("N07", [], 9.0)
    D[1].charge("N07", 13.0, 110)
    D[5].tour("N08", [(centre[0], centre[1], 90)], 10.0)
    D[5].tour("N07", [], 9.0)
    # exclusion zone: N10 visits it once, on Saturday 18 July
    zone_c = far_place(
        [
            g
            for g in grid
            if np.hypot(g[0] - homes["N10"][0], g[1] - homes["N10"][1]) > 2500
            and np.hypot(g[0] - office[0], g[1] - office[1]) > 1500
        ],
        1200.0,
    )
    for d, day in enumerate(D):
        if d != 4:
            h = homes["N10"]
            day.tour("N10", [(h[0] + 600.0, h[1] - 400.0, 60), (h[0] - 500.0, h[1] + 300.0, 45)], 9.0)
        day.no_loss("N10")
    D[5].tour("N10", [(zone_c[0], zone_c[1], 20)], 14.0, ["car", "car"])

    for day in D:
        day.build()

    # clean intervals for planted cases (after paths exist)
    def clean_leg(day, sid, j, pad=600):
        a, b = day.leg(sid, j)
        day.keep_clean(sid, a - pad, b + pad)
        return a, b

    def clean_stay(day, sid, j, pad=900):
        a, d_, _, _ = day.stays(sid)
        day.keep_clean(sid, a[j] - pad, d_[j] + pad)
        return a[j], d_[j]

    legs = {
        "C01": clean_leg(D[1], "N01", 0),
        "C02": clean_leg(D[1], "N02", 0),
        "C04": clean_leg(D[1], "N05", 0),
        "C09": clean_leg(D[1], TCX_ID, 0),
        "C11": clean_leg(D[4], "N10", 0),
        "CM1": clean_leg(D[3], EM_ID, 0),
    }
    stays = {
        "C03a": clean_stay(D[2], "N03", 1),
        "C03b": clean_stay(D[2], "N04", 1),
        "C07": clean_stay(D[2], "N08", 1),
        "C10": clean_stay(D[3], GEOJSON_ID, 1),
        "CM2": clean_stay(D[1], GPX_ID, 1),
        "CM3": clean_stay(D[4], "N02", 1),
        "A01": clean_stay(D[3], "N01", 1),
        "A02": clean_stay(D[3], "N02", 1),
        "A03": clean_stay(D[4], "N04", 1),
        "A04": clean_stay(D[4], "N05", 1),
        "A07": clean_stay(D[5], "N08", 1),
        "Z1": clean_stay(D[5], "N10", 1, 1800),
    }
    D[2].keep_clean("N06", D[2].origin, D[2].origin + 4 * 3600, keep_charge=True)
    D[5].keep_clean("N07", D[5].origin, D[5].origin + 6 * 3600)
    D[4].keep_clean("N09", D[4].origin, D[4].origin + 6 * 3600)
    D[4].keep_clean("N06", D[4].origin + 12 * 3600, D[4].origin + 15 * 3600)
    for day, rng in days:
        day.observe(rng)

    # the October subject over the clock change (Sunday 25 October 2026, 02:00 BST -> 01:00 GMT)
    oct_days = []
    for d in range(N_OCT_DAYS):
        rng = np.random.default_rng([seed, 2, d])
        h = homes[OCT_ID]
        sched = wl.draw_schedules(
            rng, np.array([h[0]]), np.array([h[1]]), hot_x, hot_y, AREA, (0.0, wl.DAY_S)
        )
        day = Day([OCT_ID], epoch(OCT0) + d * wl.DAY_S, sched)
        if d == 0:  # Saturday, BST: appointment at the office
            day.tour(OCT_ID, [(office[0], office[1], 75), (h[0] + 800.0, h[1] + 500.0, 60)], 8.0)
        elif d == 1:  # Sunday, GMT from 01:00 UTC: leaves at 06:40, before the curfew ends at 07:00 GMT
            day.tour(OCT_ID, [(h[0] + 1500.0, h[1] - 900.0, 120)], 6 + 40 / 60, ["car", "car"])
        else:  # Monday, GMT: appointment at the office
            day.tour(OCT_ID, [(office[0] + 5.0, office[1], 75)], 9.0)
        day.charge(OCT_ID, 12.5, 50)
        day.no_loss(OCT_ID)
        day.build()
        day.keep_clean(OCT_ID, day.origin, day.origin + 7.5 * 3600)
        day.keep_clean(OCT_ID, day.origin + 17 * 3600, day.origin + wl.DAY_S)
        if d != 1:
            a, dp, _, _ = day.stays(OCT_ID)
            day.keep_clean(OCT_ID, a[1] - 900, dp[1] + 900)
        day.observe(rng)
        oct_days.append(day)

    places = dict(office=office, centre=centre, square=square, zone=zone_c)
    return D, oct_days, homes, places, legs, stays, (hot_x, hot_y)


# ------------------------------------------------------------------------------------------ fixes
def all_fixes(D, oct_days):
    """Per subject: (t, x, y, acc, code) over all days, as written (GPX/TCX keep GPS fixes only)."""
    out = {}
    for day in list(D) + list(oct_days):
        for sid in day.ids:
            t, x, y, a, c = day.subject_fixes(sid)
            prev = out.get(sid)
            out[sid] = (
                tuple(np.concatenate([p, q]) for p, q in zip(prev, (t, x, y, a, c), strict=True))
                if prev
                else (t, x, y, a, c)
            )
    for sid, days in ((GPX_ID, GPX_DAYS), (TCX_ID, TCX_DAYS), (GEOJSON_ID, GEOJSON_DAYS), (EM_ID, EM_DAYS)):
        t, x, y, a, c = out[sid]
        dd = np.floor((t - epoch(WEEK0)) / wl.DAY_S).astype(int)
        keep = np.isin(dd, days)
        if sid in (GPX_ID, TCX_ID):
            keep &= c == wl.CODE["gps"]
        out[sid] = tuple(v[keep] for v in (t, x, y, a, c))
    return out


# ------------------------------------------------------------------------------------------ writers
def write_text(path: Path, text: str) -> None:
    """Write UTF-8 text, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))


def fixes_of(sids, F, t0=None, t1=None) -> wl.Fixes:
    """Gather subjects' fixes in ``[t0, t1)`` into one :class:`Fixes`."""
    ts, xs, ys, accs, codes, counts = [], [], [], [], [], []
    for sid in sids:
        t, x, y, a, c = F[sid]
        m = np.ones(len(t), bool) if t0 is None else (t >= t0) & (t < t1)
        for lst, v in zip((ts, xs, ys, accs, codes), (t, x, y, a, c), strict=True):
            lst.append(v[m])
        counts.append(int(m.sum()))
    offsets = np.zeros(len(sids) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return wl.Fixes(
        np.asarray(sids),
        offsets,
        np.concatenate(ts),
        np.concatenate(xs),
        np.concatenate(ys),
        np.concatenate(accs),
        np.concatenate(codes).astype(np.int8),
    )


def write_generic(out: Path, F) -> list[str]:
    """Write the generic trail CSVs, one per UTC day."""
    names = []
    for base, n, sids in ((WEEK0, N_DAYS, GENERIC), (OCT0, N_OCT_DAYS, [OCT_ID])):
        for d in range(n):
            t0 = epoch(base) + d * wl.DAY_S
            fx = fixes_of(sids, F, t0, t0 + wl.DAY_S)
            name = f"trails/day-{(base + timedelta(days=d)).strftime('%Y-%m-%d')}.csv"
            (out / "trails").mkdir(parents=True, exist_ok=True)
            wl.write_csv(fx, out / name)
            names.append(name)
    return names


def velocity(t, x, y):
    """Speed (m/s) and heading (radians clockwise from grid north) from the neighbouring fixes."""
    n = len(t)
    i0 = np.maximum(np.arange(n) - 1, 0)
    i1 = np.minimum(np.arange(n) + 1, n - 1)
    dt = np.maximum(t[i1] - t[i0], 1.0)
    vx, vy = (x[i1] - x[i0]) / dt, (y[i1] - y[i0]) / dt
    return np.hypot(vx, vy), np.mod(np.arctan2(vx, vy), 2 * np.pi)


def write_em(out: Path, F) -> None:
    """Write the EM datastore positions, activations and caseload."""
    t, x, y, acc, code = F[EM_ID]
    lat, lon = ll(x, y)
    speed, heading = velocity(t, x, y)
    lbs = np.array([1, 5, 6, 4])[code]  # gps, lbs, wifi, rf -> position_lbs codes
    cols = [
        "client_id",
        "device_id",
        "location_id",
        "person_id",
        "position_circulation_id",
        "position_direction",
        "position_geometry",
        "position_gps_date",
        "position_hdop",
        "position_id",
        "position_latitude",
        "position_lbs",
        "position_longitude",
        "position_precision",
        "position_recorded_date",
        "position_satellite",
        "position_speed",
        "position_uploaded_date",
    ]
    swap = epoch(datetime(2026, 7, 15, 10, 30, tzinfo=UTC))
    rng = np.random.default_rng([SEED, 9])
    upload = rng.integers(20, 300, len(t))
    hdop = np.round(rng.uniform(0.7, 2.5, len(t)), 1)
    sats = rng.integers(5, 13, len(t))
    lines = [",".join(f'"{c}"' for c in cols)]
    for i in range(len(t)):
        gps = code[i] == 0
        moving = speed[i] * 3.6 >= 1.0
        row = [
            "17",
            "DEV-88310" if t[i] < swap else "DEV-88457",
            "",
            EM_ID,
            "",
            f"{heading[i]:.4f}" if moving else "",
            "",
            athena(t[i]) if gps else "",
            f"{hdop[i]:.1f}" if gps else "",
            str(5_000_000 + i),
            f"{lat[i]:.7f}",
            str(lbs[i]),
            f"{lon[i]:.7f}",
            f"{acc[i]:g}",
            athena(t[i]),
            str(sats[i]) if gps else "0",
            f"{speed[i] * 3.6:.1f}",
            athena(t[i] + upload[i]),
        ]
        lines.append(",".join(f'"{v}"' for v in row))
    write_text(out / "em/positions.csv", "\n".join(lines) + "\n")
    act = [
        "device_activation_id",
        "device_activation_date",
        "device_deactivation_date",
        "person_id",
        "device_id",
        "device_serial_number",
    ]
    rows = [
        [
            "9001",
            "2026-05-04 09:12:00.000000",
            "2026-07-15 10:12:31.000000",
            EM_ID,
            "DEV-88310",
            "SYN-0088310",
        ],
        [
            "9002",
            "2026-07-15 10:41:05.000000",
            "2999-12-12 23:59:59.000000",
            EM_ID,
            "DEV-88457",
            "SYN-0088457",
        ],
        [
            "9003",
            "2026-06-01 14:00:00.000000",
            "2999-12-12 23:59:59.000000",
            "40027",
            "DEV-88502",
            "SYN-0088502",
        ],
    ]
    write_text(
        out / "em/activations.csv", "\n".join(",".join(f'"{v}"' for v in r) for r in [act] + rows) + "\n"
    )
    cl = [
        "grouped_date",
        "unique_device_wearer_id",
        "first_name",
        "last_name",
        "date_of_birth",
        "house_number_and_street_name",
        "city_or_town",
        "county",
        "country",
        "postcode",
        "nomis_id",
        "pnc_id",
        "mdss_person_id",
        "order_id",
        "order_start_date",
        "order_commencement_date",
        "order_end_date",
        "order_type",
        "order_type_description",
        "order_type_detail",
        "responsible_organisation",
        "responsible_officer_name",
        "is_monitored",
    ]
    rows = [
        [
            "2026-07-01 00:00:00.000000",
            "UDW-000411",
            "SYNTHETIC",
            "PERSON-ONE",
            "1990-01-01 00:00:00.000000",
            "1 Example Street",
            "Nottingham",
            "Nottinghamshire",
            "England",
            "ZZ99 1AA",
            "A1234BC",
            wl.make_pnc(2008, 123456),
            EM_ID,
            "ORD-7001",
            "2026-05-04 00:00:00.000000",
            "2026-05-04 09:12:00.000000",
            "2027-05-03 23:59:59.000000",
            "Post Release",
            "Licence",
            "Acquisitive crime GPS",
            "Probation Service East Midlands",
            "Officer Example (synthetic)",
            "true",
        ],
        [
            "2026-07-01 00:00:00.000000",
            "UDW-000427",
            "SYNTHETIC",
            "PERSON-TWO",
            "1985-06-15 00:00:00.000000",
            "2 Sample Road",
            "Nottingham",
            "Nottinghamshire",
            "England",
            "ZZ99 2BB",
            "B2345CD",
            wl.make_pnc(2011, 7654321),
            "40027",
            "ORD-7002",
            "2026-06-01 00:00:00.000000",
            "2026-06-01 14:00:00.000000",
            "2027-05-31 23:59:59.000000",
            "Post Release",
            "Licence",
            "Acquisitive crime GPS",
            "Probation Service East Midlands",
            "Officer Sample (synthetic)",
            "true",
        ],
    ]
    write_text(out / "em/caseload.csv", "\n".join(",".join(f'"{v}"' for v in r) for r in [cl] + rows) + "\n")


def write_gpx(out: Path, F) -> None:
    """Write the GPX 1.1 subject."""
    t, x, y, _, _ = F[GPX_ID]
    lat, lon = ll(x, y)
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<gpx version="1.1" creator="trailmon sample_traces" xmlns="http://www.topografix.com/GPX/1/1">',
        f"  <metadata><name>{GPX_ID} (synthetic)</name></metadata>",
        f"  <trk><name>{GPX_ID}</name>",
        "    <trkseg>",
    ]
    for i in range(len(t)):
        if i and t[i] - t[i - 1] > 600:
            parts += ["    </trkseg>", "    <trkseg>"]
        parts.append(f'      <trkpt lat="{lat[i]:.7f}" lon="{lon[i]:.7f}"><time>{iso(t[i])}</time></trkpt>')
    parts += ["    </trkseg>", "  </trk>", "</gpx>"]
    write_text(out / f"trails/{GPX_ID}.gpx", "\n".join(parts) + "\n")


def write_tcx(out: Path, F) -> None:
    """Write the gzipped Garmin TCX subject (gzip header without name or time)."""
    t, x, y, _, _ = F[TCX_ID]
    lat, lon = ll(x, y)
    dist = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<TrainingCenterDatabase xmlns="http://www.garmin.com/xmlschemas/TrainingCenterDatabase/v2">',
        "  <Activities>",
        '    <Activity Sport="Other">',
        f"      <Id>{iso(t[0])}</Id>",
        f'      <Lap StartTime="{iso(t[0])}">',
        f"        <TotalTimeSeconds>{t[-1] - t[0]:.0f}</TotalTimeSeconds>",
        f"        <DistanceMeters>{dist[-1]:.1f}</DistanceMeters>",
        "        <Calories>0</Calories>",
        "        <Intensity>Active</Intensity>",
        "        <TriggerMethod>Manual</TriggerMethod>",
        "        <Track>",
    ]
    for i in range(len(t)):
        parts.append(
            f"          <Trackpoint><Time>{iso(t[i])}</Time><Position><LatitudeDegrees>{lat[i]:.7f}"
            f"</LatitudeDegrees><LongitudeDegrees>{lon[i]:.7f}</LongitudeDegrees></Position>"
            f"<DistanceMeters>{dist[i]:.1f}</DistanceMeters></Trackpoint>"
        )
    parts += [
        "        </Track>",
        "      </Lap>",
        f"      <Notes>{TCX_ID} (synthetic)</Notes>",
        "    </Activity>",
        "  </Activities>",
        "</TrainingCenterDatabase>",
    ]
    buf = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0) as gz:
        gz.write(("\n".join(parts) + "\n").encode("utf-8"))
    (out / "trails").mkdir(parents=True, exist_ok=True)
    (out / f"trails/{TCX_ID}.tcx.gz").write_bytes(buf.getvalue())


def write_geojson(out: Path, F) -> None:
    """Write the GeoJSON points subject."""
    t, x, y, acc, code = F[GEOJSON_ID]
    lat, lon = ll(x, y)
    feats = [
        json.dumps(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [float(lon[i]), float(lat[i])]},
                "properties": {
                    "subject_id": GEOJSON_ID,
                    "timestamp": iso(t[i]),
                    "accuracy_m": float(acc[i]),
                    "fix_type": wl.FIX_TYPES[code[i]],
                },
            },
            separators=(",", ":"),
        )
        for i in range(len(t))
    ]
    write_text(
        out / f"trails/{GEOJSON_ID}.geojson",
        '{"type":"FeatureCollection","features":[\n' + ",\n".join(feats) + "\n]}\n",
    )


def write_bad_rows(out: Path, homes) -> None:
    """Write the bad trail rows and the code expected for each."""
    lat, lon = ll(homes["N03"][0] + 3000.0, homes["N03"][1])
    la, lo = f"{lat[0]:.7f}", f"{lon[0]:.7f}"
    la2, lo2 = f"{lat[0] + 0.0002:.7f}", f"{lon[0] + 0.0003:.7f}"
    rows = [
        (f"N98,2026-07-15T09:00:00Z,{la},{lo},8.5,gps", None, "valid"),
        (f"N98,2026-07-15T09:01:00Z,{la2},{lo2},7.0,gps", None, "valid; the better of two fixes at 09:01"),
        (f"N98,2026-07-15T09:02:00Z,{la},{lo},,", None, "valid: empty optional cells take the defaults"),
        (f",2026-07-15T09:03:00Z,{la},{lo},9.0,gps", "MISSING_SUBJECT", "no subject"),
        (f"N98,15/07/2026 09:04,{la},{lo},9.0,gps", "BAD_TIMESTAMP", "not ISO 8601"),
        (f"N98,2026-07-15T09:05:00,{la},{lo},9.0,gps", "NO_TIMEZONE", "zone-less among zoned rows"),
        (f"N98,2026-07-15T09:06:00Z,{la},-181.0,9.0,gps", "BAD_COORDINATE", "longitude out of range"),
        ("N98,2026-07-15T09:07:00Z,48.8566000,2.3522000,9.0,gps", "OUTSIDE_GRID", "Paris: outside OSTN15"),
        (f"N98,2026-07-15T09:08:00Z,{la},{lo},-5,gps", "BAD_ACCURACY", "negative accuracy"),
        (f"N98,2026-07-15T09:09:00Z,{la},{lo},9.0,satellite", "BAD_FIX_TYPE", "unknown fix type"),
        (f"N98,2026-07-15T09:10:00Z,{la},{lo},9.0,gps,extra", "WRONG_COLUMN_COUNT", "seven fields"),
        (f"N98,2026-07-15T09:00:00Z,{la},{lo},8.5,gps", "DUPLICATE", "identical to row 1"),
        (
            f"N98,2026-07-15T09:01:00Z,{la},{lo},30.0,gps",
            "CONFLICTING_DUPLICATE",
            "same instant as row 2, another position, worse accuracy",
        ),
    ]
    write_text(out / "trails/bad_rows.csv", wl.TRAIL_CSV_HEADER + "\n".join(r for r, _, _ in rows) + "\n")
    exp = {
        "file": "trails/bad_rows.csv",
        "read": len(rows),
        "accepted": sum(c is None for _, c, _ in rows),
        "rejected": sum(c is not None for _, c, _ in rows),
        "rows": [{"row": i + 1, "code": c, "why": w} for i, (_, c, w) in enumerate(rows)],
    }
    write_text(out / "trails/bad_rows.expected.json", json.dumps(exp, indent=1) + "\n")


# ------------------------------------------------------------------------------------------ main
def generate(out: Path, seed: int = SEED) -> dict:
    """Write the whole sample to ``out`` and return the expectations."""
    D, OCT, homes, places, legs, stays, (hot_x, hot_y) = build(seed)
    F = all_fixes(D, OCT)
    out.mkdir(parents=True, exist_ok=True)
    windows = {
        sid: (epoch(datetime(2026, 3, 2, tzinfo=UTC)), epoch(datetime(2027, 3, 1, tzinfo=UTC)))
        for sid in JULY_IDS
    }
    windows["N07"] = (epoch(datetime(2026, 1, 12, tzinfo=UTC)), epoch(datetime(2026, 7, 16, 12, tzinfo=UTC)))
    windows[OCT_ID] = (epoch(datetime(2026, 9, 1, tzinfo=UTC)), epoch(datetime(2027, 8, 31, tzinfo=UTC)))
    windows[EM_ID] = (epoch(datetime(2026, 5, 4, 9, 12, tzinfo=UTC)), np.inf)
    expected: dict = {
        "seed": seed,
        "tz": "Europe/London",
        "radius_default_m": 100.0,
        "crimes": {},
        "crime_mapping": {},
        "police_uk": {},
        "appointments": {},
        "zones": {},
    }

    def check_hit(ref, sid, px, py, t1, t2, r, must: bool, note: str, extra=None):
        t, x, y, _, _ = F[sid]
        lo, hi = max(t1, windows[sid][0]), min(t2, windows[sid][1])
        dmin = wl.trail_min_distance(t, x, y, px, py, lo, hi) if hi >= lo else np.inf
        if must and not dmin <= r - 15.0:
            raise RuntimeError(f"{ref}: {sid} planted as a hit but comes only {dmin:.1f} m near (R {r})")
        if not must and not dmin >= r + 15.0:
            raise RuntimeError(f"{ref}: {sid} planted as no hit but comes {dmin:.1f} m near (R {r})")
        rec = {
            "subject_id": sid,
            "hit": must,
            "observed_min_distance_m": round(float(dmin), 1) if np.isfinite(dmin) else None,
            "case": note,
        }
        rec.update(extra or {})
        return rec

    # ---- generic crimes
    crimes, exp_c = [], expected["crimes"]

    def crime(ref, offence, x, y, t1, t2, r=None, subjects=(), force=""):
        crimes.append(
            f"{ref},{offence},{x:.3f},{y:.3f},{iso(t1)},{iso(t2)},{'' if r is None else f'{r:g}'},{force}"
        )
        if subjects:
            exp_c[ref] = {
                "radius_m": 100.0 if r is None else r,
                "window": [iso(t1), iso(t2)],
                "subjects": [
                    check_hit(ref, *s[:1], x, y, t1, t2, 100.0 if r is None else r, *s[1:]) for s in subjects
                ],
            }

    def scene_between(day, sid, leg, offset):
        a, b = leg
        tc = between_fixes_instant(day, sid, a, b)
        return (*perpendicular(day, sid, tc, offset), tc)

    x, y, tc = scene_between(D[1], "N01", legs["C01"], 30.0)
    t, fx, fy, _, _ = F["N01"]
    t1, t2 = round_down(tc - 1200, 60), round_up(tc + 600, 60)
    near_fix = float(np.min(np.hypot(fx - x, fy - y)[(t >= t1) & (t <= t2)]))
    crime(
        "C01",
        "TFMV",
        x,
        y,
        t1,
        t2,
        None,
        [
            (
                "N01",
                True,
                "car passing 30 m from the scene between two fixes",
                {"between_fixes": near_fix > 100.0, "nearest_fix_m": round(near_fix, 1)},
            )
        ],
    )
    tc = sum(legs["C02"]) / 2
    x, y = perpendicular(D[1], "N02", tc, 30.0)
    crime(
        "C02",
        "TFP",
        x,
        y,
        round_down(tc - 1800, 60),
        round_up(tc + 1800, 60),
        None,
        [("N02", True, "walker passing 30 m from the scene")],
    )
    (a3, _), (a4, _) = stays["C03a"], stays["C03b"]
    w0 = round_up(max(a3, a4) + 300, 60)
    crime(
        "C03",
        "Robbery",
        places["square"][0] + 20.0,
        places["square"][1],
        w0,
        w0 + 3600,
        None,
        [("N03", True, "waiting at the market square"), ("N04", True, "waiting at the market square")],
    )
    tc = sum(legs["C04"]) / 2
    t1, t2 = round_down(tc - 600, 60), round_up(tc + 600, 60)
    t, fx, fy, _, _ = F["N05"]
    sides = [
        perpendicular(D[1], "N05", tc, side) for side in (200.0, -200.0)
    ]  # the side away from the corner
    x, y = max(sides, key=lambda p: wl.trail_min_distance(t, fx, fy, p[0], p[1], t1, t2))
    crime("C04", "34", x, y, t1, t2, None, [("N05", False, "walker passing 200 m away: a near miss")])
    h = homes["N06"]
    o2 = D[2].origin
    crime(
        "C05",
        "BIAD",
        h[0] + 30.0,
        h[1],
        o2 + 1.25 * 3600,
        o2 + 2.5 * 3600,
        None,
        [("N06", False, "at home but the tag is charging for the whole window", {"gap_near_scene": True})],
    )
    exp_c["C05"]["gaps_near_scene"] = ["N06"]
    h = homes["N07"]
    o5 = D[5].origin
    crime(
        "C06",
        "Burglary",
        h[0] + 30.0,
        h[1],
        o5 + 2 * 3600,
        o5 + 5 * 3600,
        None,
        [("N07", False, "at home, but monitoring ended on 2026-07-16T12:00:00Z (subjects.csv)")],
    )
    a, d_ = stays["C07"]
    sx, sy = D[2].pos("N08", (a + d_) / 2)
    crime(
        "C07",
        "TOMV",
        float(sx) + 30.0,
        float(sy),
        round_up(a + 600, 60),
        round_up(a + 600, 60) + 2700,
        50.0,
        [("N08", True, "dwelling 30 m from the scene; radius 50 m")],
    )
    h = homes["N09"]
    o4 = D[4].origin
    crime(
        "C08",
        "burglary of a shed (free text)",
        h[0],
        h[1] + 40.0,
        o4,
        o4 + 6 * 3600,
        None,
        [("N09", True, "asleep at home 40 m away; the radius cell is empty (default 100 m)")],
    )
    tc = sum(legs["C09"]) / 2
    x, y = perpendicular(D[1], TCX_ID, tc, 30.0)
    crime(
        "C09",
        "TFP",
        x,
        y,
        round_down(tc - 900, 60),
        round_up(tc + 900, 60),
        None,
        [(TCX_ID, True, f"walker passing 30 m away; trail in trails/{TCX_ID}.tcx.gz")],
    )
    a, d_ = stays["C10"]
    sx, sy = D[3].pos(GEOJSON_ID, (a + d_) / 2)
    crime(
        "C10",
        "RB",
        float(sx) - 30.0,
        float(sy),
        round_up(a + 600, 60),
        round_up(a + 600, 60) + 3600,
        None,
        [(GEOJSON_ID, True, f"dwelling 30 m away; trail in trails/{GEOJSON_ID}.geojson")],
    )
    x, y, tc = scene_between(D[4], "N10", legs["C11"], 180.0)
    crime(
        "C11",
        "TFMV",
        x,
        y,
        round_down(tc - 900, 60),
        round_up(tc + 900, 60),
        250.0,
        [("N10", True, "bus passing 180 m away; radius 250 m")],
    )
    rng = np.random.default_rng([seed, 5])
    span = (epoch(WEEK0), epoch(WEEK0) + N_DAYS * wl.DAY_S)
    offences = list(wl.MOJ_CODES) + ["28", "45", "48", "Vehicle crime", "Burglary", "Theft from the person"]
    for i in range(40):
        w = float(np.exp(rng.uniform(np.log(900), np.log(43200))))
        t1 = round_down(span[0] + rng.uniform() * (span[1] - span[0] - w), 60)
        if rng.uniform() < 0.5:
            k = rng.integers(0, len(hot_x))
            cx, cy = hot_x[k] + 250 * rng.normal(), hot_y[k] + 250 * rng.normal()
        else:
            cx, cy = rng.uniform(AREA[0], AREA[2]), rng.uniform(AREA[1], AREA[3])
        crime(
            f"B{i + 1:02d}",
            offences[rng.integers(0, len(offences))],
            cx,
            cy,
            t1,
            round_up(t1 + w, 60),
            None if rng.uniform() < 0.7 else float(rng.choice([50, 150, 200])),
            force="Nottinghamshire Police",
        )
    write_text(
        out / "crimes/crimes.csv",
        "crime_ref,offence,easting,northing,committed_from,committed_to,radius_m,force\n"
        + "\n".join(crimes)
        + "\n",
    )

    # ---- crime-mapping request CSV (no header, 13 columns)
    cm, exp_m = [], expected["crime_mapping"]
    cm_rows: list[dict] = []

    def cm_row(
        ref,
        code,
        t1,
        t2,
        x=None,
        y=None,
        wgs=False,
        force=FORCE,
        batch=BATCH,
        text="Synthetic sample",
        ncols=13,
        expect=None,
        version=None,
    ):
        e = n = la = lo = ""
        if x is not None and wgs:
            lat, lon = ll(x, y)
            la, lo = f"{lat[0]:.7f}", f"{lon[0]:.7f}"
        elif x is not None:
            e, n = f"{x:.1f}", f"{y:.1f}"
        datum = "WGS84" if wgs else ("OSGB36" if x is not None else "")
        fields = [
            force,
            code,
            MOJ_TEXT.get(code.upper(), "Shoplifting"),
            batch,
            ref,
            compact(t1),
            compact(t2),
            e,
            n,
            la,
            lo,
            datum,
            text,
        ][:ncols]
        cm.append(",".join(fields))
        cm_rows.append({"row": len(cm), "crimeReference": ref, "code": expect, "version": version})

    x, y, tc = scene_between(D[3], EM_ID, legs["CM1"], 30.0)
    t1, t2 = round_down(tc - 1200, 60), round_up(tc + 1200, 60)
    cm_row("0000001", "TFMV", t1, t2, x, y, version=1)
    exp_m["NOT/0000001"] = {
        "1": [
            check_hit(
                "NOT/0000001",
                EM_ID,
                x,
                y,
                t1,
                t2,
                100.0,
                True,
                "car passing 30 m away; trail in em/positions.csv",
            )
        ]
    }
    a, d_ = stays["CM2"]
    sx, sy = D[1].pos(GPX_ID, (a + d_) / 2)
    t1 = round_up(a + 600, 60)
    cm_row("0000002", "BIAD", t1, t1 + 5400, float(sx) + 25.0, float(sy) + 15.0, wgs=True, version=1)
    exp_m["NOT/0000002"] = {
        "1": [
            check_hit(
                "NOT/0000002",
                GPX_ID,
                float(sx) + 25.0,
                float(sy) + 15.0,
                t1,
                t1 + 5400,
                100.0,
                True,
                f"dwelling 30 m away; trail in trails/{GPX_ID}.gpx",
            )
        ]
    }
    a, d_ = stays["CM3"]
    sx, sy = D[4].pos("N02", (a + d_) / 2)
    t1 = round_up(a + 600, 60)
    w1 = (t1 - 2 * wl.DAY_S, t1 - 2 * wl.DAY_S + 3600)  # sent with the wrong day first
    cm_row("0000003", "AB", *w1, float(sx), float(sy) - 30.0, version=1)
    cms = [("0000004", "RB"), ("0000005", "BOTD"), ("0000006", "TOMV"), ("0000007", "TFP")]
    for ref, code in cms:
        k = rng.integers(0, len(hot_x))
        s1 = round_down(span[0] + rng.uniform() * (span[1] - span[0] - 43200), 60)
        cm_row(
            ref,
            code.lower() if ref == "0000006" else code,
            s1,
            s1 + float(rng.integers(2, 20)) * 1800,
            hot_x[k] + 200 * rng.normal(),
            hot_y[k] + 200 * rng.normal(),
            wgs=bool(ref == "0000005"),
            version=1,
        )
    s1 = round_down(span[0] + 3 * wl.DAY_S, 60)
    cm_row("0000008", "SHOP", s1, s1 + 3600, 457000.0, 340000.0, expect="INVALID_CRIME_TYPE")
    cm_row("0000009", "RB", s1, s1 + 13 * 3600, 457000.0, 340000.0, expect="CRIME_DATE_TIME_EXCEEDS_WINDOW")
    cm_row("0000010", "TFP", s1, s1 + 3600, None, None, expect="MISSING_LOCATION_DATA")
    cm_row(
        "0000011",
        "RB",
        s1,
        s1 + 3600,
        457000.0,
        340000.0,
        force="West Yorkshire",
        expect="INVALID_POLICE_FORCE",
    )
    cm_row("0000012", "RB", s1, s1 + 3600, 457000.0, 340000.0, ncols=12, expect="INVALID_COLUMN_COUNT")
    cm_row(
        "0000003",
        "AB",
        t1,
        t1 + 3600,
        float(sx),
        float(sy) - 30.0,
        text="Synthetic sample: window corrected",
        version=2,
    )
    exp_m["NOT/0000003"] = {
        "1": [
            check_hit(
                "NOT/0000003",
                "N02",
                float(sx),
                float(sy) - 30.0,
                *w1,
                100.0,
                False,
                "version 1 was sent with the wrong day",
            )
        ],
        "2": [
            check_hit(
                "NOT/0000003",
                "N02",
                float(sx),
                float(sy) - 30.0,
                t1,
                t1 + 3600,
                100.0,
                True,
                "version 2 (re-sent, window corrected): dwelling 30 m away",
            )
        ],
    }
    name = f"crimes/crime_mapping_{BATCH}.csv"
    write_text(out / name, "\n".join(cm) + "\n")
    expected["crime_mapping_file"] = {
        "file": name,
        "force": FORCE,
        "force_code": FORCE_CODE,
        "batch_id": BATCH,
        "read": len(cm),
        "rejected": sum(r["code"] is not None for r in cm_rows),
        "rows": cm_rows,
    }

    # ---- data.police.uk street-level CSV
    pu, exp_p = [], expected["police_uk"]
    no_location: list[int] = []

    def pu_row(cid, ctype, x=None, y=None, outcome="Under investigation", street=None):
        if x is None:
            lo = la = ""
            loc = "No Location"
            no_location.append(len(pu) + 1)
        else:
            lat, lon = ll(x, y)
            la, lo = f"{lat[0]:.6f}", f"{lon[0]:.6f}"
            loc = f"On or near {street or STREETS[len(pu) % len(STREETS)]}"
        area_no = int(hashlib.sha256(f"{lo}{la}".encode()).hexdigest()[:6], 16)
        pu.append(
            ",".join(
                [
                    cid,
                    "2026-07",
                    "Nottinghamshire Police",
                    "Nottinghamshire Police",
                    lo,
                    la,
                    loc,
                    f"E0103{area_no % 900 + 100:04d}",
                    f"Nottingham {area_no % 40 + 1:03d}A",
                    ctype,
                    outcome if cid else "",
                    "",
                ]
            )
        )

    def hexid(s):
        return hashlib.sha256(f"trailmon-sample-{s}".encode()).hexdigest()

    t_month = (epoch(datetime(2026, 6, 30, 23, tzinfo=UTC)), epoch(datetime(2026, 7, 31, 23, tzinfo=UTC)))
    h = homes["N09"]
    pu_row(hexid("P1"), "Burglary", h[0] + 40.0, h[1], street="Example Road")
    exp_p[hexid("P1")] = [
        check_hit(
            "P1",
            "N09",
            h[0] + 40.0,
            h[1],
            *t_month,
            100.0,
            True,
            "street point 40 m from home; window = July 2026 (local)",
        )
    ]
    h = homes["N03"]
    pu_row(hexid("P2"), "Vehicle crime", h[0], h[1] - 35.0, street="Sample Street")
    exp_p[hexid("P2")] = [
        check_hit(
            "P2",
            "N03",
            h[0],
            h[1] - 35.0,
            *t_month,
            100.0,
            True,
            "street point 35 m from home; window = July 2026 (local)",
        )
    ]
    pu_row(hexid("P1"), "Burglary", homes["N09"][0] + 40.0, homes["N09"][1], street="Example Road")
    for i in range(14):
        k = rng.integers(0, len(hot_x))
        ctype = POLICE_UK_TYPES[rng.integers(0, len(POLICE_UK_TYPES))]
        cid = "" if ctype == "Anti-social behaviour" else hexid(f"B{i}")
        pu_row(cid, ctype, hot_x[k] + 300 * rng.normal(), hot_y[k] + 300 * rng.normal())
    pu_row(hexid("NL1"), "Burglary")
    pu_row("", "Anti-social behaviour")
    header = (
        "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Crime type,"
        "Last outcome category,Context"
    )
    write_text(out / "crimes/police_uk_street.csv", header + "\n" + "\n".join(pu) + "\n")
    expected["police_uk_file"] = {
        "file": "crimes/police_uk_street.csv",
        "read": len(pu),
        "no_location_rows": no_location,
        "repeated_id_rows": [1, 3],
        "blank_id_rows": [i + 1 for i, r in enumerate(pu) if r.startswith(",")],
    }

    # ---- appointments (naive local times, --tz Europe/London)
    ap, exp_a = [], expected["appointments"]
    lat_o, lon_o = ll(*places["office"])

    def appt(aid, sid, s, e, status, note, wkt=None, kind="probation supervision", **truth):
        if wkt is None:
            geo = f"{lat_o[0]:.7f},{lon_o[0]:.7f},50,"
        else:
            geo = f',,,"{wkt}"'
        ap.append(f"{aid},{sid},{local_naive(s)},{local_naive(e)},{geo},{kind}")
        tt, _, _, aa, _ = F[sid]
        known = tt[(aa <= 100) & (tt >= s - 600) & (tt <= e + 600)]
        longest = float(np.max(np.diff(known))) if len(known) > 1 else np.inf
        if (status == "no_data") != (longest > e - s):
            raise RuntimeError(
                f"{aid}: the fixes do not fit the planted status {status} (longest gap {longest} s)"
            )
        exp_a[aid] = {
            "subject_id": sid,
            "status": status,
            "start_utc": iso(s),
            "end_utc": iso(e),
            "case": note,
            **{k: (iso(v) if isinstance(v, float) else v) for k, v in truth.items()},
        }

    def visit(day, sid, j, c, r):
        a_, d2_, _, _ = day.stays(sid)
        cr = crossings(day, sid, c[0], c[1], r, a_[j] - 1800, d2_[j] + 1800)
        ins = [t for t, k in cr if k == "in"]
        outs = [t for t, k in cr if k == "out"]
        return ins[0], outs[-1]

    office = places["office"]
    arr, dep = visit(D[3], "N01", 1, office, 50)
    s, e = round_up(arr + 300), round_down(dep - 300)
    appt(
        "A01",
        "N01",
        s,
        e,
        "attended",
        "in the office from before the start to after the end",
        truth_arrival=arr,
        truth_departure=dep,
    )
    arr, dep = visit(D[3], "N02", 1, office, 50)
    s = round_down(arr - 1200)
    appt(
        "A02",
        "N02",
        s,
        s + 3600,
        "late",
        "arrives ~20 min after the start, stays to the end",
        truth_arrival=arr,
        truth_departure=dep,
    )
    arr, dep = visit(D[4], "N04", 1, office, 50)
    s = round_up(arr + 300)
    appt(
        "A03",
        "N04",
        s,
        s + 4500,
        "left_early",
        "leaves ~20 min before the end",
        truth_arrival=arr,
        truth_departure=dep,
    )
    arr, dep = visit(D[4], "N05", 1, office, 50)
    s = round_down(arr - 1200)
    appt("A04", "N05", s, s + 3600, "partial", "inside ~12 min of 60", truth_arrival=arr, truth_departure=dep)
    o4 = D[4].origin
    appt("A05", "N06", o4 + 13 * 3600, o4 + 14 * 3600, "not_attended", "at home all day, fixes throughout")
    o1 = D[1].origin
    appt(
        "A06",
        "N07",
        o1 + 13 * 3600 + 1200,
        o1 + 14 * 3600 + 1200,
        "no_data",
        "tag charging 13:00-14:50 UTC over the whole appointment",
        kind="drug testing",
    )
    cx, cy = places["centre"]
    sq = [(cx - 60, cy - 60), (cx + 60, cy - 60), (cx + 60, cy + 60), (cx - 60, cy + 60), (cx - 60, cy - 60)]
    la_, lo_ = ll([p[0] for p in sq], [p[1] for p in sq])
    wkt = "POLYGON ((" + ", ".join(f"{b:.7f} {a:.7f}" for a, b in zip(la_, lo_, strict=True)) + "))"
    arr, dep = visit(D[5], "N08", 1, (cx, cy), 55)
    appt(
        "A07",
        "N08",
        round_up(arr + 300),
        round_down(dep - 300),
        "attended",
        "community centre given as a WKT polygon (120 m square)",
        wkt=wkt,
        kind="unpaid work",
        truth_arrival=arr,
        truth_departure=dep,
    )
    for aid, d in (("A08", 0), ("A09", 2)):
        arr, dep = visit(OCT[d], OCT_ID, 1, office, 50)
        appt(
            aid,
            OCT_ID,
            round_up(arr + 300),
            round_down(dep - 300),
            "attended",
            "BST (UTC+1) on Saturday 24 October"
            if d == 0
            else "GMT (UTC+0) on Monday 26 October, after the change",
            truth_arrival=arr,
            truth_departure=dep,
        )
    write_text(
        out / "appointments.csv",
        "appointment_id,subject_id,start,end,lat,lon,radius_m,geofence_wkt,appointment_type\n"
        + "\n".join(ap)
        + "\n",
    )

    # ---- zones
    zones, exp_z = [], expected["zones"]
    zc = places["zone"]
    lat_z, lon_z = ll(*zc)
    zf, zt = epoch(datetime(2026, 7, 13, 12, tzinfo=UTC)), epoch(datetime(2026, 7, 19, 12, tzinfo=UTC))
    zones.append(f"Z1,N10,exclusion,{lat_z[0]:.7f},{lon_z[0]:.7f},150,,{iso(zf)},{iso(zt)},,")
    t, x, y, acc, _ = F["N10"]
    arr, dep = visit(D[5], "N10", 1, zc, 150)
    good = acc <= 100
    away = good & ((t < arr - 600) | (t > dep + 600))
    if np.min(np.hypot(x[away] - zc[0], y[away] - zc[1])) < 250:
        raise RuntimeError("Z1: N10 comes near the exclusion zone outside the planted visit")
    tg = t[good]
    gaps = np.flatnonzero(np.diff(tg) > 600)
    no_data = [
        {"event": "no_data", "start": iso(max(tg[i], zf)), "end": iso(min(tg[i + 1], zt))}
        for i in gaps
        if tg[i + 1] > zf and tg[i] < zt
    ]
    exp_z["Z1"] = {
        "subject_id": "N10",
        "kind": "exclusion",
        "tolerance_s": 90,
        "events": sorted(
            [{"event": "visit", "start": iso(arr), "end": iso(dep)}] + no_data, key=lambda ev: ev["start"]
        ),
        "note": "one planted visit (noise-free crossing times, +-90 s); no_data = the gaps > 600 s between "
        "fixes with accuracy_m <= 100 (exact, from the written fixes)",
    }

    def curfew(zid, sid, days, f_, t_, planted):
        h_ = homes[sid]
        la_h, lo_h = ll(*h_)
        zones.append(
            f"{zid},{sid},inclusion,{la_h[0]:.7f},{lo_h[0]:.7f},100,,{iso(f_)},{iso(t_)},19:00,07:00"
        )
        tt, xx, yy, aa, _ = F[sid]
        # every night 19:00-07:00 local inside the active period
        nights = []
        day0 = datetime.fromtimestamp(f_, UTC).astimezone(LONDON).date() - timedelta(days=1)
        for k in range(10):
            dd = day0 + timedelta(days=k)
            n0 = datetime(dd.year, dd.month, dd.day, 19, tzinfo=LONDON).timestamp()
            n1 = datetime(
                (dd + timedelta(days=1)).year,
                (dd + timedelta(days=1)).month,
                (dd + timedelta(days=1)).day,
                7,
                tzinfo=LONDON,
            ).timestamp()
            a_, b_ = max(n0, f_), min(n1, t_)
            if b_ > a_:
                nights.append((a_, b_))
        g = aa <= 100
        for a_, b_ in nights:
            m = g & (tt >= a_ - 600) & (tt <= b_ + 600)
            if np.any(np.diff(tt[m]) > 600):
                raise RuntimeError(f"{zid}: a data gap in a curfew night of {sid}")
            out_ = m & (np.hypot(xx - h_[0], yy - h_[1]) > 80)
            out_ &= (
                ~np.any([(tt >= p0 - 300) & (tt <= p1 + 300) for p0, p1 in planted], axis=0)
                if planted
                else True
            )
            if np.any(out_ & (tt >= a_) & (tt <= b_)):
                raise RuntimeError(
                    f"{zid}: {sid} is outside home on a curfew night outside the planted absence"
                )
        return nights

    a_, d_, _, _ = D[3].stays("N09")
    cr = crossings(D[3], "N09", *homes["N09"], 100, d_[0] - 60, a_[-1] + 60)
    ab = (cr[0][0], cr[-1][0])
    curfew("Z2", "N09", D, zf, zt, [ab])
    exp_z["Z2"] = {
        "subject_id": "N09",
        "kind": "inclusion",
        "daily": "19:00-07:00 Europe/London",
        "tolerance_s": 90,
        "events": [{"event": "absence", "start": iso(ab[0]), "end": iso(ab[1])}],
        "note": f"the only event: out {local_naive(ab[0])[11:16]}-{local_naive(ab[1])[11:16]} local on "
        "Thursday 16 July; the nights are clean and without gaps",
    }
    of, ot = epoch(datetime(2026, 10, 24, 12, tzinfo=UTC)), epoch(datetime(2026, 10, 26, 12, tzinfo=UTC))
    a_, d_, _, _ = OCT[1].stays(OCT_ID)
    cr = crossings(OCT[1], OCT_ID, *homes[OCT_ID], 100, d_[0] - 60, d_[0] + 900)
    leave = cr[0][0]
    end7 = datetime(2026, 10, 25, 7, tzinfo=LONDON).timestamp()
    curfew("Z3", OCT_ID, OCT, of, ot, [(leave, end7 + 3600)])
    exp_z["Z3"] = {
        "subject_id": OCT_ID,
        "kind": "inclusion",
        "daily": "19:00-07:00 Europe/London",
        "tolerance_s": 90,
        "events": [{"event": "absence", "start": iso(leave), "end": iso(end7)}],
        "note": "the night of 24-25 October lasts 13 h (19:00 BST = 18:00Z to 07:00 GMT = 07:00Z); the "
        "subject leaves at ~06:40Z, so the absence runs to 07:00Z (exact end, start +-90 s)",
    }
    write_text(
        out / "zones.csv",
        "zone_id,subject_id,kind,lat,lon,radius_m,geofence_wkt,active_from,active_to,"
        "daily_start,daily_end\n" + "\n".join(zones) + "\n",
    )

    # ---- subjects
    ids = GENERIC + [GPX_ID, TCX_ID, GEOJSON_ID, OCT_ID]
    rng = np.random.default_rng([seed, 7])
    rows = []
    cohorts = ["fixed", "flex", "free"]
    for i, sid in enumerate(ids):
        ws, we = windows[sid]
        pnc = wl.make_pnc(int(rng.integers(1998, 2025)), int(rng.integers(0, 10**7)))
        rows.append(
            ",".join(
                [
                    sid,
                    cohorts[i % 3],
                    iso(ws),
                    iso(we),
                    f"{'ABCDEFGHJK'[i % 10]}{rng.integers(0, 10**6):06d}",
                    pnc,
                    f"{'ABCDEFGH'[i % 8]}{rng.integers(0, 10**4):04d}{'XY'[i % 2]}{'ABCDEF'[i % 6]}",
                    f"Officer {'ABCDE'[i % 5]} Example (synthetic)",
                ]
            )
        )
    write_text(
        out / "subjects.csv",
        "subject_id,cohort,monitoring_start,monitoring_end,crn,pnc_id,nomis_id,"
        "offender_manager\n" + "\n".join(rows) + "\n",
    )

    # ---- trails
    write_generic(out, F)
    write_em(out, F)
    write_gpx(out, F)
    write_tcx(out, F)
    write_geojson(out, F)
    write_bad_rows(out, homes)
    write_basemap(out, D, OCT, homes, places)
    expected["trail_files"] = {
        "generic_csv": sorted(str(p.relative_to(out)) for p in (out / "trails").glob("day-*.csv")),
        "em_positions": "em/positions.csv",
        "gpx": f"trails/{GPX_ID}.gpx",
        "tcx": f"trails/{TCX_ID}.tcx.gz",
        "geojson": f"trails/{GEOJSON_ID}.geojson",
        "fixes": {sid: int(len(F[sid][0])) for sid in sorted(F)},
    }
    write_text(out / "expected.json", json.dumps(expected, indent=1) + "\n")
    return expected


def write_basemap(out: Path, D, oct_days, homes, places) -> None:
    """``basemap.geojson``: the streets the trips follow, buildings at homes and places, a river.

    Streets are the noise-free L-shaped paths of every trip (the generator's waypoints), merged into
    lines; buildings are 16 m squares at each home and place; the river is a 50 m band across the
    area. EPSG:27700 (declared in the file), coordinates to 1 m, written in a fixed order.
    """
    import shapely

    segs = set()
    for day in list(D) + list(oct_days):
        p = day.paths
        for k in range(len(p.wp_offsets) - 1):
            lo, hi = int(p.wp_offsets[k]), int(p.wp_offsets[k + 1])
            xy = np.round(np.column_stack([p.wp_x_m[lo:hi], p.wp_y_m[lo:hi]]))
            for a, b in zip(xy[:-1], xy[1:], strict=True):
                if (a != b).any():
                    segs.add(tuple(sorted((tuple(a), tuple(b)))))
    merged = shapely.line_merge(shapely.MultiLineString([list(s) for s in sorted(segs)]))
    roads = sorted(
        (shapely.simplify(g, 1.0) for g in shapely.get_parts(merged)), key=lambda g: g.coords[0]
    )
    feats = [("road", "street", g) for g in roads]
    for name, (x, y) in sorted({**{f"home {k}": v for k, v in homes.items()}, **places}.items()):
        feats.append(("building", name, shapely.box(x - 8.0, y - 8.0, x + 8.0, y + 8.0)))
    xs = np.linspace(AREA[0], AREA[2], 97)
    ys = 336600.0 + 350.0 * np.sin((xs - AREA[0]) / 2100.0)
    feats.append(("water", "river", shapely.LineString(np.column_stack([xs, ys])).buffer(25.0, quad_segs=2)))

    def coords(g):
        if g.geom_type == "LineString":
            return [[round(x), round(y)] for x, y in g.coords]
        return [[[round(x), round(y)] for x, y in g.exterior.coords]]

    doc = {
        "type": "FeatureCollection",
        "name": "basemap",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::27700"}},
        "features": [
            {"type": "Feature", "properties": {"kind": kind, "name": name},
             "geometry": {"type": g.geom_type, "coordinates": coords(g)}}
            for kind, name, g in feats
        ],
    }
    write_text(out / "basemap.geojson", json.dumps(doc, separators=(",", ":")) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--out DIR``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent, help="output folder")
    args = ap.parse_args(argv)
    generate(args.out)
    total = sum(
        p.stat().st_size
        for p in args.out.rglob("*")
        if p.is_file() and p.suffix != ".py" and p.name != "README.md"
    )
    print(f"wrote {args.out} ({total / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
