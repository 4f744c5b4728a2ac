"""The bigfile case's size can be chosen for a run (500 MB, 2 GB on a quiet machine) without editing the presets."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.runner import BIGFILE_MB_ENV, bigfile_mb, parse_args  # noqa: E402


def test_the_command_line_size_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv(BIGFILE_MB_ENV, "2048")
    assert bigfile_mb(parse_args(["--bigfile-mb", "500"])) == 500


def test_the_environment_sets_the_size_when_the_command_line_does_not(monkeypatch):
    monkeypatch.setenv(BIGFILE_MB_ENV, "2048")
    assert bigfile_mb(parse_args([])) == 2048


def test_neither_keeps_the_presets_size(monkeypatch):
    monkeypatch.delenv(BIGFILE_MB_ENV, raising=False)
    assert bigfile_mb(parse_args([])) is None


@pytest.mark.parametrize("text", ["big", "0", "-5"])
def test_a_size_that_is_no_positive_whole_number_is_refused(monkeypatch, text):
    monkeypatch.setenv(BIGFILE_MB_ENV, text)
    with pytest.raises(SystemExit):
        bigfile_mb(parse_args([]))
