"""Metrics as CloudWatch EMF lines (Powertools), each with its own dimensions.

``single_metric`` is used rather than one ``Metrics`` object per handler because one batch mixes
platforms, shops and outcomes, and dimensions must not leak from one record to the next.

Dimensions are chosen so a dashboard can answer the incident questions per platform and shop:

=====================  ======================  ===================================================
metric                 dimensions              emitted by
=====================  ======================  ===================================================
``MessagesReceived``   platform, shop          webhook_intake, per message enqueued
``WebhooksRejected``   platform, code          webhook_intake (no shop: the push was not verified)
``EventsApplied``      platform, shop          payload_sanitizer, event created or changed an order
``EventsIgnored``      platform, shop, outcome payload_sanitizer, stale / regression / forbidden /
                                               duplicate
``EventsFailed``       platform, shop, code    payload_sanitizer, per failed attempt
``EndToEndDelay``      platform, shop          payload_sanitizer, platform event time → applied
                                               (milliseconds)
``RolloutEvents``      rule, cohort, result    payload_sanitizer, while a canary runs
=====================  ======================  ===================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from aws_lambda_powertools.metrics import MetricUnit, single_metric

if TYPE_CHECKING:  # only attributes are read: the intake does not load the sanitizer's modules
    from oms.domain.envelope import IntakeEnvelope
    from oms.services.sanitize import MessageFailedError, Processed

#: CloudWatch takes dimension values of 1-1024 characters; shop ids are far shorter.
MAX_DIMENSION = 250
UNKNOWN = "unknown"


def dimension(value: object) -> str:
    """A dimension value: never empty, never longer than CloudWatch allows."""
    text = str(value).strip() if value is not None else ""
    return text[:MAX_DIMENSION] or UNKNOWN


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one count metric (namespace from ``POWERTOOLS_METRICS_NAMESPACE``)."""
    _emit(name, value, MetricUnit.Count, dimensions)


def milliseconds(name: str, value: float, **dimensions: str) -> None:
    """Emit one duration metric in milliseconds (negative values, from clock skew, count as 0)."""
    _emit(name, max(0.0, value), MetricUnit.Milliseconds, dimensions)


def _emit(name: str, value: float, unit: MetricUnit, dimensions: dict[str, str]) -> None:
    with single_metric(name=name, unit=unit, value=value) as metric:
        for key, dimension_value in dimensions.items():
            metric.add_dimension(name=key, value=dimension(dimension_value))


def messages_received(envelopes: Iterable[IntakeEnvelope]) -> None:
    """``MessagesReceived`` per platform and shop, one line per (platform, shop) of a push."""
    counts: dict[tuple[str, str], int] = {}
    for envelope in envelopes:
        key = (str(envelope.platform), dimension(envelope.shop_id))
        counts[key] = counts.get(key, 0) + 1
    for (platform, shop), value in counts.items():
        count("MessagesReceived", value, platform=platform, shop=shop)


def event_processed(processed: Processed) -> None:
    """Applied or ignored, the end-to-end delay of an applied event, and its canary side."""
    platform, shop = str(processed.platform), dimension(processed.shop_id)
    if processed.outcome.changes_order:
        count("EventsApplied", platform=platform, shop=shop)
        if processed.event_time and processed.recorded_at:
            delay = (processed.recorded_at - processed.event_time).total_seconds() * 1000
            milliseconds("EndToEndDelay", delay, platform=platform, shop=shop)
    else:
        count("EventsIgnored", platform=platform, shop=shop, outcome=str(processed.outcome))
    if processed.rollout is not None:
        result = "applied" if processed.outcome.changes_order else "ignored"
        count("RolloutEvents", rule=processed.rollout.rule_id, cohort=processed.rollout.cohort, result=result)


def event_failed(failure: MessageFailedError) -> None:
    """A failed attempt by code, and its canary side."""
    platform = dimension(failure.platform)
    count("EventsFailed", platform=platform, shop=dimension(failure.shop_id), code=str(failure.error.code))
    if failure.rollout is not None:
        count("RolloutEvents", rule=failure.rollout.rule_id, cohort=failure.rollout.cohort, result="failed")
