"""boto3 clients (lazy, cached, standard retries) and the one place ClientErrors become domain errors."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from oms.domain.errors import ConcurrentUpdateError, OmsError, StorageError

# botocore's standard retry mode already backs off on throttling and 5xx; we only size it.
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=2, read_timeout=5)
_client_lock = threading.Lock()


@cache
def _shared_session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    """A cached boto3 client; endpoints follow AWS_ENDPOINT_URL (the local stack sets it).

    All clients come from one session: a session per client costs ~70 ms more of cold start
    (docs/benchmarks.md). Creating clients from one session is not thread-safe, hence the lock
    (Lambda is single-threaded; the local stack is not).
    """
    with _client_lock:
        return _shared_session().client(service, config=_CONFIG)  # type: ignore[call-overload]


def reset_clients() -> None:
    with _client_lock:
        client.cache_clear()
        _shared_session.cache_clear()


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def translate(error: ClientError | BotoCoreError, operation: str, **context: object) -> OmsError:
    """The domain error for an AWS failure: a failed condition is a concurrent update, the rest storage."""
    if isinstance(error, BotoCoreError):
        return StorageError(f"{operation} failed: {type(error).__name__}", **context)
    code = error_code(error)
    if code == "ConditionalCheckFailedException":
        return ConcurrentUpdateError(f"{operation}: condition failed", **context)
    return StorageError(f"{operation} failed: {code}", aws_code=code, **context)


@contextmanager
def translated(operation: str, **context: object) -> Iterator[None]:
    """Raise AWS failures inside the block as typed domain errors (see :func:`translate`)."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise translate(error, operation, **context) from error
