"""moto as an HTTP server on 127.0.0.1, with every request serialised behind one lock.

moto's backends are plain Python objects with no locking of their own: two concurrent
``UpdateItem`` calls with a condition can both pass the condition (overselling a conditional
decrement), and concurrent transactions can crash the backend. The local stack runs many
threads (the API server, one poller per queue, the scheduler, test code), so this module wraps
moto's WSGI application in :class:`SerialisedApp`, which lets exactly one request into moto at a
time and reads the whole response before releasing the lock.

SQS long polling would hold that lock for up to 20 seconds, so :class:`SerialisedApp` runs a
``ReceiveMessage`` with ``WaitTimeSeconds > 0`` as a series of short receives, releasing the lock
between attempts: callers keep long-poll semantics without freezing the rest of the stack.

Two of moto's hot paths are replaced while the server runs, without changing what they compute
(both are checked against moto's own code in ``tests/unit/test_local_moto_server.py``):
``TransactWriteItems`` snapshots the items it touches instead of deep-copying whole tables
(:class:`TransactionSnapshots`), and SQS reads the time with ``time.time()`` (:class:`SqsWallClock`).
A third (:class:`PartitionQueries`) makes a Query on a table's own key read one partition, as
DynamoDB does, instead of every item of the table.
"""

from __future__ import annotations

import http.client
import inspect
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WsgiApp = Callable[[Environ, StartResponse], Iterable[bytes]]

_SQS_RECEIVE_TARGET = "AmazonSQS.ReceiveMessage"
#: SQS calls after which a message may be receivable on the queue they name.
_SQS_SENDS = frozenset({"AmazonSQS.SendMessage", "AmazonSQS.SendMessageBatch"})
#: ... and those that do so only when they make a message visible at once (a timeout of 0).
_SQS_VISIBILITY_CHANGES = frozenset(
    {"AmazonSQS.ChangeMessageVisibility", "AmazonSQS.ChangeMessageVisibilityBatch"}
)
#: Pause between the short receives that stand in for one long poll (outside the lock).
LONG_POLL_INTERVAL_S = 0.05


class SerialisedApp:
    """A WSGI middleware that lets one request at a time into ``app``.

    Parameters
    ----------
    app:
        The WSGI application to protect (moto's ``DomainDispatcherApplication``).
    lock:
        The lock to hold around each request; a new one when omitted.
    monotonic, sleep:
        The clock and pause used to pace a long poll (injectable for tests).
    on_enqueue:
        Called (outside the lock) after every successful request that may have made a message
        receivable, with the queue's URL: an SQS send, a visibility change to 0; or with None for
        any SNS call (moto fans a publish out to the subscribed queues synchronously). The local
        stack rings its pollers' doorbells with it.

    Notes
    -----
    The response body is read completely while the lock is held, because a WSGI application may
    produce it lazily, touching its state after returning.
    """

    def __init__(
        self,
        app: WsgiApp,
        lock: threading.Lock | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_enqueue: Callable[[str | None], None] | None = None,
    ) -> None:
        self._app = app
        self.on_enqueue = on_enqueue
        self.lock = lock or threading.Lock()
        self.requests_served = 0
        self._monotonic = monotonic
        self._sleep = sleep

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET") == _SQS_RECEIVE_TARGET:
            status, headers, body = self._receive_message(environ)
        else:
            enqueued: tuple[str | None] | None = None
            if self.on_enqueue is not None:
                environ, enqueued = _enqueues(environ)
            status, headers, body = self._call_locked(environ)
            if enqueued is not None and self.on_enqueue is not None and status.startswith("2"):
                self.on_enqueue(enqueued[0])
        start_response(status, headers)
        return [body]

    def _call_locked(self, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            captured["status"], captured["headers"] = status, headers
            return lambda _data: None  # the legacy write() callable; moto never uses it

        with self.lock:
            chunks = self._app(environ, capture)
            try:
                body = b"".join(chunks)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            self.requests_served += 1
        return captured["status"], captured["headers"], body

    def _receive_message(self, environ: Environ) -> tuple[str, list[tuple[str, str]], bytes]:
        request_body = _read_body(environ)
        try:
            request = json.loads(request_body or b"{}")
            wait_seconds = int(request.get("WaitTimeSeconds") or 0)
        except (ValueError, TypeError, AttributeError):
            # Let moto produce its own validation error for a malformed request.
            return self._call_locked(_with_body(environ, request_body))
        if wait_seconds <= 0 or wait_seconds > 20:
            return self._call_locked(_with_body(environ, request_body))

        short_body = json.dumps({**request, "WaitTimeSeconds": 0}).encode()
        deadline = self._monotonic() + wait_seconds
        while True:
            status, headers, body = self._call_locked(_with_body(environ, short_body))
            if not status.startswith("200") or _has_messages(body) or self._monotonic() >= deadline:
                return status, headers, body
            self._sleep(LONG_POLL_INTERVAL_S)


def _enqueues(environ: Environ) -> tuple[Environ, tuple[str | None] | None]:
    """Whether the request may make a message receivable, and on which queue (None: any).

    Returns the environ to hand on (its body re-wrapped when it had to be read) and ``(queue URL,)``,
    ``(None,)`` for an SNS call, or None when nothing can become receivable.
    """
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target in _SQS_SENDS or target in _SQS_VISIBILITY_CHANGES:
        body = _read_body(environ)
        environ = _with_body(environ, body)
        try:
            request = json.loads(body or b"{}")
            queue_url = str(request["QueueUrl"])
            entries = request.get("Entries") or [request]
            visible_now = any(int(entry.get("VisibilityTimeout", 1)) == 0 for entry in entries)
        except (ValueError, TypeError, KeyError, AttributeError):
            return environ, None  # moto answers it with an error
        return environ, (queue_url,) if target in _SQS_SENDS or visible_now else None
    # SNS speaks the query protocol: its requests are known by their credential scope.
    if "/sns/aws4_request" in str(environ.get("HTTP_AUTHORIZATION", "")):
        return environ, (None,)
    return environ, None


def _read_body(environ: Environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    stream = environ["wsgi.input"]
    body: bytes = stream.read(length) if length else stream.read()
    return body


def _with_body(environ: Environ, body: bytes) -> Environ:
    return {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}


def _has_messages(body: bytes) -> bool:
    try:
        return bool(json.loads(body or b"{}").get("Messages"))
    except ValueError:
        return True  # not ours to interpret: hand it back to the caller


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` and listening; ``OSError`` if the port is taken.

    werkzeug's own binding calls ``sys.exit(1)`` on a taken port; binding here first lets
    callers fall back to another port instead.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(128)
    except OSError:
        listener.close()
        raise
    return listener


def serve_wsgi(host: str, port: int, app: Any, handler: type[Any]) -> BaseWSGIServer:
    """A threaded werkzeug server for ``app`` on an already bound socket (see above)."""
    listener = bind_listening_socket(host, port)
    try:
        return make_server(host, port, app, threaded=True, request_handler=handler, fd=listener.fileno())
    finally:
        listener.close()  # werkzeug holds its own duplicate of the descriptor


class MotoServer:
    """moto in server mode on 127.0.0.1, serialised by :class:`SerialisedApp`, in a thread.

    Parameters
    ----------
    port:
        TCP port; 0 picks a free ephemeral port (see :attr:`url`).
    host:
        Interface to bind. Only loopback makes sense: the server has no authentication.

    Examples
    --------
    >>> with MotoServer() as moto:  # doctest: +SKIP
    ...     boto3.client("sqs", endpoint_url=moto.url, region_name="us-east-1").list_queues()
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.app: SerialisedApp | None = None
        self.transactions = TransactionSnapshots()
        self.sqs_clock = SqsWallClock()
        self.partition_queries = PartitionQueries()

    @property
    def url(self) -> str:
        """The endpoint URL to hand to boto3 (``AWS_ENDPOINT_URL``)."""
        if self._server is None:
            raise RuntimeError("MotoServer is not running: call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> MotoServer:
        """Start serving in a daemon thread; returns once the socket is listening."""
        if self._server is not None:
            return self
        # Imported here: moto's server module builds its backend index on import (slow).
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )

        class QuietRequestHandler(MotoRequestHandler):
            # One log line per AWS call would bury the stack's own output.
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                return None

        self.transactions.install()
        self.sqs_clock.install()
        self.partition_queries.install()
        self.app = SerialisedApp(DomainDispatcherApplication(create_backend_app))
        self._server = serve_wsgi(self._host, self._port, self.app, QuietRequestHandler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"moto-server-{self._port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, *, reset: bool = True) -> None:
        """Stop serving and join the thread (idempotent).

        moto's backends are process-global: unless ``reset`` is False, every resource is dropped
        first, so nothing leaks into later in-process users (``mock_aws`` tests, another server).
        """
        if self._server is None:
            return
        if reset:
            self.reset()
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None
        self.transactions.uninstall()
        self.sqs_clock.uninstall()
        self.partition_queries.uninstall()

    def reset(self) -> None:
        """Drop every resource in every moto backend (moto's ``/moto-api/reset``)."""
        if self._server is None:
            raise RuntimeError("MotoServer is not running: call start() first")
        host, port = self._server.server_address[:2]
        connection = http.client.HTTPConnection(str(host), int(port), timeout=30)
        try:
            connection.request("POST", "/moto-api/reset", body=b"")
            reply = connection.getresponse()
            reply.read()
            if reply.status != 200:
                raise RuntimeError(f"moto reset failed with HTTP {reply.status}")
        finally:
            connection.close()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# ----------------------------------------------------------------------------------------------
# Transactions that snapshot only what they touch
# ----------------------------------------------------------------------------------------------
#
# moto's TransactWriteItems deep-copies the *whole table* once per action before it starts, to be
# able to roll back. With the sanitizer writing a transaction per event into a table that grows
# to thousands of items, that copy dominates a replay (about 0.2 s per transaction at a few
# thousand items, growing with the table). The replacement below keeps moto's semantics (each
# action's condition checked in order, all or nothing, the same errors and cancellation
# reasons) but snapshots only the items the transaction names, which is enough because
# :class:`SerialisedApp` lets no other request in while a transaction runs.

#: The moto release whose TransactWriteItems this mirrors; any other keeps moto's own.
MIRRORED_MOTO_VERSION = "5.2.5"


class _TouchedItems:
    """The items a transaction may write, as they were before it, to put back on failure."""

    def __init__(self) -> None:
        self._prior: list[tuple[Any, Any, Any, Any]] = []  # (table, hash key, range key, item or None)

    @classmethod
    def capture(cls, backend: Any, transact_items: list[dict[str, Any]]) -> _TouchedItems:
        import copy

        snapshot = cls()
        for entry in transact_items:
            op_type, op = next(iter(entry.items()))
            table = backend.tables.get(op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue
            attributes = op.get("Item") if op_type == "Put" else op.get("Key")
            try:
                hash_key, range_key = backend.get_keys_value(table, attributes or {})
                current = table.get_item(hash_key, range_key)
            except Exception:  # noqa: S112 - a malformed key fails the transaction below, as in moto
                continue
            snapshot._prior.append((table, hash_key, range_key, copy.deepcopy(current)))
        return snapshot

    def restore(self) -> None:
        # Newest first, so an item named twice (rejected anyway) ends in its oldest state.
        for table, hash_key, range_key, item in reversed(self._prior):
            if range_key is not None:
                partition = table.items[hash_key]
                if item is None:
                    partition.pop(range_key, None)
                else:
                    partition[range_key] = item
            elif item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    """moto 5.2.5's ``DynamoDBBackend.transact_write_items`` with a per-item rollback snapshot."""
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MockValidationException,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    snapshot = _TouchedItems.capture(self, transact_items)
    target_items: set[tuple[str, str]] = set()
    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for entry in transact_items:
        if len(list(entry.keys())) > 1:
            raise TransactWriteSingleOpException
        try:
            _transact_action(self, entry, target_items)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            snapshot.restore()
            raise
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), getattr(error, "old_item", None)))
        except Exception as error:
            errors.append((type(error).__name__, str(error), None))
    if any(code is not None for code, _, _ in errors):
        snapshot.restore()
        raise TransactionCanceledException(errors)


def _transact_action(backend: Any, entry: dict[str, Any], target_items: set[tuple[str, str]]) -> None:
    """One action of a transaction: its condition, then its write (moto's own code path)."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import ConditionalCheckFailed, MultipleTransactionsException

    op_type, op = next(iter(entry.items()))
    if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
        raise ValueError("Unsupported transaction operation")
    table_name = op["TableName"]
    condition_expression = op.get("ConditionExpression")
    names = op.get("ExpressionAttributeNames")
    values = op.get("ExpressionAttributeValues")
    if op_type == "Put":
        attrs = op["Item"]
        table = backend.get_table(table_name)
        key = {table.hash_key_attr: attrs[table.hash_key_attr]}
        if table.range_key_attr is not None:
            key[table.range_key_attr] = attrs[table.range_key_attr]
    else:
        key = op["Key"]
    target = (str(table_name), str(dict(sorted(key.items()))))
    if target in target_items:
        raise MultipleTransactionsException()
    target_items.add(target)
    current = backend.get_item(table_name, key)
    if condition_expression is not None:
        condition = get_filter_expression(condition_expression, names, values)
        if not condition.expr(current):
            old_item = None
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                old_item = current.to_json()["Attributes"]
            failure = ConditionalCheckFailed(item=old_item)
            failure.old_item = old_item  # type: ignore[attr-defined]
            raise failure
    options = {
        "condition_expression": condition_expression,
        "expression_attribute_names": names,
        "expression_attribute_values": values,
    }
    if op_type == "Put":
        backend.put_item(table_name, op["Item"], **options)
    elif op_type == "Delete":
        backend.delete_item(table_name, key, **options)
    elif op_type == "Update":
        backend.update_item(table_name, key, update_expression=op["UpdateExpression"], **options)


class TransactionSnapshots:
    """Install :func:`_transact_write_items` in place of moto's for as long as it is active.

    A context manager (also used by :class:`MotoServer`, from start to stop). It does nothing
    when the installed moto is not :data:`MIRRORED_MOTO_VERSION`: the copy must stay faithful.
    """

    def __init__(self) -> None:
        self._original: Any = None

    @property
    def active(self) -> bool:
        return self._original is not None

    def install(self) -> TransactionSnapshots:
        from importlib.metadata import version

        from moto.dynamodb.models import DynamoDBBackend

        if self._original is None and version("moto") == MIRRORED_MOTO_VERSION:
            self._original = DynamoDBBackend.transact_write_items
            DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
        return self

    def uninstall(self) -> None:
        from moto.dynamodb.models import DynamoDBBackend

        if self._original is not None:
            DynamoDBBackend.transact_write_items = self._original  # type: ignore[method-assign]
            self._original = None

    def __enter__(self) -> TransactionSnapshots:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()


class SqsWallClock:
    """Give moto's SQS model a cheap clock for as long as it is active.

    moto's SQS recomputes every queue attribute (message counts included) several times per
    request, asking each message whether it is visible or delayed, and every such question reads
    the time through two naive-datetime conversions (about 6 µs). With a few hundred messages
    queued that is tens of milliseconds per request, all of it inside the lock. ``time.time()``
    gives the same number (seconds since the epoch, UTC) a hundred times faster. Explicit
    datetimes are still converted by moto's own function.
    """

    def __init__(self) -> None:
        self._originals: dict[str, Any] = {}

    @property
    def active(self) -> bool:
        return bool(self._originals)

    def install(self) -> SqsWallClock:
        from moto.sqs import models as sqs_models

        models: Any = sqs_models
        if self._originals:
            return self
        original_unix_time = models.unix_time

        def unix_time(dt: Any = None) -> float:
            return time.time() if dt is None else float(original_unix_time(dt))

        def unix_time_millis(dt: Any = None) -> float:
            return unix_time(dt) * 1000.0

        self._originals = {"unix_time": models.unix_time, "unix_time_millis": models.unix_time_millis}
        models.unix_time = unix_time
        models.unix_time_millis = unix_time_millis
        return self

    def uninstall(self) -> None:
        from moto.sqs import models

        for name, original in self._originals.items():
            setattr(models, name, original)
        self._originals = {}

    def __enter__(self) -> SqsWallClock:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()


class PartitionQueries:
    """Make a Query on a table's own key read one partition, for as long as it is active.

    moto answers every Query by listing (and sorting) *all* items of the table and keeping those
    of the asked partition, so a Query costs O(table) locally where DynamoDB's costs O(partition):
    reading the histories of 1,000 orders from a table of a few thousand items took a minute.
    While the Query runs, the table's ``all_items`` lists only that partition; the base-table
    branch of moto's Query filters on exactly that partition anyway, so the results are the same
    (checked against moto's own in ``tests/unit/test_local_moto_server.py``). Index queries and
    scans are untouched.
    """

    def __init__(self) -> None:
        self._original: Any = None

    @property
    def active(self) -> bool:
        return self._original is not None

    def install(self) -> PartitionQueries:
        from importlib.metadata import version

        from moto.dynamodb.models.table import Table

        if self._original is not None or version("moto") != MIRRORED_MOTO_VERSION:
            return self
        original = self._original = Table.query

        signature = inspect.signature(original)

        def query(table: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
            # moto passes index_name by position: read it the way Python binds it.
            index_name = signature.bind(table, hash_key, *args, **kwargs).arguments.get("index_name")
            if index_name or hash_key is None or not table.range_key_attr:
                return original(table, hash_key, *args, **kwargs)
            partition = list(table.items.get(hash_key, {}).values())
            table.all_items = lambda: sorted(partition, key=lambda item: item.range_key)
            try:
                return original(table, hash_key, *args, **kwargs)
            finally:
                del table.all_items  # back to the class's method

        Table.query = query  # type: ignore[method-assign,assignment]
        return self

    def uninstall(self) -> None:
        from moto.dynamodb.models.table import Table

        if self._original is not None:
            Table.query = self._original  # type: ignore[method-assign]
            self._original = None

    def __enter__(self) -> PartitionQueries:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()
