"""Alarms (standard 5.4.6): raised once per cause, acknowledged and cleared by people or by the rules.

An alarm is keyed by its *cause* (``kind:subject[:detail]``). While it is open (active or acknowledged) its
``open_key`` holds the cause, and the unique index on ``open_key`` is what keeps one open alarm per cause:
raising a cause that is already open counts one more occurrence on that alarm instead of adding a row, also
when two processes race (the loser of the race gets the unique violation and updates the winner's row).
Cleared alarms keep their row and their events: the history stays.

Every change is published as ``{"type": "alarm", "enterprise_id": ..., "action": ..., "alarm": {...}}`` on
the enterprise's live channel, after its transaction has committed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from cem_platform.alarms.models import Alarm, AlarmEvent, AlarmKind, AlarmState, Severity
from cem_platform.alarms.schemas import alarm_out
from cem_platform.audit import services as audit
from cem_platform.errors import ConflictError, InvalidInputError, NotFoundError
from cem_platform.identity.principal import Principal
from cem_platform.org.models import MeasurementPoint
from cem_platform.settings import Settings
from cem_platform.telemetry.live import hub_for
from cem_registry.models import Device

__all__ = ["OPEN_STATES", "RULE", "AlarmFilter", "AlarmService", "severity_rank", "subjects_on_sites"]

RULE = "rule"  # the actor of what the rules do
OPEN_STATES = (AlarmState.ACTIVE, AlarmState.ACKNOWLEDGED)
_RANK = {severity: rank for rank, severity in enumerate(Severity)}
_RACE_ATTEMPTS = 3


def severity_rank(severity: Severity) -> int:
    """Higher is more urgent."""
    return _RANK[severity]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    """What to list. ``state`` is active, acknowledged, cleared, or ``open`` (active or acknowledged)."""

    state: str | None = None
    kind: AlarmKind | None = None
    severity: Severity | None = None
    enterprise_id: int | None = None
    device_id: str | None = None  # alarms about this terminal, or about what its gateway reported
    subject_type: str | None = None
    subject_id: str | None = None
    site_id: int | None = None  # about a terminal or a point of this site
    raised_from: dt.datetime | None = None  # raised at or after (aware)
    raised_to: dt.datetime | None = None  # raised before (aware)


async def subjects_on_sites(sites: Iterable[int]) -> tuple[list[str], list[str]]:
    """The ids (as alarm subject ids) of the devices and of the points on these sites: what a caller holding only
    single sites may see alarms about."""
    wanted = sorted(sites)
    devices = await Device.filter(site_id__in=wanted).values_list("id", flat=True)
    points = await MeasurementPoint.filter(facility__process__site_id__in=wanted).values_list("id", flat=True)
    return [str(d) for d in devices], [str(p) for p in points]


class AlarmService:
    """Raising, clearing, acknowledging and listing alarms."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # --- rules ---------------------------------------------------------------------------------------------

    async def raise_alarm(
        self,
        enterprise_id: int,
        kind: AlarmKind,
        severity: Severity,
        subject_type: str,
        subject_id: str,
        message: str,
        detail: dict[str, Any] | None = None,
        cause: str | None = None,
        *,
        at: dt.datetime | None = None,
        names: dict[str, str] | None = None,
    ) -> Alarm:
        """Open an alarm for ``cause``, or count one more occurrence on the open one.

        ``names`` are the plant names of what it concerns (see :mod:`cem_platform.alarms.names`); a repeat adds
        to those kept, so that names learnt later (the processes behind a PLC) stay.

        A repeat with a higher severity escalates the alarm (and makes an acknowledged alarm active again). A
        repeat seen no later than the alarm's ``last_seen_at`` with no higher severity is the same sighting
        again (a redelivered status, two evaluations at once) and changes nothing.
        """
        cause = (cause or f"{kind.value}:{subject_id}")[:200]
        at = at or _now()
        for attempt in range(_RACE_ATTEMPTS):
            try:
                alarm, action = await self._raise_once(
                    enterprise_id, kind, severity, subject_type, subject_id, message, detail, cause, at, names
                )
            except IntegrityError:
                # Another process opened the same cause between our look and our insert: update theirs.
                if attempt == _RACE_ATTEMPTS - 1:
                    raise
                continue
            if action:
                await self._publish(alarm, action)
            return alarm
        raise AssertionError("unreachable")  # pragma: no cover

    async def _raise_once(
        self,
        enterprise_id: int,
        kind: AlarmKind,
        severity: Severity,
        subject_type: str,
        subject_id: str,
        message: str,
        detail: dict[str, Any] | None,
        cause: str,
        at: dt.datetime,
        names: dict[str, str] | None,
    ) -> tuple[Alarm, str | None]:
        async with in_transaction():
            alarm = await Alarm.select_for_update().get_or_none(open_key=cause)
            if alarm is None:
                alarm = await Alarm.create(
                    enterprise_id=enterprise_id,
                    kind=kind,
                    severity=severity,
                    subject_type=subject_type,
                    subject_id=subject_id[:100],
                    cause=cause,
                    open_key=cause,
                    state=AlarmState.ACTIVE,
                    message=message,
                    detail=detail or {},
                    names=names or {},
                    consequences=[],
                    raised_at=at,
                    last_seen_at=at,
                    occurrences=1,
                )
                await AlarmEvent.create(
                    alarm=alarm, at=at, action="raised", actor=RULE, detail={"severity": severity.value}
                )
                return alarm, "raised"
            rising = severity_rank(severity) > severity_rank(alarm.severity)
            if not rising and at <= alarm.last_seen_at:
                return alarm, None
            event_detail: dict[str, Any] = {"severity": severity.value}
            alarm.occurrences += 1
            alarm.last_seen_at = max(at, alarm.last_seen_at)
            alarm.message = message
            if detail is not None:
                alarm.detail = detail
            if names:
                alarm.names = {**(alarm.names or {}), **names}
            action = "repeated"
            if rising:
                action = "escalated"
                event_detail["from"] = alarm.severity.value
                alarm.severity = severity
                if alarm.state == AlarmState.ACKNOWLEDGED:
                    # Worse than what was acknowledged: someone has to look again.
                    event_detail["was_acknowledged_by"] = alarm.acknowledged_by
                    alarm.state = AlarmState.ACTIVE
                    alarm.acknowledged_at, alarm.acknowledged_by, alarm.ack_note = None, "", ""
            await alarm.save()
            await AlarmEvent.create(alarm=alarm, at=at, action=action, actor=RULE, detail=event_detail)
            return alarm, action

    async def clear_cause(
        self, cause: str, *, by: str = RULE, note: str = "", at: dt.datetime | None = None
    ) -> Alarm | None:
        """Clear the open alarm of ``cause`` (the cause went away); None when none is open."""
        at = at or _now()
        async with in_transaction():
            alarm = await Alarm.select_for_update().get_or_none(open_key=cause)
            if alarm is None:
                return None
            await self._clear_locked(alarm, by, note, at)
        await self._publish(alarm, "cleared")
        await self._release(alarm)
        return alarm

    async def clear_causes(self, causes: Sequence[str], *, note: str = "", at: dt.datetime | None = None) -> int:
        """Clear the open alarms of these causes by rule; how many were open."""
        cleared = 0
        for cause in causes:
            if await self.clear_cause(cause, note=note, at=at) is not None:
                cleared += 1
        return cleared

    async def set_consequences(self, alarm_id: int, consequences: list[dict[str, Any]], names: dict[str, str]) -> bool:
        """Keep an open outage's list of the meters it leaves without data (and the names learnt from them);
        True when it changed. A cleared outage keeps the list it had: what it affected."""
        async with in_transaction():
            alarm = await Alarm.select_for_update().get_or_none(id=alarm_id, open_key__isnull=False)
            if alarm is None:
                return False
            merged = {**(alarm.names or {}), **names}
            if (alarm.consequences or []) == consequences and (alarm.names or {}) == merged:
                return False
            alarm.consequences = consequences
            alarm.names = merged
            await alarm.save(update_fields=["consequences", "names"])
        await self._publish(alarm, "updated")
        return True

    async def set_root(self, alarm_ids: Iterable[int], root_id: int | None) -> int:
        """List open data alarms under an outage's alarm (``root_id``), or on their own again (None); how many
        changed."""
        changed = 0
        for alarm_id in sorted(set(alarm_ids)):
            async with in_transaction():
                alarm = await Alarm.select_for_update().get_or_none(id=alarm_id, open_key__isnull=False)
                if alarm is None or alarm.root_id == root_id:
                    continue
                alarm.root_id = root_id
                await alarm.save(update_fields=["root_id"])
            changed += 1
            await self._publish(alarm, "updated")
        return changed

    async def _release(self, outage: Alarm) -> None:
        """The open data alarms listed under a cleared outage stand on their own again, at once (not only at the
        next evaluation): the meters still without data are no longer explained by it."""
        listed = await Alarm.filter(root_id=outage.id, open_key__isnull=False).only("id")
        await self.set_root([alarm.id for alarm in listed], None)

    @staticmethod
    async def _clear_locked(alarm: Alarm, by: str, note: str, at: dt.datetime) -> None:
        alarm.state = AlarmState.CLEARED
        alarm.open_key = None
        alarm.cleared_at = at
        alarm.cleared_by = by
        alarm.clear_note = note
        await alarm.save()
        await AlarmEvent.create(alarm=alarm, at=at, action="cleared", actor=by, note=note)

    # --- people ----------------------------------------------------------------------------------------------

    async def acknowledge(self, actor: Principal, alarm_id: int, note: str = "") -> Alarm:
        """Someone has seen the alarm and takes care of it. Acknowledging an acknowledged alarm changes nothing."""
        note = note.strip()
        visible = await self._visible(actor)
        async with in_transaction():
            alarm = await self._locked(visible, alarm_id)
            if alarm.state == AlarmState.CLEARED:
                raise ConflictError(
                    f"alarm {alarm_id} was cleared by {alarm.cleared_by} at {alarm.cleared_at:%Y-%m-%d %H:%M} UTC; "
                    "a cleared alarm cannot be acknowledged",
                    hint="If the problem is back, a new alarm is raised for it: list open alarms with ?state=open.",
                )
            if alarm.state == AlarmState.ACKNOWLEDGED:
                return alarm
            now = _now()
            alarm.state = AlarmState.ACKNOWLEDGED
            alarm.acknowledged_at = now
            alarm.acknowledged_by = actor.name
            alarm.ack_note = note
            await alarm.save()
            await AlarmEvent.create(alarm=alarm, at=now, action="acknowledged", actor=actor.name, note=note)
            await audit.record(
                actor,
                "alarm.acknowledge",
                entity_type="alarm",
                entity_id=alarm.id,
                enterprise_id=alarm.enterprise_id,
                before={"state": AlarmState.ACTIVE.value},
                after={"state": alarm.state.value, "note": note},
                summary=f"acknowledged {alarm.kind.value} alarm on {alarm.subject_type} {alarm.subject_id}",
            )
        await self._publish(alarm, "acknowledged")
        return alarm

    async def clear(self, actor: Principal, alarm_id: int, note: str) -> Alarm:
        """Close an alarm by hand, saying why (the note is required)."""
        note = note.strip()
        if not note:
            raise InvalidInputError(
                "a note is required to clear an alarm",
                hint="Say in 'note' what was done, or why the alarm no longer applies.",
            )
        visible = await self._visible(actor)
        async with in_transaction():
            alarm = await self._locked(visible, alarm_id)
            if alarm.state == AlarmState.CLEARED:
                raise ConflictError(
                    f"alarm {alarm_id} is already cleared (by {alarm.cleared_by} at "
                    f"{alarm.cleared_at:%Y-%m-%d %H:%M} UTC)",
                    hint="Nothing to do; reload the alarm to see its history.",
                )
            before = alarm.state
            await self._clear_locked(alarm, actor.name, note, _now())
            await audit.record(
                actor,
                "alarm.clear",
                entity_type="alarm",
                entity_id=alarm.id,
                enterprise_id=alarm.enterprise_id,
                before={"state": before.value},
                after={"state": alarm.state.value, "note": note},
                summary=f"cleared {alarm.kind.value} alarm on {alarm.subject_type} {alarm.subject_id}",
            )
        await self._publish(alarm, "cleared")
        await self._release(alarm)
        return alarm

    async def list_alarms(
        self, viewer: Principal, filters: AlarmFilter, *, limit: int = 100, offset: int = 0
    ) -> list[Alarm]:
        """Alarms within the viewer's scope, newest first."""
        query = Alarm.all()
        visible = await self._visible(viewer)
        if visible is not None:
            query = query.filter(visible)
        if filters.state == "open":
            query = query.filter(state__in=list(OPEN_STATES))
        elif filters.state:
            if filters.state not in {s.value for s in AlarmState}:
                raise InvalidInputError(
                    f"no alarm state {filters.state!r}", hint="Use open, active, acknowledged or cleared."
                )
            query = query.filter(state=AlarmState(filters.state))
        if filters.kind:
            query = query.filter(kind=filters.kind)
        if filters.severity:
            query = query.filter(severity=filters.severity)
        if filters.enterprise_id is not None:
            query = query.filter(enterprise_id=filters.enterprise_id)
        if filters.subject_type:
            query = query.filter(subject_type=filters.subject_type)
        if filters.subject_id:
            query = query.filter(subject_id=filters.subject_id)
        if filters.device_id:
            # about the terminal itself, or reported by its gateway (causes name the terminal after the kind)
            query = query.filter(
                Q(subject_type="device", subject_id=filters.device_id)
                | Q(cause__contains=f":{filters.device_id}:")
                | Q(cause__endswith=f":{filters.device_id}")
            )
        if filters.site_id is not None:
            devices, points = await subjects_on_sites([filters.site_id])
            query = query.filter(
                Q(subject_type="device", subject_id__in=devices) | Q(subject_type="point", subject_id__in=points)
            )
        if filters.raised_from is not None:
            query = query.filter(raised_at__gte=filters.raised_from)
        if filters.raised_to is not None:
            query = query.filter(raised_at__lt=filters.raised_to)
        return await query.order_by("-raised_at", "-id").offset(offset).limit(limit)

    async def get(self, viewer: Principal, alarm_id: int) -> tuple[Alarm, list[AlarmEvent]]:
        """One alarm within the viewer's scope with its history (oldest first), or 404."""
        query = Alarm.filter(id=alarm_id)
        visible = await self._visible(viewer)
        if visible is not None:
            query = query.filter(visible)
        alarm = await query.first()
        if alarm is None:
            raise NotFoundError(f"no alarm {alarm_id} within your scope")
        return alarm, await AlarmEvent.filter(alarm_id=alarm.id).order_by("at", "id")

    # --- helpers ---------------------------------------------------------------------------------------------

    @staticmethod
    async def _visible(viewer: Principal) -> Q | None:
        """Which alarms the viewer sees (None: all). Holders of single sites see alarms about their terminals
        and points only, not those of the enterprise's other sites."""
        scope = viewer.scope
        if scope.everything:
            return None
        visible = Q(enterprise_id__in=sorted(scope.enterprises))
        if scope.sites:
            devices, points = await subjects_on_sites(scope.sites)
            visible |= Q(subject_type="device", subject_id__in=devices) | Q(subject_type="point", subject_id__in=points)
        return visible

    @staticmethod
    async def _locked(visible: Q | None, alarm_id: int) -> Alarm:
        query = Alarm.filter(id=alarm_id)
        if visible is not None:
            query = query.filter(visible)
        alarm = await query.select_for_update().first()
        if alarm is None:
            raise NotFoundError(f"no alarm {alarm_id} within your scope")
        return alarm

    async def _publish(self, alarm: Alarm, action: str) -> None:
        event = {
            "type": "alarm",
            "enterprise_id": alarm.enterprise_id,
            "action": action,
            "alarm": msgspec.to_builtins(alarm_out(alarm)),
        }
        await hub_for(self.settings).publish(alarm.enterprise_id, event)
