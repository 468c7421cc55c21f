"""Platform secrets from Secrets Manager, one secret per platform: ``{"<app id>": {...}}``.

Read through Powertools Parameters, which caches each secret for ``max_age`` seconds so the
webhook path makes no Secrets Manager call once warm.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from oms.domain.errors import CredentialsMissingError, StorageError
from oms.domain.model import Platform
from oms.platforms.base import AppSecrets


class SecretsManagerStore:
    def __init__(self, prefix: str, secretsmanager: Any, *, max_age: int = 300) -> None:
        self._prefix = prefix
        self._provider = SecretsProvider(boto3_client=secretsmanager)
        self._max_age = max_age
        self._with_ids: dict[tuple[str, str], tuple[dict[str, Any], AppSecrets]] = {}

    def app_secrets(self, platform: Platform, app_id: str | None) -> tuple[str, AppSecrets]:
        apps = self._apps(platform)
        if app_id is None:
            if len(apps) != 1:
                raise CredentialsMissingError(
                    "the request names no app and the platform has not exactly one", platform=str(platform)
                )
            app_id = next(iter(apps))
        secrets = apps.get(app_id)
        if not isinstance(secrets, dict):
            raise CredentialsMissingError(
                "no credentials for this app", platform=str(platform), app_id=app_id
            )
        return app_id, self._with_app_id(platform, app_id, secrets)

    def _with_app_id(self, platform: Platform, app_id: str, secrets: dict[str, Any]) -> AppSecrets:
        """The app's secrets with its id inside (WeChat checks the id sealed in each message).

        The same object is returned while the cached secret is unchanged, so clients built from it
        (and the access tokens they hold) are reused.
        """
        key = (str(platform), app_id)
        cached = self._with_ids.get(key)
        if cached is None or cached[0] is not secrets:
            cached = (secrets, {"app_id": app_id, **secrets})
            self._with_ids[key] = cached
        return cached[1]

    def _apps(self, platform: Platform) -> dict[str, Any]:
        name = f"{self._prefix}{platform}"
        try:
            value = self._provider.get(name, max_age=self._max_age, transform="json")
        except TransformParameterError as error:
            raise CredentialsMissingError("platform secret is not JSON", secret=name) from error
        except GetParameterError as error:
            # Throttling, an outage, a missing secret or permission: not the caller's fault.
            raise StorageError("platform secret unavailable", secret=name) from error
        if not isinstance(value, dict):
            raise CredentialsMissingError("platform secret is not a JSON object", secret=name)
        return value
