"""Public helpers for tests: small hand-made trails."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from trailmon.trail import Trails, make_trails

__all__ = ["make_trail"]


def make_trail(
    fixes: Iterable[Sequence],
    *,
    subject: str = "S1",
    windows: dict[str, list[tuple[float, float]]] | None = None,
) -> Trails:
    """Trails from rows ``(t_s, x_m, y_m[, accuracy_m[, fix_type[, subject_id]]])``.

    Parameters
    ----------
    fixes : iterable of tuples
        Seconds UTC, metres (EPSG:27700), optional accuracy (m), fix type and subject.
    subject : str, default "S1"
        Subject of rows that name none.
    windows : dict, optional
        Monitoring windows ``subject -> [(start_s, end_s)]``; unknown when omitted.

    Examples
    --------
    >>> tr = make_trail([(0, 0.0, 0.0), (60, 600.0, 0.0)])
    >>> tr.n_fixes, list(tr.subject_ids)
    (2, ['S1'])
    """
    rows = [tuple(r) for r in fixes]
    t = np.array([r[0] for r in rows], dtype=np.float64)
    x = np.array([r[1] for r in rows], dtype=np.float64)
    y = np.array([r[2] for r in rows], dtype=np.float64)
    acc = np.array([r[3] if len(r) > 3 and r[3] is not None else np.nan for r in rows], dtype=np.float64)
    ft = np.array([r[4] if len(r) > 4 and r[4] is not None else "gps" for r in rows], dtype=object)
    sid = np.array([r[5] if len(r) > 5 else subject for r in rows], dtype=object)
    return make_trails(sid, t, x, y, accuracy_m=acc, fix_type=ft, windows=windows)
