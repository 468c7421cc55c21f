"""The reconciliation patrol (EventBridge, every 15 minutes) and its chunk worker (SQS).

A scheduled invocation plans a patrol: the open orders by the status index, sent to the patrol
queue in chunks. A queue invocation reconciles chunks (a failed chunk is retried alone and its
orders' writes are idempotent); the worker that completes a patrol's last chunk writes its report to
the reports bucket and raises one grouped alert when there were conflicts. See
:mod:`oms.services.reconcile`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from oms import composition
from oms.observability import count, milliseconds
from oms.services.reconcile import PatrolReport
from oms.tracing import handler_tracer

logger = Logger()
tracer = handler_tracer()
processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if isinstance(event, dict) and "Records" in event:
        return _work(event, context)
    patrol = composition.patrol_planner().plan()
    count("PatrolOrdersSelected", patrol.orders)
    logger.info("patrol planned", extra={"patrol_id": patrol.patrol_id, "orders": patrol.orders})
    if patrol.chunks == 0:
        _reported(composition.patrol_worker().finish(patrol.patrol_id))
    return {"patrol_id": patrol.patrol_id, "orders": patrol.orders, "chunks": patrol.chunks}


def _work(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    patrols: set[str] = set()

    def reconcile_chunk(record: SQSRecord) -> None:
        outcome = composition.patrol_worker().process(record.json_body)
        patrols.add(outcome.patrol_id)
        if not outcome.counted:
            return  # a redelivered chunk: its orders were re-checked, its counts are in already
        for result in outcome.results:
            count("PatrolOrders", verdict=str(result["verdict"]), platform=str(result["platform"]))

    response = dict(
        process_partial_response(
            event=event, record_handler=reconcile_chunk, processor=processor, context=context
        )
    )
    for patrol_id in patrols:
        _reported(composition.patrol_worker().finish(patrol_id))
    return response


def _reported(report: PatrolReport | None) -> None:
    if report is None:
        return
    counts = report.counts
    count("PatrolConflicts", counts["conflict"])
    count("PatrolHealed", counts["healed"])
    milliseconds("PatrolDuration", report.document["duration_seconds"] * 1000)
    logger.info("patrol reported", extra={"patrol_id": report.patrol_id, "report": report.key, **counts})
