"""Deadlines by urgency and the escalation ladder.

Three clocks run on a complaint: first response (from receipt), resolution (from
receipt, restarted on reopen) and return visit (from resolution). A clock that runs
past its deadline escalates to the department's supervisor (level 1); past twice its
window, to the project manager (level 2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum

from complaintdesk.domain.errors import InvalidInput
from complaintdesk.domain.taxonomy import Urgency


class Clock(StrEnum):
    RESPONSE = "response"
    RESOLUTION = "resolution"
    VISIT = "visit"

    @property
    def owner_waiting(self) -> bool:
        """Whether the owner is kept waiting while this clock runs late (the return
        visit is ours to make after the matter was dealt with)."""
        return self is not Clock.VISIT


MAX_TARGET_MINUTES = 366 * 24 * 60


class Level(IntEnum):
    NONE = 0
    SUPERVISOR = 1
    MANAGER = 2


@dataclass(frozen=True)
class Targets:
    """How long each clock may run for one urgency."""

    response: timedelta
    resolution: timedelta
    visit: timedelta

    def window(self, clock: Clock) -> timedelta:
        return {
            Clock.RESPONSE: self.response,
            Clock.RESOLUTION: self.resolution,
            Clock.VISIT: self.visit,
        }[clock]


DEFAULT_TARGETS: dict[Urgency, Targets] = {
    Urgency.CRITICAL: Targets(timedelta(minutes=15), timedelta(hours=4), timedelta(hours=24)),
    Urgency.HIGH: Targets(timedelta(hours=2), timedelta(hours=24), timedelta(hours=48)),
    Urgency.NORMAL: Targets(timedelta(hours=24), timedelta(hours=72), timedelta(hours=72)),
    Urgency.LOW: Targets(timedelta(hours=72), timedelta(days=7), timedelta(days=7)),
}


@dataclass(frozen=True)
class SlaPolicy:
    """Targets per urgency; a project may override any of them."""

    targets: Mapping[Urgency, Targets]

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Mapping[str, float]] | None) -> SlaPolicy:
        """Defaults overridden by ``{"high": {"response": minutes, ...}, ...}``."""
        targets = dict(DEFAULT_TARGETS)
        for urgency_code, clocks in (overrides or {}).items():
            try:
                urgency = Urgency(urgency_code)
            except ValueError as exc:
                raise InvalidInput(
                    f"unknown urgency {urgency_code!r} in SLA overrides", field="sla_overrides"
                ) from exc
            base = targets[urgency]
            values = {}
            for clock in Clock:
                minutes = clocks.get(clock.value)
                if minutes is not None and (
                    not isinstance(minutes, int | float)
                    or not 0 < minutes <= MAX_TARGET_MINUTES  # also refuses NaN and inf
                ):
                    raise InvalidInput(
                        f"SLA target {urgency_code}.{clock.value} must be a number of minutes "
                        f"above 0 and at most {MAX_TARGET_MINUTES}",
                        field="sla_overrides",
                    )
                values[clock.value] = (
                    timedelta(minutes=minutes) if minutes is not None else base.window(clock)
                )
            unknown = set(clocks) - {c.value for c in Clock}
            if unknown:
                raise InvalidInput(f"unknown SLA clock(s) {sorted(unknown)}", field="sla_overrides")
            targets[urgency] = Targets(**values)
        return cls(targets)

    def for_urgency(self, urgency: Urgency) -> Targets:
        return self.targets[urgency]


DEFAULT_POLICY = SlaPolicy(DEFAULT_TARGETS)


@dataclass(frozen=True)
class ClockState:
    """One running clock: when it started and when it is due."""

    clock: Clock
    started: datetime
    due: datetime

    def level_at(self, now: datetime) -> Level:
        if now < self.due:
            return Level.NONE
        if now < self.due + (self.due - self.started):
            return Level.SUPERVISOR
        return Level.MANAGER

    def next_change(self, now: datetime) -> datetime | None:
        """The next moment this clock's escalation level rises, if it still can."""
        level = self.level_at(now)
        if level is Level.NONE:
            return self.due
        if level is Level.SUPERVISOR:
            return self.due + (self.due - self.started)
        return None


def running_clocks(
    *,
    received_at: datetime,
    respond_by: datetime | None,
    responded_at: datetime | None,
    clock_started_at: datetime,
    resolve_by: datetime | None,
    resolved_at: datetime | None,
    visit_by: datetime | None,
    visited: bool,
    is_open: bool,
) -> list[ClockState]:
    """The clocks still running for a complaint in the given state."""
    if not is_open:
        return []
    clocks = []
    if respond_by is not None and responded_at is None:
        clocks.append(ClockState(Clock.RESPONSE, received_at, respond_by))
    if resolve_by is not None and resolved_at is None:
        clocks.append(ClockState(Clock.RESOLUTION, clock_started_at, resolve_by))
    if visit_by is not None and resolved_at is not None and not visited:
        clocks.append(ClockState(Clock.VISIT, resolved_at, visit_by))
    return clocks


def escalations_due(
    clocks: list[ClockState], levels: Mapping[Clock, int], now: datetime
) -> list[tuple[Clock, Level]]:
    """The clocks whose escalation level should rise now, with the level to raise to.

    ``levels`` holds the level each clock has already been escalated to, so that a
    breach escalates once per level however often the sweeper looks.
    """
    due = []
    for c in clocks:
        level = c.level_at(now)
        if level > levels.get(c.clock, 0):
            due.append((c.clock, level))
    return due


def next_check(clocks: list[ClockState], now: datetime) -> datetime | None:
    """When the sweeper must look at this complaint again (None: never, as things stand)."""
    moments = [m for c in clocks if (m := c.next_change(now)) is not None]
    return min(moments, default=None)
