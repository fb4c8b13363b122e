"""What a chaos run found: plain data, which `saga chaos` prints and the tests read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from saga_cli.chaos.faults import KINDS
from saga_cli.chaos.invariants import Violation


@dataclass
class World:
    """What one engine, with its own tables and its own share of the orders, found."""

    outcomes: Counter[str]
    faults: Counter[str]
    redriven: int
    violations: list[Violation]
    provider_calls: Counter[str]
    #: What NeedsAHumanRule would have sent, by error name.
    alerts: Counter[str]
    seconds: float


@dataclass
class ChaosReport:
    sagas: int
    seed: int
    concurrency: int
    outcomes: Counter[str]
    faults: Counter[str]
    redriven: int
    violations: list[Violation]
    provider_calls: Counter[str]
    seconds: float
    stock_shards: int = 1
    workers: int = 1
    replay: str = ""
    by_kind: Counter[str] = field(default_factory=Counter)
    #: What NeedsAHumanRule would have sent, by error name.
    alerts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "sagas": self.sagas,
            "seed": self.seed,
            "concurrency": self.concurrency,
            "workers": self.workers,
            "stockShards": self.stock_shards,
            "outcomes": dict(sorted(self.outcomes.items())),
            "orderKinds": dict(sorted(self.by_kind.items())),
            "faultsInjected": {kind: self.faults.get(kind, 0) for kind in KINDS},
            "redriven": self.redriven,
            "providerCalls": dict(self.provider_calls),
            "violations": len(self.violations),
            "firstViolations": [str(v) for v in self.violations[:5]],
            "seconds": round(self.seconds, 2),
            "sagasPerSecond": round(self.sagas / self.seconds, 1) if self.seconds else None,
            "replay": self.replay,
            # Last, so the line ends with what the operator would have been told.
            "alerts": self.alerts,
        }
