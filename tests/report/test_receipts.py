"""Ingestion receipts: every reason code with its required action, the nightly hook, SMTP delivery."""

from __future__ import annotations

import csv
import email
import email.policy
import json
import socket

import pandas as pd
import pytest

from tests.test_nightly import SUBJECTS, crimes_csv, daily_crime, drop, nightly, trail_csv
from trailmon.cli import main
from trailmon.errors import InputError
from trailmon.io.quarantine import REQUIRED_ACTION, ReadResult, RejectReason
from trailmon.report.receipts import ERROR_COLUMNS, deliver_receipts, read_recipients, write_receipts


def _result_with_every_code() -> ReadResult:
    codes = list(RejectReason)
    rejected = pd.DataFrame({
        "file": "f.csv", "row": range(2, 2 + len(codes)), "reason": [c.value for c in codes],
        "detail": ["=HYPERLINK(\"x\")" if k == 0 else f"detail {c.value}" for k, c in enumerate(codes)],
        "values": "{}",
    })
    accepted = pd.DataFrame({"crime_ref": ["=1+1", "K2"], "force": ["Nottinghamshire"] * 2,
                             "batch_id": ["NOT20260720"] * 2,
                             "committed_from": pd.to_datetime(["2026-07-13T12:00:00Z"] * 2, utc=True)})
    return ReadResult(accepted, rejected, len(codes) + 2, ["f.csv"])


def test_receipt_for_every_reason_code(tmp_path):
    res = _result_with_every_code()
    files = [{"name": "crimes-1.csv", "kind": "crimes", "sha256": "ab" * 32, "status": "processed", "result": res}]
    (rec,) = write_receipts(tmp_path / "receipts", files, run_id="nightly-x", received="2026-07-14T06:00:00.000Z")
    assert (rec["status"], rec["force"], rec["batch_id"]) == ("partial", "Nottinghamshire", "NOT20260720")
    assert rec["counts"]["read"] == rec["counts"]["accepted"] + rec["counts"]["rejected"] == len(RejectReason) + 2
    assert rec["counts"]["rejected_by_code"] == {c.value: 1 for c in RejectReason}
    assert len(rec["errors"]) == 5 and rec["errors"][0]["required_action"] == REQUIRED_ACTION[RejectReason(
        rec["errors"][0]["code"])]
    on_disk = json.loads((tmp_path / "receipts" / "crimes-1.csv.receipt.json").read_text())
    assert {k: on_disk[k] for k in ("file", "sha256", "kind", "force", "batch_id", "status")} == {
        "file": "crimes-1.csv", "sha256": "ab" * 32, "kind": "crimes", "force": "Nottinghamshire",
        "batch_id": "NOT20260720", "status": "partial"}
    with open(tmp_path / "receipts" / "crimes-1.csv.errors.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ERROR_COLUMNS
    got = {r[1]: r for r in rows[1:]}
    assert set(got) == {c.value for c in RejectReason}
    for code, r in got.items():
        assert r[3] == REQUIRED_ACTION[RejectReason(code)]
    assert got[list(RejectReason)[0].value][2].startswith("'=")  # spreadsheet-safe cell
    acc = (tmp_path / "receipts" / "crimes-1.csv.accepted.csv").read_text()
    assert "'=1+1" in acc and "2026-07-13T12:00:00.000Z" in acc
    for p in (tmp_path / "receipts").iterdir():
        assert (p.stat().st_mode & 0o777) == 0o600
    assert ((tmp_path / "receipts").stat().st_mode & 0o777) == 0o700


def test_receipt_statuses(tmp_path):
    ok = ReadResult(pd.DataFrame({"a": [1]}), pd.DataFrame(columns=["file", "row", "reason", "detail", "values"]), 1)
    bad = ReadResult(pd.DataFrame({"a": []}), pd.DataFrame({"file": ["f"], "row": [2], "reason": ["BAD_TIMESTAMP"],
                                                           "detail": ["x"], "values": ["{}"]}), 1)
    files = [
        {"name": "a.csv", "kind": "trails", "sha256": "1" * 64, "status": "processed", "result": ok},
        {"name": "b.csv", "kind": "trails", "sha256": "2" * 64, "status": "processed", "result": bad},
        {"name": "c.csv", "kind": "crimes", "sha256": "3" * 64, "status": "quarantined",
         "reason": "InputError: not a crimes file"},
    ]
    recs = write_receipts(tmp_path, files, run_id="r", received="t")
    assert [r["status"] for r in recs] == ["ingested", "failed", "failed"]
    assert recs[2]["errors"][0]["code"] == "UNREADABLE_FILE" and "not a crimes file" in recs[2]["errors"][0]["message"]


@pytest.fixture
def inbox(tmp_path):
    bad = crimes_csv([daily_crime(1)]) + "K9,TFP,not-a-number,1,2026-07-14T12:00:00Z,2026-07-14T12:05:00Z,100\n"
    drop(tmp_path / "inbox", [
        ("subjects", "s.csv", SUBJECTS),
        ("trails", "d1.csv", trail_csv(1)),
        ("crimes", "c.csv", bad),
        ("crimes", "junk.csv", "nothing,to,see\n1,2,3\n"),
    ])
    return tmp_path


def test_nightly_writes_a_receipt_per_file(inbox):
    s = nightly(inbox, 1)
    folder = inbox / "out" / s["day"] / "receipts"
    assert s["receipts"]["written"] == 4
    names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".receipt.json"))
    assert names == ["c.csv.receipt.json", "d1.csv.receipt.json", "junk.csv.receipt.json", "s.csv.receipt.json"]
    c = json.loads((folder / "c.csv.receipt.json").read_text())
    assert c["status"] == "partial" and c["counts"]["rejected_by_code"] == {"BAD_COORDINATE": 1}
    assert c["errors"][0]["row"] == 2 and c["errors"][0]["required_action"] == REQUIRED_ACTION[
        RejectReason.BAD_COORDINATE]
    assert json.loads((folder / "junk.csv.receipt.json").read_text())["status"] == "failed"
    assert json.loads((folder / "d1.csv.receipt.json").read_text())["status"] == "ingested"
    assert len(pd.read_csv(folder / "d1.csv.accepted.csv")) == 3 * 121
    # a re-run reads nothing new and writes no receipt
    assert nightly(inbox, 1)["receipts"] == {"written": 0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_receipts_mailed_through_a_local_relay(inbox):
    aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd (test extra) is not installed")

    got = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            got.append((envelope.rcpt_tos, envelope.content))
            return "250 OK"

    port = _free_port()
    ctl = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        (inbox / "to.json").write_text(json.dumps({"default": ["hub@example.internal"]}))
        code = main(["nightly", "--store", str(inbox / "store"), "--inbox", str(inbox / "inbox"), "--out",
                     str(inbox / "out"), "--as-of", "2026-07-14T06:00:00Z", "--smtp", f"127.0.0.1:{port}",
                     "--smtp-recipients", str(inbox / "to.json"), "--settle", "0", "--json"])
    finally:
        ctl.stop()
    assert code == 0
    assert len(got) == 4 and all(to == ["hub@example.internal"] for to, _ in got)
    msgs = [email.message_from_bytes(c, policy=email.policy.default) for _, c in got]
    crimes = next(m for m in msgs if "c.csv" in m["Subject"])
    assert "partial" in crimes["Subject"]
    names = sorted(p.get_filename() for p in crimes.iter_attachments())
    assert names == ["c.csv.errors.csv", "c.csv.receipt.json"]  # never the accepted rows (positions)


def test_relay_down_never_fails_the_run(inbox, capsys):
    port = _free_port()  # nothing listens there
    (inbox / "to.json").write_text(json.dumps({"default": ["hub@example.internal"]}))
    code = main(["nightly", "--store", str(inbox / "store"), "--inbox", str(inbox / "inbox"), "--out",
                 str(inbox / "out"), "--as-of", "2026-07-14T06:00:00Z", "--smtp", f"127.0.0.1:{port}",
                 "--smtp-recipients", str(inbox / "to.json"), "--settle", "0", "--json"])
    s = json.loads(capsys.readouterr().out)
    assert code == 0 and s["status"] == "done"
    mail = s["receipts"]["mail"]
    assert mail["sent"] == [] and len(mail["failed"]) == 4
    assert all(f["error"].startswith(f"relay 127.0.0.1:{port}: ") for f in mail["failed"])
    assert len(list((inbox / "out" / s["day"] / "receipts").glob("*.receipt.json"))) == 4


def test_bad_smtp_settings(tmp_path, capsys):
    with pytest.raises(InputError, match="--smtp must be HOST:PORT"):
        deliver_receipts([], "relay.internal", {})
    (tmp_path / "r.json").write_text('{"Nottinghamshire": "not-a-list"}')
    with pytest.raises(InputError, match="must map each force"):
        read_recipients(tmp_path / "r.json")
