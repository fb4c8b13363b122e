"""Read ``template.yaml``: the one place that declares the tables, functions, environment and substitutions.

The embedded engine and the tests build everything from here, so nothing is declared twice.
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = ROOT / "template.yaml"


class TemplateError(Exception):
    """template.yaml lacks something the project relies on."""


@dataclass(frozen=True)
class Table:
    logical_id: str
    key_schema: list[dict[str, str]]
    attribute_definitions: list[dict[str, str]]
    ttl_attribute: str | None

    def create_table_request(self, table_name: str) -> dict[str, Any]:
        return {
            "TableName": table_name,
            "KeySchema": self.key_schema,
            "AttributeDefinitions": self.attribute_definitions,
            "BillingMode": "PAY_PER_REQUEST",
        }


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: Path
    handler: str
    environment: dict[str, Any] = field(default_factory=dict)
    timeout_seconds: int = 3
    memory_mb: int = 128

    @property
    def source(self) -> Path:
        """The handler's file: ``app.lambda_handler`` in ``functions/x/`` is ``functions/x/app.py``."""
        module, _, _ = self.handler.rpartition(".")
        return self.code_uri / (module.replace(".", "/") + ".py")

    @property
    def handler_name(self) -> str:
        return self.handler.rpartition(".")[2]


@dataclass(frozen=True)
class SagaTemplate:
    tables: dict[str, Table]
    functions: dict[str, Function]
    #: ``${Name}`` in the ASL -> (logical id, attribute) it is filled from.
    substitutions: dict[str, tuple[str, str]]
    definition_path: Path
    #: Each ``AWS::Serverless::LayerVersion``'s logical id -> its content folder.
    layers: dict[str, Path]
    raw: dict[str, Any]

    @property
    def layer_dirs(self) -> list[Path]:
        return list(self.layers.values())

    def environment(self, function_id: str, refs: dict[str, str]) -> dict[str, str]:
        """A function's environment with each ``!Ref`` replaced by ``refs[logical id]``."""
        variables = self.functions[function_id].environment
        return {name: _resolve(value, refs) for name, value in variables.items()}


def _resolve(value: Any, refs: dict[str, str]) -> str:
    if isinstance(value, dict) and set(value) == {"Ref"}:
        try:
            return refs[value["Ref"]]
        except KeyError:
            raise TemplateError(f"nothing stands for !Ref {value['Ref']}") from None
    if isinstance(value, str | int | float | bool):
        return str(value)
    raise TemplateError(f"cannot resolve {value!r} locally")


def _getatt(value: Any) -> tuple[str, str]:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        target = value["Fn::GetAtt"]
        parts = target.split(".", 1) if isinstance(target, str) else list(target)
        return parts[0], parts[1]
    raise TemplateError(f"substitution {value!r} is not a !GetAtt")


def parse(text: str, root: Path = ROOT) -> SagaTemplate:
    raw, matches = decode_str(text)
    if matches or raw is None:
        raise TemplateError(f"template.yaml does not parse: {matches}")
    resources: dict[str, Any] = raw["Resources"]
    global_fn = raw.get("Globals", {}).get("Function", {})
    global_env = global_fn.get("Environment", {}).get("Variables", {})
    tables, functions, layers = {}, {}, {}
    substitutions: dict[str, tuple[str, str]] = {}
    definition: Path | None = None
    for logical_id, resource in resources.items():
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            ttl = props.get("TimeToLiveSpecification", {})
            tables[logical_id] = Table(
                logical_id,
                props["KeySchema"],
                props["AttributeDefinitions"],
                ttl.get("AttributeName") if ttl.get("Enabled") else None,
            )
        elif kind == "AWS::Serverless::Function":
            env = dict(global_env) | props.get("Environment", {}).get("Variables", {})
            settings = global_fn | props  # SAM's defaults: 3 s, 128 MB
            functions[logical_id] = Function(
                logical_id,
                root / props["CodeUri"],
                props["Handler"],
                env,
                int(settings.get("Timeout", 3)),
                int(settings.get("MemorySize", 128)),
            )
        elif kind == "AWS::Serverless::LayerVersion":
            layers[logical_id] = root / props["ContentUri"]
        elif kind == "AWS::Serverless::StateMachine":
            if definition is not None:
                raise TemplateError("more than one state machine")
            definition = root / props["DefinitionUri"]
            substitutions = {name: _getatt(value) for name, value in props.get("DefinitionSubstitutions", {}).items()}
    if definition is None:
        raise TemplateError("template.yaml has no AWS::Serverless::StateMachine")
    return SagaTemplate(tables, functions, substitutions, definition, layers, raw)


@functools.cache
def load(path: Path = TEMPLATE_PATH) -> SagaTemplate:
    return parse(path.read_text(encoding="utf-8"), path.parent)


def deploy_region() -> str:
    """The region ``sam deploy`` uses unless told otherwise: samconfig.toml's, the one place it is set."""
    with (ROOT / "samconfig.toml").open("rb") as config:
        region: str = tomllib.load(config)["default"]["global"]["parameters"]["region"]
    return region


def stock_shards(template: SagaTemplate) -> int:
    """The functions' ``STOCK_SHARDS`` (stock items per SKU) as the template sets it; 1 when unset."""
    variables = template.raw.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    return int(variables.get("STOCK_SHARDS", 1))
