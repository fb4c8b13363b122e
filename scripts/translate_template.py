"""Translate template.yaml from SAM to plain CloudFormation, offline, for scanners that read CloudFormation.

checkov reads the SAM template too, but only the translation shows what is deployed: the IAM roles SAM
generates (each function's and the state machine's, with their policies and managed policy ARNs) and every
resource as CloudFormation creates it. Run by `make lint` with SAM CLI's interpreter (.venv-sam), so the
translator is the one `sam validate` uses; it needs no AWS account:

- local ``CodeUri``/``ContentUri`` become placeholder S3 locations, as `sam validate` does;
- ``DefinitionUri`` is replaced by the ASL file's content as ``Definition``, so the translation holds the
  real state machine definition (with ``DefinitionSubstitutions`` kept);
- managed policies are looked up in an empty map instead of IAM (the template names none by short name).

Usage: translate_template.py [--region REGION] [TEMPLATE [OUTPUT]]
(defaults: eu-west-2, template.yaml -> .aws-sam/translated-template.json)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "template.yaml"
DEFAULT_OUTPUT = ROOT / ".aws-sam" / "translated-template.json"
DEFAULT_REGION = "eu-west-2"

#: Properties that name local code, per SAM resource type: the translator accepts only S3 locations there.
LOCAL_CODE = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


class OfflineManagedPolicyLoader:
    """Stands in for samtranslator's ``ManagedPolicyLoader``, which lists AWS managed policies through IAM.

    The translator only asks when a policy is given by short name (``AWSXrayWriteOnlyAccess``), never for an
    ARN; this template names none, so an empty map is exact. A short name would then fail the translation.
    """

    def load(self) -> dict[str, str]:
        return {}


def offline_template(template: dict[str, Any], base: Path) -> dict[str, Any]:
    """``template`` with local paths replaced as the translator needs (see the module's docstring)."""
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        code = LOCAL_CODE.get(resource.get("Type"))
        if code and isinstance(props.get(code), str) and not props[code].startswith("s3://"):
            props[code] = f"s3://translated-template-placeholder/{logical_id}"
        if resource.get("Type") == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((base / props.pop("DefinitionUri")).read_text(encoding="utf-8"))
    return template


def translate(template_path: Path = DEFAULT_TEMPLATE, region: str = DEFAULT_REGION) -> dict[str, Any]:
    """The CloudFormation that CloudFormation's SAM transform makes of ``template_path`` in ``region``."""
    template = offline_template(yaml_parse(template_path.read_text(encoding="utf-8")), template_path.parent)
    # A session with only a region: the translator reads the region and partition from it, and no credentials.
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    translated: dict[str, Any] = translator.translate(
        template, parameter_values={}, get_managed_policy_map=OfflineManagedPolicyLoader().load
    )
    return translated


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Translate a SAM template to CloudFormation, offline.")
    parser.add_argument("--region", default=DEFAULT_REGION)
    parser.add_argument("template", nargs="?", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    template_path, output = args.template, args.output
    try:
        translated = translate(template_path, args.region)
    except InvalidDocumentException as exc:
        for cause in exc.causes:
            print(f"translate_template: {cause.message}", file=sys.stderr)
        return 1
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(translated, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"translate_template: {template_path.name} -> {output} ({len(translated['Resources'])} resources)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
