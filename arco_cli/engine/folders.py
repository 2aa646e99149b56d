"""Attempt folders made ahead of time, on a helper thread.

Every attempt writes ``.arco/runs/<run_id>/<task_key>/<attempt>.stdout|stderr|log``
(decisions B5). Creating the folder and the two empty files are journalled metadata
changes: cheap on a quiet disk, but up to half a millisecond each while other processes
(or the executor's own appends) fsync — as long as a no-op task itself. So the executor
asks for the folders of tasks that are ready to start but wait for a free slot, and this
thread makes them meanwhile; the attempt then finds its files and only opens them.

Only a folder that does not exist yet is made here (a folder left by an earlier
execution of the run goes the executor's usual way). The empty files of a task that
never starts (the run was cancelled) are removed again when the execution ends, so the
runs folder holds files for started attempts only, as before.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path

#: the files an attempt's process writes from its start (the ``.log`` file of a python
#: task is created on its first record)
PREPARED_SUFFIXES = ("stdout", "stderr")


class FolderPreparer:
    def __init__(self, run_dir: Path) -> None:
        self._run_dir = run_dir
        self._cond = threading.Condition()
        self._queue: deque[tuple[str, int]] = deque()
        self._wanted: dict[str, int] = {}   # task key → attempt queued or being made
        self._made: dict[str, int] = {}     # task key → attempt whose folder is ready
        self._busy: str | None = None
        self._closing = False
        self._thread: threading.Thread | None = None

    def request(self, tasks: Iterable[tuple[str, int]]) -> None:
        """Make the folders of these (task key, attempt) soon, in this order."""
        with self._cond:
            added = False
            for key, number in tasks:
                if key in self._wanted or key in self._made:
                    continue
                self._wanted[key] = number
                self._queue.append((key, number))
                added = True
            if not added:
                return
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, daemon=True,
                                                name="arco-attempt-folders")
                self._thread.start()
            self._cond.notify_all()

    def claim(self, key: str, number: int) -> bool:
        """True when attempt ``number`` of ``key`` has its fresh folder with empty
        stdout/stderr files; otherwise the caller makes them (nothing of this task is
        being made any more)."""
        with self._cond:
            while self._busy == key:
                self._cond.wait()
            if self._made.get(key) == number:
                del self._made[key]
                return True
            self._wanted.pop(key, None)   # still queued: the thread skips it
            return False

    def close(self) -> None:
        """Stop the thread and remove what was made for attempts that never started."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        for key, number in self._made.items():
            folder = self._run_dir / key
            for suffix in PREPARED_SUFFIXES:
                with contextlib.suppress(OSError):
                    (folder / f"{number}.{suffix}").unlink()
            with contextlib.suppress(OSError):
                folder.rmdir()
        self._made.clear()

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._closing:
                    return
                key, number = self._queue.popleft()
                if self._wanted.get(key) != number:
                    continue   # claimed before its turn
                self._busy = key
            made = False
            try:
                made = self._make(key, number)
            finally:
                with self._cond:
                    self._busy = None
                    del self._wanted[key]
                    if made:
                        self._made[key] = number
                    self._cond.notify_all()

    def _make(self, key: str, number: int) -> bool:
        folder = self._run_dir / key
        try:
            os.mkdir(folder)
        except OSError:   # exists already (or cannot be made): the executor's way
            return False
        try:
            for suffix in PREPARED_SUFFIXES:
                os.close(os.open(folder / f"{number}.{suffix}",
                                 os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644))
        except OSError:
            return False   # the folder exists now: the executor truncates what is there
        return True
