"""LocalStack's DynamoDB answered by moto: every operation goes to moto's DynamoDB backend."""

from localstack.services.plugins import aws_provider


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():  # type: ignore[no-untyped-def]  (LocalStack's plugin interface)
    from localstack.aws.api.dynamodb import DynamodbApi  # noqa: PLC0415
    from localstack.services.moto import MotoFallbackDispatcher  # noqa: PLC0415
    from localstack.services.plugins import Service  # noqa: PLC0415

    return Service.for_provider(DynamodbApi(), dispatch_table_factory=MotoFallbackDispatcher)
