"""Admin routes of one customer across platforms (issue #7): timeline, review queue, merges.

Included into the admin API's resolver; who called is the caller's IAM identity, recorded on every
decision, merge and split.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from oms import composition
from oms.domain.errors import BadRequestError
from oms.http_api import iam_caller, json_object

router = APIGatewayHttpRouter()  # type: ignore[no-untyped-call]


@router.get("/customers/timeline")
def customer_timeline() -> dict[str, Any]:
    event = router.current_event
    page = composition.customer_desk().timeline(
        event.get_query_string_value("ref") or "",
        limit=_limit(event.get_query_string_value("limit")),
        cursor=event.get_query_string_value("cursor"),
    )
    return page.as_dict()


@router.get("/review-queue")
def review_queue() -> dict[str, Any]:
    event = router.current_event
    items, cursor = composition.customer_desk().open_reviews(
        limit=_limit(event.get_query_string_value("limit")), cursor=event.get_query_string_value("cursor")
    )
    return {
        "items": [item.model_dump(mode="json", exclude_none=True) for item in items],
        "next_cursor": cursor,
    }


@router.post("/review-queue/<review_id>/decision")
def decide_review(review_id: str) -> dict[str, Any]:
    decided = composition.customer_desk().decide(unquote(review_id), _json_object(), actor=_caller())
    return decided.model_dump(mode="json", exclude_none=True)


@router.post("/customers/merge")
def merge_customers() -> Response[dict[str, Any]]:
    record = composition.customer_desk().merge(_json_object(), actor=_caller())
    return Response(status_code=201, content_type="application/json", body=record.model_dump(mode="json"))


@router.post("/customers/<customer_key>/split")
def split_customer(customer_key: str) -> dict[str, Any]:
    record = composition.customer_desk().split(unquote(customer_key), _json_object(), actor=_caller())
    return record.model_dump(mode="json", exclude_none=True)


@router.get("/customers/<customer_key>/merges")
def customer_merges(customer_key: str) -> dict[str, Any]:
    records = composition.customer_desk().merges(unquote(customer_key))
    return {"merges": [record.model_dump(mode="json", exclude_none=True) for record in records]}


def _limit(text: str | None) -> int:
    if text is None:
        return 50
    if not text.isdigit():
        raise BadRequestError("limit is a number", limit=text[:20])
    return int(text)


def _json_object() -> dict[str, Any]:
    return json_object(router.current_event)


def _caller() -> str:
    return iam_caller(router.current_event)
