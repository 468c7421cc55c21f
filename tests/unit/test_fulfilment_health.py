"""Stage paths, flows and the Sankey layout: conservation and proportional widths (properties)."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from oms.domain.fulfilment_health import (
    STAGES,
    OrderPath,
    flows,
    health_report,
    order_path,
    sankey_layout,
    stuck_between,
)
from oms.domain.health_report_html import render_html
from oms.domain.sla import SlaRecord, summarize

T0 = datetime(2026, 11, 3, 2, 0, tzinfo=UTC)


def hours(value: float) -> datetime:
    return T0 + timedelta(hours=value)


def test_a_stage_nobody_reported_is_passed_at_the_previous_time_and_its_wait_goes_to_the_next() -> None:
    path = order_path("o1", {"paid": hours(0), "sent_to_wms": hours(3), "printed": hours(4)})
    assert path is not None
    assert path.times == (hours(0), hours(0), hours(3), hours(4))
    assert path.in_progress
    [_paid, approved, sent, printed, picked, delivered] = flows([path], as_of=hours(10))
    assert (approved.wait_hours, sent.wait_hours, printed.wait_hours) == (0.0, 3.0, 1.0)
    # printed 6 h ago and still not picked up: that is where the time goes
    assert picked.wait_hours == 6.0
    assert picked.waiting == 1
    assert picked.reached == 0
    assert picked.highlighted
    assert sent.highlighted
    assert not printed.highlighted
    assert delivered.reached == 0


def test_a_cancelled_order_adds_no_open_wait_and_times_never_go_backwards() -> None:
    path = order_path("o1", {"paid": hours(5), "approved": hours(4)}, cancelled=True)
    assert path is not None
    assert path.times == (hours(5), hours(5))
    assert not path.in_progress
    assert sum(flow.wait_hours for flow in flows([path], as_of=hours(50))) == 0.0
    assert order_path("o2", {"printed": hours(1)}) is None


stage_facts = st.lists(
    st.tuples(
        st.sets(st.sampled_from(STAGES[1:])),
        st.lists(st.integers(min_value=0, max_value=96), min_size=len(STAGES), max_size=len(STAGES)),
        st.booleans(),
    ),
    max_size=40,
)


def paths_of(drawn: list[tuple[set[str], list[int], bool]]) -> list[OrderPath]:
    paths = []
    for number, (stages, offsets, cancelled) in enumerate(drawn):
        facts = {"paid": hours(0)} | {stage: hours(offsets[STAGES.index(stage)]) for stage in stages}
        path = order_path(f"o{number}", facts, cancelled=cancelled)
        assert path is not None
        paths.append(path)
    return paths


@settings(max_examples=60, deadline=None)
@given(stage_facts)
def test_flows_conserve_orders_and_shares_add_up(drawn: list[tuple[set[str], list[int], bool]]) -> None:
    paths = paths_of(drawn)
    stage_flows = flows(paths, as_of=hours(200))
    assert stage_flows[0].reached == len(paths)
    for index, flow in enumerate(stage_flows):
        # what enters a stage leaves it for the next one or ends there
        assert flow.onward + flow.ended == flow.reached
        if index + 1 < len(stage_flows):
            assert stage_flows[index + 1].reached == flow.onward
        assert flow.wait_hours >= 0
    assert sum(flow.ended for flow in stage_flows) == len(paths)
    total = sum(flow.wait_hours for flow in stage_flows)
    if total:
        assert abs(sum(flow.share for flow in stage_flows) - 1) < 1e-3
        assert all(flow.highlighted == (flow.wait_hours / total > 0.15) for flow in stage_flows)


@settings(max_examples=60, deadline=None)
@given(stage_facts)
def test_the_layout_is_proportional_conserving_and_inside_the_canvas(
    drawn: list[tuple[set[str], list[int], bool]],
) -> None:
    stage_flows = flows(paths_of(drawn), as_of=hours(200))
    layout = sankey_layout(stage_flows, width=900, height=400)
    if not drawn:
        assert layout.nodes == ()
        assert layout.links == ()
        return
    nodes = {node.key: node for node in layout.nodes}
    for node in layout.nodes:
        assert abs(node.height - node.value * layout.scale) < 1e-6
        assert node.x >= 0
        assert node.x + node.width <= 900
        assert node.y >= 0
        assert node.y + node.height <= 400 + 1e-6
    for link in layout.links:
        assert abs(link.width - link.value * layout.scale) < 1e-6
        source, target = nodes[link.source], nodes[link.target]
        # a band leaves inside its source and arrives inside its target
        assert source.y - 1e-6 <= link.source_y
        assert link.source_y + link.width <= source.y + source.height + 1e-6
        assert target.y - 1e-6 <= link.target_y
        assert link.target_y + link.width <= target.y + target.height + 1e-6
        assert link.x0 == source.x + source.width
        assert link.x1 == target.x
    for node in layout.nodes:
        incoming = sum(link.value for link in layout.links if link.target == node.key)
        outgoing = sum(link.value for link in layout.links if link.source == node.key)
        if node.key != "paid":
            assert incoming == node.value
        # what leaves a stage is at most what entered it; the rest was delivered
        assert outgoing <= node.value
        if node.kind == "stage" and node.key != "delivered":
            assert outgoing == node.value
    # bands leaving one node do not overlap
    for key in nodes:
        bands = sorted(
            (link.source_y, link.source_y + link.width) for link in layout.links if link.source == key
        )
        assert all(end <= start + 1e-6 for (_, end), (start, _) in itertools.pairwise(bands))


def record(order_id: str, *, shipped: float | None = None, cancelled: bool = False) -> SlaRecord:
    return SlaRecord(
        order_id=order_id,
        channel="douyin",
        warehouse="hangzhou",
        sku_class="standard",
        paid_at=hours(0),
        deadline=hours(48),
        policy_version=1,
        order_version=3,
        shipped_at=hours(shipped) if shipped is not None else None,
        closed_reason="cancelled" if cancelled else ("shipped" if shipped is not None else ""),
    )


def test_the_page_is_self_contained_and_carries_its_numbers() -> None:
    records = [record("a", shipped=20), record("b", shipped=60), record("c"), record("d", cancelled=True)]
    facts = {
        "a": {"sent_to_wms": hours(1), "printed": hours(2), "picked_up": hours(20), "delivered": hours(70)},
        "b": {"sent_to_wms": hours(1), "printed": hours(30), "picked_up": hours(60)},
        "c": {"sent_to_wms": hours(2)},
    }
    report = health_report("2026-11", records, facts, start=hours(-48), end=hours(600), as_of=hours(100))
    page = render_html(report)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "nothing loaded from anywhere"
    assert page.count('class="node stage') == 6
    assert 'class="link onward' in page
    data = json.loads(page.split('id="report-data">', 1)[1].split("</script>", 1)[0])
    assert [stage["reached"] for stage in data["stages"]] == [4, 3, 3, 2, 2, 1]
    assert data["on_time_rate"] == round(1 / 3, 4)  # a on time, b late, c overdue; d cancelled
    assert data["warehouses"][0]["mean_hours_to_pickup"] == 40.0
    assert data["highlighted"] == [flow.stage for flow in report.stages if flow.highlighted]
    assert "printed" in data["highlighted"] or "picked_up" in data["highlighted"]


def test_a_missed_deadline_says_which_stages_the_order_was_between() -> None:
    deadline = hours(48)
    printed = {"paid": hours(0), "sent_to_wms": hours(2), "printed": hours(40), "picked_up": hours(50)}
    assert stuck_between(printed, deadline) == "between_printed_and_picked_up"
    assert (
        stuck_between({"paid": hours(0), "sent_to_wms": hours(49)}, deadline)
        == "between_approved_and_sent_to_wms"
    )
    # without anything from the warehouse, the escalation level stays the reason
    assert stuck_between({"paid": hours(0), "approved": hours(1)}, deadline) is None
    late = record("late", shipped=60)
    overdue = record("overdue")
    [row] = summarize([late, overdue], "warehouse", hours(100), {"late": "between_printed_and_picked_up"})
    assert row["timeout_reasons"] == {"late_between_printed_and_picked_up": 1, "overdue_after_level_0": 1}
