"""What the signed clients of per-seller open APIs (Kuaishou, Xiaohongshu) share.

Both keep one access token per seller that authorised the app, let the app's secrets replace the
throttling codes (no official table was found for either), and answer with an envelope whose
``data`` object is the result: these helpers read the tokens and codes from the secrets and turn a
reply into its data or a typed ``PlatformApiError`` (retryable for the throttling codes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from oms.domain.errors import CredentialsMissingError, PlatformApiError, SchemaInvalidError
from oms.platforms.base import AppSecrets, HttpResponse


class SellerCredentials:
    """The per-seller access tokens and the throttling codes of one app's secrets.

    Parameters
    ----------
    secrets:
        The app's secrets: ``access_tokens`` (``{"<seller id>": "<token>"}``) and optional
        ``rate_limit_codes`` (a list; replaces ``default_rate_limit_codes``).
    platform, label:
        The platform's id (error context) and name (error messages).
    """

    def __init__(
        self, secrets: AppSecrets, *, platform: str, label: str, default_rate_limit_codes: frozenset[str]
    ) -> None:
        tokens = secrets.get("access_tokens")
        self._tokens: Mapping[str, Any] = tokens if isinstance(tokens, Mapping) else {}
        codes = secrets.get("rate_limit_codes")
        self.rate_limit_codes = (
            frozenset(str(code) for code in codes) if isinstance(codes, list) else default_rate_limit_codes
        )
        self.platform = platform
        self.label = label

    def access_token(self, shop_id: str) -> str:
        """The token of seller ``shop_id``; ``CredentialsMissingError`` when none is configured."""
        token = self._tokens.get(str(shop_id))
        if not isinstance(token, str) or not token:
            raise CredentialsMissingError(
                f"no {self.label} access token for this seller", platform=self.platform, shop_id=str(shop_id)
            )
        return token

    def failure(
        self, response: HttpResponse, reply: Mapping[str, Any], *, method: str, code: str, code_name: str
    ) -> PlatformApiError:
        """The typed error for a refused call (``code`` as given, in the reply field ``code_name``)."""
        error = PlatformApiError(
            f"{self.label} {method} failed with {code_name} {code}",
            method=method,
            http_status=response.status,
            code=code,
            msg=str(reply.get("error_msg") or reply.get("msg") or "")[:200],
        )
        error.retryable = code in self.rate_limit_codes
        return error

    def data(self, reply: Mapping[str, Any], *, method: str) -> dict[str, Any]:
        """The ``data`` object of a successful reply (``{}`` when absent)."""
        data = reply.get("data")
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise SchemaInvalidError(f"{self.label} {method} reply data is not an object", field="data")
        return data
