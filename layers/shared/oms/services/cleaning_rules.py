"""Operators' cleaning rules: save, promote, roll back, compare a canary with its baseline; and the
short cache through which the sanitizer reads them.

Rules are a small store of our own rather than Powertools Feature Flags over a custom store
(docs/decisions.md D10): a rule is more than a flag (operation, fields, pattern, versions, audit),
and the canary must be a stable hash of the order id salted by the rule, which would be computed
outside Feature Flags anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import ValidationError

from oms.domain.errors import RuleInvalidError, RuleNotFoundError, StorageError
from oms.domain.model import Cohort
from oms.domain.rules import (
    ManagedRule,
    RolloutStatus,
    RuleAudit,
    RuleChange,
    RuleDraft,
    RuleSet,
    RuleUpdate,
    change_rule,
    create_rule,
)
from oms.services.ports import Clock, FailureIndex, FailurePartition, RolloutIndex, RuleStore

#: Failure records read at most for one rollout view (the view says when it stopped short).
MAX_ROLLOUT_FAILURES = 20_000


class CachedRuleSource:
    """:class:`~oms.services.ports.RuleSource` that reads the stored rule set at most once per ``max_age``.

    A change reaches every sanitizer within ``max_age`` (30 s by default): one GetItem per container
    per period, nothing per event. When a refresh fails the last copy stays in use and the read is
    retried on the next call; only a container that never read the rules fails (``StorageError``).
    """

    def __init__(self, store: RuleStore, *, clock: Clock, max_age: timedelta) -> None:
        self._store = store
        self._clock = clock
        self._max_age = max_age
        self._ruleset: RuleSet | None = None
        self._read_at: datetime | None = None

    def current(self) -> RuleSet:
        now = self._clock()
        if self._ruleset is not None and self._read_at is not None and now - self._read_at < self._max_age:
            return self._ruleset
        try:
            self._ruleset = self._store.ruleset()
        except StorageError:
            if self._ruleset is None:
                raise
            return self._ruleset
        self._read_at = now
        return self._ruleset


@dataclass(frozen=True, slots=True)
class CohortCounts:
    applied: int = 0  # created or changed the order
    ignored: int = 0  # stale, regression, forbidden
    failed: int = 0  # messages with at least one failed attempt
    failed_by_code: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "ignored": self.ignored,
            "failed": self.failed,
            "failed_by_code": dict(sorted(self.failed_by_code.items())),
        }


@dataclass(frozen=True, slots=True)
class RolloutView:
    """The canary and the baseline side by side, for messages received since the canary started."""

    rule: ManagedRule
    since: datetime | None
    as_of: datetime
    canary: CohortCounts
    baseline: CohortCounts
    complete: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule.rule_id,
            "version": self.rule.version,
            "platform": str(self.rule.platform),
            "status": str(self.rule.status),
            "percentage": self.rule.percentage,
            "since": self.since.isoformat() if self.since else None,
            "as_of": self.as_of.isoformat(),
            "cohorts": {"canary": self.canary.as_dict(), "baseline": self.baseline.as_dict()},
            "complete": self.complete,
        }


@dataclass(frozen=True, slots=True)
class RuleDescription:
    versions: list[ManagedRule]
    changes: list[RuleAudit]
    in_force: list[ManagedRule]


class CleaningRulesAdmin:
    """The ``/cleaning-rules`` routes: every change validated, audited and written atomically.

    Parameters
    ----------
    store:
        Where rule versions, their audit trail and the rule set in force live.
    rollout, failures:
        The canary's history entries (Orders table) and the failure index (Ops table), counted by
        the rollout view.
    clock:
        Now (UTC).
    """

    def __init__(
        self, store: RuleStore, *, rollout: RolloutIndex, failures: FailureIndex, clock: Clock
    ) -> None:
        self._store = store
        self._rollout = rollout
        self._failures = failures
        self._clock = clock

    def create(self, body: Mapping[str, Any], *, actor: str) -> RuleChange:
        """Validate and save a new rule or a new version (``RULE_INVALID`` / ``RULE_CONFLICT``)."""
        draft = _validated(RuleDraft, body)
        change = create_rule(
            draft,
            ruleset=self._store.ruleset(),
            latest=self._store.latest_version(draft.rule_id),
            now=self._clock(),
            actor=actor,
        )
        self._store.save(change)
        return change

    def change(self, rule_id: str, body: Mapping[str, Any], *, actor: str) -> RuleChange:
        """Raise, promote or roll back the version of ``rule_id`` in force."""
        update = _validated(RuleUpdate, body)
        change = change_rule(rule_id, update, ruleset=self._store.ruleset(), now=self._clock(), actor=actor)
        self._store.save(change)
        return change

    def in_force(self) -> RuleSet:
        return self._store.ruleset()

    def all_versions(self) -> list[ManagedRule]:
        return self._store.all_versions()

    def describe(self, rule_id: str) -> RuleDescription:
        versions = self._store.versions(rule_id)
        if not versions:
            raise RuleNotFoundError("no such rule", rule_id=rule_id)
        in_force = [rule for rule in self._store.ruleset().rules if rule.rule_id == rule_id]
        return RuleDescription(versions=versions, changes=self._store.audit(rule_id), in_force=in_force)

    def rollout(self, rule_id: str, version: int | None = None) -> RolloutView:
        """Applied, ignored and failed messages on each side of the rule's canary.

        Counts messages *received* since the canary started (the live traffic the canary was
        watched on); replays of older messages are left out on both sides.
        """
        versions = self._store.versions(rule_id)
        if not versions:
            raise RuleNotFoundError("no such rule", rule_id=rule_id)
        rule = _version(versions, version)
        now = self._clock()
        since = rule.canary_started_at
        if since is None:  # went to every order at once: nothing to compare
            return RolloutView(rule, None, now, CohortCounts(), CohortCounts(), complete=True)
        tally = self._rollout.tally(rule.rule_id, rule.version, received_from=since)
        failed: dict[Cohort, dict[str, set[str]]] = {Cohort.CANARY: {}, Cohort.BASELINE: {}}
        read = 0
        complete = True
        for indexed in self._failures.newest(
            FailurePartition(str(rule.platform)), received_from=since, received_to=None, after=None
        ):
            read += 1
            if read > MAX_ROLLOUT_FAILURES:
                complete = False
                break
            mark = indexed.record.rollout
            if mark is None or (mark.rule_id, mark.version) != (rule.rule_id, rule.version):
                continue
            failed[mark.cohort].setdefault(indexed.record.code, set()).add(indexed.record.trace_id)

        def counts(cohort: Cohort) -> CohortCounts:
            by_code = failed[cohort]
            return CohortCounts(
                applied=tally.changed.get(cohort, 0),
                ignored=tally.ignored.get(cohort, 0),
                failed=len(set().union(*by_code.values())) if by_code else 0,
                failed_by_code={code: len(traces) for code, traces in by_code.items()},
            )

        return RolloutView(rule, since, now, counts(Cohort.CANARY), counts(Cohort.BASELINE), complete)


def _version(versions: list[ManagedRule], version: int | None) -> ManagedRule:
    if version is not None:
        for rule in versions:
            if rule.version == version:
                return rule
        raise RuleNotFoundError("no such version", rule_id=versions[0].rule_id, version=version)
    # The version most worth watching: the canary if one runs, else the newest.
    canary = [rule for rule in versions if rule.status is RolloutStatus.CANARY]
    return canary[-1] if canary else versions[-1]


_Body = TypeVar("_Body", RuleDraft, RuleUpdate)


def _validated(model: type[_Body], body: Mapping[str, Any]) -> _Body:
    try:
        return model.model_validate(dict(body))
    except ValidationError as error:
        raise RuleInvalidError(
            "the rule does not validate; nothing was saved", errors=summarise_validation(error)
        ) from error


def summarise_validation(error: ValidationError) -> list[str]:
    """Up to 10 readable lines: the field and what is wrong with it."""
    return [
        f"{'.'.join(str(part) for part in item['loc']) or '(body)'}: {item['msg']}"
        for item in error.errors()[:10]
    ]
