"""``make redrive``: move DLQ messages back to the intake queue through ``POST /dlq/redrive``.

The same route an operator's console would call, signed with SigV4, so the admin API's IAM
permissions and its audit (who redrove what) apply to the command line too. Against the local stack
(``make serve``, default ``http://127.0.0.1:3000``) it signs with the local test credentials;
against a deployed stack (``--api-url`` = the stack's ``ApiUrl`` output) with your AWS credentials
(environment, profile or SSO, as boto3 finds them).

The route stops before the API's 30 s limit and says ``more``; this command calls it again until
nothing more matches, and prints one line per message.

Examples
--------
``make redrive ARGS="--platform douyin --error-code PAY_PARSE_ERR --dry-run"``

``make redrive ARGS="--queue SettlementDLQ --order-id <order id> --dry-run"``: a consumer's DLQ
(``GET /dlq/consumers`` lists them) back to its source queue, through ``POST /dlq/consumers/redrive``.

``python -m local.redrive --api-url https://abc.execute-api.ap-east-1.amazonaws.com/ --region ap-east-1
--platform douyin --error-code PAY_PARSE_ERR``
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from local.api_gateway import DEFAULT_API_PORT, sign_request
from local.stack import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, HttpResult, http_call

#: Calls at most, each moving up to ``--max`` messages (a guard against a DLQ refilling as it drains).
MAX_CALLS = 50


#: The route of the intake DLQ, and the one of every consumer's DLQ (``--queue``).
INTAKE_ROUTE = "/dlq/redrive"
CONSUMER_ROUTE = "/dlq/consumers/redrive"


def redrive_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {"max_messages": args.max, "dry_run": args.dry_run}
    if args.queue:
        body["queue"] = args.queue
        for key, value in (("order_id", args.order_id), ("platform", args.platform)):
            if value:
                body[key] = value
        if args.change_id:
            body["change_ids"] = args.change_id
        return body
    for key, value in (
        ("platform", args.platform),
        ("error_code", args.error_code),
        ("order_ref", args.order_ref),
    ):
        if value:
            body[key] = value
    if args.trace_id:
        body["trace_ids"] = args.trace_id
    return body


def call(api_url: str, body: dict[str, Any], *, region: str, route: str = INTAKE_ROUTE) -> HttpResult:
    """One signed ``POST`` of a redrive route."""
    payload = json.dumps(body).encode()
    url = api_url.rstrip("/") + route
    access_key, secret_key, token = _credentials(api_url)
    headers = {"content-type": "application/json"}
    if token:
        headers["x-amz-security-token"] = token
    signed = sign_request(
        "POST",
        url,
        access_key=access_key,
        secret_key=secret_key,
        body=payload,
        headers=headers,
        region=region,
    )
    parts = urlsplit(url)
    if parts.scheme == "https":
        return _https_call(url, payload, signed)
    return http_call(
        f"{parts.scheme}://{parts.netloc}", "POST", parts.path, body=payload, headers=signed, timeout=60
    )


def run(args: argparse.Namespace) -> int:
    body = redrive_body(args)
    route = CONSUMER_ROUTE if args.queue else INTAKE_ROUTE
    totals = {"redriven": 0, "would_redrive": 0, "skipped": 0, "failed": 0}
    for _ in range(MAX_CALLS):
        reply = call(args.api_url, body, region=args.region, route=route)
        if reply.status != 200:
            print(f"POST {route} answered {reply.status}: {reply.text[:500]}", file=sys.stderr)
            return 2
        report = reply.json()
        for result in report["results"]:
            print(_line(result) + (f"  ({result['reason']})" if result.get("reason") else ""))
        for key in totals:
            totals[key] += int(report[key])
        if not report["more"] or args.dry_run:
            break
    print(", ".join(f"{key.replace('_', ' ')} {value}" for key, value in totals.items()))
    return 1 if totals["failed"] else 0


def _line(result: dict[str, Any]) -> str:
    if "trace_id" not in result:  # a consumer's letter: an OrderChanged, or some other message
        return f"{result['action']:<13} {result['message_id']:<38} {result['change_id'] or '-'}"
    return (
        f"{result['action']:<13} {result['trace_id']:<34} {result['platform'] or '-':<16} "
        f"{result['code'] or '-':<20} {result['order_ref'] or '-'}"
    )


def _credentials(api_url: str) -> tuple[str, str, str | None]:
    host = urlsplit(api_url).hostname or ""
    if host in ("127.0.0.1", "localhost"):
        return LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, None
    import boto3

    found = boto3.session.Session().get_credentials()
    if found is None:
        raise SystemExit("no AWS credentials found to sign the request (set a profile or AWS_* variables)")
    frozen = found.get_frozen_credentials()
    return str(frozen.access_key), str(frozen.secret_key), frozen.token


def _https_call(url: str, payload: bytes, headers: dict[str, str]) -> HttpResult:
    import urllib3

    reply = urllib3.PoolManager().request("POST", url, body=payload, headers=headers, timeout=60.0)
    return HttpResult(
        reply.status, {name.lower(): value for name, value in reply.headers.items()}, reply.data
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Move matching DLQ messages back to their source queue.")
    parser.add_argument(
        "--api-url", default=f"http://127.0.0.1:{DEFAULT_API_PORT}", help="the HTTP API's base URL"
    )
    parser.add_argument("--region", default="us-east-1", help="the API's region (SigV4)")
    parser.add_argument(
        "--queue", help="a consumer's DLQ (SettlementDLQ, InventoryEventsDLQ...) instead of the intake DLQ"
    )
    parser.add_argument("--order-id", help="with --queue: only this order's changes (its order id)")
    parser.add_argument("--change-id", action="append", help="with --queue: only these changes (repeatable)")
    parser.add_argument("--platform", help="only this platform's messages (douyin, shopify...)")
    parser.add_argument("--error-code", help="only messages whose last failure had this code")
    parser.add_argument("--order-ref", help="only this order (platform:shop:platform_order_id)")
    parser.add_argument("--trace-id", action="append", help="only these trace ids (repeatable)")
    parser.add_argument("--max", type=int, default=100, help="messages per call (1-1000)")
    parser.add_argument("--dry-run", action="store_true", help="list what would move; move nothing")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(build_parser().parse_args(argv)))


if __name__ == "__main__":
    main()
