"""Stand-ins for the Lambda runtime: the context object, and a function invoked in-process.

It carries the attributes Powertools and the handlers read (``function_name``,
``memory_limit_in_mb``, ``invoked_function_arn``, ``aws_request_id``...) and counts down the
function's configured timeout from the moment of invocation, as the real runtime does.
"""

from __future__ import annotations

import importlib
import io
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

LOCAL_ACCOUNT_ID = "123456789012"


@dataclass
class LambdaContext:
    """The context object of one invocation.

    Parameters
    ----------
    function_name:
        The function's physical name.
    timeout_s:
        The function's configured timeout; :meth:`get_remaining_time_in_millis` counts it down.
    memory_limit_in_mb:
        The configured memory size.
    region, account_id:
        Used to build :attr:`invoked_function_arn`.
    aws_request_id:
        A fresh UUID per invocation unless given.
    monotonic:
        The clock the deadline is measured on (injectable for tests).

    Examples
    --------
    >>> context = LambdaContext("oms-local-WebhookIntake", timeout_s=10)
    >>> 0 < context.get_remaining_time_in_millis() <= 10_000
    True
    """

    function_name: str
    timeout_s: float = 3.0
    memory_limit_in_mb: int = 128
    region: str = "us-east-1"
    account_id: str = LOCAL_ACCOUNT_ID
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = self.monotonic() + self.timeout_s
        if not self.log_group_name:
            self.log_group_name = f"/aws/lambda/{self.function_name}"
        if not self.log_stream_name:
            self.log_stream_name = f"local/[{self.function_version}]{self.aws_request_id.replace('-', '')}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function's timeout (never negative)."""
        return max(0, int((self._deadline - self.monotonic()) * 1000))


#: Which function (if any) the current thread is running: routes its output to the function log.
_invocation = threading.local()


def current_function() -> str | None:
    """The logical id of the function this thread is invoking, or None outside an invocation."""
    return getattr(_invocation, "function", None)


class FunctionLogRouter(io.TextIOBase):
    """A ``sys.stdout``/``sys.stderr`` stand-in sending what handlers write to the function log.

    In Lambda, whatever a handler prints (Powertools' JSON logs, EMF metrics, tracebacks) lands in
    CloudWatch Logs, not in the caller's terminal. Here every function runs in the caller's
    process, so writes made by a thread inside :meth:`LocalFunction.invoke` go to ``sink``
    (prefixed with the function's logical id) and everything else to ``default``.

    Parameters
    ----------
    default:
        Where other threads' output goes (the real stream).
    sink:
        The function log (a text file, or the real stream for ``make serve``).
    """

    def __init__(self, default: TextIO, sink: TextIO) -> None:
        super().__init__()
        self.default = default
        self.sink = sink
        self._lock = threading.Lock()
        self._thread = threading.local()  # whether this thread's next write starts a line

    def write(self, text: str) -> int:
        function = current_function()
        if function is None or self.sink.closed:
            return self.default.write(text)
        with self._lock:
            for piece in text.splitlines(keepends=True):
                if getattr(self._thread, "line_start", True):
                    self.sink.write(f"[{function}] ")
                self.sink.write(piece)
                self._thread.line_start = piece.endswith("\n")
        return len(text)

    def flush(self) -> None:
        self.default.flush()
        with self._lock:
            self.sink.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.default.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.default, "encoding", "utf-8")


@dataclass
class InvocationStats:
    invocations: int = 0
    errors: int = 0
    total_duration_s: float = 0.0


class LocalFunction:
    """One Lambda function run in-process: its handler, its configuration, one event at a time.

    A Lambda execution environment handles one event at a time; with every function of the
    stack sharing this process, the lock here gives each function that same guarantee (as if
    its reserved concurrency were 1), so handler code never sees two of its own events at once.

    Parameters
    ----------
    logical_id:
        The function's logical id in ``template.yaml``.
    handler:
        The callable ``handler(event, context)``.
    function_name:
        The physical name reported in the context.
    timeout_s, memory_mb:
        From the template; the context counts the timeout down.
    region:
        Used in the context's ARN.
    """

    def __init__(
        self,
        logical_id: str,
        handler: Callable[[dict[str, object], LambdaContext], object],
        *,
        function_name: str | None = None,
        timeout_s: float = 3.0,
        memory_mb: int = 128,
        region: str = "us-east-1",
    ) -> None:
        self.logical_id = logical_id
        self.function_name = function_name or logical_id
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.region = region
        self.stats = InvocationStats()
        self._handler = handler
        self._lock = threading.Lock()

    @classmethod
    def from_module(
        cls,
        logical_id: str,
        module: str,
        handler_name: str = "handler",
        **options: object,
    ) -> LocalFunction:
        """Import ``module`` and wrap its ``handler_name`` attribute (as the Lambda runtime does)."""
        handler = getattr(importlib.import_module(module), handler_name)
        return cls(logical_id, handler, **options)  # type: ignore[arg-type]

    def invoke(self, event: dict[str, object]) -> object:
        """Run the handler on ``event`` with a fresh context; exceptions propagate to the caller."""
        with self._lock:
            context = LambdaContext(
                self.function_name,
                timeout_s=self.timeout_s,
                memory_limit_in_mb=self.memory_mb,
                region=self.region,
            )
            started = time.monotonic()
            self.stats.invocations += 1
            _invocation.function = self.logical_id
            try:
                return self._handler(event, context)
            except Exception:
                self.stats.errors += 1
                # The Lambda runtime logs an unhandled error in the function's log, then fails the call.
                traceback.print_exc()
                raise
            finally:
                _invocation.function = None
                self.stats.total_duration_s += time.monotonic() - started
