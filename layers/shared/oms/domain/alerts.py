"""Alerts: what a capability wants a person to know, independent of how it reaches them.

Producers (the reconciler's conflicts, the inventory surge breaker and sync differences, SLA
escalations, return gaps, a warehouse going offline) build an :class:`Alert` and hand it to the
``AlertSink`` port. Which person and which channel (DingTalk, Feishu, WeCom, a voice call, or only
the log and a metric) is the sink's business: producers never name a channel.

``dedupe_key`` makes an alert fire once: a sink that delivers (not the log sink) records it with a
conditional write and drops a second alert with the same key. Keys are chosen by the producer so
that "one alert per outage" or "one alert per order and level" is a property of the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing to tell an operator.

    ``kind`` is a stable, dotted name (``reconcile.conflicts``, ``inventory.surge``,
    ``sla.level1``, ``wms.offline``) used for routing and as a metric dimension; ``title`` and
    ``lines`` are the human text (Markdown-free: every channel renders plain text); ``facts`` are
    the structured details kept with the alert (ids, counts), never personal data.
    """

    kind: str
    severity: Severity
    title: str
    dedupe_key: str
    lines: tuple[str, ...] = ()
    facts: Mapping[str, str | int | float] = field(default_factory=dict)
    #: A role the routing maps to people (``warehouse_lead``, ``duty_manager``); empty = the default
    recipient_role: str = ""
