"""The web app's pages, one Flask blueprint per area (registered by :func:`trailmon.web.app.create_app`)."""

from __future__ import annotations

from trailmon.web.views import audit, cohort, crimes, export, pack, police, series, session, subjects, trail

BLUEPRINTS = (session.bp, crimes.bp, pack.bp, police.bp, subjects.bp, trail.bp, cohort.bp, export.bp, audit.bp,
              series.bp)
"""Every blueprint of the app, in registration order."""

__all__ = ["BLUEPRINTS"]
