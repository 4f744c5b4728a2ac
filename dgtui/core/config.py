"""User settings from a small TOML file: ``$DGTUI_CONFIG``, else ``<user config dir>/dgtui/config.toml``.

    # ~/.config/dgtui/config.toml
    price_per_gb_month = 0.023   # what one GB (2**30 bytes) stored for a month costs you
    max_unsized_delta_bytes = 107374182400   # the most a delta that records no size may rebuild to
    metadata_in_view = false     # the browser HEADs the rows in view to show their type and original size
    xdelta3_level = 6                        # compression level of new deltas (0-9; see bench/RESULTS.md)

    [keymap]                     # remap keys of the app by binding id (? lists them)
    browser.restore = "ctrl+r"

A missing file means the defaults; a file that cannot be read is an error
with one line saying where and why.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from .errors import DgError

#: AWS S3 Standard in US East (N. Virginia), first 50 TB a month: USD per GB-month
DEFAULT_PRICE_PER_GB_MONTH = 0.023
DEFAULT_PRICE_NAME = "AWS S3 Standard list price, us-east-1, first 50 TB"

#: the demo's own bookkeeping bucket (what it seeded): never listed as a user's bucket, in the app or the CLI
DEMO_META_BUCKET = "dgtui-demo-meta"
HIDDEN_BUCKETS = frozenset({DEMO_META_BUCKET})


@dataclass(frozen=True, slots=True)
class Settings:
    price_per_gb_month: float = DEFAULT_PRICE_PER_GB_MONTH
    #: where the price comes from, for people reading a cost
    price_source: str = DEFAULT_PRICE_NAME
    #: the browser reads the metadata of the rows in view (one HEAD per object not in the cache);
    #: off, browsing sends listings only and shows what the metadata cache already holds
    metadata_in_view: bool = False


def config_path() -> Path:
    override = os.environ.get("DGTUI_CONFIG")
    return Path(override) if override else Path(platformdirs.user_config_dir("dgtui")) / "config.toml"


#: seconds a transfer may go without progress before it fails (``stall_seconds``, ``DGTUI_STALL_SECONDS``)
DEFAULT_STALL_SECONDS = 60.0
STALL_ENV = "DGTUI_STALL_SECONDS"


def stall_seconds(path: Path | None = None) -> float:
    """How long a request may wait for an answer, or a download receive next to nothing, before it fails.

    ``DGTUI_STALL_SECONDS``, else ``stall_seconds`` in the settings file, else 60.
    """
    text = os.environ.get(STALL_ENV)
    if text is not None and text.strip():
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        source = STALL_ENV
    else:
        path = path or config_path()
        try:
            with open(path, "rb") as f:
                found = tomllib.load(f).get("stall_seconds")
        except FileNotFoundError:
            return DEFAULT_STALL_SECONDS
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise DgError(f"cannot read the settings file {path}: {exc}") from None
        if found is None:
            return DEFAULT_STALL_SECONDS
        value = float("nan") if isinstance(found, bool) or not isinstance(found, (int, float)) else float(found)
        source = f"stall_seconds in {path}"
    if not value > 0 or value == float("inf"):
        raise DgError(f"{source} must be a number of seconds above 0, not {text if source == STALL_ENV else found!r}")
    return value


def load_settings(path: Path | None = None) -> Settings:
    path = path or config_path()
    data = _read_file(path)
    if data is None:
        return Settings()
    in_view = data.get("metadata_in_view", False)
    if not isinstance(in_view, bool):
        raise DgError(f"metadata_in_view in {path} must be true or false, not {in_view!r}")
    price = data.get("price_per_gb_month")
    if price is None:
        return Settings(metadata_in_view=in_view)
    if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0 or price != price:
        raise DgError(f"price_per_gb_month in {path} must be a number of at least 0, not {price!r}")
    return Settings(float(price), f"price_per_gb_month from {path}", metadata_in_view=in_view)


def price_setting(flag: float | None, path: Path | None = None) -> Settings:
    """The price to use: the command-line flag, else the settings file, else the list price."""
    if flag is not None:
        if flag < 0 or flag != flag:
            raise DgError(f"the price per GB-month must be a number of at least 0, not {flag}")
        return Settings(flag, "--price-per-gb-month")
    return load_settings(path)


def _read_file(path: Path) -> dict | None:
    """The settings file's tables, or None when there is no file (the defaults apply)."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DgError(f"cannot read the settings file {path}: {exc}") from None


#: The largest file rebuilt from a delta whose metadata records no size (``dg-file-size`` missing or unreadable).
DEFAULT_UNSIZED_DELTA_LIMIT = 100 * 2**30
UNSIZED_DELTA_LIMIT_KEY = "max_unsized_delta_bytes"


def unsized_delta_limit(path: Path | None = None) -> int:
    """How many bytes a delta that records no size may rebuild to: ``max_unsized_delta_bytes`` in the
    settings file, else 100 GiB. A recorded size is always the limit when there is one."""
    path = path or config_path()
    data = _read_file(path) or {}
    value = data.get(UNSIZED_DELTA_LIMIT_KEY, DEFAULT_UNSIZED_DELTA_LIMIT)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DgError(f"{UNSIZED_DELTA_LIMIT_KEY} in {path} must be a whole number of bytes of at least 1, "
                      f"not {value!r}")
    return value


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """The ``[keymap]`` table of the settings file: binding id -> keys (``"ctrl+r"``, or ``"r,f5"``).

        [keymap]
        browser.restore = "ctrl+r"    # the ids are listed by ? in the app

    Which ids exist is the app's business; here only the shape is checked.
    """
    path = path or config_path()
    data = _read_file(path) or {}
    table = data.get("keymap", {})
    if not isinstance(table, dict):
        raise DgError(f"keymap in {path} must be a table ([keymap] with lines like browser.restore = \"ctrl+r\")")
    keymap: dict[str, str] = {}
    for binding_id, keys in _flatten(table):
        if not isinstance(keys, str) or not all(key.strip() for key in keys.split(",")):
            raise DgError(f"keymap.{binding_id} in {path} must be a key such as \"ctrl+r\" (several: \"r,f5\"), "
                          f"not {keys!r}")
        keymap[binding_id] = ",".join(key.strip() for key in keys.split(","))
    return keymap


def _flatten(table: dict, prefix: str = "") -> list[tuple[str, object]]:
    """TOML reads ``browser.restore = "x"`` as a nested table; ids are the dotted names."""
    items: list[tuple[str, object]] = []
    for name, value in table.items():
        if isinstance(value, dict):
            items.extend(_flatten(value, f"{prefix}{name}."))
        else:
            items.append((f"{prefix}{name}", value))
    return items


#: xdelta3's compression level for new deltas; see bench/RESULTS.md ("Encoder level") for the measurement.
DEFAULT_ENCODER_LEVEL = 6
ENCODER_LEVEL_KEY = "xdelta3_level"


def encoder_level(path: Path | None = None) -> int:
    """xdelta3's compression level (0-9) for new deltas: ``xdelta3_level`` in the settings file, else
    the default. Every level gives a delta DeltaGlider 6.2.0 restores; higher ones trade encode time
    for a smaller delta."""
    path = path or config_path()
    data = _read_file(path) or {}
    value = data.get(ENCODER_LEVEL_KEY, DEFAULT_ENCODER_LEVEL)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
        raise DgError(f"{ENCODER_LEVEL_KEY} in {path} must be a whole number from 0 to 9, not {value!r}")
    return value


#: ``xdelta3_fast_first``: big files are encoded at level 1 first (see ``fast_first_level``)
FAST_FIRST_KEY = "xdelta3_fast_first"


def fast_first(path: Path | None = None) -> bool:
    """Whether a big file's delta is first tried at xdelta3's fastest level (``xdelta3_fast_first``,
    true unless the settings file says false)."""
    path = path or config_path()
    data = _read_file(path) or {}
    value = data.get(FAST_FIRST_KEY, True)
    if not isinstance(value, bool):
        raise DgError(f"{FAST_FIRST_KEY} in {path} must be true or false, not {value!r}")
    return value
