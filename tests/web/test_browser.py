"""End to end in a real browser: sign in, find a planted crime, read its evidence and map, qualify a hit,
then find every step in the verified audit log as the auditor; with no network beyond this machine.

Debian's ``chromium`` driven by Selenium through Debian's ``chromium-driver`` (no browser download).
Set ``TRAILMON_SCREENSHOTS=docs/screenshots`` to save the README's screenshots.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.web.conftest import PASSWORD, audit_entries, hit_ids
from trailmon._chromium import HEADLESS_FLAGS
from trailmon.store import audit

REPO = Path(__file__).resolve().parents[2]


def _browser_paths() -> tuple[str, str]:
    pytest.importorskip("selenium", reason="selenium is not installed (it is in the test extra)")
    browser = next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)
    driver = shutil.which("chromedriver") or next(
        (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if os.path.exists(p)), None
    )
    if browser is None or driver is None:
        pytest.skip(
            "no Chromium and matching chromedriver on this machine (.ci/run installs Debian's chromium and "
            "chromium-driver; apt-get install -y chromium chromium-driver to run this test)"
        )
    return browser, driver


@pytest.fixture
def server(app):
    """The app on 127.0.0.1, a free port, in a thread; stopped afterwards."""
    from werkzeug.serving import make_server

    srv = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_port}"
    finally:
        srv.shutdown()
        thread.join(10)
        srv.server_close()


@pytest.fixture
def browser(tmp_path, monkeypatch):
    path, driver_path = _browser_paths()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # never let Selenium Manager look for downloads
    opts = webdriver.ChromeOptions()
    opts.binary_location = path
    for flag in (
        *HEADLESS_FLAGS,
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    drv = webdriver.Chrome(
        options=opts, service=Service(driver_path, log_output=str(tmp_path / "driver.log"))
    )
    drv.set_page_load_timeout(60)
    try:
        yield drv
    finally:
        drv.quit()


def _shot(drv, name: str) -> None:
    folder = os.environ.get("TRAILMON_SCREENSHOTS")
    if folder:
        out = (REPO / folder).resolve()
        out.mkdir(parents=True, exist_ok=True)
        drv.save_screenshot(str(out / f"{name}.png"))


def _requested_urls(drv) -> set[str]:
    urls = set()
    for entry in drv.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.add(msg["params"]["request"]["url"])
    return urls


def test_caseworker_qualifies_a_hit_and_the_auditor_finds_every_step(server, browser, store):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    drv, wait = browser, WebDriverWait(browser, 30)
    hid = hit_ids(store, "C02")[0]  # C02: a walker passes 30 m from the scene (sample_traces/README.md)

    def sign_in(name: str, purpose: str) -> None:
        drv.get(server + "/")
        wait.until(EC.presence_of_element_located((By.ID, "username")))
        drv.find_element(By.ID, "username").send_keys(name)
        drv.find_element(By.ID, "password").send_keys(PASSWORD)
        drv.find_element(By.ID, "purpose").send_keys(purpose)
        if name == "rev":
            _shot(drv, "sign-in")
        drv.find_element(By.ID, "sign-in").click()
        wait.until(EC.presence_of_element_located((By.ID, "who-user")))

    # the caseworker signs in and finds the planted crime
    sign_in("rev", "review of overnight proximity hits")
    drv.find_element(By.ID, "ref").send_keys("C02")
    drv.find_element(By.ID, "search").click()
    wait.until(EC.presence_of_element_located((By.ID, "crime-results")))
    _shot(drv, "crime-search")
    drv.find_element(By.LINK_TEXT, "C02").click()
    wait.until(EC.presence_of_element_located((By.ID, f"evidence-{hid}")))
    assert drv.find_element(By.ID, f"state-{hid}").text == "pending"
    evidence = drv.find_element(By.ID, f"evidence-{hid}").find_elements(By.CSS_SELECTOR, "tbody tr")
    assert len(evidence) >= 3 and evidence[0].find_elements(By.TAG_NAME, "td")[3].text == "A1"

    # the map renders inside its sandboxed frame: Leaflet, the scene circle and the track drawn as SVG paths
    frame = drv.find_element(By.ID, "crime-map")
    drv.execute_script("arguments[0].scrollIntoView();", frame)
    drv.switch_to.frame(frame)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".leaflet-container")))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")) >= 3)
    size = drv.find_element(By.CSS_SELECTOR, ".leaflet-container").size
    assert size["width"] > 300 and size["height"] > 300
    assert "A1" in drv.find_element(By.TAG_NAME, "body").text  # the evidence labels
    drv.switch_to.default_content()
    _shot(drv, "crime-map")
    drv.execute_script("window.scrollTo(0, 0);")
    _shot(drv, "crime")

    # qualify the hit
    button = drv.find_element(By.ID, f"qualify-{hid}")
    drv.execute_script("arguments[0].scrollIntoView();", button)
    button.click()
    wait.until(EC.text_to_be_present_in_element((By.ID, f"state-{hid}"), "qualified"))
    assert drv.find_element(By.ID, "done").text == f"hit {hid} qualified"
    _shot(drv, "hit-qualified")
    drv.find_element(By.ID, "sign-out").click()
    wait.until(EC.presence_of_element_located((By.ID, "username")))

    # the auditor finds every step, and the chain verifies
    sign_in("aud", "monthly audit of consultations")
    assert "Hash chain verified" in drv.find_element(By.ID, "verify").text
    rows = [
        [td.text for td in tr.find_elements(By.TAG_NAME, "td")]
        for tr in drv.find_elements(By.CSS_SELECTOR, "#audit tbody tr")
    ]
    rev = [(r[4], r[5]) for r in rows if r[2] == "rev"]
    # newest first; the crime page and its map are shown again after the review
    assert [a for a, _ in rev] == [
        "sign-out",
        "map",
        "crime",
        "review qualify",
        "map",
        "crime",
        "crime search",
        "sign-in",
    ]
    assert {p for _, p in rev} == {"review of overnight proximity hits"}
    _shot(drv, "audit")

    # nothing was fetched from anywhere but this server (and inline data)
    hosts = {
        urlsplit(u).netloc for u in _requested_urls(drv) if urlsplit(u).scheme in ("http", "https", "ws")
    }
    assert hosts <= {urlsplit(server).netloc}, hosts

    # the store agrees: the review is recorded and the log verifies
    entries = audit_entries(store)
    assert audit.verify(store / "audit.jsonl") == len(entries)
    q = [e for e in entries if e["action"] == "review qualify"]
    assert len(q) == 1 and q[0]["user"] == "rev" and q[0]["parameters"]["hit_id"] == hid


HOSTILE_REF = "C02`;window.__xss=1;`${window.__xss=2}\\"
HOSTILE_TEXT = '<img src=x onerror="window.__xss=3">`${window.__xss=4}`</script><script>window.__xss=5</script>'


def test_a_hostile_crime_runs_no_script_in_page_or_map(server, browser, store):
    """C02 renamed and described with script payloads: the page and its map show them as text and run none."""
    import sqlite3
    from urllib.parse import urlencode

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    with sqlite3.connect(store / "cases.sqlite") as con:
        for table in ("crimes", "hits", "gaps"):
            con.execute(f"UPDATE {table} SET crime_ref = ? WHERE crime_ref = 'C02'", (HOSTILE_REF,))
        con.execute("UPDATE crimes SET offence = ? WHERE crime_ref = ?", (HOSTILE_TEXT, HOSTILE_REF))
        con.execute("UPDATE hits SET confidence = ? WHERE crime_ref = ?", (HOSTILE_TEXT, HOSTILE_REF))
    drv, wait = browser, WebDriverWait(browser, 30)
    drv.get(server + "/")
    wait.until(EC.presence_of_element_located((By.ID, "username")))
    drv.find_element(By.ID, "username").send_keys("ana")
    drv.find_element(By.ID, "password").send_keys(PASSWORD)
    drv.find_element(By.ID, "purpose").send_keys(HOSTILE_TEXT[:200])
    drv.find_element(By.ID, "sign-in").click()
    wait.until(EC.presence_of_element_located((By.ID, "who-user")))
    drv.get(server + "/crime?" + urlencode({"ref": HOSTILE_REF}))
    wait.until(EC.presence_of_element_located((By.ID, "crime-map")))
    assert HOSTILE_REF in drv.find_element(By.TAG_NAME, "body").text  # shown, as text
    assert drv.execute_script("return typeof window.__xss") == "undefined"

    frame = drv.find_element(By.ID, "crime-map")
    map_url = frame.get_attribute("src")
    drv.switch_to.frame(frame)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".leaflet-container")))
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")) >= 3)
    # open every tooltip and popup: their HTML is built from the hostile text
    drv.execute_script(
        "for (const el of document.querySelectorAll('path.leaflet-interactive')) {"
        "  el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true}));"
        "  el.dispatchEvent(new MouseEvent('click', {bubbles: true}));"
        "}"
    )
    body = drv.find_element(By.TAG_NAME, "body").text
    assert "window.__xss" in body  # the payload is on the map, as text
    assert drv.execute_script("return typeof window.__xss") == "undefined"
    drv.switch_to.default_content()
    assert drv.execute_script("return typeof window.__xss") == "undefined"

    # opened as a page of its own, the map is still sandboxed: an opaque origin, no cookie
    drv.get(map_url)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, ".leaflet-container")))
    assert drv.execute_script("return window.origin") == "null"
    assert drv.execute_script("try { return document.cookie; } catch (e) { return 'blocked'; }") in ("", "blocked")
    assert drv.execute_script("return typeof window.__xss") == "undefined"
