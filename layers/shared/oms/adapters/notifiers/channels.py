"""One class per notification service: each turns a group of alerts into that service's real request.

Every ``deliver`` either returns the service's message/task/call id or raises
:class:`NotificationFailedError` (retryable): a refused signature, a non-zero ``errcode`` or a
transport failure are all "not delivered". Requests carry what makes a retry harmless where the
service offers it (Feishu task ``client_token``, Connect ``ClientToken``, Aliyun ``OutId``).

Production hosts are the defaults; ``NOTIFIER_BASE_URLS`` points them at the local notification
sink (``local/notification_sink.py``), which checks the same signatures.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import quote_plus, urlencode

from botocore.exceptions import BotoCoreError, ClientError

from oms.adapters.notifiers.config import (
    AliyunVoiceChannel,
    ChannelConfig,
    ConnectVoiceChannel,
    DingTalkChannel,
    FeishuBotChannel,
    FeishuTaskChannel,
    WeComChannel,
)
from oms.adapters.notifiers.signing import aliyun_rpc_signature, dingtalk_sign, feishu_sign
from oms.domain.alert_routing import render_text
from oms.domain.alerts import Alert
from oms.domain.errors import NotificationFailedError, PlatformApiError
from oms.platforms.base import HttpResponse, HttpTransport

DEFAULT_BASE_URLS: Mapping[str, str] = {
    "dingtalk": "https://oapi.dingtalk.com",
    "feishu": "https://open.feishu.cn",
    "wecom": "https://qyapi.weixin.qq.com",
    "aliyun_voice": "https://dyvmsapi.aliyuncs.com",
}

#: Seconds before its expiry a Feishu tenant_access_token is replaced (it lives 2 h)
TOKEN_MARGIN_S = 300


class Channel(Protocol):
    def deliver(self, alerts: Sequence[Alert]) -> str: ...


def client_token(alerts: Sequence[Alert]) -> str:
    """A stable token for a group: the same alerts retried are the same request to the service."""
    digest = hashlib.sha256("\n".join(sorted(alert.dedupe_key for alert in alerts)).encode()).hexdigest()
    return digest[:64]


class _HttpChannel:
    service = ""

    def __init__(self, transport: HttpTransport, base_url: str, clock: Callable[[], datetime]) -> None:
        self._transport = transport
        self._base_url = base_url.rstrip("/")
        self._clock = clock

    def _post_json(self, path: str, body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> Any:
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        return self._call(
            "POST",
            self._base_url + path,
            payload,
            {"Content-Type": "application/json; charset=utf-8", **(headers or {})},
        )

    def _call(self, method: str, url: str, body: bytes, headers: Mapping[str, str]) -> Any:
        try:
            response = self._transport.request(method, url, headers=headers, body=body, timeout=5.0)
        except PlatformApiError as error:
            raise NotificationFailedError(f"{self.service} unreachable", service=self.service) from error
        return _json_reply(self.service, response)


def _json_reply(service: str, response: HttpResponse) -> Any:
    try:
        reply = json.loads(response.body or b"null")
    except ValueError:
        reply = None
    if response.status != 200 or not isinstance(reply, dict):
        raise NotificationFailedError(f"{service} answered HTTP {response.status}", service=service)
    return reply


class DingTalkRobot(_HttpChannel):
    service = "dingtalk"

    def __init__(
        self, config: DingTalkChannel, transport: HttpTransport, base_url: str, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(transport, base_url, clock)
        self._config = config

    def deliver(self, alerts: Sequence[Alert]) -> str:
        timestamp = int(self._clock().timestamp() * 1000)
        sign = quote_plus(dingtalk_sign(self._config.secret, timestamp))
        query = f"access_token={quote_plus(self._config.access_token)}&timestamp={timestamp}&sign={sign}"
        body = {
            "msgtype": "text",
            "text": {"content": render_text(alerts)},
            "at": {
                "atMobiles": list(self._config.at_mobiles),
                "atUserIds": list(self._config.at_user_ids),
                "isAtAll": False,
            },
        }
        reply = self._post_json(f"/robot/send?{query}", body)
        if reply.get("errcode") != 0:
            raise NotificationFailedError(
                "DingTalk refused the message", service=self.service, errcode=reply.get("errcode")
            )
        return str(reply.get("msgid") or timestamp)


class FeishuBot(_HttpChannel):
    service = "feishu"

    def __init__(
        self, config: FeishuBotChannel, transport: HttpTransport, base_url: str, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(transport, base_url, clock)
        self._config = config

    def deliver(self, alerts: Sequence[Alert]) -> str:
        timestamp = int(self._clock().timestamp())
        mentions = "".join(f'<at user_id="{open_id}"></at> ' for open_id in self._config.mention_open_ids)
        body = {
            "timestamp": str(timestamp),
            "sign": feishu_sign(self._config.secret, timestamp),
            "msg_type": "text",
            "content": {"text": mentions + render_text(alerts)},
        }
        reply = self._post_json(f"/open-apis/bot/v2/hook/{quote_plus(self._config.hook_id)}", body)
        if reply.get("code", reply.get("StatusCode")) != 0:
            raise NotificationFailedError(
                "Feishu refused the message", service=self.service, code=reply.get("code")
            )
        return str((reply.get("data") or {}).get("message_id") or timestamp)


class FeishuTasks(_HttpChannel):
    """Feishu task v2: one to-do per alert (each order is its own piece of work), assigned to one person."""

    service = "feishu_task"

    def __init__(
        self,
        config: FeishuTaskChannel,
        transport: HttpTransport,
        base_url: str,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(transport, base_url, clock)
        self._config = config
        self._token: tuple[str, datetime] | None = None

    def _tenant_token(self) -> str:
        now = self._clock()
        if self._token is not None and self._token[1] > now:
            return self._token[0]
        reply = self._post_json(
            "/open-apis/auth/v3/tenant_access_token/internal",
            {"app_id": self._config.app_id, "app_secret": self._config.app_secret},
        )
        token = reply.get("tenant_access_token")
        if reply.get("code") != 0 or not isinstance(token, str):
            raise NotificationFailedError(
                "Feishu refused the app credentials", service=self.service, code=reply.get("code")
            )
        lifetime = int(reply.get("expire", 7200))
        self._token = (token, now + timedelta(seconds=max(lifetime - TOKEN_MARGIN_S, 0)))
        return token

    def deliver(self, alerts: Sequence[Alert]) -> str:
        due = self._clock() + timedelta(hours=self._config.due_hours)
        guids = []
        for alert in alerts:
            body = {
                "summary": alert.title[:200],
                "description": "\n".join(alert.lines)[:3000],
                "due": {"timestamp": str(int(due.timestamp() * 1000)), "is_all_day": False},
                "members": [{"id": self._config.assignee_open_id, "type": "user", "role": "assignee"}],
                "client_token": client_token([alert]),
            }
            reply = self._post_json(
                "/open-apis/task/v2/tasks?user_id_type=open_id",
                body,
                {"Authorization": f"Bearer {self._tenant_token()}"},
            )
            if reply.get("code") != 0:
                raise NotificationFailedError(
                    "Feishu refused the task", service=self.service, code=reply.get("code")
                )
            guids.append(str(((reply.get("data") or {}).get("task") or {}).get("guid", "")))
        return ",".join(guids)


class WeComRobot(_HttpChannel):
    service = "wecom"

    def __init__(
        self, config: WeComChannel, transport: HttpTransport, base_url: str, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(transport, base_url, clock)
        self._config = config

    def deliver(self, alerts: Sequence[Alert]) -> str:
        body = {
            "msgtype": "text",
            "text": {
                "content": render_text(alerts),
                "mentioned_list": list(self._config.mentioned_list),
                "mentioned_mobile_list": list(self._config.mentioned_mobile_list),
            },
        }
        reply = self._post_json(f"/cgi-bin/webhook/send?key={quote_plus(self._config.key)}", body)
        if reply.get("errcode") != 0:
            raise NotificationFailedError(
                "WeCom refused the message", service=self.service, errcode=reply.get("errcode")
            )
        return client_token(alerts)


class AliyunVoiceCall(_HttpChannel):
    """Aliyun Voice Messaging ``SingleCallByTts`` (RPC API, signature v1, HMAC-SHA1)."""

    service = "aliyun_voice"

    def __init__(
        self,
        config: AliyunVoiceChannel,
        transport: HttpTransport,
        base_url: str,
        clock: Callable[[], datetime],
        new_nonce: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        super().__init__(transport, base_url, clock)
        self._config = config
        self._new_nonce = new_nonce

    def deliver(self, alerts: Sequence[Alert]) -> str:
        params = {
            "Action": "SingleCallByTts",
            "Version": "2017-05-25",
            "Format": "JSON",
            "RegionId": self._config.region,
            "AccessKeyId": self._config.access_key_id,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureVersion": "1.0",
            "SignatureNonce": self._new_nonce(),
            "Timestamp": self._clock().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "CalledNumber": self._config.called_number,
            "TtsCode": self._config.tts_code,
            "TtsParam": json.dumps(tts_parameters(alerts), ensure_ascii=False, separators=(",", ":")),
            "PlayTimes": str(self._config.play_times),
            "OutId": client_token(alerts)[:32],
        }
        if self._config.called_show_number:
            params["CalledShowNumber"] = self._config.called_show_number
        params["Signature"] = aliyun_rpc_signature(params, self._config.access_key_secret)
        reply = self._call(
            "POST",
            self._base_url + "/",
            urlencode(params).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        if reply.get("Code") != "OK":
            raise NotificationFailedError(
                "Aliyun refused the call", service=self.service, code=reply.get("Code")
            )
        return str(reply.get("CallId", ""))


def tts_parameters(alerts: Sequence[Alert]) -> dict[str, str]:
    """What a voice template reads out: how many, what kind and the first reference (no personal data)."""
    first = alerts[0]
    return {
        "count": str(len(alerts)),
        "kind": first.kind,
        "ref": str(first.facts.get("order_id", first.dedupe_key))[-12:],
    }


class ConnectVoiceCall:
    """Amazon Connect ``StartOutboundVoiceContact``: the contact flow reads the attributes out."""

    service = "connect_voice"

    def __init__(self, config: ConnectVoiceChannel, connect: Any) -> None:
        self._config = config
        self._connect = connect

    def deliver(self, alerts: Sequence[Alert]) -> str:
        request: dict[str, Any] = {
            "DestinationPhoneNumber": self._config.destination_phone_number,
            "ContactFlowId": self._config.contact_flow_id,
            "InstanceId": self._config.instance_id,
            "ClientToken": client_token(alerts),
            "Attributes": tts_parameters(alerts),
        }
        if self._config.source_phone_number:
            request["SourcePhoneNumber"] = self._config.source_phone_number
        try:
            reply = self._connect.start_outbound_voice_contact(**request)
        except (ClientError, BotoCoreError) as error:
            raise NotificationFailedError("Amazon Connect refused the call", service=self.service) from error
        return str(reply.get("ContactId", ""))


def build_channel(
    config: ChannelConfig,
    *,
    transport: HttpTransport,
    base_urls: Mapping[str, str],
    clock: Callable[[], datetime],
    connect_client: Callable[[], Any],
) -> Channel:
    def base(service: str) -> str:
        return base_urls.get(service) or DEFAULT_BASE_URLS[service]

    if isinstance(config, DingTalkChannel):
        return DingTalkRobot(config, transport, base("dingtalk"), clock)
    if isinstance(config, FeishuBotChannel):
        return FeishuBot(config, transport, base("feishu"), clock)
    if isinstance(config, FeishuTaskChannel):
        return FeishuTasks(config, transport, base("feishu"), clock)
    if isinstance(config, WeComChannel):
        return WeComRobot(config, transport, base("wecom"), clock)
    if isinstance(config, AliyunVoiceChannel):
        return AliyunVoiceCall(config, transport, base("aliyun_voice"), clock)
    return ConnectVoiceCall(config, connect_client())
