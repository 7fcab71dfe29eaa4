"""What the alarm API and the live feed send: an alarm, its history, and the note a person adds."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from cem_platform.alarms.models import Alarm, AlarmEvent, AlarmKind, AlarmState, Severity

__all__ = [
    "AlarmConsequenceOut",
    "AlarmDetail",
    "AlarmEventOut",
    "AlarmNoteIn",
    "AlarmOut",
    "alarm_detail",
    "alarm_out",
]


class AlarmConsequenceOut(msgspec.Struct):
    """A meter an outage leaves without data: listed under the outage's alarm instead of raising its own."""

    point_id: int
    point_code: str
    point_name: str
    facility: str
    process: str
    alarm_id: int | None  # the meter's own data alarm, when one was already open (it points back by root_id)


class AlarmOut(msgspec.Struct):
    """One alarm with its life cycle.

    ``message`` is the technical text (terminal ids, connection names, error strings); screens say the alarm from
    ``kind``, ``names`` (plant names of the terminal, PLC connection, point, facility, process; English variants
    as ``<key>_en``) and ``detail`` (the facts: since when, values, limits). A terminal or PLC outage lists the
    meters it leaves without data in ``consequences``; their own alarms, if any, carry its id as ``root_id``.
    """

    id: int
    enterprise_id: int
    kind: AlarmKind
    severity: Severity
    subject_type: str
    subject_id: str
    cause: str
    state: AlarmState
    message: str
    detail: dict[str, Any]
    raised_at: dt.datetime
    last_seen_at: dt.datetime
    occurrences: int
    acknowledged_at: dt.datetime | None
    acknowledged_by: str
    ack_note: str
    cleared_at: dt.datetime | None
    cleared_by: str
    clear_note: str
    names: dict[str, str]
    consequences: list[AlarmConsequenceOut]
    root_id: int | None


class AlarmEventOut(msgspec.Struct):
    """One step of an alarm's history."""

    id: int
    at: dt.datetime
    action: str
    actor: str
    note: str
    detail: dict[str, Any]


class AlarmDetail(AlarmOut):
    """An alarm with its history, oldest step first."""

    events: list[AlarmEventOut]


class AlarmNoteIn(msgspec.Struct, forbid_unknown_fields=True):
    """What a person says when acknowledging or clearing an alarm (required for clearing)."""

    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


_DERIVED = {"names", "consequences"}


def _fields(alarm: Alarm) -> dict[str, Any]:
    fields = {name: getattr(alarm, name) for name in AlarmOut.__struct_fields__ if name not in _DERIVED}
    fields["names"] = {str(k): str(v) for k, v in (alarm.names or {}).items()}  # NULL on alarms from before
    fields["consequences"] = [
        AlarmConsequenceOut(
            point_id=int(c["point_id"]),
            point_code=str(c.get("point_code", "")),
            point_name=str(c.get("point_name", "")),
            facility=str(c.get("facility", "")),
            process=str(c.get("process", "")),
            alarm_id=c.get("alarm_id"),
        )
        for c in alarm.consequences or []
    ]
    return fields


def alarm_out(alarm: Alarm) -> AlarmOut:
    """The API form of an alarm."""
    return AlarmOut(**_fields(alarm))


def alarm_detail(alarm: Alarm, events: list[AlarmEvent]) -> AlarmDetail:
    """The API form of an alarm with its history."""
    fields = _fields(alarm)
    return AlarmDetail(
        **fields,
        events=[AlarmEventOut(**{n: getattr(e, n) for n in AlarmEventOut.__struct_fields__}) for e in events],
    )
