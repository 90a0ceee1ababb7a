"""The evidence pack of a crime (SPEC §4): a reviewer picks its qualified subjects and downloads it."""

from __future__ import annotations

import hashlib
import re
import tempfile
from pathlib import Path

from flask import Blueprint, Response, g, render_template, request

from trailmon.errors import AccessRefusedError, InputError
from trailmon.web._request import (
    _CONTROL,
    _HITS_OF_CRIME,
    MAX_FIELD,
    _field,
    _purpose_field,
    _records,
    log,
    open_cases,
    page,
    state,
    trail_store,
)
from trailmon.web.views.crimes import crime_key, load_crime

bp = Blueprint("pack", __name__)

PACK_FORMATS = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}
"""What the pack can be downloaded as, and the media type sent."""

MAX_SUBJECTS = 50
"""Most subjects one pack names (more are refused)."""

_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


def _choices(cases, force: str, ref: str, version: int) -> list[dict]:
    """The crime version's hits: subject, state, and whether it may go into a pack (qualified on current figures)."""
    hits = _records(cases.frame(_HITS_OF_CRIME, [force, ref, version]))
    current = cases.current_verdicts([h["hit_id"] for h in hits])
    out = []
    for h in hits:
        ok = h["review_state"] == "qualified" and int(h["hit_id"]) in current
        why = ""
        if not ok:
            why = (
                "qualified on figures a later match changed: review it again"
                if h["review_state"] == "qualified"
                else f"{h['review_state']}: only qualified hits go into a pack"
            )
        out.append(
            {
                "hit_id": int(h["hit_id"]),
                "subject_id": h["subject_id"],
                "state": h["review_state"],
                "ok": ok,
                "why": why,
                "distance": h["min_distance_m"],
            }
        )
    return out


def _chromium() -> bool:
    from trailmon._chromium import find_browser

    return find_browser() is not None


@bp.get("/crime/pack")
@page("evidence_pack")
def pack_form():
    """The evidence-pack form of one crime version: its qualified subjects, author, manager, recipient, purpose."""
    force, ref, version = crime_key()
    with open_cases() as cases:
        _, c = load_crime(cases, force, ref, version)
        choices = _choices(cases, force, ref, int(c["crime_version"]))
    log(
        "evidence pack form",
        parameters={"force": force, "crime_ref": ref, "crime_version": int(c["crime_version"])},
        subjects=[ch["subject_id"] for ch in choices],
        counts={"hits": len(choices), "qualified_current": sum(ch["ok"] for ch in choices)},
    )
    return render_template(
        "pack.html",
        crime=c,
        choices=choices,
        pdf_ok=_chromium(),
        form={"author": g.user.name, "authorised_by": "", "recipient": "", "purpose": ""},
    )


@bp.post("/crime/pack")
@page("evidence_pack")
def pack_download():
    """Build the pack, audit the disclosure (recipient and sha256), then send the file.

    The same content and checks as ``trailmon report evidence`` (:mod:`trailmon.report.evidence_pack`):
    only hits qualified on their current figures; a pending, rejected or changed hit is refused
    with the pack's own message (400). The audit entry (kind ``disclosure``) is written before any
    byte is sent, so no pack leaves the app that the audit log does not name.
    """
    from trailmon.report.evidence_pack import _render_pdf, evidence_pack, render_docx

    force, ref, version = _form_key()
    purpose = _purpose_field(request.form)
    author = _field(request.form, "author", label="author")
    authorised_by = _field(request.form, "authorised_by", label="authorising manager")
    recipient = _field(request.form, "recipient", label="recipient")
    for what, v in (("the author", author), ("the authorising manager", authorised_by), ("the recipient", recipient)):
        if v is None:
            raise AccessRefusedError(f"an evidence pack is a disclosure: give {what} (audited)")
    fmt = _field(request.form, "format") or "docx"
    if fmt not in PACK_FORMATS:
        raise InputError(f"format must be one of {', '.join(PACK_FORMATS)}, got {fmt!r}")
    subjects = _subjects()
    if fmt == "pdf" and not _chromium():
        raise InputError(
            "a PDF evidence pack is printed with headless Chromium, and neither chromium nor chromium-browser "
            "is on this server's PATH; download the pack as DOCX, or ask the administrator to install chromium"
        )
    with open_cases() as cases:
        pack = evidence_pack(
            trail_store(),
            cases,
            ref,
            subjects,
            author=author,
            authorised_by=authorised_by,
            recipient=recipient,
            force=force,
            version=version,
            basemap=state().get("basemap"),
        )
    if fmt == "docx":
        data = render_docx(pack)
    else:
        with tempfile.TemporaryDirectory(prefix="trailmon-pack-") as tmp:
            data = _render_pdf(pack, Path(tmp) / "pack")
    sha = hashlib.sha256(data).hexdigest()
    crime = pack.crime
    hit_ids = [int(h) for h in pack.hits["hit_id"]]
    name = f"evidence-{_SAFE.sub('_', str(crime['crime_ref']))[:60]}-v{int(crime['crime_version'])}.{fmt}"
    log(
        "report evidence",
        kind="disclosure",
        parameters={
            "crime": str(crime["crime_ref"]),
            "crime_version": int(crime["crime_version"]),
            "force": str(crime.get("force") or ""),
            "hit_ids": hit_ids,
            "format": fmt,
            "author": author,
            "authorised_by": authorised_by,
            "file": name,
            "sha256": sha,
            "run_ids": pack.run_ids,
        },
        subjects=[str(s) for s in pack.hits["subject_id"]],
        counts={"hits": len(hit_ids), "evidence_rows": len(pack.positions)},
        purpose=purpose,
        recipient=recipient,
    )
    resp = Response(data, mimetype=PACK_FORMATS[fmt])
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["X-Content-SHA256"] = sha
    return resp


def _form_key() -> tuple[str, str, int | None]:
    ref = _field(request.form, "ref", required=True, label="crime reference")
    force = _field(request.form, "force") or ""
    version = request.form.get("version", "")
    if version and not (version.isdigit() and len(version) <= 6):
        raise InputError(f"version must be a whole number, got {version[:20]!r}")
    return force, ref, int(version) if version else None


def _subjects() -> list[str]:
    """The subjects ticked on the form (at least one, each a bounded id)."""
    got = request.form.getlist("subject")
    if len(got) > MAX_SUBJECTS:
        raise InputError(f"at most {MAX_SUBJECTS} subjects go into one pack, got {len(got)}")
    out = []
    for s in got:
        s = s.strip()
        if not s:
            continue
        if len(s) > MAX_FIELD["subject"] or _CONTROL.search(s):
            raise InputError(
                f"subject must be at most {MAX_FIELD['subject']} characters without control characters, got {s[:40]!r}"
            )
        out.append(s)
    if not out:
        raise InputError("tick at least one subject whose qualified hit goes into the pack")
    return out
