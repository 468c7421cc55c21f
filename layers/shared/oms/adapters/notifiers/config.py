"""The notifier configuration: one Secrets Manager secret holding channels (with credentials) and routes.

Shape (``docs/notifiers.md``)::

    {
      "channels": {"<channel id>": {"type": "dingtalk" | "feishu_bot" | "feishu_task" | "wecom"
                                             | "connect_voice" | "aliyun_voice", ...}},
      "routes": [{"kinds": ["sla.level1"], "roles": ["warehouse_lead"], "merchants": [],
                  "channels": ["<channel id>"]}],
      "rate_limit_per_minute": 20
    }

Routing is data: adding a WeCom group for ``wms.offline`` is a change of the secret, not of code.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from oms.domain.alert_routing import Route
from oms.domain.errors import NotifierConfigInvalidError


class _Channel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DingTalkChannel(_Channel):
    type: Literal["dingtalk"]
    access_token: str = Field(min_length=1)
    #: The robot's "加签" secret (``SEC…``)
    secret: str = Field(min_length=1)
    at_mobiles: tuple[str, ...] = ()
    at_user_ids: tuple[str, ...] = ()


class FeishuBotChannel(_Channel):
    type: Literal["feishu_bot"]
    #: The last path segment of the bot's webhook URL
    hook_id: str = Field(min_length=1)
    secret: str = Field(min_length=1)
    #: open ids mentioned in the message (``<at user_id="ou_…">``)
    mention_open_ids: tuple[str, ...] = ()


class FeishuTaskChannel(_Channel):
    type: Literal["feishu_task"]
    app_id: str = Field(min_length=1)
    app_secret: str = Field(min_length=1)
    #: open id of the assignee (the logistics owner)
    assignee_open_id: str = Field(min_length=1)
    #: The task's due time, hours after it is created
    due_hours: float = Field(default=2.0, gt=0)


class WeComChannel(_Channel):
    type: Literal["wecom"]
    key: str = Field(min_length=1)
    mentioned_list: tuple[str, ...] = ()
    mentioned_mobile_list: tuple[str, ...] = ()


class ConnectVoiceChannel(_Channel):
    type: Literal["connect_voice"]
    instance_id: str = Field(min_length=1)
    contact_flow_id: str = Field(min_length=1)
    destination_phone_number: str = Field(pattern=r"^\+[1-9]\d{6,14}$")
    source_phone_number: str | None = Field(default=None, pattern=r"^\+[1-9]\d{6,14}$")
    #: Calls per minute to this callee (Aliyun documents 1/min per callee; the same by default here)
    calls_per_minute: int = Field(default=1, ge=1)


class AliyunVoiceChannel(_Channel):
    type: Literal["aliyun_voice"]
    access_key_id: str = Field(min_length=1)
    access_key_secret: str = Field(min_length=1)
    called_number: str = Field(pattern=r"^\d{6,15}$")
    called_show_number: str = ""
    tts_code: str = Field(min_length=1)
    play_times: int = Field(default=2, ge=1, le=3)
    region: str = "cn-hangzhou"
    calls_per_minute: int = Field(default=1, ge=1)


ChannelConfig = Annotated[
    DingTalkChannel
    | FeishuBotChannel
    | FeishuTaskChannel
    | WeComChannel
    | ConnectVoiceChannel
    | AliyunVoiceChannel,
    Field(discriminator="type"),
]


class RouteConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[str, ...] = Field(min_length=1)
    kinds: tuple[str, ...] = ("*",)
    roles: tuple[str, ...] = ()
    merchants: tuple[str, ...] = ()
    stop: bool = False

    def route(self) -> Route:
        return Route(
            channels=self.channels,
            kinds=self.kinds,
            roles=self.roles,
            merchants=self.merchants,
            stop=self.stop,
        )


class NotifierConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: dict[str, ChannelConfig] = Field(default_factory=dict)
    routes: tuple[RouteConfig, ...] = ()
    #: Messages per robot per minute (DingTalk and WeCom document 20)
    rate_limit_per_minute: int = Field(default=20, ge=1, le=600)

    @model_validator(mode="after")
    def _routes_name_known_channels(self) -> NotifierConfig:
        unknown = sorted({c for route in self.routes for c in route.channels} - set(self.channels))
        if unknown:
            raise ValueError(f"routes name unknown channels: {unknown}")
        return self

    @property
    def route_list(self) -> tuple[Route, ...]:
        return tuple(route.route() for route in self.routes)


def parse_config(document: Any) -> NotifierConfig:
    """The configuration, or :class:`NotifierConfigInvalidError` naming the offending fields only."""
    try:
        return NotifierConfig.model_validate(document or {})
    except ValidationError as error:
        fields = sorted(
            {".".join(str(part) for part in item["loc"]) or item["msg"] for item in error.errors()}
        )
        # Never the input values: they are credentials.
        raise NotifierConfigInvalidError(
            "the notifier secret does not match its shape", fields=fields
        ) from None


class SecretNotifierConfig:
    """The configuration from its Secrets Manager secret, cached ``max_age`` seconds (Powertools)."""

    def __init__(self, name: str, secretsmanager: Any, *, max_age: int = 300) -> None:
        from aws_lambda_powertools.utilities.parameters import SecretsProvider

        self._name = name
        self._provider = SecretsProvider(boto3_client=secretsmanager)
        self._max_age = max_age
        self._parsed: tuple[object, NotifierConfig] | None = None

    def __call__(self) -> NotifierConfig:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            document = self._provider.get(self._name, max_age=self._max_age, transform="json")
        except GetParameterError as error:
            raise NotifierConfigInvalidError(
                "the notifier secret cannot be read", secret=self._name
            ) from error
        if self._parsed is None or self._parsed[0] is not document:
            self._parsed = (document, parse_config(document))
        return self._parsed[1]
