"""The consumers' DLQ redrive (oms.services.consumer_redrive) over an in-memory DLQ, and the template
naming every consumer DLQ for it."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from local.template import AppModel
from oms.domain.errors import BadRequestError
from oms.services.consumer_redrive import ConsumerDlqRedrive, summarise
from oms.services.ports import DeadLetter

ROOT = Path(__file__).resolve().parents[2]


def change(order_id: str, version: int, platform: str = "douyin") -> str:
    return json.dumps(
        {"order": {"order_id": order_id, "platform": platform}, "entry": {"version_after": version}}
    )


class MemoryDeadLetters:
    """A DLQ and its source in memory: received letters are hidden until released or moved."""

    def __init__(self, bodies: Sequence[str], *, refuse: set[str] | None = None) -> None:
        self.letters = [DeadLetter(f"m{i}", f"r{i}", body, None, {}, 3) for i, body in enumerate(bodies)]
        self.hidden: set[str] = set()
        self.sent: list[str] = []
        self.refuse = refuse or set()

    def depth(self) -> int:
        return len(self.letters)

    def receive(self, max_messages: int, *, hold_seconds: int) -> list[DeadLetter]:
        visible = [letter for letter in self.letters if letter.message_id not in self.hidden]
        taken = visible[: min(max_messages, 10)]
        self.hidden.update(letter.message_id for letter in taken)
        return taken

    def release(self, letters: Sequence[DeadLetter]) -> None:
        self.hidden.difference_update(letter.message_id for letter in letters)

    def move_back(self, letters: Sequence[DeadLetter]) -> dict[str, str | None]:
        moved: dict[str, str | None] = {}
        for letter in letters:
            if letter.message_id in self.refuse:
                moved[letter.message_id] = None
                continue
            self.sent.append(letter.body)
            self.letters.remove(letter)
            self.hidden.discard(letter.message_id)
            moved[letter.message_id] = f"new-{letter.message_id}"
        return moved


def test_filters_select_by_order_platform_and_change_and_leave_the_rest_visible() -> None:
    queue = MemoryDeadLetters(
        [change("o1", 1), change("o1", 2), change("o2", 1, "shopify"), "not json", change("o3", 4)]
    )
    redrive = ConsumerDlqRedrive({"SettlementDLQ": queue})

    by_order = redrive.redrive({"queue": "SettlementDLQ", "order_id": "o1"})
    assert (by_order.count("redriven"), by_order.count("skipped")) == (2, 3)
    assert queue.sent == [change("o1", 1), change("o1", 2)]
    assert queue.hidden == set()  # the skipped ones are visible again at once
    reasons = {result.reason for result in by_order.results if result.action == "skipped"}
    assert reasons == {"another order", "not an OrderChanged: only an unfiltered redrive moves it"}

    by_change = redrive.redrive({"queue": "SettlementDLQ", "change_ids": ["o3#v4"], "dry_run": True})
    assert [r.change_id for r in by_change.results if r.action == "would_redrive"] == ["o3#v4"]
    assert queue.depth() == 3  # a dry run moves nothing

    by_platform = redrive.redrive({"queue": "SettlementDLQ", "platform": "shopify"})
    assert [r.order_id for r in by_platform.results if r.action == "redriven"] == ["o2"]
    everything = redrive.redrive({"queue": "SettlementDLQ"})
    assert everything.as_dict()["redriven"] == 2
    assert queue.depth() == 0
    assert redrive.depths() == {"SettlementDLQ": 0}


def test_a_refused_send_stays_in_the_dlq_and_is_reported_failed() -> None:
    queue = MemoryDeadLetters([change("o1", 1), change("o2", 1)], refuse={"m1"})
    report = ConsumerDlqRedrive({"SlaDLQ": queue}).redrive({"queue": "SlaDLQ"})
    assert (report.count("redriven"), report.count("failed")) == (1, 1)
    assert queue.depth() == 1
    assert queue.hidden == set()


def test_max_messages_and_time_stop_early_and_say_more() -> None:
    queue = MemoryDeadLetters([change(f"o{n}", 1) for n in range(25)])
    redrive = ConsumerDlqRedrive({"SlaDLQ": queue})
    report = redrive.redrive({"queue": "SlaDLQ", "max_messages": 12})
    assert (report.count("redriven"), report.more) == (12, True)
    assert redrive.redrive({"queue": "SlaDLQ"}, seconds_left=lambda: 1.0).as_dict()["more"] is True
    assert queue.depth() == 13


@pytest.mark.parametrize(
    "body",
    [{}, {"queue": "IntakeDLQ"}, {"queue": "SlaDLQ", "max_messages": 0}, {"queue": "SlaDLQ", "colour": 1}],
)
def test_bad_filters_are_refused_with_bad_request(body: dict[str, object]) -> None:
    with pytest.raises(BadRequestError):
        ConsumerDlqRedrive({"SlaDLQ": MemoryDeadLetters([])}).redrive(body)


def test_a_letter_is_summarised_from_its_order_changed_body() -> None:
    assert summarise(change("o9", 3)).change_id == "o9#v3"
    assert summarise("[1, 2]").order_id is None


def test_every_consumer_dlq_of_the_template_can_be_redriven_by_the_admin_api() -> None:
    model = AppModel.load(ROOT / "template.yaml")
    sources = {}
    for logical_id, resource in model.resources.items():
        policy = (resource.get("Properties") or {}).get("RedrivePolicy")
        if resource["Type"] == "AWS::SQS::Queue" and policy:
            sources[policy["deadLetterTargetArn"]["Fn::GetAtt"][0]] = logical_id
    sources.pop("IntakeDLQ")  # its own route: POST /dlq/redrive
    variable = model.functions["AdminApiFunction"].environment["CONSUMER_DLQS"]["Fn::Sub"]
    configured = {
        dlq: source
        for dlq, source in re.findall(r'"(\w+)": \{"dlq": "\$\{\1\}", "source": "\$\{(\w+)\}"\}', variable)
    }
    assert configured == sources
