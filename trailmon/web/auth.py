"""Users, passwords and roles of the web app (SPEC §7: who and why).

Users live in ``STORE/users.json`` (owner-only, 0600, written atomically), managed with
``trailmon users --store DIR add NAME --role ROLE | remove NAME | list``. A password is never
stored: each user has a random 16-byte salt and the scrypt key of the password (``hashlib.scrypt``,
memory-hard, in the standard library; N = 2**14, r = 8, p = 1, 16 MiB per check), compared in
constant time. The KDF parameters are stored with each user, so they can be raised later without
invalidating the file.

The roles and what each may see or do are defined once, in :data:`PERMISSIONS`; the web app
checks every page and action against it and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from trailmon.errors import InputError, StoreError
from trailmon.store._files import write_json_atomic

__all__ = [
    "PERMISSIONS",
    "ROLES",
    "User",
    "UsersFile",
    "allowed",
    "default_users_path",
    "check_password_policy",
    "hash_password",
    "verify_password",
]

ROLES = ("analyst", "reviewer", "offender_manager", "auditor")
"""The roles a user can hold (one each)."""

PERMISSIONS: dict[str, frozenset[str]] = {
    # page or action      roles allowed
    "crimes": frozenset({"analyst", "reviewer"}),  # crime search
    "crime": frozenset({"analyst", "reviewer"}),  # a crime: versions, hits, evidence, gaps, map
    "review": frozenset({"reviewer"}),  # qualify / reject a pending hit
    "evidence_pack": frozenset({"reviewer"}),  # download the evidence pack of qualified hits (a disclosure)
    "police_data": frozenset({"analyst", "reviewer"}),  # crime batches by force and day, receipts, errors
    "subjects": frozenset({"analyst", "reviewer", "offender_manager"}),  # subject search
    "subject": frozenset({"analyst", "reviewer", "offender_manager"}),  # identifiers, outcomes, hits
    "trail": frozenset({"analyst", "offender_manager"}),  # a subject's fixes and map (48 h cap)
    "cohort": frozenset({"analyst", "offender_manager"}),  # the cohort report
    "export": frozenset({"analyst", "reviewer"}),  # disclosure of qualified case records
    "audit": frozenset({"auditor"}),  # the audit log and its verification
    "series": frozenset({"analyst"}),  # crime series against routine: ranking, map, report
    "associations": frozenset({"analyst", "reviewer", "offender_manager"}),  # co-location records of a subject
    "association_review": frozenset({"reviewer"}),  # qualify / reject a pending co-location episode
    "association_map": frozenset({"analyst", "offender_manager"}),  # an episode's two tracks (as "trail")
}
"""Which roles may open each page or take each action; the only permission table."""

USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
"""User names: 1-64 characters, letters, digits and ``. _ @ -``, starting with a letter or digit."""

MIN_PASSWORD = 12
"""Shortest password accepted, characters."""

MAX_PASSWORD = 1024
"""Longest password accepted, characters (bounds the KDF's input)."""

KDF = {"name": "scrypt", "n": 2**14, "r": 8, "p": 1, "dklen": 32}
"""scrypt parameters of new passwords: 128 * r * N bytes = 16 MiB of memory per check."""

FORMAT_VERSION = 1


COMMON_PASSWORDS_FILE = Path(__file__).with_name("common_passwords.txt")
"""The shipped list of common passwords refused by :func:`check_password_policy` (one a line, lower case)."""


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))


def check_password_policy(password: str) -> None:
    """Refuse a weak password (SPEC §9) with :class:`InputError` saying why.

    A password has :data:`MIN_PASSWORD` to :data:`MAX_PASSWORD` characters, is not one character
    repeated (``aaaaaaaaaaaa``, twelve spaces), is not all white space, and is not on the shipped
    list of common passwords (:data:`COMMON_PASSWORDS_FILE`, compared without case and with
    surrounding spaces removed).

    Examples
    --------
    >>> check_password_policy("correct horse battery")
    >>> check_password_policy("password1234")
    Traceback (most recent call last):
    ...
    trailmon.errors.InputError: that password is on the list of common passwords; choose another
    """
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        got = len(password) if isinstance(password, str) else type(password).__name__
        raise InputError(
            f"a password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters, got {got}; "
            "choose a longer passphrase"
        )
    if not password.strip() or len(set(password)) == 1:
        raise InputError("a password must not be one character repeated or only spaces; choose a passphrase")
    if password.strip().lower() in _common_passwords():
        raise InputError(
            "that password is on the list of common passwords; choose another"
        )


def default_users_path(store: str | Path) -> Path:
    """``STORE/users.json``."""
    return Path(store) / "users.json"


def allowed(role: str | None, what: str) -> bool:
    """True when ``role`` may open the page or take the action ``what`` (a key of :data:`PERMISSIONS`).

    Raises
    ------
    KeyError
        For a ``what`` that is not in the table: every page must be listed there.
    """
    return role in PERMISSIONS[what]


def _scrypt(password: str, salt: bytes, kdf: dict) -> bytes:
    n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    return hashlib.scrypt(
        password.encode("utf-8"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        dklen=int(kdf["dklen"]),
        maxmem=256 * r * n + 2**20,
    )


def hash_password(password: str) -> dict:
    """A new salt and the scrypt key of ``password``: ``{"kdf", "salt", "key"}`` (hex).

    Raises
    ------
    InputError
        For a password that :func:`check_password_policy` refuses.
    """
    check_password_policy(password)
    salt = secrets.token_bytes(16)
    return {"kdf": dict(KDF), "salt": salt.hex(), "key": _scrypt(password, salt, KDF).hex()}


def verify_password(password: str, record: dict) -> bool:
    """True when ``password`` matches the stored ``record`` (constant-time comparison)."""
    if not isinstance(password, str) or len(password) > MAX_PASSWORD:
        return False
    try:
        key = _scrypt(password, bytes.fromhex(record["salt"]), record["kdf"])
        return hmac.compare_digest(key, bytes.fromhex(record["key"]))
    except (KeyError, TypeError, ValueError):
        return False


_DUMMY = {"kdf": dict(KDF), "salt": "00" * 16, "key": "00" * 32}


@dataclass(frozen=True)
class User:
    """A signed-in user: name and role."""

    name: str
    role: str


class UsersFile:
    """The users file ``STORE/users.json`` (0600).

    Parameters
    ----------
    path : str or Path
        The file; it need not exist until the first user is added.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> users = UsersFile(pathlib.Path(tempfile.mkdtemp()) / "users.json")
    >>> users.add("ana", "analyst", "correct horse battery")
    User(name='ana', role='analyst')
    >>> users.authenticate("ana", "correct horse battery")
    User(name='ana', role='analyst')
    >>> users.authenticate("ana", "wrong password!") is None
    True
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _load(self) -> dict:
        if not self.path.exists():
            return {"format_version": FORMAT_VERSION, "users": {}}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise StoreError(f"users file {str(self.path)!r} cannot be read: {exc}") from exc
        if not isinstance(data, dict) or not isinstance(data.get("users"), dict):
            raise StoreError(
                f"users file {str(self.path)!r} is not a trailmon users file (no 'users' object)"
            )
        return data

    def _save(self, data: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, data)
        os.chmod(self.path, 0o600)

    def list(self) -> list[dict]:
        """Users by name: ``{"name", "role", "created"}`` (never the key or salt)."""
        users = self._load()["users"]
        return [
            {"name": n, "role": u.get("role"), "created": u.get("created")} for n, u in sorted(users.items())
        ]

    def add(self, name: str, role: str, password: str) -> User:
        """Add a user (or replace an existing user's role and password).

        Parameters
        ----------
        name : str
            The user name (:data:`USERNAME`).
        role : str
            One of :data:`ROLES`.
        password : str
            The password, :data:`MIN_PASSWORD` to :data:`MAX_PASSWORD` characters.

        Raises
        ------
        InputError
            For a bad name, role or password.
        """
        if not isinstance(name, str) or not USERNAME.match(name):
            raise InputError(
                "user name must be 1-64 letters, digits or . _ @ - (starting with a letter or digit), "
                f"got {name!r}"
            )
        if role not in ROLES:
            raise InputError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        record = hash_password(password)
        data = self._load()
        data["users"][name] = {
            "role": role,
            **record,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self._save(data)
        return User(name, role)

    def remove(self, name: str) -> None:
        """Remove a user.

        Raises
        ------
        InputError
            When there is no such user.
        """
        data = self._load()
        if name not in data["users"]:
            known = ", ".join(sorted(data["users"])) or "none"
            raise InputError(f"no user {name!r} in {str(self.path)!r}; its users are: {known}")
        del data["users"][name]
        self._save(data)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when ``name`` and ``password`` match, else None (same work either way)."""
        try:
            record = self._load()["users"].get(name) if isinstance(name, str) else None
        except StoreError:
            record = None
        if record is None or record.get("role") not in ROLES:
            verify_password(password, _DUMMY)
            return None
        return User(name, record["role"]) if verify_password(password, record) else None

    def stamp(self, name: str) -> tuple[str, str] | None:
        """``(role, stamp)`` of ``name`` now, or None when there is no such user.

        The stamp is the salt of the stored password: a new password, or removing and adding the
        user again, gives a new one, which ends the user's web sessions.
        """
        try:
            record = self._load()["users"].get(name) if isinstance(name, str) else None
        except StoreError:
            return None
        if record is None or record.get("role") not in ROLES:
            return None
        return record["role"], str(record.get("salt", ""))

    def role_of(self, name: str) -> str | None:
        """The current role of ``name``, or None when the user no longer exists."""
        try:
            record = self._load()["users"].get(name)
        except StoreError:
            return None
        role = None if record is None else record.get("role")
        return role if role in ROLES else None
