"""The metric table, local periods, and gaps against the shared coverage kernel on hand-made trails."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.conftest import assert_rows_close
from trailmon.errors import InputError
from trailmon.match._kernels import known_time_window
from trailmon.report.cohort import report_periods, unknown_spells
from trailmon.report.metrics import METRICS, definition, metric_columns, metrics_frame


def test_metric_table_is_unique_and_complete():
    names = [m.name for m in METRICS]
    assert len(names) == len(set(names))
    assert all(m.definition and m.unit for m in METRICS)
    assert list(metrics_frame().columns) == ["name", "definition", "unit", "tables"]
    assert "no_data" in definition("missed_share").definition
    with pytest.raises(ValueError, match="table must be one of 'cohort', 'daily', 'hits', got 'x'"):
        metric_columns("x")
    with pytest.raises(KeyError, match="no metric 'nope'"):
        definition("nope")


@pytest.mark.parametrize(
    ("fixes", "pieces", "gaps"),
    [
        ([], [(0.0, 1000.0)], [(0.0, 1000.0)]),  # no fixes: the whole monitored span is a gap
        ([500.0], [(0.0, 1000.0)], [(0.0, 440.0), (560.0, 1000.0)]),  # an isolated fix: +-60 s known
        ([100.0, 700.0], [(0.0, 1000.0)], [(0.0, 40.0), (760.0, 1000.0)]),  # 600 s apart: interpolated
        ([100.0, 800.0], [(0.0, 1000.0)], [(0.0, 40.0), (160.0, 740.0), (860.0, 1000.0)]),  # 700 s: a gap
        ([100.0, 800.0], [(0.0, 300.0), (700.0, 1000.0)], [(0.0, 40.0), (160.0, 300.0), (700.0, 740.0),
                                                          (860.0, 1000.0)]),  # two windows
    ],
)
def test_gaps_hand_made(fixes, pieces, gaps):
    s, e = unknown_spells(np.asarray(fixes, float), pieces)
    assert_rows_close(zip(s, e, strict=True), gaps, abs=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_gaps_plus_known_is_monitored(seed):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, 20000, rng.integers(0, 60)))
    pieces = [(1000.0, 8000.0), (9000.0, 19000.0)]
    s, e = unknown_spells(t, pieces)
    known = sum(known_time_window(t, 0, len(t), a, b, 600.0, 60.0) for a, b in pieces)
    assert (e - s).sum() + known == pytest.approx(sum(b - a for a, b in pieces), abs=1e-6)


def test_periods_local_days_weeks_months():
    t0, t1 = pd.Timestamp("2026-10-24T00:00+01:00"), pd.Timestamp("2026-11-03T00:00Z")
    days = report_periods(t0, t1, "day")
    assert (days["end_s"] - days["start_s"]).tolist()[:3] == [86400.0, 90000.0, 86400.0]  # 25 h on 25 Oct
    weeks = report_periods(t0, t1, "week")
    assert list(weeks["label"]) == ["2026-W43", "2026-W44", "2026-W45"]
    assert weeks["start"][1] == pd.Timestamp("2026-10-26T00:00Z")  # a Monday, GMT
    months = report_periods(t0, t1, "month")
    assert list(months["label"]) == ["2026-10", "2026-11"]
    assert months["start_s"][0] == t0.value / 1e9 and months["end_s"][1] == t1.value / 1e9  # clipped
    with pytest.raises(InputError, match="kind must be one of 'day', 'week', 'month', 'report', got 'year'"):
        report_periods(t0, t1, "year")
