"""Storage: the trail store, the case-record database and the audit log."""
