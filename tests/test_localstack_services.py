"""One list of LocalStack services, derived from template.yaml (scripts/localstack/services.py).

The deploy broke once because resources were added (SNS, EventBridge, CloudWatch) that neither the host
LocalStack nor docker-compose.yml enabled: here a resource whose service is not enabled fails a test.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from saga_cli.template import ROOT, load
from script_support import load_script

SCRIPT = ROOT / "scripts" / "localstack" / "services.py"
services = load_script(SCRIPT)


def resources() -> dict[str, Any]:
    return copy.deepcopy(load().raw["Resources"])


def compose_services() -> set[str]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    return set(compose["services"]["localstack"]["environment"]["SERVICES"].split(","))


def test_every_service_the_template_needs_is_enabled_in_docker_compose() -> None:
    assert set(services.needed(resources())) == compose_services()


def test_the_host_localstack_enables_exactly_the_derived_list() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    up = (ROOT / "scripts" / "localstack" / "up.sh").read_text(encoding="utf-8")
    recipe = makefile[makefile.index("\nlocalstack:") : makefile.index("\nlocalstack-deploy:")]

    assert 'services="$$($(BIN)/python scripts/localstack/services.py)"' in recipe
    assert '"$$services"' in recipe
    assert re.search(r"py_dir=\$1 port=\$2 services=\$3\n", up)
    assert 'SERVICES="$services"' in up
    assert up.count("SERVICES=") == 1, "no second, hand-written list"


def test_the_list_is_what_the_stack_uses_today() -> None:
    run = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, check=True)

    assert run.stdout.strip().split(",") == [
        "cloudformation", "cloudwatch", "dynamodb", "events", "iam", "kms",
        "lambda", "logs", "s3", "sns", "stepfunctions", "sts",
    ]  # fmt: skip


def test_a_new_resource_brings_its_service_and_compose_must_follow() -> None:
    template = resources() | {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {}}}

    needed = set(services.needed(template))

    assert "sqs" in needed
    assert needed - compose_services() == {"sqs"}, "the compose test above would fail until sqs is enabled"


def test_a_resource_type_it_cannot_place_stops_it_naming_the_type() -> None:
    template = resources() | {"Thing": {"Type": "AWS::Braket::Device", "Properties": {}}}

    with pytest.raises(services.UnknownResource, match=r"^AWS::Braket::Device: no LocalStack service known"):
        services.needed(template)


def test_kms_comes_from_the_tables_encryption() -> None:
    template = resources()
    for resource in template.values():
        resource.get("Properties", {}).pop("SSESpecification", None)

    assert "kms" not in services.needed(template)
    assert "kms" in services.needed(resources())
