"""What ships, measured for ``saga bench``: each function's cold import and the bytes ``sam build`` left.

- Cold start: each function's ``import app`` in a fresh interpreter with no ``.pyc`` (as Lambda runs a
  ``sam build`` package), next to a bare ``import boto3`` measured the same way in the same run.
- Size: the unzipped bytes of each function and layer in ``.aws-sam/build``, and whether they are older
  than the source.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saga_cli import prices
from saga_cli.engine import table_name
from saga_cli.template import ROOT, SagaTemplate

BUILD_DIR = ROOT / ".aws-sam" / "build"
_IMPORT_TIMER = "import time\nt = time.perf_counter()\nimport {module}\nprint((time.perf_counter() - t) * 1000)\n"


class ImportFailed(Exception):
    """A function (or boto3) did not import in a fresh interpreter."""


def lambda_environment(template: SagaTemplate, logical_id: str) -> dict[str, str]:
    """The variables Lambda gives the function (tracing on, as ``Tracing: Active`` makes it)."""
    function = template.functions[logical_id]
    refs = {table: table_name(table) for table in template.tables}
    return template.environment(logical_id, refs) | {
        "LAMBDA_TASK_ROOT": str(function.code_uri),
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
        "AWS_REGION": prices.PRICES_REGION,
        "AWS_DEFAULT_REGION": prices.PRICES_REGION,
    }


def import_ms(module: str, path: list[Path], extra_env: dict[str, str] | None = None) -> float:
    """Milliseconds to import ``module`` in a fresh interpreter that finds no bytecode cache."""
    with tempfile.TemporaryDirectory(prefix="saga-pycache-") as cache:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))}
        env |= extra_env or {}
        env |= {
            "PYTHONPATH": os.pathsep.join(str(p) for p in path),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPYCACHEPREFIX": cache,  # an empty cache: no .pyc is found, as in a sam build package
        }
        done = subprocess.run(  # noqa: S603  (our own interpreter, fixed arguments)
            [sys.executable, "-B", "-c", _IMPORT_TIMER.format(module=module)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    if done.returncode != 0:
        raise ImportFailed(f"import {module} failed: {done.stderr.strip().splitlines()[-1:]}")
    return float(done.stdout.strip().splitlines()[-1])


def cold_starts(template: SagaTemplate, runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Median import time of each function and of boto3, measured in turns so that load hits all alike."""
    times: dict[str, list[float]] = {name: [] for name in ["boto3", *template.functions]}
    for run in range(runs):
        progress(f"cold start: round {run + 1} of {runs}")
        for name, values in times.items():
            if name == "boto3":
                values.append(import_ms("boto3", []))
            else:
                function = template.functions[name]
                path = [function.code_uri, *template.layer_dirs]
                values.append(import_ms("app", path, lambda_environment(template, name)))
    medians = {name: round(statistics.median(values), 1) for name, values in times.items()}
    boto3_ms = medians.pop("boto3")
    return {
        "importMs": medians,
        "importBoto3Ms": boto3_ms,
        "importRatio": {name: round(ms / boto3_ms, 2) for name, ms in medians.items()},
        "importRuns": runs,
    }


def package_sizes(template: SagaTemplate, build: Path = BUILD_DIR) -> dict[str, Any]:
    """Bytes of each function and layer as ``sam build`` left them (unzipped), or why there are none."""
    if not build.is_dir():
        return {"packageBytes": None, "packageNote": f"no {build.relative_to(ROOT)}: run make build"}
    sizes: dict[str, int | None] = {}
    for logical_id in [*template.functions, *template.layers]:
        folder = build / logical_id
        sizes[logical_id] = _tree_bytes(folder) if folder.is_dir() else None
    stale = _stale(template, build)
    note = f"unzipped bytes in {build.relative_to(ROOT)}"
    if stale:
        note += f"; older than the source ({', '.join(stale[:3])}): run make build"
    return {"packageBytes": sizes, "packageNote": note}


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _stale(template: SagaTemplate, build: Path) -> list[str]:
    """Source files whose built copy differs."""
    pairs = [(f.source, build / logical_id / f.source.name) for logical_id, f in template.functions.items()]
    for logical_id, layer in template.layers.items():
        for source in sorted((layer / "order_saga").glob("*.py")):
            pairs.append((source, build / logical_id / "python" / "order_saga" / source.name))
    return [
        str(source.relative_to(ROOT))
        for source, built in pairs
        if not built.is_file() or built.read_bytes() != source.read_bytes()
    ]


def no_imports() -> dict[str, Any]:
    return {"importMs": None, "importBoto3Ms": None, "importRatio": None, "importRuns": 0}
