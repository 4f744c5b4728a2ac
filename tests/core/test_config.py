"""The settings file's [keymap] table: read by its shape, one clear line when it is wrong."""

from __future__ import annotations

import pytest

from dgtui import DgError
from dgtui.core.config import load_keymap, load_settings


def test_dotted_and_quoted_ids_and_several_keys(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('price_per_gb_month = 0.01\n[keymap]\nbrowser.restore = "ctrl+r"\n'
                    '"table.cursor-down" = "j, ctrl+n"\n')
    assert load_keymap(path) == {"browser.restore": "ctrl+r", "table.cursor-down": "j,ctrl+n"}
    assert load_settings(path).price_per_gb_month == 0.01  # the keymap does not disturb the rest


def test_no_file_or_no_table_is_no_keymap(tmp_path):
    assert load_keymap(tmp_path / "missing.toml") == {}
    path = tmp_path / "config.toml"
    path.write_text("price_per_gb_month = 0.02\n")
    assert load_keymap(path) == {}


@pytest.mark.parametrize("text, fragment", [
    ("keymap = 3\n", "must be a table"),
    ('[keymap]\ntable.mark = 3\n', "keymap.table.mark"),
    ('[keymap]\ntable.mark = "m,"\n', "keymap.table.mark"),
    ("[keymap\n", "cannot read the settings file"),
])
def test_a_wrong_keymap_is_one_line(tmp_path, text, fragment):
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(DgError) as caught:
        load_keymap(path)
    message = str(caught.value)
    assert fragment in message and "\n" not in message, message
