"""``make serve``: run the local stack until Ctrl-C.

The HTTP API listens on 127.0.0.1:3000 (or the next free port, which it says), moto and the
platform simulator on ephemeral ports. What is printed is what a developer needs to point a
client at it: the routes, the AWS endpoint and test credentials (SigV4 on the admin routes), the
platform credentials file that signs webhooks, and the resource names.

Examples
--------
From another terminal, push a signed Douyin test message and read an order back::

    from local.api_gateway import sign_request
    from local.simulator import douyin_push, load_credentials
    from local.stack import http_call

    app = load_credentials()["douyin"]["7000000000000000001"]
    headers, body = douyin_push([{"tag": "0", "msg_id": "1", "data": {}}], app["app_key"], app["app_secret"])
    http_call("http://127.0.0.1:3000", "POST", "/webhooks/douyin", body=body, headers=headers)
    url = "http://127.0.0.1:3000/orders/douyin:100001:6900000000000000001"
    http_call("http://127.0.0.1:3000", "GET", url[len("http://127.0.0.1:3000"):],
              headers=sign_request("GET", url, access_key="testing", secret_key="testing"))
"""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Sequence
from datetime import timedelta
from types import FrameType

from local.api_gateway import DEFAULT_API_PORT
from local.stack import LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, LocalStack


def describe(stack: LocalStack) -> str:
    """What a developer needs to talk to the running stack."""
    routes = "\n".join(
        f"    {route.method:<5} {stack.api_url}{route.path}"
        + ("   (SigV4, service execute-api)" if route.auth else "")
        for route in stack.api.routes.routes  # type: ignore[union-attr]
    )
    queues = "\n".join(
        f"    {logical_id}: {url}" for logical_id, url in sorted(stack.deployed.queue_urls.items())
    )
    names = "\n".join(
        f"    {logical_id}: {name}"
        for logical_id, name in sorted(stack.deployed.names.items())
        if logical_id in {*stack.model.tables, *stack.model.buckets, *stack.model.secrets}
    )
    schedules = (
        "\n".join(f"    {when:%Y-%m-%d %H:%M} UTC  {name}" for when, name in stack.clock.upcoming(5))  # type: ignore[union-attr]
        or "    (none in template.yaml)"
    )
    note = f"\n  Note: {stack.api_port_note}" if stack.api_port_note else ""
    return f"""Local stack running.{note}
  HTTP API      {stack.api_url}
{routes}
  AWS (moto)    {stack.moto_url}   (AWS_ENDPOINT_URL; region {stack.region};
                access key {LOCAL_ACCESS_KEY!r}, secret {LOCAL_SECRET_KEY!r})
  Platforms     {stack.simulator.base_url}   (simulated order APIs; PLATFORM_BASE_URLS)
  Credentials   {stack.credentials_file}
                (the platform secrets that sign webhooks; loaded into Secrets Manager)
  Queues
{queues}
  Tables, bucket and secrets
{names}
  Schedules (simulated clock: --tick-minutes N advances it N minutes every second)
{schedules}
Press Ctrl-C to stop."""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the local stack until interrupted.")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_API_PORT, help="API port (next free one if taken)"
    )
    parser.add_argument(
        "--tick-minutes",
        type=float,
        default=0.0,
        help="advance the simulated clock by this many minutes every second (0: the clock stands still)",
    )
    args = parser.parse_args(argv)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    with LocalStack(api_port=args.port, fallback_port=True) as stack:
        print(describe(stack), flush=True)
        try:
            while not stopping.wait(1.0):
                if args.tick_minutes and stack.clock is not None:
                    for firing in stack.clock.advance(timedelta(minutes=args.tick_minutes)):
                        outcome = "failed" if firing.error else "ok"
                        print(
                            f"{firing.scheduled_time:%Y-%m-%d %H:%M} {firing.schedule}: {outcome}", flush=True
                        )
        except KeyboardInterrupt:
            pass
        print("Stopping...", flush=True)


if __name__ == "__main__":
    main()
