"""The functions' configuration, read from the environment that ``template.yaml`` gives them."""

from __future__ import annotations

import functools
import os

from pydantic import BaseModel, ConfigDict, Field

#: At most this many stock items per SKU, so a 25-line order's reservation fits one transaction.
MAX_STOCK_SHARDS = 10


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    saga_table_name: str = Field(alias="SAGA_TABLE_NAME", min_length=1)
    idempotency_table_name: str = Field(alias="IDEMPOTENCY_TABLE_NAME", min_length=1)
    #: How long a step's result is replayed from the idempotency table. The conditional writes keep a
    #: step safe after that too; this only saves the repeated work.
    idempotency_ttl_seconds: int = Field(alias="IDEMPOTENCY_TTL_SECONDS", default=24 * 3600, gt=0)
    #: Stock items per SKU. One item takes 1,000 write units/s (500 reservations/s); a flash sale needs
    #: more. 1 is the plain layout.
    stock_shards: int = Field(alias="STOCK_SHARDS", default=1, ge=1, le=MAX_STOCK_SHARDS)


@functools.cache
def settings() -> Settings:
    """Read once, on first use (not at import, so tests and the local engine can set the environment)."""
    return Settings.model_validate(dict(os.environ))
