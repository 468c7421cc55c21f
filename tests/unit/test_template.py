"""template.yaml holds the promises the architecture makes: least privilege, retention, redrive, encryption.

These tests read the template through :mod:`local.template` (the same model the local stack uses) and
check the sample events in ``events/`` against it. No AWS, no sockets.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from local.template import AppModel, TemplateError, load_template
from oms.domain.envelope import IntakeEnvelope
from oms.domain.model import Platform
from oms.platforms import get_adapter, supported_platforms
from oms.platforms.base import WebhookRequest

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
CREDENTIALS = json.loads((ROOT / "local" / "credentials.json").read_text(encoding="utf-8"))

#: Resources in Allow statements that contain "*", and why each cannot be narrower.
UNAVOIDABLE_WILDCARDS = {
    # X-Ray's PutTraceSegments / PutTelemetryRecords support no resource-level permissions.
    "*": {"xray:PutTraceSegments", "xray:PutTelemetryRecords"},
    # Archive objects are named per batch (raw/<yyyy>/<mm>/<dd>/<hh>/<digest>.jsonl.gz).
    "${RawArchiveBucket.Arn}/raw/*": {"s3:PutObject", "s3:GetObject"},
    # Statement files are named per month, channel, currency and status (docs/settlements.md).
    "${SettlementBucket.Arn}/settlements/*": {"s3:PutObject", "s3:GetObject"},
    # The AWS managed aws/sns key's id is unknown to the template: such statements are bound to it
    # by kms:ResourceAliases and kms:ViaService (checked below).
    # Reports are named per run (diagnosis/<yyyy>/<mm>/<dd>/<id>.csv, patrols/...): one prefix each.
    "${ReportsBucket.Arn}/diagnosis/*": {"s3:PutObject", "s3:GetObject"},
    # the monthly fulfilment health report (HTML) and its presigned links
    "${ReportsBucket.Arn}/fulfilment/*": {"s3:PutObject", "s3:GetObject"},
    "${ReportsBucket.Arn}/patrols/*": {"s3:PutObject", "s3:GetObject"},
    # The health report is one per month (inventory/health/<yyyy>-<mm>/report.html|.csv).
    "${ReportsBucket.Arn}/inventory/health/*": {"s3:PutObject", "s3:GetObject"},
    # Stock difference reports are named per sync pass (inventory/differences/<yyyy>/<mm>/<dd>/<run>.csv).
    "${ReportsBucket.Arn}/inventory/differences/*": {"s3:PutObject", "s3:GetObject"},
    # The sync's one-shot second passes are named per first pass (D100), under one prefix.
    (
        "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}"
        ":schedule/default/inventory-second-pass-*"
    ): {"scheduler:CreateSchedule"},
    # Daily digests of return chain heads are named per day (returns/digests/<yyyy-mm-dd>.json).
    "${ReturnDigestBucket.Arn}/returns/digests/*": {"s3:PutObject", "s3:GetObject"},
    "arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*": {
        "kms:GenerateDataKey",
        "kms:Decrypt",
    },
    # Connect instances are per-merchant configuration (the notifier secret), not template resources;
    # the grant stays inside this account and region, and on outbound contacts only.
    "arn:${AWS::Partition}:connect:${AWS::Region}:${AWS::AccountId}:instance/*/contact/*": {
        "connect:StartOutboundVoiceContact"
    },
}
FUNCTION_EVENT_DIRS = {
    "WebhookIntakeFunction": "webhook_intake",
    "PayloadSanitizerFunction": "payload_sanitizer",
    "AdminApiFunction": "admin_api",
    "FulfilmentReportFunction": "fulfilment_report",
    "OrderPollerFunction": "order_poller",
    "OrderReconcilerFunction": "order_reconciler",
    "SettlementRecorderFunction": "settlement_recorder",
    "SettlementXmlFunction": "settlement_xml",
    "InventoryEventsFunction": "inventory_events",
    "CustomerIdentityFunction": "customer_identity",
    "SlaEscalatorFunction": "sla_escalator",
    "SlaDeadlinesFunction": "sla_deadlines",
    "WmsHeartbeatFunction": "wms_heartbeat",
    "InventoryHealthFunction": "inventory_health",
    "InventoryPollerFunction": "inventory_poller",
}
#: Functions whose alerts reach the notifiers in AWS (NOTIFIER_SECRET_NAME and the ledger's grants)
NOTIFYING_FUNCTIONS = {
    "SlaEscalatorFunction",
    "OrderReconcilerFunction",
    "InventoryEventsFunction",
    "InventoryPollerFunction",
    "AdminApiFunction",
}
#: Secrets that are not a platform's (channels and routes of the notifiers)
NON_PLATFORM_SECRETS = {"NotifierSecret", "WarehouseSecret"}
#: Functions not behind an HTTP route (schedules, queues)
NON_HTTP_DIRS = {
    "payload_sanitizer",
    "order_poller",
    "order_reconciler",
    "sla_escalator",
    "sla_deadlines",
    "settlement_recorder",
    "inventory_events",
    "customer_identity",
    "inventory_poller",
}
#: The returns capability (issue 8): its functions and the secrets only they read.
RETURN_FUNCTIONS = {"ReturnsApiFunction", "ReturnOpenerFunction", "ReturnJobsFunction"}
RETURN_SECRETS = {"ReturnCodeKeysSecret", "ReturnScannersSecret"}
#: Secrets that are not platform credentials: which function alone reads each.
KEY_SECRETS = {"CustomerIdentitySecret": "CustomerIdentityFunction"}
#: Platforms whose orders are pulled on a schedule: the only secrets the poller reads.
PULL_PLATFORM_SECRETS = ("PinduoduoSecret", "TaobaoSecret")


@pytest.fixture(scope="module")
def model() -> AppModel:
    return AppModel.load(ROOT / "template.yaml")


def properties(model: AppModel, logical_id: str) -> dict[str, Any]:
    return dict(model.resources[logical_id].get("Properties") or {})


def of_type(model: AppModel, kind: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: dict(resource.get("Properties") or {})
        for logical_id, resource in model.resources.items()
        if resource["Type"] == kind
    }


def allow_statements(model: AppModel, role_id: str) -> list[dict[str, Any]]:
    role = properties(model, role_id)
    return [
        statement
        for policy in role.get("Policies", [])
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    ]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_of(model: AppModel, function_id: str) -> str:
    role = properties(model, function_id).get("Role")
    assert isinstance(role, dict), f"{function_id} has no Role of its own"
    assert "Fn::GetAtt" in role, f"{function_id} has no Role of its own"
    role_id, attribute = role["Fn::GetAtt"]
    assert attribute == "Arn"
    assert model.resource_type(role_id) == "AWS::IAM::Role"
    return str(role_id)


# --------------------------------------------------------------------------- the loader


def test_short_form_tags_load_as_their_long_forms(tmp_path: Path):
    # GIVEN a template using every short form the project writes
    template = tmp_path / "t.yaml"
    template.write_text(
        "Conditions:\n"
        "  IsProd: !Equals [!Ref Stage, prod]\n"
        "Resources:\n"
        "  X:\n"
        "    Type: AWS::SQS::Queue\n"
        "    Properties:\n"
        "      A: !Ref Stage\n"
        "      B: !GetAtt Queue.Arn\n"
        "      C: !Sub '${AWS::StackName}-x'\n"
        "      D: !Sub ['${a}', {a: !Ref Stage}]\n"
        "      E: !If [IsProd, 1, !Ref AWS::NoValue]\n"
        "      F: !Join ['', [a, b]]\n",
        encoding="utf-8",
    )

    # WHEN it is loaded
    loaded = load_template(template)

    # THEN each tag is the mapping CloudFormation's JSON form uses
    props = loaded["Resources"]["X"]["Properties"]
    assert props["A"] == {"Ref": "Stage"}
    assert props["B"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert props["C"] == {"Fn::Sub": "${AWS::StackName}-x"}
    assert props["D"] == {"Fn::Sub": ["${a}", {"a": {"Ref": "Stage"}}]}
    assert props["E"] == {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}
    assert props["F"] == {"Fn::Join": ["", ["a", "b"]]}
    assert loaded["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}


def test_a_file_without_resources_is_rejected(tmp_path: Path):
    template = tmp_path / "t.yaml"
    template.write_text("Parameters: {}\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="no Resources"):
        load_template(template)


def test_events_are_modelled_with_globals_and_api_default_auth():
    # GIVEN a function whose route relies on the API's default authorizer, and a ScheduleV2 event
    template = {
        "Globals": {"Function": {"Timeout": 7, "Environment": {"Variables": {"A": "g", "B": "g"}}}},
        "Resources": {
            "Api": {
                "Type": "AWS::Serverless::HttpApi",
                "Properties": {"Auth": {"DefaultAuthorizer": "AWS_IAM"}},
            },
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/jobs/",
                    "Handler": "main.run",
                    "Environment": {"Variables": {"B": "own"}},
                    "Events": {
                        "Get": {
                            "Type": "HttpApi",
                            "Properties": {"ApiId": {"Ref": "Api"}, "Method": "get", "Path": "/x"},
                        },
                        "Open": {
                            "Type": "HttpApi",
                            "Properties": {
                                "ApiId": {"Ref": "Api"},
                                "Path": "/y",
                                "Auth": {"Authorizer": "NONE"},
                            },
                        },
                        "Nightly": {
                            "Type": "ScheduleV2",
                            "Properties": {
                                "ScheduleExpression": "cron(0 2 * * ? *)",
                                "ScheduleExpressionTimezone": "Asia/Shanghai",
                                "Input": '{"job": "nightly"}',
                            },
                        },
                        "Every15": {"Type": "Schedule", "Properties": {"Schedule": "rate(15 minutes)"}},
                    },
                },
            },
        },
    }

    # WHEN it is modelled
    model = AppModel.from_template(template)

    # THEN Globals fill the gaps and the function's own values win
    function = model.functions["Fn"]
    assert (function.module, function.handler, function.timeout, function.memory) == (
        "functions.jobs.main",
        "run",
        7,
        128,
    )
    assert function.environment == {"A": "g", "B": "own"}
    # AND a route without Auth inherits the API's default, NONE means open, ANY is the default method
    assert [(route.method, route.path, route.auth) for route in model.routes] == [
        ("GET", "/x", "AWS_IAM"),
        ("ANY", "/y", None),
    ]
    # AND both schedule kinds are parsed (a timezone only exists on ScheduleV2)
    assert [(s.expression, s.timezone, s.input) for s in model.schedules] == [
        ("cron(0 2 * * ? *)", "Asia/Shanghai", '{"job": "nightly"}'),
        ("rate(15 minutes)", None, None),
    ]


# --------------------------------------------------------------------------- functions


def test_every_function_points_at_an_importable_handler(model: AppModel):
    assert set(model.functions) == set(FUNCTION_EVENT_DIRS) | RETURN_FUNCTIONS
    for function in model.functions.values():
        assert importlib.util.find_spec(function.module) is not None, function.module
        assert function.handler == "handler"


def test_globals_set_the_runtime_and_every_setting_config_reads(model: AppModel):
    globals_ = model.globals_function
    assert globals_["Runtime"] == "python3.12"
    assert globals_["Architectures"] == ["arm64"]
    assert globals_["Tracing"] == "Active"
    assert globals_["Layers"] == [{"Ref": "SharedLayer"}]
    variables = globals_["Environment"]["Variables"]
    for name in (
        "STAGE",
        "ORDERS_TABLE",
        "OPS_TABLE",
        "IDEMPOTENCY_TABLE",
        "INTAKE_QUEUE_URL",
        "RAW_ARCHIVE_BUCKET",
        "PLATFORM_SECRET_PREFIX",
        "PLATFORM_BASE_URLS",
    ):
        assert name in variables, name
    assert variables["POWERTOOLS_SERVICE_NAME"] == "order-center"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "OrderCenter"
    # Events and responses carry personal data: never logged or traced.
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
    assert variables["PLATFORM_SECRET_PREFIX"] == {"Fn::Sub": "${AWS::StackName}/platforms/"}


def test_the_shared_layer_is_built_for_the_lambda_runtime(model: AppModel):
    layer = model.resources["SharedLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert layer["Properties"]["ContentUri"] == "layers/shared/"
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"] == {"BuildMethod": "python3.12", "BuildArchitecture": "arm64"}
    assert (ROOT / "layers" / "shared" / "requirements.txt").is_file()


def test_every_function_logs_to_its_own_group_with_a_retention(model: AppModel):
    for function_id in model.functions:
        function = properties(model, function_id)
        log_group_ref = function["LoggingConfig"]["LogGroup"]
        log_group = properties(model, log_group_ref["Ref"])
        assert model.resource_type(log_group_ref["Ref"]) == "AWS::Logs::LogGroup"
        # The group is the one Lambda would use by default, so nothing logs anywhere else.
        assert log_group["LogGroupName"] == {"Fn::Sub": "/aws/lambda/" + function["FunctionName"]["Fn::Sub"]}
        assert log_group["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_function_has_its_own_role_and_policy(model: AppModel):
    roles = {function_id: role_of(model, function_id) for function_id in model.functions}
    assert len(set(roles.values())) == len(roles), "functions share a role"
    for function_id, role_id in roles.items():
        role = properties(model, role_id)
        trust = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust == [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ]
        # No managed policies: SAM's defaults grant logs, SQS and X-Ray on every resource.
        assert "ManagedPolicyArns" not in role
        assert "Policies" not in properties(model, function_id)
        statements = allow_statements(model, role_id)
        log_statement = next(s for s in statements if "logs:PutLogEvents" in as_list(s["Action"]))
        own_group = properties(model, function_id)["LoggingConfig"]["LogGroup"]["Ref"]
        assert log_statement["Resource"] == {"Fn::GetAtt": [own_group, "Arn"]}, function_id


def test_iam_statements_name_resources_and_actions_exactly(model: AppModel):
    wildcards: list[tuple[str, Any, str]] = []
    for function_id in model.functions:
        for statement in allow_statements(model, role_of(model, function_id)):
            actions = as_list(statement["Action"])
            assert all("*" not in action for action in actions), (function_id, actions)
            if any(action.startswith("kms:") for action in actions):
                condition = statement["Condition"]
                assert condition["ForAnyValue:StringEquals"]["kms:ResourceAliases"].startswith("alias/aws/")
                assert "kms:ViaService" in condition["StringEquals"], function_id
            for resource in as_list(statement["Resource"]):
                text = resource if isinstance(resource, str) else resource.get("Fn::Sub", "")
                if "*" in text:
                    wildcards.extend((function_id, text, action) for action in actions)
    for function_id, resource, action in wildcards:
        assert action in UNAVOIDABLE_WILDCARDS.get(resource, set()), (function_id, resource, action)


def test_each_function_gets_only_what_its_job_needs(model: AppModel):
    def grants(function_id: str) -> dict[str, set[str]]:
        granted: dict[str, set[str]] = {}
        for statement in allow_statements(model, role_of(model, function_id)):
            for resource in as_list(statement["Resource"]):
                key = json.dumps(resource, sort_keys=True)
                granted.setdefault(key, set()).update(as_list(statement["Action"]))
        return granted

    def on(logical_id: str) -> str:
        return json.dumps({"Fn::GetAtt": [logical_id, "Arn"]}, sort_keys=True)

    intake, sanitizer, admin, poller, inventory, identity = (
        grants(f)
        for f in (
            "WebhookIntakeFunction",
            "PayloadSanitizerFunction",
            "AdminApiFunction",
            "OrderPollerFunction",
            "InventoryEventsFunction",
            "CustomerIdentityFunction",
        )
    )
    # Inventory touches its own table (and index) only, and no bucket or other table; in the Ops
    # table only the alert delivery ledger's items (the notifiers, D15).
    assert {key for key, actions in inventory.items() if any(a.startswith("dynamodb:") for a in actions)} == {
        on("InventoryTable"),
        json.dumps({"Fn::Sub": "${InventoryTable.Arn}/index/GSI1"}, sort_keys=True),
        on("OpsTable"),
    }
    [notify] = [
        s
        for s in allow_statements(model, role_of(model, "InventoryEventsFunction"))
        if s["Sid"] == "NotifyAlerts"
    ]
    assert notify["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"] == [
        "ALERT#*",
        "NOTIFYRATE#*",
    ]
    # Intake only enqueues and reads secrets: it writes no table and no bucket.
    assert intake[on("IntakeQueue")] == {"sqs:SendMessage"}
    assert not any(
        "dynamodb:" in action or "s3:" in action for actions in intake.values() for action in actions
    )
    # The sanitizer writes items but can neither scan nor delete a table's worth of data.
    assert "dynamodb:Scan" not in set().union(*sanitizer.values())
    assert "dynamodb:BatchWriteItem" not in set().union(*sanitizer.values())
    assert sanitizer[on("IntakeQueue")] == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }
    # The admin API reads data; it writes Ops items (cleaning rules, redrive records), order items
    # (forced status changes, published like every change), diagnosis exports, and moves DLQ
    # messages back to the intake queue and every consumer's DLQ back to its source queue (its own
    # logs and traces aside).
    data_actions = {
        action
        for actions in admin.values()
        for action in actions
        if not action.startswith(("logs:", "xray:"))
    }
    assert data_actions == {
        "dynamodb:GetItem",
        "dynamodb:Query",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",
        "s3:GetObject",
        "s3:PutObject",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:SendMessage",
        "sqs:GetQueueAttributes",
        "sns:Publish",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        # the notifiers: surge alerts raised by cart events (docs/notifiers.md)
        "secretsmanager:GetSecretValue",
        "connect:StartOutboundVoiceContact",
    }
    writes = {key for key, actions in admin.items() if "dynamodb:PutItem" in actions}
    assert writes == {on("OpsTable"), on("OrdersTable"), on("InventoryTable"), on("CustomersTable")}
    # Inventory receipts, adjustments and formulas update items, and so do review decisions, merges
    # and splits; SLA operators mark orders handled, move deadlines to a new policy and release
    # held pre-flights (Ops, SLA# / PREFLIGHT# only); clearing a surge breaker deletes one, and a
    # notification that failed gives its claim on the alert ledger back (Ops, ALERT# only).
    assert {key for key, actions in admin.items() if "dynamodb:UpdateItem" in actions} == {
        on("InventoryTable"),
        on("CustomersTable"),
        on("OpsTable"),
    }
    assert {key for key, actions in admin.items() if "dynamodb:DeleteItem" in actions} == {
        on("InventoryTable"),
        on("OpsTable"),
    }
    bucket_writes = {key for key, actions in admin.items() if "s3:PutObject" in actions}
    assert bucket_writes == {json.dumps({"Fn::Sub": "${ReportsBucket.Arn}/diagnosis/*"})}
    assert admin[on("IntakeDLQ")] == {
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
    }
    assert admin[on("IntakeQueue")] == {"sqs:SendMessage"}
    consumer_dlqs = (
        "ReconcileDLQ",
        "InventoryEventsDLQ",
        "SlaDLQ",
        "SettlementDLQ",
        "ReturnsDLQ",
        "CustomersDLQ",
    )
    for dlq in consumer_dlqs:
        assert admin[on(dlq)] == {
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
        }
        assert admin[on(dlq.replace("DLQ", "Queue"))] == {"sqs:SendMessage"}
    assert {key for key, actions in admin.items() if "sqs:SendMessage" in actions} == {
        on(queue) for queue in ("IntakeQueue", *(dlq.replace("DLQ", "Queue") for dlq in consumer_dlqs))
    }
    # The poller enqueues and reads/writes its cursors: no order data, no archive, no deletes.
    assert poller[on("IntakeQueue")] == {"sqs:SendMessage"}
    assert poller[on("OpsTable")] == {"dynamodb:GetItem", "dynamodb:PutItem"}
    assert not any("s3:" in action for actions in poller.values() for action in actions)
    assert on("OrdersTable") not in poller
    # Customer identity reads orders, writes only the Customers table, never deletes or scans.
    assert identity[on("OrdersTable")] == {"dynamodb:GetItem"}
    assert {"dynamodb:DeleteItem", "dynamodb:Scan"}.isdisjoint(identity[on("CustomersTable")])
    assert identity[on("CustomersQueue")] == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
    }


def test_every_platform_secret_is_readable_by_intake_and_sanitizer_only(model: AppModel):
    secret_refs = [
        {"Ref": logical_id}
        for logical_id in model.secrets
        if logical_id not in NON_PLATFORM_SECRETS | RETURN_SECRETS and logical_id not in KEY_SECRETS
    ]
    for function_id in set(model.functions) - RETURN_FUNCTIONS:
        readers = [
            statement
            for statement in allow_statements(model, role_of(model, function_id))
            if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
        ]
        # The notifier secret (channels and routes) is read, alone, by the functions that raise alerts.
        notifier = [statement for statement in readers if statement["Resource"] == {"Ref": "NotifierSecret"}]
        readers = [statement for statement in readers if statement not in notifier]
        assert bool(notifier) == (function_id in NOTIFYING_FUNCTIONS), function_id
        if function_id in (
            "SettlementRecorderFunction",
            "SettlementXmlFunction",
            "SlaDeadlinesFunction",
            "InventoryHealthFunction",
            "FulfilmentReportFunction",
        ):
            assert readers == []
        elif function_id in KEY_SECRETS.values():
            assert [as_list(statement["Resource"]) for statement in readers] == [
                [{"Ref": secret} for secret, reader in KEY_SECRETS.items() if reader == function_id]
            ]
        elif function_id in ("SlaEscalatorFunction", "AdminApiFunction", "InventoryEventsFunction"):
            # Only the notifier secret (above), never a platform's.
            assert readers == []
        elif function_id == "WmsHeartbeatFunction":
            # The warehouses' own secrets, and the notifiers' for the recovery message.
            assert sorted(map(json.dumps, as_list(readers[0]["Resource"]))) == sorted(
                json.dumps({"Ref": name}) for name in ("NotifierSecret", "WarehouseSecret")
            )
        elif function_id == "InventoryPollerFunction":
            # Every platform it pushes stock to; WeChat mini-program orders are the merchant's own store.
            assert len(readers) == 1
            assert sorted(map(json.dumps, as_list(readers[0]["Resource"]))) == sorted(
                json.dumps(ref) for ref in secret_refs if ref != {"Ref": "WechatMiniSecret"}
            )
        elif function_id == "OrderPollerFunction":
            assert len(readers) == 1
            assert sorted(map(json.dumps, as_list(readers[0]["Resource"]))) == sorted(
                json.dumps({"Ref": logical_id}) for logical_id in PULL_PLATFORM_SECRETS
            )
        else:
            assert len(readers) == 1
            assert sorted(map(json.dumps, as_list(readers[0]["Resource"]))) == sorted(
                map(json.dumps, secret_refs)
            )


# --------------------------------------------------------------------------- events and queues


def test_the_sanitizer_consumes_the_intake_queue_in_batches_with_partial_failures(model: AppModel):
    (source,) = [source for source in model.queue_sources if source.queue_id == "IntakeQueue"]
    assert source.function_id == "PayloadSanitizerFunction"
    assert source.queue_id == "IntakeQueue"
    assert source.batch_size == 10
    assert source.report_batch_item_failures
    assert source.maximum_batching_window_s == 0  # not supported on FIFO queues
    event = properties(model, "PayloadSanitizerFunction")["Events"]["Intake"]["Properties"]
    assert 2 <= event["ScalingConfig"]["MaximumConcurrency"] <= 1000


def test_the_patrol_runs_every_15_minutes_and_fans_out_through_its_queue(model: AppModel):
    function = properties(model, "OrderReconcilerFunction")
    schedule = function["Events"]["Schedule"]
    assert (schedule["Type"], schedule["Properties"]["ScheduleExpression"]) == (
        "ScheduleV2",
        "rate(15 minutes)",
    )
    (source,) = [source for source in model.queue_sources if source.queue_id == "ReconcileQueue"]
    assert source.function_id == "OrderReconcilerFunction"
    assert source.report_batch_item_failures
    queue = properties(model, "ReconcileQueue")
    assert queue["VisibilityTimeout"] >= 6 * function["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["ReconcileDLQ", "Arn"]}
    # Open orders come from the status index only: no Scan, anywhere.
    statements = allow_statements(model, role_of(model, "OrderReconcilerFunction"))
    assert not any("dynamodb:Scan" in as_list(statement["Action"]) for statement in statements)
    selection = next(statement for statement in statements if statement.get("Sid") == "SelectOpenOrders")
    assert selection["Resource"] == {"Fn::Sub": "${OrdersTable.Arn}/index/GSI1"}


def test_no_sqs_triggered_function_has_a_function_level_dead_letter_queue(model: AppModel):
    # It would only cover asynchronous invokes; SQS failures go through the queue's redrive policy.
    assert "DeadLetterQueue" not in model.globals_function
    for source in model.queue_sources:
        assert "DeadLetterQueue" not in properties(model, source.function_id)


def test_the_intake_queue_is_fifo_and_redrives_to_a_fifo_dlq(model: AppModel):
    queue = model.queues["IntakeQueue"]
    assert queue["FifoQueue"] is True
    assert queue["ContentBasedDeduplication"] is False
    assert queue["DeduplicationScope"] == "messageGroup"
    assert queue["FifoThroughputLimit"] == "perMessageGroupId"
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["IntakeDLQ", "Arn"]},
        "maxReceiveCount": {"Ref": "MaxReceiveCount"},
    }
    assert model.parameters["MaxReceiveCount"] == 5
    # AWS's advice for SQS event sources: visibility at least 6 x the function timeout.
    assert queue["VisibilityTimeout"] == 6 * model.functions["PayloadSanitizerFunction"].timeout

    dlq = model.queues["IntakeDLQ"]
    assert dlq["FifoQueue"] is True
    assert dlq["SqsManagedSseEnabled"] is True
    assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
    allow = dlq["RedriveAllowPolicy"]
    assert allow["redrivePermission"] == "byQueue"
    # The DLQ admits exactly the intake queue, named as IntakeQueue names itself.
    (source_arn,) = allow["sourceQueueArns"]
    assert source_arn["Fn::Sub"].endswith(":" + queue["QueueName"]["Fn::Sub"])


def test_an_alarm_fires_on_the_first_message_in_the_dlq(model: AppModel):
    alarms = {
        alarm["Dimensions"][0]["Value"]["Fn::GetAtt"][0]: alarm
        for alarm in of_type(model, "AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) >= {"IntakeDLQ", "SettlementDLQ", "CustomersDLQ"}
    for dlq_id, alarm in alarms.items():
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}]
        assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
        assert alarm["AlarmActions"]


# --------------------------------------------------------------------------- HTTP API


def test_webhooks_are_open_to_platforms_and_admin_routes_need_iam(model: AppModel):
    routes = {(route.method, route.path): route for route in model.routes}
    assert routes[("POST", "/webhooks/{platform}")].function_id == "WebhookIntakeFunction"
    assert routes[("GET", "/webhooks/{platform}")].function_id == "WebhookIntakeFunction"
    assert routes[("POST", "/webhooks/{platform}")].auth is None
    assert routes[("GET", "/webhooks/{platform}")].auth is None
    for route in model.routes:
        if route.function_id == "AdminApiFunction":
            assert route.auth == "AWS_IAM", route
    api = properties(model, "HttpApi")
    # A route added without Auth is IAM-protected, not public.
    assert api["Auth"] == {"EnableIamAuthorizer": True, "DefaultAuthorizer": "AWS_IAM"}
    assert api["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": ["HttpApiAccessLogGroup", "Arn"]}
    assert properties(model, "HttpApiAccessLogGroup")["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_the_push_route_is_throttled(model: AppModel):
    push = properties(model, "WebhookIntakeFunction")["Events"]["Push"]["Properties"]["RouteSettings"]
    assert 0 < push["ThrottlingRateLimit"] <= push["ThrottlingBurstLimit"]


# --------------------------------------------------------------------------- data


def test_tables_are_on_demand_encrypted_and_recoverable(model: AppModel):
    assert set(model.tables) == {
        "OrdersTable",
        "OpsTable",
        "IdempotencyTable",
        "SettlementTable",
        "ReturnsTable",
        "InventoryTable",
        "CustomersTable",
    }
    for logical_id, table in model.tables.items():
        assert table["BillingMode"] == "PAY_PER_REQUEST", logical_id
        assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, logical_id
        assert table["SSESpecification"] == {"SSEEnabled": True}, logical_id
    for logical_id in ("OrdersTable", "OpsTable"):
        resource = model.resources[logical_id]
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
        assert model.tables[logical_id]["TimeToLiveSpecification"] == {
            "AttributeName": "expires_at",
            "Enabled": True,
        }
        assert [key["AttributeName"] for key in model.tables[logical_id]["KeySchema"]] == ["PK", "SK"]
    indexes = {index["IndexName"] for index in model.tables["OrdersTable"]["GlobalSecondaryIndexes"]}
    assert indexes == {"GSI1", "GSI2", "GSI3"}
    ops_indexes = {index["IndexName"] for index in model.tables["OpsTable"]["GlobalSecondaryIndexes"]}
    assert ops_indexes == {"GSI1", "GSI2"}
    idempotency = model.tables["IdempotencyTable"]
    assert idempotency["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert idempotency["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    inventory = model.tables["InventoryTable"]
    # Reservations expire by conditions and the sweeper; the ledger is kept: no TTL on purpose.
    assert "TimeToLiveSpecification" not in inventory
    assert model.resources["InventoryTable"]["DeletionPolicy"] == "Retain"


def test_the_archive_bucket_is_tiered_and_expires(model: AppModel):
    bucket = model.buckets["RawArchiveBucket"]
    rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
    tiers = rules["raw-payload-tiers"]
    assert [(step["StorageClass"], step["TransitionInDays"]) for step in tiers["Transitions"]] == [
        ("STANDARD_IA", 30),
        ("GLACIER_IR", 90),
    ]
    assert tiers["ExpirationInDays"] == {"Ref": "RawArchiveRetentionDays"}


def test_every_bucket_is_private_encrypted_versioned_and_tls_only(model: AppModel):
    policies = {
        policy["Bucket"]["Ref"]: policy for policy in of_type(model, "AWS::S3::BucketPolicy").values()
    }
    assert model.buckets
    for name, bucket in model.buckets.items():
        assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
            ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
        ), name
        assert bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}, name
        assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}, name
        (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms"), name
        rules = {rule["Id"]: rule for rule in bucket["LifecycleConfiguration"]["Rules"]}
        assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] > 0
        deny = next(
            statement
            for statement in policies[name]["PolicyDocument"]["Statement"]
            if statement.get("Sid") == "DenyInsecureTransport"
        )
        assert (deny["Effect"], deny["Action"]) == ("Deny", "s3:*"), name
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, name


def test_there_is_an_empty_secret_for_every_platform_with_an_adapter(model: AppModel):
    names = {}
    for logical_id, secret in model.secrets.items():
        if logical_id in RETURN_SECRETS:
            continue
        assert secret["SecretString"] == "{}", logical_id  # the operator fills it, never the template
        if logical_id in KEY_SECRETS or logical_id in NON_PLATFORM_SECRETS:
            continue
        prefix, _, platform = secret["Name"]["Fn::Sub"].rpartition("/")
        assert prefix + "/" == "${AWS::StackName}/platforms/"
        names[Platform(platform)] = logical_id
    assert set(names) == set(supported_platforms())


# --------------------------------------------------------------------------- sample events


def sample_events(directory: str) -> list[Path]:
    paths = sorted((EVENTS / directory).glob("*.json"))
    assert paths, f"no sample events in events/{directory}"
    return paths


@pytest.mark.parametrize(
    ("function_id", "directory"),
    [(f, d) for f, d in FUNCTION_EVENT_DIRS.items() if d not in NON_HTTP_DIRS],
)
def test_http_sample_events_hit_a_route_of_their_function(model: AppModel, function_id: str, directory: str):
    routes = {
        f"{route.method} {route.path}": route for route in model.routes if route.function_id == function_id
    }
    for path in sample_events(directory):
        event = json.loads(path.read_text(encoding="utf-8"))
        assert event["version"] == "2.0", path.name
        route = routes.get(event["routeKey"])
        assert route is not None, (path.name, event["routeKey"])
        # IAM routes reach the function only with a SigV4 caller in the request context.
        assert ("authorizer" in event["requestContext"]) == (route.auth == "AWS_IAM"), path.name


def webhook_request(event: dict[str, Any]) -> WebhookRequest:
    return WebhookRequest(
        method=event["requestContext"]["http"]["method"],
        headers=event["headers"],
        query=event.get("queryStringParameters") or {},
        body=(event.get("body") or "").encode("utf-8"),
    )


@pytest.mark.parametrize("path", sample_events("webhook_intake"), ids=lambda path: path.stem)
def test_webhook_samples_are_signed_with_the_local_credentials(path: Path):
    # GIVEN a sample push and the local stack's credentials for its platform
    event = json.loads(path.read_text(encoding="utf-8"))
    adapter = get_adapter(event["pathParameters"]["platform"])
    request = webhook_request(event)
    apps = CREDENTIALS[str(adapter.platform)]
    secrets = apps[adapter.app_id(request) or next(iter(apps))]

    # WHEN the adapter checks it THEN only samples named "forged" are refused
    def check() -> None:
        if adapter.handshake(request, secrets) is None:
            adapter.verify(request, secrets)

    if "forged" in path.stem:
        with pytest.raises(Exception, match="signature"):
            check()
    else:
        check()


@pytest.mark.parametrize("path", sample_events("payload_sanitizer"), ids=lambda path: path.stem)
def test_sanitizer_samples_carry_intake_envelopes_from_the_intake_queue(model: AppModel, path: Path):
    queue_name = model.queues["IntakeQueue"]["QueueName"]["Fn::Sub"].replace("${AWS::StackName}", "")
    records = json.loads(path.read_text(encoding="utf-8"))["Records"]
    assert 1 <= len(records) <= model.queue_sources[0].batch_size
    for record in records:
        envelope = IntakeEnvelope.model_validate_json(record["body"])
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"].endswith(queue_name)
        assert record["attributes"]["MessageGroupId"] == envelope.message_group
        assert int(record["attributes"]["ApproximateReceiveCount"]) >= 1


# --------------------------------------------------------------------------- settlement (issue #6)


def test_settlement_roles_reach_only_their_table_prefix_and_queue(model: AppModel):
    def statements(role_id: str) -> list[dict[str, Any]]:
        return [
            s
            for s in allow_statements(model, role_id)
            if not as_list(s["Action"])[0].startswith(("logs:", "xray:"))
        ]

    recorder = statements(role_of(model, "SettlementRecorderFunction"))
    assert {json.dumps(s["Resource"], sort_keys=True): set(as_list(s["Action"])) for s in recorder} == {
        json.dumps({"Fn::GetAtt": ["SettlementQueue", "Arn"]}): {
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        },
        json.dumps({"Fn::GetAtt": ["SettlementTable", "Arn"]}): {"dynamodb:PutItem"},
    }
    xml = statements(role_of(model, "SettlementXmlFunction"))
    s3_resources = {
        json.dumps(r)
        for s in xml
        for r in as_list(s["Resource"])
        if any("s3:" in a for a in as_list(s["Action"]))
    }
    assert s3_resources == {
        json.dumps({"Fn::Sub": "${SettlementBucket.Arn}/settlements/*"}),
        json.dumps({"Fn::GetAtt": ["SettlementBucket", "Arn"]}),
    }
    listing = next(s for s in xml if "s3:ListBucket" in as_list(s["Action"]))
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "settlements/*"}}
    assert not any(
        "dynamodb:DeleteItem" in as_list(s["Action"]) or "dynamodb:UpdateItem" in as_list(s["Action"])
        for s in recorder + xml
    )


def test_the_finance_role_reads_only_settlement_files_and_their_links(model: AppModel):
    role = properties(model, "FinanceReadRole")
    granted = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    assert all(s["Effect"] == "Allow" for s in granted)
    actions = {a for s in granted for a in as_list(s["Action"])}
    assert actions == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:ListBucket",
        "s3:ListBucketVersions",
        "execute-api:Invoke",
    }
    objects = next(s for s in granted if "s3:GetObject" in as_list(s["Action"]))
    assert objects["Resource"] == {"Fn::Sub": "${SettlementBucket.Arn}/settlements/*"}
    listing = next(s for s in granted if "s3:ListBucket" in as_list(s["Action"]))
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "settlements/*"}}
    invoke = next(s for s in granted if "execute-api:Invoke" in as_list(s["Action"]))
    assert invoke["Resource"]["Fn::Sub"].endswith("${HttpApi}/*/GET/settlements")


def test_statements_run_monthly_at_two_in_shanghai_and_on_demand(model: AppModel):
    (schedule,) = [s for s in model.schedules if s.function_id == "SettlementXmlFunction"]
    assert (schedule.expression, schedule.timezone) == ("cron(0 2 1 * ? *)", "Asia/Shanghai")
    assert json.loads(schedule.input or "{}")["scheduled_time"] == "<aws.scheduler.scheduled-time>"
    routes = {(r.method, r.path): r.auth for r in model.routes if r.function_id == "SettlementXmlFunction"}
    assert routes == {
        ("POST", "/settlements/generate"): "AWS_IAM",
        ("GET", "/settlements"): "AWS_IAM",
        ("POST", "/settlements/entries"): "AWS_IAM",
    }
    subscription = properties(model, "SettlementSubscription")
    assert subscription["RawMessageDelivery"] is True
    assert subscription["TopicArn"] == {"Ref": "OrderEventsTopic"}
    assert "pending_payment" not in subscription["FilterPolicy"]["status_after"]


def test_the_sla_consumer_takes_order_changes_from_its_own_queue(model: AppModel):
    (source,) = [s for s in model.queue_sources if s.function_id == "SlaDeadlinesFunction"]
    assert source.queue_id == "SlaQueue"
    assert source.report_batch_item_failures
    subscription = model.resources["SlaSubscription"]["Properties"]
    assert subscription["TopicArn"] == {"Ref": "OrderEventsTopic"}
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["SlaQueue", "Arn"]}
    assert subscription["RawMessageDelivery"] is True
    # Awaiting payment starts no clock: the filter keeps those changes off the queue.
    assert "pending_payment" not in subscription["FilterPolicy"]["status_after"]
    redrive = model.resources["SlaQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["SlaDLQ", "Arn"]}


# --------------------------------------------------------------------------- returns (issue 8)


def test_return_functions_read_only_the_return_secrets_and_never_delete(model: AppModel):
    for function_id in RETURN_FUNCTIONS:
        statements = allow_statements(model, role_of(model, function_id))
        actions = {action for statement in statements for action in as_list(statement["Action"])}
        assert not {"dynamodb:DeleteItem", "s3:DeleteObject", "s3:BypassGovernanceRetention"} & actions
        for statement in statements:
            if "secretsmanager:GetSecretValue" in as_list(statement["Action"]):
                assert {ref["Ref"] for ref in as_list(statement["Resource"])} <= RETURN_SECRETS, function_id
    routes = {(route.method, route.path): route.auth for route in model.routes}
    # Operators need SigV4; devices sign scans with their own keys; the customer holds the code.
    assert routes[("POST", "/returns")] == "AWS_IAM"
    assert routes[("GET", "/returns/{code}/verify")] == "AWS_IAM"
    assert routes[("GET", "/returns/{code}/evidence")] == "AWS_IAM"
    assert routes[("POST", "/returns/{code}/scans")] is None
    assert routes[("GET", "/returns/{code}")] is None


def test_the_digest_bucket_is_write_once_and_the_code_keys_are_generated(model: AppModel):
    bucket = model.buckets["ReturnDigestBucket"]
    assert bucket["ObjectLockEnabled"] is True
    retention = bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention["Mode"] == {"Fn::If": ["IsProd", "COMPLIANCE", "GOVERNANCE"]}
    assert retention["Days"] == {"Ref": "ReturnDigestRetentionDays"}
    keys = model.secrets["ReturnCodeKeysSecret"]
    assert "SecretString" not in keys  # the key never appears in the template
    generated = keys["GenerateSecretString"]
    assert json.loads(generated["SecretStringTemplate"]) == {"current": generated["GenerateStringKey"]}
    assert generated["PasswordLength"] >= 32
    subscription = model.resources["ReturnsSubscription"]["Properties"]
    assert subscription["Endpoint"] == {"Fn::GetAtt": ["ReturnsQueue", "Arn"]}
    assert subscription["RawMessageDelivery"] is True
    assert set(subscription["FilterPolicy"]["refund_after"]) == {"requested", "refunding"}
    (opener,) = [source for source in model.queue_sources if source.queue_id == "ReturnsQueue"]
    assert (opener.function_id, opener.report_batch_item_failures) == ("ReturnOpenerFunction", True)


def test_inventory_consumes_order_changes_through_its_own_queue_and_sweeps_every_minute(model: AppModel):
    (source,) = [s for s in model.queue_sources if s.function_id == "InventoryEventsFunction"]
    assert source.queue_id == "InventoryEventsQueue"
    assert source.report_batch_item_failures
    queue = model.resources["InventoryEventsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["InventoryEventsDLQ", "Arn"]}
    subscription = model.resources["InventoryEventsSubscription"]["Properties"]
    assert subscription["TopicArn"] == {"Ref": "OrderEventsTopic"}
    assert subscription["Protocol"] == "sqs"
    assert subscription["RawMessageDelivery"] is True
    sweep = properties(model, "InventoryEventsFunction")["Events"]["Sweep"]["Properties"]
    assert sweep["ScheduleExpression"] == "rate(1 minute)"
    assert json.loads(sweep["Input"]) == {"sweep": True, "scheduled_time": "<aws.scheduler.scheduled-time>"}
