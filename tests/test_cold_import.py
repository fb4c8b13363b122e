"""A function's cold import loads what it uses: X-Ray traces botocore only, nothing else is imported to patch."""

from __future__ import annotations

import os
import subprocess
import sys

from saga_cli import bench_packages
from saga_cli.template import load

_PROBE = (
    "import sys, app\n"
    "from aws_xray_sdk.core import patcher\n"
    "print(sorted(patcher._PATCHED_MODULES))\n"
    "print(sorted(m for m in ('requests', 'sqlite3', 'httpx', 'sqlalchemy', 'pymongo') if m in sys.modules))\n"
)


def test_a_function_imports_with_tracing_on_and_patches_only_botocore() -> None:
    template = load()
    function = template.functions["ShipOrderFunction"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AWS_", "POWERTOOLS_"))}
    env |= bench_packages.lambda_environment(template, "ShipOrderFunction")
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [function.code_uri, *template.layer_dirs])
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    patched, imported = done.stdout.strip().splitlines()[-2:]
    assert patched == "['botocore']"
    assert imported == "[]"
