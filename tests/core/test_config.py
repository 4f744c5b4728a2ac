"""The settings file: the [keymap] table and metadata_in_view, beside the price."""

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


def test_metadata_in_view_is_off_unless_the_file_turns_it_on(tmp_path):
    assert load_settings(tmp_path / "missing.toml").metadata_in_view is False
    path = tmp_path / "config.toml"
    path.write_text("metadata_in_view = true\n")
    assert load_settings(path).metadata_in_view is True
    path.write_text("price_per_gb_month = 0.01\nmetadata_in_view = true\n")
    settings = load_settings(path)
    assert settings.metadata_in_view is True and settings.price_per_gb_month == 0.01
    path.write_text('metadata_in_view = "yes"\n')
    with pytest.raises(DgError, match="metadata_in_view .* must be true or false"):
        load_settings(path)


def test_the_app_takes_the_setting_from_the_file(tmp_path, monkeypatch):
    from dgtui.app.app import DgtuiApp

    path = tmp_path / "config.toml"
    monkeypatch.setenv("DGTUI_CONFIG", str(path))
    assert DgtuiApp(lambda: None).metadata_in_view is False  # type: ignore[arg-type, return-value]
    path.write_text("metadata_in_view = true\n")
    assert DgtuiApp(lambda: None).metadata_in_view is True  # type: ignore[arg-type, return-value]
    path.write_text("metadata_in_view = 3\n")
    app = DgtuiApp(lambda: None)  # type: ignore[arg-type, return-value]
    assert app.metadata_in_view is False and "must be true or false" in (app._settings_problem or "")
