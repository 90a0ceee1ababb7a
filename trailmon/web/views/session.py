"""Signing in and out, and the purpose of a session."""

from __future__ import annotations

import secrets
import time

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from trailmon.errors import AccessRefusedError, InputError
from trailmon.web._request import (
    LOCKOUT_S,
    MAX_FAILURES,
    MAX_FIELD,
    _field,
    _safe_next,
    current_user,
    log,
    state,
)

bp = Blueprint("session", __name__)


@bp.get("/")
def home():
    """To the first page of the signed-in user's role, or to sign-in."""
    user = current_user()
    if user is None:
        return redirect(url_for("session.sign_in"))
    first = {
        "analyst": "crimes.crimes",
        "reviewer": "crimes.crimes",
        "offender_manager": "subjects.subjects",
        "auditor": "audit.audit_log",
    }
    return redirect(url_for(first[user.role]))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in():
    """The sign-in form; on POST checks the password and starts a session with its purpose."""
    nxt = _safe_next(request.values.get("next", "")[: MAX_FIELD["next"]])
    if request.method == "GET":
        return render_template("sign_in.html", next=nxt, error=None)
    name = _field(request.form, "username", label="user name")
    password = request.form.get("password", "")
    purpose = _field(request.form, "purpose")
    if len(password) > MAX_FIELD["password"]:
        raise InputError(f"password must be at most {MAX_FIELD['password']} characters, got {len(password)}")
    now = time.monotonic()
    recent = [t for t in state()["failures"].get(name or "", []) if now - t < LOCKOUT_S]
    if len(recent) >= MAX_FAILURES:
        return render_template(
            "sign_in.html",
            next=nxt,
            error=f"Too many failed sign-ins for this user name: wait {LOCKOUT_S // 60} minutes.",
        ), 429
    user = state()["users"].authenticate(name or "", password) if name and password else None
    if user is None:
        if name:
            state()["failures"][name] = [*recent, now][-MAX_FAILURES:]
        return render_template("sign_in.html", next=nxt, error="Unknown user name or wrong password."), 401
    state()["failures"].pop(name, None)
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
    return redirect(nxt or url_for("session.home"))


@bp.post("/sign-out")
def sign_out():
    """End the session (audited)."""
    user = current_user()
    if user is not None:
        g.user = user
        log("sign-out", kind="session", parameters={"role": user.role})
    session.clear()
    return redirect(url_for("session.sign_in"))


@bp.route("/purpose", methods=["GET", "POST"])
def purpose():
    """State (or restate) the purpose of the session."""
    user = current_user()
    if user is None:
        return redirect(url_for("session.sign_in"))
    g.user = user
    nxt = _safe_next(request.values.get("next", "")[: MAX_FIELD["next"]])
    if request.method == "POST":
        stated = _field(request.form, "purpose")
        if stated is None:
            raise AccessRefusedError("state the purpose of this session: it is written to the audit log")
        session["purpose"] = stated
        log("purpose", kind="session", parameters={"role": user.role})
        return redirect(nxt or url_for("session.home"))
    return render_template("purpose.html", next=nxt)
