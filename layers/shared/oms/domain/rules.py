"""Cleaning rules as operators' data: versions, canary rollout, and which rules an order gets.

A rule (:class:`ManagedRule`) names one platform, the fields it touches and the operation
(:class:`~oms.domain.cleaning.Transform`). Each change of what it does is a new *version*; each
version goes through ``canary`` (a percentage of orders) to ``full`` (every order), or is
``rolled_back``. When a version reaches ``full`` the version it replaces becomes ``superseded``.

The versions in force form the :class:`RuleSet` (one revision number for all of them), which is
what the sanitizer reads. :meth:`RuleSet.select` decides, for one order, which versions apply:

- a ``full`` version applies to every order of its platform;
- a ``canary`` version applies to the orders whose bucket for that rule is below its
  percentage, and the ``full`` version it would replace (if any) to the others.

The bucket is ``sha256(rule id | unified order id) mod 100``: stable, so every event of an order
sees the same rules, and salted by the rule, so two rules' canaries do not fall on the same orders.
Raising the percentage only adds orders to the canary. At most one canary runs per platform at a
time, so every event compares against one clean baseline (docs/decisions.md D10).

Operators' rules run before the built-in defaults (they are pre-cleaning: percent-decode first, and
the default rules then strip, fold and trim what the decoding revealed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from oms.domain.cleaning import FIELD_PATTERN, MAX_PATTERN_LENGTH, CleaningRule, Transform
from oms.domain.errors import RuleConflictError, RuleInvalidError, RuleNotFoundError
from oms.domain.model import Cohort, Platform, RolloutMark, UtcDatetime

RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
#: Versions in force at once (canary and full); the rule set is one DynamoDB item (400 KB).
MAX_RULES_IN_FORCE = 100
#: Buckets an order is hashed into for a canary; a percentage is a number of buckets.
BUCKETS = 100

FieldPattern = Annotated[str, Field(pattern=FIELD_PATTERN)]


class RolloutStatus(StrEnum):
    CANARY = "canary"
    FULL = "full"
    ROLLED_BACK = "rolled_back"
    SUPERSEDED = "superseded"

    @property
    def in_force(self) -> bool:
        return self in (RolloutStatus.CANARY, RolloutStatus.FULL)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class _RuleDefinition(_Frozen):
    """What a rule does, on which platform and which fields."""

    platform: Platform
    fields: tuple[FieldPattern, ...] = Field(min_length=1, max_length=20)
    operation: Transform
    pattern: str | None = Field(default=None, max_length=MAX_PATTERN_LENGTH)
    replacement: str = Field(default="", max_length=MAX_PATTERN_LENGTH)
    description: str = Field(default="", max_length=500)

    def cleaning_rule(self, rule_id: str, version: int) -> CleaningRule:
        """The rule as :func:`~oms.domain.cleaning.clean_payload` applies it (raises ``ValueError``)."""
        return CleaningRule(
            name=rule_id,
            version=version,
            transform=self.operation,
            fields=self.fields,
            platforms=(str(self.platform),),
            pattern=self.pattern,
            replacement=self.replacement,
            description=self.description,
        )


class ManagedRule(_RuleDefinition):
    """One version of an operators' cleaning rule, with its rollout state and who changed it."""

    rule_id: str = Field(pattern=RULE_ID_PATTERN)
    version: int = Field(ge=1)
    status: RolloutStatus
    percentage: int = Field(ge=0, le=100)
    created_at: UtcDatetime
    created_by: str
    updated_at: UtcDatetime
    updated_by: str
    canary_started_at: UtcDatetime | None = None
    promoted_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None  # rolled back or superseded

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        self.cleaning_rule(self.rule_id, self.version)
        if self.status is RolloutStatus.FULL and self.percentage != 100:
            raise ValueError("a full rule applies to 100% of orders")
        if self.status is RolloutStatus.CANARY and not 1 <= self.percentage <= 99:
            raise ValueError("a canary applies to 1-99% of orders")
        return self

    @property
    def key(self) -> str:
        """``rule-id@version``, as rollout marks and logs name a version."""
        return f"{self.rule_id}@{self.version}"

    @property
    def rule(self) -> CleaningRule:
        return self.cleaning_rule(self.rule_id, self.version)


class RuleExample(_Frozen):
    """An input and the output the rule must turn it into (checked before the rule is saved)."""

    input: str = Field(max_length=1000)
    output: str = Field(max_length=1000)


class RuleDraft(_RuleDefinition):
    """``POST /cleaning-rules``: a new rule, or a new version of an existing one."""

    rule_id: str = Field(pattern=RULE_ID_PATTERN)
    percentage: int = Field(default=10, ge=1, le=100)
    examples: tuple[RuleExample, ...] = Field(default=(), max_length=20)
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _valid_rule_and_examples(self) -> Self:
        rule = self.cleaning_rule(self.rule_id, 1)
        wrong = [
            f"{example.input!r} -> {rule.apply(example.input)!r}, expected {example.output!r}"
            for example in self.examples
            if rule.apply(example.input) != example.output
        ]
        if wrong:
            raise ValueError("examples do not hold: " + "; ".join(wrong[:5]))
        return self


class RuleUpdate(_Frozen):
    """``PATCH /cleaning-rules/{rule_id}``: raise a canary, promote it, or roll a version back."""

    status: Literal["canary", "full", "rolled_back"] | None = None
    percentage: int | None = Field(default=None, ge=1, le=100)
    version: int | None = Field(default=None, ge=1)  # the version expected in force (optimistic lock)
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _says_something(self) -> Self:
        if self.status is None and self.percentage is None:
            raise ValueError("give a status or a percentage")
        if self.status == "rolled_back" and self.percentage is not None:
            raise ValueError("a roll-back takes no percentage")
        if self.status == "canary" and self.percentage == 100:
            raise ValueError("a canary applies to 1-99% of orders; promote with status full")
        return self


class RuleAudit(_Frozen):
    """One change to a rule: who, when, why, before and after."""

    rule_id: str
    version: int
    action: Literal["created", "raised", "promoted", "rolled_back"]
    at: UtcDatetime
    by: str
    reason: str = ""
    status_before: RolloutStatus | None = None
    status_after: RolloutStatus
    percentage_before: int | None = None
    percentage_after: int
    revision: int  # the rule set's revision after the change


@dataclass(frozen=True, slots=True)
class RuleSelection:
    """The operators' rules in force for one order, and the canary side it is on (if one runs)."""

    revision: int
    rules: tuple[CleaningRule, ...]
    rollout: RolloutMark | None = None


def canary_bucket(rule_id: str, order_key: str) -> int:
    """The order's bucket (0-99) for ``rule_id``: stable, independent of every other rule."""
    digest = hashlib.sha256(f"{rule_id}|{order_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


class RuleSet(_Frozen):
    """Every rule version in force, oldest rule first; one revision number for the whole set."""

    revision: int = Field(default=0, ge=0)
    rules: tuple[ManagedRule, ...] = ()

    @model_validator(mode="after")
    def _invariants(self) -> Self:
        if any(not rule.status.in_force for rule in self.rules):
            raise ValueError("a rule set holds canary and full versions only")
        statuses = [(rule.rule_id, rule.status) for rule in self.rules]
        if len(set(statuses)) != len(statuses):
            raise ValueError("a rule has at most one full and one canary version in force")
        canaries = [rule.platform for rule in self.rules if rule.status is RolloutStatus.CANARY]
        if len(set(canaries)) != len(canaries):
            raise ValueError("at most one canary runs per platform")
        return self

    def versions(self, rule_id: str) -> tuple[ManagedRule | None, ManagedRule | None]:
        """(full version, canary version) of ``rule_id`` in force."""
        full = next((r for r in self.rules if r.rule_id == rule_id and r.status is RolloutStatus.FULL), None)
        canary = next(
            (r for r in self.rules if r.rule_id == rule_id and r.status is RolloutStatus.CANARY), None
        )
        return full, canary

    def canary_on(self, platform: str) -> ManagedRule | None:
        return next(
            (r for r in self.rules if r.platform == platform and r.status is RolloutStatus.CANARY), None
        )

    def select(self, platform: str, order_key: str | None) -> RuleSelection:
        """The rules in force for one order of ``platform``.

        ``order_key`` is the order's unified id; without one (a message naming no order) the
        order is on the baseline side of every canary.
        """
        chosen: list[CleaningRule] = []
        mark: RolloutMark | None = None
        for rule_id in dict.fromkeys(rule.rule_id for rule in self.rules if rule.platform == platform):
            full, canary = self.versions(rule_id)
            applied = full
            if canary is not None:
                bucket = canary_bucket(rule_id, order_key) if order_key else BUCKETS - 1
                in_canary = order_key is not None and bucket < canary.percentage
                cohort = Cohort.CANARY if in_canary else Cohort.BASELINE
                mark = RolloutMark(rule_id=rule_id, version=canary.version, cohort=cohort, bucket=bucket)
                if in_canary:
                    applied = canary
            if applied is not None:
                chosen.append(applied.rule)
        return RuleSelection(revision=self.revision, rules=tuple(chosen), rollout=mark)


@dataclass(frozen=True, slots=True)
class RuleChange:
    """What one rule change writes: the version, the version it supersedes, the new set, the audit."""

    rule: ManagedRule
    superseded: ManagedRule | None
    ruleset: RuleSet
    expected_revision: int
    audit: RuleAudit
    created: bool


def create_rule(
    draft: RuleDraft, *, ruleset: RuleSet, latest: ManagedRule | None, now: UtcDatetime, actor: str
) -> RuleChange:
    """A new rule (version 1) or a new version of ``draft.rule_id`` (``latest`` is its newest version).

    A percentage below 100 starts a canary: the rule's full version (if any) stays for the others.
    100 puts the version in force for everyone at once (the full version it replaces is superseded).

    Raises
    ------
    RuleConflictError
        The rule already has a canary running, another rule runs a canary on the same platform, the
        rule id belongs to another platform, or too many rules are in force.
    """
    if latest is not None and latest.platform != draft.platform:
        raise RuleConflictError(
            "this rule id belongs to another platform", rule_id=draft.rule_id, platform=str(latest.platform)
        )
    full, canary = ruleset.versions(draft.rule_id)
    if canary is not None:
        raise RuleConflictError(
            "a version of this rule is in canary: promote it or roll it back first",
            rule_id=draft.rule_id,
            version=canary.version,
        )
    status = RolloutStatus.FULL if draft.percentage == 100 else RolloutStatus.CANARY
    running = ruleset.canary_on(draft.platform)
    if status is RolloutStatus.CANARY and running is not None:
        raise RuleConflictError(
            "another rule is in canary on this platform: one canary per platform at a time",
            platform=str(draft.platform),
            running=running.key,
        )
    rule = ManagedRule(
        rule_id=draft.rule_id,
        version=(latest.version + 1) if latest else 1,
        platform=draft.platform,
        fields=draft.fields,
        operation=draft.operation,
        pattern=draft.pattern,
        replacement=draft.replacement,
        description=draft.description,
        status=status,
        percentage=draft.percentage,
        created_at=now,
        created_by=actor,
        updated_at=now,
        updated_by=actor,
        canary_started_at=now if status is RolloutStatus.CANARY else None,
        promoted_at=now if status is RolloutStatus.FULL else None,
    )
    superseded = None
    rules = list(ruleset.rules)
    if status is RolloutStatus.FULL and full is not None:
        superseded = _ended(full, RolloutStatus.SUPERSEDED, now, actor)
        rules = [rule if r is full else r for r in rules]
    else:
        rules = _placed(rules, rule)
    if len(rules) > MAX_RULES_IN_FORCE:
        raise RuleConflictError("too many rules in force", limit=MAX_RULES_IN_FORCE)
    return _change(
        ruleset,
        rules,
        rule,
        superseded,
        action="created",
        before=None,
        now=now,
        actor=actor,
        reason=draft.reason,
    )


def change_rule(
    rule_id: str, update: RuleUpdate, *, ruleset: RuleSet, now: UtcDatetime, actor: str
) -> RuleChange:
    """Raise a canary's percentage, promote it to full, or roll back the version in force.

    The version changed is the rule's canary when one runs, else its full version.

    Raises
    ------
    RuleNotFoundError
        No version of the rule is in force.
    RuleConflictError
        ``update.version`` is not the version in force, or the change does not fit its status
        (promoting a full rule, lowering a canary: roll back instead).
    """
    full, canary = ruleset.versions(rule_id)
    target = canary or full
    if target is None:
        raise RuleNotFoundError("no version of this rule is in force", rule_id=rule_id)
    if update.version is not None and update.version != target.version:
        raise RuleConflictError(
            "the version in force is not the one expected",
            rule_id=rule_id,
            expected=update.version,
            in_force=target.version,
        )
    rules = list(ruleset.rules)
    superseded = None
    if update.status == "rolled_back":
        changed = _ended(target, RolloutStatus.ROLLED_BACK, now, actor)
        rules = [r for r in rules if r is not target]
        action: Literal["raised", "promoted", "rolled_back"] = "rolled_back"
    elif update.status == "full" or update.percentage == 100:
        if target.status is not RolloutStatus.CANARY:
            raise RuleConflictError("this version is already in force for every order", rule_id=rule_id)
        changed = target.model_copy(
            update={
                "status": RolloutStatus.FULL,
                "percentage": 100,
                "promoted_at": now,
                "updated_at": now,
                "updated_by": actor,
            }
        )
        if full is not None:
            superseded = _ended(full, RolloutStatus.SUPERSEDED, now, actor)
            rules = [r for r in rules if r is not full]
        rules = [changed if r is target else r for r in rules]
        action = "promoted"
    else:
        percentage = update.percentage or 0
        if target.status is not RolloutStatus.CANARY:
            raise RuleConflictError("only a canary's percentage can change", rule_id=rule_id)
        if percentage <= target.percentage:
            # Lowering would move orders that already saw the new version back to the old one.
            raise RuleConflictError(
                "a canary only grows; roll it back to withdraw it",
                rule_id=rule_id,
                percentage=target.percentage,
            )
        changed = target.model_copy(update={"percentage": percentage, "updated_at": now, "updated_by": actor})
        rules = [changed if r is target else r for r in rules]
        action = "raised"
    return _change(
        ruleset,
        rules,
        changed,
        superseded,
        action=action,
        before=target,
        now=now,
        actor=actor,
        reason=update.reason,
    )


def _ended(rule: ManagedRule, status: RolloutStatus, now: UtcDatetime, actor: str) -> ManagedRule:
    return rule.model_copy(update={"status": status, "ended_at": now, "updated_at": now, "updated_by": actor})


def _placed(rules: list[ManagedRule], rule: ManagedRule) -> list[ManagedRule]:
    """``rules`` with ``rule`` added: right after its rule's other version, else at the end."""
    positions = [index for index, existing in enumerate(rules) if existing.rule_id == rule.rule_id]
    if not positions:
        return [*rules, rule]
    return [*rules[: positions[-1] + 1], rule, *rules[positions[-1] + 1 :]]


def _change(
    ruleset: RuleSet,
    rules: list[ManagedRule],
    rule: ManagedRule,
    superseded: ManagedRule | None,
    *,
    action: Literal["created", "raised", "promoted", "rolled_back"],
    before: ManagedRule | None,
    now: UtcDatetime,
    actor: str,
    reason: str,
) -> RuleChange:
    revision = ruleset.revision + 1
    try:
        new_set = RuleSet(revision=revision, rules=tuple(rules))
    except ValueError as error:  # a bug in the transitions above, never the operator's input
        raise RuleInvalidError("the change would leave an invalid rule set", error=str(error)) from error
    audit = RuleAudit(
        rule_id=rule.rule_id,
        version=rule.version,
        action=action,
        at=now,
        by=actor,
        reason=reason,
        status_before=before.status if before else None,
        status_after=rule.status,
        percentage_before=before.percentage if before else None,
        percentage_after=rule.percentage,
        revision=revision,
    )
    return RuleChange(
        rule=rule,
        superseded=superseded,
        ruleset=new_set,
        expected_revision=ruleset.revision,
        audit=audit,
        created=action == "created",
    )
