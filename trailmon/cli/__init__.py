"""The ``trailmon`` command: argparse sub-commands, one module each (SPEC §5).

Exit codes: 0 done (rejected rows are data), 1 error, 2 usage, 3 access refused,
4 store locked, 5 audit tampering found. Errors print one line ``error: …`` on stderr; the
traceback only with ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback

from trailmon import __version__

# A command allocates and drops arrays of hundreds of MB. numpy's transparent-huge-page hint makes a
# page fault compact memory first where the kernel's THP defrag is "madvise" (the common default):
# 1.3-3 s of system time per national-day command, measured. The command turns the hint off, unless
# the user set NUMPY_MADVISE_HUGEPAGE (numpy reads it once, when first imported: here, after this).
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

__all__ = ["console", "main"]

COMMANDS = ["ingest", "proximity", "trail", "attendance", "zones", "audit", "purge", "demo", "nightly", "review",
            "export", "map", "report", "serve", "users", "status", "series", "associations"]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command."""
    parser = argparse.ArgumentParser(
        prog="trailmon",
        description="Exact crime-scene proximity and appointment attendance from GPS tag trails.",
    )
    parser.add_argument("--version", action="version", version=f"trailmon {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"trailmon.cli.{name}").add_parser(sub)
    return parser


_GLIBC_MALLOC_ENV = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_",
                     "GLIBC_TUNABLES")


def keep_freed_memory() -> bool:
    """Let glibc keep freed blocks in the heap for reuse instead of unmapping them; True when set.

    A batch command allocates and drops arrays of tens to hundreds of MB many times over. By default
    glibc maps each such block afresh and unmaps it on free, so every new array page-faults its memory
    in again: 0.5-1 s of system time on a national day. With ``mallopt`` (no ``mmap`` for blocks, no
    trimming of the heap's top below 2 GiB, 256 MiB of padding per heap growth) the freed pages are
    reused. A short-lived command's peak memory grows a little (measured +4 %); a long-running server
    keeps the default. Nothing is set where the C library has no ``mallopt`` or the user chose
    glibc's malloc settings through the environment.
    """
    if not sys.platform.startswith("linux") or any(k in os.environ for k in _GLIBC_MALLOC_ENV):
        return False
    import ctypes

    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_max = -1, -2, -4  # <malloc.h>
    return bool(mallopt(m_mmap_max, 0) and mallopt(m_trim_threshold, 2**31 - 1) and mallopt(m_top_pad, 256 << 20))


def console() -> None:
    """The ``trailmon`` command as a process (console script, ``python -m trailmon``): :func:`main`, then exit.

    A batch command (every one but ``serve``) first tunes its process: glibc keeps freed memory for
    reuse (:func:`keep_freed_memory`) and Python's cycle collector runs less often (thresholds
    50,000 / 50 / 100 instead of 700 / 10 / 10: 5 collections instead of ~390 in a national-day
    ``proximity``, 0.08 s). When the command is done, every output has been written, fsynced and
    closed; the exit handlers run and the streams are flushed, then the process ends at once
    (``os._exit``) instead of tearing down the interpreter object by object: measured 0.15-0.2 s
    for the gigabytes of arrays and modules a national-day command ends with, memory the operating
    system takes back anyway.
    """
    import atexit
    import gc

    batch = len(sys.argv) < 2 or sys.argv[1] != "serve"
    if batch:
        keep_freed_memory()
        gc.set_threshold(50_000, 50, 100)
    code = main()
    if not batch:
        raise SystemExit(code)
    run_exit_handlers = getattr(atexit, "_run_exitfuncs", None)
    if run_exit_handlers is None:  # not CPython: the ordinary exit
        raise SystemExit(code)
    run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (``| head``) or stream: nothing more to say
            pass
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    from trailmon.errors import TrailmonError

    try:
        return int(args.run(args) or 0)
    except TrailmonError as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except (OSError, ValueError) as exc:
        if getattr(args, "debug", False):
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1
