"""The ``dgtui`` command: the browser by default, and small commands for scripts.

    dgtui [S3_URL]                       open the browser (at S3_URL if given)
    dgtui demo [--reset] [--serve-only]  a local S3 server with sample data
    dgtui ls|stats|get|put|verify|audit|rm  non-interactive commands

Errors are one line on stderr and a non-zero exit: 1 for an error, 2 for a
usage error, 3 when ``verify`` finds a mismatch or ``audit`` finds problems,
130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable

from ..core.errors import DgError
from ..core.text import safe_line
from .audit import cmd_audit
from .buckets import cmd_mb, cmd_rm
from .interactive import cmd_browse, cmd_demo
from .listing import cmd_ls, cmd_versions
from .parser import build_parser, normalise_argv
from .signals import catch_exit_signals, finish, say_interrupted
from .stats import cmd_stats
from .transfers import cmd_get, cmd_put, cmd_verify

__all__ = ["main", "build_parser", "normalise_argv"]

HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ls": cmd_ls, "stats": cmd_stats, "get": cmd_get, "put": cmd_put, "verify": cmd_verify,
    "audit": cmd_audit, "rm": cmd_rm, "mb": cmd_mb, "browse": cmd_browse, "demo": cmd_demo,
    "versions": cmd_versions,
}


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command itself (not a call from Python): it owns the process
        catch_exit_signals()
        return finish(_main(sys.argv[1:]))
    return _main(list(argv))


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(normalise_argv(argv))
    if getattr(args, "debug", False):
        from ..core.logs import configure_debug_logging

        configure_debug_logging()
    try:
        return HANDLERS[args.command](args)
    except DgError as exc:
        print(f"dgtui: error: {safe_line(str(exc))}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        say_interrupted()
        return 130
    except BrokenPipeError:
        return 0
    except OSError as exc:
        print(f"dgtui: error: {safe_line(str(exc), 300)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, the traceback only with --debug
        if getattr(args, "debug", False):
            import traceback

            traceback.print_exc()
        print(f"dgtui: unexpected error: {type(exc).__name__}: {safe_line(str(exc), 300)} "
              f"(run with --debug for details)", file=sys.stderr)
        return 1
