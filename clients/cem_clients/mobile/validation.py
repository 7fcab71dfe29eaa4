"""What the mobile app checks on the phone before anything is queued or sent, with messages for the crew.

The platform checks everything again; these checks only spare a round trip (and a queued action that can only
be refused later, when the crew has moved on). They mirror the platform's rules:

* **Numbers** are decimal text (``12000.5``), turned into :class:`~decimal.Decimal`, never a float. At most 18
  digits before the point and 10 after (what the platform stores). Negative only for fuel consumption.
* **Units** of an activity input are those the platform offers for it (``GET /accounting/activity/inputs``:
  the units that convert to the one its source keeps it in); a unit typed differently (``10^4nm3``) is matched
  to them.
* **Device serials** are 1–100 printable ASCII characters without spaces, as ``POST /registry/devices`` takes.
* **Authenticator codes** are 6 digits.
* **Periods** are a month ``YYYY-MM`` or whole local days ``first .. last`` (inclusive).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from cem_clients.api import ApiError

__all__ = [
    "ALARM_NOTE_MAX",
    "FIELD_INPUT",
    "FIELD_NOTE",
    "FIELD_PERIOD",
    "FIELD_UNIT",
    "FIELD_VALUE",
    "SERIAL_MAX",
    "canonical_unit",
    "check_alarm_note",
    "check_days",
    "check_month",
    "check_serial",
    "check_totp",
    "check_unit",
    "check_value",
    "normalise_text",
    "reading_field_errors",
]

SERIAL_MAX: Final = 100
ALARM_NOTE_MAX: Final = 2000  # the platform's limit on acknowledgement and clearing notes
INTEGER_DIGITS: Final = 18  # DecimalField(max_digits=28, decimal_places=10) on the platform
FRACTION_DIGITS: Final = 10

# The form fields of a manual reading that errors are reported against ("" is the form as a whole).
FIELD_INPUT: Final = "input"
FIELD_PERIOD: Final = "period"
FIELD_VALUE: Final = "value"
FIELD_UNIT: Final = "unit"
FIELD_NOTE: Final = "note"

_BLANKS = re.compile(r"\s+")
_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_SERIAL = re.compile(r"[\x21-\x7e]+")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_TOTP = re.compile(r"\d{6}")


def normalise_text(text: str) -> str:
    """Unicode NFKC (full-width digits and letters as ASCII, as phone keyboards type them), trimmed."""
    return unicodedata.normalize("NFKC", text).replace("\u2212", "-").strip()


def _unit_key(text: str) -> str:
    return _BLANKS.sub("", normalise_text(text)).replace("³", "3").casefold()


def canonical_unit(text: str, names: Iterable[str]) -> str | None:
    """Which of ``names`` a unit typed or picked is (``"10^4nm3"`` -> ``"10^4 Nm3"``); None when none."""
    key = _unit_key(text)
    return next((name for name in names if _unit_key(name) == key), None)


def check_unit(unit: str, allowed: Sequence[str]) -> tuple[str | None, str]:
    """(the canonical unit, "") or (None, why not): ``unit`` must be one of the units the platform offers for
    the input (``allowed``, the source's own unit first: those that convert to it)."""
    if not unit.strip():
        return None, "Choose a unit."
    if not allowed:
        return None, "The platform offers no unit for this input; reload the list of inputs."
    name = canonical_unit(unit, allowed)
    if name is None:
        return None, f"{unit.strip()} does not convert to {allowed[0]}; choose one of {', '.join(allowed)}."
    return name, ""


def check_value(text: str, *, may_be_negative: bool) -> tuple[Decimal | None, str]:
    """(the exact value, "") or (None, why not) for a number typed as text (a float is refused: its digits are
    already lost)."""
    raw: object = text
    if not isinstance(raw, str):
        return None, f"Type the value as text, not as a {type(raw).__name__}."
    cleaned = normalise_text(text)
    if not cleaned:
        return None, "Enter the value."
    if "," in cleaned or "，" in cleaned:
        return None, "Write the number without thousands separators, with a point for decimals: 12000.5"
    if not _DECIMAL.fullmatch(cleaned):
        return None, f"{text.strip()} is not a number; write it like 12000.5"
    try:
        value = Decimal(cleaned)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        return None, f"{text.strip()} is not a number; write it like 12000.5"
    digits = cleaned.lstrip("+-")
    whole, _, fraction = digits.partition(".")
    if len(whole.lstrip("0")) > INTEGER_DIGITS:
        return None, f"The value has more than {INTEGER_DIGITS} digits before the point: check the unit."
    if len(fraction) > FRACTION_DIGITS:
        return None, f"At most {FRACTION_DIGITS} digits after the point."
    if value < 0 and not may_be_negative:
        return None, "The value cannot be negative (only fuel consumption may be: gas or tar sold outside)."
    return value, ""


def check_month(text: str) -> tuple[str | None, str]:
    """(``"YYYY-MM"``, "") or (None, why not)."""
    cleaned = normalise_text(text)
    found = _MONTH.fullmatch(cleaned)
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1900:
        return None, "Give the month as YYYY-MM, e.g. 2025-06."
    return cleaned, ""


def _day(value: dt.date | str) -> dt.date | None:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(normalise_text(value))
    except ValueError:
        return None


def check_days(first: dt.date | str, last: dt.date | str) -> tuple[tuple[dt.date, dt.date] | None, str]:
    """((first, last), "") or (None, why not): whole local days, ``last`` inclusive."""
    first_day, last_day = _day(first), _day(last)
    if first_day is None or last_day is None:
        return None, "Give the first and the last day as YYYY-MM-DD."
    if last_day < first_day:
        return None, "The last day comes before the first."
    return (first_day, last_day), ""


def check_alarm_note(note: str, *, required: bool) -> tuple[str | None, str]:
    """(the trimmed note, "") or (None, why not); clearing an alarm needs one."""
    cleaned = note.strip()
    if required and not cleaned:
        return None, "Write what was done, or why the alarm no longer applies: clearing an alarm needs a note."
    if len(cleaned) > ALARM_NOTE_MAX:
        return None, f"The note is too long ({len(cleaned)} characters; at most {ALARM_NOTE_MAX})."
    return cleaned, ""


def check_serial(text: str) -> tuple[str | None, str]:
    """(the serial, "") or (None, why not): 1–100 printable ASCII characters without spaces."""
    cleaned = normalise_text(text)
    if not cleaned:
        return None, "Scan or type the serial number on the terminal's nameplate."
    if len(cleaned) > SERIAL_MAX:
        return None, f"A serial number has at most {SERIAL_MAX} characters (this one has {len(cleaned)})."
    if not _SERIAL.fullmatch(cleaned):
        return None, "A serial number has only letters, digits and signs such as - _ . /, without spaces."
    return cleaned, ""


def check_totp(text: str) -> tuple[str | None, str]:
    """(the 6-digit code, "") or (None, why not)."""
    cleaned = _BLANKS.sub("", normalise_text(text))
    if not _TOTP.fullmatch(cleaned):
        return None, "Enter the 6-digit code from your authenticator app."
    return cleaned, ""


# ---- the platform's refusals of a manual reading, per field ----------------------------------------------------

_FIELD_OF_KEY: Final = {
    "source_id": FIELD_INPUT,
    "input": FIELD_INPUT,
    "value": FIELD_VALUE,
    "unit": FIELD_UNIT,
    "month": FIELD_PERIOD,
    "from": FIELD_PERIOD,
    "to": FIELD_PERIOD,
    "note": FIELD_NOTE,
}
_KEY_IN_TEXT = re.compile(r"\$\.([a-z_]+)")
# What the platform's messages start with or contain, per field (its texts in cem_platform.accounting).
_FIELD_OF_TEXT: Final = (
    (("unit ",), FIELD_UNIT),
    (("value", "cannot be negative"), FIELD_VALUE),
    (("month", "last day", "which days", "overlapping", "already has record"), FIELD_PERIOD),
    (("has no activity input", "no emission source"), FIELD_INPUT),
)


def _field_of_text(message: str) -> str:
    lowered = message.casefold()
    for needles, field in _FIELD_OF_TEXT:
        if any(lowered.startswith(n) or f" {n}" in lowered or f"{n}:" in lowered for n in needles):
            return field
    return ""


def _field_of_detail(item: Mapping[str, Any]) -> str:
    key = str(item.get("key") or "")
    found = _KEY_IN_TEXT.search(key) or _KEY_IN_TEXT.search(str(item.get("message") or ""))
    name = found.group(1) if found else key
    return _FIELD_OF_KEY.get(name, "")


def reading_field_errors(err: ApiError) -> dict[str, str]:
    """The platform's refusal of a manual reading as {field: message}; ``""`` for the form as a whole.

    Request-format errors name their fields (``details``); the accounting rules say it in their message.
    """
    errors: dict[str, str] = {}
    details = err.details if isinstance(err.details, list) else []
    for item in details:
        if isinstance(item, Mapping):
            field = _field_of_detail(item)
            text = str(item.get("message") or err.message)
            errors[field] = f"{errors[field]} {text}" if field in errors else text
    if not errors:
        errors[_field_of_text(err.message)] = str(err)
    return errors
