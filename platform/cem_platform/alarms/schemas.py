"""What the alarm API and the live feed send: an alarm, its history, and the note a person adds."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from cem_platform.alarms.models import Alarm, AlarmEvent, AlarmKind, AlarmState, Severity

__all__ = ["AlarmDetail", "AlarmEventOut", "AlarmNoteIn", "AlarmOut", "alarm_detail", "alarm_out"]


class AlarmOut(msgspec.Struct):
    """One alarm with its life cycle."""

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


def alarm_out(alarm: Alarm) -> AlarmOut:
    """The API form of an alarm."""
    return AlarmOut(**{name: getattr(alarm, name) for name in AlarmOut.__struct_fields__})


def alarm_detail(alarm: Alarm, events: list[AlarmEvent]) -> AlarmDetail:
    """The API form of an alarm with its history."""
    fields = {name: getattr(alarm, name) for name in AlarmOut.__struct_fields__}
    return AlarmDetail(
        **fields,
        events=[AlarmEventOut(**{n: getattr(e, n) for n in AlarmEventOut.__struct_fields__}) for e in events],
    )
