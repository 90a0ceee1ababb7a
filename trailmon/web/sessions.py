"""Server-side, revocable web sessions and sign-in throttling, kept in the case store (SPEC §9).

A session is a row of ``web_sessions``; the browser holds only a random id (in the signed cookie),
and the table keeps its SHA-256, so the database never holds a usable id. A session ends when
idle :data:`IDLE_S` (30 min), :data:`ABSOLUTE_S` (8 h) after sign-in, when the user signs out,
or when the user's password, role or existence changes (each user's *stamp* is the salt of the
stored password: a new password, or removing and re-adding the user, changes it); sign-out and
every change made with ``trailmon users`` end every session of that user at once
(:func:`end_user_sessions`).

Failed sign-ins are counted per (user name, client address) in ``sign_in_failures``, inside one
``BEGIN IMMEDIATE`` transaction per attempt, *before* the password is checked: parallel guesses
are all counted and at most :data:`MAX_FAILURES` of them are ever checked before the pair is
locked for :data:`LOCKOUT_S`. The lock holds only that pair, so nobody can lock a user out from
another address; the counter survives restarts. This module does not import Flask.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from trailmon.store.cases import CaseStore

__all__ = [
    "ABSOLUTE_S",
    "IDLE_S",
    "LOCKOUT_S",
    "MAX_FAILURES",
    "Attempt",
    "SessionRow",
    "begin_attempt",
    "check_session",
    "end_session",
    "end_user_sessions",
    "finish_attempt",
    "start_session",
]

IDLE_S = 30 * 60
"""A session unused this long ends, seconds."""

ABSOLUTE_S = 8 * 3600
"""A session ends this long after sign-in whatever its use, seconds."""

MAX_FAILURES = 5
"""Failed sign-ins of one (user name, client address) before that pair is locked."""

LOCKOUT_S = 900
"""How long a locked (user name, client address) pair stays refused, seconds."""

TOUCH_S = 30
"""A session's last use is written when it is older than this, seconds (idle time is exact to this)."""

FAILURE_WINDOW_S = 900
"""Failures older than this (and no lock) are forgotten, seconds."""


def _h(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _open(db: Path) -> CaseStore:
    return CaseStore(db, create=True)


@dataclass(frozen=True)
class SessionRow:
    """A live session: its user, role and the stamp of the user's password when it began."""

    user: str
    role: str
    stamp: str
    created: float


def start_session(db: str | Path, user: str, role: str, stamp: str, client: str | None = None) -> str:
    """A new session for ``user``; returns its id (random, 256 bits) for the cookie."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    with _open(Path(db)) as cases, cases.transaction() as c:
        c.execute(
            "INSERT INTO web_sessions (sid_hash, user, role, stamp, client, created, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_h(token), user, role, stamp, client, now, now),
        )
        # forget sessions that ended (or could last be used) more than a day ago
        c.execute(
            "DELETE FROM web_sessions WHERE (ended IS NOT NULL AND ended < ?) OR created < ?",
            (now - 86400, now - ABSOLUTE_S - 86400),
        )
    return token


def check_session(
    db: str | Path, token: str | None, current: tuple[str, str] | None = None, *, user: str | None = None
) -> tuple[SessionRow | None, str | None]:
    """The live session of ``token``, or ``(None, why it is not live)``.

    ``current`` is the user's ``(role, stamp)`` now (None: the user no longer exists); a session
    whose user was removed or whose role or password changed is ended together with every other
    session of that user. The session's last use is written at most every :data:`TOUCH_S`
    seconds, so most page views only read the table (and never wait on a nightly run's writes).
    """
    if not token or not isinstance(token, str) or len(token) > 200:
        return None, None
    now = time.time()
    with _open(Path(db)) as cases:
        row = cases.conn.execute(
            "SELECT user, role, stamp, created, last_seen, ended FROM web_sessions WHERE sid_hash = ?", (_h(token),)
        ).fetchone()
        if row is None or (user is not None and row["user"] != user):
            return None, "unknown"
        if row["ended"] is not None:
            return None, "ended"
        why, everyone = None, False
        if current is None:
            why, everyone = "user removed", True
        elif current[0] != row["role"]:
            why, everyone = "role changed", True
        elif current[1] != row["stamp"]:
            why, everyone = "password changed", True
        elif now - row["created"] > ABSOLUTE_S:
            why = "expired"
        elif now - row["last_seen"] > IDLE_S:
            why = "idle"
        if why is not None:
            with cases.transaction() as c:
                if everyone:
                    c.execute(
                        "UPDATE web_sessions SET ended = ?, end_reason = ? WHERE user = ? AND ended IS NULL",
                        (now, why, row["user"]),
                    )
                else:
                    c.execute(
                        "UPDATE web_sessions SET ended = ?, end_reason = ? WHERE sid_hash = ?", (now, why, _h(token))
                    )
            return None, why
        if now - row["last_seen"] > TOUCH_S:
            with cases.transaction() as c:
                c.execute(
                    "UPDATE web_sessions SET last_seen = ? WHERE sid_hash = ? AND ended IS NULL", (now, _h(token))
                )
    return SessionRow(row["user"], row["role"], row["stamp"], float(row["created"])), None


def end_session(db: str | Path, token: str, reason: str = "signed out") -> None:
    """End one session."""
    with _open(Path(db)) as cases, cases.transaction() as c:
        c.execute(
            "UPDATE web_sessions SET ended = ?, end_reason = ? WHERE sid_hash = ? AND ended IS NULL",
            (time.time(), reason, _h(token)),
        )


def end_user_sessions(db: str | Path, user: str, reason: str) -> int:
    """End every live session of ``user`` at once; returns how many were live.

    A store without a case-record database has no sessions: 0.
    """
    if not Path(db).exists():
        return 0
    with _open(Path(db)) as cases, cases.transaction() as c:
        cur = c.execute(
            "UPDATE web_sessions SET ended = ?, end_reason = ? WHERE user = ? AND ended IS NULL",
            (time.time(), reason, user),
        )
        return int(cur.rowcount)


@dataclass(frozen=True)
class Attempt:
    """A sign-in attempt counted before its password is checked.

    ``allowed`` False: the pair is locked (``locked_until``, seconds UTC) and the password must not
    be checked; ``failures`` counts this attempt.
    """

    allowed: bool
    failures: int
    locked_until: float | None
    newly_locked: bool = False


def begin_attempt(db: str | Path, user: str, client: str) -> Attempt:
    """Count one sign-in attempt of ``(user, client)`` atomically, as a failure until it succeeds."""
    now = time.time()
    with _open(Path(db)) as cases, cases.transaction() as c:
        row = c.execute(
            "SELECT failures, first_failure, locked_until FROM sign_in_failures WHERE user = ? AND client = ?",
            (user, client),
        ).fetchone()
        failures, first, locked = (0, now, None) if row is None else tuple(row)
        if locked is not None and locked <= now:
            failures, first, locked = 0, now, None  # the lock has run out
        elif locked is None and now - first > FAILURE_WINDOW_S:
            failures, first = 0, now
        failures += 1
        newly = False
        if locked is None and failures > MAX_FAILURES:
            locked, newly = now + LOCKOUT_S, True
        c.execute(
            "INSERT OR REPLACE INTO sign_in_failures (user, client, failures, first_failure, locked_until) "
            "VALUES (?, ?, ?, ?, ?)",
            (user, client, failures, first, locked),
        )
        # forget other pairs whose failures and lock have run out
        c.execute(
            "DELETE FROM sign_in_failures WHERE NOT (user = ? AND client = ?) AND first_failure < ? "
            "AND (locked_until IS NULL OR locked_until < ?)",
            (user, client, now - FAILURE_WINDOW_S, now),
        )
    return Attempt(locked is None, failures, locked, newly)


def finish_attempt(db: str | Path, user: str, client: str, ok: bool) -> Attempt:
    """Record the outcome: success forgets the pair's failures; the :data:`MAX_FAILURES`-th failure locks it."""
    now = time.time()
    with _open(Path(db)) as cases, cases.transaction() as c:
        if ok:
            c.execute("DELETE FROM sign_in_failures WHERE user = ? AND client = ?", (user, client))
            return Attempt(True, 0, None)
        row = c.execute(
            "SELECT failures, locked_until FROM sign_in_failures WHERE user = ? AND client = ?", (user, client)
        ).fetchone()
        failures, locked = (1, None) if row is None else (int(row[0]), row[1])
        if locked is None and failures >= MAX_FAILURES:
            locked = now + LOCKOUT_S
            c.execute(
                "UPDATE sign_in_failures SET locked_until = ? WHERE user = ? AND client = ?", (locked, user, client)
            )
            return Attempt(False, failures, locked, True)
    return Attempt(locked is None, failures, locked)
