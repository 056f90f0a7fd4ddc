"""The differences page lists exactly the entries of coder_mock.differences."""

from __future__ import annotations

import re
from pathlib import Path

from coder_mock.differences import DIFFERENCES

PAGE = Path(__file__).resolve().parents[1] / "docs" / "differences.md"


def table_rows() -> list[list[str]]:
    rows = []
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
            rows.append(cells)
    return rows


def test_page_matches_table() -> None:
    expected = [[f"`{item.key}`", item.operation, item.wire, item.reference] for item in DIFFERENCES]
    assert table_rows() == expected


def test_keys_unique() -> None:
    keys = [item.key for item in DIFFERENCES]
    assert len(keys) == len(set(keys))


def test_readme_links_page() -> None:
    readme = (PAGE.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "docs/differences.md" in readme
