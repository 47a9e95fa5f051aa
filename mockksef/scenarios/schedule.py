"""Scheduled data resets on the Clock (DEMO's nightly wipe, ``every=12h``, one instant).

Nothing runs in the background: ``due`` is asked on every request while the
scenario engine is engaged and after every clock move, and reports each due
reset once per due time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mockksef.clock import format_datetime
from mockksef.scenarios.model import ResetSchedule


@dataclass
class ScheduledReset:
    schedule: ResetSchedule
    environment: str
    next_due: datetime
    origin: str


def next_due(schedule: ResetSchedule, now: datetime) -> datetime:
    """The first instant after ``now`` the schedule names (or its one instant)."""
    if schedule.at is not None:
        return schedule.at
    if schedule.every is not None:
        return now + timedelta(seconds=schedule.every)
    assert schedule.daily_at is not None
    zone = ZoneInfo(schedule.timezone)
    local = now.astimezone(zone)
    candidate = datetime.combine(local.date(), schedule.daily_at, tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(
            local.date() + timedelta(days=1), schedule.daily_at, tzinfo=zone
        )
    return candidate.astimezone(UTC)


class ResetScheduler:
    """The pending resets of one ``MockState``, each tagged with where it came from."""

    def __init__(self) -> None:
        self.items: list[ScheduledReset] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, schedule: ResetSchedule, environment: str, origin: str, now: datetime) -> None:
        self.items.append(ScheduledReset(schedule, environment, next_due(schedule, now), origin))

    def drop(self, origin: str) -> None:
        self.items = [s for s in self.items if s.origin != origin]

    def due(self, now: datetime) -> list[str]:
        """The environments to reset now; each item moves on to its next due time."""
        out = []
        for item in [s for s in self.items if now >= s.next_due]:
            out.append(item.environment)
            if item.schedule.at is not None:
                self.items.remove(item)
            else:
                item.next_due = next_due(item.schedule, now)
        return out

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "environment": s.environment,
                "nextDue": format_datetime(s.next_due),
                "origin": s.origin,
            }
            for s in self.items
        ]
