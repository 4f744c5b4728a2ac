"""User settings from a small TOML file: ``$DGTUI_CONFIG``, else ``<user config dir>/dgtui/config.toml``.

    # ~/.config/dgtui/config.toml
    price_per_gb_month = 0.023   # what one GB (2**30 bytes) stored for a month costs you
    max_unsized_delta_bytes = 107374182400   # the most a delta that records no size may rebuild to
    xdelta3_level = 6                        # compression level of new deltas (0-9; see bench/RESULTS.md)

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


@dataclass(frozen=True, slots=True)
class Settings:
    price_per_gb_month: float = DEFAULT_PRICE_PER_GB_MONTH
    #: where the price comes from, for people reading a cost
    price_source: str = DEFAULT_PRICE_NAME


def config_path() -> Path:
    override = os.environ.get("DGTUI_CONFIG")
    return Path(override) if override else Path(platformdirs.user_config_dir("dgtui")) / "config.toml"


def load_settings(path: Path | None = None) -> Settings:
    path = path or config_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return Settings()
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DgError(f"cannot read the settings file {path}: {exc}") from None
    price = data.get("price_per_gb_month")
    if price is None:
        return Settings()
    if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0 or price != price:
        raise DgError(f"price_per_gb_month in {path} must be a number of at least 0, not {price!r}")
    return Settings(float(price), f"price_per_gb_month from {path}")


def price_setting(flag: float | None, path: Path | None = None) -> Settings:
    """The price to use: the command-line flag, else the settings file, else the list price."""
    if flag is not None:
        if flag < 0 or flag != flag:
            raise DgError(f"the price per GB-month must be a number of at least 0, not {flag}")
        return Settings(flag, "--price-per-gb-month")
    return load_settings(path)


#: The largest file rebuilt from a delta whose metadata records no size (``dg-file-size`` missing or unreadable).
DEFAULT_UNSIZED_DELTA_LIMIT = 100 * 2**30
UNSIZED_DELTA_LIMIT_KEY = "max_unsized_delta_bytes"


def unsized_delta_limit(path: Path | None = None) -> int:
    """How many bytes a delta that records no size may rebuild to: ``max_unsized_delta_bytes`` in the
    settings file, else 100 GiB. A recorded size is always the limit when there is one."""
    path = path or config_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return DEFAULT_UNSIZED_DELTA_LIMIT
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DgError(f"cannot read the settings file {path}: {exc}") from None
    value = data.get(UNSIZED_DELTA_LIMIT_KEY, DEFAULT_UNSIZED_DELTA_LIMIT)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise DgError(f"{UNSIZED_DELTA_LIMIT_KEY} in {path} must be a whole number of bytes of at least 1, "
                      f"not {value!r}")
    return value


#: xdelta3's compression level for new deltas; see bench/RESULTS.md ("Encoder level") for the measurement.
DEFAULT_ENCODER_LEVEL = 6
ENCODER_LEVEL_KEY = "xdelta3_level"


def encoder_level(path: Path | None = None) -> int:
    """xdelta3's compression level (0-9) for new deltas: ``xdelta3_level`` in the settings file, else
    the default. Every level gives a delta DeltaGlider 6.2.0 restores; higher ones trade encode time
    for a smaller delta."""
    path = path or config_path()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return DEFAULT_ENCODER_LEVEL
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DgError(f"cannot read the settings file {path}: {exc}") from None
    value = data.get(ENCODER_LEVEL_KEY, DEFAULT_ENCODER_LEVEL)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
        raise DgError(f"{ENCODER_LEVEL_KEY} in {path} must be a whole number from 0 to 9, not {value!r}")
    return value
