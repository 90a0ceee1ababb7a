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
        k: request.values.get(k, "")[: MAX_FIELD[k]] for k in ("subject", "recipient", "purpose", "format", "filename")
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
    data, by_type, frame_subjects, params = _export_bytes(
        state()["store"], state()["db"], name, subject=subject, recipient=recipient, user=g.user.name, purpose=purpose
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


def _export_bytes(
    store: Path, db: Path, name: str, *, subject: str | None, recipient: str, user: str, purpose: str
) -> tuple[bytes, dict, list[str], dict]:
    """The export file as ``trailmon export`` writes it: case records following the schema, provenance first.

    Returns the file's bytes, the counts by event type, the subjects and the audit parameters.
    """
    from trailmon.report.writers import make_provenance, write_table
    from trailmon.store.cases import SCHEMA_PATH, load_schema, validate_records

    with CaseStore(db) as cases:
        records = cases.case_records(subject=subject, exportable=True)
    schema = load_schema()
    validate_records(records, schema)
    frame = pd.DataFrame.from_records(records, columns=schema["required"])
    params = {
        "subject": subject,
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
