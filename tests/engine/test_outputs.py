"""The stderr tail that becomes a failed attempt's message (decisions A9)."""

from __future__ import annotations

from pathlib import Path

from arco_cli.engine.outputs import MESSAGE_LIMIT, STDERR_TAIL_LINES, stderr_tail


def test_the_tail_is_the_last_twenty_lines(tmp_path: Path) -> None:
    path = tmp_path / "stderr"
    path.write_text("".join(f"line {i}\n" for i in range(30)), encoding="utf-8")
    assert stderr_tail(path).split("\n") == [f"line {i}" for i in range(10, 30)]
    assert STDERR_TAIL_LINES == 20


def test_line_separators_inside_a_line_are_kept_as_they_are(tmp_path: Path) -> None:
    path = tmp_path / "stderr"
    path.write_bytes("first\r\nsecond\u2028still second\x0cand this\n".encode())
    assert stderr_tail(path) == "first\nsecond\u2028still second\x0cand this"


def test_the_tail_is_cut_to_the_message_limit_and_a_missing_file_is_empty(
        tmp_path: Path) -> None:
    path = tmp_path / "stderr"
    path.write_text("x" * (MESSAGE_LIMIT + 500) + "\n", encoding="utf-8")
    assert stderr_tail(path) == "x" * MESSAGE_LIMIT
    assert stderr_tail(tmp_path / "absent") == ""
