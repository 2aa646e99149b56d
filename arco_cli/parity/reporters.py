"""The gate's outputs: text, GitHub workflow commands (+ step summary) and JUnit XML.
JSON is the envelope printed by the CLI from :meth:`Report.as_json`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from arco_cli.parity.findings import ERROR, Finding, Report


def _groups(findings: Iterable[Finding]) -> dict[str, dict[str, list[Finding]]]:
    """file → section → findings, errors first then by line (sections in line order)."""
    out: dict[str, dict[str, list[Finding]]] = {}
    for f in sorted(findings, key=lambda f: (f.file, f.line)):
        out.setdefault(f.file, {}).setdefault(f.section, []).append(f)
    for sections in out.values():
        for items in sections.values():
            items.sort(key=lambda f: (f.severity != ERROR, *f.sort_key()[1:]))
    return out


def _verify_lines(report: Report) -> list[str]:
    if report.verify is None:
        return []
    items = report.verify.get("findings") or []
    lines = [f"verify: {'FAILED' if report.verify_failed else 'ok'} "
             f"({len(items)} findings)"]
    for item in items:
        lines.append(f"  {item.get('code', '')} {item.get('message', '')}")
    return lines


def render_text(report: Report) -> str:
    lines: list[str] = []
    for fix in report.fixed or []:
        lines.append(f"fixed {fix.file}:{fix.line}: `{fix.old}` -> `{fix.new}`")
    if report.fixed:
        lines.append("")
    for file, sections in _groups(report.findings).items():
        lines.append(file)
        for section, items in sections.items():
            lines.append(f"  ## {section}" if section else "  (no section)")
            for f in items:
                cap = f" [{f.capability}]" if f.capability else ""
                mark = " (fixable)" if f.fixable else ""
                lines.append(f"    {f.file}:{f.line}: {f.severity} {f.rule}{cap} "
                             f"{f.message}{mark}")
        lines.append("")
    lines.extend(_verify_lines(report))
    lines.append(report.summary())
    return "\n".join(lines) + "\n"


def escape_data(value: str) -> str:
    """A workflow-command message: ``%``, CR and LF escaped as GitHub requires."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """A workflow-command property value: also ``:`` and ``,``."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report) -> str:
    lines: list[str] = []
    by_file: dict[str, list[Finding]] = {}
    for f in report.findings:
        by_file.setdefault(f.file, []).append(f)
    for file in sorted(set(report.matrices) | set(by_file)):
        lines.append(f"::group::{escape_data(file)}")
        for fix in (x for x in report.fixed or [] if x.file == file):
            lines.append(f"::notice file={escape_property(fix.file)},line={fix.line},"
                         f"title=fixed::{escape_data(f'`{fix.old}` -> `{fix.new}`')}")
        for f in by_file.get(file, []):
            props = ",".join([
                f"file={escape_property(f.file)}",
                f"line={f.line}",
                f"title={escape_property(f'{f.rule} {f.capability}'.strip())}",
            ])
            lines.append(f"::{f.severity} {props}::{escape_data(f.message)}")
        lines.append("::endgroup::")
    if report.verify is not None:
        lines.append("::group::verify")
        for item in report.verify.get("findings") or []:
            lines.append(f"::error title={escape_property(str(item.get('code', '')))}::"
                         f"{escape_data(str(item.get('message', '')))}")
        lines.append("::endgroup::")
    lines.append(report.summary())
    return "\n".join(lines) + "\n"


def _md_cell(value: str) -> str:
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace(
        "\n", " ")


def render_markdown(report: Report) -> str:
    """The step-summary report appended to ``$GITHUB_STEP_SUMMARY``."""
    out = ["## arco parity-check", "", f"**{report.summary()}**", ""]
    if report.fixed:
        out.append(f"Fixed {len(report.fixed)} stale anchors.")
        out.append("")
    if report.findings:
        out.append("| Severity | Rule | Location | Section | Capability | Message |")
        out.append("|---|---|---|---|---|---|")
        for f in report.findings:
            out.append(f"| {f.severity} | {f.rule} | `{f.file}:{f.line}` | "
                       f"{_md_cell(f.section)} | {_md_cell(f.capability)} | "
                       f"{_md_cell(f.message)} |")
        out.append("")
    for line in _verify_lines(report):
        out.append(f"    {line}")
    return "\n".join(out) + "\n"


def _clean_xml(value: str) -> str:
    """XML 1.0 cannot hold most control characters; drop them."""
    return "".join(ch for ch in value if ch in "\t\n\r" or ord(ch) >= 0x20)


def render_junit(report: Report) -> str:
    """One testsuite per matrix, a testcase per Implemented row (A70)."""
    import xml.etree.ElementTree as ET

    root = ET.Element("testsuites", name="arco parity-check")
    total_tests = total_failures = 0
    for file in report.matrices:
        suite = ET.SubElement(root, "testsuite", name=file)
        cases: list[tuple[str, list[Finding]]] = []
        file_findings = [f for f in report.findings if f.file == file]
        row_lines = {r.line for r in report.rows if r.file == file}
        for row in (r for r in report.rows if r.file == file):
            own = [f for f in file_findings if f.row_line == row.line]
            cases.append((f"{row.section} / {row.capability}", own))
        tables: dict[int, list[Finding]] = {}
        for f in file_findings:
            if f.row_line is None or f.row_line not in row_lines:
                tables.setdefault(f.table_line, []).append(f)
        for table_line, own in sorted(tables.items()):
            section = own[0].section
            cases.append((f"{section} / table at line {table_line}", own))
        failures = 0
        for name, own in cases:
            case = ET.SubElement(suite, "testcase", name=_clean_xml(name),
                                 classname=_clean_xml(file))
            errors = [f for f in own if f.severity == ERROR]
            warnings = [f for f in own if f.severity != ERROR]
            if errors:
                failures += 1
                failure = ET.SubElement(
                    case, "failure", type=errors[0].rule,
                    message=_clean_xml(f"{len(errors)} parity errors"))
                failure.text = _clean_xml("\n".join(
                    f"{f.file}:{f.line}: {f.rule} {f.message}" for f in errors))
            if warnings:
                out = ET.SubElement(case, "system-out")
                out.text = _clean_xml("\n".join(
                    f"{f.file}:{f.line}: warning {f.rule} {f.message}" for f in warnings))
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        total_tests += len(cases)
        total_failures += failures
    if report.verify is not None:
        suite = ET.SubElement(root, "testsuite", name="verify", tests="1",
                              failures="1" if report.verify_failed else "0", errors="0")
        case = ET.SubElement(suite, "testcase", name="verify", classname="verify")
        if report.verify_failed:
            failure = ET.SubElement(case, "failure", type="verify",
                                    message="workspace verify found problems")
            failure.text = _clean_xml("\n".join(_verify_lines(report)))
        total_tests += 1
        total_failures += int(report.verify_failed)
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def summary_data(report: Report) -> dict[str, Any]:
    return report.as_json()
