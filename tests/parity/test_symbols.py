"""Definitions per language for P102/P103 (decisions A62)."""

from __future__ import annotations

from pathlib import Path

from arco_cli.parity import symbols
from arco_cli.parity.repo import Repo


def _defs(source: str) -> dict[str, list[tuple[int, int]]]:
    found = symbols.scan(source.split("\n"))
    return {name: [(d.line, d.block_start) for d in defs] for name, defs in found.items()}


def test_rust_modifiers_attributes_doc_comments_and_impl_forms() -> None:
    defs = _defs(
        "/// Doc.\n"                                   # 1
        "#[cfg_attr(\n"                                # 2
        "    test,\n"                                  # 3
        "    derive(Debug)\n"                          # 4
        ")]\n"                                         # 5
        "pub(crate) unsafe fn launch() {}\n"           # 6
        "\n"                                           # 7
        "impl<T: Clone> fmt::Display for Wrapper<T> {}\n"   # 8
        "impl Planner {}\n"                            # 9
        "pub const fn limit() -> u32 { 3 }\n"          # 10
        "pub const MAX: u32 = 3;\n")                   # 11
    assert defs["launch"] == [(6, 1)]
    assert defs["Wrapper"] == [(8, 8)]
    assert defs["Planner"] == [(9, 9)]
    assert defs["limit"] == [(10, 10)]
    assert defs["MAX"] == [(11, 11)]


def test_python_decorators_with_continuation_lines_start_the_block() -> None:
    defs = _defs(
        "import x\n"                      # 1
        "\n"                              # 2
        "@decorate(\n"                    # 3
        "    option=1,\n"                 # 4
        ")\n"                             # 5
        "# why it exists\n"               # 6
        "async def handler():\n"          # 7
        "    pass\n"                      # 8
        "class Store:\n"                  # 9
        "    kind = 1\n")                 # 10
    assert defs["handler"] == [(7, 3)]
    assert defs["Store"] == [(9, 9)]


def test_go_receivers_and_js_ts_exports_are_definitions() -> None:
    defs = _defs(
        "func (s *Server) Start() error {\n"
        "func Stop() {}\n"
        "export default function render() {}\n"
        "export async function load() {}\n"
        "export interface Props {}\n"
        "type Alias = string\n")
    assert set(defs) >= {"Start", "Stop", "render", "load", "Props", "Alias"}


def test_a_blank_line_ends_the_block_above_a_definition() -> None:
    defs = _defs("// unrelated\n\n#[test]\nfn check() {}\n")
    assert defs["check"] == [(4, 3)]


def test_qualified_variant_counts_when_it_is_in_the_types_body(tmp_path: Path) -> None:
    (tmp_path / "lib.rs").write_text(
        "pub enum State {\n    Queued,\n    Running,\n}\nfn other() { let Done = 1; }\n",
        encoding="utf-8")
    repo = Repo(tmp_path)
    assert [d.line for d in repo.definitions("lib.rs", "State::Running")] == [3]
    assert repo.definitions("lib.rs", "State::Done") == []
    assert [d.line for d in repo.definitions("lib.rs", "crate::other")] == [5]


def test_python_class_attribute_counts_as_a_member(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("class Store:\n    kind = 1\n\nkind2 = 2\n",
                                   encoding="utf-8")
    repo = Repo(tmp_path)
    assert [d.line for d in repo.definitions("m.py", "Store.kind")] == [2]
    assert repo.definitions("m.py", "Store.kind2") == []
