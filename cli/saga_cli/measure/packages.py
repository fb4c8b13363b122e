"""What ships, measured for ``saga bench``: each function's cold import and the bytes ``sam build`` left.

- Cold start: each function's ``import app`` in a fresh interpreter with no ``.pyc`` (as Lambda runs a
  ``sam build`` package), next to a bare ``import boto3`` measured the same way in the same run, and next to
  the third-party modules that ``import app`` loads imported alone ("libraries"): what is left is ours.
- Size: the unzipped bytes of each function and layer in ``.aws-sam/build``, and whether they are older
  than the source.
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from saga_cli.engine.embedded import table_name
from saga_cli.measure import prices
from saga_cli.template import ROOT, SagaTemplate

BUILD_DIR = ROOT / ".aws-sam" / "build"
_IMPORT_TIMER = "import time\nt = time.perf_counter()\nimport {module}\nprint((time.perf_counter() - t) * 1000)\n"
#: Our own modules: the function's ``app`` and the layer's package.
OURS = ("app", "order_saga")
# Every module, not only each top-level package, that ``import app`` newly loaded and that is neither the
# standard library nor ours, in the order ``sys.modules`` holds them (the order their imports finished, so
# each comes after what it imports). The top-level packages alone load about two thirds of them
# (``aws_lambda_powertools`` does not import its idempotency or parser), so importing only those would
# flatter the libraries; importing all of them loads exactly what ``import app`` loads, ours aside, standard
# library included. Aliases (a name whose module calls itself something else, e.g. ``__mp_main__``) and
# names no import statement can spell are left out: importing the rest loads them again. The X-Ray SDK is
# in the list although nothing imports it at the top: Powertools' Tracer, which ``import app`` builds,
# loads it. What the libraries do when our code calls them (the Tracer patching botocore, pydantic building
# our models) is not importing them, so it counts as ours.
_LIBRARY_PROBE = """\
import sys
before = set(sys.modules)
import app
for name, module in list(sys.modules.items()):
    top = name.partition(".")[0]
    if (name not in before and top not in sys.stdlib_module_names and top not in {ours!r}
            and getattr(module, "__name__", None) == name and all(p.isidentifier() for p in name.split("."))):
        print(name)
"""


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
    """Milliseconds to import ``module`` (or ``"a, b.c"``) in a fresh interpreter that finds no bytecode cache."""
    return float(fresh_output(_IMPORT_TIMER.format(module=module), f"import {module}", path, extra_env)[-1])


def library_modules(path: list[Path], extra_env: dict[str, str] | None = None) -> list[str]:
    """The third-party modules ``import app`` loads, as ``sys.modules`` orders them (run once, not timed)."""
    return fresh_output(_LIBRARY_PROBE.format(ours=OURS), "import app", path, extra_env)


def fresh_output(code: str, what: str, path: list[Path], extra_env: dict[str, str] | None) -> list[str]:
    """The lines ``code`` prints, run in a fresh interpreter that finds no bytecode cache, with ``path`` as its
    PYTHONPATH and ``extra_env`` (e.g. ``lambda_environment``) over this environment less its Python, AWS
    and Powertools variables; ``ImportFailed`` names ``what`` when it fails."""
    with tempfile.TemporaryDirectory(prefix="saga-pycache-") as cache:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))}
        env |= extra_env or {}
        env |= {
            "PYTHONPATH": os.pathsep.join(str(p) for p in path),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONPYCACHEPREFIX": cache,  # an empty cache: no .pyc is found, as in a sam build package
        }
        done = subprocess.run(  # noqa: S603  (our own interpreter, fixed arguments)
            [sys.executable, "-B", "-c", code],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    if done.returncode != 0:
        raise ImportFailed(
            f"{textwrap.shorten(what, 80, placeholder=' ...')} failed: {done.stderr.strip().splitlines()[-1:]}"
        )
    return done.stdout.strip().splitlines()


def cold_starts(template: SagaTemplate, runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Median import time of each function, of the libraries it loads and of boto3, measured in turns so that
    load hits all alike."""
    progress("cold start: the libraries each function loads")
    setups = {
        name: ([f.code_uri, *template.layer_dirs], lambda_environment(template, name))
        for name, f in template.functions.items()
    }
    libraries = {name: tuple(library_modules(*setup)) for name, setup in setups.items()}
    # Each distinct list (the key of its turn) is timed once a round, in the environment of the first function
    # that loads it: the functions' variables differ only in their name and folder, whose values no library
    # reads on import.
    turns: dict[str | tuple[str, ...], Callable[[], float]] = {"boto3": functools.partial(import_ms, "boto3", [])}
    for name, (path, env) in setups.items():
        turns[name] = functools.partial(import_ms, "app", path, env)
        if libraries[name]:
            turns.setdefault(libraries[name], functools.partial(import_ms, ", ".join(libraries[name]), path, env))
    times: dict[str | tuple[str, ...], list[float]] = {key: [] for key in turns}
    for run in range(runs):
        progress(f"cold start: round {run + 1} of {runs}")
        for key, turn in turns.items():
            times[key].append(turn())
    medians = {key: round(statistics.median(values), 1) for key, values in times.items()}
    boto3_ms = medians["boto3"]
    function_ms = {name: medians[name] for name in template.functions}
    library_ms = {name: medians.get(modules, 0.0) for name, modules in libraries.items()}
    return {
        "importMs": function_ms,
        "importBoto3Ms": boto3_ms,
        "importRatio": {name: round(ms / boto3_ms, 2) for name, ms in function_ms.items()},
        "libraryImportMs": library_ms,
        "libraryImportRatio": {name: round(ms / boto3_ms, 2) for name, ms in library_ms.items()},
        "libraryPackages": {
            name: list(dict.fromkeys(m.partition(".")[0] for m in ms)) for name, ms in libraries.items()
        },
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
    return dict.fromkeys(
        ["importMs", "importBoto3Ms", "importRatio", "libraryImportMs", "libraryImportRatio", "libraryPackages"]
    ) | {"importRuns": 0}
