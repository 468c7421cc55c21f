"""The delivering alert sink against moto (Ops table, Secrets Manager) and the local notification sink.

Every assertion is on what the notification sink accepted: it checks signatures, tokens and
SigV4 the way the services do, so a message that is recorded was correctly signed.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.client
import pytest
from botocore.stub import Stubber

from local.notification_sink import NotificationSink
from local.resources import Deployed
from oms import composition
from oms.adapters.notifiers.channels import ConnectVoiceCall, client_token
from oms.adapters.notifiers.config import ConnectVoiceChannel
from oms.domain.alerts import Alert, Severity
from oms.domain.errors import AlertDeliveryError, NotificationFailedError
from tests.functional.conftest import CREDENTIALS

NOTIFIERS = CREDENTIALS["notifiers"]
SECRET_NAME = "oms-local/notifiers"


@pytest.fixture(scope="module")
def sink() -> Iterator[NotificationSink]:
    # mock_aws signs with its own dummy keys; the sink checks SigV4 with them
    running = NotificationSink(NOTIFIERS, aws_credentials={"FOOBARKEY": "FOOBARSECRET"}).start()
    yield running
    running.stop()


@pytest.fixture
def notifying(stack: Deployed, sink: NotificationSink, monkeypatch: pytest.MonkeyPatch) -> NotificationSink:
    sink.clear()
    monkeypatch.setenv("NOTIFIER_SECRET_NAME", SECRET_NAME)
    monkeypatch.setenv("NOTIFIER_BASE_URLS", json.dumps(sink.base_urls()))
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", sink.url)
    monkeypatch.setenv("SECRETS_MAX_AGE_SECONDS", "0")
    composition.reset()
    return sink


def put_config(document: dict[str, Any]) -> None:
    boto3.client("secretsmanager").put_secret_value(SecretId=SECRET_NAME, SecretString=json.dumps(document))
    composition.reset()


def alert(kind: str, key: str, role: str = "", merchant: str = "100001") -> Alert:
    return Alert(
        kind=kind,
        severity=Severity.CRITICAL,
        title=f"{kind}: order {key} not shipped",
        dedupe_key=f"{kind}:{key}",
        lines=("warehouse hangzhou",),
        facts={"order_id": key, "merchant": merchant},
        recipient_role=role,
    )


def test_many_level1_alerts_become_one_signed_dingtalk_message(notifying: NotificationSink) -> None:
    # GIVEN five orders due for level 1 at once
    alerts = [alert("sla.level1", f"o{n}", role="warehouse_lead") for n in range(5)]
    # WHEN they are raised in one call
    composition.alert_sink().raise_alerts(alerts)
    # THEN the warehouse lead's robot received one message naming all five, signed correctly
    [message] = notifying.sent("dingtalk")
    assert message.channel == "warehouse-lead-dingtalk"
    assert message.text.startswith("5 alerts: sla.level1")
    assert all(f"order o{n} " in message.text for n in range(5))
    assert message.body["at"]["atMobiles"] == ["13800000001"]
    assert notifying.refusals == []


def test_an_alert_is_delivered_once_however_often_it_is_raised(notifying: NotificationSink) -> None:
    sink = composition.alert_sink()
    sink.raise_alerts([alert("sla.level1", "dup", role="warehouse_lead")])
    sink.raise_alerts([alert("sla.level1", "dup", role="warehouse_lead")])
    # A new alert with an old one: only the new one is sent
    sink.raise_alerts(
        [alert("sla.level1", "dup", role="warehouse_lead"), alert("sla.level1", "new", role="warehouse_lead")]
    )
    texts = [message.text for message in notifying.sent("dingtalk")]
    assert len(texts) == 2
    assert "order dup" in texts[0]
    assert "order new" in texts[1]
    assert "order dup" not in texts[1]


def test_two_concurrent_senders_deliver_an_alert_once(
    notifying: NotificationSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN two sinks (two Lambda containers) raising the same alerts at the same moment; in-process
    # moto is not thread-safe, so each AWS call is made atomic, as DynamoDB's are (the HTTP calls
    # to the notifiers still overlap)
    one_call_at_a_time = threading.Lock()
    make_api_call = botocore.client.BaseClient._make_api_call

    def atomic_call(client: Any, operation: str, params: Any) -> Any:
        with one_call_at_a_time:
            return make_api_call(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", atomic_call)
    alerts = [alert("sla.level1", f"race{n}", role="warehouse_lead") for n in range(3)]
    composition.reset()
    first = composition.alert_sink()
    composition.reset()
    second = composition.alert_sink()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def raise_from(sink: Any) -> None:
        barrier.wait()
        try:
            sink.raise_alerts(alerts)
        except BaseException as error:  # noqa: BLE001 - collected for the assertion below
            errors.append(error)

    threads = [threading.Thread(target=raise_from, args=(sink,)) for sink in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every order appears in exactly one delivered message
    assert errors == []
    texts = "\n".join(message.text for message in notifying.sent("dingtalk"))
    assert all(texts.count(f"order race{n} ") == 1 for n in range(3))


def test_level2_creates_a_feishu_task_per_order_and_one_bot_message(notifying: NotificationSink) -> None:
    composition.alert_sink().raise_alerts([alert("sla.level2", "t1"), alert("sla.level2", "t2")])
    tasks = notifying.sent("feishu_task")
    assert [task.body["summary"] for task in tasks] == [
        "sla.level2: order t1 not shipped",
        "sla.level2: order t2 not shipped",
    ]
    assert all(
        task.body["members"] == [{"id": "ou_test_logistics_owner", "type": "user", "role": "assignee"}]
        for task in tasks
    )
    assert len({task.body["client_token"] for task in tasks}) == 2
    [bot] = notifying.sent("feishu")
    assert bot.text.startswith('<at user_id="ou_test_logistics_owner"></at> 2 alerts')


def test_level3_calls_through_connect_or_the_merchants_aliyun_account(notifying: NotificationSink) -> None:
    composition.alert_sink().raise_alerts(
        [alert("sla.level3", "v1"), alert("sla.level3", "v2", merchant="demo-shop-2.myshopify.com")]
    )
    [call] = notifying.sent("connect_voice")
    assert call.body["DestinationPhoneNumber"] == "+8613800000003"
    assert call.body["Attributes"] == {"count": "1", "kind": "sla.level3", "ref": "v1"}
    [aliyun] = notifying.sent("aliyun_voice")
    assert aliyun.body["Action"] == "SingleCallByTts"
    assert aliyun.body["CalledNumber"] == "13800000004"
    assert json.loads(aliyun.body["TtsParam"]) == {"count": "1", "kind": "sla.level3", "ref": "v2"}


def test_wms_alerts_go_to_the_wecom_robot(notifying: NotificationSink) -> None:
    composition.alert_sink().raise_alerts([alert("wms.offline", "hangzhou")])
    [message] = notifying.sent("wecom")
    assert message.body["text"]["mentioned_mobile_list"] == ["13800000002"]


def test_a_refused_signature_is_not_delivered_and_a_retry_after_the_fix_delivers_once(
    notifying: NotificationSink,
) -> None:
    # GIVEN the secret holds a wrong robot secret
    broken = json.loads(json.dumps(NOTIFIERS))
    broken["channels"]["warehouse-lead-dingtalk"]["secret"] = "SECwrong"
    put_config(broken)
    # WHEN an alert is raised, THEN the robot refuses it and the caller learns which alert failed
    with pytest.raises(AlertDeliveryError) as raised:
        composition.alert_sink().raise_alerts([alert("sla.level1", "fix", role="warehouse_lead")])
    assert raised.value.details["undelivered"] == ["sla.level1:fix"]
    assert notifying.sent("dingtalk") == []
    assert [refusal.reason for refusal in notifying.refusals] == ["sign"]
    # AND once the secret is fixed, the retry delivers it (the failed claim was released)
    put_config(NOTIFIERS)
    composition.alert_sink().raise_alerts([alert("sla.level1", "fix", role="warehouse_lead")])
    assert len(notifying.sent("dingtalk")) == 1


def test_a_robot_over_its_minute_limit_defers_the_rest(notifying: NotificationSink) -> None:
    put_config({**NOTIFIERS, "rate_limit_per_minute": 2})
    sink = composition.alert_sink()
    sink.raise_alerts([alert("sla.level1", "r1", role="warehouse_lead")])
    sink.raise_alerts([alert("sla.level1", "r2", role="warehouse_lead")])
    with pytest.raises(AlertDeliveryError) as raised:
        sink.raise_alerts([alert("sla.level1", "r3", role="warehouse_lead")])
    assert raised.value.details["undelivered"] == ["sla.level1:r3"]
    assert len(notifying.sent("dingtalk")) == 2


def test_alerts_no_route_names_stay_on_the_log_floor(notifying: NotificationSink) -> None:
    composition.alert_sink().raise_alerts([alert("reconcile.conflicts", "x")])
    assert notifying.sent() == []


def test_connect_request_is_exactly_start_outbound_voice_contact() -> None:
    # GIVEN botocore's Stubber on a Connect client (moto does not implement this operation)
    connect = boto3.client(
        "connect", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    config = ConnectVoiceChannel(
        type="connect_voice",
        instance_id="11111111-2222-3333-4444-555555555555",
        contact_flow_id="66666666-7777-8888-9999-000000000000",
        destination_phone_number="+8613800000003",
        source_phone_number="+12065550100",
    )
    alerts = [alert("sla.level3", "s1"), alert("sla.level3", "s2")]
    with Stubber(connect) as stubber:
        stubber.add_response(
            "start_outbound_voice_contact",
            {"ContactId": "c-1"},
            {
                "DestinationPhoneNumber": "+8613800000003",
                "ContactFlowId": "66666666-7777-8888-9999-000000000000",
                "InstanceId": "11111111-2222-3333-4444-555555555555",
                "ClientToken": client_token(alerts),
                "Attributes": {"count": "2", "kind": "sla.level3", "ref": "s1"},
                "SourcePhoneNumber": "+12065550100",
            },
        )
        stubber.add_client_error("start_outbound_voice_contact", "LimitExceededException")
        # WHEN the channel calls, THEN the request matches field for field
        assert ConnectVoiceCall(config, connect).deliver(alerts) == "c-1"
        # AND a refusal is a retryable notification failure
        with pytest.raises(NotificationFailedError):
            ConnectVoiceCall(config, connect).deliver(alerts)
