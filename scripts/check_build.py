"""Check `sam build`'s output: every function and layer of template.yaml is there, the layer's compiled
dependencies were built for the functions' Python and CPU (a wrong wheel only fails when Lambda imports it),
the layer carries no AWS SDK of its own (the runtime's is the one copy: layer/Makefile), and any bytecode in
it is what Lambda would use (the runtime's Python, no timestamp check), not dead weight.

Run by `make build` (and `make build-local`, with the build folder as argument); exits 1 with one line per
problem.
"""

from __future__ import annotations

import sys
from pathlib import Path

from saga_cli.template import ROOT, load, parse

BUILD = ROOT / ".aws-sam" / "build"
#: Lambda's architecture names -> the platform tag in a compiled extension's file name.
PLATFORMS = {"arm64": "aarch64", "x86_64": "x86_64"}
#: What the Lambda runtime ships, and a layer must therefore not carry a second copy of.
RUNTIME_SDK = ("boto3", "botocore", "s3transfer")
#: A .pyc's header: magic, flags, then a timestamp and size or a source hash (PEP 552). In the flags word,
#: bit 0 set = hash-based, bit 1 set = checked against the source.
PYC_HEADER_BYTES = 16
UNCHECKED_HASH = 0b01


def problems(build: Path = BUILD) -> list[str]:
    template = load()
    found = []
    for logical_id, function in template.functions.items():
        if not (build / logical_id / function.source.name).is_file():
            found.append(f"{logical_id}: {function.source.name} missing from {build / logical_id}")
    # The built template: SAM has resolved the layer's BuildArchitecture (a template parameter) there.
    built = parse((build / "template.yaml").read_text(encoding="utf-8"), build)
    for logical_id in built.layers:
        layer = built.raw["Resources"][logical_id]
        python = build / logical_id / "python"
        runtime = template.raw["Globals"]["Function"]["Runtime"]  # python3.12
        platform = PLATFORMS[layer["Metadata"]["BuildArchitecture"]]
        abi = "cpython-" + runtime.removeprefix("python").replace(".", "")
        if not (python / "order_saga" / "__init__.py").is_file():
            found.append(f"{logical_id}: order_saga missing from {python}")
        if not list(python.glob(f"pydantic_core/_pydantic_core.{abi}-{platform}-linux-gnu.so")):
            found.append(f"{logical_id}: no pydantic_core built for {abi} on {platform} in {python}")
        wrong = [so for so in python.rglob("*.so") if f"-{platform}-" not in so.name and "abi3" not in so.name]
        found.extend(f"{logical_id}: {so.relative_to(build)} is not built for {platform}" for so in wrong)
        found.extend(
            f"{logical_id}: carries its own {sdk}, a second copy of the runtime's"
            for sdk in RUNTIME_SDK
            if (python / sdk).exists()
        )
        found.extend(f"{logical_id}: {problem}" for problem in _bytecode_problems(python, abi, build))
    return found


def _bytecode_problems(python: Path, abi: str, build: Path) -> list[str]:
    """A .pyc for another Python is never loaded; one checked against its source is checked at every cold
    start, and recompiled in memory when packaging changed the source's timestamp. layer/Makefile makes
    neither (one problem per kind)."""
    compiled = sorted(python.rglob("*.pyc"))
    runtime = f".{abi}.pyc"
    other = [pyc for pyc in compiled if not pyc.name.endswith(runtime)]
    checked = [pyc for pyc in compiled if pyc.name.endswith(runtime) and _flags(pyc) != UNCHECKED_HASH]
    found = []
    if other:
        found.append(f"{len(other)} .pyc not for {abi}, the runtime's Python (e.g. {other[0].relative_to(build)})")
    if checked:
        found.append(f"{len(checked)} .pyc not compiled unchecked-hash (e.g. {checked[0].relative_to(build)})")
    return found


def _flags(pyc: Path) -> int:
    with pyc.open("rb") as f:
        header = f.read(PYC_HEADER_BYTES)
    return int.from_bytes(header[4:8], "little") if len(header) == PYC_HEADER_BYTES else -1


def main() -> int:
    build = ROOT / sys.argv[1] if len(sys.argv) > 1 else BUILD
    found = problems(build)
    for problem in found:
        print(f"check_build: {problem}", file=sys.stderr)
    if not found:
        print(f"check_build: {build.relative_to(ROOT)} holds every function and layer, built for the right platform")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
