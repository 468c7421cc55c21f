"""The Lambda runtime stand-ins: context, one-at-a-time invocation, function output routing."""

from __future__ import annotations

import io
import threading
import time

import pytest

from local.lambda_context import FunctionLogRouter, LambdaContext, LocalFunction, current_function


def test_the_context_counts_the_timeout_down_from_the_invocation():
    now = [100.0]
    context = LambdaContext(
        "oms-local-Sanitizer", timeout_s=30, memory_limit_in_mb=512, monotonic=lambda: now[0]
    )
    assert context.get_remaining_time_in_millis() == 30_000
    now[0] += 12.5
    assert context.get_remaining_time_in_millis() == 17_500
    now[0] += 60
    assert context.get_remaining_time_in_millis() == 0
    assert (
        context.invoked_function_arn == "arn:aws:lambda:us-east-1:123456789012:function:oms-local-Sanitizer"
    )
    assert context.memory_limit_in_mb == 512
    assert context.log_group_name == "/aws/lambda/oms-local-Sanitizer"
    assert len(context.aws_request_id) == 36


def test_each_invocation_gets_a_fresh_request_id_and_the_configured_limits():
    seen: list[LambdaContext] = []
    function = LocalFunction(
        "Sanitizer",
        lambda event, context: seen.append(context),
        function_name="oms-local-Sanitizer",
        timeout_s=30,
    )
    function.invoke({})
    function.invoke({})
    assert seen[0].aws_request_id != seen[1].aws_request_id
    assert {context.function_name for context in seen} == {"oms-local-Sanitizer"}
    assert function.stats.invocations == 2


def test_a_function_handles_one_event_at_a_time():
    inside, most_inside = [0], [0]
    guard = threading.Lock()

    def handler(event: dict, context: LambdaContext) -> None:
        with guard:
            inside[0] += 1
            most_inside[0] = max(most_inside[0], inside[0])
        time.sleep(0.002)  # widen the window an unserialised caller would overlap in
        with guard:
            inside[0] -= 1

    function = LocalFunction("Intake", handler)
    callers = [threading.Thread(target=lambda: [function.invoke({}) for _ in range(5)]) for _ in range(6)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert most_inside[0] == 1
    assert function.stats.invocations == 30


def test_a_failing_handler_is_counted_logged_and_raised(capsys):
    def handler(event: dict, context: LambdaContext) -> None:
        raise RuntimeError("boom")

    function = LocalFunction("Broken", handler)
    with pytest.raises(RuntimeError, match="boom"):
        function.invoke({})
    assert function.stats.errors == 1
    assert "RuntimeError: boom" in capsys.readouterr().err


def sample_handler(event: dict, context: LambdaContext) -> dict:
    """A module-level handler, found by module path and name like ``Handler: app.handler``."""
    return {"echo": event, "function": context.function_name}


def test_the_handler_is_found_by_module_and_name_like_the_runtime_does():
    function = LocalFunction.from_module(
        "Sample", "tests.unit.test_local_lambda_context", "sample_handler", function_name="oms-local-Sample"
    )
    assert function.invoke({"a": 1}) == {"echo": {"a": 1}, "function": "oms-local-Sample"}
    assert current_function() is None  # only set while a handler runs


def test_output_written_inside_an_invocation_goes_to_the_function_log():
    terminal, log = io.StringIO(), io.StringIO()
    router = FunctionLogRouter(terminal, log)

    def handler(event: dict, context: LambdaContext) -> None:
        assert current_function() == "Sanitizer"
        router.write('{"level":"INFO","message":"processed"}\n')
        router.write("partial ")
        router.write("line\n")

    LocalFunction("Sanitizer", handler).invoke({})
    router.write("demo progress\n")
    assert terminal.getvalue() == "demo progress\n"
    assert log.getvalue() == '[Sanitizer] {"level":"INFO","message":"processed"}\n[Sanitizer] partial line\n'
