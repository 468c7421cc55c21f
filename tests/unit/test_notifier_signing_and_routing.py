"""Notifier signatures against their vectors; routing, grouping and rendering (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms.adapters.notifiers.config import parse_config
from oms.adapters.notifiers.signing import aliyun_rpc_signature, dingtalk_sign, feishu_sign
from oms.domain.alert_routing import MAX_MESSAGE_CHARS, Route, channels_for, group_by_channel, render_text
from oms.domain.alerts import Alert, Severity
from oms.domain.errors import NotifierConfigInvalidError


def alert(
    kind: str = "sla.level1", key: str = "k1", role: str = "", merchant: str = "", lines: int = 1
) -> Alert:
    return Alert(
        kind=kind,
        severity=Severity.WARNING,
        title=f"{kind} {key}",
        dedupe_key=key,
        lines=tuple(f"line {index}" for index in range(lines)),
        facts={"merchant": merchant} if merchant else {},
        recipient_role=role,
    )


def test_dingtalk_sign_matches_the_derived_vector() -> None:
    # GIVEN the PLATFORMS.md vector (secret SECtest, ts 1700000000000 ms)
    # THEN the signature matches before URL encoding
    assert dingtalk_sign("SECtest", 1700000000000) == "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="


def test_feishu_sign_matches_the_derived_vector() -> None:
    assert feishu_sign("test", 1700000000) == "eSJQnOl8XqPTMPHWz9e5IzeHS/tqoc68g2967ekIPmg="


def test_aliyun_rpc_signature_matches_the_official_example() -> None:
    # GIVEN Alibaba Cloud's documented RPC signature example (ECS DescribeRegions, secret testsecret)
    params = {
        "Timestamp": "2016-02-23T12:46:24Z",
        "Format": "XML",
        "AccessKeyId": "testid",
        "Action": "DescribeRegions",
        "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
        "Version": "2014-05-26",
        "SignatureVersion": "1.0",
    }
    # THEN the signature is the one the documentation shows
    assert aliyun_rpc_signature(params, "testsecret", method="GET") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_aliyun_signature_ignores_an_existing_signature_and_encodes_like_rfc3986() -> None:
    params = {"TtsParam": '{"a":"b c*~"}', "Action": "SingleCallByTts"}
    signed = aliyun_rpc_signature(params, "s")
    assert aliyun_rpc_signature({**params, "Signature": signed}, "s") == signed
    assert aliyun_rpc_signature({**params, "TtsParam": '{"a":"b+c*~"}'}, "s") != signed


def test_routes_match_by_kind_prefix_role_and_merchant_and_stop_ends_the_search() -> None:
    routes = [
        Route(channels=("lead",), kinds=("sla.level1",), roles=("warehouse_lead",)),
        Route(channels=("aliyun",), kinds=("sla.level3",), merchants=("m2",), stop=True),
        Route(channels=("connect",), kinds=("sla.level3",)),
        Route(channels=("wecom",), kinds=("wms.",)),
    ]
    assert channels_for(alert("sla.level1", role="warehouse_lead"), routes) == ("lead",)
    assert channels_for(alert("sla.level1", role="duty_manager"), routes) == ()
    assert channels_for(alert("sla.level3", merchant="m2"), routes) == ("aliyun",)
    assert channels_for(alert("sla.level3", merchant="m1"), routes) == ("connect",)
    assert channels_for(alert("wms.offline"), routes) == ("wecom",)
    assert channels_for(alert("wmsx.offline"), routes) == ()


@given(
    st.lists(
        st.tuples(st.sampled_from(["sla.level1", "sla.level2", "wms.offline"]), st.integers(0, 5)),
        max_size=30,
    )
)
def test_grouping_puts_each_alert_once_on_each_of_its_channels(specs: list[tuple[str, int]]) -> None:
    # GIVEN alerts (some with repeated dedupe keys) and overlapping routes
    routes = [Route(channels=("a", "b"), kinds=("sla.",)), Route(channels=("b",), kinds=("*",))]
    alerts = [alert(kind, key=f"{kind}:{number}") for kind, number in specs]
    # WHEN they are grouped
    groups = group_by_channel(alerts, routes)
    # THEN every channel gets each matching dedupe key exactly once, in arrival order
    for channel, grouped in groups.items():
        keys = [item.dedupe_key for item in grouped]
        assert len(keys) == len(set(keys))
        expected = list(dict.fromkeys(a.dedupe_key for a in alerts if channel in channels_for(a, routes)))
        assert keys == expected


def test_a_large_group_renders_within_the_limit_and_counts_what_it_left_out() -> None:
    alerts = [alert(key=f"order-{number}", lines=3) for number in range(400)]
    text = render_text(alerts)
    assert len(text) <= MAX_MESSAGE_CHARS
    assert text.startswith("400 alerts: sla.level1")
    assert text.rstrip().endswith("more")
    shown = text.count("- sla.level1 order-")
    assert f"… and {400 - shown} more" in text


def test_one_alert_renders_its_title_and_lines() -> None:
    assert render_text([alert(key="x", lines=2)]) == "sla.level1 x\nline 0\nline 1"


def test_a_config_naming_an_unknown_channel_is_refused_without_echoing_secrets() -> None:
    document = {
        "channels": {"d": {"type": "dingtalk", "access_token": "tok-SECRET", "secret": "SEC-SECRET"}},
        "routes": [{"kinds": ["*"], "channels": ["d", "missing"]}],
    }
    with pytest.raises(NotifierConfigInvalidError) as raised:
        parse_config(document)
    assert "SECRET" not in str(raised.value.to_dict())
    assert "missing" in str(raised.value.details)


def test_a_config_with_a_bad_phone_number_names_the_field() -> None:
    document = {
        "channels": {
            "v": {
                "type": "connect_voice",
                "instance_id": "i",
                "contact_flow_id": "f",
                "destination_phone_number": "123",
            }
        }
    }
    with pytest.raises(NotifierConfigInvalidError) as raised:
        parse_config(document)
    assert raised.value.details["fields"] == ["channels.v.connect_voice.destination_phone_number"]
