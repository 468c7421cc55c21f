"""Fetching an order from its platform, made idempotent per queue message with Powertools.

A push that carries only ids is completed with the platform's order snapshot. Powertools
Idempotency stores the snapshot under the message's key, so a redelivered message replays the
snapshot its first attempt saw: one event id always carries one content, and a retry does not
spend the platform's rate limit again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
)

from oms.adapters.platform_clients import PlatformClients
from oms.domain.errors import ConcurrentUpdateError, StorageError
from oms.domain.model import Platform
from oms.platforms.base import HttpTransport, PlatformClient
from oms.services.ports import Clock, SecretStore


def fetch_idempotency_config(expires_after_seconds: int) -> IdempotencyConfig:
    """Keyed by message; with the Lambda context registered, a crashed fetch expires with its invocation."""
    return IdempotencyConfig(event_key_jmespath="message_key", expires_after_seconds=expires_after_seconds)


class IdempotentOrderFetcher:
    """:class:`~oms.services.ports.OrderFetcher` backed by the platform clients and the idempotency table."""

    def __init__(
        self,
        *,
        secrets: SecretStore,
        transport: HttpTransport,
        base_urls: Mapping[str, str],
        clock: Clock,
        idempotency_table: str,
        dynamodb: Any,
        config: IdempotencyConfig,
    ) -> None:
        self._clients = PlatformClients(
            secrets=secrets, transport=transport, base_urls=base_urls, clock=clock
        )
        persistence = DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=dynamodb)
        self._fetch_once = idempotent_function(
            data_keyword_argument="request", config=config, persistence_store=persistence
        )(self._fetch)

    def __call__(
        self, platform: Platform, app_id: str | None, shop_id: str, platform_order_id: str, message_key: str
    ) -> dict[str, Any]:
        request = {
            "platform": str(platform),
            "app_id": app_id,
            "shop_id": shop_id,
            "platform_order_id": platform_order_id,
            "message_key": message_key,
        }
        try:
            snapshot: dict[str, Any] = self._fetch_once(request=request)
        except IdempotencyAlreadyInProgressError as error:
            raise ConcurrentUpdateError(
                "the same message is being fetched elsewhere", key=message_key
            ) from error
        except IdempotencyPersistenceLayerError as error:
            raise StorageError("idempotency store unavailable", key=message_key) from error
        return snapshot

    def _fetch(self, request: dict[str, Any]) -> dict[str, Any]:
        client = self._client(Platform(request["platform"]), request["app_id"])
        return client.fetch_order(request["shop_id"], request["platform_order_id"])

    def _client(self, platform: Platform, app_id: str | None) -> PlatformClient:
        return self._clients.get(platform, app_id)[1]
