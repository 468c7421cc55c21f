"""The flash-sale demo chapter on its own local stack: its oracle must find nothing to report."""

from __future__ import annotations

import json

from local import flash_sale_chapter, inventory_health_chapter
from local.stack import LocalStack


def test_the_flash_sale_never_oversells_inside_the_ledger(stack: LocalStack):
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    chapter = flash_sale_chapter.run(stack, credentials)
    assert chapter.mismatches == []
    summary = chapter.summary
    assert summary["ledger_oversell"] == 0
    assert summary["ledger_reservations"] == flash_sale_chapter.UNITS
    assert summary["channel_oversell"]["pinduoduo"] > 0  # the 3.7 s lag lets Pinduoduo oversell
    assert summary["expired_holds"] > 0


def test_the_health_report_ranks_the_flash_sale_sku_first_with_its_reasons(stack: LocalStack):
    # After the flash sale above (same stack): the report's own oracle, from the sale's records
    credentials = json.loads(stack.credentials_file.read_text(encoding="utf-8"))
    chapter = inventory_health_chapter.run(stack, credentials)
    assert chapter.mismatches == []
    assert chapter.summary["flash_sale_sku"]["rank"] == "1"
    assert int(chapter.summary["oracle"]["oversold_lines"]) > 0
