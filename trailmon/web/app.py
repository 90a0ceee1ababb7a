"""The web app: crime search, review, evidence, maps, subjects, trails, exports and the audit log.

:func:`create_app` builds a Flask (WSGI) application over one trail store and its case-record
database. It calls the same functions as the CLI (``CaseStore.review`` as ``trailmon review``
does, the case records and writers of ``trailmon export``, ``trail_frame`` and the 48 h cap of
``trailmon trail``, the folium maps of ``trailmon map``) and writes the same hash-chained audit
log. Every page checks, in this order: a signed-in session (else the sign-in page), the user's
role against :data:`trailmon.web.auth.PERMISSIONS` (else 403), a stated purpose (else the purpose
page; trail views and exports ask for one each time), and on every POST a per-session CSRF
token (else 400). Every view of location data and every action appends an audit entry with the
user, the purpose, the parameters (``interface: web``), the subjects and the counts shown.

Sessions live on the server (:mod:`trailmon.web.sessions`, a table of the case store): the
cookie (``HttpOnly``, ``SameSite=Strict``, signed with a secret kept in ``STORE/web_secret``, 0600,
made on first use) holds only a random session id. Requests whose ``Host`` is not one of the
app's names are refused. Pages carry a Content Security Policy without scripts; maps are served
as self-contained HTML (Leaflet inlined from local copies, no CDN) with a hash-based script
policy and ``sandbox allow-scripts``, inside sandboxed iframes. The pages themselves live in one
blueprint per area (:mod:`trailmon.web.views`); :func:`create_app` only wires them.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask, Response, abort, g, render_template, request, session
from itsdangerous import URLSafeTimedSerializer
from werkzeug.exceptions import HTTPException

from trailmon.errors import InputError, TrailmonError
from trailmon.report.writers import MARKING
from trailmon.store.cases import default_db_path
from trailmon.store.trails import TrailStore
from trailmon.web._request import (
    _STATUS,
    _TITLES,
    APP_CSP,
    DEFAULT_HOST_NAMES,
    MAX_CONTENT_BYTES,
    MAX_FIELD,
    SESSION_HOURS,
    _secret_for,
)
from trailmon.web.auth import ROLES, UsersFile, allowed, default_users_path

__all__ = ["MAX_FIELD", "SESSION_HOURS", "create_app"]


def create_app(
    store: str | Path,
    *,
    db: str | Path | None = None,
    users_file: str | Path | None = None,
    secret: str | bytes | None = None,
    secure_cookies: bool = False,
    host_names: tuple[str, ...] | list[str] | None = None,
    trust_proxy: bool = False,
    tiles: str | None = None,
    basemap: str | Path | None = None,
) -> Flask:
    """The trailmon web app over one store.

    Parameters
    ----------
    store : str or Path
        The trail store folder (its ``audit.jsonl`` receives every audit entry).
    db : str or Path, optional
        The case-record database (default ``STORE/cases.sqlite``).
    users_file : str or Path, optional
        The users file (default ``STORE/users.json``, managed with ``trailmon users``).
    secret : str or bytes, optional
        The key that signs session cookies; default: ``STORE/web_secret`` (made when absent).
    secure_cookies : bool, default False
        Mark the session cookie ``Secure`` (sent over HTTPS only): set it behind a TLS proxy.
    host_names : sequence of str, optional
        The only ``Host`` names answered (any port); others get 400, which defeats DNS rebinding.
        Default :data:`~trailmon.web._request.DEFAULT_HOST_NAMES` (the loopback names).
    trust_proxy : bool, default False
        Take the client address and scheme from one reverse proxy's ``X-Forwarded-For`` and
        ``X-Forwarded-Proto`` (set it only when a proxy on this machine is the only way in): sign-in
        throttling then counts per real client instead of per proxy.
    tiles : str, optional
        An XYZ tile URL template drawn beneath every map of the app; the maps' Content Security
        Policy then allows images from exactly that origin (:func:`~trailmon.map.basemap.tile_origin`).
    basemap : str or Path, optional
        An offline vector base map (GeoPackage, GeoJSON, Shapefile) drawn beneath every map and
        into evidence packs (:func:`~trailmon.map.basemap.read_basemap`, read once here).

    Returns
    -------
    flask.Flask
        A WSGI application; serve it with waitress (``trailmon serve``) or use its test client.

    Raises
    ------
    StoreError
        When there is no trail store at ``store``.

    Examples
    --------
    >>> import tempfile
    >>> from trailmon.store.trails import TrailStore
    >>> folder = tempfile.mkdtemp()
    >>> _ = TrailStore(folder, create=True)
    >>> app = create_app(folder, secret="x" * 32)
    >>> app.test_client().get("/crimes").status_code   # no session: to the sign-in page
    302
    """
    from trailmon.web.views import BLUEPRINTS

    tstore = TrailStore(store)
    store_path = tstore.path
    db_path = Path(db) if db is not None else default_db_path(store_path)
    users = UsersFile(users_file if users_file is not None else default_users_path(store_path))
    key = secret if secret is not None else _secret_for(store_path)
    if isinstance(key, str):
        key = key.encode()
    if len(key) < 16:
        raise InputError(f"secret must be at least 16 bytes, got {len(key)}")

    from trailmon.map.basemap import check_tiles, read_basemap

    tiles = check_tiles(tiles) if tiles else None
    base = read_basemap(basemap, crs=tstore.crs) if basemap else None

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=key,
        SESSION_COOKIE_NAME="trailmon_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_SECURE=bool(secure_cookies),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=SESSION_HOURS),
        MAX_CONTENT_LENGTH=MAX_CONTENT_BYTES,
        MAX_FORM_MEMORY_SIZE=MAX_CONTENT_BYTES,
        MAX_FORM_PARTS=100,
    )
    app.jinja_env.autoescape = True
    app.jinja_env.globals.update(MARKING=MARKING, allowed=allowed, ROLES=ROLES)
    app.extensions["trailmon"] = {
        "store": store_path,
        "db": db_path,
        "users": users,
        "map_tokens": URLSafeTimedSerializer(key, salt="trailmon-trail-map"),
        "tiles": tiles,
        "basemap": base,
    }
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    allowed_hosts = {h.strip().lower().strip("[]") for h in (host_names or DEFAULT_HOST_NAMES) if h.strip()}
    if trust_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1)

    @app.before_request
    def check_host():
        host = request.host.lower()
        name = host[1 : host.index("]")] if host.startswith("[") and "]" in host else host.rsplit(":", 1)[0]
        if name not in allowed_hosts:
            abort(
                400,
                description=f"this app does not answer to the host name {name[:60]!r}; "
                "start it with --host-name for each name it is reached by",
            )

    @app.before_request
    def check_csrf():
        session.permanent = True
        if "csrf" not in session:
            session["csrf"] = secrets.token_urlsafe(32)
        g.user = None
        if request.method == "POST":
            sent = request.form.get("csrf_token", "")
            if not (sent and hmac.compare_digest(sent, session["csrf"])):
                abort(
                    400,
                    description="the form's CSRF token is missing or wrong; reload the page and try again",
                )

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", APP_CSP)
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if request.endpoint != "static":
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(TrailmonError)
    def trailmon_error(exc: TrailmonError):
        code = next((c for cls, c in _STATUS.items() if isinstance(exc, cls)), 500)
        return render_template("error.html", code=code, title=_TITLES.get(code, "Error"), message=str(exc)), code

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = exc.description
        if exc.code == 413:
            message = f"the request is too large: at most {MAX_CONTENT_BYTES // 1024} KiB"
        return render_template("error.html", code=exc.code, title=exc.name, message=message), exc.code

    @app.context_processor
    def inject():
        return {
            "user": g.get("user"),
            "purpose": session.get("purpose"),
            "csrf_token": session.get("csrf", ""),
        }

    return app
