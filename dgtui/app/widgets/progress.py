"""A progress bar as plain text, so it can sit inside a line of other text.

Deterministic (no animation, no clock): what it shows depends only on the
fraction, which keeps snapshots stable.
"""

from __future__ import annotations

from rich.style import Style
from rich.text import Text

BAR = "━"
HALF_RIGHT = "╸"


def progress_bar(fraction: float | None, width: int, done_style: Style | str, todo_style: Style | str) -> Text:
    """``width`` cells of bar; ``None`` (unknown total) draws an empty bar."""
    width = max(width, 1)
    fraction = 0.0 if fraction is None else min(max(fraction, 0.0), 1.0)
    halves = int(fraction * width * 2)
    full, half = divmod(halves, 2)
    bar = Text(no_wrap=True)
    bar.append(BAR * full, style=done_style)
    if half:
        bar.append(HALF_RIGHT, style=done_style)
    bar.append(BAR * (width - full - half), style=todo_style)
    return bar
