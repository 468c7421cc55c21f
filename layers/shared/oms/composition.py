"""The composition root: builds services from adapters, lazily, once per Lambda container.

Handlers import this module and the services, never the adapters. Nothing happens at import
time, and each builder imports what it needs inside, so a handler's cold start pays only for the
adapters it uses (the intake does not load the idempotency, DynamoDB or S3 code). :func:`reset`
drops every cached object (tests and the local stack call it after changing the environment).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING

from oms.config import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from oms.adapters.bundles_table import DynamoBundles
    from oms.adapters.customers_table import DynamoCustomerStore
    from oms.adapters.inventory_table import DynamoInventoryLedger
    from oms.adapters.ops_table import DynamoFailureLog, DynamoRedriveLog
    from oms.adapters.order_events_topic import SnsOrderChangePublisher
    from oms.adapters.orders_table import DynamoOrdersRepository
    from oms.adapters.raw_archive import S3RawArchive
    from oms.adapters.reports import S3ReportStore
    from oms.adapters.rule_store import DynamoRuleStore
    from oms.adapters.second_pass import SecondPassScheduler
    from oms.adapters.secrets import SecretsManagerStore
    from oms.adapters.settlement_table import DynamoSettlementStore
    from oms.adapters.sla_table import DynamoSlaPolicies, DynamoSlaStore
    from oms.adapters.stage_facts_table import DynamoStageFacts
    from oms.adapters.stock_sync_table import DynamoStockSync
    from oms.domain.settlement import FeeRules
    from oms.domain.sla import SlaPolicySet
    from oms.services.bundles import BundleAdmin
    from oms.services.cleaning_rules import CachedRuleSource, CleaningRulesAdmin
    from oms.services.consistency import ForcedCorrections, OrderDiagnostics
    from oms.services.consumer_redrive import ConsumerDlqRedrive
    from oms.services.customers import CustomerDesk, CustomerIdentity
    from oms.services.fulfilment_health import HealthReports, OrderStageFacts, WarehouseStageEvents
    from oms.services.intake import WebhookIntake
    from oms.services.inventory import InventoryEvents
    from oms.services.inventory_admin import InventoryAdmin
    from oms.services.inventory_health import InventoryHealthReports
    from oms.services.inventory_surge import SurgeBreaker
    from oms.services.orders import OrderQueries
    from oms.services.polling import OrderPoller
    from oms.services.ports import AlertSink
    from oms.services.reconcile import PatrolPlanner, PatrolWorker
    from oms.services.redrive import DlqRedrive
    from oms.services.returns import ReturnsService
    from oms.services.sanitize import PayloadSanitizer
    from oms.services.settlement import SettlementRecorder, SettlementStatements
    from oms.services.sla import SlaDeadlines, SlaEscalator, SlaReports
    from oms.services.stock_sync import StockSync
    from oms.services.traces import TraceQueries
    from oms.services.wms import WarehouseHeartbeats


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_trace_id() -> str:
    return uuid.uuid4().hex


def _client(service: str) -> object:
    from oms.adapters.aws import client

    return client(service)


@cache
def secret_store() -> SecretsManagerStore:
    from oms.adapters.secrets import SecretsManagerStore

    config = settings()
    return SecretsManagerStore(
        config.platform_secret_prefix, _client("secretsmanager"), max_age=config.secrets_max_age_seconds
    )


@cache
def orders_repository() -> DynamoOrdersRepository:
    from oms.adapters.orders_table import DynamoOrdersRepository

    return DynamoOrdersRepository(settings().orders_table, _client("dynamodb"))


@cache
def webhook_intake() -> WebhookIntake:
    from oms.adapters.intake_queue import SqsIntakeQueue
    from oms.services.intake import WebhookIntake

    return WebhookIntake(
        secrets=secret_store(),
        queue=SqsIntakeQueue(settings().intake_queue_url, _client("sqs")),
        clock=utc_now,
        new_trace_id=new_trace_id,
    )


@cache
def payload_sanitizer() -> PayloadSanitizer:
    from oms.adapters.http import Urllib3Transport
    from oms.adapters.order_fetch import IdempotentOrderFetcher
    from oms.services.sanitize import PayloadSanitizer

    config = settings()
    return PayloadSanitizer(
        orders=orders_repository(),
        archive=raw_archive(),
        failures=failure_log(),
        publisher=order_change_publisher(),
        fetch=IdempotentOrderFetcher(
            secrets=secret_store(),
            transport=Urllib3Transport(),
            base_urls=config.platform_base_urls,
            clock=utc_now,
            idempotency_table=config.idempotency_table,
            dynamodb=_client("dynamodb"),
            config=fetch_idempotency(),
        ),
        clock=utc_now,
        rule_source=rule_source(),
    )


@cache
def order_change_publisher() -> SnsOrderChangePublisher:
    from oms.adapters.order_events_topic import SnsOrderChangePublisher

    return SnsOrderChangePublisher(settings().order_events_topic_arn, _client("sns"))


@cache
def fetch_idempotency() -> IdempotencyConfig:
    from oms.adapters.order_fetch import fetch_idempotency_config

    return fetch_idempotency_config(settings().fetch_idempotency_seconds)


def register_lambda_context(context: LambdaContext) -> None:
    """Let an in-progress fetch expire with the invocation that started it (not after a day)."""
    fetch_idempotency().register_lambda_context(context)


@cache
def raw_archive() -> S3RawArchive:
    from oms.adapters.raw_archive import S3RawArchive

    return S3RawArchive(settings().raw_archive_bucket, _client("s3"))


@cache
def failure_log() -> DynamoFailureLog:
    from oms.adapters.ops_table import DynamoFailureLog

    return DynamoFailureLog(settings().ops_table, _client("dynamodb"))


@cache
def order_poller() -> OrderPoller:
    """The order poller (Pinduoduo, Taobao): cursors in the Ops table, envelopes to the intake queue."""
    from datetime import timedelta

    from oms.adapters.cursors import DynamoCursorStore, PollingSecretStore
    from oms.adapters.http import Urllib3Transport
    from oms.adapters.intake_queue import SqsIntakeQueue
    from oms.services.polling import OrderPoller, PollSettings, default_clients

    config = settings()
    tuning = PollSettings(
        overlap=timedelta(seconds=config.poll_overlap_seconds),
        settle=timedelta(seconds=config.poll_settle_seconds),
        initial_lookback=timedelta(seconds=config.poll_initial_lookback_seconds),
    )
    return OrderPoller(
        secrets=PollingSecretStore(
            config.platform_secret_prefix, _client("secretsmanager"), max_age=config.secrets_max_age_seconds
        ),
        clients=default_clients(config.platform_base_urls, Urllib3Transport(), utc_now),
        queue=SqsIntakeQueue(config.intake_queue_url, _client("sqs")),
        cursors=DynamoCursorStore(config.ops_table, _client("dynamodb")),
        clock=utc_now,
        new_trace_id=new_trace_id,
        settings=tuning,
    )


@cache
def order_queries() -> OrderQueries:
    from oms.services.orders import OrderQueries

    return OrderQueries(orders_repository())


@cache
def rule_store() -> DynamoRuleStore:
    from oms.adapters.rule_store import DynamoRuleStore

    return DynamoRuleStore(settings().ops_table, _client("dynamodb"))


@cache
def rule_source() -> CachedRuleSource:
    """The operators' cleaning rules as the sanitizer reads them: one GetItem per container per period."""
    from datetime import timedelta

    from oms.services.cleaning_rules import CachedRuleSource

    return CachedRuleSource(
        rule_store(), clock=utc_now, max_age=timedelta(seconds=settings().rules_cache_seconds)
    )


@cache
def cleaning_rules_admin() -> CleaningRulesAdmin:
    from oms.adapters.trace_index import DynamoRolloutIndex
    from oms.services.cleaning_rules import CleaningRulesAdmin

    return CleaningRulesAdmin(
        rule_store(),
        rollout=DynamoRolloutIndex(settings().orders_table, _client("dynamodb")),
        failures=failure_log(),
        clock=utc_now,
    )


@cache
def redrive_log() -> DynamoRedriveLog:
    from oms.adapters.ops_table import DynamoRedriveLog

    return DynamoRedriveLog(settings().ops_table, _client("dynamodb"))


@cache
def trace_queries() -> TraceQueries:
    from oms.adapters.trace_index import DynamoTraceLookup
    from oms.services.traces import TraceQueries

    return TraceQueries(
        failures=failure_log(),
        history=DynamoTraceLookup(settings().orders_table, _client("dynamodb")),
        redrives=redrive_log(),
        archive=raw_archive(),
    )


@cache
def dlq_redrive() -> DlqRedrive:
    from oms.adapters.dead_letter_queue import SqsDeadLetterQueue
    from oms.services.redrive import DlqRedrive

    config = settings()
    return DlqRedrive(
        dlq=SqsDeadLetterQueue(config.intake_dlq_url, config.intake_queue_url, _client("sqs")),
        failures=failure_log(),
        log=redrive_log(),
        clock=utc_now,
    )


@cache
def alert_sink() -> AlertSink:
    """Where alerts go: the log-and-metric floor, and the notifiers when a notifier secret is configured."""
    from oms.adapters.alert_log import LoggedAlerts

    config = settings()
    if not config.notifier_secret_name:
        return LoggedAlerts()
    from oms.adapters.http import Urllib3Transport
    from oms.adapters.notification_ledger import DynamoNotificationLedger
    from oms.adapters.notifiers.channels import build_channel
    from oms.adapters.notifiers.config import SecretNotifierConfig
    from oms.adapters.notifiers.sink import NotifyingAlertSink

    transport = Urllib3Transport()
    return NotifyingAlertSink(
        floor=LoggedAlerts(),
        config=SecretNotifierConfig(
            config.notifier_secret_name, _client("secretsmanager"), max_age=config.secrets_max_age_seconds
        ),
        ledger=DynamoNotificationLedger(config.ops_table, _client("dynamodb")),
        build_channel=lambda channel: build_channel(
            channel,
            transport=transport,
            base_urls=config.notifier_base_urls,
            clock=utc_now,
            connect_client=lambda: _client("connect"),
        ),
        clock=utc_now,
    )


@cache
def sla_store() -> DynamoSlaStore:
    from oms.adapters.sla_table import DynamoSlaStore

    return DynamoSlaStore(settings().ops_table, _client("dynamodb"))


@cache
def sla_policies() -> DynamoSlaPolicies:
    from oms.adapters.sla_table import DynamoSlaPolicies

    return DynamoSlaPolicies(settings().ops_table, _client("dynamodb"))


def current_sla_policies() -> SlaPolicySet:
    """The newest published SLA policy set, or the built-in default (48 h from payment)."""
    from oms.domain.sla import DEFAULT_POLICIES

    return sla_policies().current() or DEFAULT_POLICIES


@cache
def sla_deadlines() -> SlaDeadlines:
    from oms.services.sla import SlaDeadlines

    return SlaDeadlines(
        sla_store(), current_sla_policies, router=overflow_router(), preflight=preflight_screen()
    )


@cache
def sla_escalator() -> SlaEscalator:
    from datetime import timedelta

    from oms.services.sla import SlaEscalator

    return SlaEscalator(
        sla_store(),
        alert_sink(),
        clock=utc_now,
        new_token=new_trace_id,
        lookback=timedelta(hours=settings().sla_lookback_hours),
    )


@cache
def report_store() -> S3ReportStore:
    from oms.adapters.reports import S3ReportStore

    return S3ReportStore(settings().reports_bucket, _client("s3"))


@cache
def order_diagnostics() -> OrderDiagnostics:
    from oms.services.consistency import OrderDiagnostics

    return OrderDiagnostics(orders_repository(), report_store(), clock=utc_now)


@cache
def forced_corrections() -> ForcedCorrections:
    from oms.services.consistency import ForcedCorrections

    return ForcedCorrections(
        orders_repository(),
        publisher=order_change_publisher(),
        clock=utc_now,
        admins=settings().admin_principal_arns,
    )


@cache
def patrol_planner() -> PatrolPlanner:
    from datetime import timedelta

    from oms.adapters.patrol import DynamoOpenOrderIndex, DynamoPatrolLog, SqsPatrolQueue
    from oms.services.reconcile import PatrolPlanner

    config = settings()
    return PatrolPlanner(
        index=DynamoOpenOrderIndex(config.orders_table, _client("dynamodb")),
        queue=SqsPatrolQueue(config.reconcile_queue_url, _client("sqs")),
        log=DynamoPatrolLog(config.ops_table, _client("dynamodb")),
        clock=utc_now,
        chunk_size=config.reconcile_chunk_size,
        settle=timedelta(seconds=config.reconcile_settle_seconds),
    )


@cache
def patrol_worker() -> PatrolWorker:
    from oms.adapters.http import Urllib3Transport
    from oms.adapters.patrol import DynamoPatrolLog, SignedPlatformTruth
    from oms.services.reconcile import PatrolWorker

    config = settings()
    return PatrolWorker(
        orders=orders_repository(),
        truth=SignedPlatformTruth(
            secrets=secret_store(),
            transport=Urllib3Transport(),
            base_urls=config.platform_base_urls,
            clock=utc_now,
        ),
        publisher=order_change_publisher(),
        log=DynamoPatrolLog(config.ops_table, _client("dynamodb")),
        reports=report_store(),
        alerts=alert_sink(),
        clock=utc_now,
    )


# --------------------------------------------------------------------------- issue #6: settlements


@cache
def settlement_store() -> DynamoSettlementStore:
    from oms.adapters.settlement_table import DynamoSettlementStore

    return DynamoSettlementStore(settings().settlement_table, _client("dynamodb"))


@cache
def fee_rules() -> FeeRules:
    """The channels' fee rules shipped in the layer (oms/data/fee_rules.json)."""
    from importlib import resources

    from oms.domain.settlement import FeeRules

    return FeeRules.from_json(resources.files("oms.data").joinpath("fee_rules.json").read_text("utf-8"))


@cache
def settlement_recorder() -> SettlementRecorder:
    from oms.services.settlement import SettlementRecorder

    return SettlementRecorder(settlement_store(), fee_rules(), clock=utc_now)


@cache
def settlement_statements() -> SettlementStatements:
    from oms.adapters.settlement_bucket import S3StatementArchive
    from oms.adapters.statement_files import render_csv, render_xlsx, validate
    from oms.domain.camt053 import CamtVersion
    from oms.services.settlement import SettlementStatements, account_settings

    config = settings()
    return SettlementStatements(
        settlement_store(),
        S3StatementArchive(config.settlement_bucket, _client("s3")),
        accounts=account_settings(config.settlement_accounts),
        validate=validate,
        companions={
            "csv": (render_csv, "text/csv; charset=utf-8"),
            "xlsx": (render_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        },
        version=CamtVersion(config.settlement_camt_version),
        clock=utc_now,
    )


@cache
def sla_reports() -> SlaReports:
    from oms.services.sla import SlaReports

    return SlaReports(sla_store(), clock=utc_now, stages=stage_facts())


@cache
def warehouse_heartbeats() -> WarehouseHeartbeats:
    from datetime import timedelta

    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from oms.adapters.warehouse_table import DynamoWarehouseStates
    from oms.services.wms import WarehouseHeartbeats

    config = settings()
    provider = SecretsProvider(boto3_client=_client("secretsmanager"))  # type: ignore[arg-type]

    def secrets() -> dict[str, object]:
        if not config.warehouse_secret_name:
            return {}
        value = provider.get(
            config.warehouse_secret_name, max_age=config.secrets_max_age_seconds, transform="json"
        )
        return value if isinstance(value, dict) else {}

    return WarehouseHeartbeats(
        DynamoWarehouseStates(config.ops_table, _client("dynamodb")),
        secrets,
        alert_sink(),
        clock=utc_now,
        grace=timedelta(minutes=config.wms_grace_minutes),
    )


@cache
def returns_service() -> ReturnsService:
    """Provable returns (issue 8): codes, signed scans, the chain, the 72-hour sweep, digests."""
    from oms.adapters.return_digests import S3DigestStore
    from oms.adapters.return_keys import SecretCodeKeys, SecretScanners
    from oms.adapters.returns_table import DynamoReturnsRepository
    from oms.services.returns import ReturnsService

    config = settings()
    secrets = _client("secretsmanager")
    return ReturnsService(
        repository=DynamoReturnsRepository(config.returns_table, _client("dynamodb")),
        orders=orders_repository(),
        code_keys=SecretCodeKeys(config.return_code_keys_secret, secrets, config.secrets_max_age_seconds),
        scanners=SecretScanners(config.return_scanners_secret, secrets, config.secrets_max_age_seconds),
        digests=S3DigestStore(config.return_digest_bucket, _client("s3")),
        alerts=alert_sink(),
        clock=utc_now,
    )


@cache
def customer_store() -> DynamoCustomerStore:
    from oms.adapters.customers_table import DynamoCustomerStore

    return DynamoCustomerStore(settings().customers_table, _client("dynamodb"))


@cache
def customer_identity() -> CustomerIdentity:
    """The order-change consumer's service: links, timeline, tags, duplicate reviews."""
    from importlib.resources import files

    from oms.adapters.identity_key import SecretPhoneHasher
    from oms.domain.customers import DuplicateRule, TagMapping
    from oms.services.customers import CustomerIdentity

    config = settings()
    return CustomerIdentity(
        customer_store(),
        orders_repository(),
        phone_hash=SecretPhoneHasher(
            config.customer_identity_secret, _client("secretsmanager"), max_age=config.secrets_max_age_seconds
        ),
        rule=DuplicateRule.parse(config.duplicate_rule),
        tags=TagMapping.parse(files("oms.data").joinpath("platform_tags.json").read_bytes()),
        clock=utc_now,
    )


@cache
def customer_desk() -> CustomerDesk:
    from oms.services.customers import CustomerDesk

    return CustomerDesk(customer_store(), orders_repository(), clock=utc_now)


def reset() -> None:
    """Forget every cached setting, client and service (every ``@cache`` builder of this module)."""
    from oms.adapters.aws import reset_clients

    settings.cache_clear()
    for value in list(globals().values()):
        if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", "") == __name__:
            value.cache_clear()
    reset_clients()


@cache
def inventory_ledger() -> DynamoInventoryLedger:
    from oms.adapters.aws import client
    from oms.adapters.inventory_table import DynamoInventoryLedger

    return DynamoInventoryLedger(settings().inventory_table, client("dynamodb"))


@cache
def inventory_events() -> InventoryEvents:
    from datetime import timedelta

    from oms.services.inventory import InventoryEvents

    config = settings()
    return InventoryEvents(
        ledger=inventory_ledger(),
        alerts=alert_sink(),
        clock=utc_now,
        warehouse=config.inventory_warehouse,
        holds={channel: timedelta(minutes=m) for channel, m in config.inventory_hold_minutes.items()},
        surge=surge_breaker(),
        bundles=bundle_catalog(),
    )


@cache
def inventory_admin() -> InventoryAdmin:
    from oms.services.inventory_admin import InventoryAdmin

    return InventoryAdmin(
        records=inventory_ledger(), clock=utc_now, sync=stock_sync_store(), bundles=bundle_admin()
    )


@cache
def surge_breaker() -> SurgeBreaker:
    from oms.services.inventory_surge import SurgeBreaker

    return SurgeBreaker(records=inventory_ledger(), alerts=alert_sink(), clock=utc_now)


# --------------------------------------------------------------------------- issue #5 item 6: health report


@cache
def stage_facts() -> DynamoStageFacts:
    from oms.adapters.stage_facts_table import DynamoStageFacts

    return DynamoStageFacts(settings().ops_table, _client("dynamodb"))


@cache
def warehouse_stage_events() -> WarehouseStageEvents:
    """``POST /wms/orders/events``: the heartbeat's per-warehouse HMAC, then the stage facts."""
    from oms.services.fulfilment_health import WarehouseStageEvents

    return WarehouseStageEvents(warehouse_heartbeats().authenticate, stage_facts())


@cache
def order_stage_facts() -> OrderStageFacts:
    from oms.services.fulfilment_health import OrderStageFacts

    return OrderStageFacts(stage_facts())


@cache
def health_reports() -> HealthReports:
    from oms.adapters.reports import LINK_SECONDS
    from oms.services.fulfilment_health import HealthReports

    return HealthReports(
        sla_store(),
        stage_facts(),
        report_store(),
        clock=utc_now,
        zone=lambda: current_sla_policies().zone,
        link_seconds=LINK_SECONDS,
    )


@cache
def consumer_dlq_redrive() -> ConsumerDlqRedrive:
    """The consumers' DLQs (``CONSUMER_DLQS``), each redriven to its source queue."""
    from oms.adapters.consumer_dead_letters import SqsConsumerDeadLetters
    from oms.services.consumer_redrive import ConsumerDlqRedrive

    sqs = _client("sqs")
    return ConsumerDlqRedrive(
        {
            name: SqsConsumerDeadLetters(pair["dlq"], pair["source"], sqs)
            for name, pair in settings().consumer_dlqs.items()
        }
    )


@cache
def inventory_health_reports() -> InventoryHealthReports:
    from oms.adapters.inventory_health import DynamoInventoryHealthSource, S3DifferenceFiles
    from oms.domain.inventory_health import default_weights
    from oms.services.inventory_health import InventoryHealthReports

    config = settings()
    return InventoryHealthReports(
        inventory=DynamoInventoryHealthSource(config.inventory_table, _client("dynamodb")),
        differences=S3DifferenceFiles(config.reports_bucket, _client("s3")),
        reports=report_store(),
        weights=default_weights(),
        clock=utc_now,
    )


# --------------------------------------------------------------------------- issue #4: channel stock sync


@cache
def stock_sync_store() -> DynamoStockSync:
    from oms.adapters.stock_sync_table import DynamoStockSync

    return DynamoStockSync(settings().inventory_table, _client("dynamodb"))


@cache
def stock_sync() -> StockSync:
    from decimal import Decimal
    from importlib import resources

    from oms.adapters.channel_stock import ChannelStockGateway
    from oms.adapters.http import Urllib3Transport
    from oms.adapters.platform_clients import PlatformClients
    from oms.domain.stock_sync import load_cause_rules
    from oms.services.stock_sync import StockSync

    config = settings()
    clients = PlatformClients(
        secrets=secret_store(),
        transport=Urllib3Transport(),
        base_urls=config.platform_base_urls,
        clock=utc_now,
    )
    return StockSync(
        store=stock_sync_store(),
        channels=ChannelStockGateway(clients),
        records=inventory_ledger(),
        alerts=alert_sink(),
        reports=report_store(),
        clock=utc_now,
        rules=load_cause_rules(resources.files("oms.data").joinpath("stock_causes.json").read_text("utf-8")),
        threshold_percent=Decimal(config.inventory_sync_threshold_percent),
        bundles=bundle_catalog(),
    )


@cache
def second_pass_scheduler() -> SecondPassScheduler:
    from oms.adapters.second_pass import SecondPassScheduler

    return SecondPassScheduler(_client("scheduler"), role_arn=settings().inventory_second_pass_role_arn)


# ------------------------------------------------------------------ capacity, overflow, pre-flight (#5)
if TYPE_CHECKING:
    from oms.adapters.fulfilment_table import (
        DynamoFulfilmentConfig,
        DynamoOverflowStates,
        DynamoPreflightResults,
    )
    from oms.services.fulfilment import OverflowPlanner, OverflowRouter, PreflightScreen, SlaOperations


@cache
def fulfilment_config() -> DynamoFulfilmentConfig:
    from oms.adapters.fulfilment_table import DynamoFulfilmentConfig

    return DynamoFulfilmentConfig(settings().ops_table, _client("dynamodb"))


@cache
def overflow_states() -> DynamoOverflowStates:
    from oms.adapters.fulfilment_table import DynamoOverflowStates

    return DynamoOverflowStates(settings().ops_table, _client("dynamodb"))


@cache
def overflow_planner() -> OverflowPlanner:
    from oms.adapters.fulfilment_table import DynamoArrivals
    from oms.adapters.warehouse_table import DynamoWarehouseStates
    from oms.services.fulfilment import OverflowPlanner

    table = settings().ops_table
    return OverflowPlanner(
        fulfilment_config(),
        overflow_states(),
        DynamoWarehouseStates(table, _client("dynamodb")),
        DynamoArrivals(table, _client("dynamodb")),
        alert_sink(),
    )


@cache
def overflow_router() -> OverflowRouter:
    from oms.services.fulfilment import OverflowRouter

    return OverflowRouter(fulfilment_config(), overflow_states())


@cache
def preflight_results() -> DynamoPreflightResults:
    from oms.adapters.fulfilment_table import DynamoPreflightResults

    return DynamoPreflightResults(settings().ops_table, _client("dynamodb"))


@cache
def preflight_screen() -> PreflightScreen:
    from oms.services.fulfilment import PreflightScreen

    def on_hand(sku: str, warehouse: str) -> int:
        return inventory_ledger().level(sku, warehouse).on_hand

    return PreflightScreen(fulfilment_config(), preflight_results(), on_hand, clock=utc_now)


@cache
def sla_operations() -> SlaOperations:
    from oms.domain.sla import DEFAULT_POLICIES
    from oms.services.fulfilment import SlaOperations

    return SlaOperations(
        records=sla_store(),
        policies=sla_policies(),
        configs=fulfilment_config(),
        preflight=preflight_results(),
        episodes=overflow_states(),
        clock=utc_now,
        default_policies=DEFAULT_POLICIES,
    )


# ------------------------------------------------------------------ bundles (issue #4; docs/inventory.md)


@cache
def bundle_catalog() -> DynamoBundles:
    from oms.adapters.bundles_table import DynamoBundles

    return DynamoBundles(settings().inventory_table, _client("dynamodb"))


@cache
def bundle_admin() -> BundleAdmin:
    from oms.services.bundles import BundleAdmin

    return BundleAdmin(catalog=bundle_catalog(), records=inventory_ledger(), clock=utc_now)
