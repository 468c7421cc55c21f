"""local.resources.deploy() builds the template's resources in moto, and resolves what handlers read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws
from moto.server import ThreadedMotoServer

from local.resources import NO_VALUE, Deployed, UnsafeTargetError, deploy
from local.template import AppModel, TemplateError
from oms.adapters.order_events_topic import SnsOrderChangePublisher
from oms.config import Settings
from oms.domain.model import EventKey, EventSource, HistoryEntry, Order, Outcome, Platform
from oms.domain.order_events import OrderChanged
from oms.domain.status import OrderStatus, RefundStatus

ROOT = Path(__file__).resolve().parents[2]
CREDENTIALS_FILE = ROOT / "local" / "credentials.json"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def model() -> AppModel:
    return AppModel.load(ROOT / "template.yaml")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def deployed(model: AppModel, aws: None) -> Deployed:
    return deploy(model, credentials_file=CREDENTIALS_FILE)


# --------------------------------------------------------------------------- what deploy() creates


def test_every_table_is_created_with_its_keys_indexes_ttl_and_backups(model: AppModel, deployed: Deployed):
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    assert sorted(dynamodb.list_tables()["TableNames"]) == sorted(deployed.names[t] for t in model.tables)
    for logical_id, spec in model.tables.items():
        name = deployed.names[logical_id]
        assert name == f"oms-local-{logical_id}"
        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["TableArn"] == deployed.arns[logical_id]
        assert table["KeySchema"] == spec["KeySchema"]
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert table["SSEDescription"]["Status"] == "ENABLED"
        assert table["DeletionProtectionEnabled"] is False  # Stage=dev
        expected_indexes = {index["IndexName"]: index for index in spec.get("GlobalSecondaryIndexes", [])}
        actual_indexes = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
        assert set(actual_indexes) == set(expected_indexes)
        for index_name, index in expected_indexes.items():
            assert actual_indexes[index_name]["KeySchema"] == index["KeySchema"]
            assert actual_indexes[index_name]["Projection"] == index["Projection"]
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == (
            "ENABLED",
            spec["TimeToLiveSpecification"]["AttributeName"],
        )
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"


def test_queues_are_fifo_and_the_intake_queue_redrives_to_the_dlq(model: AppModel, deployed: Deployed):
    sqs = boto3.client("sqs", region_name=REGION)
    assert sorted(sqs.list_queues()["QueueUrls"]) == sorted(deployed.queue_urls[q] for q in model.queues)
    intake = sqs.get_queue_attributes(QueueUrl=deployed.queue_urls["IntakeQueue"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert deployed.names["IntakeQueue"] == "oms-local-IntakeQueue.fifo"
    assert intake["QueueArn"] == deployed.arns["IntakeQueue"]
    assert intake["FifoQueue"] == "true"
    assert intake["ContentBasedDeduplication"] == "false"
    assert intake["DeduplicationScope"] == "messageGroup"
    assert intake["FifoThroughputLimit"] == "perMessageGroupId"
    assert intake["VisibilityTimeout"] == "180"
    assert intake["SqsManagedSseEnabled"] == "true"
    assert json.loads(intake["RedrivePolicy"]) == {
        "deadLetterTargetArn": deployed.arns["IntakeDLQ"],
        "maxReceiveCount": 5,
    }
    dlq = sqs.get_queue_attributes(QueueUrl=deployed.queue_urls["IntakeDLQ"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert dlq["FifoQueue"] == "true"
    assert dlq["MessageRetentionPeriod"] == "1209600"


def test_a_message_received_max_receive_count_times_moves_to_the_dlq(deployed: Deployed):
    # GIVEN a message on the intake queue
    sqs = boto3.client("sqs", region_name=REGION)
    url = deployed.queue_urls["IntakeQueue"]
    sqs.send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="d")

    # WHEN it is received and never deleted, as often as the redrive policy allows
    for _ in range(5):
        (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
        sqs.change_message_visibility(
            QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )

    # THEN the next receive finds it in the dead-letter queue instead
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", []) == []
    moved = sqs.receive_message(QueueUrl=deployed.queue_urls["IntakeDLQ"], MaxNumberOfMessages=1)["Messages"]
    assert [message["Body"] for message in moved] == ["{}"]


def test_the_archive_bucket_is_encrypted_private_versioned_and_tiered(deployed: Deployed):
    s3 = boto3.client("s3", region_name=REGION)
    bucket = deployed.names["RawArchiveBucket"]
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    (rule,) = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert len(block) == 4
    ownership = s3.get_bucket_ownership_controls(Bucket=bucket)["OwnershipControls"]
    assert ownership == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    rules = {rule["ID"]: rule for rule in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]}
    tiers = rules["raw-payload-tiers"]
    assert tiers["Filter"] == {"Prefix": "raw/"}
    assert tiers["Transitions"] == [
        {"Days": 30, "StorageClass": "STANDARD_IA"},
        {"Days": 90, "StorageClass": "GLACIER_IR"},
    ]
    assert tiers["Expiration"] == {"Days": 400}
    assert rules["abort-incomplete-uploads"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    # Handlers can write and read the archive (the TLS-only deny is not applied in moto: see resources.py).
    s3.put_object(Bucket=bucket, Key="raw/probe", Body=b"x")
    assert s3.get_object(Bucket=bucket, Key="raw/probe")["Body"].read() == b"x"


def test_each_platform_secret_holds_its_section_of_the_credentials_file(model: AppModel, deployed: Deployed):
    secrets_manager = boto3.client("secretsmanager", region_name=REGION)
    credentials = json.loads(CREDENTIALS_FILE.read_text(encoding="utf-8"))
    for logical_id in model.secrets:
        name = deployed.names[logical_id]
        # ``<stack>/<capability>/<section>``: the last segment names the credentials.json section.
        platform = name.rsplit("/", 1)[-1]
        if platform not in credentials:
            continue  # generated (the return-code keys): see the next test
        value = secrets_manager.get_secret_value(SecretId=name)
        assert value["ARN"] == deployed.arns[logical_id]
        assert json.loads(value["SecretString"]) == credentials[platform]


def test_without_a_credentials_file_secrets_keep_the_template_value(
    model: AppModel, aws: None, tmp_path: Path
):
    partial = tmp_path / "credentials.json"
    partial.write_text(json.dumps({"douyin": {"app": {"app_key": "k", "app_secret": "s"}}}), encoding="utf-8")
    with_partial = deploy(model, credentials_file=partial, stack_name="partial")
    without = deploy(model, credentials_file=tmp_path / "missing.json", stack_name="none")
    secrets_manager = boto3.client("secretsmanager", region_name=REGION)

    def value(stack: Deployed, logical_id: str) -> Any:
        return json.loads(secrets_manager.get_secret_value(SecretId=stack.names[logical_id])["SecretString"])

    assert value(with_partial, "DouyinSecret") == {"app": {"app_key": "k", "app_secret": "s"}}
    assert value(with_partial, "ShopifySecret") == {}
    assert all(
        value(without, logical_id) == {}
        for logical_id in model.secrets
        if "GenerateSecretString" not in model.secrets[logical_id]
    )


def test_a_generated_secret_holds_a_random_key_inside_its_template(model: AppModel, deployed: Deployed):
    secrets_manager = boto3.client("secretsmanager", region_name=REGION)
    name = deployed.names["ReturnCodeKeysSecret"]
    keys = json.loads(secrets_manager.get_secret_value(SecretId=name)["SecretString"])
    assert set(keys) == {"current", "1"}
    assert keys["current"] == "1"
    assert len(keys["1"]) == 64
    assert keys["1"].isalnum()  # ExcludePunctuation
    scanners = json.loads(
        secrets_manager.get_secret_value(SecretId=deployed.names["ReturnScannersSecret"])["SecretString"]
    )
    assert scanners["pda-wh-hz-01"]["role"] == "warehouse"


def test_an_object_lock_bucket_locks_every_object_by_default(deployed: Deployed):
    s3 = boto3.client("s3", region_name=REGION)
    bucket = deployed.names["ReturnDigestBucket"]
    lock = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    assert lock["ObjectLockEnabled"] == "Enabled"
    assert (lock["Rule"]["DefaultRetention"]["Mode"], lock["Rule"]["DefaultRetention"]["Days"]) == (
        "GOVERNANCE",
        1095,
    )
    version = s3.put_object(Bucket=bucket, Key="returns/digests/probe.json", Body=b"{}")["VersionId"]
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=bucket, Key="returns/digests/probe.json", VersionId=version)


def test_deploying_twice_to_the_same_backend_is_harmless(model: AppModel, deployed: Deployed):
    again = deploy(model, credentials_file=CREDENTIALS_FILE)
    assert (again.names, again.queue_urls, again.arns) == (deployed.names, deployed.queue_urls, deployed.arns)


def test_parameter_overrides_reach_resources_and_environment(model: AppModel, aws: None):
    prod = deploy(model, parameter_overrides={"Stage": "prod", "MaxReceiveCount": "3"}, stack_name="p")
    table = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=prod.names["OrdersTable"])
    assert table["Table"]["DeletionProtectionEnabled"] is True
    redrive = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=prod.queue_urls["IntakeQueue"], AttributeNames=["RedrivePolicy"]
    )["Attributes"]["RedrivePolicy"]
    assert json.loads(redrive)["maxReceiveCount"] == 3
    assert prod.function_env("AdminApiFunction")["STAGE"] == "prod"
    with pytest.raises(TemplateError, match="unknown parameters"):
        deploy(model, parameter_overrides={"Stagee": "prod"})


def test_deploy_refuses_an_account_that_is_not_moto(model: AppModel, aws: None):
    # GIVEN a session whose STS answers as some real-looking account
    session = boto3.session.Session(region_name=REGION)
    sts = session.client("sts")
    stubber = Stubber(sts)
    stubber.add_response(
        "get_caller_identity", {"Account": "210987654321", "Arn": "arn:aws:iam::210987654321:root"}
    )
    stubber.activate()

    class OneStsSession:
        def client(self, service: str, **kwargs: Any) -> Any:
            return sts if service == "sts" else session.client(service, **kwargs)

    # WHEN deploy() is pointed at it THEN nothing is created
    with pytest.raises(UnsafeTargetError, match="210987654321"):
        deploy(model, session=OneStsSession())  # type: ignore[arg-type]
    assert boto3.client("dynamodb", region_name=REGION).list_tables()["TableNames"] == []


# --------------------------------------------------------------------------- what handlers read


#: Variables whose empty value is a setting of its own (no administrators: nobody may force a status).
MAY_BE_EMPTY = frozenset({"ADMIN_PRINCIPAL_ARNS"})


def test_function_env_resolves_every_variable_to_a_concrete_string(model: AppModel, deployed: Deployed):
    for function_id in model.functions:
        env = deployed.function_env(function_id)
        assert set(env) == set(model.functions[function_id].environment)
        for name, value in env.items():
            assert isinstance(value, str), (function_id, name)
            assert value or name in MAY_BE_EMPTY, (function_id, name)
            assert "${" not in value, (function_id, name, value)


def test_the_resolved_settings_point_at_the_deployed_resources(deployed: Deployed):
    # GIVEN the settings a handler builds from its environment
    settings = Settings.from_env(deployed.function_env("PayloadSanitizerFunction"))

    # THEN each name reaches the resource deploy() created
    boto3.client("dynamodb", region_name=REGION).describe_table(TableName=settings.orders_table)
    boto3.client("dynamodb", region_name=REGION).describe_table(TableName=settings.ops_table)
    boto3.client("dynamodb", region_name=REGION).describe_table(TableName=settings.idempotency_table)
    boto3.client("s3", region_name=REGION).head_bucket(Bucket=settings.raw_archive_bucket)
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(
        QueueUrl=settings.intake_queue_url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="d"
    )
    secret = boto3.client("secretsmanager", region_name=REGION).get_secret_value(
        SecretId=settings.platform_secret_prefix + "shopify"
    )
    assert "demo-shop-1.myshopify.com" in json.loads(secret["SecretString"])
    assert settings.stage == "dev"
    assert settings.platform_base_urls == {}


def test_deploy_works_against_a_moto_server(model: AppModel, monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        # WHEN deploying with no credentials in the environment (deploy() supplies moto's dummies)
        stack = deploy(model, endpoint_url=endpoint, credentials_file=CREDENTIALS_FILE)
        # THEN the resources are on the server
        session = boto3.session.Session(aws_access_key_id="k", aws_secret_access_key="s", region_name=REGION)
        tables = session.client("dynamodb", endpoint_url=endpoint).list_tables()["TableNames"]
        assert sorted(tables) == sorted(stack.names[t] for t in model.tables)
        queue_url = stack.function_env("WebhookIntakeFunction")["INTAKE_QUEUE_URL"]
        session.client("sqs", endpoint_url=endpoint).send_message(
            QueueUrl=queue_url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="d"
        )
    finally:
        server.stop()


# --------------------------------------------------------------------------- resolving template values


def bare(model: AppModel, **parameters: Any) -> Deployed:
    return Deployed(
        stack_name="s",
        region="eu-west-1",
        names={"OrdersTable": "s-OrdersTable"},
        queue_urls={},
        arns={"OrdersTable": "arn:aws:dynamodb:eu-west-1:123456789012:table/s-OrdersTable"},
        model=model,
        parameters=dict(model.parameters) | parameters,
    )


def test_intrinsics_resolve_like_cloudformation(model: AppModel):
    stack = bare(model)
    assert (
        stack.resolve({"Fn::Sub": "${AWS::StackName}:${AWS::Region}:${AWS::AccountId}"})
        == "s:eu-west-1:123456789012"
    )
    assert stack.resolve({"Fn::Sub": "${OrdersTable.Arn}/index/GSI1"}).endswith(
        "table/s-OrdersTable/index/GSI1"
    )
    assert stack.resolve({"Fn::Sub": "${!Literal}-${AWS::Partition}"}) == "${Literal}-aws"
    assert stack.resolve({"Fn::Sub": ["${a}-${b}", {"a": {"Ref": "Stage"}, "b": 2}]}) == "dev-2"
    assert stack.resolve({"Fn::Join": ["/", ["a", {"Ref": "LogRetentionDays"}]]}) == "a/30"
    assert stack.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y,z"]}]}) == "y"
    assert stack.resolve({"Fn::If": ["IsProd", "on", "off"]}) == "off"
    assert bare(model, Stage="prod").resolve({"Fn::If": ["IsProd", "on", "off"]}) == "on"
    assert stack.evaluate({"Fn::If": ["HasAlarmEmail", "x", {"Ref": "AWS::NoValue"}]}) is NO_VALUE
    assert stack.evaluate([1, {"Ref": "AWS::NoValue"}, 2]) == [1, 2]
    assert stack.resolve(True) == "true"


@pytest.mark.parametrize(
    "value",
    [
        {"Ref": "NoSuchThing"},
        {"Fn::Sub": "${NoSuchThing}"},
        {"Fn::GetAtt": ["OrdersTable", "StreamArn"]},
        {"Fn::ImportValue": "shared-export"},
        {"Fn::If": ["NoSuchCondition", "a", "b"]},
        {"nested": "mapping"},
        ["a", "list"],
    ],
    ids=["ref", "sub", "getatt", "import", "condition", "mapping", "list"],
)
def test_what_has_no_local_value_is_an_error_not_a_guess(model: AppModel, value: Any):
    with pytest.raises(TemplateError):
        bare(model).resolve(value)


def test_function_env_drops_novalue_variables(model: AppModel):
    # GIVEN a function whose variable exists only in prod
    template = {
        "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}},
        "Parameters": {"Stage": {"Type": "String", "Default": "dev"}},
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/x/",
                    "Handler": "app.handler",
                    "Environment": {
                        "Variables": {
                            "ONLY_PROD": {"Fn::If": ["IsProd", "1", {"Ref": "AWS::NoValue"}]},
                            "A": "a",
                        }
                    },
                },
            }
        },
    }
    small = AppModel.from_template(template)
    stack = Deployed("s", REGION, {}, {}, {}, small, parameters=dict(small.parameters))

    # THEN in dev the variable is absent, not an empty string
    assert stack.function_env("Fn") == {"A": "a"}


def test_order_changes_reach_every_subscribed_queue_as_raw_json(aws: None):
    # GIVEN a topic, two queues subscribed (one filtered to shipped orders) and an e-mail subscription
    template = {
        "Conditions": {"Never": {"Fn::Equals": ["a", "b"]}},
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns"}},
            "Unused": {"Type": "AWS::SNS::Topic", "Condition": "Never"},
            "All": {"Type": "AWS::SQS::Queue", "Properties": {"SqsManagedSseEnabled": True}},
            "Shipped": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "AllSubscription": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "sqs",
                    "Endpoint": {"Fn::GetAtt": ["All", "Arn"]},
                    "RawMessageDelivery": True,
                },
            },
            "ShippedSubscription": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "sqs",
                    "Endpoint": {"Fn::GetAtt": ["Shipped", "Arn"]},
                    "RawMessageDelivery": "true",
                    "FilterPolicy": {"status_after": ["shipped"]},
                },
            },
            "Mail": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "email",
                    "Endpoint": "ops@example.com",
                },
            },
        },
    }
    deployed = deploy(AppModel.from_template(template), credentials_file=None)
    sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
    assert [topic["TopicArn"] for topic in sns.list_topics()["Topics"]] == [deployed.arns["Topic"]]
    assert {s["Protocol"] for s in sns.list_subscriptions()["Subscriptions"]} == {"sqs"}

    # WHEN two changes of one order are published
    publisher = SnsOrderChangePublisher(deployed.arns["Topic"], sns)
    changes = [_change(OrderStatus.PAID, version=1), _change(OrderStatus.SHIPPED, version=2)]
    for change in changes:
        publisher.publish(change)

    # THEN the unfiltered queue has both, the filtered one only the shipment, bodies parse back
    def received(queue: str) -> list[OrderChanged]:
        messages = sqs.receive_message(QueueUrl=deployed.queue_urls[queue], MaxNumberOfMessages=10)
        return [OrderChanged.from_json(message["Body"]) for message in messages.get("Messages", [])]

    assert sorted(change.change_id for change in received("All")) == ["o-1#v1", "o-1#v2"]
    assert [change.status_after for change in received("Shipped")] == [OrderStatus.SHIPPED]


def _change(status: OrderStatus, *, version: int) -> OrderChanged:
    at = datetime(2026, 11, 1, tzinfo=UTC)
    key = EventKey(at=at, rank=version)
    order = Order(
        order_id="o-1",
        platform=Platform.SHOPIFY,
        shop_id="s",
        platform_order_id="1",
        status=status,
        refund_status=RefundStatus.NONE,
        platform_status=str(status),
        status_key=key,
        refund_key=key,
        version=version,
        last_event_id=f"e{version}",
        created_at=at,
        updated_at=at,
    )
    entry = HistoryEntry(
        order_id="o-1",
        event_id=f"e{version}",
        event_type="test",
        source=EventSource.PUSH,
        event_time=at,
        received_at=at,
        recorded_at=at,
        outcome=Outcome.CREATED if version == 1 else Outcome.APPLIED,
        platform_status=str(status),
        status_before=None if version == 1 else OrderStatus.PAID,
        status_after=status,
        event_status=status,
        event_refund_status=RefundStatus.NONE,
        version_after=version,
    )
    return OrderChanged(order=order, entry=entry)
