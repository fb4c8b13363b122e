"""make invoke: every function as `sam build` ships it, in a Lambda container under `sam local invoke`, with
each of its sample events; every result checked against the expectations the in-process tests use
(saga_cli.sample_events).

Before each event the tables are emptied, created again and seeded on a moto server the containers reach,
and the steps the event follows are run in-process for its order. Exits 1 naming each function whose
answer differs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from saga_cli.engine.functions import LambdaContext, load_handler
from saga_cli.sample_events import SAMPLES, Outcome, SampleEvent
from saga_cli.targets.containers import ContainersError, Local, env_vars_file, moto_server, relative, reset
from saga_cli.targets.target import TargetOptions, open_target


def prepare(sample: SampleEvent, url: str, state_dir: Path) -> None:
    """Fresh seeded tables on the endpoint, then the steps the event follows, run in-process."""
    reset(url)
    with open_target(TargetOptions(state_dir=state_dir, dynamodb_endpoint=url, keep_state=False)) as target:
        assert target.engine is not None
        functions = target.engine.template.functions

        def invoke(function_id: str, event: dict[str, Any]) -> dict[str, Any]:
            result: dict[str, Any] = load_handler(functions[function_id])(event, LambdaContext(function_id, 10))
            return result

        sample.prepare(invoke)


def invoke_in_container(local: Local, sample: SampleEvent, env_vars: Path) -> Outcome:
    command = local.sam_command("invoke", sample.function, "--event", str(sample.path), env_vars=env_vars)
    done = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, env=local.sam_environment(), timeout=600, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    try:
        answer = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Outcome(error_type="SamLocalInvokeFailed", error_message=f"exit {done.returncode}: {said}")
    if isinstance(answer, dict) and "errorType" in answer:
        return Outcome(error_type=answer["errorType"], error_message=answer.get("errorMessage"))
    return Outcome(result=answer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--template", type=Path, required=True, help="the template sam build wrote")
    parser.add_argument("--sam", type=Path, required=True, help="the sam command")
    parser.add_argument("--only", default="", help="only the events whose file or function names contain this")
    args = parser.parse_args()
    samples = [s for s in SAMPLES if args.only.lower() in f"{s.file} {s.function}".lower()]
    if not samples:
        print(f"make invoke: no sample event matches ONLY={args.only}", file=sys.stderr)
        return 2
    try:
        local = Local.from_environment(args.sam, args.template)
    except ContainersError as exc:
        print(f"make invoke: {exc}", file=sys.stderr)
        return 1
    failed = []
    with tempfile.TemporaryDirectory() as scratch, moto_server(local.gateway) as url:
        env_vars = env_vars_file(Path(scratch), url)
        print(f"Tables on {url}; each function runs in a Lambda container (sam local invoke).")
        for sample in samples:
            prepare(sample, url, Path(scratch) / "engine")
            started = time.monotonic()
            outcome = invoke_in_container(local, sample, env_vars)
            seconds = time.monotonic() - started
            why = sample.mismatch(outcome)
            verdict = "ok" if why is None else "MISMATCH"
            print(f"{sample.function} {relative(sample.path)}: {verdict} ({seconds:.1f} s)")
            answer = {"errorType": outcome.error_type, "errorMessage": outcome.error_message}
            print("  " + json.dumps(outcome.result if outcome.error_type is None else answer, separators=(",", ":")))
            if why is not None:
                failed.append(f"{sample.function} with {relative(sample.path)}: {why}")
    for line in failed:
        print(f"make invoke: {line}", file=sys.stderr)
    if not failed:
        print(f"make invoke: all {len(samples)} sample events gave the expected results.")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
