"""Owner-only files and atomic writes (SPEC §7: directories 0700, files 0600)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) owner-only; tighten it if it exists."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(path, DIR_MODE)
    return path


def fsync_dir(path: Path) -> None:
    """Flush a directory entry to disk, so a rename survives a crash."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.tmp-(?P<pid>\d+)(?:-[0-9a-f]+)?$")
"""A temp file of :func:`write_bytes_atomic`: ``.<target name>.tmp-<pid>-<token>``."""


def temp_name(name: str) -> str:
    """A temp-file name for ``name``, unique to this process and thread (``.<name>.tmp-<pid>-<token>``)."""
    return f".{name}.tmp-{os.getpid()}-{threading.get_ident() & 0xFFFF:04x}{secrets.token_hex(3)}"


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (a temp file of a live process is never touched)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_dead_temp_files(folder: Path, owns) -> list[Path]:
    """Remove temp files in ``folder`` (not below it) left by a process that died mid-write.

    Only temp files whose target name ``owns(name)`` accepts and whose writing process no
    longer exists are removed: a temp file of another command (``users.json``, a quarantine
    file of a crime read) or of a live process is never touched.
    """
    gone = []
    if not folder.is_dir():
        return gone
    for p in folder.iterdir():
        m = TEMP_NAME.match(p.name)
        if m and owns(m["target"]) and not pid_alive(int(m["pid"])):
            try:
                p.unlink()
                gone.append(p)
            except FileNotFoundError:
                pass
    return gone


@contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes ``path`` only when the block ends without error (owner-only).

    Written under a temp name beside ``path`` (:func:`temp_name`), flushed and fsynced, renamed
    over ``path``, and the folder fsynced; an error leaves ``path`` as it was and no temp file.
    """
    tmp = path.with_name(temp_name(path.name))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(path.parent)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file, fsync, rename (owner-only)."""
    with atomic_file(path) as f:
        f.write(data)


def write_json_atomic(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON atomically."""
    write_bytes_atomic(path, (json.dumps(obj, indent=1, sort_keys=True, default=str) + "\n").encode())


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
