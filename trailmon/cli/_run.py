"""Glue shared by the matching sub-commands: loading the store, quarantining input rejects, audit."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import pandas as pd

from trailmon.io.quarantine import ReadResult
from trailmon.store import audit
from trailmon.store._files import write_bytes_atomic


def run_id(command: str) -> str:
    """``proximity-20261125T120000Z-1a2b3c``."""
    return f"{command}-" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(3)


def quarantine_rejects(store, result: ReadResult, rid: str) -> str | None:
    """Keep the rejected input rows of a run in ``STORE/quarantine/<run id>.csv``."""
    if not len(result.rejected):
        return None
    path = Path(store.path) / "quarantine" / f"{rid}.csv"
    write_bytes_atomic(path, result.rejected.to_csv(index=False).encode())
    return str(path)


def counts(result: ReadResult) -> dict:
    """``{"read", "accepted", "rejected", "rejected_by_reason"}``."""
    return {"read": result.n_read, "accepted": len(result.accepted), "rejected": len(result.rejected),
            "rejected_by_reason": result.rejected_by_reason}


def time_span(starts: pd.Series, ends: pd.Series) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """The earliest start and latest end (UTC), or ``(None, None)`` when empty."""
    if not len(starts):
        return None, None
    return pd.Timestamp(starts.min()), pd.Timestamp(ends.max())


def audit_run(store, *, user: str, purpose: str, action: str, kind: str, parameters: dict,
              subjects, counts: dict, recipient: str | None = None) -> dict:
    """Append the run to the store's audit log."""
    return audit.append(store.audit_path, user=user, purpose=purpose, action=action, kind=kind,
                        parameters=parameters, subjects=[str(s) for s in subjects], counts=counts,
                        recipient=recipient)
