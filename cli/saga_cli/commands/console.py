"""The ``saga`` console entry point: Ctrl-C handled from the first instant, then the command loaded and run.

Kept apart from ``interrupts``, which the commands and the engine import: the entry point imports the
commands, and in ``interrupts`` that would make a circle.
"""

from __future__ import annotations

from saga_cli.engine import interrupts


def main() -> None:  # pragma: no cover - the console entry point; tests run it as a process
    """``saga``: handle Ctrl-C from the first instant, then load and run the command."""
    interrupts.install()
    from saga_cli.commands.main import app  # noqa: PLC0415  (after the handler: this import takes a while)

    try:
        app()
    except SystemExit as done:
        if interrupts.requested() and done.code != interrupts.EXIT_INTERRUPTED:
            interrupts.exit_now("saga: interrupted")
        raise
