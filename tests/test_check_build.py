"""scripts/check_build.py: what `make build` refuses to hand to `sam deploy`."""

from __future__ import annotations

import py_compile
from pathlib import Path
from types import ModuleType

import pytest

from saga_cli.template import ROOT, load
from script_support import load_script


@pytest.fixture(scope="module")
def check_build() -> ModuleType:
    return load_script(ROOT / "scripts" / "check_build.py")


def _build(tmp_path: Path, extra: list[str]) -> Path:
    """A build folder as `sam build` leaves it for arm64, plus ``extra`` files in the layer."""
    template = load()
    for logical_id, function in template.functions.items():
        (tmp_path / logical_id).mkdir()
        (tmp_path / logical_id / function.source.name).write_text("")
    # SAM's built template: the layer's BuildArchitecture (a template parameter) resolved, here to arm64
    built = (ROOT / "template.yaml").read_text(encoding="utf-8")
    (tmp_path / "template.yaml").write_text(
        built.replace("BuildArchitecture: !Ref Architecture", "BuildArchitecture: arm64")
    )
    python = tmp_path / "SagaLayer" / "python"
    for name in ["order_saga/__init__.py", "pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so", *extra]:
        (python / name).parent.mkdir(parents=True, exist_ok=True)
        (python / name).write_text("")
    return tmp_path


def test_a_complete_build_for_the_right_platform_passes(check_build: ModuleType, tmp_path: Path) -> None:
    assert check_build.problems(_build(tmp_path, [])) == []


def test_a_layer_with_its_own_botocore_is_refused(check_build: ModuleType, tmp_path: Path) -> None:
    found = check_build.problems(_build(tmp_path, ["botocore/__init__.py"]))

    assert found == ["SagaLayer: carries its own botocore, a second copy of the runtime's"]


def test_a_wheel_for_another_cpu_is_refused(check_build: ModuleType, tmp_path: Path) -> None:
    found = check_build.problems(_build(tmp_path, ["wrapt/_wrappers.cpython-312-x86_64-linux-gnu.so"]))

    assert found == [
        "SagaLayer: SagaLayer/python/wrapt/_wrappers.cpython-312-x86_64-linux-gnu.so is not built for aarch64"
    ]


def _compiled(build: Path, name: str, mode: py_compile.PycInvalidationMode, tag: str = "cpython-312") -> Path:
    """``name`` in the layer compiled (by this interpreter, whatever its version) into a .pyc tagged ``tag``."""
    source = build / "SagaLayer" / "python" / name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_text("VALUE = 1\n")
    pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
    py_compile.compile(str(source), cfile=str(pyc), invalidation_mode=mode, doraise=True)
    return pyc


def test_a_layer_compiled_for_the_runtime_unchecked_passes(check_build: ModuleType, tmp_path: Path) -> None:
    # Given the layer compiled as `make build` does it (LAYER_BYTECODE=1, the default)
    build = _build(tmp_path, [])
    _compiled(build, "pydantic/main.py", py_compile.PycInvalidationMode.UNCHECKED_HASH)

    assert check_build.problems(build) == []


def test_bytecode_for_another_python_is_refused(check_build: ModuleType, tmp_path: Path) -> None:
    # Given a .pyc that Python 3.12 would never load (pip compiled it with the build machine's Python)
    build = _build(tmp_path, [])
    _compiled(build, "pydantic/main.py", py_compile.PycInvalidationMode.UNCHECKED_HASH, tag="cpython-311")

    assert check_build.problems(build) == [
        "SagaLayer: 1 .pyc not for cpython-312, the runtime's Python "
        "(e.g. SagaLayer/python/pydantic/__pycache__/main.cpython-311.pyc)"
    ]


@pytest.mark.parametrize(
    "mode", [py_compile.PycInvalidationMode.TIMESTAMP, py_compile.PycInvalidationMode.CHECKED_HASH]
)
def test_bytecode_checked_against_its_source_is_refused(
    check_build: ModuleType, tmp_path: Path, mode: py_compile.PycInvalidationMode
) -> None:
    # Given .pyc files that Python compares with their source at every import (timestamps change in packaging;
    # a checked hash reads and hashes every source file on each cold start)
    build = _build(tmp_path, [])
    _compiled(build, "pydantic/main.py", mode)
    _compiled(build, "pydantic/fields.py", mode)

    assert check_build.problems(build) == [
        "SagaLayer: 2 .pyc not compiled unchecked-hash "
        "(e.g. SagaLayer/python/pydantic/__pycache__/fields.cpython-312.pyc)"
    ]
