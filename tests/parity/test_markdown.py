"""Matrix tables are read with exact line numbers, GFM cell rules and sections (A67)."""

from __future__ import annotations

from arco_cli.parity.markdown import parse_tables, split_cells

DOC = """intro
| Capability | Status |
|---|---|
| before any section | Planned |

## Alpha
### sub heading keeps the section
| Capability | Status | X |
|:--|--:|:-:|
| escaped \\| pipe | `a|b` code | extra | ignored |
| short |

```
| Capability | Status |
|---|---|
| fenced | Implemented |
```
## Beta
| Capability | Status |
|---|---|
| one | Planned |
| two | Planned |
not a row after the blank line? no blank yet, so a row
"""


def test_tables_keep_line_numbers_sections_and_skip_fenced_examples() -> None:
    tables = parse_tables(DOC)
    assert [(t.line, t.section) for t in tables] == [(2, ""), (8, "Alpha"), (19, "Beta")]
    assert [r.line for r in tables[2].rows] == [21, 22, 23]


def test_escaped_pipes_and_pipes_in_code_spans_stay_in_their_cell() -> None:
    table = parse_tables(DOC)[1]
    assert table.rows[0].cells == ("escaped | pipe", "`a|b` code", "extra")


def test_missing_cells_are_empty_and_extra_cells_are_ignored() -> None:
    table = parse_tables(DOC)[1]
    assert table.rows[1].cells == ("short", "", "")


def test_crlf_line_endings_do_not_leak_into_cells() -> None:
    tables = parse_tables("| Capability | Status |\r\n|---|---|\r\n| a | Planned |\r\n")
    assert tables[0].rows[0].cells == ("a", "Planned")


def test_a_byte_order_mark_does_not_hide_the_first_heading() -> None:
    tables = parse_tables("\ufeff## Core\n| Capability | Status |\n|---|---|\n| a | b |\n")
    assert [(t.line, t.section) for t in tables] == [(2, "Core")]


def test_cells_without_outer_pipes_split_like_gfm() -> None:
    assert split_cells("a | b") == ["a", "b"]
    assert split_cells("| a | b |") == ["a", "b"]
    assert split_cells("| `` x`|`y `` | b |") == ["`` x`|`y ``", "b"]


def test_a_delimiter_row_with_another_cell_count_is_not_a_table() -> None:
    assert parse_tables("| a | b |\n|---|\n| 1 | 2 |\n") == []
