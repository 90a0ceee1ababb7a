"""Exceptions and warnings that trailmon raises on purpose.

Errors are for the call or the file; problems with single rows are data
(:class:`trailmon.io.ReadResult.rejected`), never exceptions.

::

    TrailmonError
     +-- InputError (ValueError)          bad argument or unreadable file layout
     |    +-- TimezoneError               zone-less timestamps and no --tz given
     +-- CRSError                         unknown CRS, point outside the grid of a call
     +-- StoreError                       store missing, corrupt or in use
     |    +-- StoreLockedError            another run holds the store's lock (exit 4)
     +-- AccessRefusedError (PermissionError)   no user / purpose, window over the cap (exit 3)
     +-- AuditTamperedError               the audit hash chain does not verify (exit 5)

    TrailmonWarning (UserWarning)
"""

from __future__ import annotations

__all__ = [
    "AccessRefusedError",
    "AuditTamperedError",
    "CRSError",
    "InputError",
    "StoreError",
    "StoreLockedError",
    "TimezoneError",
    "TrailmonError",
    "TrailmonWarning",
]


class TrailmonError(Exception):
    """Base for errors trailmon raises on purpose."""

    exit_code = 1


class InputError(TrailmonError, ValueError):
    """A bad argument or a file whose layout cannot be read."""


class TimezoneError(InputError):
    """Timestamps carry no UTC offset and no zone was named (``--tz``)."""


class CRSError(TrailmonError):
    """An unknown coordinate reference system or an impossible transformation."""


class StoreError(TrailmonError):
    """The trail store is missing, corrupt or cannot be written."""


class StoreLockedError(StoreError):
    """Another run holds the store's lock."""

    exit_code = 4


class AccessRefusedError(TrailmonError, PermissionError):
    """A consultation without a user or a purpose, or a window beyond the cap."""

    exit_code = 3


class AuditTamperedError(TrailmonError):
    """The audit log's hash chain does not verify."""

    exit_code = 5


class TrailmonWarning(UserWarning):
    """Something the user should fix, though trailmon could go on."""
