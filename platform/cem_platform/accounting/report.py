"""The annual greenhouse-gas emission report of a steel enterprise as an XLSX workbook (GB/T 32151.5 structure).

A pure function over plain data: :func:`build_annual_report` takes the enterprise, its boundary (the processes)
and the lineage of one accounting result — the JSON form of :class:`~.engine.AccountingResult`, decimals as
strings — and returns the bytes of an ``.xlsx`` file with seven sheets, in Simplified Chinese (default) or English:

1. Summary — reporting entity, boundary statement, methodology edition and library / grid-factor versions,
   result id and version, generated at / by, emissions per term of E = combustion + process + electricity +
   heat − fixed carbon, crude steel, intensity and fuel energy;
2. Boundary — the processes;
3. Emissions — per category, per process and per source (with formula);
4. Activity data — one row per source input, as given and as used;
5. Emission factors — one row per source parameter with its code, origin, edition and confidence;
6. Data quality — completeness and estimation, the notes, every unverified parameter, every measured override;
7. Supplementary data (补充数据表) — the steel template's supplementary table of the ministry's annual report
   (中国钢铁生产企业温室气体排放核算方法与报告指南(试行) and the MEE annual reporting notices): crude steel, emissions
   and output per process, the national carbon market's covered (direct) emissions and their intensity beside the
   GB/T 32151.5 total, net purchased electricity and heat; each row names the lineage field it comes from.

Periods are shown as the enterprise's local calendar dates (``timezone``, Asia/Shanghai by default), the end date
inclusive: a year stored as [2023-12-31T16:00Z, 2024-12-31T16:00Z) is shown "2024-01-01 – 2024-12-31".

Numbers are numeric cells holding the lineage's value (Excel keeps 15–16 significant digits; the exact value stays
in the lineage); only the display format rounds (tCO2 ``#,##0.0000``, intensities ``0.0000``; in the
supplementary sheet t, tCO2, MWh and GJ ``#,##0.00`` and tCO2/t ``0.0000``). The same input gives the same bytes:
document properties and zip timestamps come from ``generated_at``, not the clock.
"""

from __future__ import annotations

import decimal
import io
import re
import unicodedata
import zipfile
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.styles import Alignment, Font, PatternFill  # type: ignore[import-untyped]
from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]
from openpyxl.writer.excel import ExcelWriter  # type: ignore[import-untyped]

from cem_platform.accounting import units
from cem_platform.accounting.formulas import PRECISION
from cem_platform.accounting.scopes import CN_ETS_STEEL

__all__ = [
    "DEFAULT_TIMEZONE",
    "DIRECT_SCOPE_TERMS",
    "REPORT_CONTENT_TYPE",
    "AnnualReportData",
    "ReportProcess",
    "build_annual_report",
    "direct_scope",
    "local_period",
]

REPORT_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

#: Display formats; the cell keeps the value, only the display rounds.
TCO2_FORMAT = "#,##0.0000"
INTENSITY_FORMAT = "0.0000"
ENERGY_FORMAT = "#,##0.0000"
_INTEGER_FORMAT = "0"
_MAX_PLACES = 10  # decimals shown for plain values (activity data, parameters)
#: Supplementary sheet: tonnes, tCO2, MWh and GJ shown to 0.01, intensities (tCO2/t) to 0.0001.
SUPPLEMENTARY_AMOUNT_FORMAT = "#,##0.00"
SUPPLEMENTARY_INTENSITY_FORMAT = "0.0000"

DEFAULT_TIMEZONE = "Asia/Shanghai"

#: The national carbon market's covered emissions of an iron and steel enterprise (direct scope): the terms of the
#: lineage totals that count, with their sign. Source: the national ETS rules for iron and steel (MEE work plan
#: bringing steel into the national carbon emission trading market, 2025; 企业温室气体排放核算与报告指南 钢铁行业):
#: CO2 only, covered emissions = fuel combustion + industrial processes − carbon fixed in products; net purchased
#: electricity and heat are indirect emissions and are not covered. (GB/T 32151.5's total adds both.)
DIRECT_SCOPE_TERMS: Mapping[str, int] = CN_ETS_STEEL.terms  # methodology data: cem_platform.accounting.scopes

_TERMS = ("combustion", "process", "electricity", "heat", "fixed_carbon")
_CATEGORIES = ("fuel_combustion", "flux", "electrode", "raw_material", "electricity", "heat", "fixed_carbon")
_CATEGORY_TERM = {
    "fuel_combustion": "combustion",
    "flux": "process",
    "electrode": "process",
    "raw_material": "process",
    "electricity": "electricity",
    "heat": "heat",
    "fixed_carbon": "fixed_carbon",
}

_ZH: dict[str, str] = {
    "sheet.summary": "概况",
    "sheet.boundary": "核算边界",
    "sheet.emissions": "排放量",
    "sheet.activity": "活动数据",
    "sheet.factors": "排放因子",
    "sheet.quality": "数据质量",
    "title.summary": "{name} {year}年度温室气体排放报告（GB/T 32151.5）",
    "title.emissions": "{name} {year}年度温室气体排放量（tCO2）",
    "title.quality": "{name} {year}年度排放数据质量",
    "doc.title": "{name} {year}年度温室气体排放报告",
    "col.item": "项目",
    "col.value": "数值",
    "col.unit": "单位",
    "col.remark": "说明",
    "section.entity": "报告主体",
    "section.method": "核算方法与结果",
    "section.totals": "排放量汇总",
    "section.indicators": "产量、强度与能耗",
    "enterprise_name": "企业名称",
    "enterprise_code": "企业代码",
    "credit_code": "统一社会信用代码",
    "address": "地址",
    "year": "报告年度",
    "period": "核算期",
    "boundary": "核算边界",
    "boundary_statement": (
        "报告主体为{name}（法人），核算边界为其法人边界内的全部生产系统、辅助生产系统和附属生产系统，"
        "共 {n} 个工序：{names}。详见“{sheet}”表。"
    ),
    "list_sep": "、",
    "none_listed": "未列出",
    "edition": "核算标准",
    "edition_version": "方法版本",
    "library_version": "方法库版本",
    "grid_version": "电网排放因子版本",
    "result_id": "核算结果编号",
    "result_version": "核算结果版本",
    "generated_at": "生成时间",
    "generated_by": "生成人",
    "complete": "数据完整",
    "estimated": "含估算数据",
    "term.combustion": "化石燃料燃烧",
    "term.process": "工业生产过程",
    "term.electricity": "净购入电力",
    "term.heat": "净购入热力",
    "term.fixed_carbon": "固碳产品隐含排放(扣除)",
    "term.net": "总排放量",
    "net_formula": "总排放量 = 化石燃料燃烧 + 工业生产过程 + 净购入电力 + 净购入热力 − 固碳产品隐含排放",
    "crude_steel": "粗钢产量",
    "intensity": "碳排放强度",
    "intensity_unit": "tCO2/t粗钢",
    "fuel_energy_gj": "化石燃料消费量",
    "fuel_energy_tce": "化石燃料消费量（折标准煤）",
    "not_given": "未提供",
    "yes": "是",
    "no": "否",
    "cat.fuel_combustion": "化石燃料燃烧",
    "cat.flux": "熔剂消耗",
    "cat.electrode": "电极消耗",
    "cat.raw_material": "外购含碳原料",
    "cat.electricity": "净购入电力",
    "cat.heat": "净购入热力",
    "cat.fixed_carbon": "固碳产品隐含排放(扣除)",
    "conf.confirmed": "已核实",
    "conf.as_published": "公开缺省值",
    "conf.unverified": "未核实",
    "col.process_code": "工序代码",
    "col.process_name": "工序名称",
    "col.process_type": "工序类型",
    "col.site": "厂区",
    "col.facilities": "主要设施",
    "col.source_count": "排放源数",
    "col.category": "排放类别",
    "col.term": "所属排放项",
    "col.emission": "排放量（tCO2）",
    "col.net": "净排放量",
    "col.source_id": "排放源编号",
    "col.source_name": "排放源名称",
    "col.process": "工序",
    "col.item_kind": "品种",
    "col.formula": "公式",
    "col.formula_version": "公式版本",
    "col.expression": "计算式",
    "col.energy_gj": "能源消费量（GJ）",
    "col.complete": "完整",
    "col.estimated": "估算",
    "col.input": "数据项",
    "col.value_used": "采用值",
    "col.unit_used": "采用单位",
    "col.origin": "数据来源",
    "col.parameter": "参数",
    "col.code": "参数代码",
    "col.overridden": "实测替代",
    "col.default_replaced": "被替代的缺省值",
    "col.edition_version": "方法版本",
    "col.confidence": "可信度",
    "col.source_document": "依据文件",
    "col.kind": "类型",
    "kind.input": "活动数据",
    "kind.parameter": "参数",
    "section.by_category": "按排放类别",
    "section.by_process": "按工序",
    "section.by_source": "按排放源",
    "total": "合计",
    "section.overall": "总体",
    "section.flagged": "不完整或估算的数据",
    "section.notes": "说明",
    "section.unverified": "未核实的参数",
    "section.overridden": "实测值替代缺省值的参数",
    "section.boundary_check": "边界核对",
    "quality.incomplete": (
        "核算结果不完整：部分活动数据或参数缺失或不完整，排放量可能偏低。补齐数据并重新核算前，本报告不宜作为正式报告提交。"
    ),
    "quality.estimated": "核算结果含估算数据：部分数据为估算值，见“不完整或估算的数据”。",
    "quality.ok": "全部活动数据和参数完整，未使用估算值。",
    "quality.none": "无。",
    "quality.unverified": (
        "以下 {n} 个参数的可信度为“未核实”（取自未经核对的公开资料或假设），报告依据前须核实或以实测值替换："
    ),
    "quality.no_unverified": "没有可信度为“未核实”的参数。",
    "quality.overridden": "以下 {n} 个参数采用实测值替代了方法版本的缺省值：",
    "quality.no_overridden": "没有参数被实测值替代。",
    "quality.outside_boundary": "工序 {code} 有排放源，但不在核算边界表中。",
    "quality.no_sources": "核算边界内的工序 {code}（{name}）没有排放源。",
    "quality.boundary_ok": "核算结果中的工序与核算边界一致。",
    "sheet.supplementary": "补充数据表",
    "title.supplementary": "{name} {year}年度温室气体排放报告 补充数据表（钢铁生产）",
    "col.lineage": "数据字段",
    "section.output": "产品产量",
    "section.by_process_output": "主要工序排放量与产量",
    "section.covered": "全国碳市场覆盖排放（直接排放）",
    "section.indirect": "净购入电力和热力",
    "src.enterprise": "企业信息",
    "enterprise_level": "企业级",
    "col.process_net": "总排放量（tCO2）",
    "col.process_direct": "直接排放（tCO2）",
    "col.output": "产品产量（t）",
    "col.process_intensity": "排放强度（tCO2/t产品）",
    "covered.combustion": "化石燃料燃烧排放",
    "covered.process": "工业生产过程排放",
    "covered.fixed_carbon": "固碳产品隐含排放(扣除)",
    "covered.total": "覆盖排放量（直接排放）",
    "covered.intensity": "覆盖排放强度（直接排放）",
    "covered.formula": "覆盖排放量 = 化石燃料燃烧 + 工业生产过程 − 固碳产品隐含排放（不含净购入电力、热力）",
    "gbt.net": "总排放量（GB/T 32151.5）",
    "gbt.intensity": "碳排放强度（GB/T 32151.5）",
    "indirect.electricity_amount": "净购入电量",
    "indirect.electricity_emission": "净购入电力排放",
    "indirect.heat_amount": "净购入热量",
    "indirect.heat_emission": "净购入热力排放",
}

_EN: dict[str, str] = {
    "sheet.summary": "Summary",
    "sheet.boundary": "Boundary",
    "sheet.emissions": "Emissions",
    "sheet.activity": "Activity data",
    "sheet.factors": "Emission factors",
    "sheet.quality": "Data quality",
    "title.summary": "{name}: greenhouse-gas emission report {year} (GB/T 32151.5)",
    "title.emissions": "{name}: emissions {year} (tCO2)",
    "title.quality": "{name}: data quality {year}",
    "doc.title": "{name}: greenhouse-gas emission report {year}",
    "col.item": "Item",
    "col.value": "Value",
    "col.unit": "Unit",
    "col.remark": "Remark",
    "section.entity": "Reporting entity",
    "section.method": "Methodology and result",
    "section.totals": "Emissions",
    "section.indicators": "Output, intensity and energy",
    "enterprise_name": "Enterprise",
    "enterprise_code": "Enterprise code",
    "credit_code": "Unified social credit code",
    "address": "Address",
    "year": "Reporting year",
    "period": "Accounting period",
    "boundary": "Reporting boundary",
    "boundary_statement": (
        "The reporting entity is the legal entity {name}; the boundary covers all its main, auxiliary and "
        "ancillary production systems: {n} processes ({names}), listed in sheet “{sheet}”."
    ),
    "list_sep": ", ",
    "none_listed": "none listed",
    "edition": "Accounting standard",
    "edition_version": "Methodology version",
    "library_version": "Library version",
    "grid_version": "Grid factor version",
    "result_id": "Result id",
    "result_version": "Result version",
    "generated_at": "Generated at",
    "generated_by": "Generated by",
    "complete": "Data complete",
    "estimated": "Contains estimates",
    "term.combustion": "Fossil fuel combustion",
    "term.process": "Industrial processes",
    "term.electricity": "Net purchased electricity",
    "term.heat": "Net purchased heat",
    "term.fixed_carbon": "Carbon fixed in products (deducted)",
    "term.net": "Total emissions",
    "net_formula": "Total = combustion + processes + electricity + heat − carbon fixed in products",
    "crude_steel": "Crude steel output",
    "intensity": "Carbon intensity",
    "intensity_unit": "tCO2/t crude steel",
    "fuel_energy_gj": "Fossil fuel energy",
    "fuel_energy_tce": "Fossil fuel energy (coal equivalent)",
    "not_given": "not given",
    "yes": "yes",
    "no": "no",
    "cat.fuel_combustion": "Fossil fuel combustion",
    "cat.flux": "Flux",
    "cat.electrode": "Electrodes",
    "cat.raw_material": "Purchased carbon-bearing materials",
    "cat.electricity": "Net purchased electricity",
    "cat.heat": "Net purchased heat",
    "cat.fixed_carbon": "Carbon fixed in products (deducted)",
    "conf.confirmed": "confirmed",
    "conf.as_published": "as published",
    "conf.unverified": "unverified",
    "col.process_code": "Process code",
    "col.process_name": "Process",
    "col.process_type": "Process type",
    "col.site": "Site",
    "col.facilities": "Main facilities",
    "col.source_count": "Sources",
    "col.category": "Category",
    "col.term": "Term",
    "col.emission": "Emission (tCO2)",
    "col.net": "Net",
    "col.source_id": "Source id",
    "col.source_name": "Source",
    "col.process": "Process",
    "col.item_kind": "Item",
    "col.formula": "Formula",
    "col.formula_version": "Formula version",
    "col.expression": "Expression",
    "col.energy_gj": "Energy (GJ)",
    "col.complete": "Complete",
    "col.estimated": "Estimated",
    "col.input": "Input",
    "col.value_used": "Value used",
    "col.unit_used": "Unit used",
    "col.origin": "Origin",
    "col.parameter": "Parameter",
    "col.code": "Code",
    "col.overridden": "Measured override",
    "col.default_replaced": "Default replaced",
    "col.edition_version": "Edition / version",
    "col.confidence": "Confidence",
    "col.source_document": "Source document",
    "col.kind": "Kind",
    "kind.input": "activity data",
    "kind.parameter": "parameter",
    "section.by_category": "By category",
    "section.by_process": "By process",
    "section.by_source": "By source",
    "total": "Total",
    "section.overall": "Overall",
    "section.flagged": "Incomplete or estimated data",
    "section.notes": "Notes",
    "section.unverified": "Unverified parameters",
    "section.overridden": "Defaults replaced by measured values",
    "section.boundary_check": "Boundary check",
    "quality.incomplete": (
        "The result is INCOMPLETE: some activity data or parameters are missing or incomplete, so emissions may be "
        "understated. Complete the data and recalculate before submitting this report."
    ),
    "quality.estimated": "The result contains ESTIMATED data; see “Incomplete or estimated data”.",
    "quality.ok": "All activity data and parameters are complete; no estimated values were used.",
    "quality.none": "None.",
    "quality.unverified": (
        "Parameters with confidence “unverified” (taken from unchecked public material or assumed): {n}. Verify "
        "them or replace them with measured values before relying on this report:"
    ),
    "quality.no_unverified": "No parameter has confidence “unverified”.",
    "quality.overridden": "Parameters using measured values in place of the edition's defaults: {n}.",
    "quality.no_overridden": "No default was replaced by a measured value.",
    "quality.outside_boundary": "Process {code} has emission sources but is not in the boundary table.",
    "quality.no_sources": "Process {code} ({name}) in the boundary has no emission source.",
    "quality.boundary_ok": "The processes of the result match the boundary.",
    "sheet.supplementary": "Supplementary data",
    "title.supplementary": "{name}: greenhouse-gas emission report {year}, supplementary data (iron and steel)",
    "col.lineage": "Source",
    "section.output": "Output",
    "section.by_process_output": "Emissions and output per process",
    "section.covered": "National carbon market: covered emissions (direct)",
    "section.indirect": "Net purchased electricity and heat",
    "src.enterprise": "enterprise record",
    "enterprise_level": "enterprise level",
    "col.process_net": "Total emissions (tCO2)",
    "col.process_direct": "Direct emissions (tCO2)",
    "col.output": "Output (t)",
    "col.process_intensity": "Intensity (tCO2/t product)",
    "covered.combustion": "Fossil fuel combustion emissions",
    "covered.process": "Industrial process emissions",
    "covered.fixed_carbon": "Carbon fixed in products (deducted)",
    "covered.total": "Covered emissions (direct)",
    "covered.intensity": "Covered emission intensity (direct)",
    "covered.formula": (
        "Covered = fossil fuel combustion + industrial processes − carbon fixed in products "
        "(net purchased electricity and heat excluded)"
    ),
    "gbt.net": "Total emissions (GB/T 32151.5)",
    "gbt.intensity": "Carbon intensity (GB/T 32151.5)",
    "indirect.electricity_amount": "Net purchased electricity",
    "indirect.electricity_emission": "Net purchased electricity emissions",
    "indirect.heat_amount": "Net purchased heat",
    "indirect.heat_emission": "Net purchased heat emissions",
}

_LABELS: Mapping[str, Mapping[str, str]] = {"zh": _ZH, "en": _EN}
#: Net purchased electricity or heat = purchased − exported (GB/T 32151.5; the inputs of the indirect formulas).
_NET_PURCHASED: Mapping[str, int] = MappingProxyType({"purchased": 1, "exported": -1})
_DOC_LANGUAGE = {"zh": "zh-CN", "en": "en"}


@dataclass(frozen=True)
class ReportProcess:
    """A process inside the reporting boundary."""

    code: str
    name: str
    process_type: str
    site: str
    facilities: tuple[str, ...]


@dataclass(frozen=True)
class AnnualReportData:
    """Everything the annual report shows: the enterprise, its boundary and one accounting result's lineage."""

    enterprise_name: str
    enterprise_code: str
    credit_code: str
    address: str
    year: int
    result_id: int
    result_version: int
    generated_at: datetime
    generated_by: str
    processes: tuple[ReportProcess, ...]
    lineage: Mapping[str, Any]
    language: str = "zh"
    timezone: str = DEFAULT_TIMEZONE  # the enterprise's: periods are shown as its local calendar dates

    def __post_init__(self) -> None:
        if self.language not in _LABELS:
            raise ValueError(f"Report language must be one of {', '.join(sorted(_LABELS))}, got {self.language!r}.")
        if self.generated_at.tzinfo is None or self.generated_at.utcoffset() is None:
            raise ValueError("generated_at must be timezone-aware.")
        _zone(self.timezone)


# --- reading the lineage ------------------------------------------------------------------------------------


def _mapping(value: Any, what: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"Lineage {what} must be an object, got {type(value).__name__}.")
    return value


def _records(value: Any, what: str) -> list[Mapping[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise ValueError(f"Lineage {what} must be a list, got {type(value).__name__}.")
    return [_mapping(item, what) for item in value]


def _decimal(value: Any, what: str) -> Decimal | None:
    """A lineage number (a string of the exact value) as Decimal; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"Lineage {what} must be a number, got {value!r}.")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))  # the shortest text that reads back as this float: what JSON held
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"Lineage {what} must be a decimal number, got {value!r}.") from None
    else:
        raise ValueError(f"Lineage {what} must be a decimal number, got {type(value).__name__}.")
    if not number.is_finite():
        raise ValueError(f"Lineage {what} must be finite, got {value!r}.")
    return number


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _version(value: Any) -> int | str:
    return value if isinstance(value, int) and not isinstance(value, bool) else _text(value)


def _flag(value: Any, default: bool) -> bool:
    return value if isinstance(value, bool) else default


def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"Unknown time zone {name!r}: give an IANA name such as {DEFAULT_TIMEZONE!r}.") from None


def _instant(value: Any, what: str) -> datetime | None:
    """A lineage instant (ISO 8601, in UTC or with an offset); None when absent. A naive one is taken as UTC,
    the zone the platform stores instants in."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"Lineage {what} must be an ISO 8601 instant, got {value!r}.") from None
    else:
        raise ValueError(f"Lineage {what} must be an ISO 8601 instant, got {type(value).__name__}.")
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def local_period(period: Mapping[str, Any], timezone: str = DEFAULT_TIMEZONE) -> str:
    """A lineage ``period`` (``start`` and ``end`` instants, the end exclusive) as the local calendar dates of
    ``timezone``, the end date inclusive: [2023-12-31T16:00Z, 2024-12-31T16:00Z) in Asia/Shanghai is
    "2024-01-01 – 2024-12-31". Empty when the period gives neither instant."""
    zone = _zone(timezone)
    start = _instant(period.get("start"), "period.start")
    end = _instant(period.get("end"), "period.end")
    first: date | None = start.astimezone(zone).date() if start else None
    # The last day is the one holding the period's last instant, just before its (exclusive) end.
    last: date | None = (end.astimezone(UTC) - timedelta(microseconds=1)).astimezone(zone).date() if end else None
    if first is not None and last is not None and last < first:
        last = first
    return " – ".join(day.isoformat() for day in (first, last) if day is not None)


def _exact_sum(terms: Iterable[tuple[int, Decimal]]) -> Decimal:
    """Σ sign × value, exact whatever the number of digits: the context is made wide enough for the terms, and
    Inexact is trapped so that a rounding could never pass unnoticed."""
    items = list(terms)
    nonzero = [value for _, value in items if value]
    if not nonzero:
        return Decimal(0)
    top = max(value.adjusted() for value in nonzero)
    bottom = min(int(value.as_tuple().exponent) for value in nonzero)  # finite: lineage numbers are checked
    spread = max(abs(sign) for sign, _ in items)
    with decimal.localcontext() as context:
        context.prec = max(top - bottom + len(str(len(items) * spread)) + 1, PRECISION)
        context.traps[decimal.Inexact] = True
        total = Decimal(0)
        for sign, value in items:
            total += value * sign
    return total


def _quotient(numerator: Decimal, denominator: Decimal) -> Decimal:
    """An intensity, at the engine's precision (as it computes its own)."""
    with decimal.localcontext() as context:
        context.prec = PRECISION
        return numerator / denominator


def direct_scope(totals: Mapping[str, str], *, where: str = "totals") -> Decimal:
    """The national carbon market's covered emissions (tCO2, direct scope) from a result's lineage totals (or one
    process's, ``by_process.<code>``): Σ sign × totals[term] over :data:`DIRECT_SCOPE_TERMS`, that is combustion +
    process − fixed carbon, exact (no rounding, whatever the digits). Electricity and heat are not counted.

    Raises ValueError when a term is missing or is not a decimal number (``where`` names the totals in it).
    """
    terms: list[tuple[int, Decimal]] = []
    for term, sign in DIRECT_SCOPE_TERMS.items():
        value = _decimal(totals.get(term), f"{where}.{term}")
        if value is None:
            raise ValueError(f"Lineage {where}.{term} is missing: the covered emissions need it.")
        terms.append((sign, value))
    return _exact_sum(terms)


def _in_unit(value: Decimal, unit: str, target: str, what: str) -> Decimal:
    try:
        return units.convert(value, unit or target, target)
    except units.UnitError as err:
        raise ValueError(f"Lineage {what} must be in {target} or a unit that converts to it: {err}") from None


# --- writing cells ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Num:
    """A numeric cell with its display format."""

    value: Decimal | int | None
    fmt: str


_Cell = str | int | Decimal | _Num | None

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=13)
_WARNING = Font(bold=True, color="C00000")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_FLAG_FILL = PatternFill("solid", fgColor="FCE4D6")
_HEADER_ALIGN = Alignment(wrap_text=True, vertical="center")
_WRAP = Alignment(wrap_text=True, vertical="top")
_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # control characters XML cannot hold
_MAX_TEXT = 32767  # Excel's limit per cell
_MIN_WIDTH, _MAX_WIDTH = 8, 60
_HEADER_WIDTH = 24  # longer headers wrap rather than widen their column


def _plain_format(value: Decimal) -> str:
    """A display format showing the value's own decimals (at most _MAX_PLACES), with thousands separators."""
    exponent = value.normalize().as_tuple().exponent
    places = min(max(0, -exponent), _MAX_PLACES) if isinstance(exponent, int) else 0
    return "#,##0" + ("." + "0" * places if places else "")


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


class _Sheet:
    """A worksheet written top to bottom, tracking column widths."""

    def __init__(self, workbook: Any, title: str, *, first: bool = False) -> None:
        self.ws = workbook.active if first else workbook.create_sheet()
        self.ws.title = title
        self.row = 1
        self.widths: dict[int, int] = {}
        self._after_heading = False  # the row above is a title or header: no blank line before a section

    def title(self, text: str) -> None:
        cell = self._put(1, text, track=False)
        cell.font = _TITLE
        self._next(heading=True)

    def section(self, text: str) -> None:
        if not self._after_heading:
            self.row += 1  # a blank line between the previous table and this section
        cell = self._put(1, text, track=False)
        cell.font = _BOLD
        self._next()

    def header(self, labels: Sequence[str]) -> None:
        for column, label in enumerate(labels, start=1):
            cell = self._put(column, label, track=False)
            self.widths[column] = max(self.widths.get(column, 0), min(_display_width(label), _HEADER_WIDTH))
            cell.font = _BOLD
            cell.fill = _HEADER_FILL
            cell.alignment = _HEADER_ALIGN
        self._next(heading=True)

    def line(self, values: Sequence[_Cell], *, bold: bool = False, flagged: Sequence[int] = ()) -> None:
        for column, value in enumerate(values, start=1):
            cell = self._put(column, value)
            if bold:
                cell.font = _BOLD
            if column in flagged:
                cell.fill = _FLAG_FILL
        self._next()

    def statement(self, text: str, *, warning: bool = False) -> None:
        """A sentence in column A; it runs on over the empty cells to its right."""
        cell = self._put(1, text, track=False)
        if warning:
            cell.font = _WARNING
        self._next()

    def _next(self, *, heading: bool = False) -> None:
        self.row += 1
        self._after_heading = heading

    def freeze(self, cell: str) -> None:
        self.ws.freeze_panes = cell

    def finish(self) -> None:
        for column, width in sorted(self.widths.items()):
            self.ws.column_dimensions[get_column_letter(column)].width = min(max(width + 2, _MIN_WIDTH), _MAX_WIDTH)

    def _put(self, column: int, value: _Cell, *, track: bool = True) -> Any:
        cell = self.ws.cell(row=self.row, column=column)
        width = 0
        if isinstance(value, str):
            text = _ILLEGAL.sub("", value)[:_MAX_TEXT]
            cell.value = text
            cell.data_type = "s"  # always text: a name or origin starting with '=' is not a formula
            width = _display_width(text)
            if width > _MAX_WIDTH and track:
                cell.alignment = _WRAP
        elif value is not None:
            number, fmt = (value.value, value.fmt) if isinstance(value, _Num) else (value, None)
            if number is not None:
                if fmt is None:
                    fmt = _plain_format(number) if isinstance(number, Decimal) else _INTEGER_FORMAT
                cell.value = number
                cell.number_format = fmt
                places = len(fmt.split(".")[1]) if "." in fmt else 0
                width = len(f"{Decimal(number):,.{places}f}")
        if track:
            self.widths[column] = max(self.widths.get(column, 0), width)
        return cell


# --- the report ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    """One source of the lineage, read."""

    record: Mapping[str, Any]
    inputs: list[Mapping[str, Any]]
    parameters: list[Mapping[str, Any]]

    @property
    def source_id(self) -> str:
        return _text(self.record.get("source_id"))

    @property
    def name(self) -> str:
        return _text(self.record.get("name")) or self.source_id

    @property
    def process(self) -> str:
        return _text(self.record.get("process"))

    @property
    def category(self) -> str:
        return _text(self.record.get("category"))


class _Report:
    def __init__(self, data: AnnualReportData) -> None:
        self.data = data
        self.t = _LABELS[data.language]
        lineage = _mapping(data.lineage, "root")
        self.lineage = lineage
        lineage_year = lineage.get("year")
        if lineage_year is not None and lineage_year != data.year:
            raise ValueError(f"The lineage is for data year {lineage_year}, the report for {data.year}.")
        self.totals = _mapping(lineage.get("totals"), "totals")
        self.sources = [
            _Source(
                record,
                _records(record.get("inputs"), "source inputs"),
                _records(record.get("parameters"), "source parameters"),
            )
            for record in _records(lineage.get("sources"), "sources")
        ]
        self.process_names = {p.code: p.name for p in data.processes}
        # A lineage that does not say it is complete is not reported as complete.
        self.complete = _flag(lineage.get("complete"), False)
        self.estimated = _flag(
            lineage.get("estimated"), any(_flag(s.record.get("estimated"), False) for s in self.sources)
        )

    # labels

    def yes_no(self, value: bool) -> str:
        return self.t["yes"] if value else self.t["no"]

    def category(self, code: str) -> str:
        return self.t.get(f"cat.{code}", code)

    def confidence(self, code: Any) -> str:
        return "" if code is None else self.t.get(f"conf.{code}", str(code))

    def number(self, value: Any, what: str, fmt: str) -> _Num:
        return _Num(_decimal(value, what), fmt)

    # sheets

    def build(self, workbook: Any) -> None:
        sheets = [
            self.summary(_Sheet(workbook, self.t["sheet.summary"], first=True)),
            self.boundary(_Sheet(workbook, self.t["sheet.boundary"])),
            self.emissions(_Sheet(workbook, self.t["sheet.emissions"])),
            self.activity(_Sheet(workbook, self.t["sheet.activity"])),
            self.factors(_Sheet(workbook, self.t["sheet.factors"])),
            self.quality(_Sheet(workbook, self.t["sheet.quality"])),
            self.supplementary(_Sheet(workbook, self.t["sheet.supplementary"])),
        ]
        for sheet in sheets:
            sheet.finish()

    def summary(self, sheet: _Sheet) -> _Sheet:
        t, data, lineage = self.t, self.data, self.lineage
        sheet.title(t["title.summary"].format(name=data.enterprise_name, year=data.year))
        sheet.header([t["col.item"], t["col.value"], t["col.unit"], t["col.remark"]])
        sheet.freeze("A3")
        sheet.section(t["section.entity"])
        period_text = local_period(_mapping(lineage.get("period"), "period"), data.timezone)
        names = t["list_sep"].join(p.name for p in data.processes) or t["none_listed"]
        statement = t["boundary_statement"].format(
            name=data.enterprise_name, n=len(data.processes), names=names, sheet=t["sheet.boundary"]
        )
        entity: tuple[tuple[str, _Cell], ...] = (
            ("enterprise_name", data.enterprise_name),
            ("enterprise_code", data.enterprise_code),
            ("credit_code", data.credit_code),
            ("address", data.address),
            ("year", data.year),
            ("period", period_text),
            ("boundary", statement),
        )
        for label, cell in entity:
            sheet.line([t[label], cell])
        sheet.section(t["section.method"])
        method: tuple[tuple[str, _Cell], ...] = (
            ("edition", _text(lineage.get("edition"))),
            ("edition_version", _text(lineage.get("edition_version"))),
            ("library_version", _version(lineage.get("library_version"))),
            ("grid_version", _version(lineage.get("grid_version"))),
            ("result_id", data.result_id),
            ("result_version", data.result_version),
            ("generated_at", data.generated_at.isoformat(timespec="seconds")),
            ("generated_by", data.generated_by),
            ("complete", self.yes_no(self.complete)),
            ("estimated", self.yes_no(self.estimated)),
        )
        for label, cell in method:
            sheet.line([t[label], cell])
        sheet.section(t["section.totals"])
        for term in _TERMS:
            sheet.line([t[f"term.{term}"], self.number(self.totals.get(term), f"totals.{term}", TCO2_FORMAT), "tCO2"])
        sheet.line([t["term.net"], self.number(self.totals.get("net"), "totals.net", TCO2_FORMAT), "tCO2"], bold=True)
        sheet.line(["", "", "", t["net_formula"]])
        sheet.section(t["section.indicators"])
        crude = lineage.get("crude_steel")
        if crude is None:
            sheet.line([t["crude_steel"], t["not_given"]])
        else:
            crude = _mapping(crude, "crude_steel")
            output = _decimal(crude.get("value"), "crude_steel.value")
            sheet.line([t["crude_steel"], output, _text(crude.get("unit")), _text(crude.get("origin"))])
        intensity = lineage.get("intensity")
        if intensity is None:
            sheet.line([t["intensity"], t["not_given"], t["intensity_unit"]])
        else:
            sheet.line([t["intensity"], self.number(intensity, "intensity", INTENSITY_FORMAT), t["intensity_unit"]])
        sheet.line(
            [t["fuel_energy_gj"], self.number(lineage.get("fuel_energy_gj"), "fuel_energy_gj", ENERGY_FORMAT), "GJ"]
        )
        sheet.line(
            [t["fuel_energy_tce"], self.number(lineage.get("fuel_energy_tce"), "fuel_energy_tce", ENERGY_FORMAT), "tce"]
        )
        return sheet

    def boundary(self, sheet: _Sheet) -> _Sheet:
        t = self.t
        sheet.header(
            [
                t["col.process_code"],
                t["col.process_name"],
                t["col.process_type"],
                t["col.site"],
                t["col.facilities"],
                t["col.source_count"],
            ]
        )
        sheet.freeze("A2")
        for process in self.data.processes:
            count = sum(1 for s in self.sources if s.process == process.code)
            sheet.line(
                [
                    process.code,
                    process.name,
                    process.process_type,
                    process.site,
                    t["list_sep"].join(process.facilities),
                    count,
                ]
            )
        return sheet

    def emissions(self, sheet: _Sheet) -> _Sheet:
        t = self.t
        sheet.title(t["title.emissions"].format(name=self.data.enterprise_name, year=self.data.year))
        sheet.freeze("A2")
        sheet.section(t["section.by_category"])
        sheet.header([t["col.category"], t["col.term"], t["col.emission"]])
        by_category = _mapping(self.lineage.get("by_category"), "by_category")
        categories = [c for c in _CATEGORIES if c in by_category] + sorted(set(by_category) - set(_CATEGORIES))
        for code in categories:
            term = _CATEGORY_TERM.get(code)
            sheet.line(
                [
                    self.category(code),
                    t[f"term.{term}"] if term else "",
                    self.number(by_category[code], f"by_category.{code}", TCO2_FORMAT),
                ]
            )
        net = self.number(self.totals.get("net"), "totals.net", TCO2_FORMAT)
        sheet.line([t["term.net"], "", net], bold=True)

        sheet.section(t["section.by_process"])
        sheet.header(
            [t["col.process_code"], t["col.process_name"], *(t[f"term.{term}"] for term in _TERMS), t["col.net"]]
        )
        by_process = _mapping(self.lineage.get("by_process"), "by_process")
        for code, terms in by_process.items():
            terms = _mapping(terms, f"by_process.{code}")
            sheet.line(
                [
                    code,
                    self.process_names.get(code, ""),
                    *(self.number(terms.get(k), f"by_process.{code}.{k}", TCO2_FORMAT) for k in (*_TERMS, "net")),
                ]
            )
        sheet.line(
            [
                t["total"],
                "",
                *(self.number(self.totals.get(k), f"totals.{k}", TCO2_FORMAT) for k in (*_TERMS, "net")),
            ],
            bold=True,
        )

        sheet.section(t["section.by_source"])
        sheet.header(
            [
                t["col.source_id"],
                t["col.source_name"],
                t["col.process"],
                t["col.category"],
                t["col.item_kind"],
                t["col.emission"],
                t["col.energy_gj"],
                t["col.formula"],
                t["col.formula_version"],
                t["col.expression"],
                t["col.complete"],
                t["col.estimated"],
            ]
        )
        for source in self.sources:
            record = source.record
            complete = _flag(record.get("complete"), True)
            estimated = _flag(record.get("estimated"), False)
            sheet.line(
                [
                    source.source_id,
                    source.name,
                    source.process,
                    self.category(source.category),
                    _text(record.get("item")),
                    self.number(record.get("emission"), f"{source.source_id}.emission", TCO2_FORMAT),
                    self.number(record.get("energy_gj"), f"{source.source_id}.energy_gj", ENERGY_FORMAT),
                    _text(record.get("formula_id")),
                    _text(record.get("formula_version")),
                    _text(record.get("expression")),
                    self.yes_no(complete),
                    self.yes_no(estimated),
                ],
                flagged=[c for c, bad in ((11, not complete), (12, estimated)) if bad],
            )
        return sheet

    def activity(self, sheet: _Sheet) -> _Sheet:
        t = self.t
        sheet.header(
            [
                t["col.source_id"],
                t["col.source_name"],
                t["col.process"],
                t["col.category"],
                t["col.item_kind"],
                t["col.input"],
                t["col.value"],
                t["col.unit"],
                t["col.value_used"],
                t["col.unit_used"],
                t["col.origin"],
                t["col.complete"],
                t["col.estimated"],
            ]
        )
        sheet.freeze("C2")
        for source in self.sources:
            for item in source.inputs:
                name = _text(item.get("name"))
                complete = _flag(item.get("complete"), True)
                estimated = _flag(item.get("estimated"), False)
                sheet.line(
                    [
                        source.source_id,
                        source.name,
                        source.process,
                        self.category(source.category),
                        _text(source.record.get("item")),
                        name,
                        _decimal(item.get("value"), f"{source.source_id}.{name}.value"),
                        _text(item.get("unit")),
                        _decimal(item.get("used_value"), f"{source.source_id}.{name}.used_value"),
                        _text(item.get("used_unit")),
                        _text(item.get("origin")),
                        self.yes_no(complete),
                        self.yes_no(estimated),
                    ],
                    flagged=[c for c, bad in ((12, not complete), (13, estimated)) if bad],
                )
        return sheet

    def edition_version(self, parameter: Mapping[str, Any]) -> str:
        return " / ".join(_text(parameter.get(k)) for k in ("edition", "version") if parameter.get(k))

    def factors(self, sheet: _Sheet) -> _Sheet:
        t = self.t
        sheet.header(
            [
                t["col.source_id"],
                t["col.source_name"],
                t["col.parameter"],
                t["col.code"],
                t["col.value"],
                t["col.unit"],
                t["col.value_used"],
                t["col.unit_used"],
                t["col.origin"],
                t["col.overridden"],
                t["col.default_replaced"],
                t["col.edition_version"],
                t["col.confidence"],
                t["col.source_document"],
            ]
        )
        sheet.freeze("C2")
        for source in self.sources:
            for parameter in source.parameters:
                name = _text(parameter.get("name"))
                where = f"{source.source_id}.{name}"
                unverified = parameter.get("confidence") == "unverified"
                sheet.line(
                    [
                        source.source_id,
                        source.name,
                        name,
                        _text(parameter.get("code")),
                        _decimal(parameter.get("value"), f"{where}.value"),
                        _text(parameter.get("unit")),
                        _decimal(parameter.get("used_value"), f"{where}.used_value"),
                        _text(parameter.get("used_unit")),
                        _text(parameter.get("origin")),
                        self.yes_no(_flag(parameter.get("overridden"), False)),
                        _decimal(parameter.get("default_value"), f"{where}.default_value"),
                        self.edition_version(parameter),
                        self.confidence(parameter.get("confidence")),
                        _text(parameter.get("source")),
                    ],
                    flagged=[13] if unverified else [],
                )
        return sheet

    def quality(self, sheet: _Sheet) -> _Sheet:
        t = self.t
        sheet.title(t["title.quality"].format(name=self.data.enterprise_name, year=self.data.year))
        sheet.freeze("A2")

        sheet.section(t["section.overall"])
        sheet.line([t["complete"], self.yes_no(self.complete)], flagged=[] if self.complete else [2])
        sheet.line([t["estimated"], self.yes_no(self.estimated)], flagged=[2] if self.estimated else [])
        if not self.complete:
            sheet.statement(t["quality.incomplete"], warning=True)
        if self.estimated:
            sheet.statement(t["quality.estimated"], warning=True)
        if self.complete and not self.estimated:
            sheet.statement(t["quality.ok"])

        sheet.section(t["section.flagged"])
        flagged: list[list[_Cell]] = []
        for source in self.sources:
            for kind, items in (("input", source.inputs), ("parameter", source.parameters)):
                for item in items:
                    complete, estimated = _flag(item.get("complete"), True), _flag(item.get("estimated"), False)
                    if not complete or estimated:
                        flagged.append(
                            [
                                source.source_id,
                                _text(item.get("name")),
                                t[f"kind.{kind}"],
                                _text(item.get("origin")),
                                self.yes_no(complete),
                                self.yes_no(estimated),
                            ]
                        )
        crude = self.lineage.get("crude_steel")
        if crude is not None:
            crude = _mapping(crude, "crude_steel")
            complete, estimated = _flag(crude.get("complete"), True), _flag(crude.get("estimated"), False)
            if not complete or estimated:
                flagged.append(
                    [
                        "",
                        t["crude_steel"],
                        t["kind.input"],
                        _text(crude.get("origin")),
                        self.yes_no(complete),
                        self.yes_no(estimated),
                    ]
                )
        if flagged:
            sheet.header(
                [
                    t["col.source_id"],
                    t["col.input"],
                    t["col.kind"],
                    t["col.origin"],
                    t["col.complete"],
                    t["col.estimated"],
                ]
            )
            for row in flagged:
                sheet.line(row)
        else:
            sheet.statement(t["quality.none"])

        sheet.section(t["section.notes"])
        raw_notes = self.lineage.get("notes")
        notes = [raw_notes] if isinstance(raw_notes, str) else [_text(note) for note in raw_notes or ()]
        for number, note in enumerate(notes, start=1):
            sheet.line([number, note])
        if not notes:
            sheet.statement(t["quality.none"])

        sheet.section(t["section.unverified"])
        unverified = [(s, p) for s in self.sources for p in s.parameters if p.get("confidence") == "unverified"]
        if unverified:
            sheet.statement(t["quality.unverified"].format(n=len(unverified)), warning=True)
            sheet.header(
                [
                    t["col.source_id"],
                    t["col.parameter"],
                    t["col.code"],
                    t["col.value"],
                    t["col.unit"],
                    t["col.edition_version"],
                    t["col.source_document"],
                ]
            )
            for source, parameter in unverified:
                name = _text(parameter.get("name"))
                sheet.line(
                    [
                        source.source_id,
                        name,
                        _text(parameter.get("code")),
                        _decimal(parameter.get("value"), f"{source.source_id}.{name}.value"),
                        _text(parameter.get("unit")),
                        self.edition_version(parameter),
                        _text(parameter.get("source")),
                    ]
                )
        else:
            sheet.statement(t["quality.no_unverified"])

        sheet.section(t["section.overridden"])
        overridden = [(s, p) for s in self.sources for p in s.parameters if _flag(p.get("overridden"), False)]
        if overridden:
            sheet.statement(t["quality.overridden"].format(n=len(overridden)))
            sheet.header(
                [
                    t["col.source_id"],
                    t["col.parameter"],
                    t["col.code"],
                    t["col.value"],
                    t["col.unit"],
                    t["col.origin"],
                    t["col.default_replaced"],
                ]
            )
            for source, parameter in overridden:
                name = _text(parameter.get("name"))
                where = f"{source.source_id}.{name}"
                sheet.line(
                    [
                        source.source_id,
                        name,
                        _text(parameter.get("code")),
                        _decimal(parameter.get("value"), f"{where}.value"),
                        _text(parameter.get("unit")),
                        _text(parameter.get("origin")),
                        _decimal(parameter.get("default_value"), f"{where}.default_value"),
                    ]
                )
        else:
            sheet.statement(t["quality.no_overridden"])

        sheet.section(t["section.boundary_check"])
        in_result = {s.process for s in self.sources} | set(_mapping(self.lineage.get("by_process"), "by_process"))
        checks = [
            t["quality.outside_boundary"].format(code=code) for code in sorted(in_result - set(self.process_names))
        ]
        checks += [
            t["quality.no_sources"].format(code=p.code, name=p.name)
            for p in self.data.processes
            if p.code not in in_result
        ]
        for check in checks:
            sheet.statement(check, warning=True)
        if not checks:
            sheet.statement(t["quality.boundary_ok"])
        return sheet

    # the supplementary data sheet (补充数据表) of the steel template

    def crude_tonnes(self) -> Decimal | None:
        """Crude steel output in t; None when not given."""
        crude = self.lineage.get("crude_steel")
        if crude is None:
            return None
        crude = _mapping(crude, "crude_steel")
        value = _decimal(crude.get("value"), "crude_steel.value")
        return None if value is None else _in_unit(value, _text(crude.get("unit")), "t", "crude_steel.unit")

    def net_purchased(self, category: str, unit: str) -> tuple[Decimal, Decimal, list[str]]:
        """The net purchased amount (in ``unit``: purchased − exported, as used) and the emission of the sources
        of ``category`` (electricity or heat), with their ids."""
        amounts: list[tuple[int, Decimal]] = []
        emissions: list[tuple[int, Decimal]] = []
        ids: list[str] = []
        for source in self.sources:
            if source.category != category:
                continue
            ids.append(source.source_id)
            given = {_text(item.get("name")): item for item in source.inputs}
            for name, sign in _NET_PURCHASED.items():
                where = f"sources[{source.source_id}].inputs.{name}"
                item = given.get(name, {})
                value = _decimal(item.get("used_value"), f"{where}.used_value")
                if value is None:
                    raise ValueError(f"Lineage {where}.used_value is missing: the net purchased {category} needs it.")
                amounts.append((sign, _in_unit(value, _text(item.get("used_unit")), unit, f"{where}.used_unit")))
            emission = _decimal(source.record.get("emission"), f"sources[{source.source_id}].emission")
            if emission is None:
                raise ValueError(f"Lineage sources[{source.source_id}].emission is missing.")
            emissions.append((1, emission))
        return _exact_sum(amounts), _exact_sum(emissions), ids

    def supplementary(self, sheet: _Sheet) -> _Sheet:
        t, data, lineage = self.t, self.data, self.lineage
        amount, intensity_format = SUPPLEMENTARY_AMOUNT_FORMAT, SUPPLEMENTARY_INTENSITY_FORMAT
        sheet.title(t["title.supplementary"].format(name=data.enterprise_name, year=data.year))
        sheet.header([t["col.item"], t["col.value"], t["col.unit"], t["col.lineage"]])
        sheet.freeze("A3")

        sheet.section(t["section.entity"])
        period = local_period(_mapping(lineage.get("period"), "period"), data.timezone)
        sheet.line([t["enterprise_name"], data.enterprise_name, "", t["src.enterprise"]])
        sheet.line([t["enterprise_code"], data.enterprise_code, "", t["src.enterprise"]])
        sheet.line([t["credit_code"], data.credit_code, "", t["src.enterprise"]])
        sheet.line([t["year"], data.year, "", "year"])
        sheet.line([t["period"], period, "", f"period.start – period.end ({data.timezone})"])

        sheet.section(t["section.output"])
        tonnes = self.crude_tonnes()
        if tonnes is None:
            sheet.line([t["crude_steel"], t["not_given"], "t", "crude_steel"])
        else:
            sheet.line([t["crude_steel"], _Num(tonnes, amount), "t", "crude_steel.value"])

        sheet.section(t["section.by_process_output"])
        sheet.header(
            [
                t["col.process_code"],
                t["col.process_name"],
                t["col.process_net"],
                t["col.process_direct"],
                t["col.output"],
                t["col.process_intensity"],
                t["col.lineage"],
            ]
        )
        names = _mapping(lineage.get("processes"), "processes")
        intensities = _mapping(lineage.get("process_intensity"), "process_intensity")
        for code, terms in _mapping(lineage.get("by_process"), "by_process").items():
            where = f"by_process.{code}"
            terms = _mapping(terms, where)
            net = _decimal(terms.get("net"), f"{where}.net")
            intensity = _decimal(intensities.get(code), f"process_intensity.{code}")
            # The lineage keeps a process's intensity (net ÷ output), not its output: the output is read back.
            output = _quotient(net, intensity) if net is not None and intensity else None
            fields = [where]
            fields += [f"process_intensity.{code}"] if intensity is not None else []
            fields += ["output = net ÷ intensity"] if output is not None else []
            sheet.line(
                [
                    code or t["enterprise_level"],
                    _text(names.get(code)) or self.process_names.get(code, ""),
                    _Num(net, amount),
                    _Num(direct_scope(terms, where=where), amount),
                    _Num(output, amount),
                    _Num(intensity, intensity_format),
                    "; ".join(fields),
                ]
            )

        sheet.section(t["section.covered"])
        direct = direct_scope(self.totals)
        for term in DIRECT_SCOPE_TERMS:
            name = t.get(f"covered.{term}") or t[f"term.{term}"]
            sheet.line([name, self.number(self.totals.get(term), f"totals.{term}", amount), "tCO2", f"totals.{term}"])
        formula = " ".join(
            f"{'−' if sign < 0 else '+'} totals.{term}" for term, sign in DIRECT_SCOPE_TERMS.items()
        ).removeprefix("+ ")
        sheet.line([t["covered.total"], _Num(direct, amount), "tCO2", formula], bold=True)
        if tonnes is None or tonnes <= 0:
            sheet.line([t["covered.intensity"], t["not_given"], t["intensity_unit"], "crude_steel"])
        else:
            covered_intensity = _Num(_quotient(direct, tonnes), intensity_format)
            sheet.line(
                [t["covered.intensity"], covered_intensity, t["intensity_unit"], f"({formula}) ÷ crude_steel.value"]
            )
        sheet.line([t["gbt.net"], self.number(self.totals.get("net"), "totals.net", amount), "tCO2", "totals.net"])
        intensity = lineage.get("intensity")
        if intensity is None:
            sheet.line([t["gbt.intensity"], t["not_given"], t["intensity_unit"], "intensity"])
        else:
            gbt_intensity = self.number(intensity, "intensity", intensity_format)
            sheet.line([t["gbt.intensity"], gbt_intensity, t["intensity_unit"], "intensity"])
        sheet.statement(t["covered.formula"])

        sheet.section(t["section.indirect"])
        for category, unit in (("electricity", "MWh"), ("heat", "GJ")):
            net_amount, emission, ids = self.net_purchased(category, unit)
            chosen = f"sources[{', '.join(ids)}]" if ids else f"sources[category={category}]: none"
            inputs = f"{chosen}.inputs: purchased − exported" if ids else chosen
            sheet.line([t[f"indirect.{category}_amount"], _Num(net_amount, amount), unit, inputs])
            emitted = f"{chosen}.emission" if ids else chosen
            sheet.line([t[f"indirect.{category}_emission"], _Num(emission, amount), "tCO2", emitted])
        return sheet


def build_annual_report(data: AnnualReportData) -> bytes:
    """The annual emission report of ``data`` as the bytes of an .xlsx workbook (:data:`REPORT_CONTENT_TYPE`).

    Raises ValueError when the lineage is malformed (a number that is not a decimal, a list that is not a list)
    or is for another year than ``data.year``.
    """
    report = _Report(data)
    workbook = Workbook()
    report.build(workbook)
    stamp = data.generated_at.astimezone(UTC)
    properties = workbook.properties
    properties.creator = data.generated_by
    properties.lastModifiedBy = data.generated_by
    properties.title = report.t["doc.title"].format(name=data.enterprise_name, year=data.year)
    properties.language = _DOC_LANGUAGE[data.language]
    properties.created = stamp.replace(tzinfo=None)  # openpyxl writes naive datetimes as UTC
    properties.modified = stamp.replace(tzinfo=None)
    return _save(workbook, stamp)


def _save(workbook: Any, stamp: datetime) -> bytes:
    """Write ``workbook`` with every zip entry dated ``stamp`` (workbook.save() would stamp the clock's time)."""
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(workbook, archive).save()
    date_time = max(stamp, datetime(1980, 1, 1, tzinfo=UTC)).timetuple()[:6]  # zip dates start in 1980
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            target.writestr(entry, source.read(info.filename))
    return out.getvalue()
