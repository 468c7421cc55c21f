"""Where fulfilment time goes: per-order stage facts, their flows, and a Sankey layout (pure).

An order passes six stages: paid → approved → sent to WMS → printed → picked up → delivered. Paid,
approved and delivered come from the order's history (``OrderChanged``); sent to WMS, printed and
picked up from the warehouse (``POST /wms/orders/events``). Each stage keeps its first time.

**Paths are contiguous.** A stage nobody reported (a platform without an approval step, a WMS that
does not report printing) is taken as passed when the next reported stage was reached, at the time
of the previous one: its wait is zero and the time goes to the next reported stage. Times are made
non-decreasing along the path (a WMS clock a little behind ours cannot make a wait negative).

**Waits.** The wait of stage *i* is the time from stage *i − 1* to stage *i*. An order still on its
way (not delivered, not cancelled) adds the time from its last stage to the report's *as of* to the
wait of its next stage: an order printed three days ago and never picked up is exactly where time
goes. A stage whose waits are over :data:`HIGHLIGHT_SHARE` of all the time is highlighted.

**Flows are weighted by order count**, not by time: a Sankey only reads right when what enters a
node leaves it or ends there; time is not conserved between stages (docs/decisions.md D130). The
time is shown on each link (share and mean hours) and by the highlight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from oms.domain.sla import SlaRecord, outcome

STAGES: tuple[str, ...] = ("paid", "approved", "sent_to_wms", "printed", "picked_up", "delivered")
#: The stages only the warehouse can report
WMS_STAGES: tuple[str, ...] = ("sent_to_wms", "printed", "picked_up")
STAGE_LABELS: dict[str, str] = {
    "paid": "paid",
    "approved": "approved",
    "sent_to_wms": "sent to WMS",
    "printed": "printed",
    "picked_up": "picked up",
    "delivered": "delivered",
}
#: A stage whose waits take more than this share of all the time is highlighted
HIGHLIGHT_SHARE = 0.15


def wait_name(index: int) -> str:
    """``printed → picked up``: the wait that ends at ``STAGES[index]``."""
    return f"{STAGE_LABELS[STAGES[index - 1]]} → {STAGE_LABELS[STAGES[index]]}"


@dataclass(frozen=True, slots=True)
class OrderPath:
    """One order's contiguous path: the time it reached each stage, ``times[0]`` being paid."""

    order_id: str
    times: tuple[datetime, ...]
    #: Still on its way at the report's time (its open wait counts toward the next stage)
    in_progress: bool

    @property
    def last(self) -> int:
        return len(self.times) - 1


def order_path(order_id: str, facts: Mapping[str, datetime], *, cancelled: bool = False) -> OrderPath | None:
    """The contiguous path through :data:`STAGES` (None without a paid time)."""
    if "paid" not in facts:
        return None
    reached = max(index for index, stage in enumerate(STAGES) if stage in facts)
    times: list[datetime] = []
    for index in range(reached + 1):
        moment = facts.get(STAGES[index])
        if moment is None:  # not reported: passed at the previous stage's time
            moment = times[-1]
        times.append(max(moment, times[-1]) if times else moment)
    return OrderPath(order_id, tuple(times), in_progress=not cancelled and reached < len(STAGES) - 1)


@dataclass(frozen=True, slots=True)
class StageFlow:
    """What the orders did at one stage."""

    stage: str
    #: Orders that reached it
    reached: int
    #: Orders that went on to the next stage (0 for the last)
    onward: int
    #: Hours of waiting that ended here (or are still running toward it), summed over orders
    wait_hours: float
    #: Orders whose wait toward this stage is still running
    waiting: int
    share: float = 0.0
    highlighted: bool = False

    @property
    def ended(self) -> int:
        """Orders whose path stops here (delivered, cancelled or still on the way to the next)."""
        return self.reached - self.onward

    @property
    def mean_wait_hours(self) -> float:
        arrivals = self.reached + self.waiting
        return self.wait_hours / arrivals if arrivals else 0.0


def flows(paths: Iterable[OrderPath], as_of: datetime) -> tuple[StageFlow, ...]:
    """Per stage: orders reaching it and going on, hours waited toward it, its share of the time."""
    reached = [0] * len(STAGES)
    waiting = [0] * len(STAGES)
    hours = [0.0] * len(STAGES)
    for path in paths:
        for index in range(path.last + 1):
            reached[index] += 1
            if index:
                hours[index] += _hours(path.times[index] - path.times[index - 1])
        if path.in_progress and path.last + 1 < len(STAGES):
            waiting[path.last + 1] += 1
            hours[path.last + 1] += max(_hours(as_of - path.times[-1]), 0.0)
    total = sum(hours)
    result = []
    for index, stage in enumerate(STAGES):
        share = hours[index] / total if total else 0.0
        result.append(
            StageFlow(
                stage=stage,
                reached=reached[index],
                onward=reached[index + 1] if index + 1 < len(STAGES) else 0,
                wait_hours=round(hours[index], 4),
                waiting=waiting[index],
                share=round(share, 4),
                highlighted=share > HIGHLIGHT_SHARE,
            )
        )
    return tuple(result)


def _hours(delta: timedelta) -> float:
    return delta.total_seconds() / 3600


def stuck_between(facts: Mapping[str, datetime], deadline: datetime) -> str | None:
    """Where an order was when its deadline passed: ``between_printed_and_picked_up``.

    None unless the warehouse reported a stage (without WMS facts, "between approved and
    delivered" would say nothing the escalation level does not).
    """
    if not any(stage in facts for stage in WMS_STAGES):
        return None
    path = order_path("", facts)
    if path is None:
        return None
    reached = max((index for index, moment in enumerate(path.times) if moment <= deadline), default=0)
    if reached + 1 >= len(STAGES):
        return None
    return f"between_{STAGES[reached]}_and_{STAGES[reached + 1]}"


# --------------------------------------------------------------------------- the Sankey layout


@dataclass(frozen=True, slots=True)
class NodeBox:
    """A stage (``kind = "stage"``) or the orders that stopped after one (``kind = "ended"``)."""

    key: str
    label: str
    kind: str
    value: int
    x: float
    y: float
    width: float
    height: float
    highlighted: bool = False


@dataclass(frozen=True, slots=True)
class LinkBand:
    """A band from ``source`` to ``target``; its width is ``value × scale`` at both ends."""

    source: str
    target: str
    kind: str
    value: int
    width: float
    source_y: float
    target_y: float
    x0: float
    x1: float
    highlighted: bool = False
    label: str = ""


@dataclass(frozen=True, slots=True)
class SankeyLayout:
    width: float
    height: float
    #: Pixels per order: every node height and link width is ``value × scale``
    scale: float
    nodes: tuple[NodeBox, ...] = ()
    links: tuple[LinkBand, ...] = field(default=())

    def node(self, key: str) -> NodeBox:
        return next(node for node in self.nodes if node.key == key)


def sankey_layout(
    stage_flows: Sequence[StageFlow],
    *,
    width: float = 960.0,
    height: float = 420.0,
    node_width: float = 16.0,
    margin: float = 24.0,
    gap: float = 28.0,
) -> SankeyLayout:
    """Columns of stages left to right; under each stage (from the second) the orders that stopped
    at the previous one. Every column holds at most the paid orders, so one scale fits them all."""
    total = stage_flows[0].reached if stage_flows else 0
    if total == 0:
        return SankeyLayout(width=width, height=height, scale=0.0)
    scale = (height - 2 * margin - gap) / total
    step = (width - 2 * margin - node_width) / (len(stage_flows) - 1)
    nodes: list[NodeBox] = []
    links: list[LinkBand] = []
    top = margin
    for index, flow in enumerate(stage_flows):
        if flow.reached == 0:
            break
        x = margin + index * step
        nodes.append(
            NodeBox(
                key=flow.stage,
                label=STAGE_LABELS[flow.stage],
                kind="stage",
                value=flow.reached,
                x=x,
                y=top,
                width=node_width,
                height=flow.reached * scale,
                highlighted=flow.highlighted,
            )
        )
        if index == 0:
            continue
        previous = stage_flows[index - 1]
        links.append(
            LinkBand(
                source=previous.stage,
                target=flow.stage,
                kind="onward",
                value=flow.reached,
                width=flow.reached * scale,
                source_y=top,
                target_y=top,
                x0=margin + (index - 1) * step + node_width,
                x1=x,
                highlighted=flow.highlighted,
                label=f"{wait_name(index)}: {flow.share:.0%} of the time, {flow.mean_wait_hours:.1f} h mean",
            )
        )
    for index, flow in enumerate(stage_flows[:-1]):
        if flow.reached == 0 or flow.ended == 0:
            continue
        # Orders that stopped at ``flow``: below the next stage, fed by the bottom of ``flow``.
        x = margin + (index + 1) * step
        y = top + flow.onward * scale + (gap if flow.onward else 0.0)
        key = f"ended_{flow.stage}"
        nodes.append(
            NodeBox(
                key=key,
                label=f"stopped at {STAGE_LABELS[flow.stage]}",
                kind="ended",
                value=flow.ended,
                x=x,
                y=y,
                width=node_width,
                height=flow.ended * scale,
            )
        )
        links.append(
            LinkBand(
                source=flow.stage,
                target=key,
                kind="ended",
                value=flow.ended,
                width=flow.ended * scale,
                source_y=top + flow.onward * scale,
                target_y=y,
                x0=margin + index * step + node_width,
                x1=x,
                label=f"{flow.ended} stopped at {STAGE_LABELS[flow.stage]}",
            )
        )
    return SankeyLayout(width=width, height=height, scale=scale, nodes=tuple(nodes), links=tuple(links))


# --------------------------------------------------------------------------- the whole report


@dataclass(frozen=True, slots=True)
class WarehouseRow:
    warehouse: str
    orders: int
    promised: int
    on_time: int
    late: int
    overdue: int
    on_time_rate: float | None
    #: Mean hours from payment to pickup, over the orders picked up
    mean_hours_to_pickup: float | None


@dataclass(frozen=True, slots=True)
class HealthReport:
    period: str
    start: datetime
    end: datetime
    as_of: datetime
    orders: int
    promised: int
    on_time: int
    on_time_rate: float | None
    stages: tuple[StageFlow, ...]
    warehouses: tuple[WarehouseRow, ...]
    layout: SankeyLayout

    @property
    def highlighted(self) -> list[str]:
        return [flow.stage for flow in self.stages if flow.highlighted]


def health_report(
    period: str,
    records: Sequence[SlaRecord],
    facts: Mapping[str, Mapping[str, datetime]],
    *,
    start: datetime,
    end: datetime,
    as_of: datetime,
) -> HealthReport:
    """The month's orders (those whose deadline falls in it) with their stage facts, at ``as_of``."""
    paths: dict[str, OrderPath] = {}
    for record in records:
        known = dict(facts.get(record.order_id, {}))
        known.setdefault("paid", record.paid_at)
        path = order_path(record.order_id, known, cancelled=record.closed_reason == "cancelled")
        if path is not None:
            paths[record.order_id] = path
    stage_flows = flows(paths.values(), as_of)
    outcomes = [outcome(record, as_of) for record in records]
    promised = sum(1 for got in outcomes if got in ("on_time", "late", "overdue"))
    on_time = outcomes.count("on_time")
    return HealthReport(
        period=period,
        start=start,
        end=end,
        as_of=as_of,
        orders=len(paths),
        promised=promised,
        on_time=on_time,
        on_time_rate=round(on_time / promised, 4) if promised else None,
        stages=stage_flows,
        warehouses=_warehouse_rows(records, paths, as_of),
        layout=sankey_layout(stage_flows),
    )


def _warehouse_rows(
    records: Sequence[SlaRecord], paths: Mapping[str, OrderPath], as_of: datetime
) -> tuple[WarehouseRow, ...]:
    pickup = STAGES.index("picked_up")
    groups: dict[str, list[SlaRecord]] = {}
    for record in records:
        groups.setdefault(record.warehouse, []).append(record)
    rows = []
    for name in sorted(groups):
        outcomes = [outcome(record, as_of) for record in groups[name]]
        promised = sum(1 for got in outcomes if got in ("on_time", "late", "overdue"))
        to_pickup = [
            _hours(path.times[pickup] - path.times[0])
            for record in groups[name]
            if (path := paths.get(record.order_id)) is not None and path.last >= pickup
        ]
        rows.append(
            WarehouseRow(
                warehouse=name,
                orders=len(groups[name]),
                promised=promised,
                on_time=outcomes.count("on_time"),
                late=outcomes.count("late"),
                overdue=outcomes.count("overdue"),
                on_time_rate=round(outcomes.count("on_time") / promised, 4) if promised else None,
                mean_hours_to_pickup=round(sum(to_pickup) / len(to_pickup), 2) if to_pickup else None,
            )
        )
    return tuple(rows)
