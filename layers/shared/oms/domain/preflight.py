"""Pre-flight sandbox: a dry run of a high-risk order's release to its warehouse (pure).

Which orders are high risk is configured data (:class:`RiskRules`): an amount over a threshold, a
presale order (a ``presale_ship_by`` tag or a presale SKU class), a custom-made one (a custom SKU
class or a ``custom_made`` tag). For those, every check below runs against the configured state
(:class:`PreflightConfig`) and the warehouse's stock; each returns the reasons it blocks, each with a
stable code (:class:`BlockCode`). An order with no reason passes; with any, it is held until a
re-check after the operator fixed the configuration passes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from oms.domain.model import Order
from oms.domain.sla import PRESALE_TAG, SKU_CLASS_TAG

CARRIER_TAG = "carrier"
CUSTOM_MADE_TAG = "custom_made"


class BlockCode(StrEnum):
    """Why a high-risk order may not be released (stable; docs/error-codes.md)."""

    NO_WAYBILL_TEMPLATE = "PREFLIGHT_NO_WAYBILL_TEMPLATE"
    NO_CARRIER = "PREFLIGHT_NO_CARRIER"
    COURIER_INACTIVE = "PREFLIGHT_COURIER_INACTIVE"
    COURIER_IN_ARREARS = "PREFLIGHT_COURIER_IN_ARREARS"
    ADDRESS_INCOMPLETE = "PREFLIGHT_ADDRESS_INCOMPLETE"
    SKU_NOT_MAPPED = "PREFLIGHT_SKU_NOT_MAPPED"
    OUT_OF_STOCK = "PREFLIGHT_OUT_OF_STOCK"


@dataclass(frozen=True, slots=True, order=True)
class BlockReason:
    code: BlockCode
    detail: str

    def as_json(self) -> dict[str, str]:
        return {"code": str(self.code), "detail": self.detail}


class RiskRules(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: Orders paying more than this are high risk (None: no amount rule)
    amount_over: Decimal | None = Field(default=Decimal("2000"), ge=0)
    presale: bool = True
    custom_made: bool = True
    presale_sku_classes: tuple[str, ...] = ("presale",)
    custom_sku_classes: tuple[str, ...] = ("custom",)


class CourierAccount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    active: bool = True
    in_arrears: bool = False


class WaybillTemplate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    carrier: str = Field(min_length=1)
    warehouse: str = Field(min_length=1)


class PreflightConfig(BaseModel):
    """The state the dry run checks against (``PUT /fulfillment/preflight-config``, versioned)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(ge=1)
    risk: RiskRules = Field(default_factory=RiskRules)
    #: warehouse → its carrier when the order names none
    default_carriers: dict[str, str] = Field(default_factory=dict)
    waybill_templates: tuple[WaybillTemplate, ...] = ()
    courier_accounts: dict[str, CourierAccount] = Field(default_factory=dict)
    #: warehouse → the SKU codes its WMS knows
    wms_skus: dict[str, tuple[str, ...]] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PreflightFacts:
    """What the dry run reads of an order (kept with a held order, so a re-check needs no order read)."""

    order_id: str
    warehouse: str
    carrier: str
    amount: Decimal | None
    sku_class: str
    presale: bool
    custom_made: bool
    #: Address parts that are missing (province, city, district, street/detail, name, phone)
    missing_address: tuple[str, ...]
    #: (SKU code, quantity) per line
    lines: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, order: Order, warehouse: str, config: PreflightConfig) -> PreflightFacts:
        receiver = order.receiver
        missing: list[str] = []
        if receiver is None:
            missing = ["receiver"]
        else:
            encrypted = receiver.encrypted
            for part in ("province", "city", "district"):
                if not getattr(receiver, part):
                    missing.append(part)
            # Masked or encrypted parts count as present: the platform holds the clear text.
            if not (receiver.street or receiver.detail or encrypted.get("detail") or encrypted.get("street")):
                missing.append("detail")
            if not (receiver.name or encrypted.get("name")):
                missing.append("name")
            if not (receiver.phone or encrypted.get("phone")):
                missing.append("phone")
        sku_class = order.tags.get(SKU_CLASS_TAG, "")
        return cls(
            order_id=order.order_id,
            warehouse=warehouse,
            carrier=order.tags.get(CARRIER_TAG) or config.default_carriers.get(warehouse, ""),
            amount=order.paid_amount if order.paid_amount is not None else order.total_amount,
            sku_class=sku_class,
            presale=bool(order.tags.get(PRESALE_TAG)) or sku_class in config.risk.presale_sku_classes,
            custom_made=order.tags.get(CUSTOM_MADE_TAG, "").lower() == "true"
            or sku_class in config.risk.custom_sku_classes,
            missing_address=tuple(missing),
            lines=tuple((line.out_sku_id or line.sku_id, line.quantity) for line in order.lines),
        )


def risk_reasons(facts: PreflightFacts, rules: RiskRules) -> list[str]:
    """Why the order is high risk (empty: it is not, and is released without a dry run)."""
    reasons = []
    if rules.amount_over is not None and facts.amount is not None and facts.amount > rules.amount_over:
        reasons.append(f"amount {facts.amount} over {rules.amount_over}")
    if rules.presale and facts.presale:
        reasons.append("presale")
    if rules.custom_made and facts.custom_made:
        reasons.append("custom-made")
    return reasons


def check_waybill_template(facts: PreflightFacts, config: PreflightConfig) -> list[BlockReason]:
    if not facts.carrier:
        return [BlockReason(BlockCode.NO_CARRIER, f"no carrier named or configured for {facts.warehouse}")]
    if WaybillTemplate(carrier=facts.carrier, warehouse=facts.warehouse) in config.waybill_templates:
        return []
    return [
        BlockReason(
            BlockCode.NO_WAYBILL_TEMPLATE, f"no waybill template for {facts.carrier} at {facts.warehouse}"
        )
    ]


def check_courier_account(facts: PreflightFacts, config: PreflightConfig) -> list[BlockReason]:
    if not facts.carrier:
        return []  # reported once, by the waybill check
    account = config.courier_accounts.get(facts.carrier)
    if account is None or not account.active:
        return [BlockReason(BlockCode.COURIER_INACTIVE, f"courier account {facts.carrier} is not active")]
    if account.in_arrears:
        return [BlockReason(BlockCode.COURIER_IN_ARREARS, f"courier account {facts.carrier} is in arrears")]
    return []


def check_address(facts: PreflightFacts) -> list[BlockReason]:
    if not facts.missing_address:
        return []
    return [BlockReason(BlockCode.ADDRESS_INCOMPLETE, "missing " + ", ".join(facts.missing_address))]


def check_skus_mapped(facts: PreflightFacts, config: PreflightConfig) -> list[BlockReason]:
    known = set(config.wms_skus.get(facts.warehouse, ()))
    return [
        BlockReason(BlockCode.SKU_NOT_MAPPED, f"{sku} is not mapped in the {facts.warehouse} WMS")
        for sku in sorted({sku for sku, _ in facts.lines} - known)
    ]


def check_stock(facts: PreflightFacts, on_hand: Mapping[str, int]) -> list[BlockReason]:
    """Stock on hand in the order's warehouse covers every line (on hand, not ``available``: the
    order's own reservation is already counted in ``reserved``)."""
    needed: dict[str, int] = {}
    for sku, quantity in facts.lines:
        needed[sku] = needed.get(sku, 0) + quantity
    return [
        BlockReason(
            BlockCode.OUT_OF_STOCK,
            f"{sku}: {quantity} needed, {on_hand.get(sku, 0)} on hand at {facts.warehouse}",
        )
        for sku, quantity in sorted(needed.items())
        if on_hand.get(sku, 0) < quantity
    ]


def dry_run(facts: PreflightFacts, config: PreflightConfig, on_hand: Mapping[str, int]) -> list[BlockReason]:
    """Every reason the order may not be released (empty: it passes)."""
    return sorted(
        check_waybill_template(facts, config)
        + check_courier_account(facts, config)
        + check_address(facts)
        + check_skus_mapped(facts, config)
        + check_stock(facts, on_hand)
    )


@dataclass(frozen=True, slots=True)
class PreflightResult:
    order_id: str
    order_version: int
    state: str  # "passed", "blocked", "released" (blocked, then a re-check passed), "closed"
    warehouse: str
    reasons: list[dict[str, str]]
    risk: list[str]
    facts: dict[str, Any]
    checked_at: datetime
    config_version: int
    blocked_at: datetime | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "state": self.state,
            "warehouse": self.warehouse,
            "risk": self.risk,
            "reasons": self.reasons,
            "checked_at": self.checked_at.isoformat(),
            "blocked_at": self.blocked_at.isoformat() if self.blocked_at else None,
            "config_version": self.config_version,
            "order_version": self.order_version,
        }
