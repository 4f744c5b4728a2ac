"""Keys on screen: control characters spelled out, markup left alone."""

from __future__ import annotations

from dgtui.core.text import human_duration, human_size, printable


def test_printable_spells_out_control_characters():
    assert printable("a\x1b[31mred\x1b[0m") == "a\\x1b[31mred\\x1b[0m"
    assert printable("title\x1b]0;pwned\x07") == "title\\x1b]0;pwned\\x07"
    assert printable("line\nbreak\ttab\r") == "line\\nbreak\\ttab\\r"
    assert printable("del\x7f c1\x9b") == "del\\x7f c1\\x9b"
    assert printable("bidi\u202eevil") == "bidi\\u202eevil"


def test_printable_keeps_markup_and_scripts():
    assert printable("[bold]x[/bold]") == "[bold]x[/bold]"
    assert printable("日本語 ملف ελληνικά") == "日本語 ملف ελληνικά"


def test_printable_limits_length():
    text = printable("x" * 2000, 50)
    assert len(text) == 50 and text.endswith("…")


def test_sizes_and_durations():
    assert human_size(None) == "?"
    assert human_size(512) == "512 B"
    assert human_size(1536) == "1.5 KiB"
    assert human_size(3 * 1024 ** 3) == "3.0 GiB"
    assert human_duration(7) == "0:07"
    assert human_duration(3725) == "1:02:05"
    assert human_duration(None) == "--:--"


def test_percent_near_100_never_rounds_up_to_a_whole_saving_nor_overflows_its_column():
    from dgtui.core.text import percent

    assert percent(97.44) == "97.4%"
    assert percent(99.9984) == "99.998%"
    assert percent(99.9995) == "99.999%", "84 B stored of 17.3 MiB is not a 100% saving"
    assert percent(99.99999) == "99.999%"
    assert percent(100.0) == "100.0%" and percent(None) == "?"
    assert all(len(percent(v)) <= 7 for v in (99.95, 99.9995, 99.99999, 0.0, 55.5))
