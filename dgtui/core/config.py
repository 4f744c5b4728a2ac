"""User settings from a small TOML file: ``$DGTUI_CONFIG``, else ``<user config dir>/dgtui/config.toml``.

    # ~/.config/dgtui/config.toml
    price_per_gb_month = 0.023   # what one GB (2**30 bytes) stored for a month costs you

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
