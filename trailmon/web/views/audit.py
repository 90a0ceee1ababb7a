"""The audit log, its hash chain verified on every view (auditors only)."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from trailmon.errors import TrailmonError
from trailmon.store import audit
from trailmon.web._request import (
    _field,
    log,
    page,
    state,
)

bp = Blueprint("audit", __name__)


@bp.get("/audit")
@page("audit")
def audit_log():
    """The audit log, newest first, its chain verified on this view."""
    user_filter = _field(request.args, "user")
    try:
        n = audit.verify(state()["store"] / "audit.jsonl")
        verified, problem = True, None
    except TrailmonError as exc:
        n, verified, problem = None, False, str(exc)
    entries = audit.entries(state()["store"] / "audit.jsonl")
    head = f"{n}:{entries[-1]['hash']}" if verified and n else None  # to record outside the store
    if user_filter:
        entries = [e for e in entries if e.get("user") == user_filter]
    shown = list(reversed(entries))[:500]
    log("audit", parameters={"user": user_filter, "verified": verified}, counts={"entries": len(shown)})
    return render_template(
        "audit.html",
        entries=shown,
        total=len(entries),
        verified=verified,
        n=n,
        head=head,
        problem=problem,
        user_filter=user_filter or "",
    )
