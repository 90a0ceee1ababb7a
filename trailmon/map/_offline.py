"""Self-contained map HTML: every script and stylesheet inlined from local copies (SPEC §4).

folium renders ``<script src="https://…">`` and ``<link rel="stylesheet" href="https://…">``
tags that point at CDNs; a map must open with no network. The folium and branca packages
ship none of those files, so the local copies come from the ``folium-offline`` package
(module ``offlinefolium``), which carries the exact CDN files of folium 0.20 (Leaflet 1.9.3
with its images as data URIs) in a dict keyed by the CDN URL. :func:`offline_html` replaces
each tag by the file's content; a tag whose URL has no local copy is an error, never a silent
network fetch.

With ``lean=True`` (the default for trailmon's maps) the assets that trailmon's maps never use
(Bootstrap, Font Awesome, Leaflet.awesome-markers: only folium's ``Icon`` markers need them)
are dropped instead of inlined, which keeps a small map near 300 kB instead of 1.5 MB.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

from trailmon.errors import InputError

__all__ = ["map_csp", "offline_html", "save_map", "with_csp"]

LEAN_DROPPED = ("bootstrap", "fontawesome", "awesome-markers", "awesome.rotate")
"""Substrings of asset URLs that ``lean=True`` drops: used only by folium ``Icon`` markers and plugins.

jQuery stays: folium builds popup content with ``$``."""

_SCRIPT = re.compile(r"""<script\b[^>]*\bsrc\s*=\s*["']([^"']+)["'][^>]*>\s*</script>""", re.I)
_LINK = re.compile(r"""<link\b[^>]*\bhref\s*=\s*["']([^"']+)["'][^>]*/?>""", re.I)
_EXTERNAL = re.compile(r"^(?:https?:)?//", re.I)
_INLINE_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script", re.I | re.S)
_TILE_URL = re.compile(r"""L\.tileLayer\(\s*["']((?:https?:)?//[^"'/]+)""", re.I)
_CSP_META = re.compile(r"<meta http-equiv=\"Content-Security-Policy\"[^>]*>\n?", re.I)


def _assets() -> dict[str, str]:
    try:
        from offlinefolium.elements import _res  # the CDN files of folium 0.20, keyed by URL
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise InputError(
            "maps need the folium-offline package for their local Leaflet copies; "
            "install it with `pip install folium-offline`"
        ) from exc
    return _res


def map_csp(html: str) -> str:
    """The Content Security Policy of a self-contained map page (SPEC §9).

    Scripts run only when they are one of the page's own inline scripts, each allowed by its
    SHA-256 hash: a script element or event-handler attribute that hostile text managed to add
    would not run. Nothing is fetched (``default-src 'none'``) except images from the origins
    of the page's tile layers, when it has any; styles may be inline (folium and Leaflet use
    style attributes); no form, no ``<base>``.

    Examples
    --------
    >>> print(map_csp("<script>var a = 1;</script>"))  # doctest: +NORMALIZE_WHITESPACE
    default-src 'none'; script-src 'sha256-...'; style-src 'unsafe-inline';
    img-src data:; font-src data:; base-uri 'none'; form-action 'none'
    """
    hashes = []
    for body in _INLINE_SCRIPT.findall(html):
        body = body.replace("\r\n", "\n").replace("\r", "\n")  # as the HTML parser reads it
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        if f"'sha256-{digest}'" not in hashes:
            hashes.append(f"'sha256-{digest}'")
    tiles = []
    for origin in _TILE_URL.findall(html):
        origin = ("https:" + origin if origin.startswith("//") else origin).replace("{s}", "*")
        if re.fullmatch(r"https?://[A-Za-z0-9.*:-]+(?::\d+)?", origin) and origin not in tiles:
            tiles.append(origin)
    return (
        f"default-src 'none'; script-src {' '.join(hashes) or chr(39) + 'none' + chr(39)}; "
        f"style-src 'unsafe-inline'; img-src data:{''.join(' ' + o for o in tiles)}; font-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


def with_csp(html: str) -> str:
    """The page with its :func:`map_csp` as a ``<meta http-equiv>`` at the top of ``<head>``.

    A policy already there (from an earlier call) is replaced, so the hashes match the scripts.
    """
    html = _CSP_META.sub("", html)
    meta = f'<meta http-equiv="Content-Security-Policy" content="{map_csp(html)}">\n'
    charset = re.search(r"<meta[^>]*charset[^>]*>\s*", html, re.I)
    head = re.search(r"<head\b[^>]*>\s*", html, re.I)
    at = charset.end() if charset else head.end() if head else 0
    return html[:at] + meta + html[at:]


def offline_html(html: str, *, lean: bool = True) -> str:
    """Inline every external ``<script src>`` and stylesheet ``<link href>`` of a rendered page.

    Parameters
    ----------
    html : str
        A rendered page (``folium.Map.get_root().render()``).
    lean : bool, default True
        Drop the assets listed in :data:`LEAN_DROPPED` (not used by trailmon's maps) instead
        of inlining them.

    Returns
    -------
    str
        The page with no ``http(s)://`` script or stylesheet reference left, carrying its
        Content Security Policy (:func:`with_csp`).

    Raises
    ------
    InputError
        When a referenced script or stylesheet has no local copy.
    """
    assets = _assets()

    def content(url: str) -> str | None:
        key = "https:" + url if url.startswith("//") else url
        if lean and any(s in key.lower() for s in LEAN_DROPPED):
            return None
        if key not in assets:
            raise InputError(
                f"no local copy of {url!r} to inline; a map must render offline, so use only "
                "folium elements whose assets folium-offline ships"
            )
        return assets[key]

    def script(m: re.Match) -> str:
        if not _EXTERNAL.match(m.group(1)):
            return m.group(0)
        body = content(m.group(1))
        if body is None:
            return ""
        return "<script>" + body.replace("</script", "<\\/script") + "</script>"

    def link(m: re.Match) -> str:
        tag, url = m.group(0), m.group(1)
        if not _EXTERNAL.match(url) or "stylesheet" not in tag.lower():
            return tag
        body = content(url)
        if body is None:
            return ""
        return "<style>" + body.replace("</style", "<\\/style") + "</style>"

    return with_csp(_LINK.sub(link, _SCRIPT.sub(script, html)))


def save_map(m, path: str | Path, *, lean: bool = True) -> Path:
    """Write a folium map as one self-contained HTML file (owner-only, written atomically).

    Parameters
    ----------
    m : folium.Map
        The map, e.g. from :func:`trailmon.map.subject_map` or :func:`trailmon.map.crime_map`.
    path : str or Path
        The ``.html`` file to write.
    lean : bool, default True
        Drop assets that trailmon's maps do not use (see :func:`offline_html`).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputError
        When ``path`` does not end in ``.html``/``.htm`` or an asset has no local copy.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"a map is written as HTML; path must end in .html, got {str(path)!r}")
    html = offline_html(m.get_root().render(), lean=lean)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, html.encode("utf-8"))
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` owner-only (0600) through a temporary file and a rename.

    Maps sit below the store in the layering, so they do not use the store's own helper.
    """
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
