"""What every view of the web app shares: bounded fields, formatting, the page guard and the audit.

The views (``trailmon.web.views.*``) reach the app's store, database, users and keys through
:func:`state` (``app.extensions["trailmon"]``), so nothing here holds per-app globals.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from functools import wraps
from pathlib import Path

import pandas as pd
from flask import Response, current_app, g, redirect, request, session, url_for

from trailmon.errors import AccessRefusedError, InputError, StoreError
from trailmon.report._columns import EVIDENCE, HITS
from trailmon.store import audit
from trailmon.store.cases import CaseStore
from trailmon.store.trails import TrailStore
from trailmon.web.auth import PERMISSIONS, User, allowed

SESSION_HOURS = 8
"""Lifetime of a session (and of its cookie), hours."""

MAX_CONTENT_BYTES = 64 * 1024
"""Largest request body accepted, bytes (413 above)."""

MAX_FIELD = {
    "username": 64,
    "password": 1024,
    "purpose": 300,
    "reason": 500,
    "justify": 500,
    "recipient": 200,
    "ref": 100,
    "force": 100,
    "group": 40,
    "date": 40,
    "from": 40,
    "to": 40,
    "subject": 64,
    "q": 64,
    "filename": 100,
    "format": 10,
    "action": 10,
    "next": 300,
    "user": 64,
    "author": 200,
    "authorised_by": 200,
    "batch": 100,
    "rows": 10,
}
"""Longest value accepted per form or query field, characters."""

DEFAULT_HOST_NAMES = ("localhost", "127.0.0.1", "::1")
"""Host names the app answers to unless told others (``trailmon serve --host-name``)."""

MAP_TOKEN_S = 900
"""How long a trail map link stays valid after the trail was shown, seconds."""

DEFAULT_TZ = "Europe/London"
"""Zone of times typed without an offset."""

MAX_ROWS = 5000
"""Most table rows shown on one page (the page says how many more there are)."""

OFFENCE_GROUPS = ("robbery", "burglary", "vehicle", "theft_from_person")
"""The neighbourhood-crime groups of SPEC §1 (``crimes.offence_group``)."""

APP_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'; sandbox"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EXPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$")
_HITS_OF_CRIME = "SELECT * FROM hits WHERE force = ? AND crime_ref = ? AND crime_version = ? ORDER BY hit_id"
_STATUS = {AccessRefusedError: 403, InputError: 400, StoreError: 503}


# -- fields and formatting ------------------------------------------------------------------------------------------
def _secret_for(store: Path) -> bytes:
    """The session-signing secret in ``STORE/web_secret`` (0600), made when absent."""
    path = store / "web_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text().strip()
        if len(text) < 32:
            raise StoreError(f"{str(path)!r} holds no usable secret; delete it and a new one is made") from None
        return text.encode()
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path.read_text().strip().encode()


def _field(source, name: str, *, required: bool = False, label: str | None = None) -> str | None:
    """A bounded, control-free, stripped text field (None when empty and not required)."""
    raw = source.get(name, "")
    limit = MAX_FIELD[name]
    if len(raw) > limit:
        raise InputError(f"{label or name} must be at most {limit} characters, got {len(raw)}")
    if _CONTROL.search(raw):
        raise InputError(f"{label or name} must not hold control characters, got {raw[:40]!r}")
    value = raw.strip()
    if not value:
        if required:
            raise InputError(f"{label or name} is required")
        return None
    return value


def review_decision(form) -> tuple[str, str, str | None]:
    """``(action, state, reason)`` of a qualify / reject form (action ``qualify`` or ``reject``)."""
    action = _field(form, "action", required=True)
    if action not in ("qualify", "reject"):
        raise InputError(f"action must be 'qualify' or 'reject', got {action!r}")
    return action, "qualified" if action == "qualify" else "rejected", _field(form, "reason")


def _purpose_field(source) -> str:
    """The purpose typed into a trail or export form, or :class:`AccessRefusedError`."""
    purpose = _field(source, "purpose")
    if purpose is None:
        raise AccessRefusedError(
            "say why you need this: type a purpose (it is written to the audit log with your name)"
        )
    return purpose


def _iso_ns(ns) -> str:
    if ns is None or (isinstance(ns, float) and math.isnan(ns)):
        return ""
    return pd.Timestamp(int(ns), unit="ns", tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _fmt(col: str, v) -> str:
    """A value as shown in a table: times ISO 8601 UTC, booleans true/false, metres to the mm."""
    if v is None:
        return ""
    if isinstance(v, pd.Timestamp):
        return "" if pd.isna(v) else v.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if isinstance(v, bool) or col in ("between_fixes", "within_r"):
        return "true" if bool(v) else "false"
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if col in ("lat", "lon"):
            return f"{v:.7f}"
        if col == "coverage":
            return f"{v:.4f}"
        return f"{v:.3f}"
    return str(v)


def _table(cols: list[str], rows: list[dict]) -> dict:
    """Columns and formatted cells for the ``table`` macro (at most :data:`MAX_ROWS` rows)."""
    shown = rows[:MAX_ROWS]
    return {
        "cols": cols,
        "rows": [[_fmt(c, r.get(c)) for c in cols] for r in shown],
        "more": max(0, len(rows) - len(shown)),
    }


def _hit_row(h: dict) -> dict:
    """A stored hit as SPEC §3 ``HITS`` values plus its id and review state."""
    return {
        **{c: h.get(c) for c in HITS},
        "closest_time": _iso_ns(h["closest_time_ns"]),
        "first_within": _iso_ns(h["first_within_ns"]),
        "last_within": _iso_ns(h["last_within_ns"]),
        "between_fixes": bool(h["between_fixes"]),
        "flags": h.get("flags") or "",
        "hit_id": h["hit_id"],
        "force": h.get("force") or "",
        "review_state": h["review_state"],
        "reviewer": h.get("reviewer") or "",
        "review_reason": h.get("review_reason") or "",
        "reviewed_at": h.get("reviewed_at") or "",
    }


def _evidence_row(e: dict) -> dict:
    return {
        **{c: e.get(c) for c in EVIDENCE},
        "time": _iso_ns(e["time_ns"]),
        "within_r": bool(e["within_r"]),
        "flags": e.get("flags") or "",
    }


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if _isna(v) else v) for k, v in r.items()} for r in df.to_dict("records")]


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _safe_next(target: str | None) -> str | None:
    r"""``target`` when it is a path on this site, else None (SPEC §9: same-site relative redirects only).

    A path starts with one ``/`` and holds no scheme, host, backslash, white space or control
    character: browsers drop tabs and newlines from a URL, so ``/\t/evil.example`` would become
    ``//evil.example``, another site; CR/LF would also break the ``Location`` header.

    Examples
    --------
    >>> [_safe_next(t) for t in ["/crimes?ref=C1", "//evil.example", "/\t/evil.example", "/\\evil", "https://x"]]
    ['/crimes?ref=C1', None, None, None, None]
    """
    from urllib.parse import urlsplit

    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return None
    return target


def subject_id_arg() -> str:
    """The ``subject`` field of the query or form (required)."""
    return _field(request.values, "subject", required=True, label="subject")


# -- the app's state, the audit and the page guard ---------------------------------------------------------
def state() -> dict:
    """The current app's ``{"store", "db", "users", "map_tokens", "tiles", "basemap"}``."""
    return current_app.extensions["trailmon"]


def open_cases() -> CaseStore:
    return CaseStore(state()["db"])


def trail_store() -> TrailStore:
    return TrailStore(state()["store"])


def log(
    action: str,
    *,
    parameters: dict,
    subjects=(),
    counts: dict | None = None,
    kind: str = "consultation",
    purpose: str | None = None,
    recipient: str | None = None,
    user: str | None = None,
) -> dict:
    """Append an audit entry for the signed-in user, or ``user`` (``interface: web``)."""
    return audit.append(
        state()["store"] / "audit.jsonl",
        user=user if user is not None else g.user.name,
        purpose=purpose if purpose is not None else session.get("purpose", ""),
        action=action,
        kind=kind,
        parameters={"interface": "web", **parameters},
        subjects=sorted({str(s) for s in subjects}),
        counts=counts or {},
        recipient=recipient,
    )


def client_address() -> str:
    """The client's address as the WSGI server saw it (the proxy's, unless proxy headers are trusted)."""
    return (request.remote_addr or "unknown")[:64]


def current_user() -> User | None:
    """The signed-in user, or None: the server-side session must be live (SPEC §9).

    The cookie holds only the session id; the ``web_sessions`` row decides. A session that is
    idle, too old, signed out, or whose user was removed or changed role or password is over.
    """
    from trailmon.web.sessions import check_session

    token, name = session.get("sid"), session.get("user")
    if not token or not isinstance(name, str):
        if session.get("user"):
            session.clear()
        return None
    st = state()
    if not st["db"].exists():
        session.clear()
        return None
    row, _why = check_session(st["db"], token, st["users"].stamp(name), user=name)
    if row is None:
        session.clear()
        return None
    return User(row.user, row.role)


def page(what: str, *, needs_purpose: bool = True):
    """Guard a view: session, then role (``PERMISSIONS[what]``), then a stated purpose."""
    if what not in PERMISSIONS:
        raise KeyError(f"page {what!r} is not in the permission table")

    def deco(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user is None:
                if request.method == "GET":
                    return redirect(url_for("session.sign_in", next=request.full_path.rstrip("?")))
                raise AccessRefusedError("sign in first: your session has ended")
            g.user = user
            if not allowed(user.role, what):
                raise AccessRefusedError(
                    f"the {user.role} role may not open this page ({what}); roles allowed: "
                    + ", ".join(sorted(PERMISSIONS[what]))
                )
            if needs_purpose and not session.get("purpose"):
                if request.method == "GET":
                    return redirect(url_for("session.purpose", next=request.full_path.rstrip("?")))
                raise AccessRefusedError("state the purpose of this session first")
            return view(*args, **kwargs)

        return wrapper

    return deco


_TITLES = {
    400: "Bad request",
    403: "Access refused",
    404: "Not found",
    500: "Error",
    503: "Store unavailable",
}


def _like(text: str) -> str:
    r"""``text`` with SQL LIKE wildcards escaped (``\`` is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


MAP_MAX_FIXES = 10_000
"""Most fixes one map of the app draws; tracks are thinned evenly above it, and the map says so."""


def thin_trails(trails, a_s: float, b_s: float, max_fixes: int) -> tuple[object, int, int]:
    """``trails`` with at most about ``max_fixes`` fixes in ``[a_s, b_s]``: every k-th fix of each subject.

    Returns the trails, the fixes in the period before thinning and k (1: nothing thinned). Each
    subject's last fix is kept, so a thinned track still ends where it ended
    (:func:`trailmon.map.subject.thin_evenly`, as ``trailmon map --subject`` thins).
    """
    from trailmon.map.subject import thin_evenly

    return thin_evenly(trails, a_s, b_s, max_fixes)


MAP_MAX_SECONDS = 20.0
"""Most seconds one map of the app may spend reading tracks before it draws none (and says so)."""


def limit_tracks(trails, started: float, a_s: float, b_s: float, *, max_seconds: float | None = None):
    """The SPEC §9 size limits of every map that draws tracks: time spent, then fixes drawn.

    When more than ``max_seconds`` (:data:`MAP_MAX_SECONDS` when None) passed since ``started``
    (a :func:`time.monotonic` reading taken before the tracks were read), no fix is kept; otherwise
    the tracks are thinned to :data:`MAP_MAX_FIXES` in ``[a_s, b_s]`` (:func:`thin_trails`).

    Returns
    -------
    tuple
        ``(trails, notes, n_window, stride, drawn)``: the trails to draw, the sentences the map
        shows, the fixes in the period before the limits, the thinning step (1: none) and whether
        tracks are drawn at all.
    """
    import time

    import numpy as np

    limit = MAP_MAX_SECONDS if max_seconds is None else float(max_seconds)
    if time.monotonic() - started > limit:
        n_window = int(((trails.t_s >= a_s) & (trails.t_s <= b_s)).sum())
        note = f"Tracks not drawn: reading them took longer than {limit:g} s."
        return trails.select_fixes(np.zeros(trails.n_fixes, dtype=bool)), [note], n_window, 1, False
    trails, n_window, stride = thin_trails(trails, a_s, b_s, MAP_MAX_FIXES)
    notes = [thinned_note(n_window, stride, MAP_MAX_FIXES)] if stride > 1 else []
    return trails, notes, n_window, stride, True


def thinned_note(n_window: int, stride: int, max_fixes: int) -> str:
    """The sentence a map shows when its track was thinned."""
    return (
        f"Tracks thinned: {n_window} fixes in the period, about one in {stride} drawn (at most {max_fixes} "
        "per map); gaps between drawn fixes are wider than recorded."
    )


def _map_response(html: str) -> Response:
    """A self-contained map page: its own hash-based CSP, sandboxed even when opened as a page.

    Images come from ``data:`` URIs and, when the app was given ``tiles``, from exactly that tile
    origin (:func:`~trailmon.map.basemap.tile_origin`); nothing else.

    The ``sandbox allow-scripts`` directive gives the map an opaque origin whether it is shown in
    the crime page's frame or opened on its own, so a script in it could never reach the app's
    cookies, pages or forms; its scripts run only when their SHA-256 is in the policy.
    """
    from trailmon.map._offline import map_csp
    from trailmon.map.basemap import tile_origin

    tiles = state().get("tiles")
    origin = tile_origin(tiles)
    csp = map_csp(html)
    if origin or not tiles:  # a folium tile name: the origins the map names
        csp = re.sub(r"img-src [^;]*", "img-src data:" + (f" {origin}" if origin else ""), csp)
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = f"{csp}; frame-ancestors 'self'; sandbox allow-scripts"
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    return resp
