"""The executor's side of a python pool worker (``arco_cli.engine.worker --serve``).

A pool worker runs one attempt at a time and stays up for the next, which is what
keeps python tasks cheap (no interpreter start, no re-import of arco per task). Each
worker is a session leader, so a timeout or a cancellation kills it together with
whatever its task spawned; the executor then simply starts another (decisions A12).
The executor's scheduling loop waits on :meth:`PoolWorker.fileno` with its selector.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class PoolWorker:
    def __init__(self, *, cwd: Path, env: Mapping[str, str], stderr_path: Path) -> None:
        stderr_path.parent.mkdir(parents=True, exist_ok=True)
        with stderr_path.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "arco_cli.engine.worker", "--serve"], cwd=cwd,
                env=dict(env), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                start_new_session=True)
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._in = self.proc.stdin.fileno()
        self._out = self.proc.stdout.fileno()
        os.set_blocking(self._out, False)
        self._pending = b""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def fileno(self) -> int:
        return self._out

    def send(self, spec: dict[str, Any]) -> bool:
        """Hand the worker an attempt; False when it is gone."""
        data = memoryview((json.dumps(spec) + "\n").encode())
        try:
            while data:   # straight to the pipe: one system call, no buffer to flush
                data = data[os.write(self._in, data):]
        except OSError:
            return False
        return True

    def receive(self) -> tuple[list[dict[str, Any]], bool]:
        """(answers ``{"status", "report"?}`` received since the last call, whether the
        worker is gone). Call when :meth:`fileno` is readable."""
        answers: list[dict[str, Any]] = []
        gone = False
        while True:
            try:
                chunk = os.read(self._out, 65536)
            except BlockingIOError:
                break
            if not chunk:
                gone = True
                break
            self._pending += chunk
            if len(chunk) < 65536 and chunk.endswith(b"\n"):
                # a whole answer, and the worker waits for the next attempt: an end of
                # input that follows is reported by the selector like any other
                break
        while b"\n" in self._pending:
            line, self._pending = self._pending.split(b"\n", 1)
            answers.append(json.loads(line))
        return answers, gone

    def exit_status(self) -> int:
        """Reap a gone worker: its exit status (negative: killed by that signal)."""
        return self.proc.wait()

    def shutdown(self) -> None:
        """Ask an idle worker to exit (end of input) without waiting for it: it winds
        its interpreter down while the executor folds; :meth:`close` then reaps it."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()

    def close(self) -> None:
        """Ask an idle worker to exit (end of input), then make sure it did."""
        self.shutdown()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
