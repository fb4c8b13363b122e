"""The embedded engine's Step Functions client: the calls made once or more per saga answered in-process.

boto3's client against ``mock_aws`` sends each call through all of an HTTP round trip without a socket:
botocore serialises and signs a request, moto builds a werkzeug request from it, parses it back, runs the
backend, serialises a response, and botocore parses that. For StartExecution and DescribeExecution the
backend's own work was about an eighth of the whole (a sampling profile of ``saga bench``); the rest was
this round trip, and it was about 40 % of what the engine cost over calling the handlers directly.

``InProcessStepFunctions`` keeps the two ends that give the answer its shape and drops the middle: botocore
validates the parameters as boto3 would, moto's own ``StepFunctionResponse`` method runs the call, moto's
serialiser writes the response body and botocore's parser reads it, so a caller gets exactly what boto3
returns, modelled exceptions included (``tests/test_sfn_inprocess.py`` compares the two for every
scenario). Every other call goes to the boto3 client unchanged.

It uses moto's private API (the response class, its serialiser, its service model), which pyproject.toml
pins exactly; the test fails if any of it moves.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.parsers import create_parser
from botocore.validate import validate_parameters
from moto.core.exceptions import ServiceException
from moto.core.responses import ActionContext, ActionResult
from moto.core.serialize import get_serializer_class
from moto.core.utils import get_service_model
from moto.stepfunctions.responses import StepFunctionResponse
from werkzeug.exceptions import HTTPException

#: boto3 method name -> API operation, for the calls answered in-process.
IN_PROCESS = {
    "start_execution": "StartExecution",
    "describe_execution": "DescribeExecution",
    "get_execution_history": "GetExecutionHistory",
}


class InProcessStepFunctions:
    """A boto3 Step Functions client whose per-saga calls skip the emulated HTTP round trip."""

    def __init__(self, client: Any, region: str) -> None:
        self._client = client
        self._region = region
        self._operations = {method: client.meta.service_model.operation_model(op) for method, op in IN_PROCESS.items()}
        protocol = client.meta.service_model.metadata["protocol"]
        self._parser = create_parser(protocol)
        # moto serialises with its own copy of the service model.
        self._moto_model = get_service_model("stepfunctions")
        self._moto_operations = {method: self._moto_model.operation_model(op) for method, op in IN_PROCESS.items()}
        self._serializer = get_serializer_class("stepfunctions", protocol)

    def __getattr__(self, name: str) -> Any:
        if name in IN_PROCESS:
            return lambda **params: self._call(name, params)
        return getattr(self._client, name)

    def get_paginator(self, name: str) -> Any:
        return _Paginator(self, name) if name in IN_PROCESS else self._client.get_paginator(name)

    def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        operation = self._operations[method]
        validate_parameters(params, operation.input_shape)  # ParamValidationError, as boto3 raises
        response = StepFunctionResponse()
        response.headers = {}
        response.querystring = {}
        response.uri_match = {}
        response.body = json.dumps(params)
        response.region = self._region
        response.current_account = response.get_current_account()
        status: int
        headers: dict[str, Any]
        body: Any
        try:
            result: ActionResult | None = getattr(response, method)()
        except ServiceException as exc:
            result = ActionResult(exc)
        except HTTPException as exc:  # moto's older error style: the JSON error body is the description
            result, status, headers, body = None, exc.code or 500, dict(exc.get_headers()), exc.description
        if result is not None:
            context = ActionContext(self._moto_model, self._moto_operations[method], self._serializer, response)
            status, headers, body = result.execute_result(context)
        parsed: dict[str, Any] = self._parser.parse(
            {"status_code": status, "headers": headers, "body": body.encode() if isinstance(body, str) else body},
            operation.output_shape,
        )
        if "Error" in parsed:  # the parser reads an error status's body into Error
            error = self._client.exceptions.from_code(parsed["Error"].get("Code"))
            raise error(parsed, operation.name)
        return parsed


class _Paginator:
    """``get_paginator(...).paginate(...)`` for an in-process call, following ``nextToken`` as boto3 does."""

    def __init__(self, client: InProcessStepFunctions, method: str) -> None:
        self._client = client
        self._method = method

    def paginate(self, **params: Any) -> Iterator[dict[str, Any]]:
        while True:
            page = self._client._call(self._method, params)
            yield page
            if not page.get("nextToken"):
                return
            params = params | {"nextToken": page["nextToken"]}
