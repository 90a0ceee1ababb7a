"""Evidence of a hit with more passes than the counting pass keeps (evaluated again): same rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trailmon.match import _proximity_kernels as K
from trailmon.match.proximity import proximity
from trailmon.testing import make_trail


@pytest.mark.kernels
def test_many_passes_evidence():
    n_cross = K.EVIDENCE_KEEP_PASSES + 4
    fixes = [(60 * k, -300.0 if k % 2 == 0 else 300.0, 30.0) for k in range(n_cross + 1)]
    tr = make_trail(fixes)
    t = pd.to_datetime([0, 60 * n_cross], unit="s", utc=True)
    crimes = pd.DataFrame({"crime_ref": ["K1", "K2"], "x_m": [0.0, 0.0], "y_m": [0.0, 0.0],
                           "committed_from": t[[0, 0]], "committed_to": pd.to_datetime([60 * n_cross, 150],
                                                                                        unit="s", utc=True)})
    res = proximity(tr, crimes)
    hits = res.hits.set_index("crime_ref")
    assert hits.loc["K1", "passes"] == n_cross and hits.loc["K2", "passes"] == 3
    ev = res.evidence[res.evidence.crime_ref == "K1"]
    assert (ev.kind == "first").sum() == n_cross and (ev.kind == "last").sum() == n_cross
    assert ev["pass"].nunique() == n_cross
    # each pass is 2 * sqrt(100^2 - 30^2) m long at 10 m/s, centred on the crossing at 60k + 30 s
    half = np.sqrt(100**2 - 30**2) / 10
    first = ev[ev.kind == "first"].time.astype("int64").to_numpy() / 1e9
    assert np.allclose(first, 60 * np.arange(n_cross) + 30 - half, atol=1e-6)
    # the same rows as the one-crime run (a hit with few passes, from the kept passes)
    alone = proximity(tr, crimes.iloc[[0]]).evidence
    pd.testing.assert_frame_equal(alone.reset_index(drop=True), ev.reset_index(drop=True))
