"""Readers for every input of SPEC §2; each returns a :class:`ReadResult`."""

from trailmon.io.quarantine import ReadResult, RejectReason

__all__ = ["ReadResult", "RejectReason"]
