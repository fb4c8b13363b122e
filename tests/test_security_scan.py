"""The security scan's baseline stays honest, and what checkov cannot see is checked here.

`make lint` runs checkov on template.yaml and on its CloudFormation translation with ``.checkov.baseline``: a
finding not in the baseline fails it. These tests add the other direction: every accepted finding has a reason,
and the baseline lists no finding that checkov no longer reports (a fixed finding must leave the baseline, or
it would silently accept the problem coming back).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from saga_cli.template import ROOT, load

BASELINE = ROOT / ".checkov.baseline"
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"


def baseline_entries() -> list[tuple[str, str, str]]:
    """(resource, check id, reason) for every accepted finding."""
    baseline: dict[str, Any] = json.loads(BASELINE.read_text(encoding="utf-8"))
    return [
        (finding["resource"], check_id, finding.get("reasons", {}).get(check_id, ""))
        for checked_file in baseline["failed_checks"]
        for finding in checked_file["findings"]
        for check_id in finding["check_ids"]
    ]


def checkov_findings(workdir: Path, *paths: Path) -> set[tuple[str, str]]:
    """(resource, check id) of every failed check, without the baseline.

    Run outside the repository: checkov reads ``.checkov.yaml`` (and so the baseline) from its working directory.
    """
    files = [arg for path in paths for arg in ("--file", str(path))]
    command = [str(CHECKOV), "--framework", "cloudformation", "--skip-download", "--output", "json", *files]
    completed = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300, cwd=workdir)
    assert completed.returncode in (0, 1), completed.stderr[-2000:]
    reports = json.loads(completed.stdout)
    found = set()
    for report in reports if isinstance(reports, list) else [reports]:
        # A report with no check at all is only a summary
        assert report.get("summary", report)["parsing_errors"] == 0, report
        results = report.get("results", {})
        found |= {(check["resource"], check["check_id"]) for check in results.get("failed_checks", [])}
    return found


def test_every_accepted_finding_has_a_reason() -> None:
    # Given every (resource, check) the baseline accepts
    entries = baseline_entries()
    assert entries

    # Then each comes with a one-line reason of its own
    missing = [(resource, check_id) for resource, check_id, reason in entries if not reason.strip()]
    assert not missing, f"baseline entries without a reason: {missing}"
    assert not [reason for *_, reason in entries if "\n" in reason]


@pytest.mark.skipif(
    not (CHECKOV.exists() and SAM_PYTHON.exists()), reason="needs .venv-checkov and .venv-sam: run `make setup`"
)
def test_the_baseline_lists_exactly_what_checkov_finds(tmp_path: Path) -> None:
    # Given template.yaml translated to CloudFormation, as `make lint` does
    translated = tmp_path / "translated-template.json"
    subprocess.run(
        [str(SAM_PYTHON), "scripts/translate_template.py", "template.yaml", str(translated)],
        check=True,
        capture_output=True,
        timeout=120,
        cwd=ROOT,
    )

    # When checkov scans both without the baseline
    found = checkov_findings(tmp_path, ROOT / "template.yaml", translated)

    # Then the baseline accepts each finding (make lint says so too) and holds nothing checkov no longer finds
    accepted = {(resource, check_id) for resource, check_id, _ in baseline_entries()}
    assert not found - accepted, f"findings not in .checkov.baseline: {sorted(found - accepted)}"
    assert not accepted - found, f"fixed: remove from .checkov.baseline: {sorted(accepted - found)}"


def test_every_function_logs_to_a_log_group_of_the_template_with_a_retention() -> None:
    # Given the functions' LoggingConfig (a Globals default, as SAM merges it) and the template's log groups
    raw = load().raw
    global_config = raw.get("Globals", {}).get("Function", {}).get("LoggingConfig", {})
    groups = {
        logical_id: resource["Properties"]
        for logical_id, resource in raw["Resources"].items()
        if resource["Type"] == "AWS::Logs::LogGroup"
    }

    for logical_id, resource in raw["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        group = resource["Properties"].get("LoggingConfig", global_config).get("LogGroup")
        # Then each logs to a group the stack declares (Lambda's own /aws/lambda/<name> groups never expire)
        assert isinstance(group, dict), f"{logical_id} logs to a group the stack does not own: {group!r}"
        assert group.get("Ref") in groups, logical_id
        # And that group keeps its lines for a bounded time
        assert groups[group["Ref"]].get("RetentionInDays"), group["Ref"]
