"""An HTTP API (API Gateway v2) on 127.0.0.1, invoking Lambda handlers in-process.

Each request becomes a payload-format-2.0 event exactly as API Gateway builds it (lower-cased
headers with duplicates comma-joined, ``cookies`` split out, ``rawPath``/``rawQueryString``,
``pathParameters`` from the matched route, the body base64-encoded unless it is text), and the
handler's result becomes the HTTP reply following the 2.0 response rules, including the
shortcuts: a result without ``statusCode`` is a 200 ``application/json`` reply whose body is the
result (a string as is, anything else JSON-encoded).

Routes come from ``template.yaml`` (see :mod:`local.stack`). Routes declared with ``AWS_IAM``
authorisation require a valid Signature Version 4 (service ``execute-api``) from one of the
configured local credentials, like the real API: an unsigned call gets 403.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler

from local.lambda_context import LOCAL_ACCOUNT_ID
from local.moto_server import serve_wsgi

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

#: The port ``make serve`` and ``make demo`` try first (the one ``sam local start-api`` uses).
DEFAULT_API_PORT = 3000
IAM_AUTH = "AWS_IAM"

_TEXT_MEDIA_TYPES = re.compile(
    r"^(text/.*|application/(json|xml|javascript|[\w.+-]+\+json|[\w.+-]+\+xml))$", re.IGNORECASE
)
# Hop-by-hop headers that API Gateway does not forward to the integration.
_DROPPED_REQUEST_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "upgrade"})


class Invocable(Protocol):
    """What a route invokes: :class:`local.lambda_context.LocalFunction` satisfies it."""

    logical_id: str

    def invoke(self, event: dict[str, object]) -> object: ...


@dataclass(frozen=True)
class ApiRoute:
    """One route of the HTTP API.

    Parameters
    ----------
    method:
        An HTTP method, or ``ANY``.
    path:
        A route path such as ``/webhooks/{platform}`` or ``/files/{key+}`` (greedy).
    function:
        What to invoke.
    auth:
        ``"AWS_IAM"`` to require SigV4; ``None`` for an open route.
    """

    method: str
    path: str
    function: Invocable
    auth: str | None = None
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "_pattern", _compile_route(self.path))

    @property
    def route_key(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def specificity(self) -> tuple[int, int, int, int]:
        """Sort key: literal segments first, then fewer variables, greedy last, a method before ANY."""
        segments = [segment for segment in self.path.split("/") if segment]
        literals = sum(1 for segment in segments if not segment.startswith("{"))
        greedy = any(segment.endswith("+}") for segment in segments)
        return (-literals, int(greedy), len(segments) - literals, int(self.method == "ANY"))

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if self.method not in ("ANY", method.upper()):
            return None
        found = self._pattern.fullmatch(path)
        if found is None:
            return None
        return {name.replace("__plus", ""): unquote(value) for name, value in found.groupdict().items()}


def _compile_route(path: str) -> re.Pattern[str]:
    parts: list[str] = []
    for segment in path.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("+}"):
            parts.append(f"(?P<{segment[1:-2]}__plus>.+)")
        elif segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{segment[1:-1]}>[^/]+)")
        else:
            parts.append(re.escape(segment))
    return re.compile("/" + "/".join(parts))


class RouteTable:
    """Routes, tried most specific first (as API Gateway selects them)."""

    def __init__(self, routes: Iterable[ApiRoute]) -> None:
        self.routes = sorted(routes, key=lambda route: route.specificity)

    def resolve(self, method: str, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
        for route in self.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request as it reached the API (raw target, headers in arrival order, raw body)."""

    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"


@dataclass(frozen=True)
class HttpReply:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def build_event(
    request: HttpRequest,
    route: ApiRoute,
    path_parameters: Mapping[str, str],
    *,
    domain_name: str,
    request_id: str | None = None,
    now: datetime | None = None,
    authorizer: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The payload-format-2.0 event API Gateway sends for ``request`` on ``route``."""
    now = now or datetime.now(UTC)
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        lowered = name.lower()
        if lowered in _DROPPED_REQUEST_HEADERS:
            continue
        if lowered == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[lowered] = f"{headers[lowered]},{value}" if lowered in headers else value
    host, _, port = domain_name.partition(":")
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-port", port or "80")
    headers.setdefault("x-forwarded-proto", "http")

    query: dict[str, str] = {}
    for name, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value

    request_context: dict[str, Any] = {
        "accountId": LOCAL_ACCOUNT_ID,
        "apiId": "local",
        "domainName": domain_name,
        "domainPrefix": host.split(".")[0],
        "http": {
            "method": request.method.upper(),
            "path": unquote(request.raw_path),
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id or str(uuid.uuid4()),
        "routeKey": route.route_key,
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if authorizer is not None:
        request_context["authorizer"] = dict(authorizer)

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": request_context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    if request.body:
        text = _as_text(request.body, headers.get("content-type"))
        if text is None:
            event["body"] = base64.b64encode(request.body).decode("ascii")
            event["isBase64Encoded"] = True
        else:
            event["body"] = text
    return event


def _as_text(body: bytes, content_type: str | None) -> str | None:
    media_type = (content_type or "").split(";")[0].strip()
    if not _TEXT_MEDIA_TYPES.match(media_type):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


def reply_from_result(result: object) -> HttpReply:
    """The HTTP reply API Gateway makes of a handler's result (payload format 2.0)."""
    if isinstance(result, dict) and "statusCode" in result:
        try:
            status = int(result["statusCode"])
        except (TypeError, ValueError):
            return _internal_error()
        headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
        headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or [])
        body = result.get("body")
        if body is None:
            payload = b""
        elif not isinstance(body, str):
            return _internal_error()  # API Gateway rejects a non-string body
        elif result.get("isBase64Encoded"):
            try:
                payload = base64.b64decode(body, validate=True)
            except ValueError:
                return _internal_error()
        else:
            payload = body.encode("utf-8")
        if not any(name.lower() == "content-type" for name, _ in headers) and payload:
            headers.append(("Content-Type", "application/json"))
        return HttpReply(status, headers, payload)
    text = result if isinstance(result, str) else json.dumps(result)
    return HttpReply(200, [("Content-Type", "application/json")], text.encode("utf-8"))


def _internal_error() -> HttpReply:
    return _message_reply(500, "Internal Server Error")


def _message_reply(status: int, message: str) -> HttpReply:
    return HttpReply(
        status, [("Content-Type", "application/json")], json.dumps({"message": message}).encode()
    )


class SigV4Verifier:
    """Checks AWS Signature Version 4 on a request, the way an ``AWS_IAM`` route does.

    Parameters
    ----------
    credentials:
        Access key id → secret access key of the identities the local API accepts.
    region:
        The region the signature must be scoped to.
    service:
        The signing service name (``execute-api`` for API Gateway).
    max_skew_s:
        How far the signed time may be from now (AWS allows 15 minutes).
    """

    _AUTH = re.compile(
        r"AWS4-HMAC-SHA256\s+Credential=(?P<key>[^/]+)/(?P<scope>[^,]+),\s*"
        r"SignedHeaders=(?P<signed>[^,]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
    )

    def __init__(
        self,
        credentials: Mapping[str, str],
        *,
        region: str = "us-east-1",
        service: str = "execute-api",
        max_skew_s: int = 900,
    ) -> None:
        self._credentials = dict(credentials)
        self._region = region
        self._service = service
        self._max_skew_s = max_skew_s

    def verify(self, request: HttpRequest, url_base: str) -> tuple[str | None, str]:
        """Return ``(access key id, "")`` when valid, or ``(None, reason)``."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        headers = {name.lower(): value for name, value in request.headers}
        found = self._AUTH.fullmatch(headers.get("authorization", "").strip())
        if found is None:
            return None, "Forbidden"
        access_key = found["key"]
        secret = self._credentials.get(access_key)
        if secret is None:
            return None, "The security token included in the request is invalid."
        date, region, service, terminator = [*found["scope"].split("/"), "", "", ""][:4]
        amz_date = headers.get("x-amz-date", "")
        if (region, service, terminator) != (self._region, self._service, "aws4_request") or not (
            amz_date.startswith(date)
        ):
            return None, "Credential should be scoped to a valid region and service."
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return None, "Forbidden"
        if abs((datetime.now(UTC) - signed_at).total_seconds()) > self._max_skew_s:
            return None, "Signature expired"

        signed_names = found["signed"].split(";")
        url = url_base + request.raw_path + (f"?{request.raw_query}" if request.raw_query else "")
        rebuilt = AWSRequest(
            method=request.method.upper(),
            url=url,
            headers={name: headers.get(name, "") for name in signed_names},
            data=request.body,
        )
        rebuilt.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(access_key, secret), self._service, self._region)
        canonical = signer.canonical_request(rebuilt)
        expected = signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt)
        if not hmac.compare_digest(expected, found["signature"]):
            return None, ("The request signature we calculated does not match the signature you provided.")
        return access_key, ""


class ApiGateway:
    """The local HTTP API: a threaded HTTP server dispatching to handlers by route.

    Parameters
    ----------
    routes:
        The routes to serve.
    port:
        TCP port on 127.0.0.1; 0 for an ephemeral one (tests), :data:`DEFAULT_API_PORT` for
        ``make serve``.
    verifier:
        Checks SigV4 on ``AWS_IAM`` routes; without one, those routes answer 403 to everybody.

    Examples
    --------
    >>> api = ApiGateway([ApiRoute("GET", "/ping", function)], port=0).start()  # doctest: +SKIP
    >>> urllib.request.urlopen(f"{api.url}/ping").read()  # doctest: +SKIP
    """

    def __init__(
        self,
        routes: Iterable[ApiRoute],
        *,
        port: int = DEFAULT_API_PORT,
        host: str = "127.0.0.1",
        verifier: SigV4Verifier | None = None,
    ) -> None:
        self.routes = RouteTable(routes)
        self._host = host
        self._port = port
        self._verifier = verifier
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._count_lock = threading.Lock()
        self.requests_by_route: dict[str, int] = {}

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("ApiGateway is not running: call start() first")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self) -> ApiGateway:
        """Bind and serve in a daemon thread. Raises ``OSError`` when the port is taken."""
        if self._server is not None:
            return self

        class QuietHandler(WSGIRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                return None

        self._server = serve_wsgi(self._host, self._port, self._wsgi, QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = None
        self._thread = None

    def __enter__(self) -> ApiGateway:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def handle(self, request: HttpRequest, *, domain_name: str) -> HttpReply:
        """Route ``request``, check its authorisation, invoke the handler, shape the reply."""
        resolved = self.routes.resolve(request.method, urlsplit(request.raw_path).path)
        if resolved is None:
            return _message_reply(404, "Not Found")
        route, parameters = resolved
        with self._count_lock:
            self.requests_by_route[route.route_key] = self.requests_by_route.get(route.route_key, 0) + 1

        authorizer = None
        if route.auth == IAM_AUTH:
            if self._verifier is None:
                return _message_reply(403, "Forbidden")
            access_key, reason = self._verifier.verify(request, f"http://{domain_name}")
            if access_key is None:
                return _message_reply(403, reason)
            authorizer = {
                "iam": {
                    "accessKey": access_key,
                    "accountId": LOCAL_ACCOUNT_ID,
                    "callerId": access_key,
                    "principalOrgId": None,
                    "userArn": f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/{access_key}",
                    "userId": access_key,
                }
            }
        event = build_event(request, route, parameters, domain_name=domain_name, authorizer=authorizer)
        try:
            result = route.function.invoke(event)
        except Exception:
            # An unhandled error (already in the function's log): API Gateway answers 500.
            return _internal_error()
        return reply_from_result(result)

    def _wsgi(self, environ: Environ, start_response: StartResponse) -> list[bytes]:
        raw_target = environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO", "/")
        raw_path, _, raw_query = str(raw_target).partition("?")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = [
            (key[5:].replace("_", "-").lower(), str(value))
            for key, value in environ.items()
            if key.startswith("HTTP_")
        ]
        if environ.get("CONTENT_TYPE"):
            headers.append(("content-type", environ["CONTENT_TYPE"]))
        if environ.get("CONTENT_LENGTH"):
            headers.append(("content-length", environ["CONTENT_LENGTH"]))
        request = HttpRequest(
            method=environ["REQUEST_METHOD"],
            raw_path=raw_path or "/",
            raw_query=raw_query,
            headers=headers,
            body=body,
            source_ip=environ.get("REMOTE_ADDR", "127.0.0.1"),
            protocol=environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        )
        domain_name = environ.get("HTTP_HOST") or f"{self._host}:{self.port}"
        reply = self.handle(request, domain_name=domain_name)
        reason = _REASONS.get(reply.status, "")
        start_response(
            f"{reply.status} {reason}".strip(), [*reply.headers, ("Content-Length", str(len(reply.body)))]
        )
        return [reply.body]


_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


def sign_request(
    method: str,
    url: str,
    *,
    access_key: str,
    secret_key: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    service: str = "execute-api",
) -> dict[str, str]:
    """Headers that sign a call to an ``AWS_IAM`` route (SigV4), as an operator's SDK would.

    Examples
    --------
    >>> url = f"{api_url}/orders/o_x"
    >>> headers = sign_request("GET", url, access_key="testing", secret_key="testing")  # doctest: +SKIP
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method.upper(), url=url, data=body, headers=dict(headers or {}))
    SigV4Auth(Credentials(access_key, secret_key), service, region).add_auth(request)
    return {name: str(value) for name, value in request.headers.items()}


__all__ = [
    "DEFAULT_API_PORT",
    "IAM_AUTH",
    "ApiGateway",
    "ApiRoute",
    "HttpReply",
    "HttpRequest",
    "RouteTable",
    "SigV4Verifier",
    "build_event",
    "reply_from_result",
    "sign_request",
]
