"""The composition root: builds services from adapters, lazily, once per Lambda container.

Handlers import this module and the services, never the adapters. Nothing happens at import
time, and each builder imports what it needs inside, so a handler's cold start pays only for the
adapters it uses (the intake does not load the idempotency, DynamoDB or S3 code). :func:`reset`
drops every cached object (tests and the local stack call it after changing the environment).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

from oms.config import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from oms.adapters.ops_table import DynamoFailureLog
    from oms.adapters.orders_table import DynamoOrdersRepository
    from oms.adapters.raw_archive import S3RawArchive
    from oms.adapters.secrets import SecretsManagerStore
    from oms.services.intake import WebhookIntake
    from oms.services.orders import OrderQueries
    from oms.services.sanitize import PayloadSanitizer


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_trace_id() -> str:
    return uuid.uuid4().hex


def _client(service: str) -> object:
    from oms.adapters.aws import client

    return client(service)


@cache
def secret_store() -> SecretsManagerStore:
    from oms.adapters.secrets import SecretsManagerStore

    config = settings()
    return SecretsManagerStore(
        config.platform_secret_prefix, _client("secretsmanager"), max_age=config.secrets_max_age_seconds
    )


@cache
def orders_repository() -> DynamoOrdersRepository:
    from oms.adapters.orders_table import DynamoOrdersRepository

    return DynamoOrdersRepository(settings().orders_table, _client("dynamodb"))


@cache
def webhook_intake() -> WebhookIntake:
    from oms.adapters.intake_queue import SqsIntakeQueue
    from oms.services.intake import WebhookIntake

    return WebhookIntake(
        secrets=secret_store(),
        queue=SqsIntakeQueue(settings().intake_queue_url, _client("sqs")),
        clock=utc_now,
        new_trace_id=new_trace_id,
    )


@cache
def payload_sanitizer() -> PayloadSanitizer:
    from oms.adapters.http import Urllib3Transport
    from oms.adapters.order_fetch import IdempotentOrderFetcher
    from oms.services.sanitize import PayloadSanitizer

    config = settings()
    return PayloadSanitizer(
        orders=orders_repository(),
        archive=raw_archive(),
        failures=failure_log(),
        fetch=IdempotentOrderFetcher(
            secrets=secret_store(),
            transport=Urllib3Transport(),
            base_urls=config.platform_base_urls,
            clock=utc_now,
            idempotency_table=config.idempotency_table,
            dynamodb=_client("dynamodb"),
            config=fetch_idempotency(),
        ),
        clock=utc_now,
    )


@cache
def fetch_idempotency() -> IdempotencyConfig:
    from oms.adapters.order_fetch import fetch_idempotency_config

    return fetch_idempotency_config(settings().fetch_idempotency_seconds)


def register_lambda_context(context: LambdaContext) -> None:
    """Let an in-progress fetch expire with the invocation that started it (not after a day)."""
    fetch_idempotency().register_lambda_context(context)


@cache
def raw_archive() -> S3RawArchive:
    from oms.adapters.raw_archive import S3RawArchive

    return S3RawArchive(settings().raw_archive_bucket, _client("s3"))


@cache
def failure_log() -> DynamoFailureLog:
    from oms.adapters.ops_table import DynamoFailureLog

    return DynamoFailureLog(settings().ops_table, _client("dynamodb"))


@cache
def order_queries() -> OrderQueries:
    from oms.services.orders import OrderQueries

    return OrderQueries(orders_repository())


def reset() -> None:
    """Forget every cached setting, client and service."""
    from oms.adapters.aws import reset_clients

    for builder in (
        settings,
        secret_store,
        orders_repository,
        webhook_intake,
        payload_sanitizer,
        fetch_idempotency,
        raw_archive,
        failure_log,
        order_queries,
    ):
        builder.cache_clear()
    reset_clients()
