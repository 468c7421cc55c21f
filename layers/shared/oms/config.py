"""Environment variable names and the one cached settings object.

Nothing is read at import time: handlers call :func:`settings` inside their first invocation.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache


@dataclass(frozen=True, slots=True)
class Settings:
    orders_table: str
    ops_table: str
    idempotency_table: str
    intake_queue_url: str
    raw_archive_bucket: str
    platform_secret_prefix: str
    stage: str = "dev"
    #: platform → base URL, overriding each adapter's production host (the local simulator uses it)
    platform_base_urls: dict[str, str] = field(default_factory=dict)
    secrets_max_age_seconds: int = 300
    fetch_idempotency_seconds: int = 86_400
    #: order_poller: how far before the cursor a window starts, before now it ends, and a new shop's lookback
    poll_overlap_seconds: int = 300
    poll_settle_seconds: int = 60
    poll_initial_lookback_seconds: int = 3_600
    #: The intake queue's dead-letter queue (the admin API redrives it)
    intake_dlq_url: str = ""
    #: How long a sanitizer keeps the operators' cleaning rules before reading them again
    rules_cache_seconds: int = 30
    #: Inventory (docs/inventory.md): the table, the warehouse orders draw on, unpaid holds per channel
    inventory_table: str = ""
    inventory_warehouse: str = "main"
    inventory_hold_minutes: dict[str, int] = field(default_factory=dict)
    #: inventory_poller: a channel difference counts beyond this percent; the second pass's delay
    #: and the role EventBridge Scheduler invokes it with (D100)
    inventory_sync_threshold_percent: str = "2"
    inventory_second_pass_seconds: int = 30
    inventory_second_pass_role_arn: str = ""
    #: Where every stored order change is published (oms.domain.order_events)
    order_events_topic_arn: str = ""
    #: Reports for people (diagnosis exports, patrol, inventory and fulfilment reports)
    reports_bucket: str = ""
    #: IAM ARNs (users or roles) allowed to force order statuses; empty: nobody
    admin_principal_arns: tuple[str, ...] = ()
    #: order_reconciler: the patrol queue, orders per chunk, how long a new status settles first
    reconcile_queue_url: str = ""
    reconcile_chunk_size: int = 25
    reconcile_settle_seconds: int = 120
    #: Settlement entries (issue #6) and the bucket the monthly statements are stored in
    settlement_table: str = ""
    settlement_bucket: str = ""
    #: camt.053 message version of the statements: camt.053.001.08 (default) or camt.053.001.02
    settlement_camt_version: str = "camt.053.001.08"
    #: channel → {"account_id", "currencies", "name"} of the merchant's account at the platform
    settlement_accounts: dict[str, object] = field(default_factory=dict)
    #: The notifier secret (channels and routes, docs/notifiers.md); empty: alerts go to the log only
    notifier_secret_name: str = ""
    #: notification service → base URL, overriding the production hosts (the local notification sink)
    notifier_base_urls: dict[str, str] = field(default_factory=dict)
    #: How far back the SLA escalator reads open deadlines (a longer outage of it is caught up)
    sla_lookback_hours: int = 8
    #: The warehouses' heartbeat secrets (``{"<warehouse id>": {"secret": ...}}``)
    warehouse_secret_name: str = ""
    #: Minutes a warehouse may be silent beyond the 15 before it is offline
    wms_grace_minutes: int = 5
    #: Returns (issue 8): the table, the write-once digest bucket, the code and scanner keys
    returns_table: str = ""
    return_digest_bucket: str = ""
    return_code_keys_secret: str = ""
    return_scanners_secret: str = ""
    #: issue #7: the Customers table, the secret holding the phone hash key, the duplicate-buyer rule (JSON)
    customers_table: str = ""
    customer_identity_secret: str = ""
    duplicate_rule: str = ""

    #: Consumer DLQ (template logical name) → {"dlq": URL, "source": URL}: the admin API redrives them
    consumer_dlqs: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            orders_table=env.get("ORDERS_TABLE", ""),
            ops_table=env.get("OPS_TABLE", ""),
            idempotency_table=env.get("IDEMPOTENCY_TABLE", ""),
            intake_queue_url=env.get("INTAKE_QUEUE_URL", ""),
            raw_archive_bucket=env.get("RAW_ARCHIVE_BUCKET", ""),
            platform_secret_prefix=env.get("PLATFORM_SECRET_PREFIX", "order-center/platforms/"),
            stage=env.get("STAGE", "dev"),
            platform_base_urls=json.loads(env.get("PLATFORM_BASE_URLS") or "{}"),
            secrets_max_age_seconds=int(env.get("SECRETS_MAX_AGE_SECONDS", "300")),
            fetch_idempotency_seconds=int(env.get("FETCH_IDEMPOTENCY_SECONDS", "86400")),
            poll_overlap_seconds=int(env.get("POLL_OVERLAP_SECONDS", "300")),
            poll_settle_seconds=int(env.get("POLL_SETTLE_SECONDS", "60")),
            poll_initial_lookback_seconds=int(env.get("POLL_INITIAL_LOOKBACK_SECONDS", "3600")),
            intake_dlq_url=env.get("INTAKE_DLQ_URL", ""),
            rules_cache_seconds=int(env.get("RULES_CACHE_SECONDS", "30")),
            inventory_table=env.get("INVENTORY_TABLE", ""),
            inventory_warehouse=env.get("INVENTORY_WAREHOUSE", "main"),
            inventory_hold_minutes={
                str(k): int(v) for k, v in json.loads(env.get("INVENTORY_HOLD_MINUTES") or "{}").items()
            },
            inventory_sync_threshold_percent=env.get("INVENTORY_SYNC_THRESHOLD_PERCENT", "2"),
            inventory_second_pass_seconds=int(env.get("INVENTORY_SECOND_PASS_SECONDS", "30")),
            inventory_second_pass_role_arn=env.get("INVENTORY_SECOND_PASS_ROLE_ARN", ""),
            order_events_topic_arn=env.get("ORDER_EVENTS_TOPIC_ARN", ""),
            reports_bucket=env.get("REPORTS_BUCKET", ""),
            admin_principal_arns=tuple(
                arn.strip() for arn in env.get("ADMIN_PRINCIPAL_ARNS", "").split(",") if arn.strip()
            ),
            reconcile_queue_url=env.get("RECONCILE_QUEUE_URL", ""),
            reconcile_chunk_size=int(env.get("RECONCILE_CHUNK_SIZE", "25")),
            reconcile_settle_seconds=int(env.get("RECONCILE_SETTLE_SECONDS", "120")),
            settlement_table=env.get("SETTLEMENT_TABLE", ""),
            settlement_bucket=env.get("SETTLEMENT_BUCKET", ""),
            settlement_camt_version=env.get("SETTLEMENT_CAMT_VERSION", "camt.053.001.08"),
            settlement_accounts=json.loads(env.get("SETTLEMENT_ACCOUNTS") or "{}"),
            notifier_secret_name=env.get("NOTIFIER_SECRET_NAME", ""),
            notifier_base_urls=json.loads(env.get("NOTIFIER_BASE_URLS") or "{}"),
            sla_lookback_hours=int(env.get("SLA_LOOKBACK_HOURS", "8")),
            warehouse_secret_name=env.get("WAREHOUSE_SECRET_NAME", ""),
            wms_grace_minutes=int(env.get("WMS_GRACE_MINUTES", "5")),
            returns_table=env.get("RETURNS_TABLE", ""),
            return_digest_bucket=env.get("RETURN_DIGEST_BUCKET", ""),
            return_code_keys_secret=env.get("RETURN_CODE_KEYS_SECRET", ""),
            return_scanners_secret=env.get("RETURN_SCANNERS_SECRET", ""),
            customers_table=env.get("CUSTOMERS_TABLE", ""),
            customer_identity_secret=env.get("CUSTOMER_IDENTITY_SECRET", ""),
            duplicate_rule=env.get("DUPLICATE_RULE", ""),
            consumer_dlqs=json.loads(env.get("CONSUMER_DLQS") or "{}"),
        )


@cache
def settings() -> Settings:
    return Settings.from_env()
