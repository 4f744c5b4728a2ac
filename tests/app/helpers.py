"""Helpers shared by the app tests."""

from __future__ import annotations

import hashlib
import random
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote

from dgtui import DgClient, create_client
from dgtui.app.app import DgtuiApp

BIG_PREFIX = "logs/"
BIG_COUNT = 5000
FIXED_TIME = "2025-01-15 09:30"


def fixed_time(_iso: str) -> str:
    """Every timestamp reads the same, so screens are the same on every run."""
    return FIXED_TIME


def make_client(server: Any, cache_dir: Path, endpoint_url: str | None = None, **overrides: Any) -> DgClient:
    options = dict(endpoint_url=endpoint_url or server.endpoint_url, aws_access_key_id=server.access_key,
                   aws_secret_access_key=server.secret_key, region_name=server.region, cache_dir=cache_dir)
    options.update(overrides)
    return create_client(**options)


def make_app(client: DgClient | Callable[[], DgClient], start_url: str | None = None, **options: Any) -> DgtuiApp:
    factory = client if callable(client) and not isinstance(client, DgClient) else (lambda: client)
    options.setdefault("time_format", fixed_time)
    options.setdefault("metadata_in_view", False)  # the default, whatever settings file this machine has
    return DgtuiApp(factory, start_url=start_url, **options)


async def wait_for(pilot: Any, predicate: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Let the app run until ``predicate()`` is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.05)


async def click_shown(pilot: Any, selector: str, timeout: float = 15.0) -> None:
    """Click ``selector`` on the current screen once it is laid out and under the mouse: a screen pushed a
    moment ago may not be yet on a loaded machine, and a click there lands on nothing."""
    deadline = time.monotonic() + timeout
    while True:
        shown = [w for w in pilot.app.screen.query(selector) if w.region.area]
        if shown and await pilot.click(selector):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting to click {selector}")
        await pilot.pause(0.05)


async def table_settled(pilot: Any, table: Any, timeout: float = 15.0) -> None:
    """Until the table's listing is complete and the metadata of its rows in view has been read."""
    await wait_for(pilot, lambda: table.location is not None and not table.listing and not table.reading_metadata,
                   timeout=timeout, what="the listing and the metadata of the rows in view")
    await pilot.pause()


def release_bytes(version: int, size: int = 300_000, seed: int = 11) -> bytes:
    """Versions of one archive that share almost all bytes, as backups do."""
    base = bytearray(random.Random(seed).randbytes(size))
    base[version * 997:(version * 997) + 64] = bytes([version % 256]) * 64
    return bytes(base)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def count_heads(client: DgClient) -> list[str]:
    """Record the path of every HeadObject the client sends through botocore.

    Batches of ``MetadataFetcher.FAST_MIN_BATCH`` HEADs or more go through botocore once (to learn the
    URL) and then around it: count those with ``client._fetcher.fast_head.fast_requests``."""
    calls: list[str] = []

    def on_head(params: dict, **_: Any) -> None:
        calls.append(unquote(params.get("url_path", "")))

    client.boto3_client.meta.events.register("before-call.s3.HeadObject", on_head)
    return calls


async def screen_of(pilot: Any, cls: type, timeout: float = 15.0) -> Any:
    """The app's current screen once it is a ``cls`` and has been composed."""
    app = pilot.app
    screen = await wait_for(pilot, lambda: isinstance(app.screen, cls) and app.screen.children and app.screen,
                            timeout=timeout, what=cls.__name__)
    await pilot.pause()
    return screen
