"""The local web app (SPEC §5 ``trailmon serve``): crime review, evidence, maps, subjects, trails, audited.

Flask (WSGI) with Jinja2 templates (autoescaped) and local static files only; served by
waitress (``trailmon serve``). :func:`create_app` builds the application; Flask is imported only
then, so ``trailmon users`` and ``trailmon --help`` work without it.
"""

from __future__ import annotations

import importlib

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        return importlib.import_module("trailmon.web.app").create_app
    raise AttributeError(f"module 'trailmon.web' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
