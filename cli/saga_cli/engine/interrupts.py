"""Ctrl-C for the ``saga`` command: exit 130 with one line, at any moment, leaving the state folder whole.

The console entry point (``console``) installs a SIGINT handler before the heavy imports (moto takes a
second or two), so even an early Ctrl-C ends quietly. While a command holds the embedded engine's state
(``deferred()``), the first Ctrl-C only asks it to stop: no new execution starts, the running ones finish
and are saved with their table changes, then the command exits 130. A second Ctrl-C stops at once; the
folder then holds what its last commit saved, which is whole by construction (see ``state``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130

_requested = threading.Event()
_deferring = 0


def requested() -> bool:
    """True once Ctrl-C asked the command to stop."""
    return _requested.is_set()


@contextmanager
def deferred() -> Iterator[None]:
    """Within this block the first Ctrl-C asks to stop (``requested()``) instead of exiting at once."""
    global _deferring  # noqa: PLW0603 (one process, one signal handler)
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1


def _on_sigint(_signum: int, _frame: FrameType | None) -> None:
    if _deferring and not _requested.is_set():
        _requested.set()
        return
    exit_now("saga: interrupted again; stopped at once" if _requested.is_set() else "saga: interrupted")


def exit_now(line: str) -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, RuntimeError, ValueError):  # a closed pipe, or an interrupted write
            stream.flush()
    os.write(2, (line + "\n").encode())
    os._exit(EXIT_INTERRUPTED)


def install() -> None:
    """Handle Ctrl-C as this module says (only in the process that runs the command, never in tests)."""
    signal.signal(signal.SIGINT, _on_sigint)
