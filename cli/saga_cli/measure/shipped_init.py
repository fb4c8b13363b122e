"""Each function's cold init as Lambda runs it, for ``saga bench``: the functions as built, on the runtime's Python.

Lambda's init of a Python function is the import of its handler module, in a fresh python3.12 whose standard
library and boto3 are compiled (AWS's image ships both with their ``.pyc``), with the function's folder on
``sys.path`` and each layer's ``python`` folder as ``/opt/python``. The layer is read-only, so a layer without
bytecode is compiled again at every cold start. This module lays that out here and times it:

- the functions and the layer as ``sam build`` left them, from the build made for this machine's CPU
  (``.aws-sam/build`` is arm64 as deployed, ``.aws-sam/local`` x86_64; a compiled extension runs only on its
  own CPU), with each one's Lambda environment (tracing on);
- the runtime's boto3: the version the stand-in Lambda image pins, installed once for python3.12 into
  ``.bench/`` and compiled, as in AWS's image;
- the same python3.12 as ``sam build``, whose standard library pyenv and the packagers ship compiled.

Next to each function, in the same turns: a bare ``import boto3`` (the runtime's floor: every function's
libraries need botocore) and the third-party modules the function loads, imported alone (its libraries, boto3
included); what is left is ours. Nothing is written into the build: the interpreter writes no bytecode.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import statistics
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

from saga_cli.measure.packages import _IMPORT_TIMER, _LIBRARY_PROBE, OURS, lambda_environment
from saga_cli.template import ROOT, SagaTemplate

#: Where the runtime's boto3 is installed for the bench (untracked, like the bench's other output).
BENCH_DIR = ROOT / ".bench"
#: The boto3 AWS's python3.12 image stands for: the stand-in image pins it, the one place it is set.
IMAGE_REQUIREMENTS = ROOT / "scripts" / "containers" / "lambda-image" / "requirements.txt"
#: The builds ``make build`` and ``make build-local`` leave, each for one CPU.
BUILDS = (ROOT / ".aws-sam" / "build", ROOT / ".aws-sam" / "local")
#: ``platform.machine()`` -> Lambda's architecture name.
HOST_ARCHITECTURES = {"x86_64": "x86_64", "AMD64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
#: Variables of this shell that would change what the child imports or how.
_DROPPED_PREFIXES = ("PYTHON", "AWS_", "POWERTOOLS_", "VIRTUAL_ENV")
_TIMEOUT_SECONDS = 120


#: An interpreter's ``sys.path`` ahead of the standard library, and its environment.
Setup = tuple[list[Path], dict[str, str]]


class ShippedInitUnavailable(Exception):
    """What the measurement needs is missing (no build for this CPU, no python3.12): the reason, in one line."""


@dataclass(frozen=True)
class Layout:
    """What one measurement runs: the interpreter, the build, and the runtime's compiled boto3."""

    python: Path
    build: Path
    runtime: Path
    boto3_version: str
    #: Whether the layer ships bytecode for this Python (``LAYER_BYTECODE``).
    layer_bytecode: bool

    def path(self, template: SagaTemplate, logical_id: str | None) -> list[Path]:
        """``sys.path`` ahead of the standard library, in Lambda's order: the function's folder (``/var/task``),
        each layer's ``python`` (``/opt/python``), the runtime's packages."""
        if logical_id is None:
            return [self.runtime]
        layers = [self.build / layer / "python" for layer in template.layers]
        return [self.build / logical_id, *layers, self.runtime]


def runtime_python(runtime: str) -> Path:
    """The interpreter of the functions' runtime (``python3.12``): ``SAGA_RUNTIME_PYTHON``, else on PATH, else
    pyenv's newest of that version (the Makefile finds the one ``sam build`` uses the same way)."""
    version = runtime.removeprefix("python")
    if os.environ.get("SAGA_RUNTIME_PYTHON"):
        return Path(os.environ["SAGA_RUNTIME_PYTHON"])
    found = shutil.which(f"python{version}")
    if found and _runs(Path(found)):  # pyenv's shims are on PATH but answer only for selected versions
        return Path(found)
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    candidates = sorted(
        (p for p in pyenv_root.glob(f"{version}.*") if re.fullmatch(rf"{re.escape(version)}\.\d+", p.name)),
        key=lambda p: int(p.name.rsplit(".", 1)[1]),
    )
    for candidate in reversed(candidates):
        if (candidate / "bin" / f"python{version}").is_file():
            return candidate / "bin" / f"python{version}"
    raise ShippedInitUnavailable(f"no {runtime} found (PATH, pyenv, SAGA_RUNTIME_PYTHON): install it")


def _runs(python: Path) -> bool:
    try:
        return subprocess.run([python, "--version"], capture_output=True, check=False, timeout=30).returncode == 0  # noqa: S603
    except OSError:
        return False


def host_build(builds: tuple[Path, ...] = BUILDS) -> Path:
    """The ``sam build`` output whose layer was built for this machine's CPU."""
    wanted = HOST_ARCHITECTURES.get(platform.machine())
    for build in builds:
        built = build / "template.yaml"
        if not built.is_file():
            continue
        raw, _ = decode_str(built.read_text(encoding="utf-8"))  # SAM resolved BuildArchitecture in it
        resources: dict[str, Any] = (raw or {}).get("Resources", {})
        architectures = {
            resource.get("Metadata", {}).get("BuildArchitecture")
            for resource in resources.values()
            if resource.get("Type") == "AWS::Serverless::LayerVersion"
        }
        if architectures == {wanted}:
            return build
    target = "make build-local" if wanted == "x86_64" else "make build"
    raise ShippedInitUnavailable(f"no sam build output for {wanted or platform.machine()} here: run {target}")


def boto3_pin(requirements: Path = IMAGE_REQUIREMENTS) -> str:
    match = re.search(r"^boto3==(\S+)", requirements.read_text(encoding="utf-8"), re.MULTILINE)
    if not match:
        raise ShippedInitUnavailable(f"{requirements.relative_to(ROOT)} pins no boto3")
    return match.group(1)


def runtime_sdk(python: Path, version: str, progress: Callable[[str], None]) -> Path:
    """The runtime's boto3 (and its dependencies) for ``python``, compiled, installed once into ``.bench/``."""
    folder = BENCH_DIR / f"runtime-boto3-{version}-{python.name}"
    stamp = folder / ".complete"
    if stamp.is_file():
        return folder
    progress(f"shipped init: installing the runtime's boto3 {version} for {python.name} into {folder.name}")
    shutil.rmtree(folder, ignore_errors=True)
    pin, target = f"boto3=={version}", str(folder)
    commands: list[list[str]] = [
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target", target, pin],
        # AWS's image ships its boto3 compiled: what pip did not compile, compile now.
        [str(python), "-m", "compileall", "-q", "-j", "0", target],
    ]
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=600)  # noqa: S603
        if done.returncode != 0:
            raise ShippedInitUnavailable(f"{' '.join(command[:4])} failed: {done.stderr.strip()[-200:]}")
    stamp.write_text(version + "\n", encoding="utf-8")
    return folder


def layout(template: SagaTemplate, progress: Callable[[str], None]) -> Layout:
    runtime = template.raw["Globals"]["Function"]["Runtime"]
    python = runtime_python(runtime)
    build = host_build()
    version = boto3_pin()
    tag = "cpython-" + runtime.removeprefix("python").replace(".", "")
    bytecode = any((build / layer / "python").rglob(f"__pycache__/*.{tag}.pyc") for layer in template.layers)
    return Layout(python, build, runtime_sdk(python, version, progress), version, bytecode)


def run_lines(python: Path, code: str, what: str, path: list[Path], extra_env: dict[str, str]) -> list[str]:
    """The lines ``code`` prints in a fresh ``python`` with ``path`` ahead of the standard library and
    ``extra_env``; it loads what bytecode it finds and writes none."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED_PREFIXES)} | extra_env
    env |= {"PYTHONPATH": os.pathsep.join(map(str, path)), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(  # noqa: S603  (the runtime's interpreter, fixed arguments)
        [python, "-c", code], env=env, capture_output=True, text=True, check=False, timeout=_TIMEOUT_SECONDS
    )
    if done.returncode != 0:
        last = done.stderr.strip().splitlines()[-1:]
        raise ShippedInitUnavailable(f"{textwrap.shorten(what, 80, placeholder=' ...')} failed: {last}")
    return done.stdout.strip().splitlines()


def shipped_inits(template: SagaTemplate, runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Median cold init of each built function, of its libraries alone and of ``import boto3``, in turns."""
    where = layout(template, progress)
    setups: dict[str | None, Setup] = {None: (where.path(template, None), {})}
    for name in template.functions:
        env = lambda_environment(template, name) | {"LAMBDA_TASK_ROOT": str(where.build / name)}
        setups[name] = (where.path(template, name), env)
    progress("shipped init: the libraries each built function loads")
    libraries = {
        name: tuple(run_lines(where.python, _LIBRARY_PROBE.format(ours=OURS), "import app", *setups[name]))
        for name in template.functions
    }
    turns: dict[str | tuple[str, ...], tuple[str, Setup]] = {"boto3": ("boto3", setups[None])}
    for name in template.functions:
        turns[name] = ("app", setups[name])
        # One list shared by several functions is timed once a round, in the first one's layout.
        turns.setdefault(libraries[name], (", ".join(libraries[name]), setups[name]))
    times: dict[str | tuple[str, ...], list[float]] = {key: [] for key in turns}
    for round_ in range(runs):
        progress(f"shipped init: round {round_ + 1} of {runs}")
        for key, (module, setup) in turns.items():
            code = _IMPORT_TIMER.format(module=module)
            times[key].append(float(run_lines(where.python, code, f"import {module}", *setup)[-1]))
    medians = {key: round(statistics.median(values), 1) for key, values in times.items()}
    boto3_ms = medians["boto3"]
    init_ms = {name: medians[name] for name in template.functions}
    library_ms = {name: medians[libraries[name]] for name in template.functions}
    return {
        "shippedInitMs": init_ms,
        "shippedBoto3Ms": boto3_ms,
        "shippedInitRatio": {name: round(ms / boto3_ms, 2) for name, ms in init_ms.items()},
        "shippedLibraryMs": library_ms,
        "shippedLibraryRatio": {name: round(ms / boto3_ms, 2) for name, ms in library_ms.items()},
        "shippedOursMs": {name: round(init_ms[name] - library_ms[name], 1) for name in template.functions},
        "shippedRuns": runs,
        "shippedLayout": {
            "build": _shown(where.build),
            "python": _version(where.python),
            "boto3": where.boto3_version,
            "layerBytecode": where.layer_bytecode,
        },
        "shippedNote": None,
    }


def _version(python: Path) -> str:
    return run_lines(python, "import platform; print(platform.python_version())", "python --version", [], {})[-1]


def no_shipped_inits(note: str) -> dict[str, Any]:
    """Every key of ``shipped_inits``, as None, and why nothing was measured."""
    keys = ["shippedInitMs", "shippedBoto3Ms", "shippedInitRatio", "shippedLibraryMs", "shippedLibraryRatio"]
    return dict.fromkeys([*keys, "shippedOursMs", "shippedLayout"]) | {"shippedRuns": 0, "shippedNote": note}


def measured_or_why(template: SagaTemplate, runs: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """``shipped_inits``, or (no build for this CPU, no runtime Python) every key None with the reason."""
    if not runs:
        return no_shipped_inits("not measured (--import-runs 0)")
    try:
        return shipped_inits(template, runs, progress)
    except ShippedInitUnavailable as exc:
        progress(f"shipped init: not measured: {exc}")
        return no_shipped_inits(str(exc))


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
