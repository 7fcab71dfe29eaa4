"""Activity-data ledgers: real CSV and XLSX files, built here, parsed and checked row by row."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl  # type: ignore[import-untyped]
import pytest

from cem_platform.accounting import ledger, units
from cem_platform.accounting.formulas import AccountingError
from cem_platform.accounting.ledger import (
    COLUMNS,
    PROBLEM_CODES,
    LedgerError,
    LedgerInput,
    LedgerProblem,
    LedgerReport,
    LedgerRow,
    parse_ledger,
    row_from_json,
    row_to_json,
)
from cem_platform.errors import InvalidInputError

D = Decimal
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC_ZONE = ZoneInfo("UTC")

INPUTS = (
    LedgerInput("COKE-1", "FC", "t"),
    LedgerInput("NG-1", "FC", "10^4 Nm3"),
    LedgerInput("BFG-1", "FC", "10^4 Nm3", allow_negative=True),  # by-product gas, net of what is sold
    LedgerInput("ELEC", "purchased", "MWh"),
    LedgerInput("ELEC", "exported", "MWh"),
)

# March 2025 in Asia/Shanghai (UTC+8): from local midnight of 1 March to local midnight of 1 April.
MARCH_START = datetime(2025, 2, 28, 16, tzinfo=UTC)
MARCH_END = datetime(2025, 3, 31, 16, tzinfo=UTC)

Cells = Sequence[object]


@pytest.fixture(autouse=True)
def clean_database() -> None:
    """Ledger parsing touches no database: this replaces the suite's per-test table cleaning (and its app)."""


def csv_bytes(rows: Iterable[Cells], *, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    buffer = io.StringIO(newline="")
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode(encoding)


def xlsx_bytes(rows: Iterable[Cells], *, title: str = "Sheet1", before: Sequence[str] = ()) -> bytes:
    """A workbook whose sheet ``title`` holds ``rows``, after sheets named ``before`` holding some text."""
    workbook = openpyxl.Workbook()
    first = workbook.active
    for index, name in enumerate(before):
        sheet = first if index == 0 else workbook.create_sheet()
        sheet.title = name
        sheet.append(["source", "value", "unit", "month"])  # a decoy: must not be read
        sheet.append(["COKE-1", 1, "t", "2025-01"])
    sheet = workbook.create_sheet() if before else first
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def parse(filename: str, content: bytes, zone: ZoneInfo = SHANGHAI, **kwargs: int) -> LedgerReport:
    return parse_ledger(filename, content, INPUTS, zone, **kwargs)


def one(zone: ZoneInfo = SHANGHAI, **cells: str) -> LedgerRow:
    """The verdict on a single CSV data row with the given columns (``from_`` for ``from``)."""
    header = [name.rstrip("_") for name in cells]
    report = parse("one.csv", csv_bytes([header, list(cells.values())]), zone)
    assert len(report.rows) == 1
    return report.rows[0]


def by_row(report: LedgerReport) -> dict[int, LedgerRow]:
    return {row.row: row for row in report.rows}


# ------------------------------------------------------------------------------------------------ reference ledger

REFERENCE = [
    ["source", "input", "month", "value", "unit", "estimated", "note"],
    ["COKE-1", "", "2025-03", "500,000", "t", "no", "weighbridge tickets"],
    ["NG-1", "FC", "2025-03", "2000", "万Nm3", "", ""],
    ["ELEC", "purchased", "2025-03", "800000", "MWh", "", "grid meter"],
    ["ELEC", "exported", "2025-03", "50000", "MWh", "yes", "meter fault: estimated"],
]


def check_reference(report: LedgerReport) -> None:
    assert not report.invalid
    assert [row.row for row in report.valid] == [2, 3, 4, 5]
    coke, gas, purchased, exported = report.rows
    assert (coke.source_code, coke.input_name, coke.value, coke.unit) == ("COKE-1", "FC", D("500000"), "t")
    assert (gas.source_code, gas.input_name, gas.value, gas.unit) == ("NG-1", "FC", D("2000"), "10^4 Nm3")
    assert units.convert(gas.value, gas.unit, "Nm3") == D("20000000")
    assert (purchased.input_name, purchased.value, purchased.unit) == ("purchased", D("800000"), "MWh")
    assert (exported.input_name, exported.value, exported.unit) == ("exported", D("50000"), "MWh")
    assert [str(row.value) for row in report.rows] == ["500000", "2000", "800000", "50000"]
    assert [row.estimated for row in report.rows] == [False, False, False, True]
    assert coke.note == "weighbridge tickets"
    assert exported.note == "meter fault: estimated"
    for row in report.rows:
        assert (row.period_start, row.period_end) == (MARCH_START, MARCH_END)
        assert row.errors == ()


def test_reference_ledger_csv_exact_decimals() -> None:
    report = parse("ledger-2025-03.csv", csv_bytes(REFERENCE))
    assert (report.filename, report.format) == ("ledger-2025-03.csv", "csv")
    check_reference(report)


def test_reference_ledger_xlsx_with_chinese_headers_and_native_cells() -> None:
    rows: list[Cells] = [
        ["排放源", "参数", "月份", "数值", "单位", "估算", "备注"],
        ["COKE-1", None, datetime(2025, 3, 1), 500000, "吨", "否", "weighbridge tickets"],  # noqa: DTZ001 - Excel
        ["NG-1", "FC", "2025年3月", 2000, "万Nm3", None, None],
        ["ELEC", "purchased", "2025/3", 800000, "兆瓦时", None, "grid meter"],
        ["ELEC", "exported", "2025-03", 50000.0, "MWh", "是", "meter fault: estimated"],
    ]
    content = xlsx_bytes(rows, title="台账", before=["说明"])
    report = parse("台账2025.xlsx", content)
    assert report.format == "xlsx"
    check_reference(report)


def test_english_headers_in_any_case_and_order_in_xlsx() -> None:
    rows: list[Cells] = [
        ["  Note", "UNIT", "Value ", "Month", "Input_Name", "Source Code", "Estimated", "something else"],
        ["", "t", 0.1, "2025-03", "fc", "coke-1", True, "ignored"],
        ["", "MWh", 1234.5678, "2025-03", "Purchased", "ELEC", False, ""],
    ]
    report = parse("ledger.xlsx", xlsx_bytes(rows, title="ledger", before=["README"]))
    coke, electricity = report.rows
    assert coke.status == electricity.status == "valid"
    assert (coke.source_code, coke.input_name, coke.value, coke.estimated) == ("COKE-1", "FC", D("0.1"), True)
    assert str(coke.value) == "0.1"  # not 0.1000000000000000055511151231257827...
    assert (electricity.input_name, str(electricity.value)) == ("purchased", "1234.5678")


def test_xlsx_is_recognised_by_its_content_whatever_its_name() -> None:
    report = parse("export.csv", xlsx_bytes(REFERENCE))
    assert report.format == "xlsx"
    check_reference(report)


def test_first_sheet_is_read_without_a_ledger_sheet() -> None:
    report = parse("book.xlsx", xlsx_bytes(REFERENCE, title="March"))
    check_reference(report)


# ------------------------------------------------------------------------------------------------ encodings, delimiters


def test_gb18030_csv_as_saved_by_chinese_excel() -> None:
    rows = [
        ["排放源", "活动数据项", "起始日期", "截止日期", "数量", "单位", "是否估算", "备注"],
        ["COKE-1", "", "2025/3/1", "2025/3/31", "500000", "吨", "否", "焦炭消耗，过磅单汇总"],
        ["NG-1", "FC", "2025年3月1日", "2025年3月31日", "2000", "万标方", "是", "天然气"],
    ]
    content = csv_bytes(rows, encoding="gb18030")
    with pytest.raises(UnicodeDecodeError):
        content.decode("utf-8")
    report = parse("台账.csv", content)
    coke, gas = report.rows
    assert coke.status == gas.status == "valid"
    assert (coke.value, coke.unit, coke.note) == (D("500000"), "t", "焦炭消耗，过磅单汇总")
    assert (gas.value, gas.unit, gas.estimated, gas.note) == (D("2000"), "10^4 Nm3", True, "天然气")
    assert (coke.period_start, coke.period_end) == (gas.period_start, gas.period_end) == (MARCH_START, MARCH_END)


def test_utf8_with_bom_and_utf16_csv() -> None:
    text = csv_bytes(REFERENCE).decode()
    check_reference(parse("bom.csv", text.encode("utf-8-sig")))
    check_reference(parse("utf16.csv", text.encode("utf-16")))


def test_semicolon_csv() -> None:
    rows = [
        ["source", "input", "month", "value", "unit", "note"],
        ["COKE-1", "FC", "2025-03", "1234.5", "t", "two, words"],
        ["NG-1", "FC", "2025-03", "1,234", "10^4 Nm3", ""],  # decimal comma or thousands separator?
        ["ELEC", "purchased", "2025-03", "1,234.5", "MWh", ""],  # unambiguous
    ]
    report = parse("europe.csv", csv_bytes(rows, delimiter=";"))
    coke, gas, electricity = report.rows
    assert (coke.status, coke.value, coke.note) == ("valid", D("1234.5"), "two, words")
    assert gas.status == "invalid"
    assert len(gas.errors) == 1
    assert "ambiguous" in gas.errors[0]
    assert (electricity.status, electricity.value) == ("valid", D("1234.5"))


def test_tab_separated_csv() -> None:
    report = parse("tabs.csv", csv_bytes(REFERENCE, delimiter="\t"))
    check_reference(report)


# ------------------------------------------------------------------------------------------------ row checks


def test_every_error_kind_on_its_row_and_the_other_rows_still_valid() -> None:
    header = ["source", "input", "from", "to", "month", "value", "unit", "estimated", "note"]
    rows: list[Cells] = [
        header,  # 1
        ["COKE-1", "", "", "", "2025-01", "100", "t", "", ""],  # 2 valid
        ["COKE-2", "", "", "", "2025-01", "100", "t", "", ""],  # 3 unknown source
        ["ELEC", "sold", "", "", "2025-01", "5", "MWh", "", ""],  # 4 input not importable
        ["ELEC", "", "", "", "2025-01", "5", "MWh", "", ""],  # 5 input missing, several choices
        ["NG-1", "FC", "", "", "2025-13", "5", "万Nm3", "", ""],  # 6 bad month
        ["NG-1", "FC", "2025-03-10", "2025-03-01", "", "5", "万Nm3", "", ""],  # 7 ends before it starts
        ["", "", "", "", "", "", "", "", ""],  # 8 empty: skipped, but counted
        ["COKE-1", "", "", "", "2025-02", "12a", "t", "", ""],  # 9 bad value
        ["COKE-1", "", "", "", "2025-03", "-5", "t", "", ""],  # 10 negative, not allowed
        ["BFG-1", "", "", "", "2025-03", "-5", "10^4 Nm3", "", ""],  # 11 negative allowed: valid
        ["COKE-1", "", "", "", "2025-04", "5", "GJ", "", ""],  # 12 unit of another dimension
        ["COKE-1", "", "", "", "2025-05", "5", "furlong", "", ""],  # 13 unknown unit
        ["COKE-1", "", "", "", "2025-01", "100", "t", "", ""],  # 14 duplicate of row 2
        ["COKE-1", "", "2025-01-15", "2025-02-15", "", "5", "t", "", ""],  # 15 overlaps rows 2 and 9
        ["ELEC", "purchased", "", "", "2025-01", "5", "MWh", "", ""],  # 16 valid
        ["COKE-9", "", "", "", "", "abc", "GJ", "maybe", ""],  # 17 four problems at once
        ["NG-1", "FC", "2025-03-01", "", "", "5", "万Nm3", "", ""],  # 18 from without to
        ["NG-1", "FC", "2025-04-01", "2025-04-30", "2025-04", "5", "万Nm3", "", ""],  # 19 period given twice
    ]
    report = parse("errors.csv", csv_bytes(rows))
    rows_by_number = by_row(report)
    assert 8 not in rows_by_number
    assert sorted(rows_by_number) == [n for n in range(2, 20) if n != 8]
    assert [row.row for row in report.valid] == [2, 11, 16]
    assert rows_by_number[11].value == D("-5")

    expected = {
        3: ["Unknown source 'COKE-2'", "Did you mean COKE-1?", "Known sources: BFG-1, COKE-1, ELEC, NG-1"],
        4: ["Input 'sold' of source ELEC does not take imported data", "purchased (MWh), exported (MWh)"],
        5: ["Source ELEC has several importable inputs", "purchased (MWh), exported (MWh)"],
        6: ["Month '2025-13' is not a month"],
        7: ["ends before it starts (from 2025-03-10, to 2025-03-01)"],
        9: ["Value '12a' is not a decimal number"],
        10: ["Value -5 is negative, but input FC of source COKE-1 cannot be"],
        12: ["Unit 'GJ' does not convert to t", "t, kg, kt, 10^4 t"],
        13: ["Unit 'furlong' is not a known unit"],
        14: ["Duplicate of row 2", "2025-01-01 to 2025-01-31"],
        15: ["overlaps row 2 (2025-01-01 to 2025-01-31), row 9 (2025-02-01 to 2025-02-28)"],
        18: ["lacks its to (the last day)"],
        19: ["given twice, as a month and as from/to"],
    }
    for number, fragments in expected.items():
        row = rows_by_number[number]
        assert row.status == "invalid", number
        assert len(row.errors) == 1, (number, row.errors)
        for fragment in fragments:
            assert fragment in row.errors[0], (number, fragment, row.errors[0])

    several = rows_by_number[17]
    assert len(several.errors) == 4
    assert several.errors[0].startswith("Unknown source 'COKE-9'")
    assert several.errors[1].startswith("The period is missing")
    assert several.errors[2].startswith("Value 'abc' is not a decimal number")
    assert several.errors[3].startswith("Estimated 'maybe' is not yes or no")
    for row in report.rows:
        for error in row.errors:
            assert error[0].isupper() and error.endswith((".", "?")), error

    # What could be read is kept, for the report.
    assert (rows_by_number[3].source_code, rows_by_number[3].value) == ("COKE-2", D("100"))
    assert (rows_by_number[4].input_name, rows_by_number[6].period_start) == ("sold", None)
    assert (rows_by_number[9].value, rows_by_number[12].unit, rows_by_number[13].unit) == (None, "GJ", "furlong")


def with_infinity(content: bytes, placeholder: int) -> bytes:
    """The workbook ``content`` with the number cell ``placeholder`` made infinite (as a broken export may hold)."""
    source, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data.replace(f"<v>{placeholder}</v>".encode(), b"<v>1E999</v>")
            target.writestr(item, data)
    return out.getvalue()


def codes(row: LedgerRow) -> list[str]:
    return [problem.code for problem in row.problems]


def test_every_problem_has_a_code_and_its_parameters() -> None:
    header = ["source", "input", "from", "to", "month", "year", "value", "unit", "estimated"]
    ok = ["COKE-1", "", "", "", "2025-01", "", 1, "t", ""]

    def row(**cells: object) -> list[object]:
        """A valid row of its own month with ``cells`` replaced."""
        return [cells.get(name, default) for name, default in zip(header, ok, strict=True)]

    placeholder = 987654321
    cases: list[tuple[list[object], list[str]]] = [
        (row(source="", month="2025-02"), ["source_missing"]),
        (row(source="ZZZZZZ"), ["source_unknown"]),
        (row(source="COKE-2"), ["source_unknown_guess"]),
        (row(source="ELEC", input="sold"), ["input_not_importable"]),
        (row(source="ELEC", unit="MWh"), ["input_missing"]),
        (row(month="1969-03"), ["year_out_of_range"]),
        (row(month="", year="abc"), ["year_not_year"]),
        (row(month="", **{"from": datetime(2025, 3, 1, 8, 30), "to": "2025-03-31"}), ["date_has_time"]),  # noqa: DTZ001 - Excel
        (row(month="", **{"from": 45717, "to": "2025-03-31"}), ["date_is_number"]),
        (row(month="", **{"from": "yesterday", "to": "2025-02-30"}), ["date_not_date", "date_no_such_day"]),
        (row(month=2025.1), ["month_decimal"]),
        (row(month="2025-13"), ["month_out_of_range"]),
        (row(month="13", year="2025"), ["month_out_of_range"]),
        (row(month="3"), ["month_no_year"]),
        (row(month="2025-03-05"), ["month_is_day"]),
        (row(month="March"), ["month_not_month"]),
        (row(month="2025-04", year="2024"), ["month_outside_year"]),
        (row(**{"from": "2025-05-01", "to": "2025-05-31"}), ["period_twice"]),
        (row(month="", **{"from": "2025-05-01"}), ["period_incomplete"]),
        (row(month="", **{"from": "2025-05-31", "to": "2025-05-01"}), ["period_reversed"]),
        (row(month="", year="2024", **{"from": "2025-06-01", "to": "2025-06-30"}), ["period_outside_year"]),
        (row(month=""), ["period_missing"]),
        (row(month="2025-07", value=""), ["value_missing"]),
        (row(month="2025-08", value=True), ["value_not_number"]),
        (row(month="2025-09", value=placeholder), ["value_not_finite"]),
        (row(month="2025-10", value=datetime(2025, 1, 1)), ["value_is_date"]),  # noqa: DTZ001 - Excel
        (row(month="2025-11", value="1E+5"), ["value_exponent"]),
        (row(month="2025-12", value="12a"), ["value_not_decimal"]),
        (row(month="2026-01", value="0.00000000001"), ["value_too_many_places"]),
        (row(month="2026-02", value="1" + "0" * 18), ["value_too_large"]),
        (row(month="2026-03", value=-5), ["value_negative"]),
        (row(month="2026-04", unit=""), ["unit_missing"]),
        (row(month="2026-05", unit="furlong"), ["unit_unknown"]),
        (row(month="2026-06", unit="GJ"), ["unit_wrong_kind"]),
        (row(month="2026-07", estimated="maybe"), ["estimated_not_yes_no"]),
        (row(month="2026-08"), []),
        (row(month="2026-08"), ["duplicate"]),
        (row(month="", **{"from": "2026-07-15", "to": "2026-08-15"}), ["overlap"]),
    ]
    content = with_infinity(xlsx_bytes([header, *(cells for cells, _ in cases)]), placeholder)
    report = parse("problems.xlsx", content)
    seen = {"source_none_importable", "input_column_missing", "value_ambiguous_comma"}  # other files, below
    for checked, (_, expected) in zip(report.rows, cases, strict=True):
        assert codes(checked) == expected, (checked.row, checked.errors)
        assert len(checked.problems) == len(checked.errors)
        for problem in checked.problems:
            assert sorted(problem.params) == sorted(PROBLEM_CODES[problem.code]), problem
            assert all(isinstance(value, str) for value in problem.params.values())
        seen.update(expected)
    assert seen == set(PROBLEM_CODES)

    by_number = by_row(report)
    assert by_number[4].problems[0].params == {
        "source": "COKE-2",
        "guess": "COKE-1",
        "known": "BFG-1, COKE-1, ELEC, NG-1",
    }
    assert by_number[5].problems[0].params == {
        "input": "sold",
        "source": "ELEC",
        "choices": "purchased (MWh), exported (MWh)",
    }
    assert by_number[9].problems[0].params == {"column": "from", "cell": "2025-03-01 08:30"}
    assert [p.params for p in by_number[11].problems] == [
        {"column": "from", "cell": "yesterday"},
        {"column": "to", "cell": "2025-02-30"},
    ]
    assert by_number[22].problems[0].params == {"first": "2025-06-01", "last": "2025-06-30", "year": "2024"}
    assert by_number[35].problems[0].params["expected"] == "t"
    assert by_number[38].problems[0].params == {
        "row": "37",
        "source": "COKE-1",
        "input": "FC",
        "first": "2026-08-01",
        "last": "2026-08-31",
    }
    assert by_number[39].problems[0].params["rows"] == "36, 37"

    (nobody,) = parse_ledger(
        "x.csv", csv_bytes([["source", "month", "value", "unit"], ok[:1] + ["2025-03", "1", "t"]]), [], SHANGHAI
    ).rows
    assert nobody.problems == (LedgerProblem("source_none_importable", {"source": "COKE-1"}),)
    (no_column,) = one(source="ELEC", month="2025-03", value="1", unit="MWh").problems
    assert no_column.code == "input_column_missing"
    assert no_column.params == {"source": "ELEC", "choices": "purchased (MWh), exported (MWh)"}
    comma = parse(
        "europe.csv",
        csv_bytes([["source", "month", "value", "unit"], ["COKE-1", "2025-03", "1,234", "t"]], delimiter=";"),
    )
    assert comma.rows[0].problems == (LedgerProblem("value_ambiguous_comma", {"cell": "1,234"}),)


def test_a_problem_outside_the_registry_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="PROBLEM_CODES"):
        ledger._issue("made_up", "Made up.")
    with pytest.raises(ValueError, match="PROBLEM_CODES"):
        ledger._issue("source_missing", "Source is missing.", source="X")


def test_overlap_and_duplicate_name_the_earlier_row_only() -> None:
    rows = [
        ["source", "from", "to", "value", "unit"],
        ["COKE-1", "2025-01-01", "2025-12-31", "100", "t"],  # 2
        ["COKE-1", "2025-03-01", "2025-03-31", "5", "t"],  # 3 inside row 2
        ["COKE-1", "2026-01-01", "2026-01-31", "5", "t"],  # 4 right after row 2: fine
        ["NG-1", "2025-03-01", "2025-03-31", "5", "万Nm3"],  # 5 another source: fine
        ["COKE-1", "2025-12-31", "2026-01-01", "5", "t"],  # 6 overlaps the last day of 2 and the first of 4
        ["COKE-1", "2025-03-01", "2025-03-31", "5", "t"],  # 7 duplicate of 3 (even though 3 is invalid)
    ]
    report = by_row(parse("overlaps.csv", csv_bytes(rows)))
    assert [n for n, row in report.items() if row.status == "valid"] == [2, 4, 5]
    assert "overlaps row 2 (2025-01-01 to 2025-12-31)" in report[3].errors[0]
    assert "overlaps row 2 (2025-01-01 to 2025-12-31), row 4 (2026-01-01 to 2026-01-31)" in report[6].errors[0]
    assert report[7].errors[0].startswith("Duplicate of row 3")


@pytest.mark.parametrize(
    ("cells", "first", "last"),
    [
        ({"month": "2025-03"}, (2025, 3, 1), (2025, 3, 31)),
        ({"month": "2025/3"}, (2025, 3, 1), (2025, 3, 31)),
        ({"month": "2025年3月"}, (2025, 3, 1), (2025, 3, 31)),
        ({"month": "２０２５－０３"}, (2025, 3, 1), (2025, 3, 31)),  # full-width
        ({"month": "2025/3/1"}, (2025, 3, 1), (2025, 3, 31)),  # a date cell exported to CSV
        ({"month": "2024-02"}, (2024, 2, 1), (2024, 2, 29)),  # leap year
        ({"month": "2025-12"}, (2025, 12, 1), (2025, 12, 31)),
        ({"month": "3", "year": "2025"}, (2025, 3, 1), (2025, 3, 31)),
        ({"month": "3月", "year": "2025年"}, (2025, 3, 1), (2025, 3, 31)),
        ({"month": "2025-03", "year": "2025"}, (2025, 3, 1), (2025, 3, 31)),
        ({"year": "2025"}, (2025, 1, 1), (2025, 12, 31)),
        ({"from_": "2025-03-01", "to": "2025-03-31"}, (2025, 3, 1), (2025, 3, 31)),
        ({"from_": "2025/3/1", "to": "2025/3/1"}, (2025, 3, 1), (2025, 3, 1)),  # one day: 'to' is included
        ({"from_": "2025.3.1", "to": "2025.3.15"}, (2025, 3, 1), (2025, 3, 15)),
        ({"from_": "2025年3月1日", "to": "2025年3月31日"}, (2025, 3, 1), (2025, 3, 31)),
        ({"from_": "2025-03-01 00:00:00", "to": "2025-03-31"}, (2025, 3, 1), (2025, 3, 31)),
        ({"from_": "2025-01-01", "to": "2025-12-31", "year": "2025"}, (2025, 1, 1), (2025, 12, 31)),
    ],
)
def test_period_forms(cells: dict[str, str], first: tuple[int, int, int], last: tuple[int, int, int]) -> None:
    row = one(zone=UTC_ZONE, source="COKE-1", value="1", unit="t", **cells)
    assert row.status == "valid", row.errors
    assert row.period_start == datetime(*first, tzinfo=UTC)
    assert row.period_end == datetime(*last, tzinfo=UTC) + timedelta(days=1)  # exclusive: the day after the last


@pytest.mark.parametrize(
    ("cells", "fragment"),
    [
        ({"month": "2025-3-1x"}, "is not a month"),
        ({"month": "2025.3"}, "is not a month"),  # as a number, 2025.10 would be 2025.1
        ({"month": "2025-03-15"}, "is a day, not a month"),
        ({"month": "3"}, "has no year"),
        ({"month": "13", "year": "2025"}, "is not a month"),
        ({"month": "2025-03", "year": "2024"}, "is not in the year 2024"),
        ({"month": "1925-03"}, "outside 1970-2100"),
        ({"year": "twenty"}, "is not a year"),
        ({"from_": "2025-02-30", "to": "2025-03-31"}, "no such day"),
        ({"from_": "2025-03-01 08:00", "to": "2025-03-31"}, "is not a date"),
        ({"from_": "1.3.2025", "to": "2025-03-31"}, "is not a date"),
        ({"from_": "", "to": "2025-03-31"}, "lacks its from"),
        ({"from_": "2024-12-01", "to": "2025-01-31", "year": "2025"}, "is not within the year 2025"),
        ({"month": ""}, "period is missing"),
    ],
)
def test_bad_periods(cells: dict[str, str], fragment: str) -> None:
    row = one(source="COKE-1", value="1", unit="t", **cells)
    assert row.status == "invalid"
    assert len(row.errors) == 1
    assert fragment in row.errors[0], row.errors[0]
    assert row.period_start is row.period_end is None


def test_periods_are_local_days_as_utc_instants() -> None:
    shanghai = one(source="COKE-1", value="1", unit="t", month="2025-03")
    assert (shanghai.period_start, shanghai.period_end) == (MARCH_START, MARCH_END)
    assert shanghai.period_start is not None and shanghai.period_start.tzinfo is UTC
    # Summer time starts on 30 March 2025 in Berlin: the month is 743 hours long.
    berlin = one(ZoneInfo("Europe/Berlin"), source="COKE-1", value="1", unit="t", month="2025-03")
    assert berlin.period_start == datetime(2025, 2, 28, 23, tzinfo=UTC)
    assert berlin.period_end == datetime(2025, 3, 31, 22, tzinfo=UTC)
    year = one(source="COKE-1", value="1", unit="t", year="2025")
    assert (year.period_start, year.period_end) == (
        datetime(2024, 12, 31, 16, tzinfo=UTC),
        datetime(2025, 12, 31, 16, tzinfo=UTC),
    )


def test_xlsx_date_cells() -> None:
    rows: list[Cells] = [
        ["source", "from", "to", "month", "year", "value", "unit"],
        ["COKE-1", datetime(2025, 3, 1), datetime(2025, 3, 31), None, None, 1, "t"],  # noqa: DTZ001
        ["COKE-1", datetime(2025, 4, 1, 8, 0), datetime(2025, 4, 30), None, None, 1, "t"],  # noqa: DTZ001
        ["COKE-1", 45778, 45808, None, None, 1, "t"],  # Excel day numbers in cells not formatted as dates
        ["COKE-1", None, None, datetime(2025, 7, 1), None, 1, "t"],  # noqa: DTZ001
        ["COKE-1", None, None, 8, 2025, 1, "t"],
        ["COKE-1", None, None, 2025.1, None, 1, "t"],  # 2025.10 typed into a number cell
        ["COKE-1", None, None, None, 2026.0, 1, "t"],
    ]
    report = by_row(parse("dates.xlsx", xlsx_bytes(rows)))
    assert (report[2].status, report[2].period_start, report[2].period_end) == ("valid", MARCH_START, MARCH_END)
    assert report[3].errors == ("From 2025-04-01 08:00 has a time of day; periods are whole days: give the date only.",)
    assert len(report[4].errors) == 2
    assert report[4].errors[0].startswith("From '45778' is a number, not a date")
    assert report[4].errors[1].startswith("To '45808' is a number, not a date")
    assert report[5].period_start == datetime(2025, 6, 30, 16, tzinfo=UTC)
    assert report[6].period_start == datetime(2025, 7, 31, 16, tzinfo=UTC)
    assert "2025.10 and 2025.1 are the same" in report[7].errors[0]
    assert report[8].period_end == datetime(2026, 12, 31, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("1234.5", "1234.5"),
        ("1,234.5", "1234.5"),
        ("1,234,567", "1234567"),
        ("  42  ", "42"),
        ("１２３４．５", "1234.5"),  # full-width
        ("+5", "5"),
        (".5", "0.5"),
        ("500000.00", "500000.00"),  # as written, zeros kept
        ("0.0000000001", "0.0000000001"),
        ("1.50000000000000", "1.50000000000000"),  # trailing zeros do not count as decimal places
        ("999999999999999999.5", "999999999999999999.5"),
    ],
)
def test_value_forms(written: str, value: str) -> None:
    row = one(source="COKE-1", month="2025-03", value=written, unit="t")
    assert row.status == "valid", row.errors
    assert f"{row.value:f}" == value


@pytest.mark.parametrize(
    ("written", "fragment"),
    [
        ("", "Value is missing"),
        ("1,23", "not a decimal number"),
        ("12,34,567", "not a decimal number"),
        ("1.234,5", "not a decimal number"),
        ("1234,5", "not a decimal number"),
        ("5%", "not a decimal number"),
        ("500 t", "not a decimal number"),
        ("1 234", "not a decimal number"),
        ("NaN", "not a decimal number"),
        ("inf", "not a decimal number"),
        ("#DIV/0!", "not a decimal number"),
        ("1e5", "exponent notation"),
        ("1.23457E+11", "exponent notation"),
        ("0.00000000001", "11 decimal places"),
        ("1234567890123456789", "too large"),
    ],
)
def test_refused_values(written: str, fragment: str) -> None:
    row = one(source="COKE-1", month="2025-03", value=written, unit="t")
    assert row.status == "invalid"
    assert row.value is None
    assert len(row.errors) == 1
    assert fragment in row.errors[0], row.errors[0]


def test_xlsx_numeric_cells_are_exact() -> None:
    rows: list[Cells] = [["source", "month", "value", "unit"]]
    values: list[object] = [0.1, 0.3, 1e16, 1.5e-7, 123456789.123, -2.5, 7, True]
    rows += [["BFG-1", f"2025-{n:02d}", value, "万Nm3"] for n, value in enumerate(values, start=1)]
    report = parse("numbers.xlsx", xlsx_bytes(rows))
    assert [f"{row.value:f}" for row in report.rows[:-1]] == [
        "0.1",
        "0.3",
        "10000000000000000",
        "0.00000015",
        "123456789.123",
        "-2.5",
        "7",
    ]
    assert report.rows[-1].errors == (
        "Value 'TRUE' is not a number: write the quantity, digits with an optional '.' decimal point and ',' "
        "thousands separators, e.g. 1234.5 or 1,234.5.",
    )


@pytest.mark.parametrize(
    ("written", "estimated"),
    [("", False), ("no", False), ("N", False), ("false", False), ("0", False), ("否", False)]
    + [("yes", True), ("Y", True), ("TRUE", True), ("1", True), ("是", True)],
)
def test_estimated(written: str, estimated: bool) -> None:
    row = one(source="COKE-1", month="2025-03", value="1", unit="t", estimated=written)
    assert (row.status, row.estimated) == ("valid", estimated)


def test_a_single_input_may_be_left_out_and_names_match_ignoring_case() -> None:
    row = one(source=" coke-1 ", month="2025-03", value="1", unit="T")
    assert (row.status, row.source_code, row.input_name, row.unit) == ("valid", "COKE-1", "FC", "t")
    row = one(source="ELEC", input="EXPORTED", month="2025-03", value="1", unit="千瓦时")
    assert (row.status, row.input_name, row.unit) == ("valid", "exported", "kWh")


def test_no_source_takes_imports() -> None:
    content = csv_bytes([["source", "month", "value", "unit"], ["COKE-1", "2025-03", "1", "t"]])
    (row,) = parse_ledger("x.csv", content, [], SHANGHAI).rows
    assert "no source accepts imported data yet" in row.errors[0]


def test_a_wrong_catalogue_is_a_programming_error() -> None:
    content = csv_bytes(REFERENCE)
    with pytest.raises(ValueError, match="given twice"):
        parse_ledger("x.csv", content, [*INPUTS, LedgerInput("ELEC", "exported", "kWh")], SHANGHAI)
    with pytest.raises(units.UnitError):
        parse_ledger("x.csv", content, [LedgerInput("X", "FC", "furlong")], SHANGHAI)


def test_row_numbers_count_the_header_and_empty_rows() -> None:
    rows: list[Cells] = [[], ["", ""], *REFERENCE[:2], [], [None, None], *REFERENCE[2:]]
    for report in (parse("gaps.csv", csv_bytes(rows)), parse("gaps.xlsx", xlsx_bytes(rows))):
        assert [row.row for row in report.rows] == [4, 7, 8, 9]
        assert not report.invalid


# ------------------------------------------------------------------------------------------------ whole-file errors


def test_error_class() -> None:
    assert issubclass(LedgerError, AccountingError)
    assert issubclass(LedgerError, InvalidInputError)
    assert LedgerError.code == "ledger_error"
    assert LedgerError.status_code == 400


def corrupt_xlsx() -> bytes:
    return xlsx_bytes(REFERENCE)[:200]


def other_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ledger.csv", "source,month,value,unit\r\n")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "content", "fragment"),
    [
        ("ledger.txt", b"source,value\r\n", "only .csv and .xlsx"),
        ("ledger", b"source,value\r\n", "only .csv and .xlsx"),
        ("ledger.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "Excel 97-2003"),
        ("ledger.xlsx", b"source,value\r\n", "not an XLSX workbook"),
        ("ledger.xlsx", corrupt_xlsx(), "could not be read as an XLSX workbook"),
        ("ledger.zip", other_zip(), "could not be read as an XLSX workbook"),
        ("ledger.csv", b"", "is empty"),
        ("ledger.csv", b"  \r\n\r\n", "is empty"),
        ("ledger.csv", b",,,\r\n,,\r\n", "every row is empty"),
        ("ledger.csv", b"source,month,value,unit\r\n,,,\r\n", "no data rows"),
        ("ledger.csv", b"source,month,value,unit\xff\r\n", "neither UTF-8 nor GB18030"),
        ("ledger.csv", "source,value\r\n".encode("utf-16-le"), "neither UTF-8 nor GB18030"),
        ("ledger.csv", b'source,month,value,unit\r\nCOKE-1,"2025-03,1,t\r\n', "malformed"),
    ],
)
def test_whole_file_errors(filename: str, content: bytes, fragment: str) -> None:
    with pytest.raises(LedgerError) as caught:
        parse(filename, content)
    assert fragment in caught.value.message
    assert caught.value.hint


def test_missing_columns_list_the_accepted_names() -> None:
    content = csv_bytes([["Ledger March 2025"], ["source", "month", "value", "unit"], ["COKE-1", "2025-03", "1", "t"]])
    with pytest.raises(LedgerError) as caught:
        parse("titled.csv", content)
    message = caught.value.message
    assert "row 1" in message
    assert "source, value, unit, month (or from and to, or year)" in message
    assert "columns not recognised: 'Ledger March 2025'" in message
    for column, aliases in COLUMNS.items():
        assert column in message
        for alias in aliases:
            assert alias in message

    for header, missing in [
        (["排放源", "月份", "数值"], "unit"),
        (["source", "from", "value", "unit"], "to"),
        (["source", "截止日期", "value", "unit"], "from"),
    ]:
        with pytest.raises(LedgerError, match=f"lacks the column\\(s\\) {missing}"):
            parse("partial.xlsx", xlsx_bytes([header, ["COKE-1", "2025-03", "1", "t"]]))


def test_a_column_named_twice() -> None:
    content = csv_bytes([["source", "数值", "value", "unit", "month"], ["COKE-1", "1", "2", "t", "2025-03"]])
    with pytest.raises(LedgerError, match="names the 'value' column twice"):
        parse("twice.csv", content)


def test_too_many_rows() -> None:
    content = csv_bytes(REFERENCE)
    assert len(parse("ok.csv", content, max_rows=4).rows) == 4
    with pytest.raises(LedgerError, match="more than 3 data rows"):
        parse("long.csv", content, max_rows=3)
    with pytest.raises(LedgerError, match="more than 3 data rows"):
        parse("long.xlsx", xlsx_bytes(REFERENCE), max_rows=3)


# ------------------------------------------------------------------------------------------------ JSON, report


def test_rows_round_trip_through_json() -> None:
    rows = [*REFERENCE, ["COKE-9", "", "2025-13", "1.50", "furlong", "maybe", "note"]]
    report = parse("json.csv", csv_bytes(rows))
    for row in report.rows:
        data = json.loads(json.dumps(row_to_json(row)))
        assert row_from_json(data) == row
    valid = row_to_json(report.rows[0])
    assert valid == {
        "row": 2,
        "status": "valid",
        "errors": [],
        "source_code": "COKE-1",
        "input_name": "FC",
        "period_start": "2025-02-28T16:00:00+00:00",
        "period_end": "2025-03-31T16:00:00+00:00",
        "value": "500000",
        "unit": "t",
        "estimated": False,
        "note": "weighbridge tickets",
        "problems": [],
    }
    invalid = row_to_json(report.rows[-1])
    assert (invalid["period_start"], invalid["value"], invalid["status"]) == (None, "1.50", "invalid")
    assert len(invalid["errors"]) == 4
    assert [problem["code"] for problem in invalid["problems"]] == [
        "source_unknown_guess",
        "month_out_of_range",
        "unit_unknown",
        "estimated_not_yes_no",
    ]
    assert invalid["problems"][1] == {"code": "month_out_of_range", "params": {"cell": "2025-13"}}
    old = {name: value for name, value in invalid.items() if name != "problems"}  # stored before the codes
    assert row_from_json(old).problems == () and row_from_json(old).errors == report.rows[-1].errors
    with pytest.raises(ValueError, match="problem"):
        row_from_json({**invalid, "problems": [{"params": {}}]})
    with pytest.raises(ValueError, match="status"):
        row_from_json({**valid, "status": "maybe"})
    with pytest.raises(ValueError, match="UTC offset"):
        row_from_json({**valid, "period_start": "2025-03-01T00:00:00"})
    with pytest.raises(ValueError, match="not a decimal number"):
        row_from_json({**valid, "value": "lots"})


def test_report_splits_valid_and_invalid_rows() -> None:
    rows = [*REFERENCE, ["COKE-1", "", "2025-03", "1", "t", "", ""]]
    report = parse("split.csv", csv_bytes(rows))
    assert [row.row for row in report.valid] == [2, 3, 4, 5]
    assert [row.row for row in report.invalid] == [6]
    assert report.invalid[0].errors[0].startswith("Duplicate of row 2")


def test_the_documentation_names_every_column_name() -> None:
    assert ledger.__doc__ is not None
    for column, aliases in COLUMNS.items():
        for name in (column, *aliases):
            assert name in ledger.__doc__, name
