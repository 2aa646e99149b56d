"""Rich consoles for text output (stdout) and progress/warnings (stderr).

Colour follows NO_COLOR, FORCE_COLOR, TERM=dumb and ``--no-color``, and is off when the
stream is not a terminal (rich's own detection handles the environment variables).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def make_console(*, stderr: bool = False, no_color: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    force = os.environ.get("FORCE_COLOR") not in (None, "", "0")
    color = not no_color and "NO_COLOR" not in os.environ and (force or stream.isatty())
    return Console(
        file=stream,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        soft_wrap=False,
        width=None if stream.isatty() else 120,
    )
