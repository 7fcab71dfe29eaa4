"""The console's alarm view: alarms by state, severity, kind, site and time raised; one alarm with its history;
acknowledge (note optional) and clear (note required) through the alarm API; the list as a spreadsheet.

Who may acknowledge or clear is what the platform allows (``alarms.handle``); a refusal (another enterprise's
alarm, an alarm cleared meanwhile) lands in the note form's ``message`` as the platform said it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Literal, cast

from cem_clients.api import Alarm, AlarmState, ApiClient, Site
from cem_clients.console.forms import DaySpanForm, Form, Problem, Screen, choices

__all__ = [
    "ALARM_KINDS",
    "ALARM_STATES",
    "SEVERITIES",
    "AlarmBoard",
    "AlarmFilters",
    "AlarmNoteForm",
]

#: The states the list is filtered by ("open" is active or acknowledged; no state: all).
ALARM_STATES = ("open", "active", "acknowledged", "cleared")
SEVERITIES = ("critical", "major", "warning", "info")
ALARM_KINDS = (
    "device_offline",
    "meter_comm",
    "gateway_buffer",
    "data_gap",
    "data_completeness",
    "meter_stuck",
    "meter_out_of_range",
    "data_spike",
    "dead_letters",
    "data_conflict",
    "certificate_expiring",
)
NOTE_MAX = 2000  # as the platform takes it


@dataclass(kw_only=True)
class AlarmFilters(DaySpanForm):
    """What the list shows: a state (``""``: all), severity, kind, site and the local days raised within."""

    state: str = "open"
    severity: str = ""
    kind: str = ""
    site_id: int | None = None

    def window(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The instants searched between: the first day's local midnight, the midnight after the last day."""
        return self.day_window()

    def validate(self) -> bool:
        """Check the filters; True when they can be sent."""
        self.begin()
        self.check_days()
        if self.state and self.state not in ALARM_STATES:
            self.check("state", Problem("console.problem.choose_one", choices=choices(ALARM_STATES)))
        if self.severity and self.severity not in SEVERITIES:
            self.check("severity", Problem("console.problem.choose_one", choices=choices(SEVERITIES)))
        if self.kind and self.kind not in ALARM_KINDS:
            self.check("kind", Problem("console.problem.choose_one", choices=choices(ALARM_KINDS)))
        return self.valid


@dataclass(kw_only=True)
class AlarmNoteForm(Form):
    """Acknowledge an alarm (a note if one likes) or clear it (a note saying what was done is required)."""

    alarm_id: int
    action: Literal["acknowledge", "clear"] = "acknowledge"
    note: str = ""

    def validate(self) -> bool:
        """Check the note; True when the form can be sent."""
        self.begin()
        note = self.note.strip()
        if self.action == "clear" and not note:
            self.check("note", Problem("console.alarms.problem.note_required"))
        if len(note) > NOTE_MAX:
            self.check("note", Problem("console.problem.at_most_chars", limit=NOTE_MAX))
        return self.valid

    async def submit(self, api: ApiClient) -> Alarm | None:
        """Send it; the alarm as it is now (with its history), or None with the refusal in :attr:`message`."""
        if not self.validate():
            return None
        note, alarm_id = self.note.strip(), self.alarm_id
        if self.action == "clear":
            return await self.send(lambda _code: api.clear(alarm_id, note))
        return await self.send(lambda _code: api.acknowledge(alarm_id, note))


@dataclass
class AlarmBoard(Screen):
    """Alarms of an enterprise newest first, page by page, with filters; the one opened with its history."""

    api: ApiClient
    enterprise_id: int | None = None
    filters: AlarmFilters = field(default_factory=AlarmFilters)
    page_size: int = 50
    page: int = 0  # 0-based
    has_next: bool = False
    alarms: list[Alarm] = field(default_factory=list)
    sites: list[Site] = field(default_factory=list)
    opened: Alarm | None = None  # with its events
    detail_error: str = ""
    form: AlarmNoteForm | None = None

    async def load(self) -> bool:
        """The sites to filter by, then the first page."""

        async def work() -> None:
            self.sites = [s for s in await self.api.sites() if s.enterprise_id == self.enterprise_id]

        if not await self._load(work):
            return False
        return await self.search()

    async def search(self) -> bool:
        """Apply the filters: the first page."""
        if not self.filters.validate():
            return False
        return await self.go_to(0)

    async def go_to(self, page: int) -> bool:
        """Show page ``page`` (0-based) with the current filters."""
        f, page = self.filters, max(0, page)
        since, until = f.window()

        async def work() -> None:
            # one more than a page says whether an older page follows
            found = await self.api.alarms(
                cast(AlarmState, f.state) if f.state else None,  # validated against ALARM_STATES
                kind=f.kind or None,
                severity=f.severity or None,
                enterprise_id=self.enterprise_id,
                site_id=f.site_id,
                since=since,
                until=until,
                limit=self.page_size + 1,
                offset=page * self.page_size,
            )
            self.page, self.has_next = page, len(found) > self.page_size
            self.alarms = found[: self.page_size]

        return await self._load(work)

    async def next_page(self) -> bool:
        """The next (older) page, if there is one."""
        return await self.go_to(self.page + 1) if self.has_next else False

    async def previous_page(self) -> bool:
        """The previous (newer) page, if there is one."""
        return await self.go_to(self.page - 1) if self.page > 0 else False

    async def open(self, alarm_id: int) -> Alarm | None:
        """One alarm with its history (the list keeps what it shows when that fails)."""
        self.form = None
        try:
            alarm = await self.api.alarm(alarm_id)
        except Exception as err:  # noqa: BLE001 - a ClientError or a decoding problem: said on the screen
            self.detail_error = str(err)
            return None
        self.opened, self.detail_error = alarm, ""
        self._replace(alarm)
        return alarm

    def close(self) -> None:
        """Back to the list."""
        self.opened, self.form, self.detail_error = None, None, ""

    def start(self, action: Literal["acknowledge", "clear"]) -> AlarmNoteForm | None:
        """The note form for the alarm opened."""
        if self.opened is None:
            return None
        self.form = AlarmNoteForm(alarm_id=self.opened.id, action=action)
        return self.form

    async def submit(self) -> Alarm | None:
        """Send the note form; the alarm opened and its row show the new state."""
        form = self.form
        if form is None:
            return None
        alarm = await form.submit(self.api)
        if alarm is not None:
            self.opened, self.form = alarm, None
            self._replace(alarm)
        return alarm

    def _replace(self, alarm: Alarm) -> None:
        self.alarms = [alarm if a.id == alarm.id else a for a in self.alarms]

    def site_name(self, site_id: int | None) -> str:
        """A site's name ("" when unknown)."""
        return next((s.name for s in self.sites if s.id == site_id), "")

    @staticmethod
    def may_acknowledge(alarm: Alarm) -> bool:
        """Whether the alarm is in a state that can be acknowledged (active)."""
        return alarm.state == "active"

    @staticmethod
    def may_clear(alarm: Alarm) -> bool:
        """Whether the alarm is still open."""
        return alarm.state in ("active", "acknowledged")
