"""``dgtui browse`` (the default) and ``dgtui demo``: the commands that open the app."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from ..core import codec
from ..core.errors import XDELTA3_INSTALL_HINT, DgError

if TYPE_CHECKING:
    pass


def cmd_browse(args: argparse.Namespace) -> int:
    if not codec.xdelta3_available():
        print(f"note: xdelta3 is not installed; browsing works, restoring or uploading deltas needs: "
              f"{XDELTA3_INSTALL_HINT}", file=sys.stderr)
    from ..app.app import run_app
    from .collector import resume as resume_collection

    resume_collection()  # the app and the SDK are loaded: the app's own objects are collected as usual
    return run_app(endpoint_url=args.endpoint_url, profile=args.profile, region=args.region, start_url=args.url,
                   addressing_style=args.addressing_style)


def cmd_demo(args: argparse.Namespace) -> int:
    from ..demo.server import find_weed

    find_weed()  # one line naming the extra to install when SeaweedFS is missing
    if not codec.xdelta3_available():
        raise DgError(f"the demo stores real deltas and needs xdelta3; install it with: {XDELTA3_INSTALL_HINT}")
    from ..demo.sample import run_demo
    from .collector import resume as resume_collection

    resume_collection()
    return run_demo(reset=args.reset, serve_only=args.serve_only)
