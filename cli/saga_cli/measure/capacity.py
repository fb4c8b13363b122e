"""``saga capacity``: at a given order rate, which of AWS's quotas binds first, and at what rate it would.

Capacity on paper: what one order uses of each quota is measured (one saga on the embedded engine, counted
by ``census``); the quotas are AWS's published defaults (``quotas``). A quota allows
``amount / per-order use`` orders a second; the smallest of those is where the design stops scaling
unless the user raises that quota or changes the design (each quota's ``remedy``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from saga_cli.measure import prices
from saga_cli.measure.quotas import QUOTAS_CHECKED, Quota, for_region


@dataclass(frozen=True)
class Limit:
    quota: Quota
    #: How much of the quota one order uses (hot-item writes already scaled by the hot SKU's share).
    per_order: float
    #: Orders a second this quota allows; None when an order uses none of it.
    max_orders_per_second: float | None

    def to_json(self, rate: float) -> dict[str, Any]:
        limit = self.max_orders_per_second
        return {
            "name": self.quota.name,
            "quota": self.quota.amount,
            "unit": self.quota.unit,
            "perOrder": round(self.per_order, 4),
            "maxOrdersPerSecond": None if limit is None else round(limit, 1),
            "usedAtRate": round(rate * self.per_order / self.quota.amount, 3),
            "adjustable": self.quota.adjustable,
            "remedy": self.quota.remedy,
            "source": self.quota.source,
        }


def per_order(figures: dict[str, Any], hot_sku_share: float, stock_shards: int = 1) -> dict[str, float]:
    """What one order uses of each quota, from one saga's measured figures (see ``census``).

    A Lambda invocation is assumed to run ``prices.ASSUMED_INVOCATION_MS`` (the engine's timings say nothing
    of Lambda's), and an execution to last as long as its invocations together. A share ``F`` of the orders
    buy the hot SKU; its stock, split over ``stock_shards`` items, spreads their writes evenly.
    """
    lambda_seconds = figures["lambdaInvocations"] * prices.ASSUMED_INVOCATION_MS / 1000
    return {
        "executions": 1.0,
        "transitions": float(figures["transitions"]),
        "lambdaSecondsPerOrder": lambda_seconds,
        "busiestTableWriteUnits": float(max(figures["writeUnitsByTable"].values(), default=0)),
        "hotItemWriteUnits": figures["hotItemWriteUnits"] * hot_sku_share / stock_shards,
        "executionSecondsPerOrder": lambda_seconds,
    }


def limits(uses: dict[str, float], region: str) -> list[Limit]:
    """Every quota with the order rate it allows, the tightest first (unbounded ones last)."""
    rows = [
        Limit(quota, uses[quota.per_order], quota.amount / uses[quota.per_order] if uses[quota.per_order] else None)
        for quota in for_region(region)
    ]
    return sorted(rows, key=lambda row: math.inf if row.max_orders_per_second is None else row.max_orders_per_second)


def report(
    figures: dict[str, Any], rate: float, hot_sku_share: float, region: str, scenario: str, stock_shards: int = 1
) -> dict[str, Any]:
    """The capacity report ``saga capacity --json`` prints."""
    rows = limits(per_order(figures, hot_sku_share, stock_shards), region)
    binding = rows[0]
    assert binding.max_orders_per_second is not None  # one execution per order: StartExecution always counts
    return {
        "ordersPerSecond": rate,
        "hotSkuShare": hot_sku_share,
        "stockShards": stock_shards,
        "region": region,
        "scenario": scenario,
        "binding": binding.quota.name,
        "maxOrdersPerSecond": round(binding.max_orders_per_second, 1),
        "holds": rate <= binding.max_orders_per_second,
        "exceeded": [row.quota.name for row in rows if rate > (row.max_orders_per_second or math.inf)],
        "limits": [row.to_json(rate) for row in rows],
        "measured": {
            key: figures[key] for key in ("transitions", "lambdaInvocations", "writeUnitsByTable", "hotItemWriteUnits")
        },
        "assumedInvocationMs": prices.ASSUMED_INVOCATION_MS,
        "quotasChecked": QUOTAS_CHECKED,
    }


def render(result: dict[str, Any]) -> list[str]:
    """The report as lines for a terminal: the verdict, then every quota, tightest first."""
    rate, binding, ceiling = result["ordersPerSecond"], result["binding"], result["maxOrdersPerSecond"]
    verdict = "holds" if result["holds"] else "does not hold: " + ", ".join(result["exceeded"]) + " exceeded"
    lines = [
        f"At {rate:g} orders/s ({result['scenario']} orders, {result['hotSkuShare']:.0%} of them for one SKU"
        f" over {result['stockShards']} stock item(s), {result['region']}): {verdict}.",
        f"Binds first: {binding} at {ceiling:,.0f} orders/s.",
        "",
        f"{'quota':<36} {'default':>10}  {'per order':>9}  {'max orders/s':>12}  {'used':>6}  remedy",
    ]
    for row in result["limits"]:
        ceiling_text = "-" if row["maxOrdersPerSecond"] is None else f"{row['maxOrdersPerSecond']:,.0f}"
        lines.append(
            f"{row['name']:<36} {row['quota']:>10,.0f}  {row['perOrder']:>9g}  {ceiling_text:>12}"
            f"  {row['usedAtRate']:>6.0%}  {row['remedy']}"
        )
    lines += [
        "",
        f"Per order measured on the embedded engine; Lambda runs assumed {result['assumedInvocationMs']} ms each;"
        f" AWS's default quotas as published (checked {result['quotasChecked']}, see cli/saga_cli/measure/quotas.py).",
    ]
    return lines
