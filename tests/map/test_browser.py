"""A saved map opens in headless Chromium with no network and draws something (not a blank page)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trailmon._chromium import find_browser, run_headless
from trailmon.map import crime_map, save_map
from trailmon.match.proximity import proximity
from trailmon.testing import make_trail

E0, N0 = 530000.0, 180000.0
T0 = 1_783_000_000.0


def _chromium() -> str:
    browser = find_browser()
    if browser is None:
        pytest.skip(
            "no chromium or chromium-browser on PATH (.ci/run installs Debian's chromium; "
            "apt-get install -y chromium to run this test)"
        )
    return browser


def test_map_renders_in_headless_chromium(tmp_path):
    from PIL import Image

    browser = _chromium()
    tr = make_trail([(T0 + 60 * k, E0 - 300 + 50 * k, N0 + 30) for k in range(13)])
    t = pd.to_datetime([T0, T0 + 720], unit="s", utc=True)
    crimes = pd.DataFrame(
        {"crime_ref": ["K1"], "x_m": [E0], "y_m": [N0], "committed_from": t[:1], "committed_to": t[1:]}
    )
    res = proximity(tr, crimes)
    page = save_map(crime_map(tr, crimes.iloc[0], res.hits, res.evidence), tmp_path / "k1.html")
    shot = tmp_path / "k1.png"
    done = run_headless(browser, page, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}",
                        "--window-size=1000,800", profile=tmp_path / "profile")
    assert shot.exists(), f"no screenshot; chromium said: {done.stderr[-2000:]}"
    errors = [ln for ln in done.stderr.splitlines() if "CONSOLE" in ln and "Uncaught" in ln]
    assert not errors, errors  # the inlined Leaflet and the map script ran
    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (800, 1000)
    colours = np.unique(img.reshape(-1, 3), axis=0)
    assert len(colours) > 100  # track, circles, labels, legend: not a blank page
    red = (img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 2] < 60)
    assert red.sum() > 200  # the crime circle's outline is drawn
