"""Live run progress on an interactive stderr (rich is imported only when it is shown)."""

from __future__ import annotations

from typing import Any


class RunProgress:
    """A bar of finished tasks; a no-op unless ``enabled`` (never in ``--json`` mode)."""

    def __init__(self, run_id: str, total: int, enabled: bool) -> None:
        self._bar: Any = None
        self._task: Any = None
        if not enabled or total == 0:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                             MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
                             console=Console(stderr=True), transient=True)
        self._task = self._bar.add_task(run_id, total=total, note="")
        self._bar.start()

    @property
    def enabled(self) -> bool:
        """Whether a bar is shown (callers skip building notes nobody sees)."""
        return self._bar is not None

    def note(self, text: str) -> None:
        if self._bar is not None:
            self._bar.update(self._task, note=text)

    def finished(self, count: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, count)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
