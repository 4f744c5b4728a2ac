"""What the numbers were measured on."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path


def _first_line(args: list[str]) -> str:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0].strip() if text else "unknown"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def describe() -> dict[str, str]:
    bin_dir = Path(sys.executable).parent
    s5cmd = bin_dir / "s5cmd"
    weed = bin_dir / "weed"
    weed_version = _first_line([str(weed) if weed.exists() else "weed", "version"])
    xdelta = _first_line(["xdelta3", "-V"])
    return {
        "Machine": f"{cpu_model()}, {os.cpu_count()} cores, {ram_gib()} RAM, {platform.system()} {platform.release()}",
        "Python": f"{platform.python_implementation()} {platform.python_version()}",
        "Versions": ", ".join([
            f"dgtui {_version('dgtui')}",
            f"boto3 {_version('boto3')}",
            f"botocore {_version('botocore')}",
            f"deltaglider {_version('deltaglider')}",
            f"s5cmd {_first_line([str(s5cmd) if s5cmd.exists() else 's5cmd', 'version'])}",
            f"weed {weed_version.replace('version ', '').replace(' pypi', '')}",
            f"xdelta3 {xdelta.replace('Xdelta version ', '').split(',')[0]}",
            f"textual {_version('textual')}",
        ]),
    }
