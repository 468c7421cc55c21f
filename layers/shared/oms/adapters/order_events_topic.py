"""The order-changes topic (SNS): one Publish per stored change, fanned out to a queue per consumer.

Message attributes carry what a subscription's filter policy may select on (the status after
the change, the platform), so a consumer that cares about paid orders only is not invoked for
the rest. The body is :class:`~oms.domain.order_events.OrderChanged` as JSON; subscriptions use
raw message delivery, so an SQS record's body is exactly that JSON.
"""

from __future__ import annotations

from typing import Any

from oms.adapters.aws import translated
from oms.domain.order_events import STATUS_ATTRIBUTE, OrderChanged


class SnsOrderChangePublisher:
    def __init__(self, topic_arn: str, sns: Any) -> None:
        self._topic_arn = topic_arn
        self._sns = sns

    def publish(self, change: OrderChanged) -> None:
        with translated("Publish", order_id=change.entry.order_id):
            self._sns.publish(
                TopicArn=self._topic_arn,
                Message=change.to_json(),
                MessageAttributes={
                    STATUS_ATTRIBUTE: {"DataType": "String", "StringValue": str(change.status_after)},
                    "refund_after": {"DataType": "String", "StringValue": str(change.refund_after)},
                    "platform": {"DataType": "String", "StringValue": str(change.order.platform)},
                    "source": {"DataType": "String", "StringValue": str(change.entry.source)},
                },
            )
