"""A command that owns its process holds Python's cyclic garbage collector while it imports and connects.

The collector runs every few hundred new objects; while botocore and urllib3 (and Textual, for the app) load,
it walks the same new module objects over and over: 35-45 ms of the 0.36 s of CPU a ``dgtui get`` took.
Collections are held until the command has its client (or the app is imported); then what is loaded so far is
set aside for good (``gc.freeze``: modules, classes and the client live as long as the process anyway) and
collections resume for what the command does. A program calling ``dgtui.cli.main(argv)`` is left alone.
"""

from __future__ import annotations

import gc

_held = False


def hold() -> None:
    """No collections from here (the ``dgtui`` command, before it imports anything heavy)."""
    global _held
    if gc.isenabled():
        gc.disable()
        _held = True


def resume() -> None:
    """Collections again, without what start-up loaded; a no-op unless ``hold`` held them."""
    global _held
    if _held:
        _held = False
        gc.freeze()
        gc.enable()
