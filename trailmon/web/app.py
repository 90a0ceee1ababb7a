"""The web app: crime search, review, evidence, maps, subjects, trails, exports and the audit log.

:func:`create_app` builds a Flask (WSGI) application over one trail store and its case-record
database. It calls the same functions as the CLI (``CaseStore.review`` as ``trailmon review``
does, the case records and writers of ``trailmon export``, ``trail_frame`` and the 48 h cap of
``trailmon trail``, the folium maps of ``trailmon map``) and writes the same hash-chained audit
log. Every page checks, in this order: a signed-in session (else the sign-in page), the user's
role against :data:`trailmon.web.auth.PERMISSIONS` (else 403), a stated purpose (else the purpose
page; trail views and exports ask for one each time), and on every POST a per-session CSRF
token (else 400). Every view of location data and every action appends an audit entry with the
user, the purpose, the parameters (``interface: web``), the subjects and the counts shown.

Sessions are Flask's signed cookies (``HttpOnly``, ``SameSite=Strict``, 8 h), signed with a
secret kept in ``STORE/web_secret`` (0600, made on first use). Pages carry a Content Security
Policy without scripts; maps are served as self-contained HTML (Leaflet inlined from local
copies, no CDN) into sandboxed iframes.
"""

from __future__ import annotations

import hmac
import math
import os
import re
import secrets
import tempfile
import time
from datetime import timedelta
from functools import wraps
from pathlib import Path

import pandas as pd
from flask import Flask, Response, abort, g, redirect, render_template, request, session, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from trailmon.errors import AccessRefusedError, InputError, StoreError, TrailmonError
from trailmon.report._columns import ATTENDANCE, EVIDENCE, GAPS, HITS, TRAIL, ZONES
from trailmon.report.writers import MARKING
from trailmon.store import audit
from trailmon.store.cases import CaseStore, default_db_path
from trailmon.store.trails import TrailStore
from trailmon.web.auth import PERMISSIONS, ROLES, User, UsersFile, allowed, default_users_path

__all__ = ["MAX_FIELD", "SESSION_HOURS", "create_app"]

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
}
"""Longest value accepted per form or query field, characters."""

MAX_FAILURES = 5
"""Failed sign-ins for one user name before it is refused for :data:`LOCKOUT_S` (in this process)."""

LOCKOUT_S = 900
"""How long a user name stays refused after :data:`MAX_FAILURES` failed sign-ins, seconds."""

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
MAP_CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
    "font-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'self'"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EXPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*$")
_HITS_OF_CRIME = "SELECT * FROM hits WHERE force = ? AND crime_ref = ? AND crime_version = ? ORDER BY hit_id"
_STATUS = {AccessRefusedError: 403, InputError: 400, StoreError: 503}


# -- plumbing ------------------------------------------------------------------------------------------
def _secret_for(store: Path) -> bytes:
    """The session-signing secret in ``STORE/web_secret`` (0600), made when absent."""
    path = store / "web_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        text = path.read_text().strip()
        if len(text) < 32:
            raise StoreError(
                f"{str(path)!r} holds no usable secret; delete it and a new one is made"
            ) from None
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


def _crime_evidence(cases: CaseStore, store, hits: list[dict]) -> list[dict]:
    """Evidence rows of a crime's hits (frozen at review, else computed from the trail store), with keys."""
    from trailmon.report.case_evidence import hit_evidence

    rows = hit_evidence(cases, store, [h["hit_id"] for h in hits]).rows
    by_id = {int(h["hit_id"]): h for h in hits}
    out = _records(rows)
    for e in out:
        h = by_id[int(e["hit_id"])]
        e.update(crime_ref=h["crime_ref"], crime_version=h["crime_version"], subject_id=h["subject_id"])
    return out


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if _isna(v) else v) for k, v in r.items()} for r in df.to_dict("records")]


def _isna(v) -> bool:
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def _safe_next(target: str | None) -> str | None:
    """``target`` when it is a path on this site (no scheme, host or backslash), else None."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


# -- the application -----------------------------------------------------------------------------------
def create_app(
    store: str | Path,
    *,
    db: str | Path | None = None,
    users_file: str | Path | None = None,
    secret: str | bytes | None = None,
    secure_cookies: bool = False,
) -> Flask:
    """The trailmon web app over one store.

    Parameters
    ----------
    store : str or Path
        The trail store folder (its ``audit.jsonl`` receives every audit entry).
    db : str or Path, optional
        The case-record database (default ``STORE/cases.sqlite``).
    users_file : str or Path, optional
        The users file (default ``STORE/users.json``, managed with ``trailmon users``).
    secret : str or bytes, optional
        The key that signs session cookies; default: ``STORE/web_secret`` (made when absent).
    secure_cookies : bool, default False
        Mark the session cookie ``Secure`` (sent over HTTPS only): set it behind a TLS proxy.

    Returns
    -------
    flask.Flask
        A WSGI application; serve it with waitress (``trailmon serve``) or use its test client.

    Raises
    ------
    StoreError
        When there is no trail store at ``store``.

    Examples
    --------
    >>> import tempfile
    >>> from trailmon.store.trails import TrailStore
    >>> folder = tempfile.mkdtemp()
    >>> _ = TrailStore(folder, create=True)
    >>> app = create_app(folder, secret="x" * 32)
    >>> app.test_client().get("/crimes").status_code   # no session: to the sign-in page
    302
    """
    tstore = TrailStore(store)
    store_path = tstore.path
    db_path = Path(db) if db is not None else default_db_path(store_path)
    users = UsersFile(users_file if users_file is not None else default_users_path(store_path))
    key = secret if secret is not None else _secret_for(store_path)
    if isinstance(key, str):
        key = key.encode()
    if len(key) < 16:
        raise InputError(f"secret must be at least 16 bytes, got {len(key)}")

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_NAME="trailmon_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=bool(secure_cookies),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        MAX_CONTENT_LENGTH=MAX_CONTENT_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_CONTENT_BYTES,
        MAX_FORM_PARTS=100,
    )
    app.jinja_env.autoescape = True
    app.jinja_env.globals.update(MARKING=MARKING, allowed=allowed, ROLES=ROLES)
    app.extensions["trailmon"] = {"store": store_path, "db": db_path, "users": users}
    map_tokens = URLSafeTimedSerializer(key, salt="trailmon-trail-map")
    failures: dict[str, list[float]] = {}  # user name -> monotonic times of recent failed sign-ins

    # -- helpers bound to this app -------------------------------------------------------------------
    def open_cases() -> CaseStore:
        return CaseStore(db_path)

    def trail_store() -> TrailStore:
        return TrailStore(store_path)

    def log(
        action: str,
        *,
        parameters: dict,
        subjects=(),
        counts: dict | None = None,
        kind: str = "consultation",
        purpose: str | None = None,
        recipient: str | None = None,
    ) -> dict:
        return audit.append(
            store_path / "audit.jsonl",
            user=g.user.name,
            purpose=purpose or session.get("purpose", ""),
            action=action,
            kind=kind,
            parameters={"interface": "web", **parameters},
            subjects=sorted({str(s) for s in subjects}),
            counts=counts or {},
            recipient=recipient,
        )

    def current_user() -> User | None:
        name = session.get("user")
        if not name:
            return None
        role = users.role_of(name)
        started = session.get("t0", 0)
        expired = not isinstance(started, int | float) or time.time() - started > SESSION_HOURS * 3600
        if role is None or role != session.get("role") or expired:
            session.clear()
            return None
        return User(name, role)

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
                        return redirect(url_for("sign_in", next=request.full_path.rstrip("?")))
                    raise AccessRefusedError("sign in first: your session has ended")
                g.user = user
                if not allowed(user.role, what):
                    raise AccessRefusedError(
                        f"the {user.role} role may not open this page ({what}); roles allowed: "
                        + ", ".join(sorted(PERMISSIONS[what]))
                    )
                if needs_purpose and not session.get("purpose"):
                    if request.method == "GET":
                        return redirect(url_for("purpose", next=request.full_path.rstrip("?")))
                    raise AccessRefusedError("state the purpose of this session first")
                return view(*args, **kwargs)

            return wrapper

        return deco

    @app.before_request
    def check_csrf():
        session.permanent = True
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        g.user = None
        if request.method == "POST":
            sent = request.form.get("csrf_token", "")
            if not (sent and hmac.compare_digest(sent, session["csrf"])):
                abort(
                    400,
                    description="the form's CSRF token is missing or wrong; reload the page and try again",
                )

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", APP_CSP)
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if request.endpoint != "static":
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(TrailmonError)
    def trailmon_error(exc: TrailmonError):
        code = next((c for cls, c in _STATUS.items() if isinstance(exc, cls)), 500)
        return render_template(
            "error.html", code=code, title=_TITLES.get(code, "Error"), message=str(exc)
        ), code

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description
        if exc.code == 413:
            message = f"the request is too large: at most {MAX_CONTENT_BYTES // 1024} KiB"
        return render_template("error.html", code=exc.code, title=exc.name, message=message), exc.code

    @app.context_processor
    def inject():
        return {
            "user": g.get("user"),
            "purpose": session.get("purpose"),
            "csrf_token": session.get("csrf", ""),
        }

    # -- session ---------------------------------------------------------------------------------------
    @app.get("/")
    def home():
        user = current_user()
        if user is None:
            return redirect(url_for("sign_in"))
        first = {
            "analyst": "crimes",
            "reviewer": "crimes",
            "offender_manager": "subjects",
            "auditor": "audit_log",
        }
        return redirect(url_for(first[user.role]))

    @app.route("/sign-in", methods=["GET", "POST"])
    def sign_in():
        nxt = _safe_next(request.values.get("next", "")[: MAX_FIELD["next"]])
        if request.method == "GET":
            return render_template("sign_in.html", next=nxt, error=None)
        name = _field(request.form, "username", label="user name")
        password = request.form.get("password", "")
        purpose = _field(request.form, "purpose")
        if len(password) > MAX_FIELD["password"]:
            raise InputError(
                f"password must be at most {MAX_FIELD['password']} characters, got {len(password)}"
            )
        now = time.monotonic()
        recent = [t for t in failures.get(name or "", []) if now - t < LOCKOUT_S]
        if len(recent) >= MAX_FAILURES:
            return render_template(
                "sign_in.html",
                next=nxt,
                error=f"Too many failed sign-ins for this user name: wait {LOCKOUT_S // 60} minutes.",
            ), 429
        user = users.authenticate(name or "", password) if name and password else None
        if user is None:
            if name:
                failures[name] = [*recent, now][-MAX_FAILURES:]
            return render_template(
                "sign_in.html", next=nxt, error="Unknown user name or wrong password."
            ), 401
        failures.pop(name, None)
        if purpose is None:
            return render_template(
                "sign_in.html", next=nxt, error="State the purpose of this session (it is audited)."
            ), 400
        session.clear()
        session.permanent = True
        session.update(
            user=user.name,
            role=user.role,
            purpose=purpose,
            csrf=secrets.token_urlsafe(32),
            t0=int(time.time()),
        )
        g.user = user
        log("sign-in", kind="session", parameters={"role": user.role})
        return redirect(nxt or url_for("home"))

    @app.post("/sign-out")
    def sign_out():
        user = current_user()
        if user is not None:
            g.user = user
            log("sign-out", kind="session", parameters={"role": user.role})
        session.clear()
        return redirect(url_for("sign_in"))

    @app.route("/purpose", methods=["GET", "POST"])
    def purpose():
        user = current_user()
        if user is None:
            return redirect(url_for("sign_in"))
        g.user = user
        nxt = _safe_next(request.values.get("next", "")[: MAX_FIELD["next"]])
        if request.method == "POST":
            stated = _field(request.form, "purpose")
            if stated is None:
                raise AccessRefusedError("state the purpose of this session: it is written to the audit log")
            session["purpose"] = stated
            log("purpose", kind="session", parameters={"role": user.role})
            return redirect(nxt or url_for("home"))
        return render_template("purpose.html", next=nxt)

    # -- crimes ----------------------------------------------------------------------------------------
    @app.get("/crimes")
    @page("crimes")
    def crimes():
        q = request.args
        ref, force = _field(q, "ref"), _field(q, "force")
        group, date = _field(q, "group"), _field(q, "date")
        if group is not None and group not in OFFENCE_GROUPS:
            raise InputError(f"offence group must be one of {', '.join(OFFENCE_GROUPS)}, got {group!r}")
        where, params = [], []
        if ref:
            where.append("c.crime_ref LIKE ? ESCAPE '\\'")
            params.append("%" + _like(ref) + "%")
        if force:
            where.append("c.force LIKE ? ESCAPE '\\'")
            params.append("%" + _like(force) + "%")
        if group:
            where.append("c.offence_group = ?")
            params.append(group)
        if date:
            try:
                day = pd.Timestamp(date)
            except ValueError as exc:
                raise InputError(f"date must be a day such as 2026-07-14, got {date!r}") from exc
            if day.tzinfo is None:
                day = day.tz_localize("UTC")
            lo = day.normalize().value
            where.append("c.committed_from_ns < ? AND c.committed_to_ns >= ?")
            params += [lo + 86_400 * 10**9, lo]
        searched = bool(where) or "all" in q
        rows = []
        if searched:
            with open_cases() as cases:
                df = cases.frame(
                    "SELECT c.force, c.crime_ref, c.crime_version, c.offence, c.offence_group, "
                    "c.committed_from_ns, c.committed_to_ns, c.radius_m, "
                    "COUNT(h.hit_id) AS hits, SUM(h.review_state = 'pending') AS pending, "
                    "SUM(h.review_state = 'qualified') AS qualified "
                    "FROM crimes c LEFT JOIN hits h USING (force, crime_ref, crime_version)"
                    + (" WHERE " + " AND ".join(where) if where else "")
                    + " GROUP BY c.force, c.crime_ref, c.crime_version "
                    "ORDER BY c.committed_from_ns DESC, c.force, c.crime_ref, c.crime_version LIMIT 500",
                    params,
                )
            rows = _records(df)
            for r in rows:
                r["from"], r["to"] = _iso_ns(r["committed_from_ns"]), _iso_ns(r["committed_to_ns"])
                r["pending"], r["qualified"] = int(r["pending"] or 0), int(r["qualified"] or 0)
            log(
                "crime search",
                parameters={"ref": ref, "force": force, "group": group, "date": date},
                counts={"crimes": len(rows)},
            )
        return render_template(
            "crimes.html",
            rows=rows,
            searched=searched,
            groups=OFFENCE_GROUPS,
            q={"ref": ref or "", "force": force or "", "group": group or "", "date": date or ""},
        )

    def crime_key() -> tuple[str, str, int | None]:
        ref = _field(request.args, "ref", required=True, label="crime reference")
        force = _field(request.args, "force") or ""
        version = request.args.get("version", "")
        if version and not (version.isdigit() and len(version) <= 6):
            raise InputError(f"version must be a whole number, got {version[:20]!r}")
        return force, ref, int(version) if version else None

    def load_crime(cases: CaseStore, force: str, ref: str, version: int | None):
        versions = _records(
            cases.frame(
                "SELECT * FROM crimes WHERE force = ? AND crime_ref = ? ORDER BY crime_version", [force, ref]
            )
        )
        if not versions:
            abort(404, description=f"no crime {ref!r} (force {force!r}) in the case records")
        chosen = (
            versions[-1]
            if version is None
            else next((v for v in versions if int(v["crime_version"]) == version), None)
        )
        if chosen is None:
            abort(
                404,
                description=f"crime {ref!r} has no version {version}; it has "
                + ", ".join(str(v["crime_version"]) for v in versions),
            )
        return versions, chosen

    @app.get("/crime")
    @page("crime")
    def crime():
        force, ref, version = crime_key()
        with open_cases() as cases:
            versions, c = load_crime(cases, force, ref, version)
            key = [force, ref, int(c["crime_version"])]
            hits = [
                _hit_row(h)
                for h in _records(
                    cases.frame(
                        _HITS_OF_CRIME,
                        key,
                    )
                )
            ]
            evidence = _crime_evidence(cases, trail_store(), hits)
            gaps = _records(
                cases.frame(
                    "SELECT * FROM gaps WHERE force = ? AND crime_ref = ? AND crime_version = ? "
                    "ORDER BY subject_id, gap_start_ns",
                    key,
                )
            )
            default_radius, _ = _run_parameters(cases, c.get("matched_run"))
        c["radius_shown"] = (
            f"{c['radius_m']:g} m"
            if c.get("radius_m") is not None
            else f"{default_radius:g} m (the run's default)"
        )
        for gp in gaps:
            gp["gap_start"], gp["gap_end"] = _iso_ns(gp["gap_start_ns"]), _iso_ns(gp["gap_end_ns"])
        for v in versions:
            v["from"], v["to"] = _iso_ns(v["committed_from_ns"]), _iso_ns(v["committed_to_ns"])
        by_hit: dict[int, list[dict]] = {}
        for e in evidence:
            by_hit.setdefault(int(e["hit_id"]), []).append(_evidence_row(e))
        subjects = {h["subject_id"] for h in hits} | {gp["subject_id"] for gp in gaps}
        log(
            "crime",
            parameters={"force": force, "crime_ref": ref, "crime_version": int(c["crime_version"])},
            subjects=subjects,
            counts={"hits": len(hits), "evidence_rows": len(evidence), "gaps_near_scene": len(gaps)},
        )
        return render_template(
            "crime.html",
            crime=c,
            versions=versions,
            hits=hits,
            hits_table=_table(["hit_id", *HITS, "review_state", "reviewer", "review_reason"], hits),
            evidence={h["hit_id"]: _table(EVIDENCE, by_hit.get(int(h["hit_id"]), [])) for h in hits},
            gaps_table=_table(GAPS, gaps),
            map_url=url_for("crime_map_view", force=force, ref=ref, version=int(c["crime_version"])),
            can_review=allowed(g.user.role, "review"),
        )

    @app.get("/crime/map")
    @page("crime")
    def crime_map_view():
        from trailmon.map import crime_map, offline_html

        force, ref, version = crime_key()
        with open_cases() as cases:
            _, c = load_crime(cases, force, ref, version)
            key = [force, ref, int(c["crime_version"])]
            hits = _records(
                cases.frame(
                    _HITS_OF_CRIME,
                    key,
                )
            )
            evidence = _crime_evidence(cases, trail_store(), hits)
            radius, max_gap = _run_parameters(cases, c.get("matched_run"))
        t1 = pd.Timestamp(int(c["committed_from_ns"]), unit="ns", tz="UTC")
        t2 = pd.Timestamp(int(c["committed_to_ns"]), unit="ns", tz="UTC")
        subjects = list(dict.fromkeys(h["subject_id"] for h in hits))
        ts = trail_store()
        trails = (
            ts.read(t1, t2, subjects, halo_s=max(max_gap, 60.0)) if subjects else ts.read_span(None, None)
        )
        crime_row = {
            "crime_ref": ref,
            "crime_version": int(c["crime_version"]),
            "offence": c.get("offence"),
            "x_m": c["x_m"],
            "y_m": c["y_m"],
            "lat": c.get("lat"),
            "lon": c.get("lon"),
            "committed_from": t1,
            "committed_to": t2,
            "radius_m": c.get("radius_m"),
        }
        hits_df = pd.DataFrame(
            [
                {
                    "crime_ref": h["crime_ref"],
                    "crime_version": h["crime_version"],
                    "subject_id": h["subject_id"],
                    "min_distance_m": h["min_distance_m"],
                    "passes": h["passes"],
                    "confidence": h["confidence"],
                }
                for h in hits
            ],
            columns=["crime_ref", "crime_version", "subject_id", "min_distance_m", "passes", "confidence"],
        )
        ev_df = pd.DataFrame([_evidence_row(e) for e in evidence], columns=EVIDENCE)
        ev_df["time"] = pd.to_datetime(ev_df["time"], utc=True)
        m = crime_map(trails, crime_row, hits_df, ev_df, radius_m=radius, max_gap_s=max_gap, crs=ts.crs)
        html = offline_html(m.get_root().render())
        log(
            "map",
            parameters={
                "form": "crime",
                "force": force,
                "crime_ref": ref,
                "crime_version": int(c["crime_version"]),
            },
            subjects=subjects,
            counts={"hits": len(hits), "evidence_rows": len(evidence)},
        )
        return _map_response(html)

    @app.post("/review/<int:hit_id>")
    @page("review")
    def review(hit_id: int):
        action = _field(request.form, "action", required=True)
        if action not in ("qualify", "reject"):
            raise InputError(f"action must be 'qualify' or 'reject', got {action!r}")
        reason = _field(request.form, "reason")
        state = "qualified" if action == "qualify" else "rejected"
        with open_cases() as cases:
            from trailmon.report.case_evidence import review_hit

            hit = review_hit(cases, trail_store(), hit_id, state, user=g.user.name, reason=reason)
        log(
            f"review {action}",
            parameters={"hit_id": hit_id, "reason": reason},
            subjects=[hit["subject_id"]],
            counts={"hits": 1},
        )
        return redirect(
            url_for(
                "crime",
                force=hit["force"],
                ref=hit["crime_ref"],
                version=hit["crime_version"],
                done=f"hit {hit_id} {state}",
            )
            + f"#hit-{hit_id}"
        )

    # -- subjects --------------------------------------------------------------------------------------
    @app.get("/subjects")
    @page("subjects")
    def subjects():
        q = _field(request.args, "q")
        with open_cases() as cases:
            if q:
                like = "%" + _like(q) + "%"
                df = cases.frame(
                    "SELECT * FROM subjects WHERE subject_id LIKE ? ESCAPE '\\' OR crn LIKE ? ESCAPE '\\' "
                    "OR pnc_id LIKE ? ESCAPE '\\' OR nomis_id LIKE ? ESCAPE '\\' "
                    "ORDER BY subject_id LIMIT 500",
                    [like] * 4,
                )
            else:
                df = cases.frame("SELECT * FROM subjects ORDER BY subject_id LIMIT 500")
        rows = _records(df)
        log(
            "subject search",
            parameters={"q": q},
            subjects=[r["subject_id"] for r in rows],
            counts={"subjects": len(rows)},
        )
        return render_template("subjects.html", rows=rows, q=q or "")

    def subject_id_arg() -> str:
        return _field(request.values, "subject", required=True, label="subject")

    @app.get("/subject")
    @page("subject")
    def subject():
        sid = subject_id_arg()
        with open_cases() as cases:
            ident = _records(cases.frame("SELECT * FROM subjects WHERE subject_id = ?", [sid]))
            att = _records(
                cases.frame("SELECT * FROM attendance WHERE subject_id = ? ORDER BY start_ns", [sid])
            )
            zev = _records(
                cases.frame(
                    "SELECT * FROM zone_events WHERE subject_id = ? ORDER BY start_ns, zone_id", [sid]
                )
            )
            hits = [
                _hit_row(h)
                for h in _records(
                    cases.frame(
                        "SELECT * FROM hits WHERE subject_id = ? AND review_state = 'qualified' "
                        "ORDER BY hit_id",
                        [sid],
                    )
                )
            ]
        windows = trail_store().subjects()
        windows = _records(windows[windows["subject_id"].astype(str) == sid])
        if not ident and not windows:
            abort(404, description=f"no subject {sid!r} in the store or the case records")
        for w in windows:
            for k in ("monitoring_start", "monitoring_end"):
                w[k] = _fmt(k, pd.Timestamp(w[k]) if w.get(k) is not None else None) or "open"
        for a in att:
            for k in ("start", "end", "arrival", "departure"):
                a[k] = _iso_ns(a[f"{k}_ns"])
        for z in zev:
            z["start"], z["end"] = _iso_ns(z["start_ns"]), _iso_ns(z["end_ns"])
        log(
            "subject",
            parameters={"subject": sid},
            subjects=[sid],
            counts={"appointments": len(att), "zone_events": len(zev), "qualified_hits": len(hits)},
        )
        return render_template(
            "subject.html",
            sid=sid,
            ident=ident[0] if ident else {"subject_id": sid},
            windows=windows,
            attendance=_table(ATTENDANCE, att),
            zones=_table(ZONES, zev),
            hits=hits,
            hits_table=_table(["hit_id", *HITS], hits),
            can_trail=allowed(g.user.role, "trail"),
        )

    @app.route("/trail", methods=["GET", "POST"])
    @page("trail")
    def trail():
        from trailmon.io._time import parse_instant
        from trailmon.report.trail_rows import MAX_WINDOW_S, trail_frame

        sid = subject_id_arg()
        form = {"from": "", "to": "", "justify": "", "purpose": ""}
        if request.method == "GET":
            return render_template(
                "trail_form.html", sid=sid, form=form, cap_h=MAX_WINDOW_S / 3600, tz=DEFAULT_TZ
            )
        form = {k: request.form.get(k, "")[: MAX_FIELD[k]] for k in form}
        purpose = _purpose_field(request.form)
        t1 = parse_instant(_field(request.form, "from", required=True), DEFAULT_TZ, what="from")
        t2 = parse_instant(_field(request.form, "to", required=True), DEFAULT_TZ, what="to")
        justify = _field(request.form, "justify")
        if t2 < t1:
            raise InputError(f"'to' ({t2.isoformat()}) is before 'from' ({t1.isoformat()})")
        span = (t2 - t1).total_seconds()
        if span > MAX_WINDOW_S and not justify:
            raise AccessRefusedError(
                f"a trail over {span / 3600:.1f} h is wider than the {MAX_WINDOW_S / 3600:.0f} h cap; "
                "enter a justification (it is audited) or narrow the period"
            )
        trails = trail_store().read(t1, t2, [sid], halo_s=0.0)
        df = trail_frame(trails, sid)
        df = df[(df["time"] >= t1) & (df["time"] <= t2)].reset_index(drop=True)
        params = {"subject": sid, "from": t1.isoformat(), "to": t2.isoformat(), "justify": justify}
        log(
            "trail",
            parameters=params,
            subjects=[sid] if len(df) else [],
            counts={"fixes": len(df)},
            purpose=purpose,
        )
        token = map_tokens.dumps(
            {"u": g.user.name, "s": sid, "a": int(t1.value), "b": int(t2.value), "j": justify, "p": purpose}
        )
        return render_template(
            "trail.html",
            sid=sid,
            t1=_iso_ns(t1.value),
            t2=_iso_ns(t2.value),
            justify=justify,
            trail_purpose=purpose,
            n=len(df),
            trail_table=_table(TRAIL, _records(df)),
            map_url=url_for("trail_map", t=token),
        )

    @app.get("/trail/map")
    @page("trail")
    def trail_map():
        from trailmon.map import offline_html, subject_map

        token = request.args.get("t", "")[:2000]
        try:
            p = map_tokens.loads(token, max_age=MAP_TOKEN_S)
        except BadSignature:
            raise AccessRefusedError(
                "this map link is not valid or has expired; show the trail again to get a new one"
            ) from None
        if p.get("u") != g.user.name:
            raise AccessRefusedError("this map link was made for another user")
        t1 = pd.Timestamp(p["a"], unit="ns", tz="UTC")
        t2 = pd.Timestamp(p["b"], unit="ns", tz="UTC")
        sid = p["s"]
        ts = trail_store()
        trails = ts.read(t1, t2, [sid], halo_s=900.0)
        m = subject_map(trails, sid, t1, t2, crs=ts.crs)
        html = offline_html(m.get_root().render())
        from trailmon.map import _layers as L

        n = len(L.subject_fixes(trails, sid, t1.value / 1e9, t2.value / 1e9, ts.crs).t_s)
        log(
            "map",
            parameters={
                "form": "subject",
                "subject": sid,
                "from": t1.isoformat(),
                "to": t2.isoformat(),
                "justify": p.get("j"),
            },
            subjects=[sid] if n else [],
            counts={"fixes": n},
            purpose=p["p"],
        )
        return _map_response(html)

    # -- cohort, export, audit -------------------------------------------------------------------------
    @app.get("/cohort")
    @page("cohort")
    def cohort():
        import importlib.util

        available = importlib.util.find_spec("trailmon.report.cohort") is not None
        q = {"from": _field(request.args, "from") or "", "to": _field(request.args, "to") or ""}
        report_url = None
        if available and q["from"] and q["to"]:
            _cohort_period(q)  # checked here, so a bad period is refused on this page
            report_url = url_for("cohort_report", **q)
        return render_template("cohort.html", available=available, q=q, report_url=report_url, tz=DEFAULT_TZ)

    @app.get("/cohort/report")
    @page("cohort")
    def cohort_report():
        from trailmon.report.cohort import write_cohort_report

        q = {
            "from": _field(request.args, "from", required=True),
            "to": _field(request.args, "to", required=True),
        }
        t1, t2 = _cohort_period(q)
        with open_cases() as cases, tempfile.TemporaryDirectory(prefix="trailmon-cohort-") as tmp:
            res = write_cohort_report(
                tmp,
                trail_store(),
                cases,
                t1,
                t2,
                user=g.user.name,
                purpose=session["purpose"],
                parameters={"interface": "web"},
            )
            html = Path(res["outputs"]["html"]).read_text(encoding="utf-8")
        resp = Response(html, mimetype="text/html")
        resp.headers["Content-Security-Policy"] = REPORT_CSP
        resp.headers["X-Frame-Options"] = "SAMEORIGIN"
        return resp

    @app.route("/export", methods=["GET", "POST"])
    @page("export")
    def export():
        form = {
            k: request.values.get(k, "")[: MAX_FIELD[k]]
            for k in ("subject", "recipient", "purpose", "format", "filename")
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
            store_path, db_path, name, subject=subject, recipient=recipient, user=g.user.name, purpose=purpose
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

    @app.get("/audit")
    @page("audit")
    def audit_log():
        user_filter = _field(request.args, "user")
        try:
            n = audit.verify(store_path / "audit.jsonl")
            verified, problem = True, None
        except TrailmonError as exc:
            n, verified, problem = None, False, str(exc)
        entries = audit.entries(store_path / "audit.jsonl")
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
            problem=problem,
            user_filter=user_filter or "",
        )

    return app


# -- functions the views share -----------------------------------------------------------------------------
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


def _map_response(html: str) -> Response:
    resp = Response(html, mimetype="text/html")
    resp.headers["Content-Security-Policy"] = MAP_CSP
    resp.headers["X-Frame-Options"] = "SAMEORIGIN"
    return resp


def _run_parameters(cases: CaseStore, run_id: str | None) -> tuple[float, float]:
    """``radius_m`` and ``max_gap_s`` of the run that matched a crime (100 m and 600 s when unknown)."""
    import json

    radius, max_gap = 100.0, 600.0
    if run_id:
        row = cases.conn.execute("SELECT parameters FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is not None and row[0]:
            p = json.loads(row[0])
            radius = float(p.get("radius_m") or radius)
            max_gap = float(p.get("max_gap_s") or max_gap)
    return radius, max_gap


def _cohort_period(q: dict) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The cohort report's ``[from, to)``: days or times, in :data:`DEFAULT_TZ` unless given an offset."""
    from trailmon.io._time import parse_instant

    t1 = parse_instant(q["from"], DEFAULT_TZ, what="from")
    t2 = parse_instant(q["to"], DEFAULT_TZ, what="to")
    if t2 <= t1:
        raise InputError(f"'to' ({q['to']}) must be after 'from' ({q['from']})")
    if (t2 - t1).days > 400:
        raise InputError(f"a cohort report covers at most 400 days, got {(t2 - t1).days} days")
    return t1, t2


def _check_export_name(name: str, fmt: str) -> None:
    """A bare file name (no folder, no ``..``, no leading dot) ending ``.<fmt>``, or :class:`InputError`."""
    if not _EXPORT_NAME.match(name) or ".." in name or "/" in name or "\\" in name:
        raise InputError(
            f"file name must be a plain name of letters, digits, '-', '_' and dots (no folders, no '..'), "
            f"got {name!r}"
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
    by_type = (
        {str(k): int(v) for k, v in frame["event_type"].value_counts().sort_index().items()}
        if len(frame)
        else {}
    )
    return data, by_type, sorted(set(frame["subject_id"])) if len(frame) else [], params
