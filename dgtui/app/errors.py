"""How failures read on screen: one line, no traceback, no markup."""

from __future__ import annotations

from dgtui import ConnectionFailedError, CredentialsError, DgError

from ..core.text import printable, safe_line

MAX_ERROR_CHARS = 400


def describe(error: BaseException) -> str:
    """One printable line that says what went wrong."""
    if isinstance(error, DgError):
        text = str(error)
    elif isinstance(error, OSError):
        where = f" ({printable(str(error.filename))})" if getattr(error, "filename", None) else ""
        text = f"local file error{where}: {error.strerror or printable(str(error))}"
    else:
        detail = str(error).strip().splitlines()
        text = f"unexpected error ({type(error).__name__})" + (f": {printable(detail[0])}" if detail else "")
    # DgError messages hold names escaped already: escape what a terminal acts on, not their backslashes
    return safe_line(text.strip() or type(error).__name__, MAX_ERROR_CHARS)


def is_connection_problem(error: BaseException) -> bool:
    """Errors after which nothing else will work either: show the connection screen."""
    return isinstance(error, (CredentialsError, ConnectionFailedError))
