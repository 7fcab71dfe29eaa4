"""Manual reading entry (人工采集): one value of one activity input of an accounting source, for a month or a
run of whole local days, checked on the phone, then queued and sent through the outbox.

The inputs offered are those the platform lets the user enter (``GET /accounting/activity/inputs``): for crews
(permission ``activity.enter``) the inputs read by hand (``manual``) and metered ones (``meter``: a value then
substitutes for the meter over the days it covers entirely, 人工补录, e.g. the meter failed) at the sites in
their scope. The units offered are the platform's: those that convert to the unit the source keeps the input
in. A value for the same period again corrects the earlier one (the platform keeps both, the newer one counts);
a crew member may correct only their own entries.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from cem_clients.api import ActivityRecord, ClientError, EnterableInput, Enterprise
from cem_clients.mobile.context import AppContext, Outcome, OutcomeStatus
from cem_clients.mobile.outbox import READING
from cem_clients.mobile.validation import (
    FIELD_INPUT,
    FIELD_PERIOD,
    FIELD_UNIT,
    FIELD_VALUE,
    check_days,
    check_month,
    check_unit,
    check_value,
)

__all__ = ["ManualInput", "PeriodKind", "ReadingEntry", "manual_inputs"]

PERMISSION: Final = "activity.enter"


@dataclass(frozen=True)
class ManualInput:
    """An activity input that can be entered by hand."""

    source_id: int
    source_code: str
    source_name: str
    category: str
    input_name: str  # AD, FC, NCV ...
    unit: str  # the unit the source keeps it in
    origin: str  # manual, or meter (then an entry substitutes for the meter)
    enterprise_id: int = 0
    units: tuple[str, ...] = ()  # the units a value may be entered in (the platform's), the source's own first
    may_be_negative: bool = False  # only fuel consumption (by-product gas or tar sold outside the boundary)

    @property
    def substitute(self) -> bool:
        """An entry for a metered input: it replaces the meter's data over the days it covers."""
        return self.origin == "meter"

    @property
    def key(self) -> str:
        """The outbox key: entries for one input go in order."""
        return f"reading:{self.source_id}:{self.input_name}"

    @property
    def label(self) -> str:
        """How the picker shows it."""
        text = f"{self.source_code} {self.source_name} · {self.input_name} ({self.unit})"
        return text + (" — substitute for the meter" if self.substitute else "")


def manual_inputs(enterprise_id: int, inputs: Iterable[EnterableInput]) -> list[ManualInput]:
    """The inputs the platform lets the user enter, by source code then input."""
    out = [
        ManualInput(
            i.source_id,
            i.source_code,
            i.source_name,
            i.category,
            i.input,
            i.unit,
            i.origin,
            enterprise_id,
            tuple(i.units) or (i.unit,),
            i.may_be_negative,
        )  # fmt: skip
        for i in inputs
    ]
    return sorted(out, key=lambda i: (i.source_code, i.input_name))


class PeriodKind(StrEnum):
    """What a value covers."""

    MONTH = "month"  # one calendar month, YYYY-MM
    DAYS = "days"  # whole local days, first .. last inclusive


@dataclass
class ReadingEntry:
    """The reading form. ``errors`` are per field (input, period, value, unit, note; "" for the whole form),
    from the phone's checks or the platform's refusal; ``message`` says what happened last."""

    ctx: AppContext
    enterprise_id: int | None = None
    enterprises: list[Enterprise] = field(default_factory=list)
    inputs: list[ManualInput] = field(default_factory=list)
    choice: ManualInput | None = None
    period: PeriodKind = PeriodKind.MONTH
    month: str = ""
    first_day: dt.date | str = ""
    last_day: dt.date | str = ""
    value: str = ""
    unit: str = ""
    estimated: bool = False
    note: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    message: str = ""
    replaces: str | None = None  # the failed outbox item this form fixes (dropped when the fix is sent)
    last_record: ActivityRecord | None = None
    loaded_at: dt.datetime | None = None

    @property
    def allowed(self) -> bool:
        """Whether the user may enter activity data in the field."""
        return self.ctx.can(PERMISSION)

    @property
    def units(self) -> tuple[str, ...]:
        """The units offered for the chosen input."""
        return self.choice.units if self.choice is not None else ()

    # ---- loading ---------------------------------------------------------------------------------------------

    async def load(self, enterprise_id: int | None = None) -> bool:
        """Load the enterprises and the enterable inputs of one (``enterprise_id``, else the first)."""
        try:
            self.enterprises = await self.ctx.call(self.ctx.api.enterprises(active=True))
            wanted = enterprise_id or self.enterprise_id or (self.enterprises[0].id if self.enterprises else None)
            if wanted is None:
                self.message = "No enterprise within your scope."
                return False
            enterable = await self.ctx.call(self.ctx.api.enterable_inputs(wanted))
        except ClientError as err:
            self.message = str(err)
            return False
        self.enterprise_id = wanted
        self.inputs = manual_inputs(wanted, enterable)
        if self.choice is not None:
            self.choice = next((i for i in self.inputs if i.key == self.choice.key), None)
        self._default_period()
        self.loaded_at = self.ctx.now()
        self.message = "" if self.inputs else "No inputs to enter by hand at your sites of this enterprise."
        return True

    def _default_period(self) -> None:
        zone = next((e.timezone for e in self.enterprises if e.id == self.enterprise_id), "Asia/Shanghai")
        today = self.ctx.now().astimezone(zoneinfo.ZoneInfo(zone)).date()
        self.month = self.month or f"{today:%Y-%m}"
        self.first_day = self.first_day or today
        self.last_day = self.last_day or today

    def select(self, source_id: int, input_name: str) -> ManualInput | None:
        """Choose the input; its own unit becomes the unit unless the chosen one converts to it."""
        self.choice = next((i for i in self.inputs if i.source_id == source_id and i.input_name == input_name), None)
        if self.choice is None:
            self.errors = {FIELD_INPUT: f"Source {source_id} has no input {input_name} entered by hand."}
            return None
        if check_unit(self.unit, self.choice.units)[0] is None:
            self.unit = self.choice.unit
        self.errors.pop(FIELD_INPUT, None)
        return self.choice

    # ---- checking and sending --------------------------------------------------------------------------------

    def validate(self) -> dict[str, str]:
        """Check the form on the phone; {field: message}, empty when it can be sent."""
        return self._check()[0]

    def _check(self) -> tuple[dict[str, str], dict[str, Any]]:
        errors: dict[str, str] = {}
        payload: dict[str, Any] = {}
        choice = self.choice
        if choice is None:
            errors[FIELD_INPUT] = "Choose the source and input."
        else:
            payload |= {"source_id": choice.source_id, "input": choice.input_name}
            value, problem = check_value(self.value, may_be_negative=choice.may_be_negative)
            if value is None:
                errors[FIELD_VALUE] = problem
            else:
                payload["value"] = format(value, "f")
            unit, problem = check_unit(self.unit, choice.units)
            if unit is None:
                errors[FIELD_UNIT] = problem
            else:
                payload["unit"] = unit
        if self.period is PeriodKind.MONTH:
            month, problem = check_month(self.month)
            if month is None:
                errors[FIELD_PERIOD] = problem
            else:
                payload["month"] = month
        else:
            days, problem = check_days(self.first_day, self.last_day)
            if days is None:
                errors[FIELD_PERIOD] = problem
            else:
                payload |= {"first_day": days[0].isoformat(), "last_day": days[1].isoformat()}
        payload |= {"estimated": self.estimated, "note": self.note.strip()}
        self.errors = errors
        return errors, payload

    def period_text(self, payload: dict[str, Any]) -> str:
        """The period of a payload, as shown."""
        if payload.get("month"):
            return str(payload["month"])
        first, last = payload.get("first_day", ""), payload.get("last_day", "")
        return str(first) if first == last else f"{first} – {last}"

    async def submit(self) -> Outcome:
        """Check, queue and send the reading; what became of it (``errors``/``message`` are set too)."""
        errors, payload = self._check()
        if errors or self.choice is None:
            self.message = "Correct the marked fields."
            return Outcome(OutcomeStatus.INVALID, self.message, dict(errors))
        choice = self.choice
        if self.replaces is not None:  # the fix of a refused entry replaces it
            self.ctx.outbox.discard(self.replaces)
            self.replaces = None
        what = f"{choice.source_code} {choice.input_name} {self.period_text(payload)}"
        summary = f"{what}: {payload['value']} {payload['unit']}"
        meta = {
            "source_code": choice.source_code,
            "source_name": choice.source_name,
            "category": choice.category,
            "stored_unit": choice.unit,
            "origin": choice.origin,
            "enterprise_id": choice.enterprise_id,
            "units": list(choice.units),
            "may_be_negative": choice.may_be_negative,
        }
        outcome = await self.ctx.submit(READING, payload, key=choice.key, summary=summary, meta=meta)
        self.message = outcome.message
        if outcome.status is OutcomeStatus.FAILED:
            self.errors = dict(outcome.field_errors)
            self.replaces = outcome.item_id
        else:
            self.errors = {}
            self.value, self.note, self.estimated = "", "", False
            if isinstance(outcome.result, ActivityRecord):
                self.last_record = outcome.result
        return outcome

    def edit_failed(self, item_id: str) -> bool:
        """Fill the form from a refused reading in the outbox, with the platform's errors, to fix and resend."""
        item = next((i for i in self.ctx.outbox.failed if i.id == item_id and i.kind == READING), None)
        if item is None:
            return False
        p, m = item.payload, item.meta
        key = f"reading:{p.get('source_id')}:{p.get('input')}"
        stored_unit = str(m.get("stored_unit", p.get("unit", "")))
        self.choice = next((i for i in self.inputs if i.key == key), None) or ManualInput(
            int(p["source_id"]), str(m.get("source_code", p["source_id"])), str(m.get("source_name", "")),
            str(m.get("category", "")), str(p["input"]), stored_unit, str(m.get("origin", "manual")),
            int(m.get("enterprise_id", 0)), tuple(str(u) for u in m.get("units", ())) or (stored_unit,),
            bool(m.get("may_be_negative", False)),
        )  # fmt: skip
        if p.get("month"):
            self.period, self.month = PeriodKind.MONTH, str(p["month"])
        else:
            self.period = PeriodKind.DAYS
            self.first_day, self.last_day = str(p.get("first_day", "")), str(p.get("last_day", ""))
        self.value, self.unit = str(p.get("value", "")), str(p.get("unit", ""))
        self.estimated, self.note = bool(p.get("estimated", False)), str(p.get("note", ""))
        self.errors, self.message, self.replaces = dict(item.field_errors), item.last_error, item.id
        return True

    def clear(self) -> None:
        """Empty the value, note and errors (the input, unit and period stay for the next reading)."""
        self.value, self.note, self.estimated, self.errors, self.message, self.replaces = "", "", False, {}, "", None
