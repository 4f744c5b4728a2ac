"""The pages under docs/ that the code and README cite are there, with the sections they cite."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CITATION = re.compile(r"(docs/|\[)?FORMAT\.md(\]\(docs/FORMAT\.md)?(?: §(\d+)(?:\.(\d+))?)?")


def sections(page: Path) -> dict[str, int]:
    """Section number -> how many numbered items it has (top-level "1." lines and nested ones)."""
    found: dict[str, int] = {}
    current = None
    for line in page.read_text().splitlines():
        heading = re.match(r"## (\d+)\. ", line)
        if heading:
            current = heading.group(1)
            found[current] = 0
        elif current and re.match(r"\d+\. ", line):
            found[current] += 1
    return found


def cited_files() -> list[Path]:
    files = [ROOT / "README.md", *sorted((ROOT / "dgtui").rglob("*.py")), *sorted((ROOT / "tests").rglob("*.py"))]
    return [f for f in files if f != Path(__file__).resolve()]


def check_section(path: Path, known: dict[str, int], section: str, item: str | None) -> None:
    assert section in known, f"{path.relative_to(ROOT)}: no §{section}"
    if item:
        assert int(item) <= known[section], f"{path.relative_to(ROOT)}: no §{section}.{item}"


def test_every_citation_of_the_format_page_names_a_section_that_exists():
    page = ROOT / "docs" / "FORMAT.md"
    known = sections(page)
    assert len(known) >= 10
    cited = 0
    for path in cited_files():
        for match in CITATION.finditer(path.read_text()):
            prefix, link, section, item = match.groups()
            assert prefix == "docs/" or (prefix == "[" and link), \
                f"{path.relative_to(ROOT)} cites a FORMAT.md outside the repository"
            if section:
                cited += 1
                check_section(path, known, section, item)
    assert cited >= 5
    architecture = ROOT / "docs" / "ARCHITECTURE.md"
    for section, item in re.findall(r"FORMAT\.md §(\d+)(?:\.(\d+))?", architecture.read_text()):
        check_section(architecture, known, section, item)


def test_the_architecture_page_names_modules_that_exist():
    page = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`(dgtui/[\w/]+\.(?:py|tcss))`", page))
    assert len(named) >= 15
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert not missing, missing
