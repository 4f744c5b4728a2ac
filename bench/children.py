"""Small scripts run as ``python -c`` children: a new process per operation, as a user's script would be.

Credentials come from the environment (``BenchEnv.child_env``). Each script
prints its own peak RSS on stderr at the end (see ``measure.REPORT_PEAK``).
"""

from __future__ import annotations

import sys

from .measure import REPORT_PEAK

DGTUI_DOWNLOAD = """
import sys
from dgtui import create_client
endpoint, cache, url, out = sys.argv[1:5]
create_client(endpoint_url=endpoint, cache_dir=cache).download(url, out, overwrite=True)
""" + REPORT_PEAK

DGTUI_UPLOAD = """
import sys
from dgtui import create_client
endpoint, cache, path, url = sys.argv[1:5]
create_client(endpoint_url=endpoint, cache_dir=cache).upload(path, url)
""" + REPORT_PEAK

DG_DOWNLOAD = """
import sys
from deltaglider import create_client
endpoint, url, out = sys.argv[1:4]
create_client(endpoint_url=endpoint, log_level="WARNING").download(url, out)
""" + REPORT_PEAK

DG_UPLOAD = """
import sys
from deltaglider import create_client
endpoint, path, url = sys.argv[1:4]
create_client(endpoint_url=endpoint, log_level="WARNING").upload(path, url)
""" + REPORT_PEAK


def dgtui_download(endpoint: str, cache: str, url: str, out: str) -> list[str]:
    return [sys.executable, "-c", DGTUI_DOWNLOAD, endpoint, cache, url, out]


def dgtui_upload(endpoint: str, cache: str, path: str, url: str) -> list[str]:
    return [sys.executable, "-c", DGTUI_UPLOAD, endpoint, cache, path, url]


def dg_download(endpoint: str, url: str, out: str) -> list[str]:
    return [sys.executable, "-c", DG_DOWNLOAD, endpoint, url, out]


def dg_upload(endpoint: str, path: str, url: str) -> list[str]:
    return [sys.executable, "-c", DG_UPLOAD, endpoint, path, url]
