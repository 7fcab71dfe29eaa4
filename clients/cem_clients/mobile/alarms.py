"""The alarm inbox: open alarms by severity (critical, major, warning, info), newest first within each, with
counts per severity, an alarm's history, and acknowledging and clearing through the outbox.

One outage is one entry: a meter's data alarm listed under a terminal or PLC outage (``root_id``) is not in the
inbox on its own; the outage's alarm lists its meters (``consequences``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from cem_clients.api import Alarm, ClientError, LiveEvent
from cem_clients.mobile.context import AppContext, Outcome, OutcomeStatus
from cem_clients.mobile.outbox import ACKNOWLEDGE, CLEAR, OutboxItem
from cem_clients.mobile.validation import FIELD_NOTE, check_alarm_note
from cem_clients.ui.alarm_text import is_consequence

__all__ = ["PAGE", "SEVERITIES", "AlarmInbox", "alarm_key"]

SEVERITIES: Final = ("critical", "major", "warning", "info")  # most urgent first
PAGE: Final = 1000  # the largest page GET /alarms gives
_RANK: Final = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def alarm_key(alarm_id: int) -> str:
    """The outbox key of actions on one alarm."""
    return f"alarm:{alarm_id}"


def _order(alarm: Alarm) -> tuple[int, float, int]:
    return (_RANK.get(alarm.severity, len(SEVERITIES)), -alarm.raised_at.timestamp(), -alarm.id)


@dataclass
class AlarmInbox:
    """Open alarms within the user's scope.

    ``alarms`` is sorted by severity (critical first; unknown severities last), then by when the alarm was
    raised, newest first. ``detail`` is the alarm opened with :meth:`open` (with its history, ``events``).
    ``error`` is the platform's message of the last failed load or action, as it came.
    """

    ctx: AppContext
    alarms: list[Alarm] = field(default_factory=list)
    detail: Alarm | None = None
    loaded_at: dt.datetime | None = None
    error: str = ""

    # ---- loading ---------------------------------------------------------------------------------------------

    async def refresh(self) -> bool:
        """Reload the open alarms; on failure the last list stays and ``error`` says why."""
        try:
            alarms: list[Alarm] = []
            while True:
                page = await self.ctx.call(self.ctx.api.alarms(state="open", limit=PAGE, offset=len(alarms)))
                alarms.extend(page)
                if len(page) < PAGE:
                    break
        except ClientError as err:
            self.error = str(err)
            return False
        self.alarms = sorted((a for a in alarms if not is_consequence(a)), key=_order)
        self.loaded_at = self.ctx.now()
        self.error = ""
        return True

    async def open(self, alarm_id: int) -> Alarm | None:
        """Load one alarm with its history into ``detail``; offline, the list's copy (without history)."""
        try:
            self.detail = await self.ctx.call(self.ctx.api.alarm(alarm_id))
        except ClientError as err:
            self.error = str(err)
            self.detail = next((a for a in self.alarms if a.id == alarm_id), None)
            return self.detail
        self.error = ""
        self._put(self.detail)
        return self.detail

    def close(self) -> None:
        """Leave the detail."""
        self.detail = None

    # ---- view ------------------------------------------------------------------------------------------------

    def counts(self) -> dict[str, int]:
        """Open alarms per severity, every severity named (0 when none); others under their own name."""
        counts = dict.fromkeys(SEVERITIES, 0)
        for alarm in self.alarms:
            counts[alarm.severity] = counts.get(alarm.severity, 0) + 1
        return counts

    def groups(self) -> list[tuple[str, list[Alarm]]]:
        """The alarms by severity, most urgent first; severities without alarms are left out."""
        out: dict[str, list[Alarm]] = {}
        for alarm in self.alarms:
            out.setdefault(alarm.severity, []).append(alarm)
        return list(out.items())

    def pending(self, alarm_id: int) -> list[OutboxItem]:
        """Actions on the alarm still waiting in the outbox (shown as "acknowledging…", "clearing…")."""
        return self.ctx.outbox.pending_for(alarm_key(alarm_id))

    def pending_action(self, alarm_id: int) -> str | None:
        """The newest queued action on the alarm (acknowledge, clear), None when nothing waits."""
        items = self.pending(alarm_id)
        return items[-1].kind if items else None

    @property
    def can_handle(self) -> bool:
        """Whether the user may acknowledge and clear alarms."""
        return self.ctx.can("alarms.handle")

    # ---- actions ---------------------------------------------------------------------------------------------

    async def acknowledge(self, alarm_id: int, note: str = "") -> Outcome:
        """Say that you take care of the alarm (the note is optional)."""
        cleaned, problem = check_alarm_note(note, required=False)
        if cleaned is None:
            return self._invalid(problem)
        return await self._submit(ACKNOWLEDGE, alarm_id, cleaned, f"acknowledge alarm {alarm_id}")

    async def clear(self, alarm_id: int, note: str) -> Outcome:
        """Close the alarm by hand, saying what was done (the note is required: checked here first)."""
        cleaned, problem = check_alarm_note(note, required=True)
        if cleaned is None:
            return self._invalid(problem)
        return await self._submit(CLEAR, alarm_id, cleaned, f"clear alarm {alarm_id}")

    def _invalid(self, problem: str) -> Outcome:
        self.error = problem
        return Outcome(OutcomeStatus.INVALID, problem, {FIELD_NOTE: problem})

    async def _submit(self, kind: str, alarm_id: int, note: str, summary: str) -> Outcome:
        known = next((a for a in self.alarms if a.id == alarm_id), self.detail)
        meta: dict[str, Any] = {}
        if known is not None and known.id == alarm_id:
            meta = {"severity": known.severity, "message": known.message, "subject_id": known.subject_id}
            # the alarm itself, so that the outbox says it in the plant's words (in whatever language is chosen)
            meta["alarm"] = msgspec.to_builtins(msgspec.structs.replace(known, events=()))
        outcome = await self.ctx.submit(
            kind, {"alarm_id": alarm_id, "note": note}, key=alarm_key(alarm_id), summary=summary, meta=meta
        )
        self.error = outcome.message if outcome.status is OutcomeStatus.FAILED else ""
        if isinstance(outcome.result, Alarm):
            self.apply_alarm(outcome.result)
        return outcome

    # ---- updates ---------------------------------------------------------------------------------------------

    def apply_alarm(self, alarm: Alarm) -> None:
        """Fold in a newer copy of an alarm (an answer, a live event): cleared ones leave the inbox."""
        if self.detail is not None and self.detail.id == alarm.id:
            self.detail = alarm if alarm.events or not self.detail.events else _with_history(alarm, self.detail)
        self._put(alarm)

    def _put(self, alarm: Alarm) -> None:
        others = [a for a in self.alarms if a.id != alarm.id]
        shown = alarm.open and not is_consequence(alarm)  # a consequence is listed under its outage
        self.alarms = sorted([*others, alarm] if shown else others, key=_order)

    def apply(self, event: LiveEvent) -> bool:
        """Fold in a live event; True when the inbox changed."""
        alarm = event.alarm
        if alarm is None:
            return False
        self.apply_alarm(alarm)
        return True


def _with_history(alarm: Alarm, older: Alarm) -> Alarm:
    """``alarm`` keeping ``older``'s history (a live event carries none)."""
    return msgspec.structs.replace(alarm, events=older.events)
