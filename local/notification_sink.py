"""The local notification sink: DingTalk, Feishu (bot, token, task v2), WeCom, Aliyun voice and
Amazon Connect on 127.0.0.1, checking requests the way those services do, recording what arrives.

It is configured with the same notifier document the handlers read from Secrets Manager (the
``notifiers`` section of ``local/credentials.json``), so it knows every robot's secret and app's
credentials, and it **rejects** what the real service would reject, answering in that service's
error shape:

- DingTalk: unknown ``access_token`` (errcode 300001), timestamp more than an hour off or a
  ``sign`` that does not match HMAC-SHA256(secret, ts + "\\n" + secret) (errcode 310000);
- Feishu bot: a ``sign`` not matching HMAC-SHA256(key = ts + "\\n" + secret, empty) or a timestamp
  more than an hour off (code 19021); task API: an invalid tenant token (code 99991663), a task
  without summary or assignee (code 1470400); ``client_token`` makes a repeated create return
  the same task, as Feishu documents;
- WeCom: unknown ``key`` (errcode 93000);
- Aliyun ``SingleCallByTts``: signature v1 (HMAC-SHA1) recomputed, a timestamp older than 15
  minutes or a reused ``SignatureNonce`` refused (``SignatureDoesNotMatch``,
  ``SignatureNonceUsed``, ``IllegalTimestamp``);
- Amazon Connect ``StartOutboundVoiceContact`` (botocore reaches it through
  ``AWS_ENDPOINT_URL_CONNECT``, moto has no such operation): SigV4 checked, ``ClientToken``
  idempotent.

Every accepted request is kept as a :class:`SentMessage`; tests and the demo assert on them.
"""

from __future__ import annotations

import hmac
import json
import secrets
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from local.api_gateway import HttpRequest, SigV4Verifier
from oms.adapters.notifiers.signing import aliyun_rpc_signature, dingtalk_sign, feishu_sign

DINGTALK_SKEW_S = 3600
FEISHU_SKEW_S = 3600
ALIYUN_SKEW_S = 900


@dataclass(frozen=True)
class SentMessage:
    service: str
    channel: str
    body: dict[str, Any]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def text(self) -> str:
        """The human text of a chat message (empty for tasks and calls)."""
        if self.service in ("dingtalk", "wecom"):
            return str(self.body.get("text", {}).get("content", ""))
        if self.service == "feishu":
            return str(self.body.get("content", {}).get("text", ""))
        return ""


@dataclass(frozen=True)
class Refusal:
    service: str
    reason: str


class NotificationSink:
    """The sink as a threaded HTTP server; :meth:`base_urls` gives ``NOTIFIER_BASE_URLS``.

    Parameters
    ----------
    config:
        The notifier document (``{"channels": {...}, "routes": [...]}``).
    aws_credentials:
        Access key → secret key accepted on the Connect endpoint (SigV4).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        aws_credentials: Mapping[str, str] | None = None,
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.config = dict(config)
        self._verifier = SigV4Verifier(
            aws_credentials or {"testing": "testing"}, region=region, service="connect"
        )
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self.messages: list[SentMessage] = []
        self.refusals: list[Refusal] = []
        self._tenant_tokens: dict[str, str] = {}
        self._tasks: dict[str, dict[str, Any]] = {}
        self._contacts: dict[str, str] = {}
        self._nonces: set[str] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --------------------------------------------------------------- lifecycle

    def start(self) -> NotificationSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = HttpRequest(
                    method=self.command,
                    raw_path=parts.path,
                    raw_query=parts.query,
                    headers=list(self.headers.items()),
                    body=body,
                )
                status, reply = sink.handle(request, f"http://{self.headers.get('Host', '')}")
                payload = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_POST = _serve
            do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="notification-sink", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the notification sink is not running")
        port = self._server.server_address[1]
        return f"http://{self._host}:{port}"

    def base_urls(self) -> dict[str, str]:
        return {
            service: f"{self.url}/{service}" for service in ("dingtalk", "feishu", "wecom", "aliyun_voice")
        }

    # ----------------------------------------------------------------- queries

    def sent(self, service: str | None = None, channel: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [
                message
                for message in self.messages
                if (service is None or message.service == service)
                and (channel is None or message.channel == channel)
            ]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()
            self.refusals.clear()

    # ---------------------------------------------------------------- dispatch

    def handle(self, request: HttpRequest, url_base: str) -> tuple[int, dict[str, Any]]:
        path = request.raw_path
        try:
            if path == "/dingtalk/robot/send":
                return self._dingtalk(request)
            if path.startswith("/feishu/open-apis/bot/v2/hook/"):
                return self._feishu_bot(request, unquote(path.rsplit("/", 1)[-1]))
            if path == "/feishu/open-apis/auth/v3/tenant_access_token/internal":
                return self._feishu_token(request)
            if path == "/feishu/open-apis/task/v2/tasks":
                return self._feishu_task(request)
            if path == "/wecom/cgi-bin/webhook/send":
                return self._wecom(request)
            if path == "/aliyun_voice/":
                return self._aliyun(request)
            if path == "/contact/outbound-voice" and request.method == "PUT":
                return self._connect(request, url_base)
        except (ValueError, KeyError, TypeError) as error:
            return self._refuse(
                "malformed", f"malformed request: {type(error).__name__}", 400, {"message": "bad request"}
            )
        return 404, {"message": f"no such endpoint: {path}"}

    def _channels(self, kind: str) -> dict[str, dict[str, Any]]:
        return {
            channel_id: channel
            for channel_id, channel in (self.config.get("channels") or {}).items()
            if channel.get("type") == kind
        }

    def _refuse(
        self, service: str, reason: str, status: int, reply: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.refusals.append(Refusal(service, reason))
        return status, reply

    def _record(self, service: str, channel: str, body: dict[str, Any]) -> None:
        with self._lock:
            self.messages.append(SentMessage(service, channel, body))

    # ---------------------------------------------------------------- services

    def _dingtalk(self, request: HttpRequest) -> tuple[int, dict[str, Any]]:
        query = dict(parse_qsl(request.raw_query))
        found = [
            (channel_id, channel)
            for channel_id, channel in self._channels("dingtalk").items()
            if channel["access_token"] == query.get("access_token")
        ]
        if not found:
            return self._refuse(
                "dingtalk", "unknown token", 200, {"errcode": 300001, "errmsg": "token is not exist"}
            )
        channel_id, channel = found[0]
        timestamp = int(query.get("timestamp", "0"))
        skew = abs(datetime.now(UTC).timestamp() * 1000 - timestamp) / 1000
        expected = dingtalk_sign(channel["secret"], timestamp)
        if skew > DINGTALK_SKEW_S or not hmac.compare_digest(expected, query.get("sign", "")):
            return self._refuse(
                "dingtalk", "sign", 200, {"errcode": 310000, "errmsg": "sign not match, more: [...]"}
            )
        body = json.loads(request.body)
        if body.get("msgtype") != "text" or not body.get("text", {}).get("content"):
            return self._refuse("dingtalk", "body", 200, {"errcode": 40035, "errmsg": "缺少参数 json"})
        self._record("dingtalk", channel_id, body)
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _feishu_bot(self, request: HttpRequest, hook_id: str) -> tuple[int, dict[str, Any]]:
        found = [(cid, c) for cid, c in self._channels("feishu_bot").items() if c["hook_id"] == hook_id]
        if not found:
            return self._refuse(
                "feishu",
                "unknown hook",
                404,
                {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"},
            )
        channel_id, channel = found[0]
        body = json.loads(request.body)
        timestamp = int(body.get("timestamp", "0"))
        skew = abs(datetime.now(UTC).timestamp() - timestamp)
        if skew > FEISHU_SKEW_S or not hmac.compare_digest(
            feishu_sign(channel["secret"], timestamp), str(body.get("sign", ""))
        ):
            return self._refuse(
                "feishu",
                "sign",
                200,
                {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                },
            )
        if body.get("msg_type") != "text" or not body.get("content", {}).get("text"):
            return self._refuse("feishu", "body", 200, {"code": 9499, "msg": "Bad Request"})
        self._record("feishu", channel_id, body)
        return 200, {"code": 0, "msg": "success", "data": {}}

    def _feishu_token(self, request: HttpRequest) -> tuple[int, dict[str, Any]]:
        body = json.loads(request.body)
        for channel in self._channels("feishu_task").values():
            if channel["app_id"] == body.get("app_id") and hmac.compare_digest(
                channel["app_secret"], str(body.get("app_secret", ""))
            ):
                token = f"t-{secrets.token_hex(16)}"
                with self._lock:
                    self._tenant_tokens[token] = channel["app_id"]
                return 200, {"code": 0, "msg": "ok", "tenant_access_token": token, "expire": 7200}
        return self._refuse("feishu_task", "app secret", 200, {"code": 10014, "msg": "app secret invalid"})

    def _feishu_task(self, request: HttpRequest) -> tuple[int, dict[str, Any]]:
        headers = {name.lower(): value for name, value in request.headers}
        token = headers.get("authorization", "").removeprefix("Bearer ")
        with self._lock:
            app_id = self._tenant_tokens.get(token)
        if app_id is None:
            return self._refuse(
                "feishu_task",
                "token",
                200,
                {"code": 99991663, "msg": "Invalid access token for authorization"},
            )
        body = json.loads(request.body)
        assignees = [m for m in body.get("members", []) if m.get("role") == "assignee" and m.get("id")]
        if not body.get("summary") or not assignees or "timestamp" not in (body.get("due") or {}):
            return self._refuse(
                "feishu_task", "body", 200, {"code": 1470400, "msg": "request params invalid"}
            )
        channel_id = next(cid for cid, c in self._channels("feishu_task").items() if c["app_id"] == app_id)
        client_token = str(body.get("client_token", ""))
        with self._lock:
            existing = self._tasks.get(client_token) if client_token else None
        if existing is None:
            existing = {"guid": str(uuid.uuid4()), "summary": body["summary"]}
            with self._lock:
                if client_token:
                    self._tasks[client_token] = existing
            self._record("feishu_task", channel_id, body)
        return 200, {"code": 0, "msg": "success", "data": {"task": existing}}

    def _wecom(self, request: HttpRequest) -> tuple[int, dict[str, Any]]:
        key = dict(parse_qsl(request.raw_query)).get("key", "")
        found = [cid for cid, c in self._channels("wecom").items() if hmac.compare_digest(c["key"], key)]
        if not found:
            return self._refuse("wecom", "key", 200, {"errcode": 93000, "errmsg": "invalid webhook url"})
        body = json.loads(request.body)
        if body.get("msgtype") != "text" or not body.get("text", {}).get("content"):
            return self._refuse("wecom", "body", 200, {"errcode": 40008, "errmsg": "invalid message type"})
        self._record("wecom", found[0], body)
        return 200, {"errcode": 0, "errmsg": "ok"}

    def _aliyun(self, request: HttpRequest) -> tuple[int, dict[str, Any]]:
        params = dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        found = [
            (cid, c)
            for cid, c in self._channels("aliyun_voice").items()
            if c["access_key_id"] == params.get("AccessKeyId")
        ]
        if not found:
            return self._refuse("aliyun_voice", "key", 404, {"Code": "InvalidAccessKeyId.NotFound"})
        channel_id, channel = found[0]
        expected = aliyun_rpc_signature(params, channel["access_key_secret"])
        if not hmac.compare_digest(expected, params.get("Signature", "")):
            return self._refuse("aliyun_voice", "signature", 400, {"Code": "SignatureDoesNotMatch"})
        signed_at = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if abs((datetime.now(UTC) - signed_at).total_seconds()) > ALIYUN_SKEW_S:
            return self._refuse("aliyun_voice", "timestamp", 400, {"Code": "IllegalTimestamp"})
        with self._lock:
            if params["SignatureNonce"] in self._nonces:
                return 400, {"Code": "SignatureNonceUsed"}
            self._nonces.add(params["SignatureNonce"])
        if (
            params.get("Action") != "SingleCallByTts"
            or not params.get("CalledNumber")
            or not params.get("TtsCode")
        ):
            return self._refuse("aliyun_voice", "params", 400, {"Code": "MissingParameter"})
        self._record("aliyun_voice", channel_id, {k: v for k, v in params.items() if k != "Signature"})
        return 200, {
            "Code": "OK",
            "Message": "OK",
            "CallId": f"{uuid.uuid4().int % 10**18}^{uuid.uuid4().int % 10**9}",
            "RequestId": str(uuid.uuid4()),
        }

    def _connect(self, request: HttpRequest, url_base: str) -> tuple[int, dict[str, Any]]:
        access_key, reason = self._verifier.verify(request, url_base)
        if access_key is None:
            return self._refuse("connect_voice", reason, 403, {"message": reason})
        body = json.loads(request.body)
        found = [
            cid
            for cid, c in self._channels("connect_voice").items()
            if c["instance_id"] == body.get("InstanceId")
            and c["contact_flow_id"] == body.get("ContactFlowId")
        ]
        if not found:
            return self._refuse(
                "connect_voice", "instance", 404, {"message": "Instance or contact flow not found"}
            )
        token = str(body.get("ClientToken", ""))
        with self._lock:
            contact = self._contacts.get(token)
        if contact is None:
            contact = str(uuid.uuid4())
            with self._lock:
                self._contacts[token] = contact
            self._record("connect_voice", found[0], body)
        return 200, {"ContactId": contact}
