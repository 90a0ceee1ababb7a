"""Ingestion receipts for the sender of each inbox file (SPEC §4 "Ingestion receipts").

For every file the nightly job reads, ``OUT/<day>/receipts/`` gets:

- ``<file>.receipt.json``: ``file, sha256, kind, force, batch_id, status`` (``ingested`` when
  every row was accepted, ``partial`` when some were rejected, ``failed`` when the file could
  not be read or no row was accepted), ``counts`` (``read, accepted, rejected,
  rejected_by_code``), the first five errors, the file-level findings, the run and the time;
- ``<file>.errors.csv``: ``row, code, message, required_action``, one line per rejected row,
  the action from :data:`trailmon.io.quarantine.REQUIRED_ACTION` (e.g. "send the crime window
  start as yyyyMMddHHmmss");
- ``<file>.accepted.csv``: the rows accepted, as read.

CSV cells are spreadsheet-safe (:func:`trailmon.report.writers.write_plain_csv`) and every file is
owner-only. Receipts can be mailed through an SMTP relay (:func:`deliver_receipts`, ``nightly
--smtp HOST:PORT --smtp-recipients F``): the receipt JSON and the errors CSV (never the accepted
rows, which hold positions) to the force's addresses. A relay that is down or refuses never fails
the run: the receipt stays on disk and the failure is listed in the run's summary.
"""

from __future__ import annotations

import json
import smtplib
from email.message import EmailMessage
from pathlib import Path

import pandas as pd

from trailmon import __version__
from trailmon.errors import InputError
from trailmon.io.quarantine import REQUIRED_ACTION, RejectReason
from trailmon.report.writers import write_plain_csv
from trailmon.store._files import make_private_dir, write_bytes_atomic

__all__ = [
    "ERROR_COLUMNS",
    "RECEIPT_STATUSES",
    "UNREADABLE_ACTION",
    "deliver_receipts",
    "nightly_receipts",
    "parse_smtp",
    "read_recipients",
    "receipt_for",
    "write_receipts",
]

ERROR_COLUMNS = ["row", "code", "message", "required_action"]
"""Columns of ``<file>.errors.csv``."""

RECEIPT_STATUSES = ("ingested", "partial", "failed")

UNREADABLE_ACTION = "send the file again in one of the layouts of the README (header, encoding, columns)"
"""Required action for a file that could not be read at all (code ``UNREADABLE_FILE``)."""

FIRST_ERRORS = 5


def _action(code: str) -> str:
    try:
        return REQUIRED_ACTION[RejectReason(code)]
    except ValueError:
        return UNREADABLE_ACTION


def _errors(result) -> pd.DataFrame:
    if result is None or not len(result.rejected):
        return pd.DataFrame(columns=ERROR_COLUMNS)
    r = result.rejected
    return pd.DataFrame({
        "row": pd.to_numeric(r["row"], errors="coerce").astype("Int64"),
        "code": r["reason"].astype(str).to_numpy(),
        "message": r["detail"].astype(str).to_numpy(),
        "required_action": [_action(c) for c in r["reason"].astype(str)],
    }, columns=ERROR_COLUMNS)


def _one(values) -> str | None:
    vals = sorted({str(v) for v in values if v is not None and not pd.isna(v) and str(v) != ""})
    return ";".join(vals) if vals else None


def receipt_for(entry: dict, result, *, run_id: str, received: str) -> tuple[dict, pd.DataFrame]:
    """The receipt of one inbox file and its errors frame.

    Parameters
    ----------
    entry : dict
        The nightly job's file entry: ``name, kind, sha256, status`` and ``reason`` when quarantined.
    result : ReadResult or None
        What the reader made of it (None when the file could not be read).
    run_id, received : str
        The run and its as-of time (ISO 8601 UTC).

    Returns
    -------
    receipt : dict
    errors : DataFrame
        ``ERROR_COLUMNS``, one row per rejected row.
    """
    errors = _errors(result)
    force = batch = None
    if result is not None and len(result.accepted):
        acc = result.accepted
        force = _one(acc["force"]) if "force" in acc.columns else None
        batch = _one(acc["batch_id"]) if "batch_id" in acc.columns else None
    if entry.get("status") == "quarantined":
        status = "failed"
        counts = {"read": 0, "accepted": 0, "rejected": 0, "rejected_by_code": {}}
        first = [{"row": None, "code": "UNREADABLE_FILE", "message": str(entry.get("reason") or ""),
                  "required_action": UNREADABLE_ACTION}]
    else:
        n_read = 0 if result is None else int(result.n_read)
        n_acc = 0 if result is None else len(result.accepted)
        n_rej = 0 if result is None else len(result.rejected)
        status = "failed" if n_read and not n_acc else ("partial" if n_rej else "ingested")
        counts = {"read": n_read, "accepted": n_read - n_rej, "rejected": n_rej,
                  "rejected_by_code": {} if result is None else result.rejected_by_reason}
        first = [{"row": None if pd.isna(r.row) else int(r.row), "code": r.code, "message": r.message,
                  "required_action": r.required_action} for r in errors.head(FIRST_ERRORS).itertuples(index=False)]
    notes = [] if result is None else [
        {**n, "required_action": _action(str(n.get("code", "")))} if n.get("code") in RejectReason.__members__
        else dict(n) for n in result.notes
    ]
    if entry.get("duplicate"):
        notes.append({"kind": "duplicate", "detail": "the same bytes as another file of this run: read once"})
    rec = {
        "file": entry["name"], "sha256": entry["sha256"], "kind": entry["kind"], "force": force,
        "batch_id": batch, "status": status, "counts": counts, "errors": first, "notes": notes,
        "run_id": run_id, "received": received, "engine": f"trailmon {__version__}",
    }
    return rec, errors


def _accepted_frame(result) -> pd.DataFrame:
    acc = result.accepted.copy()
    for c in acc.columns:
        if c == "geometry" or (acc[c].dtype == object and any(hasattr(v, "wkt") for v in acc[c])):
            acc[c] = [None if v is None else getattr(v, "wkt", v) for v in acc[c]]
        elif isinstance(acc[c].dtype, pd.DatetimeTZDtype):
            s = acc[c].dt.tz_convert("UTC")
            acc[c] = s.dt.strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    return acc


def write_receipts(folder: str | Path, files: list[dict], *, run_id: str, received: str) -> list[dict]:
    """Write the receipt, errors CSV and accepted CSV of each file into ``folder`` (owner-only).

    Parameters
    ----------
    folder : str or Path
        ``OUT/<day>/receipts``.
    files : list of dict
        The nightly job's file entries (``name, kind, sha256, status``, ``reason``), each with its
        ``result`` (a :class:`~trailmon.io.quarantine.ReadResult`, absent when unreadable).
    run_id, received : str
        The run and its as-of time.

    Returns
    -------
    list of dict
        The receipts, each with ``paths`` (the files written).
    """
    folder = make_private_dir(Path(folder))
    out = []
    for f in files:
        result = f.get("result")
        rec, errors = receipt_for(f, result, run_id=run_id, received=received)
        base = folder / f["name"]
        paths = {"receipt": base.with_name(base.name + ".receipt.json"),
                 "errors": base.with_name(base.name + ".errors.csv"),
                 "accepted": base.with_name(base.name + ".accepted.csv")}
        write_plain_csv(errors, paths["errors"])
        write_plain_csv(_accepted_frame(result) if result is not None else pd.DataFrame(), paths["accepted"])
        write_bytes_atomic(paths["receipt"], (json.dumps(rec, indent=1, default=str) + "\n").encode("utf-8"))
        out.append({**rec, "paths": {k: str(v) for k, v in paths.items()}})
    return out


def read_recipients(path: str | Path) -> dict[str, list[str]]:
    """Recipients per force: a JSON object ``{"<force>": ["addr", ...], "default": [...]}``.

    ``default`` receives the receipts of files that name no force (trails, subjects, …) or a
    force not listed.

    Raises
    ------
    InputError
        When the file is missing or is not such an object of lists of addresses.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"recipients file {str(path)!r} could not be read as JSON ({exc}); it should be "
                         '{"<force>": ["address", ...], "default": ["address", ...]}') from exc
    if not isinstance(doc, dict) or not all(
            isinstance(v, list) and all(isinstance(a, str) and "@" in a for a in v) for v in doc.values()):
        raise InputError(f"recipients file {str(path)!r} must map each force (and \"default\") to a list of "
                         "e-mail addresses")
    return {str(k): list(v) for k, v in doc.items()}


def parse_smtp(value: str) -> tuple[str, int]:
    """``HOST:PORT`` as ``(host, port)``.

    Examples
    --------
    >>> parse_smtp("relay.internal:25")
    ('relay.internal', 25)
    """
    host, sep, port = str(value).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--smtp must be HOST:PORT (e.g. relay.internal:25), got {value!r}")
    return host.strip("[]"), int(port)


def deliver_receipts(receipts: list[dict], smtp: str, recipients: dict[str, list[str]], *,
                     sender: str = "trailmon@localhost", timeout_s: float = 10.0) -> dict:
    """Mail each receipt (JSON and errors CSV attached) to its force's addresses; never raises.

    Parameters
    ----------
    receipts : list of dict
        From :func:`write_receipts`.
    smtp : str
        The relay, ``HOST:PORT`` (plain SMTP on a trusted internal network; STARTTLS when offered).
    recipients : dict
        From :func:`read_recipients`.
    sender : str, default "trailmon@localhost"
        The From address.
    timeout_s : float, default 10.0
        Connection timeout, seconds.

    Returns
    -------
    dict
        ``{"relay", "sent": [{"file", "to"}], "failed": [{"file", "error"}], "no_recipient": [file]}``.
    """
    out: dict = {"relay": smtp, "sent": [], "failed": [], "no_recipient": []}
    host, port = parse_smtp(smtp)
    msgs = []
    for rec in receipts:
        to = recipients.get(rec.get("force") or "", recipients.get("default", []))
        if not to:
            out["no_recipient"].append(rec["file"])
            continue
        msg = EmailMessage()
        msg["Subject"] = f"OFFICIAL-SENSITIVE: ingestion receipt for {rec['file']}: {rec['status']}"
        msg["From"], msg["To"] = sender, ", ".join(to)
        c = rec["counts"]
        msg.set_content(
            f"File {rec['file']} (sha256 {rec['sha256']}), {rec['kind']}, received in run {rec['run_id']}.\n"
            f"Status: {rec['status']}. Rows read {c['read']}, accepted {c['accepted']}, rejected {c['rejected']}.\n"
            + "".join(f"Row {e['row']}: {e['code']}: {e['message']}. Required action: {e['required_action']}.\n"
                      for e in rec["errors"])
            + "The receipt and every rejected row with its required action are attached.\n")
        paths = rec.get("paths", {})
        for key, ctype in (("receipt", ("application", "json")), ("errors", ("text", "csv"))):
            if key in paths and Path(paths[key]).exists():
                msg.add_attachment(Path(paths[key]).read_bytes(), maintype=ctype[0], subtype=ctype[1],
                                   filename=Path(paths[key]).name)
        msgs.append((rec["file"], to, msg))
    if not msgs:
        return out
    try:
        with smtplib.SMTP(host, port, timeout=timeout_s) as s:
            s.ehlo()
            if s.has_extn("starttls"):
                s.starttls()
                s.ehlo()
            for name, to, msg in msgs:
                try:
                    s.send_message(msg)
                    out["sent"].append({"file": name, "to": to})
                except smtplib.SMTPException as exc:
                    out["failed"].append({"file": name, "error": f"{type(exc).__name__}: {exc}"})
    except (OSError, smtplib.SMTPException) as exc:  # refused, unreachable, timed out
        done = {m["file"] for m in out["sent"]} | {m["file"] for m in out["failed"]}
        out["failed"] += [{"file": name, "error": f"relay {smtp}: {type(exc).__name__}: {exc}"}
                          for name, _, _ in msgs if name not in done]
    return out


def nightly_receipts(folder: str | Path, files: list[dict], run_id: str, params: dict, say=None) -> dict:
    """The nightly job's receipt step: write every file's receipt, then mail them when a relay is set.

    Returns the part of the run summary that tells what was written and delivered; a relay that
    is down shows up there (``mail.failed``), never as an error.
    """
    if not files:
        return {"written": 0}
    receipts = write_receipts(folder, files, run_id=run_id, received=params.get("as_of", ""))
    summary: dict = {"written": len(receipts), "folder": str(folder),
                     "status": {s: sum(r["status"] == s for r in receipts) for s in RECEIPT_STATUSES}}
    if params.get("smtp"):
        recips = read_recipients(params["smtp_recipients"]) if params.get("smtp_recipients") else {}
        summary["mail"] = deliver_receipts(receipts, params["smtp"], recips)
        if say is not None and summary["mail"]["failed"]:
            say(f"receipts: {len(summary['mail']['failed'])} not mailed through {params['smtp']} "
                "(kept on disk; see the summary)")
    return summary
