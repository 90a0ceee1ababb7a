"""Write the walk-through notebooks from their cells (run once after editing this file).

    python notebooks/_build.py

The notebooks are committed without outputs; CI executes them top to bottom (tests/test_notebooks.py).
"""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).resolve().parent

SETUP = '''import tempfile
from pathlib import Path

import pandas as pd

import trailmon as tm
from trailmon.demo import sample_dir

SAMPLE = sample_dir()                       # the shipped synthetic sample (Nottingham, 13-19 July 2026)
WORK = Path(tempfile.mkdtemp(prefix="trailmon-notebook-"))
store = tm.TrailStore(WORK / "store", create=True)
trail_files = sorted((SAMPLE / "trails").glob("day-*.csv")) + [SAMPLE / "trails" / "N13.tcx.gz"]
subject_files = [SAMPLE / "subjects.csv", SAMPLE / "em" / "activations.csv"]
summary = store.ingest([tm.read_trails(f) for f in trail_files], [tm.read_subjects(f) for f in subject_files])
print(f"read {summary.read:,} fixes: accepted {summary.accepted:,}, rejected {summary.rejected}")'''

ANALYST = [
    ("md", "# Analyst walk-through: a burglary, its hits, the evidence, the map\n\n"
           "Everything here runs on the synthetic sample shipped with trailmon (`sample_traces/`); no real "
           "person's data. The outputs carry the protective marking **OFFICIAL-SENSITIVE** when written to files."),
    ("md", "## 1. A trail store from the week's files\n\nEvery file is validated on the way in; rejected rows "
           "keep their reason in `STORE/quarantine/`, and read = accepted + rejected."),
    ("code", SETUP),
    ("md", "## 2. The crimes\n\nThe generic crimes file: a crime is a point, a window *committed between T1 and "
           "T2* and a radius (100 m unless the row gives one). Offences arrive in several vocabularies and are "
           "grouped as in SPEC §1."),
    ("code", '''crimes = tm.read_crimes(SAMPLE / "crimes" / "crimes.csv", crs=store.crs).accepted
crimes[["crime_ref", "offence", "offence_group", "committed_from", "committed_to", "radius_m"]].head(11)'''),
    ("md", "## 3. Who was within R of the burglary at C08 while it was committed?\n\n"
           "`C08` is a shed burglary between midnight and 06:00. The answer is exact: the closest approach and the "
           "time within R are computed on the interpolated trail, not only at the fixes."),
    ("code", '''burglary = crimes[crimes.crime_ref == "C08"]
t1, t2 = burglary.committed_from.iloc[0], burglary.committed_to.iloc[0]
trails = store.read(t1, t2)
result = tm.proximity(trails, burglary, crs=store.crs)
result.hits[["subject_id", "min_distance_m", "closest_time", "dwell_s", "passes", "n_fixes_within",
             "between_fixes", "accuracy_m", "confidence", "coverage"]]'''),
    ("code", '''assert list(result.hits.subject_id) == ["N09"]   # planted: asleep at home 40 m away'''),
    ("md", "## 4. The evidence\n\nThe fixes within R + 50 m during the window, labelled by pass (A1, A2, ...), "
           "plus the interpolated first and last point of each pass."),
    ("code", '''result.evidence[["label", "kind", "time", "distance_m", "within_r", "accuracy_m",
                  "fix_type"]].head(8)'''),
    ("md", "## 5. A pass between fixes\n\n`C01`: a car passing the scene between two fixes several hundred metres "
           "apart. A fix-based search (a spatial join of fixes on a buffer) finds nobody; the exact answer finds "
           "the subject, with `between_fixes` true."),
    ("code", '''car = crimes[crimes.crime_ref == "C01"]
hit = tm.proximity(store.read(car.committed_from.iloc[0], car.committed_to.iloc[0]), car).hits
hit[["subject_id", "min_distance_m", "dwell_s", "n_fixes_within", "between_fixes"]]'''),
    ("md", "## 6. Ruling people out, and the gaps near the scene\n\n`C05`: the subject who lives by the scene was "
           "charging the tag over the whole window. That is not a hit, and it is not a trustworthy *not there* "
           "either: it is listed as a gap near the scene."),
    ("code", '''charging = crimes[crimes.crime_ref == "C05"]
res = tm.proximity(store.read(charging.committed_from.iloc[0], charging.committed_to.iloc[0]), charging)
res.hits, res.gaps'''),
    ("md", "## 7. The map\n\nA self-contained map (no network needed): the crime circle, each hit subject's track "
           "in the window and the evidence points."),
    ("code", '''from trailmon.map import crime_map, save_map

m = crime_map(trails, burglary.iloc[0], result.hits, result.evidence, crs=store.crs)
path = save_map(m, WORK / "crime-C08.html")
print(path, path.stat().st_size // 1024, "kB")
m'''),
    ("md", "## 8. How fast would they have had to move? Reachability across a gap\n\nEvery gap near the scene "
           "also says the least average speed, in straight lines, at which the subject could have been at the "
           "scene during the gap and the window (`min_speed_kmh`) and the slowest of foot, cycle and vehicle that "
           "reaches it (`reachable_by`). A bound, never evidence of presence: a charging tag at home 'reaches' "
           "the scene next door on foot."),
    ("code", '''res.gaps[["subject_id", "gap_start", "gap_end", "before_distance_m", "after_distance_m", "coverage",
          "min_speed_kmh", "reachable_by"]]'''),
    ("md", "## 9. A crime series against routine\n\nFive thefts around the city centre on three days. For each "
           "subject with a hit, `p` is how often they are near that place at that time of day anyway: the share "
           "of the surrounding days (the sample holds a week, so 3 either side here; 14 by default) with enough "
           "data on which the same window, moved by whole days on the UK clock, is also a hit. `p_tail` is the "
           "exact chance of at least that many hits from routine alone: small means a lead worth a look, never "
           "evidence."),
    ("code", '''series_crimes = crimes[crimes.crime_ref.isin(["C01", "C02", "C04", "C09", "C10"])]
week = store.read(pd.Timestamp("2026-07-12", tz="UTC"), pd.Timestamp("2026-07-21", tz="UTC"))
ranked, long = tm.series(week, series_crimes, days=3)
ranked'''),
    ("code", '''long[long.subject_id == ranked.subject_id.iloc[0]]'''),
    ("md", "## 10. Who moves together? Co-location\n\nEpisodes of two subjects within 50 m of each other for at "
           "least 10 minutes over the week, exact on the interpolated trails (relative motion is linear between "
           "fixes). Pairs are found from an index of occupied cells and hours, never by trying all pairs."),
    ("code", '''a, b = pd.Timestamp("2026-07-13", tz="UTC"), pd.Timestamp("2026-07-20", tz="UTC")
together = tm.associations(store.read(a, b), a, b, crs=store.crs)
together[["subject_a", "subject_b", "start", "end", "duration_s", "min_distance_m", "closest_time"]]'''),
    ("code", '''m = tm.association_map(store.read(a, b), together.iloc[0], crs=store.crs) if len(together) else None
m'''),
]

MANAGER = [
    ("md", "# Offender manager walk-through: a week's attendance and zones\n\n"
           "On the synthetic sample shipped with trailmon. GPS alone never decides whether an absence was "
           "acceptable: each status supports an outcome for the offender manager to weigh."),
    ("code", SETUP),
    ("md", "## 1. Appointments\n\nTimes in the file are UK local time, so they are read with `tz=\"Europe/London\"` "
           "(right across the clock changes). A geofence is a circle or a polygon."),
    ("code", '''appts = tm.read_appointments(SAMPLE / "appointments.csv", crs=store.crs, tz="Europe/London").accepted
july = appts[appts.start < pd.Timestamp("2026-08-01", tz="UTC")]
trails = store.read(july.start.min() - pd.Timedelta(minutes=15), july.end.max())
outcomes = tm.attendance(trails, july)
outcomes[["appointment_id", "subject_id", "start", "inside_s", "arrival", "departure", "coverage", "status",
          "flags", "outcome"]]'''),
    ("md", "`no_data` is never a missed appointment: the tag could not say (here the tag was charging over the "
           "whole appointment)."),
    ("code", '''assert outcomes.set_index("appointment_id").loc["A06", "status"] == "no_data"
outcomes.status.value_counts()'''),
    ("md", "## 2. Zones: an exclusion zone and curfews\n\nVisits to an exclusion zone, absences from home during "
           "a 19:00-07:00 curfew, and the periods where the position is unknown (reported as `no_data`, never as "
           "a breach or as compliance)."),
    ("code", '''zones = tm.read_zones(SAMPLE / "zones.csv", crs=store.crs, tz="Europe/London").accepted
t1, t2 = pd.Timestamp("2026-07-13", tz="UTC"), pd.Timestamp("2026-07-20", tz="UTC")
events = tm.zones(store.read(t1, t2), zones, t1, t2, tz="Europe/London")
events.groupby(["zone_id", "event"]).size()'''),
    ("code", '''events[events.event != "no_data"]'''),
    ("md", "## 3. The week on a map\n\nThe subject's track coloured by time, segments styled by the gap between "
           "fixes, appointment geofences coloured by status and the zones."),
    ("code", '''from trailmon.map import subject_map

who = "N09"
a, b = pd.Timestamp("2026-07-16T12:00Z"), pd.Timestamp("2026-07-17T12:00Z")
m = subject_map(store.read(a, b, [who]), who, a, b, zones=zones, crs=store.crs)
m'''),
]


def build(cells, path: Path) -> None:
    nb = nbf.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbf.v4.new_markdown_cell(src) if kind == "md" else nbf.v4.new_code_cell(src) for kind, src in cells]
    nbf.write(nb, path)


if __name__ == "__main__":
    build(ANALYST, HERE / "analyst_walkthrough.ipynb")
    build(MANAGER, HERE / "offender_manager_walkthrough.ipynb")
