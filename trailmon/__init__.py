"""trailmon: exact crime-scene proximity and appointment attendance from GPS tag trails.

The public API is plain functions over pandas frames and a trail-store object::

    import trailmon as tm
    store = tm.TrailStore("store", create=True)
    store.ingest([tm.read_trails("day.csv")], [tm.read_subjects("subjects.csv")])
    crimes = tm.read_crimes("crimes.csv").accepted
    hits, evidence, gaps = tm.proximity(store.read(t1, t2), crimes)

Names are imported on first use, so ``import trailmon`` (and ``trailmon --help``) stays fast.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "AccessRefusedError": "trailmon.errors",
    "AuditTamperedError": "trailmon.errors",
    "CaseStore": "trailmon.store.cases",
    "CRSError": "trailmon.errors",
    "InputError": "trailmon.errors",
    "ProximityResult": "trailmon.match.proximity",
    "ReadResult": "trailmon.io.quarantine",
    "RejectReason": "trailmon.io.quarantine",
    "StoreCRS": "trailmon.crs",
    "StoreError": "trailmon.errors",
    "StoreLockedError": "trailmon.errors",
    "TimezoneError": "trailmon.errors",
    "TrailIndex": "trailmon.index",
    "TrailStore": "trailmon.store.trails",
    "TrailmonError": "trailmon.errors",
    "TrailmonWarning": "trailmon.errors",
    "Trails": "trailmon.trail",
    "SeriesResult": "trailmon.match.series",
    "association_map": "trailmon.map.series",
    "associations": "trailmon.match.associations",
    "attendance": "trailmon.match.attendance",
    "crime_map": "trailmon.map",
    "crimes_near_subject": "trailmon.match.proximity",
    "gap_reachability": "trailmon.match.reachability",
    "make_trails": "trailmon.trail",
    "proximity": "trailmon.match.proximity",
    "proximity_arrays": "trailmon.match.proximity",
    "read_appointments": "trailmon.io.appointments",
    "read_crimes": "trailmon.io.crimes",
    "read_geofences": "trailmon.io.geofence",
    "read_subjects": "trailmon.io.subjects",
    "read_trails": "trailmon.io.trails",
    "read_zones": "trailmon.io.zones",
    "run_nightly": "trailmon.nightly",
    "save_map": "trailmon.map",
    "series": "trailmon.match.series",
    "series_map": "trailmon.map.series",
    "subject_map": "trailmon.map",
    "zones": "trailmon.match.zones",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'trailmon' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
