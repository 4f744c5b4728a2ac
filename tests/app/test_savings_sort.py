"""Sorting the savings view reorders its rows and says by what (issue 25, point 17)."""

from __future__ import annotations

import pytest

from dgtui.app.widgets.object_table import ObjectTable
from dgtui.app.widgets.savings_table import SORTS, SavingsTable, sort_value

from .helpers import make_app, wait_for
from .test_savings import layout_bucket, open_savings  # noqa: F401 - the fixture

pytestmark = pytest.mark.asyncio


def shown_order(savings: SavingsTable) -> list[str]:
    """The folders in the order the table draws them (its own rows, not the list it was filled from)."""
    return [str(savings.get_row_at(index)[0]) for index in range(savings.row_count)]


def header(savings: SavingsTable) -> list[str]:
    return [str(column.label) for column in savings.ordered_columns]


async def test_every_sort_reorders_the_rows_and_marks_its_column(client, layout_bucket):  # noqa: F811
    app = make_app(client, f"s3://{layout_bucket}/")
    async with app.run_test(size=(140, 36)) as pilot:
        table = app.screen.query_one(ObjectTable)
        await wait_for(pilot, lambda: not table.listing and table.view, what="listing")
        screen = await open_savings(pilot, app)
        savings = screen.query_one(SavingsTable)
        assert savings.row_count >= 3
        assert "Stored ▼" in header(savings) and "sorted by stored size, largest first" in screen._title().plain
        orders = {}
        for column in SORTS[1:] + SORTS[:1]:
            await pilot.press("o")
            assert savings.sort_column == column
            rows = savings.report.rows
            expected = sorted(rows, key=lambda r: (sort_value(r, column), r.prefix))
            names = ["(files here)" if r.here else r.prefix for r in expected]
            assert shown_order(savings) == names, column
            marked = [label for label in header(savings) if label.endswith(("▼", "▲"))]
            assert len(marked) == 1 and marked[0].endswith("▼"), marked
            assert "sorted by" in screen._title().plain
            orders[column] = names
        assert orders["name"] != orders["stored"], "the data has folders whose order differs by name and size"
        await pilot.press("O")
        assert shown_order(savings) == list(reversed(orders["stored"]))
        assert "Stored ▲" in header(savings) and "smallest first" in screen._title().plain
        await pilot.press("o")  # to the next column, in its own order again
        assert [label for label in header(savings) if label.endswith(("▼", "▲"))] == ["Original ▼"]
