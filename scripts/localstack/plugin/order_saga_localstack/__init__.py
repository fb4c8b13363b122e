"""order-saga's LocalStack plugin: DynamoDB answered by moto, and local runtime images used as they are."""

from localstack.runtime import hooks
from localstack.services.plugins import aws_provider


@aws_provider(api="dynamodb", name="moto")
def dynamodb_moto():  # type: ignore[no-untyped-def]  (LocalStack's plugin interface)
    from localstack.aws.api.dynamodb import DynamodbApi  # noqa: PLC0415
    from localstack.services.moto import MotoFallbackDispatcher  # noqa: PLC0415
    from localstack.services.plugins import Service  # noqa: PLC0415

    return Service.for_provider(DynamodbApi(), dispatch_table_factory=MotoFallbackDispatcher)


@hooks.on_infra_start()
def use_local_images() -> None:
    """Use a runtime image already present (a local stand-in) instead of pulling it: no registry here.

    LocalStack pulls each function's runtime image at CreateFunction, and pulling an image that exists
    only locally fails. Patches LocalStack 4.14.0's container client (pinned in requirements-localstack.txt).
    """
    from localstack.utils.container_utils.container_client import NoSuchImage  # noqa: PLC0415
    from localstack.utils.docker_utils import DOCKER_CLIENT  # noqa: PLC0415

    client_class = type(DOCKER_CLIENT)
    pull = client_class.pull_image

    def pull_unless_present(self, docker_image, platform=None, log_handler=None, auth_config=None):  # type: ignore[no-untyped-def]
        try:
            self.inspect_image(docker_image, pull=False)
        except NoSuchImage:
            return pull(self, docker_image, platform, log_handler, auth_config)
        return None

    client_class.pull_image = pull_unless_present
