"""Task processes: started in their own process group, killed as a group.

Every task attempt (a ``run`` argv, or the python worker) is a session leader
(``start_new_session``): a terminal's Ctrl-C reaches arco only, and arco can stop the task
together with everything it spawned with one ``killpg`` (timeouts, cancellation, and
leftovers of a task that exited while its children still run).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


def launch(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], stdout_path: Path,
           stderr_path: Path) -> subprocess.Popen[bytes]:
    """Start ``argv`` (no shell) with stdout/stderr going to the attempt's log files.

    Raises ``OSError`` when the program cannot be started (not found, not executable).
    """
    stdout_path.parent.mkdir(parents=True, exist_ok=True)
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        return subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err, start_new_session=True)


def kill_group(pid: int) -> None:
    """SIGKILL the process group led by ``pid``; a task past its deadline or cancelled
    gets no grace period, so a stuck task cannot hold up the run."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def wait(proc: subprocess.Popen[bytes], timeout_s: float | None) -> int | None:
    """The exit status (negative: killed by that signal), or None when ``timeout_s``
    passed first."""
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None
