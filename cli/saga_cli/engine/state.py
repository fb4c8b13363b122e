"""The embedded engine's state folder (``.saga/`` by default), shared safely between ``saga`` commands.

What it holds:

- ``tables.json``: the tables' items and the index of finished executions. Writing it is the commit: a
  command's table changes and the executions that made them become visible together, or not at all.
- ``executions/<name>.json``: one finished execution (its description and history). Written before the
  ``tables.json`` that lists it, so a command stopped between the two leaves a file no index names;
  such files are ignored and removed by the next command.
- ``lock`` and ``owner``: one command at a time. The engine holds its tables in memory for the whole
  command, so two commands at once would each save their own copy and the last would win; the second
  command waits, saying which process holds the folder.

Every file is written to a temporary name and renamed into place, so a crash never leaves half a file.
Anything unreadable becomes a ``StateError`` naming the file and what to do.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from filelock import FileLock, Timeout

#: The layout written by this module; a bare ``{table: [items]}`` object is the layout before it.
FORMAT = 2
TABLES_FILE = "tables.json"
EXECUTIONS_DIR = "executions"
_RESET_HINT = "run saga reset to start again from the seed"


class StateError(Exception):
    """The state folder cannot be used: a damaged file (exit status 1)."""


Record = dict[str, Any]  # {"describe": ..., "history": [...]}


def summary_of(describe: dict[str, Any]) -> dict[str, Any]:
    """What ``saga list`` shows of an execution, kept in the index so listing reads one file."""
    return {key: describe.get(key) for key in ("executionArn", "name", "status", "startDate", "stopDate", "error")}


@dataclass
class StateFolder:
    """A state folder opened by one command: call ``locked()`` first, then ``load()``."""

    path: Path
    #: Executions the folder holds: committed ones, then those staged by this command.
    index: dict[str, dict[str, Any]] = field(default_factory=dict)
    _staged: dict[str, Record] = field(default_factory=dict)
    _committed_text: str | None = None

    @property
    def tables_path(self) -> Path:
        return self.path / TABLES_FILE

    def execution_path(self, name: str) -> Path:
        return self.path / EXECUTIONS_DIR / f"{name}.json"

    # One command at a time -------------------------------------------------------------------------------

    @contextmanager
    def locked(self, on_wait: Callable[[str], None]) -> Iterator[None]:
        """Hold the folder for this command; if another holds it, say so through ``on_wait`` and wait."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path / "lock")
        owner = self.path / "owner"
        try:
            lock.acquire(timeout=0)
        except Timeout:
            holder = _read_text(owner) or "unknown"
            on_wait(f"another saga command (pid {holder}) is using {self.path}; waiting for it to finish")
            lock.acquire()
        try:
            _write_text(owner, str(os.getpid()))
            yield
        finally:
            lock.release()

    # Reading ---------------------------------------------------------------------------------------------

    def load(self, table_names: set[str]) -> dict[str, list[dict[str, Any]]] | None:
        """The saved tables (None for a fresh folder); also reads the index of executions."""
        path = self.tables_path
        if not path.exists():
            self.index = {}
            self._committed_text = None
            self._remove_unindexed()
            return None
        text = _read_text(path)
        try:
            data = json.loads(text or "")
        except json.JSONDecodeError as exc:
            raise StateError(f"{path} is damaged (not JSON: {exc.msg} at line {exc.lineno}): {_RESET_HINT}") from None
        tables, index = self._parse(data, table_names)
        self.index = index
        self._committed_text = text
        self._remove_unindexed()
        return tables

    def _parse(
        self, data: Any, table_names: set[str]
    ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, Any]]]:
        path = self.tables_path
        if isinstance(data, dict) and data.get("format") == FORMAT:
            tables, index = data.get("tables"), data.get("executions")
            if not isinstance(index, dict) or not all(isinstance(v, dict) for v in index.values()):
                raise StateError(f"{path} is damaged (its index of executions is unreadable): {_RESET_HINT}")
        elif isinstance(data, dict) and data and set(data) <= table_names:
            # The layout before the index: every execution file on disk was saved with these tables.
            tables, index = data, self._index_from_files()
        else:
            raise StateError(f"{path} is damaged (not a saga state file): {_RESET_HINT}")
        if not _tables_shape(tables, table_names):
            raise StateError(f"{path} is damaged (its tables are not lists of items): {_RESET_HINT}")
        return cast(dict[str, list[dict[str, Any]]], tables), index

    def _index_from_files(self) -> dict[str, dict[str, Any]]:
        index = {}
        for file in sorted((self.path / EXECUTIONS_DIR).glob("*.json")):
            index[file.stem] = summary_of(self._read_record(file)["describe"])
        return index

    def record(self, name: str) -> Record | None:
        """A finished execution kept in the folder, or None."""
        if name in self._staged:
            return self._staged[name]
        if name not in self.index:
            return None
        return self._read_record(self.execution_path(name))

    def _read_record(self, file: Path) -> Record:
        text = _read_text(file)
        if text is None:
            raise StateError(f"{file} is missing though {self.tables_path} lists it: {_RESET_HINT}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise StateError(f"{file} is damaged (not JSON: {exc.msg} at line {exc.lineno}): {_RESET_HINT}") from None
        if not (
            isinstance(data, dict) and isinstance(data.get("describe"), dict) and isinstance(data.get("history"), list)
        ):
            raise StateError(f"{file} is damaged (not an execution record): {_RESET_HINT}")
        return data

    def summaries(self) -> list[dict[str, Any]]:
        """Every execution the folder holds, newest first."""
        return sorted(self.index.values(), key=lambda s: str(s.get("startDate") or ""), reverse=True)

    # Writing ---------------------------------------------------------------------------------------------

    def stage(self, record: Record) -> None:
        """Keep a finished execution; it is saved with the tables at the next ``commit``."""
        name = record["describe"]["name"]
        self._staged[name] = record
        self.index[name] = summary_of(record["describe"])

    def commit(self, tables: dict[str, list[dict[str, Any]]] | None) -> None:
        """Save the staged executions, then the tables with the index naming them (the commit point).

        ``tables`` None: the tables live elsewhere (an external DynamoDB); only the index is saved.
        Nothing is written when nothing changed.
        """
        text = json.dumps({"format": FORMAT, "tables": tables or {}, "executions": self.index}, default=_iso)
        if not self._staged and text == self._committed_text:
            return
        (self.path / EXECUTIONS_DIR).mkdir(parents=True, exist_ok=True)
        for name, record in self._staged.items():
            _write_text(self.execution_path(name), json.dumps(record, default=_iso))
        _write_text(self.tables_path, text)
        self._committed_text = text
        self._staged.clear()

    def looks_like_one(self) -> bool:
        return self.tables_path.exists() or (self.path / EXECUTIONS_DIR).exists() or (self.path / "lock").exists()

    def clear(self) -> None:
        """Forget everything (call while ``locked``): the index goes first, so a stop half-way leaves a fresh
        folder whose leftover execution files the next command removes."""
        self.tables_path.unlink(missing_ok=True)
        self.index = {}
        self._committed_text = None
        self._staged.clear()
        shutil.rmtree(self.path / EXECUTIONS_DIR, ignore_errors=True)
        for leftover in self.path.iterdir():
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            elif leftover.name not in ("lock", "owner"):
                leftover.unlink(missing_ok=True)

    def _remove_unindexed(self) -> None:
        """Execution files a stopped command wrote but never committed: no order holds them."""
        for file in (self.path / EXECUTIONS_DIR).glob("*.json"):
            if file.stem not in self.index:
                file.unlink(missing_ok=True)
        for tmp in self.path.rglob("*.tmp"):
            tmp.unlink(missing_ok=True)


def _tables_shape(tables: Any, table_names: set[str]) -> bool:
    return (
        isinstance(tables, dict)
        and set(tables) <= table_names
        and all(isinstance(items, list) and all(isinstance(i, dict) for i in items) for items in tables.values())
    )


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise StateError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}: {_RESET_HINT}") from None


def _write_text(path: Path, text: str) -> None:
    """Write to a temporary name, flush to disk, and rename over ``path``: readers see all or nothing."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    tmp.replace(path)


def _iso(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
