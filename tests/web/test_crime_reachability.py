"""The crime page's gaps near the scene carry the reachability columns (SPEC §3 space-time prism)."""

from __future__ import annotations

import math

from tests.web.conftest import sign_in
from trailmon.store.cases import CaseStore


def test_crime_page_gaps_show_min_speed_and_reachable_by(client, store):
    with CaseStore(store / "cases.sqlite") as cases:
        gaps = cases.frame("SELECT subject_id, min_speed_kmh, reachable_by FROM gaps WHERE crime_ref = 'C05'")
    assert len(gaps), "the web fixture has a gap near C05's scene"
    sign_in(client, "rev")
    r = client.get("/crime?ref=C05")
    assert r.status_code == 200
    section = r.text.split('id="gaps"')[1].split("</table>")[0]
    assert "<th>min_speed_kmh</th>" in section and "<th>reachable_by</th>" in section
    for g in gaps.itertuples(index=False):
        speed = "" if g.min_speed_kmh is None or math.isnan(g.min_speed_kmh) else f"{g.min_speed_kmh:.3f}"
        assert g.reachable_by in ("foot", "cycle", "vehicle", "no")
        assert f"<td>{speed}</td><td>{g.reachable_by}</td>" in section
