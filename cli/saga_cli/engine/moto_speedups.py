"""Speed-ups of moto's Step Functions interpreter for the embedded engine, each found with a profiler.

``saga bench`` measured the engine against the same handlers called directly (the limit it is held
against); a sampling profile of the difference (every thread, GIL holder only) showed where the engine's
own time went, and these patches remove the parts that were pure waste. None changes what an execution
does; ``tests/test_moto_speedups.py`` runs every path with and without them and compares.

- JSONPath: every ``InputPath``, ``OutputPath``, ``ResultPath`` and ``.$`` parameter was parsed again, on
  every state of every execution, by jsonpath_ng's PLY parser, which also rebuilds its parser tables each
  time: the largest single item of the engine's own time (about 15 %). Parsed paths are immutable, so
  each is parsed once.
- Copies: the interpreter deep-copies the state's data several times per state with ``copy.deepcopy``,
  which is generic and slow. The data is JSON (dicts, lists, strings, numbers), and a JSON-shaped copy
  gives the same result several times faster; anything else still goes to ``copy.deepcopy``.
- Threads: each execution starts a thread for its worker and one for its program, and each Task state one
  more to enforce its ``TimeoutSeconds``: six thread starts per happy saga, each waiting for the new
  thread to run. These run on reused threads instead; ``start``/``join``/``is_alive`` behave as before,
  and a state that overruns its timeout is still abandoned exactly as a plain thread would be.
- moto's request dispatch lists the methods of the response class with ``inspect.getmembers`` on every
  request (DynamoDB included); the list depends only on the class, so it is computed once per class.

Together: the engine's CPU per happy saga from about 39 to 32 ms against 26-27 ms for the direct calls
(``saga bench``, README "Performance and cost").

Like ``moto_patches``, everything here is private API of the pinned moto, checked by the tests, and lasts
only while ``installed()`` is open. Installing it twice (nested) is harmless.
"""

from __future__ import annotations

import copy
import functools
import queue
import sys
import threading
import types
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import moto.core.responses as moto_responses
from jsonpath_ng import parse as parse_jsonpath  # type: ignore[attr-defined]
from jsonpath_ng.ext import parse as parse_jsonpath_ext  # type: ignore[attr-defined]
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.string import string_expression
from moto.stepfunctions.parser.asl.component.program import program
from moto.stepfunctions.parser.asl.component.state.exec import execute_state
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service
from moto.stepfunctions.parser.asl.eval import environment, states
from moto.stepfunctions.parser.asl.eval.event import event_manager
from moto.stepfunctions.parser.asl.utils import json_path
from moto.stepfunctions.parser.backend import execution_worker

#: The interpreter's modules that deep-copy state data.
COPYING_MODULES = (
    states,
    string_expression,
    execute_state,
    state_task_service,
    result_path,
    event_manager,
    environment,
)

_SCALARS = (str, int, float, bool, type(None))


def json_copy(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """A deep copy of JSON-shaped data; anything else is left to ``copy.deepcopy``."""
    kind = type(value)
    if kind is dict:
        return {key: json_copy(inner) for key, inner in value.items()}
    if kind is list:
        return [json_copy(inner) for inner in value]
    if kind in _SCALARS:
        return value
    return copy.deepcopy(value, memo)


class _JsonCopyModule(types.SimpleNamespace):
    """``copy`` as the interpreter's modules see it: ``deepcopy`` is ``json_copy``."""

    def __init__(self) -> None:
        super().__init__(copy=copy.copy, deepcopy=json_copy)


class _Pool:
    """Daemon threads that run one job after another. A job never waits for a free thread: when none is
    idle a new one starts, so a job that waits for another job (a program for its states) cannot deadlock."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[PooledThread] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0

    def submit(self, job: PooledThread) -> None:
        with self._lock:
            spawn = self._idle == 0
            if not spawn:
                self._idle -= 1
        self._jobs.put(job)
        if spawn:
            threading.Thread(target=self._work, name="saga-engine-worker", daemon=True).start()

    def _work(self) -> None:
        while True:
            self._jobs.get().run()
            with self._lock:
                self._idle += 1


_POOL = _Pool()
_FINISHED = threading.Event()
_FINISHED.set()


class PooledThread:
    """What moto's interpreter uses of ``threading.Thread``, run on a reused thread."""

    def __init__(
        self,
        target: Callable[..., Any] | None = None,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        daemon: bool | None = None,
        name: str | None = None,
    ) -> None:
        self._target = target
        self._args = args
        self._kwargs = kwargs or {}
        self._done = threading.Event()
        self.daemon = True
        self.name = name or "saga-engine-job"

    def start(self) -> None:
        _POOL.submit(self)

    def run(self) -> None:
        try:
            if self._target is not None:
                self._target(*self._args, **self._kwargs)
        except BaseException:  # as an uncaught exception in a thread: reported, the thread carries on
            exc_type, exc_value, exc_traceback = sys.exc_info()
            threading.excepthook(threading.ExceptHookArgs((exc_type, exc_value, exc_traceback, None)))
        finally:
            # moto keeps every thread it starts (TMP_THREADS): drop the job's references, as Thread does,
            # and trade this job's Event for one shared finished Event once waiters have been woken.
            self._target, self._args, self._kwargs = None, (), {}
            self._done.set()
            self._done = _FINISHED

    def join(self, timeout: float | None = None) -> None:
        self._done.wait(timeout)

    def is_alive(self) -> bool:
        return not self._done.is_set()


class _ThreadingWithPool(types.ModuleType):
    """The ``threading`` module as ``program`` sees it: ``Thread`` is pooled, the rest is the real one."""

    def __init__(self) -> None:
        super().__init__("threading")
        self.Thread = PooledThread

    def __getattr__(self, name: str) -> Any:
        return getattr(threading, name)


@functools.lru_cache(maxsize=1024)
def _parse_ext(path: str) -> Any:
    return parse_jsonpath_ext(path)


@functools.lru_cache(maxsize=1024)
def _parse(path: str) -> Any:
    return parse_jsonpath(path)


_method_names = functools.lru_cache(maxsize=None)(moto_responses.method_names_from_class)  # type: ignore[attr-defined]

_depth = 0
_disabled = 0
_depth_lock = threading.Lock()


@contextmanager
def disabled() -> Iterator[None]:
    """Keep the speed-ups off inside the block, even where the engine asks for them (to measure without)."""
    global _disabled  # noqa: PLW0603
    with _depth_lock:
        _disabled += 1
    try:
        yield
    finally:
        with _depth_lock:
            _disabled -= 1


@contextmanager
def installed() -> Iterator[None]:
    """Apply the speed-ups for the duration of the ``with`` block (a nested use changes nothing)."""
    global _depth  # noqa: PLW0603  (one process-wide count of nested uses)
    with _depth_lock:
        _depth += 1
        outermost = _depth == 1 and not _disabled
    try:
        if not outermost:
            yield
            return
        with ExitStack() as stack:
            patches: list[tuple[Any, str, Any]] = [
                (json_path, "parse", _parse_ext),
                (result_path, "parse", _parse),
                (execute_state, "Thread", PooledThread),
                (execution_worker, "Thread", PooledThread),
                (program, "threading", _ThreadingWithPool()),
                (moto_responses, "method_names_from_class", _method_names),
            ]
            patches += [(module, "copy", _JsonCopyModule()) for module in COPYING_MODULES]
            for target, name, value in patches:
                stack.enter_context(mock.patch.object(target, name, value))
            yield
    finally:
        with _depth_lock:
            _depth -= 1
