"""Environment variable names and the one cached settings object.

Nothing is read at import time: handlers call :func:`settings` inside their first invocation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache


@dataclass(frozen=True, slots=True)
class Settings:
    orders_table: str
    ops_table: str
    idempotency_table: str
    intake_queue_url: str
    raw_archive_bucket: str
    platform_secret_prefix: str
    stage: str = "dev"
    #: platform → base URL, overriding each adapter's production host (the local simulator uses it)
    platform_base_urls: dict[str, str] = field(default_factory=dict)
    secrets_max_age_seconds: int = 300
    fetch_idempotency_seconds: int = 86_400

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            orders_table=env.get("ORDERS_TABLE", ""),
            ops_table=env.get("OPS_TABLE", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            intake_queue_url=env.get("INTAKE_QUEUE_URL", ""),
            raw_archive_bucket=env.get("RAW_ARCHIVE_BUCKET", ""),
            platform_secret_prefix=env.get("PLATFORM_SECRET_PREFIX", "order-center/platforms/"),
            stage=env.get("STAGE", "dev"),
            platform_base_urls=json.loads(env.get("PLATFORM_BASE_URLS") or "{}"),
            secrets_max_age_seconds=int(env.get("SECRETS_MAX_AGE_SECONDS", "300")),
            fetch_idempotency_seconds=int(env.get("FETCH_IDEMPOTENCY_SECONDS", "86400")),
        )


@cache
def settings() -> Settings:
    return Settings.from_env()
