"""Sizes, counts and keys as people read them: one formatter for the CLI and the app.

No Rich, no Textual: the CLI imports this without loading the app.
"""

from __future__ import annotations

ELLIPSIS = "…"


def printable(key: str, limit: int | None = None) -> str:
    """``key`` with control characters spelled out, e.g. ESC as ``\\x1b``.

    Printable characters of every script stay as they are; anything a
    terminal would act on (C0/C1 controls, DEL, line and paragraph
    separators, bidirectional-text controls) becomes its Python escape, so the
    text can neither move the cursor, reorder itself nor span lines. A
    backslash becomes ``\\\\``, so a name holding the four characters
    ``\\x1b`` never reads like one holding ESC. ``limit`` cuts long text with
    an ellipsis.
    """
    return _escaped(key, limit, "\\")


def safe_line(text: str, limit: int | None = None) -> str:
    """A message already made of escaped names, made safe to print as a whole.

    Anything a terminal would act on is escaped as :func:`printable` does,
    but backslashes stay: they are the escapes of the names within, which
    must not be escaped twice.
    """
    return _escaped(text, limit, "")


def _escaped(text: str, limit: int | None, also: str) -> str:
    if text.isprintable() and not (also and also in text):
        out = text
    else:
        out = "".join(ch if ch.isprintable() and ch not in also else ch.encode("unicode_escape").decode("ascii")
                      for ch in text)
    if limit is not None and len(out) > limit:
        out = out[: max(limit - 1, 0)] + ELLIPSIS
    return out


_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def human_size(size: float | None) -> str:
    """Bytes for people: ``512 B``, ``1.5 MiB``; ``?`` when unknown."""
    if size is None:
        return "?"
    value = float(size)
    for unit in _UNITS:
        if abs(value) < 1024 or unit == _UNITS[-1]:
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} PiB"  # pragma: no cover - loop always returns


def human_count(count: int) -> str:
    return f"{count:,}"


def plural(count: int, noun: str) -> str:
    """``1 object``, ``2,000 objects``."""
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
