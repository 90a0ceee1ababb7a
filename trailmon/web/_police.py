"""What the web app reads back of the police data the nightly job took in: receipts and accepted rows.

The nightly job writes, per inbox file, ``OUT/<day>/receipts/<file>.receipt.json`` with its
``.errors.csv`` (every rejected row with its ``required_action``) and ``.accepted.csv`` (every
accepted row, free-text columns carried as received) (:mod:`trailmon.report.receipts`). The output
folders it has used are listed in ``STORE/places.json`` (:func:`trailmon.store.retention.places`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from trailmon.store.retention import places

MAX_ERRORS_SHOWN = 200
"""Most error rows shown per batch (the page says how many more the errors CSV holds)."""

RECEIVED_COLUMNS = frozenset(
    {
        "crime_ref",
        "crime_version",
        "force",
        "offence_group",
        "x_m",
        "y_m",
        "lat",
        "lon",
        "committed_from",
        "committed_to",
        "radius_m",
        "source_format",
        "batch_id",
        "row",
        "merged_into",
    }
)
"""Accepted-row columns that the case records already hold as values; the others are the text as received."""


def receipts(store: Path, kind: str | None = "crimes", *, day: str | None = None) -> dict[str, dict]:
    """Every receipt the nightly job wrote for ``store`` (one ``kind`` of file, or all), by file sha256.

    ``day`` (``YYYY-MM-DD``) reads only the receipts of ``OUT/<day>/``. Each receipt gains ``paths``
    (``receipt``, ``errors``, ``accepted``) and ``day`` (its ``OUT/<day>`` folder). A file received
    twice keeps its latest receipt.
    """
    out: dict[str, dict] = {}
    pattern = f"{day if day else '*'}/receipts/*.receipt.json"
    for folder in places(store)["outs"]:
        for path in sorted(Path(folder).glob(pattern)):
            try:
                rec = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not isinstance(rec, dict) or "sha256" not in rec or (kind and rec.get("kind") != kind):
                continue
            base = str(path)[: -len(".receipt.json")]
            rec["paths"] = {"receipt": str(path), "errors": base + ".errors.csv", "accepted": base + ".accepted.csv"}
            rec["day"] = path.parent.parent.name
            old = out.get(rec["sha256"])
            if old is None or str(rec.get("received") or "") >= str(old.get("received") or ""):
                out[rec["sha256"]] = rec
    return out


def read_csv_text(path: str | Path) -> pd.DataFrame | None:
    """A receipt CSV with every cell as text (None when absent or unreadable)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, ValueError, pd.errors.EmptyDataError):
        return None


def unquote_cell(v: str) -> str:
    """A CSV cell as received: the leading ``'`` the writers put before a formula prefix removed."""
    if len(v) > 1 and v[0] == "'" and v[1] in "=+-@\t\r":
        return v[1:]
    return v
