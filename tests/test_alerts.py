"""The alert rule of template.yaml: it fires for what needs a human and never for a business outcome.

The samples in events/status-changes/ are Step Functions' "Execution Status Change" events, one per way an
execution ends. Each is matched by moto's EventBridge: its pattern matcher (what the engine uses), and a rule
on its event bus routing to a queue (what PutEvents does on AWS).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from typer.testing import CliRunner

from saga_cli.commands.main import app
from saga_cli.engine.alerts import RULE, AlertRule, business_outcomes, rule_pattern, status_change_event
from saga_cli.template import ROOT, SagaTemplate, load

SAMPLES = ROOT / "events" / "status-changes"
STATE_MACHINE_ARN = "arn:aws:states:eu-west-2:123456789012:stateMachine:order-saga"
#: Sample -> does it need a human?
NEEDS_A_HUMAN = {
    "succeeded": False,
    "invalid-order": False,
    "duplicate-order": False,
    "inventory-unavailable": False,
    "payment-declined": False,
    "shipping-failed": False,
    "compensation-gave-up": True,
    "forward-step-unexpected-error": True,
    "timed-out": True,
    "aborted": True,
}


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((SAMPLES / f"{name}.json").read_text())
    return event


@pytest.fixture(scope="module")
def template() -> SagaTemplate:
    return load()


def test_every_sample_has_an_expectation_and_every_expectation_a_sample() -> None:
    assert {path.stem for path in SAMPLES.glob("*.json")} == set(NEEDS_A_HUMAN)


@pytest.mark.parametrize(("name", "alerts"), sorted(NEEDS_A_HUMAN.items()))
def test_the_rule_matches_exactly_what_needs_a_human(template: SagaTemplate, name: str, alerts: bool) -> None:
    rule = AlertRule(template, STATE_MACHINE_ARN)

    assert rule.matches(sample(name)) is alerts


def test_another_state_machines_failure_does_not_alert(template: SagaTemplate) -> None:
    event = sample("compensation-gave-up")
    event["detail"]["stateMachineArn"] = STATE_MACHINE_ARN.replace("order-saga", "someone-elses")

    assert not AlertRule(template, STATE_MACHINE_ARN).matches(event)


def test_a_failure_without_an_error_field_alerts_rather_than_stays_silent(template: SagaTemplate) -> None:
    event = sample("compensation-gave-up")
    del event["detail"]["error"]

    assert AlertRule(template, STATE_MACHINE_ARN).matches(event)


def test_the_rule_excludes_exactly_the_business_outcomes_of_the_asl(template: SagaTemplate) -> None:
    # Given the errors of the ASL's Fail states: the business outcomes
    business = business_outcomes(template)
    assert business == {"InvalidOrder", "DuplicateOrder", "InventoryUnavailable", "PaymentDeclined", "ShippingFailed"}

    # Then the rule's FAILED branch lets through every error but those
    pattern = rule_pattern(template, STATE_MACHINE_ARN)
    excluded = [
        set(error["anything-but"])
        for branch in pattern["detail"]["$or"]
        for error in branch.get("error", [])
        if "anything-but" in error
    ]
    assert excluded == [business]


def test_the_rule_routes_the_same_samples_on_moto_eventbridge(template: SagaTemplate) -> None:
    pattern = rule_pattern(template, STATE_MACHINE_ARN)
    with mock_aws():
        events = boto3.client("events", region_name="eu-west-2")
        sqs = boto3.client("sqs", region_name="eu-west-2")
        queue = sqs.create_queue(QueueName="alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=RULE, EventPattern=json.dumps(pattern))
        events.put_targets(Rule=RULE, Targets=[{"Id": "queue", "Arn": queue_arn}])

        for name in NEEDS_A_HUMAN:
            event = sample(name)
            entry = {
                "Source": event["source"],
                "DetailType": event["detail-type"],
                "Detail": json.dumps(event["detail"]),
                "Resources": event["resources"],
            }
            assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0

        delivered = []
        while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
            for message in messages:
                delivered.append(json.loads(message["Body"])["detail"]["name"])
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])

    assert sorted(delivered) == sorted(f"ord-{name}" for name, alerts in NEEDS_A_HUMAN.items() if alerts)


@pytest.mark.parametrize("name", sorted(NEEDS_A_HUMAN))
def test_the_engine_builds_the_event_the_samples_show(name: str) -> None:
    # Given a sample, and the event the engine builds for the same end of the same execution
    event = sample(name)
    detail = event["detail"]
    describe = {"executionArn": detail["executionArn"], "name": detail["name"], "input": detail["input"]}
    built = status_change_event(
        STATE_MACHINE_ARN, describe, detail["status"], detail.get("error"), detail.get("cause"), event["time"]
    )

    # Then it has the same shape: the same envelope and the same detail fields
    assert built.keys() == event.keys()
    assert built["detail"].keys() == detail.keys()
    assert {k: built["detail"][k] for k in ("executionArn", "name", "status")} == {
        k: detail[k] for k in ("executionArn", "name", "status")
    }


def test_the_alert_message_never_carries_the_execution_input(template: SagaTemplate) -> None:
    # The execution input holds the payment token: the rule's target sends only names and ARNs.
    [target] = template.raw["Resources"][RULE]["Properties"]["Targets"]
    paths = target["InputTransformer"]["InputPathsMap"]

    assert set(paths.values()) == {"$.detail.executionArn", "$.detail.name", "$.detail.status", "$.detail.error"}


# saga alerts ----------------------------------------------------------------------------------------------


def test_saga_alerts_lists_a_compensation_that_gave_up_and_no_business_outcome(tmp_path: Path) -> None:
    runner = CliRunner()
    state = ["--state-dir", str(tmp_path / "state")]
    broken = runner.invoke(app, ["run", "shipping-failed", "--break-compensation", "RefundPayment", "--json", *state])
    assert broken.exit_code == 0, broken.output
    gave_up = json.loads(broken.output.splitlines()[0])
    assert gave_up["order"]["status"] == "COMPENSATION_FAILED"
    declined = runner.invoke(app, ["run", "payment-declined", "happy", *state])
    assert declined.exit_code == 0, declined.output

    listed = runner.invoke(app, ["alerts", "--json", *state])

    assert listed.exit_code == 0, listed.output
    *alerts, counts = [json.loads(line) for line in listed.output.splitlines()]
    assert [(a["name"], a["status"], a["error"]) for a in alerts] == [(gave_up["name"], "FAILED", "InjectedFault")]
    assert counts == {"alerts": {"InjectedFault": 1}}

    # And a redrive (without the fault) finishes the saga; the alert that was sent stays listed
    redriven = runner.invoke(app, ["redrive", gave_up["name"], "--json", *state])
    assert redriven.exit_code == 0, redriven.output
    finished = json.loads(redriven.output)
    assert (finished["error"], finished["order"]["status"]) == ("ShippingFailed", "REFUNDED")
    assert "failedCompensation" not in finished["order"]
    again = runner.invoke(app, ["alerts", *state])
    assert again.output.splitlines()[-1] == "Alerts: 1 (InjectedFault 1)"


def test_break_compensation_names_a_compensation_in_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["run", "happy", "--break-compensation", "ShipOrder", "--state-dir", str(tmp_path / "s")]
    )

    assert result.exit_code == 2
    assert result.output.strip() == (
        "saga: --break-compensation takes one of RefundPayment, ReleaseInventory, not 'ShipOrder'"
    )
