"""A function's cold import loads what it uses: X-Ray traces botocore only, nothing else is imported to patch
(nor asyncio, which wrapt 2 would import), no distribution is scanned for pydantic plugins; and the libraries
it loads, imported alone, load the same modules but ours."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from saga_cli.measure import packages as bench_packages
from saga_cli.template import load

_PROBE = (
    "import sys, app\n"
    "import botocore.client\n"
    "from aws_xray_sdk.core import patcher\n"
    "print(sorted(patcher._PATCHED_MODULES))\n"
    "print(type(botocore.client.BaseClient.__dict__['_make_api_call']).__name__)\n"
    "from pydantic.plugin import _loader\n"
    "print(_loader._plugins)\n"
    "unused = ('requests', 'sqlite3', 'httpx', 'sqlalchemy', 'pymongo', 'asyncio')\n"
    "print(sorted(m for m in unused if m in sys.modules))\n"
)


Setup = tuple[list[Path], dict[str, str]]


@pytest.fixture(scope="module")
def ship_order() -> Setup:
    """One function's import path (its folder and the layer) and the variables Lambda gives it."""
    template = load()
    function = template.functions["ShipOrderFunction"]
    return [function.code_uri, *template.layer_dirs], bench_packages.lambda_environment(template, "ShipOrderFunction")


def test_a_function_imports_with_tracing_on_and_patches_only_botocore(ship_order: Setup) -> None:
    path, env = ship_order

    patched, api_call, plugins, imported = bench_packages.fresh_output(_PROBE, "import app", path, env)[-4:]

    assert patched == "['botocore']"
    # Every AWS call goes through the X-Ray SDK's wrapper (wrapt's), so it is traced
    assert api_call == "FunctionWrapper"
    # Building the models did not scan every installed distribution for pydantic plugins
    assert plugins == "None"
    assert imported == "[]"


def test_the_libraries_a_function_loads_are_every_third_party_module_and_none_of_ours(ship_order: Setup) -> None:
    modules = bench_packages.library_modules(*ship_order)

    packages = {name.partition(".")[0] for name in modules}
    assert {"boto3", "botocore", "pydantic", "aws_lambda_powertools"} <= packages
    assert "aws_xray_sdk" in packages, "Powertools' Tracer, built on import, loads the X-Ray SDK"
    assert "aws_lambda_powertools.utilities.idempotency" in modules, "submodules, not only the top packages"
    assert not packages & {"app", "order_saga"}
    assert not packages & sys.stdlib_module_names
    assert len(modules) == len(set(modules))


def test_importing_the_libraries_alone_loads_what_the_function_loads_but_ours(ship_order: Setup) -> None:
    path, env = ship_order
    libraries = ", ".join(bench_packages.library_modules(path, env))

    loaded_by_app = _loaded("import app", path, env)
    loaded_by_libraries = _loaded(f"import {libraries}", path, env)

    assert loaded_by_app - loaded_by_libraries == {"app", "order_saga"} | {
        name for name in loaded_by_app if name.startswith("order_saga.")
    }
    assert loaded_by_libraries <= loaded_by_app


def _loaded(statement: str, path: list[Path], variables: dict[str, str]) -> set[str]:
    """The names ``statement`` adds to ``sys.modules`` in a fresh interpreter with the function's variables."""
    probe = f"import sys\nbefore = set(sys.modules)\n{statement}\nprint(*(m for m in sys.modules if m not in before))\n"
    return set(bench_packages.fresh_output(probe, statement, path, variables)[-1].split())
