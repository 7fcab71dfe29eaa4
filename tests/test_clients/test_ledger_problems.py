"""Ledger import problems in the reader's language: every code the platform emits has its zh and en strings, and
the console's report shows real problems through them (cem_clients.console.accounting: LedgerRow.messages)."""

from __future__ import annotations

import csv
import io
import json
import re
from zoneinfo import ZoneInfo

import pytest

from cem_clients.console.accounting import LedgerProblem, LedgerRow, ledger_problem_text
from cem_clients.ui.i18n import STRINGS, Locale, Translator, placeholders
from cem_platform.accounting.ledger import PROBLEM_CODES, LedgerInput, parse_ledger, row_to_json

ZH, EN = Translator("zh-CN"), Translator("en")
INPUTS = (
    LedgerInput("COKE-1", "FC", "t"),
    LedgerInput("NG-1", "FC", "10^4 Nm3"),
    LedgerInput("ELEC", "purchased", "MWh"),
    LedgerInput("ELEC", "exported", "MWh"),
)
# Words of the platform's English sentences or its codes that must not reach a Chinese screen.
ENGLISH = re.compile(r"\b(?:is|not|the|write|source|input|value|unit|month|period|row|from|to|purchased|exported)\b")


@pytest.fixture(autouse=True)
def clean_database() -> None:
    """These tests touch no database: this replaces the suite's per-test table cleaning (and its app)."""


def report_rows(
    *rows: list[str], header: tuple[str, ...] = ("source", "input", "from", "to", "month")
) -> list[LedgerRow]:
    """The console's rows of the platform's report on a CSV ledger, through the report's JSON."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerows([[*header, "value", "unit", "estimated"], *rows])
    report = parse_ledger("bad.csv", buffer.getvalue().encode(), INPUTS, ZoneInfo("Asia/Shanghai"))
    return [LedgerRow.of(json.loads(json.dumps(row_to_json(row)))) for row in report.rows]


def test_every_code_has_both_strings_with_its_parameters() -> None:
    for code, params in PROBLEM_CODES.items():
        for locale in Locale:
            text = STRINGS[locale].get(f"ledger.problem.{code}")
            assert text is not None, (locale, code)
            assert placeholders(text) == set(params), (locale, code)
    for column in ("from", "to", "month", "year"):
        assert {STRINGS[locale][f"ledger.column.{column}"] for locale in Locale} != {column}
    named = {key.removeprefix("ledger.problem.") for key in STRINGS[Locale.ZH_CN] if key.startswith("ledger.problem.")}
    assert named == set(PROBLEM_CODES)  # no string left for a code the platform no longer has


def test_a_bad_file_reads_in_chinese_and_in_english() -> None:
    rows = report_rows(
        ["NOPE", "", "", "", "2025-03", "1", "t", ""],
        ["COKE-2", "", "", "", "2025-03", "1", "t", ""],
        ["ELEC", "sold", "2025-03-10", "2025-03-01", "", "12a", "furlong", "maybe"],
        ["COKE-1", "", "", "", "2025-13", "5", "GJ", ""],
        ["NG-1", "", "", "", "2025-04", "-5", "kWh", ""],
        ["COKE-1", "", "", "", "2025-05", "1", "t", ""],
        ["COKE-1", "", "2025-05-01", "2025-05-31", "", "1", "t", ""],
    )
    assert all(len(row.problems) == len(row.errors) > 0 for row in rows[:5] + rows[6:])
    zh = [row.messages(ZH) for row in rows]
    assert zh[0] == [
        "未知排放源 NOPE：没有哪个数据来源为导入的排放源使用这个编码。已有排放源：COKE-1、ELEC、NG-1。"
        "请按排放源清单中的编码填写。"
    ]
    assert zh[1][0].startswith("未知排放源 COKE-2：") and "是不是 COKE-1？" in zh[1][0]
    assert zh[2][0] == "排放源 ELEC 没有可导入的参数“sold”：请填写以下之一：购入量（MWh）、输出量（MWh）。"
    assert zh[2][1:] == [
        "周期结束早于开始（起始 2025-03-10，截止 2025-03-01）：截止日期是周期的最后一天（含当天），请对调或更正日期。",
        "数值“12a”不是十进制数：请只写数字，可带小数点“.”和千位分隔符“,”，如 1234.5 或 1,234.5；单位填在单位列。",
        zh[2][3],
        "是否估算“maybe”不是“是”或“否”：请填写是或否，不是估算可留空。",
    ]
    assert zh[2][3].startswith("单位“furlong”无法识别：请填写以下之一：t、kg、kt、万t、Nm3、千Nm3、万Nm3、GJ")
    assert zh[2][3].endswith("、万tCO2、tC、t蒸汽、万CNY、CNY（吨、万Nm3、千瓦时、万度等常用写法也可以）。")
    assert zh[3][0] == "月份“2025-13”不是有效月份（月份为 1 至 12）：请更正。"
    assert zh[4] == [
        "数值 -5 为负，但排放源 NG-1 的消耗量不能为负：请填写正数（外售、外供另有参数）。",
        "单位“kWh”不能换算为 万Nm3（排放源 NG-1 的消耗量以 万Nm3 计）："
        "请以 万Nm3 或同类单位（Nm3、千Nm3、万Nm3）填写。",
    ]
    assert zh[5] == []
    assert zh[6] == ["与第 7 行重复：排放源 COKE-1 的消耗量、周期 2025-05-01 至 2025-05-31 都相同；两行只保留一行。"]
    for messages, row in zip(zh, rows, strict=True):
        for message, english in zip(messages, row.errors, strict=True):
            assert message != english and not ENGLISH.search(message), message
            assert "10^4" not in message and "{" not in message

    en = [row.messages(EN) for row in rows]
    assert en[0][0].startswith("Unknown source NOPE: no source with this code accepts imported data. Known sources: ")
    assert (
        en[2][0]
        == "Input sold of source ELEC does not take imported data: write one of Purchased (MWh), Exported (MWh)."
    )
    assert en[4][1] == (
        "Unit 'kWh' does not convert to 10k Nm3, the unit of input Consumption of source NG-1: write the value in "
        "10k Nm3 or another unit of the same kind (Nm3, kNm3, 10k Nm3)."
    )
    assert en[6] == [
        "Duplicate of row 7: same source COKE-1, input Consumption and period 2025-05-01 to 2025-05-31; keep one of "
        "the two rows."
    ]
    assert all("10^4" not in message for messages in en for message in messages)


def test_period_columns_by_name() -> None:
    (row,) = report_rows(["COKE-1", "", "2025-03-01", "", "", "1", "t", ""])
    assert row.messages(ZH) == ["周期缺少截止日期：请同时填写起始日期和截止日期，或填写月份。"]
    assert row.messages(EN) == ["The period lacks column to: give both from and to, or a month."]
    (row,) = report_rows(["COKE-1", "1969-03", "1", "t", ""], header=("source", "month"))
    assert row.messages(ZH) == ["月份中的年份 1969 超出 1970–2100 的范围：请更正年份。"]


def test_the_english_sentence_where_the_tables_have_no_code() -> None:
    sentence = "Something new is wrong: fix it."
    assert ledger_problem_text(ZH, LedgerProblem("brand_new", {}), sentence) == sentence
    assert ledger_problem_text(ZH, LedgerProblem("unit_unknown", {"unit": "x"}), sentence) == sentence  # params short
    old = LedgerRow.of({"row": 3, "status": "invalid", "errors": [sentence], "source_code": "X", "unit": "t"})
    assert old.problems == () and old.messages(ZH) == [sentence]  # a report stored before the codes
    odd = LedgerRow.of({"row": 3, "status": "invalid", "errors": [sentence], "problems": ["junk"]})
    assert odd.messages(ZH) == [sentence]
