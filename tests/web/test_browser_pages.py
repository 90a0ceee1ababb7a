"""In a real browser: the police data page, the crime page's match state and as-received text (a hostile
crimeText shown as text, no script run), the evidence-pack form and the trail with its CSV form.

Set ``TRAILMON_SCREENSHOTS=docs/screenshots`` to save the README's screenshots of these pages.
"""

from __future__ import annotations

from urllib.parse import urlencode

from tests.web.conftest import PASSWORD, hit_ids, post
from tests.web.test_browser import _shot, browser, server  # noqa: F401  (fixtures)
from tests.web.test_what_happened import CRIMES_FILE, PAYLOAD, night2

HOSTILE = PAYLOAD.replace("alert('x')", "window.__xss=1")


def test_police_data_crime_states_pack_and_trail_in_a_browser(server, browser, store, app, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.web.test_what_happened import CRIMES_CSV

    night2(store, tmp_path, crimes=CRIMES_CSV.replace(PAYLOAD, HOSTILE))
    c = app.test_client()  # qualify N04's hit on C03 first, so that a pack can be made
    from tests.web.conftest import sign_in as form_sign_in

    form_sign_in(c, "rev")
    post(c, f"/review/{sorted(hit_ids(store, 'C03'))[1]}", {"action": "qualify"})

    drv, wait = browser, WebDriverWait(browser, 30)

    def sign_in(name: str, purpose: str) -> None:
        drv.get(server + "/")
        for button in drv.find_elements(By.ID, "sign-out"):
            button.click()
        wait.until(EC.presence_of_element_located((By.ID, "username")))
        drv.find_element(By.ID, "username").send_keys(name)
        drv.find_element(By.ID, "password").send_keys(PASSWORD)
        drv.find_element(By.ID, "purpose").send_keys(purpose)
        drv.find_element(By.ID, "sign-in").click()
        wait.until(EC.presence_of_element_located((By.ID, "who-user")))

    sign_in("rev", "overnight police data")
    drv.find_element(By.LINK_TEXT, "Police data").click()
    wait.until(EC.presence_of_element_located((By.ID, "batches")))
    body = drv.find_element(By.TAG_NAME, "body").text
    assert CRIMES_FILE in body and "3 read, 1 accepted, 2 rejected" in body
    assert drv.execute_script("return typeof window.__xss") == "undefined"
    _shot(drv, "police-data")

    drv.get(server + "/crime?" + urlencode({"ref": "NOT/X01", "force": "NOT"}))
    wait.until(EC.presence_of_element_located((By.ID, "matched")))
    assert drv.find_element(By.ID, "matched").text.startswith("Matched by run ")
    assert HOSTILE in drv.find_element(By.ID, "as-received").text  # shown as text
    assert drv.execute_script("return typeof window.__xss") == "undefined"
    _shot(drv, "crime-matched-as-received")

    drv.get(server + "/crime?ref=C03")
    wait.until(EC.presence_of_element_located((By.ID, "pack-link")))
    drv.find_element(By.LINK_TEXT, "Evidence pack").click()
    wait.until(EC.presence_of_element_located((By.ID, "pack-form")))
    boxes = drv.find_elements(By.CSS_SELECTOR, "#pack-subjects input[type=checkbox]")
    assert [(b.get_attribute("value"), b.is_enabled(), b.is_selected()) for b in boxes] == [
        ("N03", False, False),
        ("N04", True, True),
    ]
    _shot(drv, "evidence-pack-form")

    sign_in("om", "curfew check")
    drv.get(server + "/trail?subject=N03")
    wait.until(EC.presence_of_element_located((By.NAME, "from")))
    drv.find_element(By.NAME, "from").send_keys("2026-07-15T09:00")
    drv.find_element(By.NAME, "to").send_keys("2026-07-15T10:00")
    drv.find_element(By.NAME, "purpose").send_keys("curfew check")
    drv.find_element(By.CSS_SELECTOR, "#trail-form button[type=submit]").click()
    wait.until(EC.presence_of_element_located((By.ID, "trail-csv")))
    heads = [th.text for th in drv.find_elements(By.CSS_SELECTOR, "#trail thead th")]
    assert heads[1:3] == ["time", "time_europe_london"]
    _shot(drv, "trail-london-time")
