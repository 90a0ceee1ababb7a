"""The one table of reject codes: complete, and the README's copy is current."""

from __future__ import annotations

from tests.conftest import REPO
from trailmon.io.quarantine import REASON_TEXT, REQUIRED_ACTION, RejectReason, reasons_markdown


def test_every_code_is_described():
    assert set(REASON_TEXT) == set(RejectReason)


def test_every_code_has_a_required_action():
    assert set(REQUIRED_ACTION) == set(RejectReason)
    assert all(len(v) > 10 and "|" not in v and not v.endswith(".") for v in REQUIRED_ACTION.values())


def test_readme_table_is_current():
    readme = (REPO / "README.md").read_text()
    block = readme.split("<!-- reject-codes:start -->\n", 1)[1].split("\n<!-- reject-codes:end -->", 1)[0]
    assert block.strip() == reasons_markdown().strip()
