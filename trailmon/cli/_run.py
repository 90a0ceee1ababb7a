"""Run helpers for the sub-commands (they live in :mod:`trailmon.report.runs`)."""

from trailmon.report.runs import audit_run, counts, quarantine_rejects, run_id, time_span

__all__ = ["audit_run", "counts", "quarantine_rejects", "run_id", "time_span"]
