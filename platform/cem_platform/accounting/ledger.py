"""Activity-data ledgers: read a ledger file (CSV or XLSX) and check it row by row.

Steel plants keep their activity data — fuel burnt, materials used, electricity bought and sold — in a monthly
ledger (台账). Uploading it gives a report that says, for every row, whether it can be imported and, if not,
everything that is wrong with it and what to do. Nothing is written here: on confirmation the platform writes
all the valid rows at once.

The file
--------
* A ``.csv`` or an ``.xlsx`` file. An XLSX workbook is recognised by its content whatever its name; Excel
  97-2003 ``.xls`` files are not accepted: save them as ``.xlsx`` or as CSV.
* CSV: UTF-8 (with or without BOM) or GB18030/GBK, as Chinese Excel saves it (UTF-16 with a BOM is read too).
  Columns are separated by ``,``, ``;`` or a tab, whichever separates the header row.
* XLSX: the sheet named ``ledger`` or ``台账`` if there is one, else the first sheet. A formula cell counts with
  the value the spreadsheet program last computed and saved.
* The header is the first non-empty row (so a title row above it is not allowed). Completely empty rows are
  skipped; there may be at most 20 000 data rows.
* Row numbers in the report are the ones a spreadsheet shows: the header row and empty rows count.

Columns
-------
Column names are matched ignoring case, surrounding blanks and full-width forms; the order is free and columns
with other names are ignored.

=============  ==========================================  ==================================================
column         also accepted                               content
=============  ==========================================  ==================================================
``source``     ``source_code``, 排放源, 排放源编码,        the emission source's code, as in the inventory
               排放源代码                                  (required; case does not matter)
``input``      ``input_name``, 参数, 活动数据项            the activity input, e.g. ``FC``, ``AD``,
                                                           ``purchased``, ``exported``; may be left out for a
                                                           source with a single importable input
``month``      月份                                        ``2025-03``, ``2025/3``, ``2025年3月`` or a date
                                                           cell (Excel turns ``2025-03`` into 1 March 2025);
                                                           a bare month number (``3``, ``3月``) together
                                                           with a ``year`` column. Not ``2025.3``: as a
                                                           number, ``2025.10`` is ``2025.1``
``from``       ``from_date``, 起始日期, 开始日期           first day: ``2025-03-01``, ``2025/3/1``,
                                                           ``2025.3.1``, ``2025年3月1日`` or a date cell
``to``         ``to_date``, 截止日期, 结束日期             last day, **included**, written like ``from``
``year``       年份, 年度                                  ``2025`` or ``2025年``: alone, the whole year
``value``      数值, 数量                                  the quantity (required)
``unit``       单位                                        its unit (required), e.g. ``t``, ``万Nm3``,
                                                           ``MWh``, ``GJ``
``estimated``  估算, 是否估算                              ``yes``/``no``, ``true``/``false``, ``y``/``n``,
                                                           ``1``/``0``, 是/否, or empty (= no)
``note``       备注                                        free text, kept as written
=============  ==========================================  ==================================================

The period of a row is given in exactly one way: ``month``, or ``from`` and ``to``, or ``year`` alone. When a
``year`` is filled in next to a full month or dates, they must agree. Periods are whole days of the plant's
local time: a date cell with a time of day is refused, and so is an Excel day number (``45717``) in a cell not
formatted as a date. The platform keeps a period as the UTC instants of local midnight at the start of the first
day and at the end of the last day (for Asia/Shanghai, 16:00 UTC the day before). Years run from 1970 to 2100.

Values are decimal numbers, kept exactly as written (``0.1`` stays 0.1, ``500000.00`` keeps its zeros): an
optional sign, digits and an optional decimal point ``.``. Thousands separators ``,`` are allowed when they
group exactly three digits (``1,234,567.5``); full-width digits and blanks around the number are fine. Refused:
exponent notation (``1E+5``, ``1.23457E+11``: Excel shows large numbers that way and a CSV saved from it keeps
only the digits shown, so format the cell as a number instead), NaN and infinity, percentages, a unit in the
value cell, decimal commas (``1234,5``) and, in a ``;``-separated file, ``1,234`` (a decimal comma or a
thousands separator?). A value has at most 18 digits before the point and 10 after (what is stored). A
negative value is allowed only for inputs that may be negative (a fuel's consumption net of by-product gas sold
outside the plant). Numeric XLSX cells are read as the shortest decimal that gives back the stored number.

Units are those of :mod:`cem_platform.accounting.units` (Chinese names such as 吨, 万Nm3, 万千瓦时 included) and
must convert to the unit of the input (``万Nm3`` for an input in ``10^4 Nm3``, ``kWh`` for one in ``MWh``...).
The value is kept in the unit written; the report shows the unit's canonical spelling.

Checks
------
Every row is checked completely and all its problems are reported together: unknown source, input not
importable for that source (or missing when the source has several), missing or malformed period, missing or
malformed value, negative value where not allowed, unknown unit or one that does not convert to the input's,
malformed ``estimated``, and two rows for the same source and input whose periods are the same (a duplicate)
or overlap. For duplicates and overlaps the later row is reported, naming the earlier one(s); a row already
reported as overlapping is not compared with the rows after it. Only the file itself is checked here; clashes
with data already stored are for the platform to report.

Each problem of a row is reported twice: as an English sentence (``errors``) and as a stable code with its
parameters, all text (``problems``: ``{"code": ..., "params": {...}}``, in the same order), for clients that show
it in the reader's language. :data:`PROBLEM_CODES` lists every code with its parameters: ``source_missing``,
``source_unknown``, ``source_unknown_guess``, ``source_none_importable``, ``input_not_importable``,
``input_missing``, ``input_column_missing``, ``year_out_of_range``, ``year_not_year``, ``date_has_time``,
``date_is_number``, ``date_not_date``, ``date_no_such_day``, ``month_decimal``, ``month_out_of_range``,
``month_no_year``, ``month_is_day``, ``month_not_month``, ``month_outside_year``, ``period_twice``,
``period_incomplete``, ``period_reversed``, ``period_outside_year``, ``period_missing``, ``value_missing``,
``value_not_number``, ``value_not_finite``, ``value_is_date``, ``value_exponent``, ``value_ambiguous_comma``,
``value_not_decimal``, ``value_too_many_places``, ``value_too_large``, ``value_negative``, ``unit_missing``,
``unit_unknown``, ``unit_wrong_kind``, ``estimated_not_yes_no``, ``duplicate`` and ``overlap``.

Problems with the whole file — unknown type, empty, undecodable, missing columns, too many rows — raise
:class:`LedgerError` with a hint.
"""

from __future__ import annotations

import contextlib
import csv
import difflib
import io
import math
import re
import unicodedata
import warnings
from bisect import bisect_right
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Final
from zoneinfo import ZoneInfo

import openpyxl  # type: ignore[import-untyped]

from cem_platform.accounting import units
from cem_platform.accounting.formulas import AccountingError

__all__ = [
    "COLUMNS",
    "INVALID",
    "MAX_DECIMAL_PLACES",
    "MAX_INTEGER_DIGITS",
    "SHEET_NAMES",
    "VALID",
    "LedgerError",
    "LedgerInput",
    "LedgerReport",
    "LedgerRow",
    "parse_ledger",
    "row_from_json",
    "row_to_json",
]

VALID: Final = "valid"
INVALID: Final = "invalid"

#: What a stored value holds (``DecimalField(max_digits=28, decimal_places=10)``).
MAX_INTEGER_DIGITS: Final = 18
MAX_DECIMAL_PLACES: Final = 10

#: The column names, each with the other names accepted for it (matched after normalisation, see ``_key``).
COLUMNS: Final[Mapping[str, tuple[str, ...]]] = {
    "source": ("source_code", "排放源", "排放源编码", "排放源代码"),
    "input": ("input_name", "参数", "活动数据项"),
    "month": ("月份",),
    "from": ("from_date", "起始日期", "开始日期"),
    "to": ("to_date", "截止日期", "结束日期"),
    "year": ("年份", "年度"),
    "value": ("数值", "数量"),
    "unit": ("单位",),
    "estimated": ("估算", "是否估算"),
    "note": ("备注",),
}

#: Sheets read in preference to the first one (matched ignoring case and surrounding blanks).
SHEET_NAMES: Final = ("ledger", "台账")

_REQUIRED: Final = ("source", "value", "unit")
_YES: Final = frozenset({"yes", "y", "true", "1", "是"})
_NO: Final = frozenset({"no", "n", "false", "0", "否"})
_FIRST_YEAR, _LAST_YEAR = 1970, 2100
_SHOWN_CODES: Final = 5
_SHOWN_OVERLAPS: Final = 3
_SUGGESTED: Final = 200


class LedgerError(AccountingError):
    """The ledger file as a whole cannot be read: wrong type, empty, undecodable, columns missing, too long."""

    code = "ledger_error"
    default_hint = (
        "Upload a .csv or .xlsx file whose first non-empty row names the columns (source, input, month or "
        "from/to or year, value, unit, estimated, note) and whose following rows hold the data."
    )


@dataclass(frozen=True)
class LedgerInput:
    """An activity input of a source that accepts imported data."""

    source_code: str
    input_name: str  # e.g. "FC", "AD", "purchased", "exported"
    unit: str  # the unit the source expects, e.g. "t", "10^4 Nm3", "MWh", "GJ"
    allow_negative: bool = False  # fuel consumption may be negative (by-product gas sold outside)


@dataclass(frozen=True)
class LedgerProblem:
    """One problem of a row: a stable code (see :data:`PROBLEM_CODES`) and its parameters, all text."""

    code: str
    params: dict[str, str] = field(default_factory=dict)


_Issue = tuple[str, LedgerProblem]  # the English sentence for the user and the problem it states

# Every code a row problem can have, with the names of its parameters (a client's translation fills these in).
# Cell texts are as written; dates ISO 8601 (local days); ``column`` is from, to, month or year; lists are joined
# with ", ".
PROBLEM_CODES: Final[Mapping[str, tuple[str, ...]]] = {
    "source_missing": (),
    "source_unknown": ("source", "known"),
    "source_unknown_guess": ("source", "guess", "known"),
    "source_none_importable": ("source",),
    "input_not_importable": ("input", "source", "choices"),
    "input_missing": ("source", "choices"),
    "input_column_missing": ("source", "choices"),
    "year_out_of_range": ("column", "year", "first", "last"),
    "year_not_year": ("cell",),
    "date_has_time": ("column", "cell"),
    "date_is_number": ("column", "cell"),
    "date_not_date": ("column", "cell"),
    "date_no_such_day": ("column", "cell"),
    "month_decimal": ("cell",),
    "month_out_of_range": ("cell",),
    "month_no_year": ("cell",),
    "month_is_day": ("cell", "month"),
    "month_not_month": ("cell",),
    "month_outside_year": ("month", "year"),
    "period_twice": (),
    "period_incomplete": ("column",),
    "period_reversed": ("first", "last"),
    "period_outside_year": ("first", "last", "year"),
    "period_missing": (),
    "value_missing": (),
    "value_not_number": ("cell",),
    "value_not_finite": ("cell",),
    "value_is_date": ("cell",),
    "value_exponent": ("cell",),
    "value_ambiguous_comma": ("cell",),
    "value_not_decimal": ("cell",),
    "value_too_many_places": ("value", "places", "most"),
    "value_too_large": ("value", "most"),
    "value_negative": ("value", "input", "source"),
    "unit_missing": (),
    "unit_unknown": ("unit", "units"),
    "unit_wrong_kind": ("unit", "expected", "input", "source", "same"),
    "estimated_not_yes_no": ("cell",),
    "duplicate": ("row", "source", "input", "first", "last"),
    "overlap": ("first", "last", "rows", "source", "input"),
}


@dataclass(frozen=True)
class LedgerRow:
    """One data row of the ledger with its verdict; fields that could not be read are ``None`` or as written."""

    row: int  # 1-based row number as the user sees it in the file (header row counts)
    status: str  # "valid" | "invalid"
    errors: tuple[str, ...]  # each a sentence saying what is wrong and what to do (English)
    source_code: str
    input_name: str
    period_start: datetime | None  # aware UTC instant = local midnight of the first day in `zone`
    period_end: datetime | None  # aware UTC instant = local midnight of the day AFTER the last day (exclusive)
    value: Decimal | None  # exact, as written (no float round-trip noise)
    unit: str  # canonical spelling of the unit written by the user (units.canonical), else as written
    estimated: bool
    note: str
    problems: tuple[LedgerProblem, ...] = ()  # the errors as codes and parameters, in the same order


@dataclass(frozen=True)
class LedgerReport:
    """The verdict on every data row of a ledger file, in file order."""

    filename: str
    format: str  # "csv" | "xlsx"
    rows: tuple[LedgerRow, ...]

    @property
    def valid(self) -> tuple[LedgerRow, ...]:
        return tuple(row for row in self.rows if row.status == VALID)

    @property
    def invalid(self) -> tuple[LedgerRow, ...]:
        return tuple(row for row in self.rows if row.status == INVALID)


# ------------------------------------------------------------------------------------------------ text helpers


def _clean(text: str) -> str:
    """``text`` in Unicode NFKC (full-width forms as ASCII), without surrounding blanks, BOMs or zero-width spaces."""
    return unicodedata.normalize("NFKC", text).strip().strip("\ufeff\u200b").strip()


def _key(name: str) -> str:
    """The matching key of a column name: cleaned, case folded, runs of blanks, ``_`` and ``-`` as one ``_``."""
    return re.sub(r"[\s_\-]+", "_", _clean(name).casefold()).strip("_")


def _text(cell: object) -> str:
    """A cell as cleaned text (``''`` for an empty cell); whole floats without ``.0``."""
    if cell is None:
        return ""
    if isinstance(cell, str):
        return _clean(cell)
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    if isinstance(cell, datetime) and cell.time() == time():
        return cell.date().isoformat()
    if isinstance(cell, date | time):
        return cell.isoformat()
    return str(cell)


def _note(cell: object) -> str:
    """Free text as written (no normalisation: a full-width comma stays one), without surrounding blanks."""
    return cell.strip().strip("\ufeff\u200b").strip() if isinstance(cell, str) else _text(cell)


def _is_empty(cells: Sequence[object]) -> bool:
    return all(_text(cell) == "" for cell in cells)


def _quote(cell: object) -> str:
    """A cell as the user wrote it, quoted for a message."""
    return repr(_text(cell))


def _enumerate(items: Sequence[str], limit: int = 8) -> str:
    shown = ", ".join(items[:limit])
    return shown if len(items) <= limit else f"{shown} and {len(items) - limit} more"


# ------------------------------------------------------------------------------------------------ reading the file

_Rows = Generator[tuple[int, Sequence[object]], None, None]  # (row number, cells) of every row, empty ones too

_ZIP_MAGIC: Final = b"PK\x03\x04"
_OLE_MAGIC: Final = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Excel 97-2003 .xls


def _file_format(filename: str, content: bytes) -> str:
    name = filename.strip().replace("\\", "/").rsplit("/", 1)[-1]
    extension = name.rsplit(".", 1)[-1].casefold() if "." in name else ""
    if not content.strip():
        raise LedgerError(
            f"The file {name!r} is empty.", hint="Upload the ledger file itself, with its header row and data."
        )
    if content.startswith(_ZIP_MAGIC):
        return "xlsx"
    if content.startswith(_OLE_MAGIC) or extension == "xls":
        raise LedgerError(
            f"The file {name!r} is an Excel 97-2003 workbook (.xls), which is not accepted.",
            hint="Open it in Excel or WPS and save it as an Excel workbook (.xlsx) or as CSV, then upload that.",
        )
    if extension == "xlsx":
        raise LedgerError(
            f"The file {name!r} is named .xlsx but is not an XLSX workbook (an XLSX file is a zip archive).",
            hint="Save the ledger from the spreadsheet program as an Excel workbook (.xlsx) or as CSV and upload it.",
        )
    if extension == "csv":
        return "csv"
    raise LedgerError(
        f"The file {name!r} is not a ledger file: only .csv and .xlsx files are accepted.",
        hint="Save the ledger as CSV (UTF-8 or the Chinese default encoding) or as an Excel workbook (.xlsx).",
    )


def _decode(content: bytes) -> str:
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings: tuple[str, ...] = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")
    for encoding in encodings:
        try:
            text = content.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise LedgerError(
        "The CSV file could not be read as text: it is neither UTF-8 nor GB18030/GBK (or it is not a text file).",
        hint="Save the ledger as 'CSV UTF-8 (comma delimited)' from Excel or WPS, or as an .xlsx workbook.",
    )


def _delimiter(text: str) -> str:
    """``,``, ``;`` or tab: the one occurring most (outside quotes) in the first line holding any text."""
    for line in text.splitlines():
        if not line.strip(",;\t\" '\ufeff"):
            continue
        counts = dict.fromkeys((",", ";", "\t"), 0)
        quoted = False
        for char in line:
            if char == '"':
                quoted = not quoted
            elif not quoted and char in counts:
                counts[char] += 1
        best = max(counts, key=lambda d: counts[d])  # ties go to the first: ','
        return best if counts[best] else ","
    return ","


def _csv_rows(content: bytes) -> tuple[str, _Rows]:
    text = _decode(content)
    delimiter = _delimiter(text)
    # strict: an unclosed quote must not swallow the rest of the file into one cell
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    def rows() -> _Rows:
        number = 0
        try:
            for number, record in enumerate(reader, start=1):
                yield number, record
        except csv.Error as err:
            raise LedgerError(
                f"The CSV file is malformed after row {number}: {err}.",
                hint="Check that quotes are closed and that no cell holds huge text; "
                "saving the ledger again from Excel or WPS usually fixes this.",
            ) from err

    return delimiter, rows()


def _quiet() -> warnings.catch_warnings[None]:
    """openpyxl warns about what it drops (data validation extensions, a missing default style...): irrelevant
    for reading values."""
    return warnings.catch_warnings(action="ignore")


def _xlsx_rows(content: bytes, filename: str) -> _Rows:
    try:
        with _quiet():
            workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True, keep_links=False)
    except Exception as err:  # any malformed archive or XML: the file is not a workbook we can read
        raise LedgerError(
            f"The file {filename!r} could not be read as an XLSX workbook ({type(err).__name__}: {err}).",
            hint="Open it in Excel or WPS, save it again as an Excel workbook (.xlsx) or as CSV, and upload it.",
        ) from err
    try:
        sheets = list(workbook.worksheets)
        if not sheets:
            raise LedgerError(f"The workbook {filename!r} has no worksheet.")
        wanted = {name.casefold() for name in SHEET_NAMES}
        sheet = next((s for s in sheets if _clean(s.title).casefold() in wanted), sheets[0])
        sheet.reset_dimensions()  # the stored dimension may be wrong: read every row there is
        rows = sheet.iter_rows(min_row=1, values_only=True)  # missing rows come as empty ones
        number = 0
        while True:
            try:
                with _quiet():
                    values = next(rows, None)
            except Exception as err:  # malformed sheet XML, found while streaming
                raise LedgerError(
                    f"The workbook {filename!r} is damaged after row {number} ({type(err).__name__}: {err}).",
                    hint="Open it in Excel or WPS, save it again as .xlsx or as CSV, and upload it.",
                ) from err
            if values is None:
                return
            number += 1
            yield number, values
    finally:
        workbook.close()


# ------------------------------------------------------------------------------------------------ header


@dataclass(frozen=True)
class _Header:
    row: int
    columns: Mapping[str, int]  # column -> index of the cell in a row

    def get(self, cells: Sequence[object], column: str) -> object:
        index = self.columns.get(column)
        if index is None or index >= len(cells):
            return None
        return cells[index]


_ALIASES: Final[Mapping[str, str]] = {
    _key(name): column for column, aliases in COLUMNS.items() for name in (column, *aliases)
}


def _accepted_columns() -> str:
    return "; ".join(f"{column} ({', '.join(aliases)})" for column, aliases in COLUMNS.items())


def _header(number: int, cells: Sequence[object]) -> _Header:
    columns: dict[str, int] = {}
    ignored: list[str] = []
    for index, cell in enumerate(cells):
        name = _text(cell)
        if not name:
            continue
        column = _ALIASES.get(_key(name))
        if column is None:
            ignored.append(repr(name))
            continue
        if column in columns:
            raise LedgerError(
                f"The header (row {number}) names the {column!r} column twice (columns {columns[column] + 1} and "
                f"{index + 1}).",
                hint="Keep one column per item: delete or rename the second one.",
            )
        columns[column] = index
    missing = [column for column in _REQUIRED if column not in columns]
    if ("from" in columns) != ("to" in columns):
        missing.append("to" if "from" in columns else "from")
    elif not {"month", "from", "year"} & columns.keys():
        missing.append("month (or from and to, or year)")
    if missing:
        found = f"; columns not recognised: {', '.join(ignored)}" if ignored else ""
        raise LedgerError(
            f"The ledger's header (row {number}, the first non-empty row) lacks the column(s) "
            f"{', '.join(missing)}{found}. Accepted column names: {_accepted_columns()}.",
            hint="Make the first non-empty row the header, naming at least source, value, unit and the period "
            "(month, or from and to, or year); names are matched ignoring case.",
        )
    return _Header(number, columns)


# ------------------------------------------------------------------------------------------------ sources


class _Catalogue:
    """The importable inputs, looked up by source code and input name (exactly, else ignoring case)."""

    def __init__(self, inputs: Sequence[LedgerInput]) -> None:
        self.inputs: dict[str, dict[str, LedgerInput]] = {}
        for item in inputs:
            units.canonical(item.unit)  # a wrong catalogue is a programming error: fail loudly
            known = self.inputs.setdefault(item.source_code, {})
            if item.input_name in known:
                raise ValueError(f"input {item.input_name!r} of source {item.source_code!r} is given twice")
            known[item.input_name] = item
        self.codes = sorted(self.inputs)
        self._unknown: dict[str, _Issue] = {}  # issue per unknown code (the same typo recurs row after row)
        self._folded: dict[str, list[str]] = {}
        for code in self.codes:
            self._folded.setdefault(_clean(code).casefold(), []).append(code)

    def source(self, text: str) -> str | None:
        """The code ``text`` names: exactly, else ignoring case and full-width forms if that is unambiguous."""
        if text in self.inputs:
            return text
        matches = self._folded.get(text.casefold(), [])
        return matches[0] if len(matches) == 1 else None

    def unknown_source(self, text: str) -> _Issue:
        if not self.codes:
            return _issue(
                "source_none_importable",
                f"Unknown source {text!r}: no source accepts imported data yet. Set the data origin of the "
                "source's activity inputs to 'import' in the emission-source inventory first.",
                source=text,
            )
        found = self._unknown.get(text)
        if found is None:
            # Suggestions cost a fuzzy comparison with every code: for the first distinct unknown codes only.
            close = difflib.get_close_matches(text, self.codes, n=3) if len(self._unknown) < _SUGGESTED else []
            guess = f" Did you mean {' or '.join(close)}?" if close else ""
            known = _enumerate(self.codes, _SHOWN_CODES)
            message = (
                f"Unknown source {text!r}: no source with this code accepts imported data.{guess} Known sources: "
                f"{known}. Write the source code as in the emission-source inventory."
            )
            shown = ", ".join(self.codes[:_SHOWN_CODES]) + (", …" if len(self.codes) > _SHOWN_CODES else "")
            found = self._unknown[text] = (
                _issue("source_unknown_guess", message, source=text, guess=", ".join(close), known=shown)
                if close
                else _issue("source_unknown", message, source=text, known=shown)
            )
        return found

    def input(self, source: str, text: str) -> LedgerInput | None:
        known = self.inputs[source]
        if text in known:
            return known[text]
        matches = [item for name, item in known.items() if _clean(name).casefold() == text.casefold()]
        return matches[0] if len(matches) == 1 else None

    def choices(self, source: str) -> str:
        return ", ".join(f"{name} ({item.unit})" for name, item in self.inputs[source].items())


# ------------------------------------------------------------------------------------------------ periods

_MONTH_RE: Final = re.compile(r"(\d{4})\s*([-/])\s*(\d{1,2})|(\d{4})\s*年\s*(\d{1,2})\s*月?", re.ASCII)
_DATE_RE: Final = re.compile(
    r"(\d{4})\s*([-/.])\s*(\d{1,2})\s*\2\s*(\d{1,2})(?:(?:\s+|T)0?0:00(?::00(?:\.0+)?)?)?"
    r"|(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*[日号]?",
    re.ASCII,
)
_YEAR_RE: Final = re.compile(r"(\d{4})\s*年?", re.ASCII)
_MONTH_NUMBER_RE: Final = re.compile(r"(\d{1,2})\s*月?", re.ASCII)
_DATE_FORMS: Final = "2025-03-01, 2025/3/1, 2025.3.1 or 2025年3月1日, or a date cell"


class _Bad(ValueError):
    """A cell cannot be read; each argument is an :data:`_Issue` (the sentence for the user and its problem)."""

    def __init__(self, *issues: _Issue) -> None:
        super().__init__(*issues)
        self.issues = issues


def _issue(code: str, message: str, **params: object) -> _Issue:
    """The English ``message`` with its stable ``code`` and parameters (as text) for a translated one."""
    if set(PROBLEM_CODES.get(code, ("?",))) != set(
        params
    ):  # a code or parameter missing from the registry goes untranslated
        raise ValueError(f"ledger problem {code!r} with parameters {sorted(params)} is not as PROBLEM_CODES says")
    return message, LedgerProblem(code, {name: str(value) for name, value in params.items()})


def _bad(code: str, message: str, **params: object) -> _Bad:
    return _Bad(_issue(code, message, **params))


def _check_year(year: int, what: str) -> int:
    if not _FIRST_YEAR <= year <= _LAST_YEAR:
        raise _bad(
            "year_out_of_range",
            f"{what} has the year {year}, outside {_FIRST_YEAR}-{_LAST_YEAR}: correct the year.",
            column=what,
            year=year,
            first=_FIRST_YEAR,
            last=_LAST_YEAR,
        )
    return year


def _whole_number(cell: object) -> int | None:
    if isinstance(cell, bool):
        return None
    if isinstance(cell, int):
        return cell
    if isinstance(cell, float) and cell.is_integer():
        return int(cell)
    return None


def _date(cell: object, what: str) -> date:
    """A date from a date cell or text; a time of day other than midnight is refused."""
    if isinstance(cell, datetime):
        if cell.time() != time():
            raise _bad(
                "date_has_time",
                f"{what} {cell:%Y-%m-%d %H:%M} has a time of day; periods are whole days: give the date only.",
                column=what,
                cell=f"{cell:%Y-%m-%d %H:%M}",
            )
        return date(_check_year(cell.year, what), cell.month, cell.day)
    if isinstance(cell, date):
        return date(_check_year(cell.year, what), cell.month, cell.day)
    if isinstance(cell, int | float) and not isinstance(cell, bool):
        raise _bad(
            "date_is_number",
            f"{what} {_quote(cell)} is a number, not a date (an Excel day number?): format the cell as a date or "
            f"write the date as {_DATE_FORMS}.",
            column=what,
            cell=_text(cell),
        )
    text = _text(cell)
    match = _DATE_RE.fullmatch(text)
    if match is None:
        raise _bad(
            "date_not_date",
            f"{what} {text!r} is not a date: write it as {_DATE_FORMS}; periods are whole days.",
            column=what,
            cell=text,
        )
    groups = match.groups()
    year, month, day = (groups[0], groups[2], groups[3]) if groups[0] is not None else groups[4:7]
    try:
        return date(_check_year(int(year), what), int(month), int(day))
    except ValueError:
        raise _bad(
            "date_no_such_day",
            f"{what} {text!r} is not a valid date (there is no such day): correct it.",
            column=what,
            cell=text,
        ) from None


def _month(cell: object, year: int | None) -> tuple[int, int]:
    """(year, month) from a month cell: a full month, a date on the 1st, or a month number with ``year``."""
    number = _whole_number(cell)
    text = _text(cell)
    if isinstance(cell, float) and number is None:
        raise _bad(
            "month_decimal",
            f"month {text!r} is a number with decimals, where 2025.10 and 2025.1 are the same: write the month as "
            "2025-10 (or 2025年10月), or format the cell as text or as a date.",
            cell=text,
        )
    if number is None and (match := _MONTH_NUMBER_RE.fullmatch(text)):
        number = int(match.group(1))
    if number is not None:
        if not 1 <= number <= 12:
            raise _bad(
                "month_out_of_range",
                f"month {text!r} is not a month: write it as 2025-03 (or 2025年3月, 2025/3).",
                cell=text,
            )
        if year is None:
            raise _bad(
                "month_no_year",
                f"month {text!r} has no year: write the month as 2025-03 (or 2025年3月), or fill in the year column.",
                cell=text,
            )
        return year, number
    if isinstance(cell, date) or _DATE_RE.fullmatch(text):
        day = _date(cell, "month")
        if day.day != 1:
            raise _bad(
                "month_is_day",
                f"month {day.isoformat()} is a day, not a month: write the month as {day:%Y-%m}, or give the period "
                "with the from and to columns.",
                cell=day.isoformat(),
                month=f"{day:%Y-%m}",
            )
        return day.year, day.month
    match = _MONTH_RE.fullmatch(text)
    if match is None:
        raise _bad(
            "month_not_month", f"month {text!r} is not a month: write it as 2025-03, 2025/3 or 2025年3月.", cell=text
        )
    found_year, month = (
        (int(match.group(1)), int(match.group(3))) if match.group(1) else (int(match.group(4)), int(match.group(5)))
    )
    if not 1 <= month <= 12:
        raise _bad("month_out_of_range", f"month {text!r} is not a month (months are 1 to 12): correct it.", cell=text)
    return _check_year(found_year, "month"), month


def _year(cell: object) -> int:
    number = _whole_number(cell)
    text = _text(cell)
    if number is None and (match := _YEAR_RE.fullmatch(text)):
        number = int(match.group(1))
    if number is None:
        raise _bad("year_not_year", f"year {text!r} is not a year: write it as 2025.", cell=text)
    return _check_year(number, "year")


def _show(first: date, last: date) -> str:
    return f"{first.isoformat()} to {last.isoformat()}"


def _period(header: _Header, cells: Sequence[object]) -> tuple[date, date]:
    """(first day, last day) of the row's period; raises :class:`_Bad` with every problem found."""
    month_cell, from_cell, to_cell, year_cell = (header.get(cells, c) for c in ("month", "from", "to", "year"))
    has_month, has_from, has_to, has_year = (_text(c) != "" for c in (month_cell, from_cell, to_cell, year_cell))
    year: int | None = None
    if has_year:
        year = _year(year_cell)
    if has_from or has_to:
        if has_month:
            raise _bad(
                "period_twice",
                "the period is given twice, as a month and as from/to: fill in either the month or the from and "
                "to dates, not both.",
            )
        if not (has_from and has_to):
            missing = "to (the last day)" if has_from else "from (the first day)"
            raise _bad(
                "period_incomplete",
                f"the period lacks its {missing}: give both from and to, or a month.",
                column="to" if has_from else "from",
            )
        problems: list[_Issue] = []
        days: list[date] = []
        for cell, what in ((from_cell, "from"), (to_cell, "to")):
            try:
                days.append(_date(cell, what))
            except _Bad as err:
                problems.extend(err.issues)
        if problems:
            raise _Bad(*problems)
        first, last = days
        if last < first:
            raise _bad(
                "period_reversed",
                f"the period ends before it starts (from {first.isoformat()}, to {last.isoformat()}): 'to' is the "
                "last day, included; swap or correct the dates.",
                first=first.isoformat(),
                last=last.isoformat(),
            )
        if year is not None and not first.year == last.year == year:
            raise _bad(
                "period_outside_year",
                f"the period {_show(first, last)} is not within the year {year}: correct the year or the dates.",
                first=first.isoformat(),
                last=last.isoformat(),
                year=year,
            )
        return first, last
    if has_month:
        found_year, month = _month(month_cell, year)
        if year is not None and found_year != year:
            raise _bad(
                "month_outside_year",
                f"the month {found_year}-{month:02d} is not in the year {year}: correct the month or the year.",
                month=f"{found_year}-{month:02d}",
                year=year,
            )
        first = date(found_year, month, 1)
        following = date(found_year + 1, 1, 1) if month == 12 else date(found_year, month + 1, 1)
        return first, following - timedelta(days=1)
    if year is not None:
        return date(year, 1, 1), date(year, 12, 31)
    raise _bad(
        "period_missing",
        "the period is missing: fill in the month (e.g. 2025-03), or the from and to dates, or the year.",
    )


def _instant(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight at the start of ``day`` in ``zone``, as an aware UTC instant."""
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


# ------------------------------------------------------------------------------------------------ values

_PLAIN_RE: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_GROUPED_RE: Final = re.compile(r"[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?", re.ASCII)
_EXPONENT_RE: Final = re.compile(r"[+-]?[\d.,]+[eE][+-]?\d+", re.ASCII)
_VALUE_FORMS: Final = "digits with an optional '.' decimal point and ',' thousands separators, e.g. 1234.5 or 1,234.5"


def _plain(number: Decimal) -> Decimal:
    """``number`` without exponent notation (``1E+16`` -> ``10000000000000000``)."""
    return Decimal(f"{number:f}")


def _value(cell: object, ambiguous_comma: bool) -> Decimal:
    if isinstance(cell, bool):
        raise _bad(
            "value_not_number",
            f"value {_quote(cell)} is not a number: write the quantity, {_VALUE_FORMS}.",
            cell=_text(cell),
        )
    if isinstance(cell, int):
        number = Decimal(cell)
    elif isinstance(cell, float):
        if not math.isfinite(cell):
            raise _bad(
                "value_not_finite",
                f"value {cell!r} is not a finite number: write the quantity, {_VALUE_FORMS}.",
                cell=repr(cell),
            )
        number = _plain(Decimal(repr(cell)))  # the shortest decimal giving back the float: 0.1 stays 0.1
    elif isinstance(cell, date | time | timedelta):
        raise _bad(
            "value_is_date",
            f"value {_quote(cell)} is a date or time, not a number: format the cell as a number.",
            cell=_text(cell),
        )
    else:
        text = _text(cell).replace("\u2212", "-")
        if not text:
            raise _bad("value_missing", "value is missing: fill in the quantity.")
        if _EXPONENT_RE.fullmatch(text):
            raise _bad(
                "value_exponent",
                f"value {text!r} is in exponent notation, which may have lost digits (Excel shows large numbers "
                "this way, and a CSV saved from it keeps only the digits shown): format the cell as a number "
                "showing all digits and write the full value.",
                cell=text,
            )
        if ambiguous_comma and "," in text and "." not in text and _GROUPED_RE.fullmatch(text):
            raise _bad(
                "value_ambiguous_comma",
                f"value {text!r} is ambiguous in a ';'-separated file: ',' may be a decimal comma or a thousands "
                "separator. Write the number without ',' (e.g. 1234 or 1.234).",
                cell=text,
            )
        if _PLAIN_RE.fullmatch(text):
            number = Decimal(text)
        elif _GROUPED_RE.fullmatch(text):
            number = Decimal(text.replace(",", ""))
        else:
            raise _bad(
                "value_not_decimal",
                f"value {text!r} is not a decimal number: write {_VALUE_FORMS}; put the unit in the unit column.",
                cell=text,
            )
    if not number.is_finite():
        raise _bad(
            "value_not_finite",
            f"value {_quote(cell)} is not a finite number: write the quantity, {_VALUE_FORMS}.",
            cell=_text(cell),
        )
    _check_size(number)
    return number


def _check_size(number: Decimal) -> None:
    """Refuse what a stored value cannot hold exactly (trailing zeros after the point do not count)."""
    _, digits, exponent = number.as_tuple()
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant or not isinstance(exponent, int):
        return  # zero (non-finite numbers never get here)
    places = max(0, -(exponent + len(digits) - len(significant)))
    integer_digits = max(0, number.adjusted() + 1)
    if places > MAX_DECIMAL_PLACES:
        raise _bad(
            "value_too_many_places",
            f"value {number:f} has {places} decimal places; at most {MAX_DECIMAL_PLACES} are stored: round it, or "
            "write it in a smaller unit.",
            value=f"{number:f}",
            places=places,
            most=MAX_DECIMAL_PLACES,
        )
    if integer_digits > MAX_INTEGER_DIGITS:
        raise _bad(
            "value_too_large",
            f"value {number:f} is too large (more than {MAX_INTEGER_DIGITS} digits before the decimal point): check "
            "the value and its unit.",
            value=f"{number:f}",
            most=MAX_INTEGER_DIGITS,
        )


def _estimated(cell: object) -> bool:
    if isinstance(cell, bool):
        return cell
    text = _text(cell).casefold()
    if text in _YES:
        return True
    if text in _NO or text == "":
        return False
    raise _bad(
        "estimated_not_yes_no",
        f"estimated {_text(cell)!r} is not yes or no: write yes or no (是/否), or leave it empty for no.",
        cell=_text(cell),
    )


# ------------------------------------------------------------------------------------------------ overlaps


@dataclass
class _Timeline:
    """Periods of one source and input seen so far that do not overlap each other, sorted by start."""

    starts: list[date] = field(default_factory=list)
    periods: list[tuple[date, date, int]] = field(default_factory=list)  # first day, last day, row

    def overlapping(self, first: date, last: date, row: int) -> list[tuple[date, date, int]]:
        """The periods overlapping [first, last]; if there are none, the period (of ``row``) is added."""
        index = bisect_right(self.starts, first)
        found = []
        if index and self.periods[index - 1][1] >= first:
            found.append(self.periods[index - 1])
        position = index
        while position < len(self.periods) and self.periods[position][0] <= last:
            found.append(self.periods[position])
            position += 1
        if not found:
            self.starts.insert(index, first)
            self.periods.insert(index, (first, last, row))
        return found


# ------------------------------------------------------------------------------------------------ rows


@dataclass
class _Checker:
    header: _Header
    catalogue: _Catalogue
    zone: ZoneInfo
    ambiguous_comma: bool
    first_rows: dict[tuple[str, str, date, date], int] = field(default_factory=dict)
    timelines: dict[tuple[str, str], _Timeline] = field(default_factory=dict)

    def check(self, number: int, cells: Sequence[object]) -> LedgerRow:
        header, catalogue = self.header, self.catalogue
        errors: list[_Issue] = []

        source_text = _text(header.get(cells, "source"))
        source = catalogue.source(source_text) if source_text else None
        if not source_text:
            errors.append(_issue("source_missing", "source is missing: fill in the emission source's code."))
        elif source is None:
            errors.append(catalogue.unknown_source(source_text))

        input_text = _text(header.get(cells, "input"))
        item: LedgerInput | None = None
        if source is not None:
            if input_text:
                item = catalogue.input(source, input_text)
                if item is None:
                    errors.append(
                        _issue(
                            "input_not_importable",
                            f"input {input_text!r} of source {source} does not take imported data: write one of "
                            f"{catalogue.choices(source)}.",
                            input=input_text,
                            source=source,
                            choices=catalogue.choices(source),
                        )
                    )
            elif len(catalogue.inputs[source]) == 1:
                item = next(iter(catalogue.inputs[source].values()))
            else:
                has_column = "input" in header.columns
                where = "fill in the input column" if has_column else "add an input column"
                errors.append(
                    _issue(
                        "input_missing" if has_column else "input_column_missing",
                        f"source {source} has several importable inputs: {where} with one of "
                        f"{catalogue.choices(source)}.",
                        source=source,
                        choices=catalogue.choices(source),
                    )
                )

        period: tuple[date, date] | None = None
        try:
            period = _period(header, cells)
        except _Bad as err:
            errors.extend(err.issues)

        value: Decimal | None = None
        try:
            value = _value(header.get(cells, "value"), self.ambiguous_comma)
        except _Bad as err:
            errors.extend(err.issues)
        if value is not None and value < 0 and item is not None and not item.allow_negative:
            errors.append(
                _issue(
                    "value_negative",
                    f"value {value:f} is negative, but input {item.input_name} of source {item.source_code} cannot "
                    "be: give the quantity as a positive number (sales and exports have inputs of their own).",
                    value=f"{value:f}",
                    input=item.input_name,
                    source=item.source_code,
                )
            )

        unit_text = _text(header.get(cells, "unit"))
        unit = unit_text
        if not unit_text:
            errors.append(_issue("unit_missing", "unit is missing: fill in the value's unit (e.g. t, 万Nm3, MWh)."))
        else:
            try:
                unit = units.canonical(unit_text)
            except units.UnitError:
                errors.append(
                    _issue(
                        "unit_unknown",
                        f"unit {unit_text!r} is not a known unit: write one of {', '.join(units.known_units())} "
                        "(common names such as 吨, 万Nm3, 千瓦时, 万度 are accepted too).",
                        unit=unit_text,
                        units=", ".join(units.known_units()),
                    )
                )
            else:
                if item is not None and units.dimension(unit) != units.dimension(item.unit):
                    errors.append(self._wrong_unit(unit_text, item))

        estimated = False
        try:
            estimated = _estimated(header.get(cells, "estimated"))
        except _Bad as err:
            errors.extend(err.issues)

        input_name = item.input_name if item is not None else input_text
        if source is not None and item is not None and period is not None:
            clash = self._clash(number, source, item.input_name, period)
            if clash is not None:
                errors.append(clash)

        return LedgerRow(
            row=number,
            status=INVALID if errors else VALID,
            errors=tuple(message[:1].upper() + message[1:] for message, _ in errors),
            source_code=source if source is not None else source_text,
            input_name=input_name,
            period_start=_instant(period[0], self.zone) if period else None,
            period_end=_instant(period[1] + timedelta(days=1), self.zone) if period else None,
            value=value,
            unit=unit,
            estimated=estimated,
            note=_note(header.get(cells, "note")),
            problems=tuple(problem for _, problem in errors),
        )

    @staticmethod
    def _wrong_unit(unit_text: str, item: LedgerInput) -> _Issue:
        expected = units.canonical(item.unit)
        same = [name for name in units.known_units() if units.dimension(name) == units.dimension(expected)]
        return _issue(
            "unit_wrong_kind",
            f"unit {unit_text!r} does not convert to {expected}, the unit of input {item.input_name} of source "
            f"{item.source_code}: write the value in {expected} or another unit of the same kind "
            f"({', '.join(same)}).",
            unit=unit_text,
            expected=expected,
            input=item.input_name,
            source=item.source_code,
            same=", ".join(same),
        )

    def _clash(self, number: int, source: str, input_name: str, period: tuple[date, date]) -> _Issue | None:
        first, last = period
        days = {"first": first.isoformat(), "last": last.isoformat()}
        earlier = self.first_rows.setdefault((source, input_name, first, last), number)
        if earlier != number:
            return _issue(
                "duplicate",
                f"duplicate of row {earlier}: same source {source}, input {input_name} and period "
                f"{_show(first, last)}; keep one of the two rows.",
                row=earlier,
                source=source,
                input=input_name,
                **days,
            )
        timeline = self.timelines.setdefault((source, input_name), _Timeline())
        overlaps = timeline.overlapping(first, last, number)
        if not overlaps:
            return None
        shown = ", ".join(f"row {row} ({_show(a, b)})" for a, b, row in overlaps[:_SHOWN_OVERLAPS])
        more = f" and {len(overlaps) - _SHOWN_OVERLAPS} more" if len(overlaps) > _SHOWN_OVERLAPS else ""
        rows = ", ".join(str(row) for _, _, row in overlaps[:_SHOWN_OVERLAPS])
        return _issue(
            "overlap",
            f"the period {_show(first, last)} overlaps {shown}{more} for source {source}, input {input_name}: a "
            "quantity must not be counted twice; correct the periods or remove one of the rows.",
            rows=rows + (", …" if more else ""),
            source=source,
            input=input_name,
            **days,
        )


# ------------------------------------------------------------------------------------------------ entry point


def parse_ledger(
    filename: str,
    content: bytes,
    inputs: Sequence[LedgerInput],
    zone: ZoneInfo,
    *,
    max_rows: int = 20_000,
) -> LedgerReport:
    """Read the ledger ``content`` (named ``filename``) and check every data row against ``inputs``.

    ``zone`` is the plant's time zone: periods are whole local days. Raises :class:`LedgerError` when the file
    as a whole cannot be used (see the module documentation); problems of single rows are in the report.
    """
    catalogue = _Catalogue(inputs)
    kind = _file_format(filename, content)
    ambiguous_comma = False
    if kind == "csv":
        delimiter, records = _csv_rows(content)
        ambiguous_comma = delimiter == ";"
    else:
        records = _xlsx_rows(content, filename)
    rows: list[LedgerRow] = []
    with contextlib.closing(records):
        checker: _Checker | None = None
        for number, cells in records:
            if _is_empty(cells):
                continue
            if checker is None:
                checker = _Checker(_header(number, cells), catalogue, zone, ambiguous_comma)
                continue
            if len(rows) >= max_rows:
                raise LedgerError(
                    f"The ledger has more than {max_rows} data rows.",
                    hint=f"Split it into files of at most {max_rows} rows (e.g. one per quarter) and upload each.",
                )
            rows.append(checker.check(number, cells))
    if checker is None:
        raise LedgerError(
            f"The file {filename!r} holds no data: every row is empty.",
            hint="Upload the ledger with its header row (source, value, unit, month...) and its data rows.",
        )
    if not rows:
        raise LedgerError(
            f"The ledger has a header (row {checker.header.row}) but no data rows.",
            hint="Fill in one row per source, input and period below the header, then upload the file again.",
        )
    return LedgerReport(filename=filename, format=kind, rows=tuple(rows))


# ------------------------------------------------------------------------------------------------ JSON


def _instant_to_json(instant: datetime | None) -> str | None:
    return None if instant is None else instant.astimezone(UTC).isoformat()


def _instant_from_json(text: object, name: str) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"ledger row field {name!r} must be an ISO 8601 string or null")
    instant = datetime.fromisoformat(text)
    if instant.tzinfo is None:
        raise ValueError(f"ledger row field {name!r} must carry its UTC offset, got {text!r}")
    return instant.astimezone(UTC)


def row_to_json(row: LedgerRow) -> dict[str, Any]:
    """``row`` as plain JSON: the value as a decimal string (exactly as written), instants as ISO 8601 UTC."""
    return {
        "row": row.row,
        "status": row.status,
        "errors": list(row.errors),
        "problems": [{"code": problem.code, "params": dict(problem.params)} for problem in row.problems],
        "source_code": row.source_code,
        "input_name": row.input_name,
        "period_start": _instant_to_json(row.period_start),
        "period_end": _instant_to_json(row.period_end),
        "value": None if row.value is None else f"{row.value:f}",
        "unit": row.unit,
        "estimated": row.estimated,
        "note": row.note,
    }


def row_from_json(data: Mapping[str, Any]) -> LedgerRow:
    """The row :func:`row_to_json` gave ``data`` for; raises :class:`ValueError` if ``data`` is not such a row."""
    status = data["status"]
    if status not in (VALID, INVALID):
        raise ValueError(f"ledger row status must be {VALID!r} or {INVALID!r}, got {status!r}")
    value = data.get("value")
    try:
        number = None if value is None else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"ledger row value {value!r} is not a decimal number") from None
    return LedgerRow(
        row=int(data["row"]),
        status=status,
        errors=tuple(str(error) for error in data.get("errors", ())),
        source_code=str(data["source_code"]),
        input_name=str(data["input_name"]),
        period_start=_instant_from_json(data.get("period_start"), "period_start"),
        period_end=_instant_from_json(data.get("period_end"), "period_end"),
        value=number,
        unit=str(data["unit"]),
        estimated=bool(data.get("estimated", False)),
        note=str(data.get("note", "")),
        problems=tuple(_problem_from_json(problem) for problem in data.get("problems", ())),  # old reports: none
    )


def _problem_from_json(data: object) -> LedgerProblem:
    if not isinstance(data, Mapping) or not isinstance(data.get("code"), str):
        raise ValueError(f"ledger row problem must be an object with a code, got {data!r}")
    params = data.get("params", {})
    if not isinstance(params, Mapping):
        raise ValueError(f"ledger row problem parameters must be an object, got {params!r}")
    return LedgerProblem(data["code"], {str(name): str(value) for name, value in params.items()})
