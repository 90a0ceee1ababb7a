"""The hash-chained audit log: every change, removal or insertion is found."""

from __future__ import annotations

import json

import pytest

from trailmon.errors import AccessRefusedError, AuditTamperedError
from trailmon.store import audit


@pytest.fixture
def log(tmp_path):
    path = tmp_path / "audit.jsonl"
    for k in range(4):
        audit.append(path, user=f"u{k}", purpose="test", action="proximity", parameters={"k": k},
                     subjects=["S2", "S1"], counts={"hits": k})
    return path


def test_chain_verifies_and_links(log):
    assert audit.verify(log) == 4
    es = audit.entries(log)
    assert [e["seq"] for e in es] == [1, 2, 3, 4]
    assert es[0]["prev"] == audit.GENESIS and all(b["prev"] == a["hash"] for a, b in zip(es, es[1:], strict=False))
    assert es[0]["subjects"] == ["S1", "S2"]


def _rewrite(path, lines):
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in lines))


@pytest.mark.parametrize(("tamper", "message"), [
    (lambda es: es[1].update(user="someone else") or es, "line 2 .* was changed"),  # edited field
    (lambda es: es[:1] + es[2:], "line 2 does not link"),                             # removed entry
    (lambda es: es[:2] + [dict(es[1])] + es[2:], "line 3 does not link"),              # duplicated / inserted
    (lambda es: es[:3], "holds 3 entries but the audit.head records 4 entries"),      # truncated tail (SPEC §9)
])
def test_tampering_detected(log, tamper, message):
    _rewrite(log, tamper(audit.entries(log)))
    with pytest.raises(AuditTamperedError, match=message):
        audit.verify(log)


def test_garbage_line_detected(log):
    log.write_text(log.read_text() + "not json\n")
    with pytest.raises(AuditTamperedError, match="line 5 is not JSON"):
        audit.verify(log)


@pytest.mark.parametrize(("user", "purpose", "missing"), [
    (None, "why", "--user"), ("me", "", "--purpose"), ("  ", None, "--user and --purpose")])
def test_identity_required(user, purpose, missing):
    with pytest.raises(AccessRefusedError, match=f"with {missing}"):
        audit.require_identity(user, purpose, action="trail")


@pytest.mark.parametrize("block", [1, 7, 64, 65536])
def test_last_line_is_read_backwards_from_the_end(tmp_path, block):
    from trailmon.store.audit import _last_line

    p = tmp_path / "log"
    p.write_bytes(b'{"seq": 1}\n{"seq": 2}\n\n{"seq": 30}\n\n')
    with open(p, "rb") as f:
        assert _last_line(f, block) == b'{"seq": 30}'
    p.write_bytes(b"")
    with open(p, "rb") as f:
        assert _last_line(f, block) is None
    p.write_bytes(b'{"seq": 1}')  # no newline at the end
    with open(p, "rb") as f:
        assert _last_line(f, block) == b'{"seq": 1}'
