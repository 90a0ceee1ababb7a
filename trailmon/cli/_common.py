"""Options and helpers shared by the sub-commands."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from trailmon.errors import InputError

if TYPE_CHECKING:
    import pandas as pd


def common(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add ``--json`` and ``--debug``."""
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on error")
    return parser


def add_store(parser: argparse.ArgumentParser) -> None:
    """``--store DIR``."""
    parser.add_argument("--store", required=True, type=Path, metavar="DIR", help="trail store folder")


def add_identity(parser: argparse.ArgumentParser, *, required: bool) -> None:
    """``--user`` and ``--purpose`` (checked by the command, so a refusal exits 3, not 2)."""
    how = "required" if required else "default: the login name / 'compliance monitoring'"
    parser.add_argument("--user", metavar="U", help=f"who consults the data ({how})")
    parser.add_argument("--purpose", metavar="TEXT", help=f"why ({how})")


def add_base_layer_args(parser: argparse.ArgumentParser) -> None:
    """``--tiles URL`` and ``--basemap FILE`` (defaults ``$TRAILMON_TILES``, ``$TRAILMON_BASEMAP``)."""
    parser.add_argument("--tiles", metavar="URL",
                        help="XYZ tile template, e.g. https://tiles.example.internal/{z}/{x}/{y}.png (the browser "
                        "fetches tiles from it when the map is viewed; default $TRAILMON_TILES, else none)")
    parser.add_argument("--basemap", metavar="FILE",
                        help="offline vector base map (GeoPackage, GeoJSON or Shapefile of roads, buildings, "
                        "water; any CRS) drawn beneath the tracks (default $TRAILMON_BASEMAP, else none)")


def add_engine(parser: argparse.ArgumentParser) -> None:
    """``--engine {local,dask}``, ``--scheduler ADDR``, ``--workers N``."""
    parser.add_argument("--engine", choices=("local", "dask"), default="local",
                        help="run here (local, default) or on Dask over the store's day partitions")
    parser.add_argument("--scheduler", metavar="ADDR", help="with --engine dask: join this Dask scheduler")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="with --engine dask: local worker processes (default 2)")


def add_accuracy_rule(parser: argparse.ArgumentParser) -> None:
    """``--max-gap S`` and ``--max-accuracy M`` of attendance and zones."""
    parser.add_argument("--max-gap", type=float, default=600.0, metavar="S",
                        help="longest gap still interpolated, seconds (default 600)")
    parser.add_argument("--max-accuracy", type=float, default=100.0, metavar="M",
                        help="fixes less accurate than this are set aside, metres (default 100)")


def parse_period(args) -> tuple[str | None, pd.Timestamp, pd.Timestamp]:
    """``(tz, from, to)`` of ``--tz``, ``--from`` and ``--to`` (UTC); an end before the start is an error."""
    from trailmon.io._time import check_tz, parse_instant

    tz = check_tz(args.tz)
    t1 = parse_instant(args.t_from, tz, what="--from")
    t2 = parse_instant(args.t_to, tz, what="--to")
    if t2 < t1:
        raise InputError(f"--to ({args.t_to}) is before --from ({args.t_from})")
    return tz, t1, t2


def check_positive_options(args, **units: str) -> None:
    """Raise :class:`InputError` unless each named option, where given, is > 0 (``radius="metres"``: ``--radius``)."""
    for name, unit in units.items():
        value = getattr(args, name)
        if value is not None and not value > 0:
            raise InputError(f"--{name.replace('_', '-')} must be > 0 {unit}, got {value!r}")


def compliance_identity(args) -> tuple[str, str]:
    """User and purpose for attendance and zones: defaults of SPEC §5."""
    user = args.user or _login()
    purpose = args.purpose or "compliance monitoring"
    return user, purpose


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def emit(args, obj: dict, lines: list[str]) -> None:
    """The ``--json`` object, or human lines, on stdout."""
    if args.json:
        print(json.dumps(obj, default=str))
    else:
        for line in lines:
            print(line)


def stderr_console():
    """A rich console on stderr (progress, notes)."""
    from rich.console import Console

    return Console(stderr=True)


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True):
    """A rich progress bar on stderr; yields ``advance(n=1)``."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr_console(), transient=True) as prog:
        task = prog.add_task(description, total=total)
        yield lambda n=1: prog.advance(task, n)


def parse_duration_s(text: str) -> float:
    """``90d``, ``12h``, ``30m``, ``45s`` or ISO 8601 (``P90D``, ``PT12H``) to seconds."""
    import re

    import pandas as pd

    t = str(text).strip()
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([dhms])", t, flags=re.I)
    if m:
        return float(m.group(1)) * {"d": 86400, "h": 3600, "m": 60, "s": 1}[m.group(2).lower()]
    try:
        return pd.Timedelta(t).total_seconds()
    except ValueError as exc:
        raise InputError(f"duration {text!r} not understood; use 90d, 12h, 30m or ISO 8601 such as P90D") from exc


def stdout_is_tty() -> bool:
    """True when stdout is a terminal."""
    return sys.stdout.isatty()
