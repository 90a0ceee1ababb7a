"""SPEC §9 time limit of the episode and series maps: none drawn past it, and the map says so."""

from __future__ import annotations

import re

from tests.web.conftest import audit_entries, sign_in
from tests.web.test_series_associations import _assoc, _series, built, client, store  # noqa: F401


def test_episode_map_draws_nothing_past_the_time_limit(client, store, monkeypatch):  # noqa: F811
    aid = int(_assoc(store, "A", "B")["association_id"])
    sign_in(client, "ana")
    m = client.get(f"/association/map?id={aid}")
    assert m.status_code == 200 and audit_entries(store)[-1]["counts"]["fixes"] > 0
    monkeypatch.setattr("trailmon.web._request.MAP_MAX_SECONDS", -1.0)
    m = client.get(f"/association/map?id={aid}")
    assert m.status_code == 200 and "Tracks not drawn: reading them took longer than -1 s." in m.text
    e = audit_entries(store)[-1]
    assert e["counts"]["fixes"] == 0 and e["parameters"]["tracks"] is False and e["subjects"] == []


def test_series_map_draws_nothing_past_the_time_limit(client, store, monkeypatch):  # noqa: F811
    sign_in(client, "ana")
    monkeypatch.setattr("trailmon.web._request.MAP_MAX_SECONDS", -1.0)
    r = _series(client, refs="B1")
    src = re.search(r'<iframe id="series-map"[^>]*src="([^"]+)"', r.text).group(1).replace("&amp;", "&")
    m = client.get(src)
    assert m.status_code == 200 and "Tracks not drawn: reading them took longer than -1 s." in m.text
    assert "Track S_LEAD" not in m.text
    e = audit_entries(store)[-1]
    assert e["counts"]["fixes"] == 0 and e["parameters"]["tracks"] is False and e["subjects"] == []
