"""The template's alert rule, applied locally: which executions would have alerted someone.

On AWS, ``NeedsAHumanRule`` of ``template.yaml`` matches Step Functions' "Execution Status Change" events and
publishes to the alert topic. Here the same pattern, read from the template (only ``!Ref`` to the state
machine is filled in), is matched against the status-change event each end of an execution would emit, with
moto's EventBridge pattern matcher (the one its PutEvents routes by). An execution that was redriven ended
more than once, and each end is matched: a compensation that gave up alerts even if a redrive finished it.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from moto.events.models import EventPattern

from saga_cli.template import SagaTemplate, TemplateError

if TYPE_CHECKING:
    from saga_cli.engine.embedded import EmbeddedEngine

RULE = "NeedsAHumanRule"
STATE_MACHINE = "OrderSagaStateMachine"
DETAIL_TYPE = "Step Functions Execution Status Change"
#: History events that end an execution (or one redrive of it), and the status each reports.
_ENDS = {
    "ExecutionSucceeded": "SUCCEEDED",
    "ExecutionFailed": "FAILED",
    "ExecutionTimedOut": "TIMED_OUT",
    "ExecutionAborted": "ABORTED",
}


@dataclass(frozen=True)
class Alert:
    name: str
    execution_arn: str
    status: str
    error: str | None
    time: str

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "executionArn": self.execution_arn,
            "status": self.status,
            "error": self.error,
            "time": self.time,
        }


def rule_pattern(template: SagaTemplate, state_machine_arn: str) -> dict[str, Any]:
    """The rule's EventPattern as deployed: ``!Ref OrderSagaStateMachine`` is that machine's ARN."""
    try:
        pattern = template.raw["Resources"][RULE]["Properties"]["EventPattern"]
    except KeyError:
        raise TemplateError(f"template.yaml has no {RULE} with an EventPattern") from None
    filled: dict[str, Any] = _fill(pattern, {STATE_MACHINE: state_machine_arn})
    return filled


def _fill(value: Any, refs: dict[str, str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            try:
                return refs[value["Ref"]]
            except KeyError:
                raise TemplateError(f"{RULE}'s pattern refers to {value['Ref']}, unknown here") from None
        return {key: _fill(inner, refs) for key, inner in value.items()}
    if isinstance(value, list):
        return [_fill(inner, refs) for inner in value]
    return value


def _millis(value: Any) -> int | None:
    if value is None:
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return int(when.timestamp() * 1000)


def status_change_event(
    state_machine_arn: str, describe: dict[str, Any], status: str, error: str | None, cause: str | None, time: Any
) -> dict[str, Any]:
    """The event Step Functions sends to EventBridge when an execution ends: its ``detail`` carries what
    DescribeExecution does (``error`` and ``cause`` only when there are some)."""
    arn = describe["executionArn"]
    _, _, _, region, account, *_ = arn.split(":")
    detail: dict[str, Any] = {
        "executionArn": arn,
        "stateMachineArn": state_machine_arn,
        "name": describe["name"],
        "status": status,
        "startDate": _millis(describe.get("startDate")),
        "stopDate": _millis(time),
        "input": describe.get("input"),
        "inputDetails": {"included": True},
        "output": describe.get("output") if status == "SUCCEEDED" else None,
        "outputDetails": {"included": True} if status == "SUCCEEDED" else None,
        "redriveCount": int(describe.get("redriveCount", 0)),
    }
    if error is not None:
        detail["error"] = error
    if cause is not None:
        detail["cause"] = cause
    return {
        "version": "0",
        "id": f"{describe['name']}-{status}-{detail['stopDate']}",
        "detail-type": DETAIL_TYPE,
        "source": "aws.states",
        "account": account,
        "time": str(time),
        "region": region,
        "resources": [arn],
        "detail": detail,
    }


class AlertRule:
    """``NeedsAHumanRule`` for one state machine."""

    def __init__(self, template: SagaTemplate, state_machine_arn: str) -> None:
        self.state_machine_arn = state_machine_arn
        self.pattern = rule_pattern(template, state_machine_arn)
        self._matcher = EventPattern.load(json.dumps(self.pattern))

    def matches(self, event: dict[str, Any]) -> bool:
        return bool(self._matcher.matches_event(cast(Any, event)))

    def check(
        self, describe: dict[str, Any], status: str, error: str | None, cause: str | None, time: Any
    ) -> Alert | None:
        """The alert one end of an execution sends, if the rule matches it."""
        event = status_change_event(self.state_machine_arn, describe, status, error, cause, time)
        if not self.matches(event):
            return None
        return Alert(describe["name"], describe["executionArn"], status, error, str(time))

    def alerts(self, describe: dict[str, Any], history: Iterable[dict[str, Any]]) -> list[Alert]:
        """One check per end of the execution in its history: the first attempt's, then each redrive's."""
        found = []
        for event in history:
            status = _ENDS.get(event["type"])
            if status is None:
                continue
            details: dict[str, Any] = {}
            for key, value in event.items():
                if key.endswith("EventDetails") and isinstance(value, dict):
                    details = value
            alert = self.check(describe, status, details.get("error"), details.get("cause"), event["timestamp"])
            if alert is not None:
                found.append(alert)
        return found


def sent(engine: EmbeddedEngine) -> list[Alert]:
    """What the rule would have sent for every execution the embedded engine kept, in order."""
    rule = AlertRule(engine.template, engine.state_machine_arn)
    found = []
    for record in engine.archived_all():
        found += rule.alerts(record["describe"], record["history"])
    return found


def business_outcomes(template: SagaTemplate) -> set[str]:
    """The errors of the ASL's Fail states: each is a business outcome (a decline, a stock-out...)."""
    machine = json.loads(template.definition_path.read_text(encoding="utf-8"))
    return {state["Error"] for state in machine["States"].values() if state["Type"] == "Fail"}


def by_error(alerts: Iterable[Alert]) -> dict[str, int]:
    """Alert counts by error name (the status stands in when there is none: TIMED_OUT, ABORTED)."""
    counts = Counter(alert.error or alert.status for alert in alerts)
    return dict(sorted(counts.items()))
