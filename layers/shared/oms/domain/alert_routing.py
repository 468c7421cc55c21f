"""Which channels an alert goes to, and how alerts group into messages (pure; config as data).

A :class:`Route` matches an alert by kind (exact, or a prefix ending in ``.``, or ``*``), by
recipient role and by merchant (``facts["merchant"]``); empty means "any". An alert goes to the
union of the channels of every route it matches, in configuration order, up to the first
matching route marked ``stop``. Alerts that share a
channel in one ``raise_alerts`` call become one message on it: a robot allows about 20 messages a
minute, a backlog of 300 overdue orders must not become 300 messages.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from oms.domain.alerts import Alert


@dataclass(frozen=True, slots=True)
class Route:
    channels: tuple[str, ...]
    kinds: tuple[str, ...] = ("*",)
    roles: tuple[str, ...] = ()
    merchants: tuple[str, ...] = ()
    #: A matching route with ``stop`` ends the search (e.g. one merchant's own voice provider)
    stop: bool = False

    def matches(self, alert: Alert) -> bool:
        return (
            any(_kind_matches(pattern, alert.kind) for pattern in self.kinds)
            and (not self.roles or alert.recipient_role in self.roles)
            and (not self.merchants or str(alert.facts.get("merchant", "")) in self.merchants)
        )


def _kind_matches(pattern: str, kind: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("."):
        return kind.startswith(pattern)
    return kind == pattern


def channels_for(alert: Alert, routes: Iterable[Route]) -> tuple[str, ...]:
    """Every channel of every matching route, once each, in configuration order."""
    seen: dict[str, None] = {}
    for route in routes:
        if route.matches(alert):
            for channel in route.channels:
                seen.setdefault(channel, None)
            if route.stop:
                break
    return tuple(seen)


def group_by_channel(alerts: Sequence[Alert], routes: Sequence[Route]) -> dict[str, list[Alert]]:
    """Channel → its alerts (first occurrence of each ``dedupe_key`` only), in arrival order."""
    groups: dict[str, list[Alert]] = {}
    seen: set[tuple[str, str]] = set()
    for alert in alerts:
        for channel in channels_for(alert, routes):
            if (channel, alert.dedupe_key) in seen:
                continue
            seen.add((channel, alert.dedupe_key))
            groups.setdefault(channel, []).append(alert)
    return groups


#: Longest text a grouped message carries; the rest is counted ("… and 12 more"). DingTalk and
#: WeCom cap a text message at 2048-20000 bytes depending on type; 3500 characters of CJK stays
#: under every limit in UTF-8.
MAX_MESSAGE_CHARS = 3500


def render_text(alerts: Sequence[Alert], max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """One plain-text message for a group of alerts: a headline, then each alert's title and lines."""
    if len(alerts) == 1:
        head = alerts[0].title
        blocks = [list(alerts[0].lines)]
    else:
        head = f"{len(alerts)} alerts: " + ", ".join(sorted({alert.kind for alert in alerts}))
        blocks = [[f"- {alert.title}", *(f"  {line}" for line in alert.lines)] for alert in alerts]
    text = head
    for index, block in enumerate(blocks):
        addition = "\n" + "\n".join(block) if block else ""
        remaining = len(blocks) - index
        if len(text) + len(addition) > max_chars - 40:
            return f"{text}\n… and {remaining} more"
        text += addition
    return text
