"""The engine's speed-ups of moto (saga_cli.moto_speedups): the patch points are where they were written for,
and every path ends exactly as it does without them."""

from __future__ import annotations

import copy
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from saga_cli.engine import moto_speedups
from saga_cli.targets.target import TargetOptions, open_target


def test_the_patch_points_are_still_there() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.component.program import program
    from moto.stepfunctions.parser.asl.component.state.exec import execute_state
    from moto.stepfunctions.parser.asl.utils import json_path
    from moto.stepfunctions.parser.backend import execution_worker

    assert callable(json_path.parse) and callable(result_path.parse), "JSONPath parsing moved"
    assert execute_state.Thread is threading.Thread, "the Task timeout no longer runs on threading.Thread"
    assert execution_worker.Thread is threading.Thread, "the execution worker no longer runs on threading.Thread"
    assert program.threading is threading, "the program no longer runs on threading.Thread"
    for module in moto_speedups.COPYING_MODULES:
        assert module.copy is copy, f"{module.__name__} no longer copies through the copy module"
    import moto.core.responses

    assert callable(moto.core.responses.method_names_from_class), "moto's dispatch moved"


def test_patches_last_only_while_installed_and_nest() -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    original = json_path.parse
    with moto_speedups.installed():
        patched = json_path.parse
        with moto_speedups.installed():
            assert json_path.parse is patched
        assert json_path.parse is patched, "an inner use leaves the outer one in place"
    assert json_path.parse is original
    with moto_speedups.disabled(), moto_speedups.installed():
        assert json_path.parse is original, "disabled() keeps them off"


def test_json_copy_is_a_deep_copy() -> None:
    data: dict[str, Any] = {"a": [1, 2.5, {"b": None, "c": True}], "d": "text", "e": {"f": []}}
    copied = moto_speedups.json_copy(data)

    assert copied == data == copy.deepcopy(data)
    copied["a"][2]["b"] = "changed"
    copied["e"]["f"].append(1)
    assert data["a"][2]["b"] is None and data["e"]["f"] == []
    odd = {"when": (1, 2), "set": {3}}
    assert moto_speedups.json_copy(odd) == odd and moto_speedups.json_copy(odd)["set"] is not odd["set"]


def test_a_pooled_thread_behaves_like_a_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    slow = moto_speedups.PooledThread(target=release.wait, args=(5,))
    slow.start()
    slow.join(timeout=0.05)
    assert slow.is_alive(), "join with a timeout returns while the job runs"
    release.set()
    slow.join(timeout=5)
    assert not slow.is_alive()

    reported: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: reported.append(args.exc_value))
    failing = moto_speedups.PooledThread(target=lambda: 1 / 0)
    failing.start()
    failing.join(timeout=5)
    assert len(reported) == 1 and isinstance(reported[0], ZeroDivisionError), "reported as a thread's would be"


def test_a_job_that_waits_for_another_job_never_deadlocks() -> None:
    depth = 20
    finished: list[int] = []

    def nest(level: int) -> None:
        if level < depth:
            inner = moto_speedups.PooledThread(target=nest, args=(level + 1,))
            inner.start()
            inner.join(timeout=10)
        finished.append(level)

    outer = moto_speedups.PooledThread(target=nest, args=(0,))
    began = time.monotonic()
    outer.start()
    outer.join(timeout=10)
    assert len(finished) == depth + 1 and time.monotonic() - began < 10


def _outcomes(state_dir: Path) -> list[tuple[Any, ...]]:
    from engine_support import run, scenario

    names = ["happy", "out-of-stock", "payment-declined", "shipping-failed", "invalid"]
    with open_target(TargetOptions(state_dir=state_dir)) as target:
        results = run(target, *(scenario(name, f"ord-{name}") for name in names), concurrency=3)
        stock = target.store.stock()
    return [(r.name, r.status, r.error, r.cause, r.path, (r.order or {}).get("status"), r.output) for r in results] + [
        ("stock", stock)
    ]


@pytest.mark.usefixtures("shared_botocore_loader")
def test_every_path_ends_as_it_does_without_them(tmp_path: Path) -> None:
    without = _outcomes(tmp_path / "without")
    with moto_speedups.installed():
        faster = _outcomes(tmp_path / "with")

    assert faster == without
