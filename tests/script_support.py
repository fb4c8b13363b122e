"""The project's scripts (scripts/...) are files, not a package: tests load them by path."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from saga_cli.template import ROOT


def load_script(relative: str) -> ModuleType:
    """``load_script("scripts/check_build.py")``: the module, run once, under the file's own name."""
    path = ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
