"""Turning keys, sizes and times into text that is safe to put on screen.

Object keys are user data: they may contain markup (``[bold]``), terminal
escape sequences, newlines or thousands of characters. Everything that shows
a key goes through :func:`printable` and is rendered as plain ``Text``, never
as markup.
"""

from __future__ import annotations

from datetime import datetime, timezone

from rich.text import Text

from ..display import ELLIPSIS, column_digits, human_count, human_size, percent, plural, printable, safe_line

__all__ = ["ELLIPSIS", "column_digits", "human_count", "human_size", "plural", "printable", "safe_line", "plain",
           "s3_url",
           "human_duration", "percent", "ratio", "format_local_time"]

def plain(key: str, style: str = "", limit: int | None = None) -> Text:
    """A key as a Rich ``Text`` that is never parsed as markup."""
    return Text(printable(key, limit), style=style, no_wrap=True, overflow="ellipsis")


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
