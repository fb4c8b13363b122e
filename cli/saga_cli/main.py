"""The ``saga`` command: every command registered on the app, in the order ``saga --help`` lists them."""

from __future__ import annotations

from saga_cli import commands_measure, commands_sagas
from saga_cli.cli_app import app, register, target_command

# Import the app from here: only once this module has run does it have its commands.
__all__ = ["app"]

# target_command: the commands that talk to a target, with the shared target options as ``options``.
target_command(commands_sagas.run)
target_command(commands_sagas.describe)
target_command(commands_sagas.history)
target_command(commands_sagas.stock)
target_command(commands_sagas.list_)
target_command(commands_sagas.seed)
register(commands_sagas.reset)
target_command(commands_sagas.redrive)
target_command(commands_sagas.alerts)
register(commands_sagas.chaos)
register(commands_measure.bench)
register(commands_measure.capacity)
target_command(commands_sagas.graph)
