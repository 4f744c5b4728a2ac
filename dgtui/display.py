"""Sizes, counts and keys as people read them: one formatter for the CLI and the app.

No Rich, no Textual: the CLI imports this without loading the app.
"""

from __future__ import annotations

ELLIPSIS = "…"


def printable(key: str, limit: int | None = None) -> str:
    """``key`` with control characters spelled out, e.g. ESC as ``\\x1b``.

    Printable characters of every script stay as they are; anything a
    terminal would act on (C0/C1 controls, DEL, line and paragraph
    separators) becomes its Python escape, so the text can neither move the
    cursor nor span lines. ``limit`` cuts long text with an ellipsis.
    """
    if key.isprintable():
        text = key
    else:
        parts = []
        for ch in key:
            if ch.isprintable():
                parts.append(ch)
            else:
                parts.append(ch.encode("unicode_escape").decode("ascii"))
        text = "".join(parts)
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + ELLIPSIS
    return text



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
