"""The LocalStack services the stack needs, derived from template.yaml: the one list that `make localstack`
enables (scripts/localstack/up.sh) and that tests/test_localstack_services.py holds docker-compose.yml to.

    python scripts/localstack/services.py    # prints them, comma-separated

A resource type is served by the service its namespace names (AWS::SNS::Topic: sns); SAM's own types
expand into several. A type this file cannot place stops it with a line naming the type, so the next
resource added to the template cannot quietly leave its service out.
"""

from __future__ import annotations

import sys
from typing import Any

from saga_cli.template import load

#: `sam deploy` itself: the stack, the bucket of its artifacts, and who the caller is.
DEPLOY = ("cloudformation", "s3", "sts")
#: What SAM's types become when transformed (each function and the state machine gets a role).
SERVERLESS = {
    "AWS::Serverless::Function": ("lambda", "iam", "logs"),
    "AWS::Serverless::LayerVersion": ("lambda",),
    "AWS::Serverless::StateMachine": ("stepfunctions", "iam", "logs"),
}
#: Namespaces whose service is not the namespace in lower case.
NAMESPACES = {"StepFunctions": "stepfunctions", "CloudWatch": "cloudwatch"}
#: LocalStack's community services this file vouches for (a new namespace gets checked, then added).
KNOWN = frozenset(
    {"cloudformation", "cloudwatch", "dynamodb", "events", "iam", "kms", "lambda", "logs", "s3", "sns", "sqs"}
    | {"ssm", "stepfunctions", "sts"}
)


class UnknownResource(Exception):
    """A resource type whose LocalStack service this file does not know."""


def needed(resources: dict[str, Any]) -> list[str]:
    found = set(DEPLOY)
    for resource in resources.values():
        kind = resource["Type"]
        if kind in SERVERLESS:
            found |= set(SERVERLESS[kind])
            continue
        namespace = kind.split("::")[1] if kind.startswith("AWS::") else ""
        service = NAMESPACES.get(namespace, namespace.lower())
        if service not in KNOWN:
            raise UnknownResource(f"{kind}: no LocalStack service known for it (add it to {__file__})")
        found.add(service)
        if resource.get("Properties", {}).get("SSESpecification", {}).get("SSEEnabled"):
            found.add("kms")  # a table encrypted with a KMS key: LocalStack refuses it without kms
    return sorted(found)


def main() -> int:
    try:
        print(",".join(needed(load().raw["Resources"])))
    except UnknownResource as error:
        print(f"localstack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
