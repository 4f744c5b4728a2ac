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
import importlib
import sys
from typing import Callable

from ..core.errors import DgError
from ..core.text import safe_line
from . import collector
from .parser import build_parser, normalise_argv
from .signals import catch_exit_signals, finish, say_interrupted

__all__ = ["main", "build_parser", "normalise_argv"]

#: each command's handler, as module:function, imported when the command runs: ``dgtui --help``
#: and each command load only what they use
HANDLERS: dict[str, str] = {
    "ls": "listing:cmd_ls", "versions": "listing:cmd_versions", "stats": "stats:cmd_stats",
    "get": "transfers:cmd_get", "put": "transfers:cmd_put", "verify": "transfers:cmd_verify",
    "audit": "audit:cmd_audit", "rm": "buckets:cmd_rm", "mb": "buckets:cmd_mb",
    "browse": "interactive:cmd_browse", "demo": "interactive:cmd_demo",
}


def handler(command: str) -> Callable[[argparse.Namespace], int]:
    module, _, function = HANDLERS[command].partition(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), function)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the command itself (not a call from Python): it owns the process
        catch_exit_signals()
        collector.hold()  # until the command has its client (see ``collector``)
        try:
            code = _main(sys.argv[1:])
        finally:
            collector.resume()
        return finish(code)
    return _main(list(argv))


def _main(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(normalise_argv(argv))
    if getattr(args, "debug", False):
        from ..core.logs import configure_debug_logging

        configure_debug_logging()
    try:
        return handler(args.command)(args)
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
