"""Attendance and zones on the national day: 5,000 appointments plus a curfew zone per subject.

    python benchmarks/bench_attendance.py [--subjects 5000] [--polygon-vertices 64]

Appointments are the generator's (half at real visits), circles of their radius; a second run
uses the same appointments as regular polygons with --polygon-vertices vertices. Zones: one
19:00-07:00 inclusion (curfew) zone at each subject's home for the day, Europe/London schedule.
No peer does this exactly; a shapely baseline (each appointment's trail LineString intersected
with the geofence, then measured in time) is timed on a subsample and scaled.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
import shapely
from _common import save, table, timed
from _day import day_trails

from trailmon.match.attendance import attendance
from trailmon.match.zones import zones


def polygon_appointments(appts: pd.DataFrame, n_vertices: int) -> pd.DataFrame:
    out = appts.copy()
    ang = np.linspace(0, 2 * np.pi, n_vertices, endpoint=False)
    out["geometry"] = [shapely.Polygon(np.c_[x + r * np.cos(ang), y + r * np.sin(ang)])
                       for x, y, r in zip(appts.center_x_m, appts.center_y_m, appts.radius_m, strict=True)]
    out[["center_x_m", "center_y_m", "radius_m"]] = np.nan
    return out


def curfew_zones(day, trails) -> pd.DataFrame:
    paths = day.truth.paths
    home = paths.stay_is_home
    first_home = pd.DataFrame({"s": paths.stay_subject[home], "x": paths.stay_x_m[home],
                               "y": paths.stay_y_m[home]}).drop_duplicates("s")
    t0 = pd.Timestamp(trails.t_s.min(), unit="s", tz="UTC").floor("D")
    return pd.DataFrame({
        "zone_id": [f"Z{s:05d}" for s in first_home.s], "subject_id": trails.subject_ids[first_home.s.to_numpy()],
        "kind": "inclusion", "active_from": t0 - pd.Timedelta(days=1), "active_to": t0 + pd.Timedelta(days=2),
        "daily_start": "19:00", "daily_end": "07:00", "center_x_m": first_home.x.to_numpy(),
        "center_y_m": first_home.y.to_numpy(), "radius_m": 100.0, "geometry": None,
    })


def shapely_inside_s(trails, appts: pd.DataFrame) -> list[float]:
    """Seconds inside each appointment's circle: the LineString of its fixes in the window, intersected."""
    out = []
    for a in appts.itertuples():
        k = trails.subject_index(a.subject_id)
        lo, hi = trails.offsets[k], trails.offsets[k + 1]
        t1, t2 = a.start.value / 1e9 - 900, a.end.value / 1e9
        sel = slice(lo + np.searchsorted(trails.t_s[lo:hi], t1), lo + np.searchsorted(trails.t_s[lo:hi], t2))
        xy = np.c_[trails.x_m[sel], trails.y_m[sel]]
        if len(xy) < 2:
            out.append(0.0)
            continue
        line = shapely.LineString(xy)
        fence = shapely.Point(a.center_x_m, a.center_y_m).buffer(a.radius_m, 64)
        frac = shapely.intersection(line, fence).length / max(line.length, 1e-9)
        out.append(frac * (trails.t_s[sel][-1] - trails.t_s[sel][0]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=5000)
    ap.add_argument("--polygon-vertices", type=int, default=64)
    ap.add_argument("--shapely-sample", type=int, default=500)
    args = ap.parse_args()
    trails, _, day = day_trails(args.subjects, 10)
    appts = day.appointments.copy()
    appts["appointment_type"] = "probation"
    appts["geometry"] = None
    zs = curfew_zones(day, trails)
    t_from = pd.Timestamp(trails.t_s.min(), unit="s", tz="UTC")
    t_to = pd.Timestamp(trails.t_s.max(), unit="s", tz="UTC")
    attendance(trails, appts.head(20))  # compile
    zones(trails, zs.head(20), t_from, t_to)
    circ_s, out = timed(attendance, trails, appts, repeat=3)
    poly = polygon_appointments(appts, args.polygon_vertices)
    poly_s, _ = timed(attendance, trails, poly, repeat=3)
    zone_s, ev = timed(zones, trails, zs, t_from, t_to, repeat=3)
    sub = appts.sample(n=min(args.shapely_sample, len(appts)), random_state=1)
    t = time.perf_counter()
    shapely_inside_s(trails, sub)
    shp_s = (time.perf_counter() - t) * len(appts) / len(sub)
    rows = [
        (f"attendance, {len(appts):,} appointments (circles)", f"{circ_s:.3f} s",
         f"shapely LineString x circle (scaled from {len(sub)}): {shp_s:.2f} s ({shp_s / circ_s:.0f}x)"),
        (f"attendance, same as {args.polygon_vertices}-vertex polygons", f"{poly_s:.3f} s", ""),
        (f"zones, {len(zs):,} curfews 19:00-07:00", f"{zone_s:.3f} s", f"{len(ev):,} events"),
    ]
    print(f"{trails.n_fixes:,} fixes; statuses: " + ", ".join(f"{k} {v}" for k, v in out.status.value_counts().items()))
    print(table(rows, ("what", "trailmon", "note")))
    save("attendance", {"fixes": trails.n_fixes, "appointments": len(appts), "circles_s": circ_s, "polygons_s": poly_s,
                        "zones": len(zs), "zones_s": zone_s, "zone_events": len(ev), "shapely_scaled_s": shp_s,
                        "statuses": out.status.value_counts().to_dict()})


if __name__ == "__main__":
    main()
