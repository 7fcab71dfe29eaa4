"""Tortoise models of alarms: one row per alarm with its life cycle, and its history of events."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from cem_platform.org.models import Enterprise

__all__ = ["Alarm", "AlarmEvent", "AlarmKind", "AlarmState", "Severity"]


class Severity(StrEnum):
    """How urgent an alarm is (lowest first)."""

    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"


class AlarmState(StrEnum):
    """Life cycle: active -> acknowledged -> cleared (an active alarm may also be cleared directly)."""

    ACTIVE = "active"
    ACKNOWLEDGED = "acknowledged"
    CLEARED = "cleared"


class AlarmKind(StrEnum):
    """What went wrong (standard 5.4.6: terminal, meter, data collection)."""

    DEVICE_OFFLINE = "device_offline"  # missed heartbeats or last will
    CERTIFICATE_EXPIRING = "certificate_expiring"
    GATEWAY_BUFFER = "gateway_buffer"  # buffer full or disk low at the gateway: readings are being lost
    METER_STUCK = "meter_stuck"
    METER_OUT_OF_RANGE = "meter_out_of_range"  # the gateway drops readings outside the meter's range
    METER_COMM = "meter_comm"  # the gateway cannot reach a PLC or meter
    DATA_GAP = "data_gap"  # a point sends nothing while its terminal is online
    DATA_SPIKE = "data_spike"  # the gateway drops implausible jumps
    DATA_COMPLETENESS = "data_completeness"  # share of expected readings under the threshold
    DEAD_LETTERS = "dead_letters"  # a burst of refused messages from one terminal
    DATA_CONFLICT = "data_conflict"  # a terminal sent another value for a (point, time) already stored
    ENERGY_LIMIT = "energy_limit"  # a process's energy per tonne above its limit (GB 21256, GB 21342, its own)
    CARBON_DEFICIT = "carbon_deficit"  # the forecast allowance deficit above its level, or a deadline near with one


class Alarm(Model):
    """One alarm: raised once per cause, repeated occurrences counted, acknowledged and cleared by people or rules.

    ``open_key`` equals ``cause`` while the alarm is not cleared and is NULL afterwards. Its unique index is
    what guarantees one open alarm per cause, however many processes evaluate the rules.
    """

    id = fields.BigIntField(primary_key=True)
    enterprise: fields.ForeignKeyRelation[Enterprise] = fields.ForeignKeyField(
        "cem.Enterprise", related_name="alarms", on_delete=fields.RESTRICT
    )
    enterprise_id: int
    kind = fields.CharEnumField(AlarmKind, max_length=32)
    severity = fields.CharEnumField(Severity, max_length=16)
    subject_type = fields.CharField(max_length=16)  # device, point, certificate
    subject_id = fields.CharField(max_length=100)
    cause = fields.CharField(max_length=200, db_index=True)  # kind:subject[:detail]
    open_key = fields.CharField(max_length=200, null=True, unique=True)
    state = fields.CharEnumField(AlarmState, max_length=16, default=AlarmState.ACTIVE)
    message = fields.TextField()
    detail: Any = fields.JSONField(default=dict)
    raised_at = fields.DatetimeField(db_index=True)
    last_seen_at = fields.DatetimeField()
    occurrences = fields.IntField(default=1)
    acknowledged_at = fields.DatetimeField(null=True)
    acknowledged_by = fields.CharField(max_length=100, default="")
    ack_note = fields.TextField(default="")
    cleared_at = fields.DatetimeField(null=True)
    cleared_by = fields.CharField(max_length=100, default="")  # a user, or "rule" when the cause went away
    clear_note = fields.TextField(default="")
    # Plant names of what the alarm concerns (device, connection, point, facility, process; English as <key>_en),
    # taken when it is raised, so that screens say it in the plant's words without asking again.
    names: Any = fields.JSONField(default=dict, null=True)  # NULL on alarms raised before names were kept
    # For a terminal or PLC outage: the meters it leaves without data (point id, code, name, facility, process,
    # and the id of their own alarm when one was already open), kept up to date while the outage is open.
    consequences: Any = fields.JSONField(default=list, null=True)
    # For a meter's data alarm: the outage alarm it is listed under (its root cause), while that one is open.
    root_id = fields.BigIntField(null=True, db_index=True)

    events: fields.ReverseRelation[AlarmEvent]

    class Meta:
        table = "alarm"


class AlarmEvent(Model):
    """One step in an alarm's history: raised, repeated, escalated, acknowledged, cleared."""

    id = fields.BigIntField(primary_key=True)
    alarm: fields.ForeignKeyRelation[Alarm] = fields.ForeignKeyField(
        "cem.Alarm", related_name="events", on_delete=fields.RESTRICT
    )
    alarm_id: int
    at = fields.DatetimeField()
    action = fields.CharField(max_length=16)
    actor = fields.CharField(max_length=100)
    note = fields.TextField(default="")
    detail: Any = fields.JSONField(default=dict)

    class Meta:
        table = "alarm_event"
