"""``--fix`` is byte-exact around the anchors it rewrites, whatever surrounds them."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from arco_cli.parity.findings import WARNING, Finding
from arco_cli.parity.fixer import apply_fixes
from arco_cli.parity.rules import AnchorFix

# Any text without the characters that delimit lines or code spans.
TEXT = st.text(alphabet=st.characters(exclude_characters="`\n",
                                      exclude_categories=["Cs"]), max_size=30)


@settings(max_examples=60, deadline=None)
@given(before=st.lists(TEXT, max_size=3), prefix=TEXT, suffix=TEXT,
       after=st.lists(TEXT, max_size=3), old=st.integers(1, 500), new=st.integers(1, 500))
def test_only_the_anchor_number_changes(before: list[str], prefix: str, suffix: str,
                                        after: list[str], old: int, new: int) -> None:
    line = f"{prefix}`src/a.rs:{old}` (`f`){suffix}"
    text = "\n".join([*before, line, *after])
    number = len(before) + 1
    finding = Finding("P103", WARNING, "m.md", number, "", "", "stale", True)
    fix = AnchorFix(number, f"src/a.rs:{old}", 0, f"src/a.rs:{new}", finding)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.md"
        path.write_bytes(text.encode("utf-8"))
        made = apply_fixes(path, "m.md", text, [fix])
        expected = "\n".join([*before, f"{prefix}`src/a.rs:{new}` (`f`){suffix}", *after])
        assert path.read_bytes() == expected.encode("utf-8")
    assert [(m.line, m.old, m.new) for m in made] == [
        (number, f"src/a.rs:{old}", f"src/a.rs:{new}")]
