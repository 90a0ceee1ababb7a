"""SPEC §9 map limits and layers on the web maps of the sample store: each test failed before its fix."""

from __future__ import annotations

import re
import sqlite3
from urllib.parse import urlencode

from tests.web.conftest import audit_entries, post, sign_in


def _trail_map(client):
    form = {"from": "2026-07-14T08:00:00Z", "to": "2026-07-14T12:00:00Z", "purpose": "p"}
    r = post(client, "/trail?subject=N02", form)
    url = re.search(r'src="(/trail/map\?t=[^"]+)"', r.text).group(1).replace("&amp;", "&")
    return client.get(url)


def test_trail_map_draws_nothing_past_the_time_limit_and_says_so(client, store, monkeypatch):
    sign_in(client, "ana")
    m = _trail_map(client)
    assert m.status_code == 200 and "reading them took longer" not in m.text
    assert audit_entries(store)[-1]["counts"]["fixes"] > 0
    monkeypatch.setattr("trailmon.web._request.MAP_MAX_SECONDS", -1.0)  # any reading is too slow
    m = _trail_map(client)
    assert m.status_code == 200 and "Tracks not drawn: reading them took longer than -1 s." in m.text
    assert "L.polyline(" not in m.text
    e = audit_entries(store)[-1]
    assert e["action"] == "map" and e["counts"]["fixes"] == 0 and e["parameters"]["tracks"] is False


def _gap_crime(store) -> tuple[str, int]:
    with sqlite3.connect(store / "cases.sqlite") as con:
        row = con.execute("SELECT crime_ref, COUNT(*) FROM gaps GROUP BY crime_ref ORDER BY 2 DESC LIMIT 1").fetchone()
    assert row, "the sample store records gaps near some scene"
    return row[0], row[1]


def test_crime_map_draws_the_reachability_layer_for_trail_roles_only(app, client, store):
    ref, _ = _gap_crime(store)
    sign_in(client, "ana")
    r = client.get("/crime/map?" + urlencode({"ref": ref}))
    assert r.status_code == 200 and "Reachable in gaps" in r.text
    e = audit_entries(store)[-1]
    assert e["action"] == "map" and e["counts"]["prisms"] > 0
    rev = app.test_client()
    sign_in(rev, "rev")  # a reviewer may not view trails: no positions bracketing a gap either
    r = rev.get("/crime/map?" + urlencode({"ref": ref}))
    assert r.status_code == 200 and "Reachable in gaps" not in r.text
    assert audit_entries(store)[-1]["counts"]["prisms"] == 0


def test_crime_map_reachability_layer_stops_at_the_time_limit(client, store, monkeypatch):
    from trailmon.web.views import crimes

    ref, _ = _gap_crime(store)
    monkeypatch.setattr(crimes, "MAP_MAX_SECONDS", -1.0)
    sign_in(client, "ana")
    r = client.get("/crime/map?" + urlencode({"ref": ref}))
    assert r.status_code == 200 and "Reachable in gaps" not in r.text
