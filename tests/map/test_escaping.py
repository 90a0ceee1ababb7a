"""Hostile text in maps stays data (SPEC §9): every script payload inert, a CSP on every map file."""

from __future__ import annotations

import base64
import hashlib
import re

import pandas as pd
import pytest

from tests.security.jscheck import MARK, PAYLOADS, assert_inert, scripts
from trailmon.map import crime_map, offline_html, save_map, subject_map
from trailmon.match.proximity import proximity
from trailmon.testing import make_trail

E0, N0 = 530000.0, 180000.0
T0 = 1_783_000_000.0
HOSTILE = [p for p in PAYLOADS if len(p) < 200] + [PAYLOADS[-1]]
CR = next(p for p in PAYLOADS if "\r" in p)


def ts(s: float) -> pd.Timestamp:
    return pd.Timestamp(round((T0 + s) * 1e3), unit="ms", tz="UTC")


@pytest.fixture(scope="module")
def hostile():
    subjects = [f"S{i}{p}" for i, p in enumerate(HOSTILE[:4])] + [f"S9{CR}"]
    rows = []
    for i, s in enumerate(subjects):
        rows += [(T0 + 60 * k, E0 - 200 + 40 * k, N0 + 5 * i, 10.0, "gps", s) for k in range(8)]
    tr = make_trail(rows)
    crimes = pd.DataFrame(
        {
            "crime_ref": [HOSTILE[0]],
            "offence": [HOSTILE[1] + HOSTILE[2]],
            "x_m": [E0],
            "y_m": [N0],
            "committed_from": [ts(0)],
            "committed_to": [ts(600)],
            "radius_m": [100.0],
        }
    )
    res = proximity(tr, crimes)
    assert len(res.hits) == len(subjects)
    hits = res.hits.copy()
    hits["confidence"] = HOSTILE[3]
    appts = pd.DataFrame(
        [
            {
                "appointment_id": p,
                "subject_id": subjects[0],
                "start": ts(0),
                "end": ts(600),
                "appointment_type": HOSTILE[(k + 3) % len(HOSTILE)],
                "center_x_m": E0 - 100,
                "center_y_m": N0,
                "radius_m": 40.0,
                "geometry": None,
            }
            for k, p in enumerate(HOSTILE)
        ]
    )
    att = pd.DataFrame({"appointment_id": HOSTILE, "status": ["attended"] * len(HOSTILE)})
    zones = pd.DataFrame(
        {
            "zone_id": HOSTILE,
            "subject_id": [subjects[0]] * len(HOSTILE),
            "kind": ["exclusion"] * len(HOSTILE),
            "active_from": [ts(-100)] * len(HOSTILE),
            "active_to": pd.to_datetime([ts(5000)] * len(HOSTILE), utc=True),
            "daily_start": HOSTILE,
            "daily_end": HOSTILE,
            "center_x_m": [E0] * len(HOSTILE),
            "center_y_m": [N0] * len(HOSTILE),
            "radius_m": [200.0] * len(HOSTILE),
            "geometry": [None] * len(HOSTILE),
        }
    )
    return {
        "trails": tr,
        "subjects": subjects,
        "crimes": crimes,
        "hits": hits,
        "evidence": res.evidence,
        "appts": appts,
        "att": att,
        "zones": zones,
    }


@pytest.fixture(scope="module")
def crime_html(hostile, tmp_path_factory):
    h = hostile
    m = crime_map(h["trails"], h["crimes"].iloc[0], h["hits"], h["evidence"])
    return save_map(m, tmp_path_factory.mktemp("crime") / "crime.html").read_text(encoding="utf-8")


def test_crime_map_keeps_hostile_refs_and_subject_ids_as_data(crime_html):
    html = crime_html
    assert MARK in html
    assert assert_inert(html, "crime map") > 0


def test_subject_map_keeps_hostile_text_as_data(hostile, tmp_path):
    h = hostile
    m = subject_map(
        h["trails"],
        h["subjects"][0],
        ts(0),
        ts(600),
        crimes=h["crimes"],
        hits=h["hits"],
        evidence=h["evidence"],
        appointments=h["appts"],
        attendance=h["att"],
        zones=h["zones"],
    )
    html = save_map(m, tmp_path / "subject.html").read_text(encoding="utf-8")
    assert assert_inert(html, "subject map") > 0


def test_every_map_file_carries_a_csp_that_allows_only_its_own_scripts(crime_html):
    html = crime_html
    meta = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert meta is not None, "a map file without a Content Security Policy"
    csp = meta.group(1)
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0]
    assert html.index(meta.group(0)) < html.lower().index("<script")
    for body in scripts(html):
        digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp
    # rendering the same page again keeps one policy, matching its scripts
    again = offline_html(html)
    assert again.count("Content-Security-Policy") == 1


def test_tile_origin_is_allowed_for_images_only():
    from trailmon.map._offline import map_csp

    page = '<script>L.tileLayer("https://{s}.tiles.example.org/{z}/{x}/{y}.png", {});</script>'
    csp = map_csp(page)
    assert "img-src data: https://*.tiles.example.org" in csp
    assert "connect-src" not in csp and "default-src 'none'" in csp


def test_js_html_is_the_one_escape_of_every_tooltip_and_popup(hostile):
    import folium

    from trailmon.map import _draw as D

    h = hostile
    m = crime_map(h["trails"], h["crimes"].iloc[0], h["hits"], h["evidence"])
    texts = []
    for el in _walk(m):
        if isinstance(el, folium.Tooltip):
            texts.append(el.text)
        if isinstance(el, folium.Popup):
            texts += [c.data for c in el.html._children.values()]
    assert texts
    for t in texts:
        assert "`" not in t and "${" not in t and "\\" not in t
        assert D.js_html(t) == t
        assert "<img" not in t and "<script" not in t and "</script" not in t


def _walk(el):
    yield el
    for c in el._children.values():
        yield from _walk(c)


def test_no_raw_cr_or_lf_from_data_in_a_map_script(crime_html):
    """The HTML parser turns CR LF into LF inside a script; a raw CR would change its hash and block the map."""
    html = crime_html
    assert all("\r" not in body for body in scripts(html))
    from trailmon.map._draw import js_html

    assert js_html("a\r\nb") == "a&#13;&#10;b"
