"""``trailmon serve``: the web app on this machine (waitress; loopback unless --allow-remote)."""

from __future__ import annotations

import argparse
from pathlib import Path

from trailmon.cli._common import add_store

LOOPBACK_NAMES = ("localhost",)


def add_parser(sub) -> None:
    """Register the sub-command."""
    p = sub.add_parser(
        "serve",
        help="serve the web app (crime review, evidence, maps, audit) on this machine",
        description="Serves the web app with waitress on --host:--port (127.0.0.1:8765 by default). "
        "Binding to any address other than loopback needs --allow-remote and prints a warning: "
        "put a TLS reverse proxy in front and add --secure-cookies. Users come from "
        "STORE/users.json (`trailmon users add NAME --role ROLE`).",
    )
    add_store(p)
    p.add_argument("--db", type=Path, metavar="F", help="case-record database (default STORE/cases.sqlite)")
    p.add_argument("--host", default="127.0.0.1", metavar="ADDR", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8765, metavar="N", help="port (default 8765)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow binding to a non-loopback address (other machines can then reach it)",
    )
    p.add_argument(
        "--secure-cookies",
        action="store_true",
        help="send the session cookie over HTTPS only (set this behind a TLS reverse proxy)",
    )
    p.add_argument(
        "--host-name",
        action="append",
        default=None,
        metavar="NAME",
        help="a host name the app answers to (repeatable; default localhost, 127.0.0.1, ::1); requests "
        "with any other Host header are refused, which defeats DNS rebinding",
    )
    p.add_argument(
        "--trust-proxy",
        action="store_true",
        help="take the client address from one reverse proxy's X-Forwarded-For (only when that proxy is "
        "the only way in): sign-in throttling then counts per real client",
    )
    p.add_argument(
        "--tiles",
        metavar="URL",
        default=None,
        help="XYZ tile URL template drawn beneath the app's maps (default $TRAILMON_TILES); the maps' "
        "Content Security Policy then allows images from exactly that origin",
    )
    p.add_argument(
        "--basemap",
        metavar="FILE",
        default=None,
        help="offline vector base map (GeoPackage, GeoJSON, Shapefile) drawn beneath the app's maps and "
        "evidence packs (default $TRAILMON_BASEMAP)",
    )
    p.add_argument("--threads", type=int, default=4, metavar="N", help="worker threads (default 4)")
    p.add_argument("--debug", action="store_true", help="show tracebacks on error")
    p.set_defaults(run=run, _parser=p)


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    import ipaddress

    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(args: argparse.Namespace) -> None:
    """Refuse a non-loopback ``--host`` without ``--allow-remote``; warn on stderr with it."""
    import sys

    from trailmon.errors import InputError

    if not 0 < args.port < 65536:
        raise InputError(f"--port must be 1-65535, got {args.port!r}")
    if not 1 <= args.threads <= 64:
        raise InputError(f"--threads must be 1-64, got {args.threads!r}")
    if is_loopback(args.host):
        return
    if not args.allow_remote:
        raise InputError(
            f"--host {args.host!r} is not a loopback address: other machines could reach the app. "
            "Give --allow-remote to do so on purpose (behind a TLS reverse proxy), or keep 127.0.0.1"
        )
    print(
        f"warning: serving on {args.host}:{args.port}, reachable from other machines; put a TLS reverse "
        "proxy in front, restrict who can reach it, and use --secure-cookies",
        file=sys.stderr,
    )


def run(args) -> int:
    """Run ``trailmon serve``."""
    import sys

    from trailmon.errors import InputError
    from trailmon.web.auth import UsersFile, default_users_path

    check_bind(args)
    try:
        import waitress
    except ImportError as exc:
        raise InputError("trailmon serve needs waitress and flask: pip install 'trailmon[web]'") from exc
    from trailmon.map.basemap import resolve_base_layers
    from trailmon.web import create_app

    tiles, basemap = resolve_base_layers(args.tiles, args.basemap)
    app = create_app(
        args.store,
        db=args.db,
        secure_cookies=args.secure_cookies,
        host_names=args.host_name,
        trust_proxy=args.trust_proxy,
        tiles=tiles,
        basemap=basemap,
    )
    if not UsersFile(default_users_path(args.store)).list():
        print(
            f"warning: no users yet; add one with `trailmon users --store {args.store} add NAME --role ROLE`",
            file=sys.stderr,
        )
    print(f"trailmon web app on http://{args.host}:{args.port}/ (Ctrl+C stops it)", file=sys.stderr)
    waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="trailmon")
    return 0
