"""Sizes, counts, times and keys as people read them: the one text formatter of the CLI and the app.

Object keys are user data: they may contain markup (``[bold]``), terminal
escape sequences, newlines or thousands of characters. Everything that shows
a key goes through :func:`printable`; the app renders it as plain ``Text``,
never as markup. No Rich, no Textual: the CLI loads none of them.
"""

from __future__ import annotations

from datetime import datetime, timezone

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


def display_key(key: str, limit: int = 200) -> str:
    """A key made safe for a one-line message: escaped as everywhere else (``printable``), length bounded."""
    return printable(key, limit)


def where(bucket: str | None, key: str | None = None) -> str:
    """``s3://bucket/key`` for a message, escaped and bounded; "the endpoint" when no bucket is known."""
    if bucket and key:
        return display_key(f"s3://{bucket}/{key}", 300)
    if bucket:
        return display_key(f"s3://{bucket}")
    return "the endpoint"


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


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``1 object``, ``2,000 objects``; ``many`` for nouns that do not just take an s
    (``plural(n, "delta was", "deltas were")``)."""
    if count == 1:
        return f"{count:,} {noun}"
    return f"{count:,} {many if many is not None else noun + 's'}"


#: the most digits a percentage shows after the point
MAX_PERCENT_DIGITS = 3


def percent_digits(value: float | None, digits: int = 1) -> int:
    """How many digits after the point ``value`` needs (at least ``digits``) so that a saving
    between 0 and 100 reads neither as 0% nor as 100%."""
    if value is None or not 0 < value < 100:
        return digits
    while digits < MAX_PERCENT_DIGITS and not 0 < round(value, digits) < 100:
        digits += 1
    return digits


def column_digits(values: list[float | None], digits: int = 1) -> int:
    """One precision for a whole column of percentages: the most any of them needs."""
    return max([percent_digits(v, digits) for v in values] or [digits])


def percent_number(value: float | None, digits: int | None = None) -> str:
    """``97.4``; a value strictly between 0 and 100 never shows as 0 or 100 (``99.999``, ``0.001``).

    ``digits`` fixes the precision (one for a column, see ``column_digits``);
    without it the value takes what it needs, one digit at least.
    """
    if value is None:
        return "?"
    if digits is None:
        digits = percent_digits(value)
    if 0 < value < 100:
        step = 10 ** -digits
        value = min(max(value, step), 100 - step)  # 99.9995 stays below 100, 0.0004 above 0
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def percent(value: float | None, digits: int | None = None) -> str:
    """``97.4%``: ``percent_number`` with its sign; ``?`` when unknown."""
    if value is None:
        return "?"
    return percent_number(value, digits) + "%"


def money(amount: float) -> str:
    """``$12.30``; amounts below a cent as ``<$0.01`` rather than a misleading ``$0.00``."""
    if 0 < amount < 0.01:
        return "<$0.01"
    return f"${amount:,.2f}"


def worth_a_cent(*amounts: float) -> bool:
    """Whether any amount shows as at least a cent: "<$0.01 instead of <$0.01" says nothing."""
    return any(amount >= 0.005 and money(amount) != "<$0.01" for amount in amounts)


def s3_url(bucket: str, key: str = "") -> str:
    return f"s3://{bucket}/{key}"


def human_duration(seconds: float | None) -> str:
    """``0:07``, ``3:25``, ``1:02:03``; ``--:--`` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0 or seconds > 360000:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def ratio(stored: int, original: int) -> str:
    """``0.000033 (1 : 30,519)``: stored / original, and how many times smaller."""
    if original <= 0:
        return "?"
    value = stored / original
    text = f"{value:.6f}".rstrip("0").rstrip(".") if value < 1 else f"{value:.2f}"
    if 0 < value < 1:
        text += f" (1 : {original / stored:,.0f})" if original / stored >= 10 else f" (1 : {original / stored:.1f})"
    return text


def format_local_time(iso: str | None) -> str:
    """An S3 timestamp as local ``YYYY-MM-DD HH:MM``; the text itself if unparseable."""
    if not iso:
        return ""
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return printable(iso, 25)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")
