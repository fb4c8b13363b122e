"""Jobs split over spawned processes: results in order, every item back, failures raised here, never hung."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time

import pytest

from saga_cli.chaos import parallel


def square_and_send(n: int, items: int) -> int:
    for i in range(items):
        parallel.send((n, i, os.getpid()))
    return n * n


def fail_in_worker(message: str) -> None:
    raise ValueError(message)


def die_in_worker() -> None:
    os._exit(3)


def wait_for_ctrl_c() -> None:
    parallel.send(os.getpid())
    time.sleep(60)


def test_each_job_runs_in_its_own_process_and_every_item_comes_back() -> None:
    items: list[tuple[int, int, int]] = []

    results = parallel.run(square_and_send, [(2, 50), (3, 70), (4, 0)], items.append)

    assert results == [4, 9, 16], "results in the order of the arguments"
    assert sorted((n, i) for n, i, _ in items) == sorted([(2, i) for i in range(50)] + [(3, i) for i in range(70)])
    pids = {n: pid for n, _, pid in items}
    assert pids[2] != pids[3] and os.getpid() not in pids.values()
    # each job's items arrive in the order it sent them
    assert [i for n, i, _ in items if n == 3] == list(range(70))


def test_a_failing_job_raises_its_exception_here_with_its_traceback() -> None:
    with pytest.raises(ValueError, match="no stock") as raised:
        parallel.run(fail_in_worker, [("no stock",)], lambda _item: None)

    assert any("in saga-worker-0" in note and "fail_in_worker" in note for note in raised.value.__notes__)


def test_a_worker_that_dies_without_a_word_is_reported() -> None:
    with pytest.raises(parallel.WorkerDied, match="worker 0 ended with exit code 3"):
        parallel.run(die_in_worker, [()], lambda _item: None)


def test_ctrl_c_ends_a_worker_quietly(capfd: pytest.CaptureFixture[str]) -> None:
    def interrupt(pid: int) -> None:
        os.kill(pid, signal.SIGINT)

    began = time.monotonic()
    with pytest.raises(parallel.WorkerDied, match="exit code 130"):
        parallel.run(wait_for_ctrl_c, [()], interrupt)

    assert time.monotonic() - began < 30, "the worker stopped at once, not after its job"
    assert "Traceback" not in capfd.readouterr().err


def test_a_job_that_cannot_start_stops_those_already_started() -> None:
    unpicklable = threading.Lock()

    with pytest.raises(TypeError, match="pickle"):
        parallel.run(square_and_send, [(2, 0), (unpicklable, 0)], lambda _item: None)

    assert multiprocessing.active_children() == [], "the first worker was stopped and reaped"


def test_usable_cpus_is_at_least_one() -> None:
    assert 1 <= parallel.usable_cpus() <= (os.cpu_count() or 1)
