"""Accounting codes by name and amounts rounded by unit, in both languages (cem_clients.ui.accounting_text)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest

from cem_clients.ui import accounting_text as acc
from cem_clients.ui.i18n import Translator
from cem_platform.accounting import inventory
from cem_platform.accounting.library import EDITIONS, GRID_FACTORS, SourceCategory

ZH, EN = Translator("zh-CN"), Translator("en")
RAW = re.compile(r"[a-z]+_[a-z_]+|\b[a-z]+\.[a-z_]+\.[a-z_]+\b|10\^4|\bv\d+\b")  # codes, not words


@pytest.mark.parametrize("tr", [ZH, EN], ids=["zh", "en"])
def test_every_seeded_parameter_item_and_input_has_a_name(tr: Translator) -> None:
    codes = {code for edition in EDITIONS.values() for code in edition.parameters} | {g.code for g in GRID_FACTORS}
    for code in codes:
        name = acc.parameter_name(tr, code)
        assert name != code and not RAW.search(name), (code, name)
    for category in [*(c.value for c in SourceCategory), inventory.OUTPUT]:
        assert acc.category_name(tr, category) != category
        for item in inventory.known_items(category):
            assert acc.item_name(tr, item) != item, item
        for name in inventory.activity_inputs(category):
            assert acc.input_name(tr, name, category) != name, name
    for parameter in ("NCV", "CC", "OF", "EF"):
        assert acc.input_name(tr, parameter) != parameter


def test_names_read_as_people_say_them() -> None:
    assert acc.parameter_name(ZH, "fuel.coke.ncv") == "焦炭 低位发热量"
    assert acc.parameter_name(EN, "fuel.coke.ncv") == "Coke net calorific value"
    assert acc.parameter_name(ZH, "fixed.crude_steel.ef") == "粗钢 固碳排放因子"
    assert acc.parameter_name(ZH, "grid.official_average.north.2022") == "华北电网 官方平均值 2022"
    assert acc.parameter_name(EN, "grid.ets_prescribed.national.2023-2024") == "National grid, ETS prescribed 2023–2024"
    assert acc.parameter_name(ZH, "fuel.petroleum_coke.ncv") == "fuel.petroleum_coke.ncv"  # added online: its code
    assert acc.item_name(ZH, "washed_coal") == "洗精煤" and acc.item_name(EN, "crude_steel") == "Crude steel"
    assert acc.item_name(ZH, "") == "—"
    assert acc.input_name(ZH, "FC") == "消耗量" and acc.input_name(EN, "purchased") == "Purchased"
    assert acc.input_name(ZH, "AD", "output") == "产量" and acc.input_name(ZH, "AD", "flux") == "活动量"
    assert acc.unit_label(ZH, "10^4 Nm3") == "万Nm3" and acc.unit_label(ZH, "GJ/10^4 Nm3") == "GJ/万Nm3"
    assert acc.unit_label(EN, "10^4 Nm3") == "10k Nm3" and acc.unit_label(ZH, "t_steam") == "t蒸汽"
    assert acc.unit_label(EN, "10^3 Nm3") == "kNm3" and acc.unit_label(ZH, "10^4 tCO2") == "万tCO2"
    assert acc.unit_label(EN, "tCO2/MWh") == "tCO2/MWh"
    assert acc.library_name(ZH, "grid-factors") == "电网排放因子"
    assert acc.formula_name(ZH, "combustion.fuel.mass") == "燃料燃烧（按质量）"


def test_platform_texts_in_words() -> None:
    assert acc.reason_text(ZH, "provisional: period still running") == "期间未结束，暂估结果"
    assert acc.reason_text(EN, "calculated") == "Calculated"
    # the refresh job's reason: what changed, in words
    assert acc.reason_text(ZH, "inputs changed (activity, library)") == "输入变化后重算（活动数据、因子库变更）"
    assert acc.reason_text(EN, "inputs changed (meter)") == "Recalculated after input changes (meter data)"
    assert acc.reason_text(ZH, "Seeded defaults: GB/T 32151.5-2015 with ... (2013-guideline-defaults).") == (
        "初始缺省值（随系统提供）"
    )
    both = "默认值来源改为引用标准。 / Provenance cites the standard."
    assert acc.reason_text(ZH, both) == "默认值来源改为引用标准。"
    assert acc.reason_text(EN, both) == "Provenance cites the standard."
    assert acc.reason_text(ZH, "MEE notice 2026 No. 3") == "MEE notice 2026 No. 3"  # a person's words stay
    assert acc.author_text(ZH, "system (seed)") == "系统（初始数据）"
    assert acc.version_text(ZH, "library v2") == "第 2 版" and acc.version_text(EN, "library v2") == "version 2"
    assert acc.origin_text(ZH, "COKE.FC: manual#3,import#7 (prorated by time)") == (
        "COKE · 消耗量：手工录入 #3、台账导入 #7（按时间折算）"
    )
    assert acc.origin_text(ZH, "default:GB/T 32151.5-2015 library v1") == "默认值（GB/T 32151.5-2015 第 1 版）"
    assert acc.origin_text(EN, "grid:ets_prescribed provisional for 2026: newest published") == (
        "Grid factor (ETS prescribed), newest published used for now"
    )
    assert acc.origin_text(ZH, "lab report 2024-05") == "lab report 2024-05"
    note = "COKE: default fuel.coke.of = 93 is unverified — 待核实：…"
    assert acc.note_text(ZH, note) == "COKE：缺省值 焦炭 碳氧化率 = 93 待核实。出处：待核实：…"
    assert acc.note_text(ZH, "No crude steel output for the period (none in the inventory, or none recorded): no "
                         "intensity.").startswith("本期没有粗钢产量")  # fmt: skip
    assert acc.note_text(EN, "COKE: activity data FC is incomplete for the period — COKE.FC: manual#1.") == (
        'COKE: activity data "Consumption" is incomplete for the period (COKE · Consumption: Manual entry #1)'
    )


def test_amounts_are_rounded_for_their_unit() -> None:
    exact = Decimal("1981845.1825000000000000000000")  # as the API may send it: 28 digits
    assert acc.amount(ZH, exact, "tCO2") == "1,981,845.18"
    assert acc.amount(ZH, Decimal("286.1600"), "tCO2", fixed=True) == "286.16"
    assert acc.amount(ZH, Decimal("2.005"), "tce") == "2.01"  # half up, as Chinese reports round
    assert acc.amount(ZH, Decimal("1234.5678901234567890123456789"), "t") == "1,234.568"
    assert acc.amount(ZH, Decimal("1000"), "t") == "1,000"  # what was typed keeps its look
    assert acc.amount(ZH, Decimal("1000"), "t", fixed=True) == "1,000.000"
    assert acc.amount(ZH, Decimal("0.28616300"), "tCO2/t") == "0.2862"
    assert acc.amount(EN, Decimal("2000"), "10^4 Nm3", with_unit=True) == "2,000 10k Nm3"
    assert acc.amount(ZH, Decimal("2000.25"), "10^4 Nm3", with_unit=True) == "2,000.25 万Nm3"
    assert acc.amount(ZH, Decimal("12.345"), "CNY") == "12.35"
    assert acc.amount(ZH, None, "t") == "—"
    assert acc.amount(ZH, Decimal("-0.0001"), "tCO2") == "0"
