"""Export of qualified case records, a disclosure with its recipient."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from flask import Blueprint, Response, g, render_template, request

from trailmon.errors import AccessRefusedError, InputError
from trailmon.store.cases import CaseStore
from trailmon.web._request import (
    _EXPORT_NAME,
    MAX_FIELD,
    _field,
    _purpose_field,
    log,
    page,
    state,
)

bp = Blueprint("export", __name__)


@bp.route("/export", methods=["GET", "POST"])
@page("export")
def export():
    """The export form, and on POST the export file as a download (a disclosure)."""
    form = {
        k: request.values.get(k, "")[: MAX_FIELD[k]]
        for k in ("subject", "recipient", "purpose", "format", "filename", "force", "batch", "from", "to")
    }
    if request.method == "GET":
        return render_template("export.html", form=form)
    purpose = _purpose_field(request.form)
    recipient = _field(request.form, "recipient")
    if recipient is None:
        raise AccessRefusedError("an export discloses location data: name who receives it (audited)")
    subject = _field(request.form, "subject")
    fmt = _field(request.form, "format") or "csv"
    if fmt not in ("csv", "jsonl"):
        raise InputError(f"format must be 'csv' or 'jsonl', got {fmt!r}")
    name = _field(request.form, "filename", label="file name") or (
        f"case-records-{pd.Timestamp.now(tz='UTC').strftime('%Y%m%dT%H%M%SZ')}.{fmt}"
    )
    _check_export_name(name, fmt)
    filters = {
        "force": _field(request.form, "force"),
        "batch": _field(request.form, "batch"),
        "from": _day_field("from"),
        "to": _day_field("to"),
    }
    if filters["from"] and filters["to"] and filters["to"] < filters["from"]:
        raise InputError(f"'to' ({filters['to']}) is before 'from' ({filters['from']})")
    data, by_type, frame_subjects, params = _export_bytes(
        state()["store"],
        state()["db"],
        name,
        subject=subject,
        recipient=recipient,
        user=g.user.name,
        purpose=purpose,
        filters=filters,
    )
    n = sum(by_type.values())
    log(
        "export",
        kind="disclosure",
        parameters=params,
        subjects=frame_subjects,
        counts={"records": n, **by_type},
        purpose=purpose,
        recipient=recipient,
    )
    resp = Response(data, mimetype="text/csv" if fmt == "csv" else "application/x-ndjson")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return resp


def _check_export_name(name: str, fmt: str) -> None:
    """A bare file name (no folder, no ``..``, no leading dot) ending ``.<fmt>``, or :class:`InputError`."""
    if not _EXPORT_NAME.match(name) or ".." in name or "/" in name or "\\" in name:
        raise InputError(
            f"file name must be a plain name of letters, digits, '-', '_' and dots (no folders, no '..'), got {name!r}"
        )
    if not name.lower().endswith(f".{fmt}"):
        raise InputError(f"file name must end with .{fmt} for the {fmt} format, got {name!r}")


def _day_field(name: str) -> str | None:
    """A ``YYYY-MM-DD`` day of the form (UTC), checked; None when empty."""
    text = _field(request.form, name)
    if text is None:
        return None
    try:
        return pd.Timestamp(text).strftime("%Y-%m-%d")
    except ValueError as exc:
        raise InputError(f"'{name}' must be a day such as 2026-07-14, got {text!r}") from exc


def _filter_records(cases: CaseStore, records: list[dict], filters: dict) -> list[dict]:
    """The records of one force, one crime batch and a range of UTC days (each filter optional).

    ``force`` and ``batch`` keep only crime hits (appointment and zone records belong to no force or
    batch): the force the crime came from, the ``batch_id`` of the crime version hit. ``from`` and
    ``to`` keep records whose ``start`` falls on those UTC days, both included.
    """
    force, batch, d1, d2 = filters.get("force"), filters.get("batch"), filters.get("from"), filters.get("to")
    keys = None
    if batch is not None:
        keys = {
            (str(r[0] or ""), str(r[1]), int(r[2]))
            for r in cases.conn.execute(
                "SELECT force, crime_ref, crime_version FROM crimes WHERE batch_id = ?", (batch,)
            )
        }
    out = []
    for r in records:
        if force is not None and str(r.get("force") or "") != force:
            continue
        if keys is not None and (
            r.get("crime_ref") is None
            or (str(r.get("force") or ""), str(r["crime_ref"]), int(r["crime_version"])) not in keys
        ):
            continue
        if d1 or d2:
            if not r.get("start"):
                continue
            day = pd.Timestamp(r["start"]).tz_convert("UTC").strftime("%Y-%m-%d")
            if (d1 and day < d1) or (d2 and day > d2):
                continue
        out.append(r)
    return out


def _export_bytes(
    store: Path,
    db: Path,
    name: str,
    *,
    subject: str | None,
    recipient: str,
    user: str,
    purpose: str,
    filters: dict | None = None,
) -> tuple[bytes, dict, list[str], dict]:
    """The export file as ``trailmon export`` writes it: case records following the schema, provenance first.

    ``filters`` (``force``, ``batch``, ``from``, ``to``; see :func:`_filter_records`) narrow the same
    exportable records. Returns the file's bytes, the counts by event type, the subjects and the
    audit parameters.
    """
    from trailmon.report.writers import make_provenance, write_table
    from trailmon.store.cases import SCHEMA_PATH, load_schema, validate_records

    filters = {k: v for k, v in (filters or {}).items() if v is not None}
    with CaseStore(db) as cases:
        records = cases.case_records(subject=subject, exportable=True)
        if filters:
            records = _filter_records(cases, records, filters)
    schema = load_schema()
    validate_records(records, schema)
    frame = pd.DataFrame.from_records(records, columns=list(schema["properties"]))
    params = {
        "subject": subject,
        **filters,
        "recipient": recipient,
        "schema": schema["$id"],
        "store": str(store),
        "file": name,
    }
    prov = make_provenance(
        "export",
        params,
        user=user,
        purpose=purpose,
        extra={"recipient": recipient, "schema": schema["$id"], "schema_file": SCHEMA_PATH.name},
    )
    with tempfile.TemporaryDirectory(prefix="trailmon-export-") as tmp:
        out = Path(tmp) / name
        write_table(frame.astype(object).where(frame.notna(), None), out, prov)
        data = out.read_bytes()
    by_type = {str(k): int(v) for k, v in frame["event_type"].value_counts().sort_index().items()} if len(frame) else {}
    return data, by_type, sorted(set(frame["subject_id"])) if len(frame) else [], params
