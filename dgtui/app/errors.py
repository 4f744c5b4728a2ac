"""How failures read on screen: one line, no traceback, no markup."""

from __future__ import annotations

from dgtui import ConnectionFailedError, CredentialsError, DgError

from .text import printable

MAX_ERROR_CHARS = 400


def describe(error: BaseException) -> str:
    """One printable line that says what went wrong."""
    if isinstance(error, DgError):
        text = str(error)
    elif isinstance(error, OSError):
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        text = f"local file error{where}: {error.strerror or error}"
    else:
        detail = str(error).strip().splitlines()
        text = f"unexpected error ({type(error).__name__})" + (f": {detail[0]}" if detail else "")
    return printable(text.strip() or type(error).__name__, MAX_ERROR_CHARS)


def is_connection_problem(error: BaseException) -> bool:
    """Errors after which nothing else will work either: show the connection screen."""
    return isinstance(error, (CredentialsError, ConnectionFailedError))
