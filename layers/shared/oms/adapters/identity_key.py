"""The keyed phone hash: HMAC-SHA256 under a key held in Secrets Manager, never a plain digest.

A plain SHA-256 of an 11-digit mobile number is reversed by enumerating the ~10^10 numbers; with
the key kept out of the table, a copy of the table reveals nothing. Secret: ``{"phone_hash_key":
"<at least 32 characters>"}``; rotating it orphans every phone link (docs/security.md).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aws_lambda_powertools.utilities.parameters import SecretsProvider
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError, TransformParameterError

from oms.domain.errors import CredentialsMissingError, StorageError

MIN_KEY_LENGTH = 32


class SecretPhoneHasher:
    """A :data:`~oms.domain.customers.PhoneHasher` whose key is read (and cached) from Secrets Manager."""

    def __init__(self, secret_name: str, secretsmanager: Any, *, max_age: int = 300) -> None:
        self._name = secret_name
        self._provider = SecretsProvider(boto3_client=secretsmanager)
        self._max_age = max_age

    def __call__(self, text: str) -> str:
        return hmac.new(self._key(), text.encode(), hashlib.sha256).hexdigest()

    def _key(self) -> bytes:
        try:
            value = self._provider.get(self._name, max_age=self._max_age, transform="json")
        except TransformParameterError as error:
            raise CredentialsMissingError("identity secret is not JSON", secret=self._name) from error
        except GetParameterError as error:
            raise StorageError("identity secret unavailable", secret=self._name) from error
        key = value.get("phone_hash_key") if isinstance(value, dict) else None
        if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
            raise CredentialsMissingError(
                f"identity secret lacks a phone_hash_key of {MIN_KEY_LENGTH}+ characters", secret=self._name
            )
        return key.encode()
