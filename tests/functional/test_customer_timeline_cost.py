"""The timeline's access pattern, counted (bench/customer_timeline.py): queries per page, never a scan."""

from __future__ import annotations

from bench.customer_timeline import ORDERS, PAGE, measure


def test_a_timeline_page_is_one_query_per_merged_customer_and_never_a_scan():
    # GIVEN a customer of 100 orders (two merged customers) WHEN its timeline is read page by page
    result = measure(runs=1)
    first, walk = result["first_page"], result["all_pages"]
    # THEN each page is one Query per merged customer plus the reference lookup, a GetItem per profile
    assert first["entries"] == PAGE
    assert first["calls"] == {"Query": len(ORDERS) + 1, "GetItem": len(ORDERS) + 1}
    assert walk["entries"] == 2 * sum(ORDERS)  # placed and shipped, every order within 90 days
    assert walk["calls"]["Query"] == walk["pages"] * (len(ORDERS) + 1)
    assert set(walk["calls"]) == {"Query", "GetItem"}
    # AND a page reads at most its own entries plus two per partition (Limit = page + 2)
    assert first["items_read"] <= len(ORDERS) * (PAGE + 2) + 1 + len(ORDERS) + 1
