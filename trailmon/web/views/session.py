"""Signing in and out, and the purpose of a session."""

from __future__ import annotations

import secrets
import time

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from trailmon.errors import AccessRefusedError, InputError
from trailmon.web import sessions as S
from trailmon.web._request import (
    MAX_FIELD,
    _field,
    _safe_next,
    client_address,
    current_user,
    log,
    state,
)
from trailmon.web.auth import User

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
    """The sign-in form; on POST checks the password and starts a session with its purpose.

    Every attempt is counted for its (user name, client address) before the password is checked;
    every failure and every lock is audited (``kind: session``) under the name typed.
    """
    nxt = _safe_next(request.values.get("next", "")[: MAX_FIELD["next"]])
    if request.method == "GET":
        return render_template("sign_in.html", next=nxt, error=None)
    name = _field(request.form, "username", label="user name")
    password = request.form.get("password", "")
    purpose = _field(request.form, "purpose")
    if len(password) > MAX_FIELD["password"]:
        raise InputError(f"password must be at most {MAX_FIELD['password']} characters, got {len(password)}")
    if not name or not password:
        return render_template("sign_in.html", next=nxt, error="Unknown user name or wrong password."), 401
    st = state()
    client = client_address()
    attempt = S.begin_attempt(st["db"], name, client)
    params = {"client": client, "failures": attempt.failures}
    if not attempt.allowed:
        if attempt.newly_locked:
            log("sign-in locked", kind="session", user=name, purpose="", parameters={**params, **_until(attempt)})
        log("sign-in refused", kind="session", user=name, purpose="", parameters={**params, **_until(attempt)})
        return render_template(
            "sign_in.html",
            next=nxt,
            error=f"Too many failed sign-ins for this user name from this address: wait {S.LOCKOUT_S // 60} minutes.",
        ), 429
    user = st["users"].authenticate(name, password)
    done = S.finish_attempt(st["db"], name, client, user is not None)
    if user is None:
        log("sign-in failed", kind="session", user=name, purpose="", parameters=params)
        if done.newly_locked:
            log("sign-in locked", kind="session", user=name, purpose="", parameters={**params, **_until(done)})
        return render_template("sign_in.html", next=nxt, error="Unknown user name or wrong password."), 401
    if purpose is None:
        return render_template(
            "sign_in.html", next=nxt, error="State the purpose of this session (it is audited)."
        ), 400
    stamp = st["users"].stamp(user.name)
    if stamp is None:  # removed between the check and now
        return render_template("sign_in.html", next=nxt, error="Unknown user name or wrong password."), 401
    session.clear()  # a new session id at every sign-in: nothing carried over from before
    token = S.start_session(st["db"], user.name, stamp[0], stamp[1], client)
    session.permanent = True
    session.update(sid=token, user=user.name, role=stamp[0], purpose=purpose, csrf=secrets.token_urlsafe(32))
    g.user = User(user.name, stamp[0])
    log("sign-in", kind="session", parameters={"role": stamp[0], "client": client})
    return redirect(nxt or url_for("session.home"))


def _until(attempt: S.Attempt) -> dict:
    if attempt.locked_until is None:
        return {}
    return {"locked_until": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(attempt.locked_until))}


@bp.post("/sign-out")
def sign_out():
    """End every session of the signed-in user (audited)."""
    user = current_user()
    if user is not None:
        g.user = user
        n = S.end_user_sessions(state()["db"], user.name, "signed out")
        log("sign-out", kind="session", parameters={"role": user.role}, counts={"sessions_ended": n})
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
