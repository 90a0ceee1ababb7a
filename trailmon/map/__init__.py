"""Maps for IOM panels (SPEC §4): folium HTML that renders with no network, and a static PNG.

- :func:`subject_map` — a subject over a period: track coloured by time and styled by gap,
  fixes with confidence circles, crime scenes, hits with pass labels, appointments by status,
  zones, layer control and legend;
- :func:`crime_map` — one crime: the scene circle, each hit subject's track within the window,
  evidence points labelled ``A1`` …;
- :func:`save_map` — the map as one self-contained HTML file (Leaflet inlined from local copies);
- :func:`static_map_png` — the crime map as a PNG for printed packs (matplotlib, no tiles).

folium and matplotlib are imported only when a map is drawn, so ``import trailmon`` stays light.
"""

from __future__ import annotations

import importlib

__all__ = ["crime_map", "offline_html", "save_map", "static_map_png", "subject_map"]

_LAZY = {
    "crime_map": "trailmon.map.crime",
    "offline_html": "trailmon.map._offline",
    "save_map": "trailmon.map._offline",
    "static_map_png": "trailmon.map.static",
    "subject_map": "trailmon.map.subject",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trailmon.map' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
