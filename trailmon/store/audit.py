"""The append-only, hash-chained audit log of consultations and disclosures (SPEC §7, DPA 2018 s.62).

Each line of ``STORE/audit.jsonl`` is one JSON object with ``seq``, ``time`` (UTC),
``user``, ``purpose``, ``action`` (``proximity``, ``trail``, ``map``, ``export``, …), ``kind``
(consultation | disclosure | compliance | erasure | ingest), ``parameters``, ``subjects``,
``counts``, ``recipient``, ``prev`` (the previous entry's hash) and ``hash`` = sha256 of the
canonical JSON of the entry without ``hash`` and ``hmac``. Changing, removing or inserting a line
breaks the chain, and :func:`verify` says where.

Cutting lines off the end, emptying or deleting the log leaves a valid chain, so the head of the
chain (entries, last hash) is also kept outside the log (SPEC §9): in ``STORE/audit.head`` (0600)
and in the case store's ``audit_head`` table (when ``STORE/cases.sqlite`` exists), both rewritten
by every :func:`append`. :func:`verify` requires the log to extend every head it finds, and an
expected head given by the caller (``trailmon audit --verify --expect-head N:HASH``, a head
recorded elsewhere with ``trailmon audit --head``). A log rewritten and re-hashed together with
both heads still verifies; with a key in the file named by ``TRAILMON_AUDIT_KEY_FILE`` (kept off
the store, owner-only) each entry also carries ``hmac`` = HMAC-SHA256(key, hash), which nobody
without the key can recompute, and :func:`verify` checks it on every entry.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac as _hmac
import json
import os
import sqlite3
import time
from pathlib import Path

import pandas as pd

from trailmon.errors import AccessRefusedError, AuditTamperedError, StoreError
from trailmon.store._files import FILE_MODE, write_json_atomic

__all__ = ["GENESIS", "KEY_ENV", "append", "audit_key", "entries", "head", "head_path", "parse_head",
           "require_identity", "stored_heads", "verify"]

GENESIS = "0" * 64

KEY_ENV = "TRAILMON_AUDIT_KEY_FILE"
"""Environment variable naming the file of the audit log's HMAC key (kept off the store)."""

HEAD_FILE = "audit.head"
"""The chain head beside the log: ``{"entries": N, "hash": H}``."""

CASES_FILE = "cases.sqlite"


def _digest(entry: dict) -> str:
    body = {k: v for k, v in entry.items() if k not in ("hash", "hmac")}
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


def head_path(path: str | Path) -> Path:
    """``STORE/audit.head`` for the log ``STORE/audit.jsonl``."""
    return Path(path).with_name(HEAD_FILE)


def audit_key(path: str | Path | None = None) -> bytes | None:
    """The HMAC key from the file named by ``TRAILMON_AUDIT_KEY_FILE``, or None when it is not set.

    Raises
    ------
    StoreError
        When the file cannot be read, holds fewer than 16 bytes, can be read by others than its
        owner, or lies inside the store of the log ``path`` (a key beside the log protects nothing).
    """
    name = os.environ.get(KEY_ENV, "").strip()
    if not name:
        return None
    key_file = Path(name).expanduser().resolve()
    if path is not None:
        store = Path(path).resolve().parent
        if key_file == store or store in key_file.parents:
            raise StoreError(f"{KEY_ENV} names {str(key_file)!r}, inside the store {str(store)!r}: "
                             "keep the audit key off the store (anyone who can rewrite the log could read it)")
    try:
        st = key_file.stat()
        key = key_file.read_bytes().strip()
    except OSError as exc:
        raise StoreError(f"{KEY_ENV} names {str(key_file)!r}, which cannot be read: {exc}") from exc
    if st.st_mode & 0o077:
        raise StoreError(f"audit key file {str(key_file)!r} can be read by others (mode {st.st_mode & 0o777:o}); "
                         f"chmod 600 {key_file}")
    if len(key) < 16:
        raise StoreError(f"audit key file {str(key_file)!r} holds {len(key)} bytes; use at least 16 random bytes, "
                         "e.g. `openssl rand -hex 32`")
    return key


def _mac(key: bytes, entry_hash: str) -> str:
    return _hmac.new(key, entry_hash.encode(), hashlib.sha256).hexdigest()


def parse_head(text: str) -> tuple[int, str]:
    """``N:HASH`` as ``(N, HASH)``, or :class:`ValueError`.

    Examples
    --------
    >>> parse_head("3:" + "ab" * 32)[0]
    3
    """
    n, sep, h = str(text).strip().partition(":")
    if not sep or not n.isdigit() or len(h) != 64 or any(c not in "0123456789abcdef" for c in h):
        raise ValueError(f"a head is N:HASH (entries, then the last entry's 64-hex sha256), got {text!r}")
    return int(n), h


def _read_head_file(path: Path) -> tuple[int, str] | None:
    hp = head_path(path)
    try:
        data = json.loads(hp.read_text())
        return int(data["entries"]), str(data["hash"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AuditTamperedError(f"{str(hp)!r} cannot be read as an audit head ({exc}): it was edited") from exc


def _read_head_db(path: Path) -> tuple[int, str] | None:
    db = Path(path).with_name(CASES_FILE)
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT entries, last_hash FROM audit_head WHERE id = 1").fetchone()
    except sqlite3.Error:  # no such table yet (an older case store) or locked
        return None
    finally:
        conn.close()
    return None if row is None else (int(row[0]), str(row[1]))


def stored_heads(path: str | Path) -> dict[str, tuple[int, str]]:
    """The heads kept outside the log: ``{"audit.head": (N, H), "case store": (N, H)}`` where present."""
    path = Path(path)
    out = {}
    for where, got in ((HEAD_FILE, _read_head_file(path)), ("case store", _read_head_db(path))):
        if got is not None:
            out[where] = got
    return out


def _write_heads(path: Path, n: int, h: str) -> None:
    write_json_atomic(head_path(path), {"entries": n, "hash": h})
    os.chmod(head_path(path), FILE_MODE)
    db = path.with_name(CASES_FILE)
    if not db.exists():
        return
    try:  # best effort: a busy case store keeps its older head, which the log still extends
        conn = sqlite3.connect(db, timeout=0.1, isolation_level=None)  # never wait on a nightly write
        try:
            conn.execute("INSERT OR REPLACE INTO audit_head (id, entries, last_hash, updated) VALUES (1, ?, ?, ?)",
                         (n, h, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        finally:
            conn.close()
    except sqlite3.Error:
        pass


def _extends(by_seq: dict[int, str], n: int, h: str) -> bool:
    return n == 0 or by_seq.get(n) == h


def _last_line(f, block: int = 65536) -> bytes | None:
    """The last non-blank line of the open file ``f``, read backwards from its end in blocks.

    An append then costs the same on a log of ten entries and of ten million.
    """
    end = f.seek(0, os.SEEK_END)
    tail, pos = b"", end
    while pos > 0:
        step = min(block, pos)
        pos -= step
        f.seek(pos)
        tail = f.read(step) + tail
        lines = [ln for ln in tail.split(b"\n") if ln.strip()]
        if len(lines) > 1 or (lines and pos == 0):
            return lines[-1]
    lines = [ln for ln in tail.split(b"\n") if ln.strip()]
    return lines[-1] if lines else None


def append(path: str | Path, *, user: str, purpose: str, action: str, kind: str = "consultation",
           parameters: dict | None = None, subjects: list[str] | None = None, counts: dict | None = None,
           recipient: str | None = None) -> dict:
    """Append one entry under an exclusive lock, chained to the last one; returns the entry.

    The entry is on disk (fsynced) before this returns, so a disclosure is recorded before the
    file is handed over. The heads outside the log move to the new entry only while the log still
    extends them, so a log shortened behind trailmon's back keeps failing :func:`verify`.
    """
    path = Path(path)
    key = audit_key(path)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, FILE_MODE)
    with os.fdopen(fd, "r+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            last = _last_line(f)
            prev = json.loads(last) if last else None
            entry = {
                "seq": (prev["seq"] + 1) if prev else 1,
                "time": pd.Timestamp(time.time_ns(), unit="ns", tz="UTC").isoformat().replace("+00:00", "Z"),
                "user": user, "purpose": purpose, "action": action, "kind": kind,
                "parameters": parameters or {}, "subjects": sorted(set(subjects or [])), "counts": counts or {},
                "recipient": recipient, "prev": prev["hash"] if prev else GENESIS,
            }
            entry["hash"] = _digest(entry)
            if key is not None:
                entry["hmac"] = _mac(key, entry["hash"])
            f.seek(0, os.SEEK_END)
            f.write((json.dumps(entry, sort_keys=True, default=str) + "\n").encode())
            f.flush()
            os.fsync(f.fileno())
            anchored = _read_head_file(path) if head_path(path).exists() else None
            if anchored is None or (prev is not None and (prev["seq"], prev["hash"]) == anchored) or anchored[0] == 0:
                _write_heads(path, entry["seq"], entry["hash"])
        except AuditTamperedError:
            pass  # an unreadable head stays as it is: verify keeps reporting it
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


def head(path: str | Path) -> tuple[int, str]:
    """The log's own head ``(entries, last hash)`` (``(0, GENESIS)`` for no log), after :func:`verify`."""
    n = verify(path)
    last = entries(path)[-1]["hash"] if n else GENESIS
    return n, last


def verify(path: str | Path, *, expect_head: str | tuple[int, str] | None = None,
           key: bytes | None | bool = True) -> int:
    """Check the hash chain, that it extends every stored head, and each HMAC; returns the entries.

    Parameters
    ----------
    path : str or Path
        The log, ``STORE/audit.jsonl``.
    expect_head : str or (int, str), optional
        A head recorded earlier (``N:HASH``): the log must still hold entry ``N`` with that hash.
    key : bytes, None or True
        The HMAC key; True (default) reads it from ``TRAILMON_AUDIT_KEY_FILE`` (None when unset).

    Raises
    ------
    AuditTamperedError
        Naming the first line whose hash, link, sequence number or HMAC does not hold, or the head
        the log no longer extends (lines cut off the end, the log emptied or deleted).
    """
    path = Path(path)
    if key is True:
        key = audit_key(path)
    heads = stored_heads(path)
    if expect_head is not None:
        try:
            heads["expected head"] = parse_head(expect_head) if isinstance(expect_head, str) else expect_head
        except ValueError as exc:
            raise AuditTamperedError(str(exc)) from None
    by_seq: dict[int, str] = {}
    prev_hash, seq = GENESIS, 0
    lines = path.read_text().splitlines() if path.exists() else []
    for n, line in enumerate(lines, start=1):
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
        if key is not None and not _hmac.compare_digest(str(e.get("hmac", "")), _mac(key, e["hash"])):
            raise AuditTamperedError(f"audit log line {n} (seq {e['seq']}) carries no valid HMAC for the key in "
                                     f"{KEY_ENV}: the entry was rewritten or written without the key")
        prev_hash, seq = e["hash"], e["seq"]
        by_seq[seq] = prev_hash
    for where, (hn, hh) in heads.items():
        if not _extends(by_seq, hn, hh):
            state = "is missing" if not path.exists() else "is empty" if seq == 0 else f"holds {seq} entries"
            raise AuditTamperedError(
                f"the audit log {state} but the {where} records {hn} entries ending {hh[:12]}…: "
                + ("entries were cut off the end" if seq < hn else "the log was rewritten")
            )
    return seq


def distinct_subjects(*frames) -> list[str]:
    """The sorted distinct ``subject_id`` values of result frames, for an audit entry's ``subjects``.

    Each column is reduced with ``Series.unique`` first, so a national run's 270,000 hit rows cost
    one hash pass, not a Python object per row.

    Examples
    --------
    >>> import pandas as pd
    >>> distinct_subjects(pd.DataFrame({"subject_id": ["S2", "S1", "S2"]}), pd.DataFrame({"subject_id": ["S3"]}))
    ['S1', 'S2', 'S3']
    """
    seen: set[str] = set()
    for frame in frames:
        if len(frame):
            seen.update(map(str, frame["subject_id"].unique()))
    return sorted(seen)


def audit_run(store, *, user: str, purpose: str, action: str, kind: str, parameters: dict,
              subjects, counts: dict, recipient: str | None = None) -> dict:
    """Append a run of a command to ``store``'s audit log (``store.audit_path``); returns the entry."""
    return append(store.audit_path, user=user, purpose=purpose, action=action, kind=kind,
                  parameters=parameters, subjects=[str(s) for s in subjects], counts=counts,
                  recipient=recipient)
