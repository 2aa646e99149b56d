"""The result of a check: findings and their ordering (decisions A60, A68)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ERROR = "error"
WARNING = "warning"

#: evidence-column order used to break ties between findings of one row (A68)
COLUMN_ORDER = {"": 0, "Evidence (Code)": 1, "Evidence (Tests)": 2, "Evidence (CI)": 3}


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: str
    file: str            # repo-relative, with "/"
    line: int            # header line for P001, row line otherwise
    section: str
    capability: str
    message: str
    fixable: bool = False
    column: str = ""     # evidence column the finding is about ("" for row/table rules)
    row_line: int | None = None   # the Implemented row it belongs to (for junit)
    table_line: int = 0           # header line of its table (for junit)

    def sort_key(self) -> tuple[str, int, str, int, str]:
        return (self.file, self.line, self.rule, COLUMN_ORDER.get(self.column, 9),
                self.message)

    def as_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity,
            "file": self.file,
            "line": self.line,
            "section": self.section,
            "capability": self.capability,
            "message": self.message,
            "fixable": self.fixable,
        }


@dataclass(frozen=True)
class Fix:
    """One anchor rewrite made by ``--fix``."""

    file: str
    line: int
    old: str
    new: str

    def as_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class RowRef:
    """An Implemented row, one junit testcase."""

    file: str
    line: int
    section: str
    capability: str
    table_line: int


@dataclass
class Report:
    findings: list[Finding]
    rows: list[RowRef]
    matrices: list[str]
    fixed: list[Fix] | None = None
    verify: dict[str, Any] | None = None
    verify_failed: bool = False

    @property
    def rows_checked(self) -> int:
        return len(self.rows)

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> int:
        return sum(1 for f in self.findings if f.severity == WARNING)

    @property
    def failed(self) -> bool:
        return self.errors > 0 or self.verify_failed

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "rowsChecked": self.rows_checked,
            "errors": self.errors,
            "warnings": self.warnings,
            "findings": [f.as_json() for f in self.findings],
        }
        if self.fixed is not None:
            data["fixed"] = [f.as_json() for f in self.fixed]
        if self.verify is not None:
            data["verify"] = self.verify
        return data

    def summary(self) -> str:
        # Fixed wording (plural always) so that scripts can parse the line.
        return (f"{self.rows_checked} rows checked, {self.errors} errors, "
                f"{self.warnings} warnings")
