"""The whole local stack in one context manager: AWS, platforms, API, queues and schedules.

:class:`LocalStack` starts, in order:

1. moto as a server on 127.0.0.1, every request serialised behind one lock
   (:mod:`local.moto_server`);
2. the resources of ``template.yaml`` on it (tables, queues with their redrive policies,
   buckets, secrets from ``local/credentials.json``) through :func:`local.resources.deploy`;
3. the platform simulator (:mod:`local.simulator`): the platforms' order APIs, holding the
   "platform truth", with their real signing;
4. the handlers' environment: every function's resolved ``Environment`` plus the endpoint,
   test credentials and ``PLATFORM_BASE_URLS`` pointing at the simulator, then
   ``oms.composition.reset()`` so cached clients and settings are rebuilt;
5. the HTTP API on 127.0.0.1 (:mod:`local.api_gateway`), the SQS pollers
   (:mod:`local.event_source`) and a simulated clock carrying the schedules
   (:mod:`local.scheduler`), all wired from the template.

Everything is undone on exit, the environment included, so a test process can run other suites
afterwards.
"""

from __future__ import annotations

import errno
import http.client
import json
import logging
import os
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from local.api_gateway import DEFAULT_API_PORT, ApiGateway, ApiRoute, SigV4Verifier, sign_request
from local.event_source import Doorbell, QueueMapping, SqsPoller, drain_all
from local.lambda_context import LOCAL_ACCOUNT_ID, FunctionLogRouter, LocalFunction
from local.moto_server import MotoServer
from local.scheduler import Firing, ScheduledTarget, SimulatedClock, targets_from_model

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEMPLATE = ROOT / "template.yaml"
DEFAULT_CREDENTIALS = ROOT / "local" / "credentials.json"

#: The identity the handlers, tests and operators use against the local stack.
LOCAL_ACCESS_KEY = "testing"
LOCAL_SECRET_KEY = "testing"  # noqa: S105 - moto's documented dummy credentials, not a secret

#: A second identity the local API accepts (SigV4) that is *not* an administrator: operators'
#: read-only calls work with it, forced status changes answer 403 ADMIN_REQUIRED.
LOCAL_VIEWER_ACCESS_KEY = "viewer"
LOCAL_VIEWER_SECRET_KEY = "viewer-secret"  # noqa: S105 - a documented local test credential
#: The administrators of the local stack (template parameter AdminPrincipalArns): the testing identity.
LOCAL_ADMIN_ARN = f"arn:aws:iam::{LOCAL_ACCOUNT_ID}:user/{LOCAL_ACCESS_KEY}"

#: How many ports after the requested one to try when it is taken (``fallback_port=True``).
PORT_SEARCH_SPAN = 20

_ONE_STACK_PER_PROCESS = threading.Lock()


@dataclass(frozen=True)
class HttpResult:
    """A reply from the local API."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class LocalStack:
    """The local stack as a context manager.

    Parameters
    ----------
    api_port:
        Port of the HTTP API on 127.0.0.1; 0 for an ephemeral one (tests run in parallel).
    fallback_port:
        When ``api_port`` is taken, try the next ones (``make demo`` / ``make serve``);
        :attr:`api_port_note` says what happened.
    template, credentials_file:
        The SAM template and the platform credentials to deploy.
    region, stack_name:
        Where and under which name to deploy.
    retry_delay_s:
        Seconds before a failed SQS record is retried (see :mod:`local.event_source`).
    clock_start:
        The simulated clock's start (defaults to now).
    extra_env:
        Variables set for the handlers on top of the template's (e.g. ``POWERTOOLS_LOG_LEVEL``).
    function_log:
        Where the functions' output goes (their "CloudWatch Logs": Powertools logs, EMF metrics,
        tracebacks): a file path or a text stream. None leaves it on this process's stdout/stderr.
    parameter_overrides:
        Template parameter values (e.g. ``{"MaxReceiveCount": 2}`` for faster poison tests).

    Examples
    --------
    >>> with LocalStack(api_port=0) as stack:  # doctest: +SKIP
    ...     stack.request("POST", "/webhooks/douyin", body=body, headers=headers)
    ...     assert stack.drain()
    """

    def __init__(
        self,
        api_port: int = DEFAULT_API_PORT,
        *,
        fallback_port: bool = False,
        template: str | Path = DEFAULT_TEMPLATE,
        credentials_file: str | Path = DEFAULT_CREDENTIALS,
        region: str = "us-east-1",
        stack_name: str = "oms-local",
        retry_delay_s: int = 1,
        clock_start: datetime | None = None,
        extra_env: Mapping[str, str] | None = None,
        function_log: str | Path | TextIO | None = None,
        parameter_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self._requested_port = api_port
        self._fallback_port = fallback_port
        self.template = Path(template)
        self.credentials_file = Path(credentials_file)
        self.region = region
        self.stack_name = stack_name
        self._retry_delay_s = retry_delay_s
        self._clock_start = clock_start
        self._extra_env = dict(extra_env or {})
        self._function_log = function_log
        self._parameter_overrides = {"AdminPrincipalArns": LOCAL_ADMIN_ARN, **(parameter_overrides or {})}
        self._log_file: TextIO | None = None
        self._saved_streams: tuple[TextIO, TextIO] | None = None
        self._routers: list[FunctionLogRouter] = []
        self._sink: TextIO | None = None
        self._owns_process = False

        self.moto = MotoServer()
        #: Queue name → the doorbell its poller waits on (rung by moto on a send or publish).
        self.doorbells: dict[str, Doorbell] = {}
        self.model: Any = None
        self.deployed: Any = None
        self.simulator: Any = None
        #: DingTalk, Feishu, WeCom, Aliyun voice and Amazon Connect (local/notification_sink.py)
        self.notifications: Any = None
        self.api: ApiGateway | None = None
        self.functions: dict[str, LocalFunction] = {}
        self.pollers: list[SqsPoller] = []
        self.clock: SimulatedClock | None = None
        self.env: dict[str, str] = {}
        self.env_conflicts: dict[str, set[str]] = {}
        self.api_port_note = ""
        self._saved_environ: dict[str, str] | None = None
        self._clients: dict[str, Any] = {}

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> LocalStack:
        """Start every piece (see the module docstring for the order).

        Raises
        ------
        RuntimeError
            When another LocalStack runs in this process: moto's backends and the process
            environment are global, two stacks would share (and clobber) them.
        """
        from local.resources import deploy
        from local.simulator import PlatformSimulator
        from local.template import AppModel

        if not self._owns_process:
            if not _ONE_STACK_PER_PROCESS.acquire(blocking=False):
                raise RuntimeError("another LocalStack is running in this process; stop it first")
            self._owns_process = True
        self.moto.start()
        assert self.moto.app is not None
        self.moto.app.on_enqueue = self._ring
        self.model = AppModel.load(str(self.template))
        self.deployed = deploy(
            self.model,
            endpoint_url=self.moto.url,
            stack_name=self.stack_name,
            region=self.region,
            credentials_file=str(self.credentials_file),
            parameter_overrides=self._parameter_overrides,
        )
        credentials = json.loads(self.credentials_file.read_text(encoding="utf-8"))
        self.simulator = PlatformSimulator(credentials, host="127.0.0.1", port=0)
        self.simulator.start()
        from local.notification_sink import NotificationSink

        self.notifications = NotificationSink(
            credentials.get("notifiers", {}),
            aws_credentials={LOCAL_ACCESS_KEY: LOCAL_SECRET_KEY},
            region=self.region,
        ).start()

        self._apply_environment()
        self._route_function_output()
        self._load_functions()
        self._route_function_loggers()  # the loggers the function modules just created
        self.api = self._start_api()
        self.pollers = [self._poller(source).start() for source in self.model.queue_sources]
        self.clock = SimulatedClock(self._clock_start or datetime.now(UTC), region=self.region)
        self.clock.schedule_all(self._schedule_targets())
        self.clock.discover = self._runtime_schedules
        return self

    def stop(self) -> None:
        """Stop every piece that started, and restore the process environment (idempotent)."""
        for poller in self.pollers:
            poller.stop()
        self.pollers = []
        if self.api is not None:
            self.api.stop()
            self.api = None
        if self.simulator is not None:
            self.simulator.stop()
            self.simulator = None
        if self.notifications is not None:
            self.notifications.stop()
            self.notifications = None
        self.moto.stop()
        self._restore_output()
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None
            _reset_composition()
        self._clients.clear()
        if self._owns_process:
            self._owns_process = False
            _ONE_STACK_PER_PROCESS.release()

    # ------------------------------------------------------------------- wiring

    def _apply_environment(self) -> None:
        env: dict[str, str] = {}
        for spec in _function_specs(self.model):
            for name, value in self.deployed.function_env(spec.logical_id).items():
                if name in env and env[name] != value:
                    # All functions share this process's environment: the first value wins.
                    self.env_conflicts.setdefault(name, {env[name]}).add(str(value))
                    continue
                env[name] = str(value)
        env.update(
            {
                "AWS_ENDPOINT_URL": self.moto.url,
                "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": LOCAL_SECRET_KEY,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "PLATFORM_BASE_URLS": json.dumps(self.simulator.base_urls()),
                "NOTIFIER_BASE_URLS": json.dumps(self.notifications.base_urls()),
                # moto has no StartOutboundVoiceContact: botocore sends Connect calls to the sink.
                "AWS_ENDPOINT_URL_CONNECT": self.notifications.url,
                "NOTIFIER_SECRET_NAME": f"{self.stack_name}/notifiers",
                "WAREHOUSE_SECRET_NAME": f"{self.stack_name}/warehouses",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "POWERTOOLS_METRICS_NAMESPACE": env.get("POWERTOOLS_METRICS_NAMESPACE", "OrderCenterLocal"),
            }
        )
        env.update(self._extra_env)
        self._saved_environ = dict(os.environ)
        os.environ.pop("AWS_SESSION_TOKEN", None)  # a leftover token would not match our key
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(env)
        self.env = env
        _reset_composition()

    def _route_function_output(self) -> None:
        """Send what the functions print to the function log (see :class:`FunctionLogRouter`)."""
        if self._function_log is None:
            return
        if isinstance(self._function_log, str | Path):
            path = Path(self._function_log)
            path.parent.mkdir(parents=True, exist_ok=True)
            self._log_file = path.open("w", encoding="utf-8")
            self._sink = self._log_file
        else:
            self._sink = self._function_log
        stdout, stderr = sys.stdout, sys.stderr
        self._saved_streams = (stdout, stderr)
        # print() (EMF metrics), tracebacks and logging's last-resort handler use sys.stdout/err.
        sys.stdout = self._router(stdout)
        sys.stderr = self._router(stderr)
        self._route_function_loggers()

    def _router(self, stream: TextIO) -> FunctionLogRouter:
        if isinstance(stream, FunctionLogRouter):  # left by an earlier stack: wrap what it wrapped
            stream = stream.default
        router = FunctionLogRouter(stream, self._sink)  # type: ignore[arg-type]
        self._routers.append(router)
        return router

    def _route_function_loggers(self) -> None:
        """Point the functions' loggers (Powertools', holding the stream they saw when created) at routers."""
        if self._sink is None:
            return
        for handler in _stream_handlers():
            stream = handler.stream
            if _is_function_handler(handler) and not any(stream is router for router in self._routers):
                if getattr(stream, "closed", False):
                    # A stream closed under the handler (pytest's capture of an earlier test): the
                    # function writes to the current stdout from now on, through the router.
                    stream = sys.stdout
                    handler.stream = stream
                handler.setStream(self._router(stream))

    def _restore_output(self) -> None:
        for handler in _stream_handlers():
            if any(handler.stream is router for router in self._routers):
                handler.setStream(handler.stream.default)
        if self._saved_streams is not None:
            # Only where nobody (e.g. pytest's capture) replaced our router meanwhile.
            if any(sys.stdout is router for router in self._routers):
                sys.stdout = self._saved_streams[0]
            if any(sys.stderr is router for router in self._routers):
                sys.stderr = self._saved_streams[1]
            self._saved_streams = None
        self._routers = []
        self._sink = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def _load_functions(self) -> None:
        names = getattr(self.deployed, "names", {}) or {}
        for spec in _function_specs(self.model):
            self.functions[spec.logical_id] = LocalFunction.from_module(
                spec.logical_id,
                spec.module,
                spec.handler,
                function_name=names.get(spec.logical_id) or f"{self.stack_name}-{spec.logical_id}",
                timeout_s=float(getattr(spec, "timeout", 3) or 3),
                memory_mb=int(getattr(spec, "memory", 128) or 128),
                region=self.region,
            )

    def _start_api(self) -> ApiGateway:
        routes = [
            ApiRoute(
                route.method, route.path, self.functions[route.function_id], getattr(route, "auth", None)
            )
            for route in self.model.routes
        ]
        verifier = SigV4Verifier(
            {LOCAL_ACCESS_KEY: LOCAL_SECRET_KEY, LOCAL_VIEWER_ACCESS_KEY: LOCAL_VIEWER_SECRET_KEY},
            region=self.region,
        )
        ports: Iterable[int] = [self._requested_port]
        if self._fallback_port and self._requested_port:
            ports = range(self._requested_port, self._requested_port + PORT_SEARCH_SPAN)
        last_error: OSError | None = None
        for port in ports:
            api = ApiGateway(routes, port=port, verifier=verifier)
            try:
                api.start()
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
                last_error = error
                continue
            if port != self._requested_port:
                self.api_port_note = (
                    f"port {self._requested_port} is taken; the API listens on {port} instead"
                )
            return api
        raise OSError(errno.EADDRINUSE, f"no free port from {self._requested_port}: {last_error}")

    def _poller(self, source: Any) -> SqsPoller:
        mapping = QueueMapping(
            function=self.functions[source.function_id],
            queue_url=self.deployed.queue_urls[source.queue_id],
            batch_size=int(source.batch_size),
            report_batch_item_failures=bool(source.report_batch_item_failures),
            maximum_batching_window_s=float(getattr(source, "maximum_batching_window_s", 0) or 0),
        )
        doorbell = self.doorbells.setdefault(_queue_name(mapping.queue_url), Doorbell())
        return SqsPoller(
            self.sqs, mapping, region=self.region, retry_delay_s=self._retry_delay_s, doorbell=doorbell
        )

    def _ring(self, queue_url: str | None) -> None:
        """Wake the poller of ``queue_url`` (every poller when None: an SNS publish fans out)."""
        if queue_url is None:
            for bell in list(self.doorbells.values()):
                bell.ring()
        elif (doorbell := self.doorbells.get(_queue_name(queue_url))) is not None:
            doorbell.ring()

    def _runtime_schedules(self, after: Firing | None) -> list[ScheduledTarget]:
        """EventBridge Scheduler schedules the functions created on moto, not yet on the clock.

        Asked after a firing of a function whose role may ``scheduler:CreateSchedule`` (and when
        an advance starts): other firings cannot have created one, and moto is not asked.
        One-shot ``at()`` schedules with ``ActionAfterCompletion: DELETE`` are deleted from
        moto once the clock has passed them, as Scheduler does after the invocation.
        """
        from local.scheduler import SCHEDULE_V2

        if after is not None and after.function_id not in self._schedule_creators():
            return []
        scheduler = self.client("scheduler")
        known: dict[tuple[str, str], datetime | None] = self.__dict__.setdefault("_known_schedules", {})
        now = self.clock.now() if self.clock is not None else datetime.now(UTC)
        for key, due in list(known.items()):
            if due is not None and due <= now:
                scheduler.delete_schedule(GroupName=key[0], Name=key[1])
                known[key] = None
        by_name = {function.function_name: function for function in self.functions.values()}
        found: list[ScheduledTarget] = []
        for summary in scheduler.list_schedules().get("Schedules", []):
            key = (summary.get("GroupName") or "default", summary["Name"])
            if key in known:
                continue
            detail = scheduler.get_schedule(GroupName=key[0], Name=key[1])
            function = by_name.get(str(detail["Target"]["Arn"]).rsplit(":", 1)[-1])
            if function is None:
                continue
            expression = str(detail["ScheduleExpression"])
            timezone = detail.get("ScheduleExpressionTimezone")
            due = None
            if expression.startswith("at(") and detail.get("ActionAfterCompletion") == "DELETE":
                zone = ZoneInfo(timezone) if timezone else UTC
                due = datetime.fromisoformat(expression[3:-1]).replace(tzinfo=zone).astimezone(UTC)
            known[key] = due
            found.append(
                ScheduledTarget(
                    name=key[1],
                    expression=expression,
                    function=function,
                    input=detail["Target"].get("Input"),
                    timezone=timezone,
                    kind=SCHEDULE_V2,
                )
            )
        return found

    def _schedule_creators(self) -> frozenset[str]:
        """Functions whose role in the template allows ``scheduler:CreateSchedule``."""
        cached: frozenset[str] | None = self.__dict__.get("_creators")
        if cached is None:
            creators = set()
            resources = self.model.resources if self.model is not None else {}
            for function_id in self.functions:
                role = (resources.get(function_id, {}).get("Properties") or {}).get("Role")
                role_id = role.get("Fn::GetAtt", [None])[0] if isinstance(role, dict) else None
                policies = (resources.get(str(role_id), {}).get("Properties") or {}).get("Policies") or []
                if "scheduler:CreateSchedule" in json.dumps(policies):
                    creators.add(function_id)
            cached = self.__dict__["_creators"] = frozenset(creators)
        return cached

    def _schedule_targets(self) -> list[ScheduledTarget]:
        return targets_from_model(getattr(self.model, "schedules", []) or [], self.functions)

    # ------------------------------------------------------------------ accessors

    @property
    def api_url(self) -> str:
        if self.api is None:
            raise RuntimeError("the stack is not running")
        return self.api.url

    @property
    def moto_url(self) -> str:
        return self.moto.url

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` on the local moto (cached; boto3 clients are thread-safe)."""
        if service not in self._clients:
            import boto3

            session: Any = boto3.session.Session()
            self._clients[service] = session.client(
                service,
                endpoint_url=self.moto.url,
                region_name=self.region,
                aws_access_key_id=LOCAL_ACCESS_KEY,
                aws_secret_access_key=LOCAL_SECRET_KEY,
            )
        return self._clients[service]

    @property
    def sqs(self) -> Any:
        return self.client("sqs")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @property
    def s3(self) -> Any:
        return self.client("s3")

    def drain(self, timeout: float = 60.0) -> bool:
        """Wait until every queue with a consumer is empty and every consumer idle."""
        return drain_all(self.pollers, timeout=timeout)

    def queue_depth(self, queue_id: str) -> int:
        """Messages on a queue (visible + in flight + delayed), by logical id."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.deployed.queue_urls[queue_id],
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(value) for value in attributes.values())

    def poller_errors(self) -> list[str]:
        return [error for poller in self.pollers for error in poller.errors]

    # --------------------------------------------------------------------- HTTP

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | str = b"",
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | str | None = None,
        sign: bool = False,
        timeout: float = 30.0,
        identity: tuple[str, str] = (LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY),
    ) -> HttpResult:
        """Call the local API; ``sign=True`` signs with SigV4 (as ``identity``) as an operator's SDK would."""
        payload = body.encode("utf-8") if isinstance(body, str) else body
        query_text = query if isinstance(query, str) else urlencode(query or {})
        target = path + (f"?{query_text}" if query_text else "")
        all_headers = dict(headers or {})
        if sign:
            all_headers = sign_request(
                method,
                self.api_url + target,
                access_key=identity[0],
                secret_key=identity[1],
                body=payload,
                headers=all_headers,
                region=self.region,
            )
        return http_call(self.api_url, method, target, body=payload, headers=all_headers, timeout=timeout)

    def admin_get(self, path: str, **query: str) -> HttpResult:
        """A signed GET on the admin API (its routes are ``AWS_IAM``-authorised)."""
        return self.request("GET", path, query=query or None, sign=True)


def http_call(
    base_url: str,
    method: str,
    target: str,
    *,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> HttpResult:
    """One HTTP request to a 127.0.0.1 server (``target`` is the path and query, as sent)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)
    try:
        connection.request(method.upper(), target, body=body or None, headers=dict(headers or {}))
        reply = connection.getresponse()
        return HttpResult(
            reply.status, {name.lower(): value for name, value in reply.getheaders()}, reply.read()
        )
    finally:
        connection.close()


def _queue_name(queue_url: str) -> str:
    return queue_url.rstrip("/").rsplit("/", 1)[-1]


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    loggers = [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
    return [
        handler
        for logger in loggers
        for handler in getattr(logger, "handlers", [])
        if isinstance(handler, logging.StreamHandler)
    ]


def _is_function_handler(handler: logging.Handler) -> bool:
    """A handler of a function's logger: Powertools formats its records (stdlib loggers propagate)."""
    return type(handler.formatter).__module__.startswith("aws_lambda_powertools")


def _function_specs(model: Any) -> Iterator[Any]:
    functions = model.functions
    yield from functions.values() if isinstance(functions, Mapping) else functions


def _reset_composition() -> None:
    with suppress(ImportError):
        from oms import composition

        composition.reset()
