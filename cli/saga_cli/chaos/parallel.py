"""Work split over processes: each job in a fresh interpreter, what it finishes reported back as it happens.

The embedded engine runs in one process, where the GIL keeps it to one core however many executions
interleave. A job that needs no shared state (``saga chaos`` gives each process its own engine and its own
share of the orders) runs once per process instead, on as many cores.

Processes are spawned, never forked: the engine holds threads and moto's mocks, which a fork would copy
half-way. A job's items (``send``) and its result come back over its own pipe, in the order it sent them.
If a job fails, the others are stopped and its exception is raised here, with the job's traceback as a note;
a worker that ends without a word (killed, out of memory) raises ``WorkerDied``.
Ctrl-C reaches every process of the terminal's group: the workers exit quietly (they start with SIGINT
ignored, then set a handler that exits) and the parent handles it; a worker whose parent is gone ends at its
next message.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing import connection
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

R = TypeVar("R")

#: A worker's end of its pipe to the parent, and the lock its threads share (set in the worker only).
_outbox: Connection | None = None
_outbox_lock = threading.Lock()


class WorkerDied(Exception):
    """A worker process ended without a result or an exception (killed, or out of memory)."""


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, which containers and ``taskset`` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def send(item: Any) -> None:
    """From inside a job, on any of its threads: hand ``item`` to the parent's ``on_item``."""
    assert _outbox is not None, "send() is for jobs that parallel.run started"
    _post(_outbox, ("item", item))


def _post(outbox: Connection, message: tuple[str, Any]) -> None:
    """Send to the parent; if it is gone (Ctrl-C ended it), there is no one to work for: end quietly."""
    try:
        with _outbox_lock:
            outbox.send(message)
    except OSError:  # BrokenPipeError and its kin
        os._exit(1)


def run(job: Callable[..., R], arguments: Sequence[tuple[Any, ...]], on_item: Callable[[Any], None]) -> list[R]:
    """``job(*a)`` for each ``a`` of ``arguments``, each in its own process; their results in that order.

    ``job`` must be a module-level function (a spawned process imports it by name) and its arguments and
    result picklable. ``on_item`` runs in this process, on this thread, for every ``send``.
    """
    context = multiprocessing.get_context("spawn")
    # One pipe per worker: no semaphores to leak when Ctrl-C ends everything, and a worker's end is seen at
    # once, as the end of its pipe.
    pipes = [context.Pipe(duplex=False) for _ in arguments]
    workers = [
        context.Process(target=_work, args=(sender, job, args), daemon=True, name=f"saga-worker-{index}")
        for index, ((_, sender), args) in enumerate(zip(pipes, arguments, strict=True))
    ]
    try:
        with _sigint_ignored():  # until a worker sets its own handler, Ctrl-C must not print its traceback
            for worker, (_, sender) in zip(workers, pipes, strict=True):
                worker.start()
                sender.close()  # the worker has its copy: the pipe ends when the worker does
        results: dict[int, R] = _collect(workers, [receiver for receiver, _ in pipes], on_item)
    finally:
        for worker in workers:
            if worker.is_alive():
                worker.terminate()
            if worker.pid is not None:  # started (a failed start leaves the rest unstarted)
                worker.join()
        for receiver, sender in pipes:
            receiver.close()
            sender.close()  # a no-op once closed
    return [results[index] for index in range(len(workers))]


def _collect(
    workers: Sequence[BaseProcess], receivers: list[Connection], on_item: Callable[[Any], None]
) -> dict[int, Any]:
    """Every worker's result by index, passing items on as they come; a worker's failure raised here."""
    index_of = {receiver: index for index, receiver in enumerate(receivers)}
    results: dict[int, Any] = {}
    open_ = list(receivers)
    while open_:
        for ready in connection.wait(open_):
            assert isinstance(ready, Connection)
            index = index_of[ready]
            try:
                kind, payload = ready.recv()
            except EOFError:
                open_.remove(ready)
                if index not in results:
                    workers[index].join()
                    raise WorkerDied(
                        f"worker {index} ended with exit code {workers[index].exitcode} and no result"
                    ) from None
                continue
            if kind == "item":
                on_item(payload)
            elif kind == "result":
                results[index] = payload
            else:
                raise pickle.loads(payload)  # noqa: S301  (our own worker's exception, over our own pipe)
    return results


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """SIGINT ignored here, so that processes started meanwhile start with it ignored (an ignored signal
    stays ignored across exec, and Python then installs no handler of its own)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers; a caller on another thread keeps the default
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _work(outbox: Connection, job: Callable[..., Any], args: tuple[Any, ...]) -> None:
    global _outbox  # noqa: PLW0603 (one per worker process)
    _outbox = outbox
    signal.signal(signal.SIGINT, lambda _signum, _frame: os._exit(130))
    try:
        result = job(*args)
    except BaseException as exc:  # every failure goes back to the parent (Ctrl-C exits before this)
        exc.add_note(f"in {multiprocessing.current_process().name}:\n{traceback.format_exc()}")
        try:
            payload = pickle.dumps(exc)
        except Exception:  # an exception that does not pickle still names itself
            payload = pickle.dumps(RuntimeError(f"{type(exc).__name__}: {exc}"))
        message: tuple[str, Any] = ("error", payload)
    else:
        message = ("result", result)
    _post(outbox, message)
    outbox.close()
