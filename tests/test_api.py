"""The public surface: a sorted ``__all__`` whose every name resolves, and a fast import."""

from __future__ import annotations

import subprocess
import sys

import trailmon


def test_all_sorted_and_resolvable():
    assert trailmon.__all__ == sorted(trailmon.__all__)
    for name in trailmon.__all__:
        assert getattr(trailmon, name) is not None, name


def test_import_is_light():
    code = "import sys, trailmon; print(sorted(m for m in ('numba', 'geopandas', 'folium') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_errors_tree():
    from trailmon import errors

    assert issubclass(errors.TimezoneError, errors.InputError)
    assert issubclass(errors.InputError, ValueError)
    assert issubclass(errors.StoreLockedError, errors.StoreError)
    assert issubclass(errors.AccessRefusedError, PermissionError)
    assert {errors.StoreLockedError.exit_code, errors.AccessRefusedError.exit_code,
            errors.AuditTamperedError.exit_code, errors.TrailmonError.exit_code} == {4, 3, 5, 1}


def test_leads_are_public():
    from trailmon.match.associations import associations
    from trailmon.match.series import series

    assert trailmon.series is series and trailmon.associations is associations
    assert {"SeriesResult", "association_map", "gap_reachability", "series_map"} <= set(trailmon.__all__)
