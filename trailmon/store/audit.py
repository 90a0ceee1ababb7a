"""The append-only, hash-chained audit log of consultations and disclosures (SPEC §7, DPA 2018 s.62).

Each line of ``STORE/audit.jsonl`` is one JSON object with ``seq``, ``time`` (UTC),
``user``, ``purpose``, ``action`` (``proximity``, ``trail``, ``map``, ``export``, …), ``kind``
(consultation | disclosure | compliance | erasure | ingest), ``parameters``, ``subjects``,
``counts``, ``recipient``, ``prev`` (the previous entry's hash) and ``hash`` = sha256 of the
canonical JSON of the entry without ``hash``. Changing, removing or inserting a line breaks the
chain, and :func:`verify` says where.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from pathlib import Path

import pandas as pd

from trailmon.errors import AccessRefusedError, AuditTamperedError
from trailmon.store._files import FILE_MODE

__all__ = ["GENESIS", "append", "entries", "require_identity", "verify"]

GENESIS = "0" * 64


def _digest(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def require_identity(user: str | None, purpose: str | None, *, action: str) -> tuple[str, str]:
    """The user and purpose of a consultation, or :class:`AccessRefusedError` (exit 3)."""
    missing = [name for name, v in (("--user", user), ("--purpose", purpose)) if not (v and str(v).strip())]
    if missing:
        raise AccessRefusedError(
            f"{action} discloses location data: say who you are and why with {' and '.join(missing)} "
            "(every consultation is written to the audit log)"
        )
    return str(user).strip(), str(purpose).strip()


def append(path: str | Path, *, user: str, purpose: str, action: str, kind: str = "consultation",
           parameters: dict | None = None, subjects: list[str] | None = None, counts: dict | None = None,
           recipient: str | None = None) -> dict:
    """Append one entry under an exclusive lock, chained to the last one; returns the entry."""
    path = Path(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, FILE_MODE)
    with os.fdopen(fd, "r+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            f.seek(0)
            last = None
            for line in f:
                if line.strip():
                    last = line
            prev = json.loads(last) if last else None
            entry = {
                "seq": (prev["seq"] + 1) if prev else 1,
                "time": pd.Timestamp(time.time_ns(), unit="ns", tz="UTC").isoformat().replace("+00:00", "Z"),
                "user": user, "purpose": purpose, "action": action, "kind": kind,
                "parameters": parameters or {}, "subjects": sorted(set(subjects or [])), "counts": counts or {},
                "recipient": recipient, "prev": prev["hash"] if prev else GENESIS,
            }
            entry["hash"] = _digest(entry)
            f.seek(0, os.SEEK_END)
            f.write((json.dumps(entry, sort_keys=True, default=str) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
    return entry


def entries(path: str | Path, since: pd.Timestamp | None = None) -> list[dict]:
    """Entries oldest first, optionally those at or after ``since`` (UTC)."""
    path = Path(path)
    if not path.exists():
        return []
    out = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if since is not None:
        out = [e for e in out if pd.Timestamp(e["time"]) >= since]
    return out


def verify(path: str | Path) -> int:
    """Check the hash chain; returns the number of entries.

    Raises
    ------
    AuditTamperedError
        Naming the first line whose hash, link or sequence number does not hold.
    """
    path = Path(path)
    if not path.exists():
        return 0
    prev_hash, seq = GENESIS, 0
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            e = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AuditTamperedError(f"audit log line {n} is not JSON: the log was edited") from exc
        if e.get("prev") != prev_hash:
            raise AuditTamperedError(f"audit log line {n} does not link to the entry before it "
                                     "(an entry was removed, inserted or reordered)")
        if e.get("hash") != _digest(e):
            raise AuditTamperedError(f"audit log line {n} (seq {e.get('seq')}) was changed after it was written")
        if e.get("seq") != seq + 1:
            raise AuditTamperedError(f"audit log line {n} has seq {e.get('seq')}, expected {seq + 1}")
        prev_hash, seq = e["hash"], e["seq"]
    return seq
