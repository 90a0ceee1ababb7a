"""``trailmon users``: add, remove and list the web app's users (STORE/users.json, scrypt hashes)."""

from __future__ import annotations

from pathlib import Path

from trailmon.cli._common import emit


def add_parser(sub) -> None:
    """Register the sub-command."""
    from trailmon.web.auth import ROLES

    p = sub.add_parser(
        "users",
        help="manage the web app's users and roles",
        description="Users of `trailmon serve`, kept in STORE/users.json (owner-only; passwords as salted "
        "scrypt keys). Roles: " + ", ".join(ROLES) + ". Passwords: 12+ characters, not one character "
        "repeated, not a common password. Every change ends that user's web sessions at once and is written "
        "to the audit log.",
    )
    p.add_argument("--store", type=Path, metavar="DIR", help="trail store folder (required)")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    p.add_argument("--debug", action="store_true", help="show tracebacks on error")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    a = actions.add_parser("add", help="add a user (or reset a user's role and password)")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of stdin (else it is asked twice on the terminal)",
    )
    r = actions.add_parser("remove", help="remove a user")
    r.add_argument("name", metavar="NAME")
    actions.add_parser("list", help="list users and roles")
    p.set_defaults(run=run, _parser=p)


def _password(args) -> str:
    import getpass
    import sys

    from trailmon.errors import InputError

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InputError("no terminal to ask the password on: pipe it in with --password-stdin")
    first = getpass.getpass(f"password for {args.name}: ")
    if getpass.getpass("again: ") != first:
        raise InputError("the two passwords differ; nothing was changed")
    return first


def run(args) -> int:
    """Run ``trailmon users``."""
    from trailmon.cli._common import _login
    from trailmon.store import audit
    from trailmon.store.trails import TrailStore
    from trailmon.web.auth import UsersFile, default_users_path

    if args.store is None:
        args._parser.error("the following arguments are required: --store")
    store = TrailStore(args.store)
    users = UsersFile(default_users_path(store.path))
    if args.action == "list":
        rows = users.list()
        lines = [f"{u['name']:24} {u['role']:17} {u['created'] or ''}" for u in rows]
        emit(args, {"users": rows}, lines or ["no users"])
        return 0
    from trailmon.store.cases import default_db_path
    from trailmon.web.sessions import end_user_sessions

    if args.action == "add":
        user = users.add(args.name, args.role, _password(args))
        params = {"name": user.name, "role": user.role}
        line = f"user {user.name} ({user.role}) saved in {users.path}"
    else:
        users.remove(args.name)
        params = {"name": args.name}
        line = f"user {args.name} removed from {users.path}"
    # a new password, a new role or a removal ends every web session of that user at once
    ended = end_user_sessions(default_db_path(store.path), args.name, f"users {args.action}")
    params["sessions_ended"] = ended
    audit.append(
        store.audit_path,
        user=_login(),
        purpose="web app user administration",
        action=f"users {args.action}",
        kind="administration",
        parameters=params,
    )
    emit(args, {"action": args.action, **params, "users_file": str(users.path)}, [line])
    return 0
