"""AWS list prices that ``saga bench`` turns into a cost per million orders: the one place they live.

On-demand list prices for US East (N. Virginia), us-east-1, as published on the services' pricing pages
(aws.amazon.com/step-functions/pricing, /lambda/pricing, /dynamodb/pricing) and checked on
``PRICES_CHECKED``. Other regions (the stack deploys to eu-west-2 by default) cost somewhat more.
Free tiers, tiered discounts, Savings Plans, CloudWatch Logs, X-Ray traces, storage and data transfer
are left out.
"""

from __future__ import annotations

PRICES_CHECKED = "2026-11-28"
PRICES_REGION = "us-east-1"
PRICES_SOURCE = (
    "aws.amazon.com/step-functions/pricing, aws.amazon.com/lambda/pricing, aws.amazon.com/dynamodb/pricing (on-demand)"
)

#: Step Functions Standard: $0.025 per 1,000 state transitions (a retry counts as one more).
STANDARD_PER_TRANSITION = 0.025 / 1000
#: Step Functions Express: $1.00 per million requests (executions started) ...
EXPRESS_PER_REQUEST = 1.00 / 1_000_000
#: ... plus $0.00001667 per GB-second (first tier), memory billed in 64 MB chunks ...
EXPRESS_PER_GB_SECOND = 0.00001667
EXPRESS_MEMORY_GB = 64 / 1024
#: ... and duration rounded up to the next 100 ms.
EXPRESS_DURATION_STEP_MS = 100

#: Lambda on arm64 (the template's architecture): $0.20 per million requests ...
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
#: ... plus $0.0000133334 per GB-second (first tier), billed per millisecond.
LAMBDA_PER_GB_SECOND_ARM64 = 0.0000133334

#: DynamoDB on-demand: $0.625 per million write request units, $0.125 per million read request units.
DYNAMODB_PER_WRITE_UNIT = 0.625 / 1_000_000
DYNAMODB_PER_READ_UNIT = 0.125 / 1_000_000

#: Not a price but the one assumption the cost needs: how long a warm invocation of one step runs on
#: Lambda (512 MB, arm64: one to three DynamoDB round trips of a few ms each, plus Powertools). The local
#: engine's timings say nothing about Lambda's, so this is stated rather than measured; the Express
#: execution is assumed to last as long as its invocations together.
ASSUMED_INVOCATION_MS = 50


def as_json() -> dict[str, object]:
    """The prices and the assumption, as ``saga bench --json`` reports them."""
    return {
        "checked": PRICES_CHECKED,
        "region": PRICES_REGION,
        "source": PRICES_SOURCE,
        "standardPerThousandTransitions": STANDARD_PER_TRANSITION * 1000,
        "expressPerMillionRequests": EXPRESS_PER_REQUEST * 1_000_000,
        "expressPerGbSecond": EXPRESS_PER_GB_SECOND,
        "lambdaPerMillionRequests": LAMBDA_PER_REQUEST * 1_000_000,
        "lambdaPerGbSecondArm64": LAMBDA_PER_GB_SECOND_ARM64,
        "dynamodbPerMillionWriteUnits": DYNAMODB_PER_WRITE_UNIT * 1_000_000,
        "dynamodbPerMillionReadUnits": DYNAMODB_PER_READ_UNIT * 1_000_000,
        "assumedInvocationMs": ASSUMED_INVOCATION_MS,
    }
