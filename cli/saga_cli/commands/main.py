"""The ``saga`` command: every command registered on the app, in the order ``saga --help`` lists them."""

from __future__ import annotations

from saga_cli.commands import measures, sagas
from saga_cli.commands.app import app, register, target_command

# Import the app from here: only once this module has run does it have its commands.
__all__ = ["app"]

# target_command: the commands that talk to a target, with the shared target options as ``options``.
target_command(sagas.run)
target_command(sagas.describe)
target_command(sagas.history)
target_command(sagas.stock)
target_command(sagas.list_)
target_command(sagas.seed)
register(sagas.reset)
target_command(sagas.redrive)
target_command(sagas.alerts)
register(sagas.chaos)
register(measures.bench)
register(measures.capacity)
target_command(sagas.graph)
