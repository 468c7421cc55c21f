"""The local HTTP API's translation to and from payload format 2.0 (no sockets: ``handle`` directly)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from local.api_gateway import (
    ApiGateway,
    ApiRoute,
    HttpRequest,
    RouteTable,
    SigV4Verifier,
    build_event,
    reply_from_result,
    sign_request,
)

DOMAIN = "127.0.0.1:3000"


class EchoFunction:
    """Records the events it gets and answers with a configurable result."""

    def __init__(self, logical_id: str = "Echo", result: object = None, error: Exception | None = None):
        self.logical_id = logical_id
        self.result = {"statusCode": 200, "body": "ok"} if result is None else result
        self.error = error
        self.events: list[dict[str, object]] = []

    def invoke(self, event: dict[str, object]) -> object:
        self.events.append(event)
        if self.error is not None:
            raise self.error
        return self.result


def request(
    method: str = "POST",
    target: str = "/webhooks/douyin",
    *,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> HttpRequest:
    path, _, query = target.partition("?")
    return HttpRequest(method, path, query, headers or [], body)


def test_a_webhook_becomes_a_payload_2_event():
    # GIVEN a Douyin push with duplicate headers, a cookie and a query string
    function = EchoFunction()
    route = ApiRoute("POST", "/webhooks/{platform}", function)
    http = request(
        target="/webhooks/douyin?a=1&a=2&b=",
        headers=[
            ("Content-Type", "application/json"),
            ("Event-Sign", "abc"),
            ("X-Dup", "one"),
            ("x-dup", "two"),
            ("Cookie", "s=1; t=2"),
            ("Connection", "close"),
        ],
        body=b'[{"tag":"100","data":"{}"}]',
    )
    # WHEN the API builds the event
    event = build_event(http, route, {"platform": "douyin"}, domain_name=DOMAIN, request_id="rid")
    # THEN it has API Gateway's shape
    assert event["version"] == "2.0"
    assert event["routeKey"] == "POST /webhooks/{platform}"
    assert event["rawPath"] == "/webhooks/douyin"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["pathParameters"] == {"platform": "douyin"}
    assert event["headers"]["event-sign"] == "abc"
    assert event["headers"]["x-dup"] == "one,two"
    assert "connection" not in event["headers"]
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["s=1", "t=2"]
    assert event["body"] == '[{"tag":"100","data":"{}"}]'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/webhooks/douyin",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "",
    }
    assert context["stage"] == "$default"
    assert context["routeKey"] == "POST /webhooks/{platform}"
    assert context["requestId"] == "rid"
    assert isinstance(context["timeEpoch"], int)


@pytest.mark.parametrize(
    ("content_type", "body", "base64_encoded"),
    [
        ("application/json; charset=utf-8", b'{"a":1}', False),
        ("text/xml", b"<xml/>", False),
        ("application/vnd.api+json", b"{}", False),
        ("application/octet-stream", b"\x00\x01", True),
        ("application/x-www-form-urlencoded", b"a=1", True),
        (None, b"abc", True),
        ("application/json", b"\xff\xfe", True),  # declared text, but not UTF-8
    ],
)
def test_the_body_is_base64_encoded_unless_it_is_text(content_type, body, base64_encoded):
    headers = [("content-type", content_type)] if content_type else []
    route = ApiRoute("POST", "/webhooks/{platform}", EchoFunction())
    event = build_event(request(headers=headers, body=body), route, {}, domain_name=DOMAIN)
    assert event["isBase64Encoded"] is base64_encoded
    decoded = base64.b64decode(event["body"]) if base64_encoded else event["body"].encode()
    assert decoded == body


def test_no_body_and_no_query_leave_those_keys_out():
    route = ApiRoute("GET", "/orders/{order_id}", EchoFunction())
    event = build_event(request("GET", "/orders/o_1"), route, {"order_id": "o_1"}, domain_name=DOMAIN)
    assert "body" not in event
    assert "queryStringParameters" not in event
    assert "cookies" not in event


INTERNAL_ERROR = b'{"message": "Internal Server Error"}'
ONE_ZERO_BYTE = base64.b64encode(b"\x00").decode()


@pytest.mark.parametrize(
    ("result", "status", "body", "content_type"),
    [
        (
            {"statusCode": 201, "headers": {"Content-Type": "text/plain"}, "body": "made"},
            201,
            b"made",
            "text/plain",
        ),
        (
            {"statusCode": 200, "body": base64.b64encode(b"\x00").decode(), "isBase64Encoded": True},
            200,
            b"\x00",
            None,
        ),
        ({"statusCode": 204}, 204, b"", None),
        ({"order": {"id": 1}}, 200, b'{"order": {"id": 1}}', "application/json"),  # no statusCode: JSON
        ("success", 200, b"success", "application/json"),  # a plain string is the body itself
        ([1, 2], 200, b"[1, 2]", "application/json"),
        (
            {"statusCode": 200, "body": {"not": "a string"}},
            500,
            b'{"message": "Internal Server Error"}',
            None,
        ),
        ({"statusCode": "abc"}, 500, INTERNAL_ERROR, None),
    ],
)
def test_handler_results_follow_the_payload_2_response_rules(result, status, body, content_type):
    reply = reply_from_result(result)
    assert reply.status == status
    assert reply.body == body
    if content_type:
        assert dict(reply.headers)["Content-Type"] == content_type


def test_response_cookies_become_set_cookie_headers():
    reply = reply_from_result({"statusCode": 200, "cookies": ["a=1", "b=2"], "body": ""})
    assert [value for name, value in reply.headers if name == "Set-Cookie"] == ["a=1", "b=2"]


def test_routes_are_matched_most_specific_first_and_unknown_ones_are_404():
    exact, variable, greedy = EchoFunction("Exact"), EchoFunction("Variable"), EchoFunction("Greedy")
    table = RouteTable(
        [
            ApiRoute("ANY", "/files/{key+}", greedy),
            ApiRoute("GET", "/orders/{order_id}", variable),
            ApiRoute("GET", "/orders/search", exact),
        ]
    )
    assert table.resolve("GET", "/orders/search")[0].function is exact  # type: ignore[index]
    route, parameters = table.resolve("GET", "/orders/douyin%3A100001%3A42")  # type: ignore[misc]
    assert route.function is variable
    assert parameters == {"order_id": "douyin:100001:42"}
    route, parameters = table.resolve("DELETE", "/files/raw/2026/x.json")  # type: ignore[misc]
    assert route.function is greedy
    assert parameters == {"key": "raw/2026/x.json"}
    assert table.resolve("POST", "/orders/o_1") is None
    assert table.resolve("GET", "/orders/o_1/extra") is None

    api = ApiGateway(table.routes, port=0)
    reply = api.handle(request("GET", "/nowhere"), domain_name=DOMAIN)
    assert (reply.status, json.loads(reply.body)) == (404, {"message": "Not Found"})


def test_a_handler_exception_is_a_500_like_api_gateway_gives():
    api = ApiGateway(
        [ApiRoute("POST", "/webhooks/{platform}", EchoFunction(error=RuntimeError("boom")))], port=0
    )
    reply = api.handle(request(), domain_name=DOMAIN)
    assert reply.status == 500
    assert json.loads(reply.body) == {"message": "Internal Server Error"}


class TestIamRoutes:
    KEY, SECRET = "testing", "testing"

    def api(self, function: EchoFunction) -> ApiGateway:
        return ApiGateway(
            [ApiRoute("GET", "/orders/{order_id}", function, auth="AWS_IAM")],
            port=0,
            verifier=SigV4Verifier({self.KEY: self.SECRET}),
        )

    def signed(self, target: str, *, secret: str | None = None) -> HttpRequest:
        headers = sign_request(
            "GET", f"http://{DOMAIN}{target}", access_key=self.KEY, secret_key=secret or self.SECRET
        )
        path, _, query = target.partition("?")
        return HttpRequest("GET", path, query, [*headers.items(), ("Host", DOMAIN)], b"")

    def test_a_signed_call_reaches_the_handler_with_the_caller_identity(self):
        function = EchoFunction()
        reply = self.api(function).handle(self.signed("/orders/o_1?history=1"), domain_name=DOMAIN)
        assert reply.status == 200
        iam = function.events[0]["requestContext"]["authorizer"]["iam"]  # type: ignore[index]
        assert iam["accessKey"] == self.KEY
        assert iam["userArn"].endswith(f":user/{self.KEY}")

    def test_unsigned_and_wrongly_signed_calls_are_forbidden(self):
        function = EchoFunction()
        api = self.api(function)
        assert api.handle(request("GET", "/orders/o_1"), domain_name=DOMAIN).status == 403
        assert api.handle(self.signed("/orders/o_1", secret="wrong"), domain_name=DOMAIN).status == 403
        # a signature for one path does not authorise another
        tampered = self.signed("/orders/o_1")
        tampered = HttpRequest("GET", "/orders/o_2", "", tampered.headers, b"")
        assert api.handle(tampered, domain_name=DOMAIN).status == 403
        assert function.events == []

    def test_without_a_verifier_iam_routes_refuse_everybody(self):
        api = ApiGateway([ApiRoute("GET", "/orders/{order_id}", EchoFunction(), auth="AWS_IAM")], port=0)
        assert api.handle(self.signed("/orders/o_1"), domain_name=DOMAIN).status == 403


def test_the_request_time_is_api_gateway_formatted():
    route = ApiRoute("GET", "/orders/{order_id}", EchoFunction())
    now = datetime(2026, 3, 12, 19, 3, 58, tzinfo=UTC)
    event = build_event(request("GET", "/orders/o_1"), route, {}, domain_name=DOMAIN, now=now)
    assert event["requestContext"]["time"] == "12/Mar/2026:19:03:58 +0000"
    assert event["requestContext"]["timeEpoch"] == int(now.timestamp() * 1000)
