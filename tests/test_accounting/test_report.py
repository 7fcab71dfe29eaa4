"""The annual emission report (XLSX): reference example A written and read back, labels, quality call-outs."""

from __future__ import annotations

import dataclasses
import enum
import io
import json
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest
from openpyxl import load_workbook

from cem_platform.accounting.engine import AccountingResult, Quantity, SourceActivity, account
from cem_platform.accounting.library import EDITION_2015, SourceCategory
from cem_platform.accounting.report import (
    DIRECT_SCOPE_TERMS,
    REPORT_CONTENT_TYPE,
    AnnualReportData,
    ReportProcess,
    build_annual_report,
    direct_scope,
    local_period,
)

D = Decimal
C = SourceCategory
EPSILON = D("0.0001")
YEAR = 2024
GENERATED_AT = datetime(2025, 3, 1, 9, 30, 15, tzinfo=timezone(timedelta(hours=8)))
SHEETS_ZH = ["概况", "核算边界", "排放量", "活动数据", "排放因子", "数据质量", "补充数据表"]
SHEETS_EN = [
    "Summary",
    "Boundary",
    "Emissions",
    "Activity data",
    "Emission factors",
    "Data quality",
    "Supplementary data",
]
NAMES = {
    "coke": "焦炭（高炉）",
    "natural_gas": "天然气（轧钢加热炉）",
    "flux.limestone": "石灰石",
    "flux.dolomite": "白云石",
    "electrodes": "电炉电极",
    "raw_material.pig_iron": "外购生铁",
    "grid": "外购电力",
    "heat": "外购热力",
    "fixed_carbon.crude_steel": "粗钢",
}
EXPECTED = {  # reference example A, GHG-STEEL.md
    "coke": "1426330.8785",
    "natural_gas": "43300.3040",
    "flux.limestone": "66000.0000",
    "flux.dolomite": "18840.0000",
    "electrodes": "10989.0000",
    "raw_material.pig_iron": "5160.0000",
    "grid": "427725.0000",
    "heat": "22000.0000",
    "fixed_carbon.crude_steel": "38500.0000",
}
PROCESSES = (
    ReportProcess("sintering", "烧结", "烧结", "南山厂区", ("1#烧结机", "2#烧结机")),
    ReportProcess("ironmaking", "炼铁", "炼铁", "南山厂区", ("1#高炉",)),
    ReportProcess("steelmaking", "炼钢", "转炉炼钢", "南山厂区", ("1#转炉", "1#电炉")),
    ReportProcess("rolling", "轧钢", "轧钢", "北山厂区", ("热轧加热炉",)),
    ReportProcess("auxiliary", "辅助设施", "辅助", "南山厂区", ()),
)


def q(value: str, unit: str, origin: str = "manual:record 17", **flags: bool) -> Quantity:
    return Quantity(D(value), unit, origin, **flags)


def example_a_sources(coke_fc: Quantity | None = None) -> list[SourceActivity]:
    """Reference example A; coke NCV / CC and natural-gas CC measured, every other parameter the 2015 default."""
    lab = "lab:report 2024-031"
    return [
        SourceActivity(
            "coke",
            "ironmaking",
            C.FUEL_COMBUSTION,
            {"FC": coke_fc or q("500000", "t")},
            "coke",
            overrides={"NCV": q("28.435", "GJ/t", lab), "CC": q("29.42", "tC/TJ", lab)},
        ),
        SourceActivity(
            "natural_gas",
            "rolling",
            C.FUEL_COMBUSTION,
            {"FC": q("2000", "10^4 Nm3", "meter:NG.IN")},
            "natural_gas",
            overrides={"CC": q("15.32", "tC/TJ", lab)},
        ),
        SourceActivity("flux.limestone", "sintering", C.FLUX, {"AD": q("150000", "t")}, "limestone"),
        SourceActivity("flux.dolomite", "sintering", C.FLUX, {"AD": q("40000", "t")}, "dolomite"),
        SourceActivity("electrodes", "steelmaking", C.ELECTRODE, {"AD": q("3000", "t")}),
        SourceActivity("raw_material.pig_iron", "steelmaking", C.RAW_MATERIAL, {"AD": q("30000", "t")}, "pig_iron"),
        SourceActivity(
            "grid",
            "auxiliary",
            C.ELECTRICITY,
            {"purchased": q("800000", "MWh", "meter:GRID.IN"), "exported": q("50000", "MWh", "meter:GRID.OUT")},
        ),
        SourceActivity("heat", "auxiliary", C.HEAT, {"purchased": q("200000", "GJ"), "exported": q("0", "GJ")}),
        SourceActivity(
            "fixed_carbon.crude_steel", "steelmaking", C.FIXED_CARBON, {"AD": q("2500000", "t")}, "crude_steel"
        ),
    ]


def plain(value: Any) -> Any:
    """dataclasses.asdict-like, with Decimals as exact strings and enums as their values (engine maps are proxies)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(plain(k)): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def lineage_of(result: AccountingResult, notes: list[str]) -> dict[str, Any]:
    lineage = plain(result)
    lineage.update(
        library_version=1,
        grid_version=1,
        period={"kind": "year", "start": "2023-12-31T16:00:00+00:00", "end": "2024-12-31T16:00:00+00:00"},
        notes=notes,
    )
    for source in lineage["sources"]:
        source["name"] = NAMES[source["source_id"]]
    loaded: dict[str, Any] = json.loads(json.dumps(lineage))  # the shape stored in the database
    return loaded


def example_a(coke_fc: Quantity | None = None) -> dict[str, Any]:
    result = account(EDITION_2015, YEAR, example_a_sources(coke_fc), crude_steel=q("2500000", "t", "erp:output"))
    return lineage_of(result, ["Heat meter HT.IN was replaced in June; readings spliced.", "电表 GRID.OUT 已校准。"])


def report_data(lineage: Mapping[str, Any], **changes: Any) -> AnnualReportData:
    data = AnnualReportData(
        enterprise_name="南山钢铁股份有限公司",
        enterprise_code="NSS",
        credit_code="91330000123456789X",
        address="浙江省某市南山路1号",
        year=YEAR,
        result_id=42,
        result_version=3,
        generated_at=GENERATED_AT,
        generated_by="accountant.li",
        processes=PROCESSES,
        lineage=lineage,
    )
    return dataclasses.replace(data, **changes)


def read(content: bytes) -> Any:
    return load_workbook(io.BytesIO(content))


def rows(ws: Any) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in ws.iter_rows(values_only=True)]


def table(ws: Any, first_header: str) -> list[dict[str, Any]]:
    """The rows under the header row whose first cell is ``first_header``, up to the first empty row."""
    all_rows = rows(ws)
    start = next(i for i, row in enumerate(all_rows) if row[0] == first_header)
    header = [h for h in all_rows[start] if h is not None]
    out = []
    for row in all_rows[start + 1 :]:
        if row[0] is None:
            break
        out.append(dict(zip(header, row, strict=False)))
    return out


def labelled(ws: Any) -> dict[str, tuple[Any, ...]]:
    """Key/value sheets: column A's label -> the rest of its row."""
    return {row[0]: row[1:] for row in rows(ws) if row[0] is not None}


def texts(ws: Any) -> list[str]:
    return [cell for row in rows(ws) for cell in row if isinstance(cell, str)]


def close(value: Any, expected: str) -> bool:
    return isinstance(value, int | float) and abs(D(str(value)) - D(expected)) <= EPSILON


@pytest.fixture(scope="module")
def lineage() -> dict[str, Any]:
    return example_a()


@pytest.fixture(scope="module")
def content(lineage: dict[str, Any]) -> bytes:
    return build_annual_report(report_data(lineage))


@pytest.fixture(scope="module")
def book(content: bytes) -> Any:
    return read(content)


# --- structure ----------------------------------------------------------------------------------------------


def test_sheets_and_content_type(content: bytes, book: Any) -> None:
    assert REPORT_CONTENT_TYPE == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert zipfile.is_zipfile(io.BytesIO(content))
    assert book.sheetnames == SHEETS_ZH
    assert book["活动数据"].freeze_panes == "C2"
    header = book["活动数据"]["A1"]
    assert header.value == "排放源编号" and header.font.b
    assert book["活动数据"].column_dimensions["K"].width >= 10


def test_identical_input_gives_identical_bytes(lineage: dict[str, Any], content: bytes) -> None:
    assert build_annual_report(report_data(lineage)) == content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        # Every entry is dated generated_at (in UTC), not the clock: the bytes do not depend on when they were made.
        assert {info.date_time for info in archive.infolist()} == {(2025, 3, 1, 1, 30, 14)}
        core = archive.read("docProps/core.xml").decode()
    assert core.count("2025-03-01T01:30:15Z") == 2  # created and modified
    assert "accountant.li" in core
    assert build_annual_report(report_data(lineage, result_version=4)) != content


# --- summary ------------------------------------------------------------------------------------------------


def test_summary_totals(book: Any) -> None:
    summary = labelled(book["概况"])
    assert summary["企业名称"][0] == "南山钢铁股份有限公司"
    assert summary["统一社会信用代码"][0] == "91330000123456789X"
    assert summary["报告年度"][0] == YEAR
    assert summary["核算标准"][0] == "GB/T 32151.5-2015"
    assert summary["方法版本"][0] == "2013-guideline-defaults"
    assert (summary["方法库版本"][0], summary["电网排放因子版本"][0]) == (1, 1)
    assert (summary["核算结果编号"][0], summary["核算结果版本"][0]) == (42, 3)
    assert summary["生成时间"][0] == "2025-03-01T09:30:15+08:00"
    assert summary["生成人"][0] == "accountant.li"
    assert (summary["数据完整"][0], summary["含估算数据"][0]) == ("是", "否")
    assert "5 个工序" in summary["核算边界"][0] and "烧结、炼铁、炼钢、轧钢、辅助设施" in summary["核算边界"][0]
    expected = {
        "化石燃料燃烧": "1469631.1825",
        "工业生产过程": "100989.0000",
        "净购入电力": "427725.0000",
        "净购入热力": "22000.0000",
        "固碳产品隐含排放(扣除)": "38500.0000",
        "总排放量": "1981845.1825",
    }
    for label, value in expected.items():
        assert close(summary[label][0], value), label
        assert summary[label][1] == "tCO2"
    assert summary["粗钢产量"][:3] == (2500000, "t", "erp:output")
    assert close(summary["碳排放强度"][0], "0.7927") and summary["碳排放强度"][1] == "tCO2/t粗钢"
    gj = D("500000") * D("28.435") + D("2000") * D("389.31")
    assert close(summary["化石燃料消费量"][0], str(gj))
    assert close(summary["化石燃料消费量（折标准煤）"][0], str(gj / D("29.3076")))


def test_numbers_are_numeric_cells_with_display_formats(book: Any) -> None:
    ws = book["概况"]
    cells = {row[0].value: row[1] for row in ws.iter_rows() if row[0].value is not None}
    net = cells["总排放量"]
    assert net.data_type == "n" and net.number_format == "#,##0.0000" and net.font.b
    assert cells["碳排放强度"].number_format == "0.0000"
    # The value is not rounded to the display: the intensity keeps its digits beyond the fourth decimal.
    assert cells["碳排放强度"].value != pytest.approx(0.7927, abs=1e-9)
    assert ws.freeze_panes == "A3"


# --- boundary and emissions ---------------------------------------------------------------------------------


def test_boundary(book: Any) -> None:
    boundary = table(book["核算边界"], "工序代码")
    assert [row["工序代码"] for row in boundary] == [p.code for p in PROCESSES]
    sintering = boundary[0]
    assert (sintering["工序名称"], sintering["厂区"], sintering["主要设施"]) == (
        "烧结",
        "南山厂区",
        "1#烧结机、2#烧结机",
    )
    assert {row["工序代码"]: row["排放源数"] for row in boundary} == {
        "sintering": 2,
        "ironmaking": 1,
        "steelmaking": 3,
        "rolling": 1,
        "auxiliary": 2,
    }


def test_emissions_per_source(book: Any) -> None:
    sources = {row["排放源编号"]: row for row in table(book["排放量"], "排放源编号")}
    assert list(sources) == list(EXPECTED)
    for source_id, expected in EXPECTED.items():
        row = sources[source_id]
        assert close(row["排放量（tCO2）"], expected), source_id
        assert row["排放源名称"] == NAMES[source_id]
        assert (row["完整"], row["估算"]) == ("是", "否")
    coke = sources["coke"]
    assert (coke["工序"], coke["排放类别"], coke["品种"]) == ("ironmaking", "化石燃料燃烧", "coke")
    assert (coke["公式"], coke["公式版本"]) == ("combustion.fuel.mass", "1")
    assert close(coke["能源消费量（GJ）"], "14217500")
    assert sources["fixed_carbon.crude_steel"]["排放类别"] == "固碳产品隐含排放(扣除)"
    assert sources["grid"]["能源消费量（GJ）"] is None


def test_emissions_per_category_and_process(book: Any) -> None:
    ws = book["排放量"]
    categories = {row["排放类别"]: row for row in table(ws, "排放类别")}
    assert list(categories) == [
        "化石燃料燃烧",
        "熔剂消耗",
        "电极消耗",
        "外购含碳原料",
        "净购入电力",
        "净购入热力",
        "固碳产品隐含排放(扣除)",
        "总排放量",
    ]
    assert close(categories["熔剂消耗"]["排放量（tCO2）"], "84840")
    assert categories["熔剂消耗"]["所属排放项"] == "工业生产过程"
    assert close(categories["总排放量"]["排放量（tCO2）"], "1981845.1825")
    processes = {row["工序代码"]: row for row in table(ws, "工序代码")}
    assert list(processes) == ["auxiliary", "ironmaking", "rolling", "sintering", "steelmaking", "合计"]
    steel = processes["steelmaking"]
    assert steel["工序名称"] == "炼钢"
    assert close(steel["工业生产过程"], "16149") and close(steel["固碳产品隐含排放(扣除)"], "38500")
    assert close(steel["净排放量"], str(10989 + 5160 - 38500))
    assert close(processes["合计"]["净排放量"], "1981845.1825")
    assert close(processes["合计"]["化石燃料燃烧"], "1469631.1825")


# --- activity data and factors ------------------------------------------------------------------------------


def test_activity_data_one_row_per_input(book: Any) -> None:
    activity = table(book["活动数据"], "排放源编号")
    assert [(row["排放源编号"], row["数据项"]) for row in activity] == [
        ("coke", "FC"),
        ("natural_gas", "FC"),
        ("flux.limestone", "AD"),
        ("flux.dolomite", "AD"),
        ("electrodes", "AD"),
        ("raw_material.pig_iron", "AD"),
        ("grid", "exported"),
        ("grid", "purchased"),
        ("heat", "exported"),
        ("heat", "purchased"),
        ("fixed_carbon.crude_steel", "AD"),
    ]
    by_key = {(row["排放源编号"], row["数据项"]): row for row in activity}
    gas = by_key["natural_gas", "FC"]
    assert (gas["排放源名称"], gas["工序"], gas["排放类别"], gas["品种"]) == (
        "天然气（轧钢加热炉）",
        "rolling",
        "化石燃料燃烧",
        "natural_gas",
    )
    assert (gas["数值"], gas["单位"], gas["采用值"], gas["采用单位"]) == (2000, "10^4 Nm3", 2000, "10^4 Nm3")
    assert (gas["数据来源"], gas["完整"], gas["估算"]) == ("meter:NG.IN", "是", "否")
    grid_in = by_key["grid", "purchased"]
    assert (grid_in["数值"], grid_in["单位"], grid_in["数据来源"]) == (800000, "MWh", "meter:GRID.IN")
    for source_id, name, amount in [
        ("coke", "FC", 500000),
        ("flux.limestone", "AD", 150000),
        ("flux.dolomite", "AD", 40000),
        ("electrodes", "AD", 3000),
        ("raw_material.pig_iron", "AD", 30000),
        ("grid", "exported", 50000),
        ("heat", "purchased", 200000),
        ("fixed_carbon.crude_steel", "AD", 2500000),
    ]:
        assert by_key[source_id, name]["数值"] == amount, source_id


def test_factors_one_row_per_parameter(book: Any) -> None:
    ws = book["排放因子"]
    factors = table(ws, "排放源编号")
    assert len(factors) == 13
    by_key = {(row["排放源编号"], row["参数"]): row for row in factors}
    cc = by_key["coke", "CC"]
    assert (cc["参数代码"], cc["数值"], cc["单位"], cc["采用值"], cc["采用单位"]) == (
        "fuel.coke.cc",
        29.42,
        "tC/TJ",
        0.02942,
        "tC/GJ",
    )
    assert (cc["实测替代"], cc["被替代的缺省值"], cc["数据来源"]) == ("是", 29.5, "lab:report 2024-031")
    assert (cc["方法版本"], cc["可信度"]) == (None, None)
    of = by_key["coke", "OF"]
    assert (of["数值"], of["单位"], of["采用值"], of["实测替代"], of["被替代的缺省值"]) == (93, "%", 0.93, "否", None)
    assert of["方法版本"] == "GB/T 32151.5-2015 / 2013-guideline-defaults"
    assert of["可信度"] == "公开缺省值" and of["依据文件"]
    assert (by_key["natural_gas", "NCV"]["数值"], by_key["natural_gas", "NCV"]["实测替代"]) == (389.31, "否")
    assert by_key["flux.limestone", "EF"]["数值"] == 0.44
    grid = by_key["grid", "EF"]
    assert (grid["参数代码"], grid["数值"], grid["数据来源"], grid["可信度"]) == (
        "grid.ets_prescribed.national.2023-2024",
        0.5703,
        "grid:ets_prescribed",
        "未核实",
    )
    # The unverified confidence is highlighted in the factors sheet too.
    grid_row = next(r for r in ws.iter_rows() if r[0].value == "grid")
    assert grid_row[12].fill.fgColor.rgb.endswith("FCE4D6")
    # Plain values are shown with their own decimals: coke CC 29.42, NCV 28.435.
    assert (ws["C2"].value, ws["E2"].number_format) == ("CC", "#,##0.00")
    assert (ws["C3"].value, ws["E3"].number_format) == ("NCV", "#,##0.000")


# --- data quality -------------------------------------------------------------------------------------------


def test_quality_of_a_complete_result(book: Any) -> None:
    ws = book["数据质量"]
    all_text = texts(ws)
    assert "全部活动数据和参数完整，未使用估算值。" in all_text
    assert labelled(ws)["数据完整"][0] == "是"
    # The notes, numbered.
    assert labelled(ws)[1][0] == "Heat meter HT.IN was replaced in June; readings spliced."
    assert labelled(ws)[2][0] == "电表 GRID.OUT 已校准。"
    # Every unverified parameter is called out: here the prescribed grid factor for 2023–2024.
    assert any(text.startswith("以下 1 个参数的可信度为“未核实”") for text in all_text)
    unverified_header = next(
        i for i, r in enumerate(rows(ws)) if r[:3] == ("排放源编号", "参数", "参数代码") and r[5] == "方法版本"
    )
    assert rows(ws)[unverified_header + 1][:5] == (
        "grid",
        "EF",
        "grid.ets_prescribed.national.2023-2024",
        0.5703,
        "tCO2/MWh",
    )
    # Overridden parameters are listed with what they replaced.
    assert "以下 3 个参数采用实测值替代了方法版本的缺省值：" in all_text
    overridden = [r for r in rows(ws) if r[5] == "lab:report 2024-031"]
    assert [(r[0], r[1], r[3], r[6]) for r in overridden] == [
        ("coke", "CC", 29.42, 29.5),
        ("coke", "NCV", 28.435, 28.447),
        ("natural_gas", "CC", 15.32, 15.3),
    ]
    assert "核算结果中的工序与核算边界一致。" in all_text
    assert not any("不完整：" in text for text in all_text)


def test_quality_of_an_incomplete_result() -> None:
    lineage = example_a(coke_fc=q("500000", "t", "manual:record 18", complete=False, estimated=True))
    assert lineage["complete"] is False
    book = read(build_annual_report(report_data(lineage)))
    summary = labelled(book["概况"])
    assert (summary["数据完整"][0], summary["含估算数据"][0]) == ("否", "是")
    ws = book["数据质量"]
    all_text = texts(ws)
    statement = next(text for text in all_text if text.startswith("核算结果不完整"))
    assert "不宜作为正式报告" in statement
    assert ws[f"A{next(i for i, r in enumerate(rows(ws), 1) if r[0] == statement)}"].font.color.rgb.endswith("C00000")
    assert any(text.startswith("核算结果含估算数据") for text in all_text)
    assert "全部活动数据和参数完整，未使用估算值。" not in all_text
    flagged = table(ws, "排放源编号")
    assert flagged == [
        {
            "排放源编号": "coke",
            "数据项": "FC",
            "类型": "活动数据",
            "数据来源": "manual:record 18",
            "完整": "否",
            "估算": "是",
        }
    ]
    coke = next(row for row in table(book["排放量"], "排放源编号") if row["排放源编号"] == "coke")
    assert (coke["完整"], coke["估算"]) == ("否", "是")


def test_boundary_check_names_processes_outside_and_without_sources(lineage: dict[str, Any]) -> None:
    processes = (*PROCESSES[:4], ReportProcess("coking", "焦化", "焦化", "南山厂区", ("1#焦炉",)))
    book = read(build_annual_report(report_data(lineage, processes=processes)))
    all_text = texts(book["数据质量"])
    assert "工序 auxiliary 有排放源，但不在核算边界表中。" in all_text
    assert "核算边界内的工序 coking（焦化）没有排放源。" in all_text


# --- English ------------------------------------------------------------------------------------------------


def test_english_labels(lineage: dict[str, Any]) -> None:
    data = report_data(lineage, language="en", enterprise_name="Nanshan Iron & Steel Co., Ltd.")
    book = read(build_annual_report(data))
    assert book.sheetnames == SHEETS_EN
    summary = labelled(book["Summary"])
    assert close(summary["Total emissions"][0], "1981845.1825")
    assert close(summary["Carbon fixed in products (deducted)"][0], "38500")
    assert summary["Carbon intensity"][1] == "tCO2/t crude steel"
    assert (summary["Data complete"][0], summary["Contains estimates"][0]) == ("yes", "no")
    assert "5 processes" in summary["Reporting boundary"][0]
    sources = {row["Source id"]: row for row in table(book["Emissions"], "Source id")}
    assert close(sources["coke"]["Emission (tCO2)"], EXPECTED["coke"])
    assert sources["flux.limestone"]["Category"] == "Flux"
    factors = {(r["Source id"], r["Parameter"]): r for r in table(book["Emission factors"], "Source id")}
    assert factors["grid", "EF"]["Confidence"] == "unverified"
    assert factors["coke", "NCV"]["Measured override"] == "yes"
    quality = texts(book["Data quality"])
    assert any(
        text.startswith("Parameters with confidence “unverified” (taken from unchecked public material or assumed): 1.")
        for text in quality
    )
    # No Chinese label anywhere in column A (labels, codes, statements; only the user's own text is Chinese).
    for ws in book.worksheets:
        column_a = [str(row[0]) for row in rows(ws) if row[0] is not None]
        assert column_a and not any("\u4e00" <= ch <= "\u9fff" for text in column_a for ch in text), ws.title


# --- input checks -------------------------------------------------------------------------------------------


def test_user_text_is_never_a_formula(lineage: dict[str, Any]) -> None:
    book = read(build_annual_report(report_data(lineage, enterprise_name='=HYPERLINK("http://x","y")')))
    cell = next(r[1] for r in book["概况"].iter_rows() if r[0].value == "企业名称")
    assert cell.data_type == "s" and cell.value == '=HYPERLINK("http://x","y")'


def test_no_crude_steel_and_unknown_language(lineage: dict[str, Any]) -> None:
    without = {**lineage, "crude_steel": None, "intensity": None}
    summary = labelled(read(build_annual_report(report_data(without)))["概况"])
    assert summary["粗钢产量"][0] == "未提供" and summary["碳排放强度"][0] == "未提供"
    with pytest.raises(ValueError, match="language"):
        report_data(lineage, language="fr")
    with pytest.raises(ValueError, match="timezone-aware"):
        report_data(lineage, generated_at=datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="data year 2024"):
        build_annual_report(report_data(lineage, year=2025))
    broken = {**lineage, "totals": {**lineage["totals"], "net": "a lot"}}
    with pytest.raises(ValueError, match="totals.net"):
        build_annual_report(report_data(broken))


def test_generated_at_is_shown_with_its_offset(lineage: dict[str, Any]) -> None:
    in_utc = report_data(lineage, generated_at=GENERATED_AT.astimezone(UTC))
    other = read(build_annual_report(in_utc))
    assert labelled(other["概况"])["生成时间"][0] == "2025-03-01T01:30:15+00:00"


# --- supplementary data (the steel template's 补充数据表) -----------------------------------------------------

# Labels of the supplementary sheet's rows in each language.
SUPPLEMENTARY: dict[str, dict[str, Any]] = {
    "zh": {
        "sheet": "补充数据表",
        "name": "企业名称",
        "year": "报告年度",
        "period": "核算期",
        "crude": "粗钢产量",
        "combustion": "化石燃料燃烧排放",
        "process": "工业生产过程排放",
        "fixed_carbon": "固碳产品隐含排放(扣除)",
        "direct": "覆盖排放量（直接排放）",
        "direct_intensity": "覆盖排放强度（直接排放）",
        "net": "总排放量（GB/T 32151.5）",
        "net_intensity": "碳排放强度（GB/T 32151.5）",
        "electricity": "净购入电量",
        "electricity_emission": "净购入电力排放",
        "heat": "净购入热量",
        "heat_emission": "净购入热力排放",
        "intensity_unit": "tCO2/t粗钢",
        "process_code": "工序代码",
        "process_name": "工序名称",
        "process_net": "总排放量（tCO2）",
        "process_direct": "直接排放（tCO2）",
        "output": "产品产量（t）",
        "process_intensity": "排放强度（tCO2/t产品）",
        "source": "数据字段",
        "header": ("项目", "数值", "单位", "数据字段"),
    },
    "en": {
        "sheet": "Supplementary data",
        "name": "Enterprise",
        "year": "Reporting year",
        "period": "Accounting period",
        "crude": "Crude steel output",
        "combustion": "Fossil fuel combustion emissions",
        "process": "Industrial process emissions",
        "fixed_carbon": "Carbon fixed in products (deducted)",
        "direct": "Covered emissions (direct)",
        "direct_intensity": "Covered emission intensity (direct)",
        "net": "Total emissions (GB/T 32151.5)",
        "net_intensity": "Carbon intensity (GB/T 32151.5)",
        "electricity": "Net purchased electricity",
        "electricity_emission": "Net purchased electricity emissions",
        "heat": "Net purchased heat",
        "heat_emission": "Net purchased heat emissions",
        "intensity_unit": "tCO2/t crude steel",
        "process_code": "Process code",
        "process_name": "Process",
        "process_net": "Total emissions (tCO2)",
        "process_direct": "Direct emissions (tCO2)",
        "output": "Output (t)",
        "process_intensity": "Intensity (tCO2/t product)",
        "source": "Source",
        "header": ("Item", "Value", "Unit", "Source"),
    },
}


def exact(value: Any) -> Decimal:
    """A numeric cell read back as the Decimal of its shortest text (what the sheet's XML holds)."""
    assert isinstance(value, int | float) and not isinstance(value, bool), value
    return D(repr(value)) if isinstance(value, float) else D(value)


def test_direct_scope_is_combustion_plus_process_minus_fixed_carbon() -> None:
    # The categories and signs are data: electricity and heat are not covered.
    assert dict(DIRECT_SCOPE_TERMS) == {"combustion": 1, "process": 1, "fixed_carbon": -1}
    totals = {
        "combustion": "1469631.182492",
        "process": "100989",
        "electricity": "427725",
        "heat": "22000",
        "fixed_carbon": "38500",
        "net": "1981845.182492",
    }
    assert direct_scope(totals) == D("1532120.182492")
    # Exact whatever the digits: far beyond the default 28-digit context (which would round), nothing is rounded.
    long = {
        "combustion": "123456789012345678901234567890.123456789012345678901",
        "process": "0.000000000000000000000000000000000000000000000000001",
        "fixed_carbon": "98765432109876543210.98765432109876543210987654321",
    }
    result = direct_scope(long)
    assert Fraction(result) == Fraction(long["combustion"]) + Fraction(long["process"]) - Fraction(long["fixed_carbon"])
    assert str(result) == "123456788913580246791358024679.135802467913580246791123456790000000000000000000001"
    assert D(long["combustion"]) + D(long["process"]) - D(long["fixed_carbon"]) != result  # the default context
    assert direct_scope({"combustion": "0", "process": "0", "fixed_carbon": "0"}) == 0
    assert direct_scope({"combustion": "10", "process": "5", "fixed_carbon": "20"}) == D("-5")
    with pytest.raises(ValueError, match=r"totals\.fixed_carbon is missing"):
        direct_scope({"combustion": "1", "process": "2"})
    with pytest.raises(ValueError, match=r"by_process\.x\.process must be a decimal"):
        direct_scope({"combustion": "1", "process": "two", "fixed_carbon": "0"}, where="by_process.x")


def test_local_period_shows_local_calendar_dates_end_inclusive() -> None:
    year = {"start": "2023-12-31T16:00:00+00:00", "end": "2024-12-31T16:00:00+00:00"}
    assert local_period(year) == "2024-01-01 – 2024-12-31"
    assert local_period({"start": "2023-12-31T16:00:00Z", "end": "2024-12-31T16:00:00Z"}) == "2024-01-01 – 2024-12-31"
    assert local_period({"start": "2024-01-01T00:00:00+08:00", "end": "2025-01-01T00:00:00+08:00"}) == (
        "2024-01-01 – 2024-12-31"
    )
    # Another zone gives that zone's dates of the same instants.
    assert local_period(year, "UTC") == "2023-12-31 – 2024-12-31"
    assert local_period(year, "Asia/Urumqi") == "2023-12-31 – 2024-12-31"  # UTC+6: 22:00 on the 31st
    # A month, and a naive instant taken as UTC (the zone the platform stores).
    month = {"start": "2024-01-31T16:00:00", "end": "2024-02-29T16:00:00"}
    assert local_period(month) == "2024-02-01 – 2024-02-29"
    assert local_period({}) == ""
    with pytest.raises(ValueError, match=r"period\.start must be an ISO 8601 instant"):
        local_period({"start": "last year"})
    with pytest.raises(ValueError, match="time zone"):
        local_period(year, "Mars/Olympus")


@pytest.mark.parametrize("language", ["zh", "en"])
def test_supplementary_sheet(lineage: dict[str, Any], language: str) -> None:
    label = SUPPLEMENTARY[language]
    content = build_annual_report(report_data(lineage, language=language))
    book = read(content)
    assert book.sheetnames[-1] == label["sheet"]
    ws = book[label["sheet"]]
    assert rows(ws)[1][:4] == label["header"]
    values = labelled(ws)
    cells = {row[0].value: row for row in ws.iter_rows() if row[0].value is not None}
    totals = lineage["totals"]

    # Enterprise and year; the period in the enterprise's local dates, never a UTC instant.
    assert values[label["name"]][0] == "南山钢铁股份有限公司"
    assert values[label["year"]][0] == YEAR
    assert values[label["period"]][0] == "2024-01-01 – 2024-12-31"
    assert values[label["period"]][2] == "period.start – period.end (Asia/Shanghai)"
    assert not any("T16:00" in text or "+00:00" in text for text in texts(ws))

    # Crude steel (t).
    assert values[label["crude"]][:3] == (2500000, "t", "crude_steel.value")
    assert cells[label["crude"]][1].number_format == "#,##0.00"

    # Covered emissions: combustion + process − fixed carbon, exact, beside the full GB/T 32151.5 total.
    direct = D(totals["combustion"]) + D(totals["process"]) - D(totals["fixed_carbon"])
    assert direct == D("1532120.182492")
    for key in ("combustion", "process", "fixed_carbon"):
        assert exact(values[label[key]][0]) == D(totals[key]), key
        assert values[label[key]][1:3] == ("tCO2", f"totals.{key}")
    assert exact(values[label["direct"]][0]) == direct
    assert values[label["direct"]][1:3] == ("tCO2", "totals.combustion + totals.process − totals.fixed_carbon")
    assert cells[label["direct"]][1].font.b and cells[label["direct"]][1].number_format == "#,##0.00"
    assert exact(values[label["net"]][0]) == D(totals["net"]) == direct + D("427725") + D("22000")
    assert values[label["net"]][1:3] == ("tCO2", "totals.net")

    # Intensities per tonne of crude steel, shown to 0.0001 but kept in full.
    intensity = direct / D("2500000")
    assert intensity == D("0.6128480729968")
    assert exact(values[label["direct_intensity"]][0]) == intensity
    assert values[label["direct_intensity"]][1] == label["intensity_unit"]
    assert values[label["direct_intensity"]][2].endswith("÷ crude_steel.value")
    assert cells[label["direct_intensity"]][1].number_format == "0.0000"
    assert exact(values[label["net_intensity"]][0]) == D(lineage["intensity"])
    assert values[label["net_intensity"]][1:3] == (label["intensity_unit"], "intensity")

    # Net purchased electricity and heat, from the sources of those categories.
    assert values[label["electricity"]][:3] == (750000, "MWh", "sources[grid].inputs: purchased − exported")
    assert values[label["electricity_emission"]][:3] == (427725, "tCO2", "sources[grid].emission")
    assert values[label["heat"]][:3] == (200000, "GJ", "sources[heat].inputs: purchased − exported")
    assert values[label["heat_emission"]][:3] == (22000, "tCO2", "sources[heat].emission")

    # Per process: total and direct emissions (example A has no process outputs, so neither output nor intensity).
    processes = {row[label["process_code"]]: row for row in table(ws, label["process_code"])}
    assert list(processes) == ["auxiliary", "ironmaking", "rolling", "sintering", "steelmaking"]
    steel = processes["steelmaking"]
    assert steel[label["process_name"]] == "炼钢"
    assert exact(steel[label["process_net"]]) == D(10989 + 5160 - 38500)
    assert exact(steel[label["process_direct"]]) == D(10989 + 5160 - 38500)
    assert (steel[label["output"]], steel[label["process_intensity"]]) == (None, None)
    assert steel[label["source"]] == "by_process.steelmaking"
    auxiliary = processes["auxiliary"]  # grid and heat: in the GB/T total, not covered
    assert exact(auxiliary[label["process_net"]]) == D("449725") and auxiliary[label["process_direct"]] == 0

    # Every value row says where it came from.
    for row in rows(ws)[2:]:
        if isinstance(row[1], int | float):
            assert row[3] or row[6], row

    # The exact decimal text is what the sheet's XML holds.
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        xml = archive.read("xl/worksheets/sheet7.xml").decode()
    assert "<v>1532120.182492</v>" in xml and "<v>0.6128480729968</v>" in xml


def test_supplementary_process_outputs_and_timezone() -> None:
    outputs = {"sintering": q("3000000", "t", "erp:sinter"), "steelmaking": q("2500", "kt", "erp:steel")}
    result = account(
        EDITION_2015, YEAR, example_a_sources(), crude_steel=q("2500", "kt", "erp:output"), process_outputs=outputs
    )
    lineage = lineage_of(result, [])
    data = report_data(lineage, timezone="UTC")
    book = read(build_annual_report(data))
    ws = book["补充数据表"]
    values = labelled(ws)
    assert values["核算期"][:3] == ("2023-12-31 – 2024-12-31", None, "period.start – period.end (UTC)")
    assert labelled(book["概况"])["核算期"][0] == "2023-12-31 – 2024-12-31"
    assert values["粗钢产量"][:2] == (2500000, "t")  # given in kt, shown in t
    processes = {row["工序代码"]: row for row in table(ws, "工序代码")}
    sintering = processes["sintering"]
    assert sintering["产品产量（t）"] == 3000000
    assert exact(sintering["排放强度（tCO2/t产品）"]) == D("84840") / D("3000000")
    assert sintering["数据字段"] == "by_process.sintering; process_intensity.sintering; output = net ÷ intensity"
    steel = processes["steelmaking"]
    assert steel["产品产量（t）"] == 2500000 and exact(steel["排放强度（tCO2/t产品）"]) == D("-22351") / D("2500000")
    assert processes["ironmaking"]["产品产量（t）"] is None  # no output recorded for it
    assert close(values["覆盖排放强度（直接排放）"][0], str(D("1532120.182492") / D("2500000")))
    with pytest.raises(ValueError, match="time zone"):
        report_data(lineage, timezone="Shanghai")


def test_supplementary_without_crude_steel_or_indirect_sources(lineage: dict[str, Any]) -> None:
    sources = [s for s in lineage["sources"] if s["category"] not in ("electricity", "heat")]
    without = {**lineage, "crude_steel": None, "intensity": None, "sources": sources}
    values = labelled(read(build_annual_report(report_data(without)))["补充数据表"])
    assert values["粗钢产量"][0] == "未提供"
    assert values["覆盖排放强度（直接排放）"][0] == "未提供" and values["碳排放强度（GB/T 32151.5）"][0] == "未提供"
    assert exact(values["覆盖排放量（直接排放）"][0]) == D("1532120.182492")
    assert values["净购入电量"][:3] == (0, "MWh", "sources[category=electricity]: none")
    assert values["净购入热力排放"][:3] == (0, "tCO2", "sources[category=heat]: none")
