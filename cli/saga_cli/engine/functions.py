"""Call the template's Lambda handlers in-process, as Lambda would: a context with a deadline, JSON in and out."""

from __future__ import annotations

import functools
import importlib.util
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from order_saga.idempotency import persistence_layer
from order_saga.settings import settings
from order_saga.store import default_store
from saga_cli.template import Function

Handler = Callable[[dict[str, Any], Any], Any]

# Executions start together and all ask for the same cold handler: functools.cache is not a lock, so without
# one each thread would run the handler's import at once, and all but one would wait on module locks while the
# importer competes for the GIL (seen: 50 concurrent executions stalled for minutes). One import at a time.
_loading = threading.Lock()


@dataclass
class LambdaContext:
    """The fields of Lambda's context object that Powertools reads."""

    function_name: str
    timeout_seconds: float
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self.started)) * 1000))


def load_handler(function: Function) -> Handler:
    """Import a function's handler from its file, under a module name unique to the function."""
    with _loading:
        return _load(function.logical_id, function.source, function.handler_name)


@functools.cache
def _load(logical_id: str, source: Path, name: str) -> Handler:
    spec = importlib.util.spec_from_file_location(f"saga_functions.{logical_id}", source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Handler = getattr(module, name)
    return handler


def reset_clients() -> None:
    """Forget the handlers' cached settings and AWS clients (after the environment or endpoint changed)."""
    settings.cache_clear()
    default_store.cache_clear()
    persistence_layer.cache_clear()
