"""Chapters of ``make demo`` played after the scenario replay, one module each.

Each capability (reconciliation patrol, flash sale, settlements, SLA day, …) tells its part of the
demo in a module of its own with a ``run(stack, credentials) -> Chapter`` function, listed in
:data:`CHAPTERS` in the order they play. A chapter reads everything back as an operator would
(over the API, from S3) and lists what did not match its own oracle in ``mismatches``; the demo
fails when any chapter has one.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from local.stack import LocalStack

#: Modules under ``local`` that play a chapter, in order (each has ``run(stack, credentials)``).
CHAPTERS: tuple[str, ...] = (
    "reconcile_chapter",
    "returns_chapter",
    "settlement_chapter",
    "flash_sale_chapter",
    "inventory_health_chapter",
    "customers_chapter",
    "sla_chapter",
    "inventory_sync_chapter",
    "fulfilment_chapter",
    "channel_pulls_chapter",
)


@dataclass
class Chapter:
    """What a chapter found: ``summary`` goes to ``out/demo-summary.json``, ``lines`` to the terminal."""

    name: str
    summary: dict[str, Any] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)


ChapterRunner = Callable[["LocalStack", Mapping[str, Any]], Chapter]


def runners(names: tuple[str, ...] = CHAPTERS) -> list[ChapterRunner]:
    return [importlib.import_module(f"local.{name}").run for name in names]
