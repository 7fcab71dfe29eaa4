"""Version 1 of the national reference library: limits, benchmarks and carbon references, each with its source and
how far it was checked.

``confidence`` uses the factor library's scale (:class:`cem_platform.accounting.library.Confidence`): ``confirmed``
when the value itself was read in a second public source while seeding (named in ``checked``), ``unverified`` when
only the project's domain notes give it. ``checked`` says in words what was and was not compared. Values are in the
indicator's unit: process energy per tonne of product in kgce/t (electricity at its equivalent value), CO2 per tonne
in tCO2/t.
"""

from __future__ import annotations

from typing import Any

__all__ = ["NATIONAL_SEED"]

_GB21256 = "GB 21256-2025《粗钢生产主要工序单位产品能源消耗限额》, 能耗限额等级表 (1级/2级/3级)"
_GB21256_EN = "GB 21256-2025 Norm of energy consumption per unit product of major processes of crude steel, grade table"
_GB21256_CHECKED = (
    "Values not found in a second public source while seeding (searched 2026-12-07); only the 2013 edition's "
    "scope (sintering, pelletising, blast furnace, BOF; EAF dropped in 2013) was seen. "
    "Confirm against the published standard."
)
_GB21342 = "GB 21342-2025《焦炭单位产品能源消耗限额》, 能耗限额等级"
_GB21342_EN = "GB 21342-2025 Norm of energy consumption per unit production of coke, grades"
_GB21342_CHECKED = (
    "Edition confirmed (published 2025-04-25, in force 2026-05-01, replaces GB 21342-2013; it adds corrections for "
    "fuel, raw-material and process conditions): national standards catalogue page. The level values were not seen "
    "there; confirm them against the standard."
)
_NATIONAL = "《高耗能行业重点领域能效标杆水平和基准水平》(2021年版, 2023年版), 钢铁、焦化"
_NATIONAL_EN = (
    "NDRC et al., energy-efficiency benchmark and baseline levels of energy-intensive industries (2021, 2023)"
)
_NATIONAL_CHECKED = (
    "Not found in a second public source while seeding (searched 2026-12-07); confirm against the notice."
)
_ETS = "EU ETS product benchmarks 2021–2025, Commission Implementing Regulation (EU) 2021/447"
_ETS_CHECKED = (
    "Confirmed 2026-12-07: Kallanish via eurometal.net gives the 2021–25 values coke 0.217, agglomerated (sintered) "
    "ore 0.157, hot metal 1.288, EAF carbon steel 0.215 allowances per tonne; the Commission's benchmark update of "
    "15 June 2021 lists the same products. Allowances per tonne of product: an indication, not the national method."
)
_WORLDSTEEL_CHECKED_ROUTE = (
    "Not found in a second public source while seeding (searched 2026-12-07): worldsteel publishes route intensities "
    "since its 2022 indicators, but the route values were not seen. Confirm against the worldsteel report."
)
_WORLDSTEEL_CHECKED_GLOBAL = (
    "Confirmed 2026-12-07: worldsteel.org, Sustainability indicators, CO2 emissions intensity 1.85 (2019), "
    "1.89 (2020), 1.91 (2021) t CO2 per t crude steel cast."
)


def _levels(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def _grades(one: str, two: str | None, three: str) -> list[dict[str, str]]:
    pairs = [("1", one), *([("2", two)] if two is not None else []), ("3", three)]
    return _levels(*pairs)


def _ores(rare_earth: str, vti: str, laterite: str) -> list[dict[str, Any]]:
    """The ore corrections of sintering, pelletising and the blast furnace: per % of the ore in the burden, zero when
    the process uses none (an ore not entered is taken as not used, as the entry says)."""
    return [
        {"input": "rare_earth_ore", "coefficient": rare_earth, "when_missing": "zero"},
        {"input": "vti_magnetite", "coefficient": vti, "when_missing": "zero"},
        {"input": "laterite_nickel_ore", "coefficient": laterite, "when_missing": "zero"},
    ]


def _entry(code: str, kind: str, process_type: str | None, indicator: str, **fields: Any) -> dict[str, Any]:
    unit = {"process_energy": "kgce/t", "co2_intensity": "tCO2/t"}[indicator]
    return {
        "code": code,
        "kind": kind,
        "process_type": process_type,
        "process_code": None,
        "indicator": indicator,
        "unit": unit,
        "name": fields.pop("name"),
        "name_en": fields.pop("name_en"),
        "levels": fields.pop("levels"),
        "limit_level": fields.pop("limit_level", None),
        "corrections": fields.pop("corrections", []),
        "condition": fields.pop("condition", None),
        "year": None,
        "source": fields.pop("source"),
        "source_en": fields.pop("source_en", ""),
        "edition": fields.pop("edition"),
        "valid_from": fields.pop("valid_from", None),
        "valid_until": fields.pop("valid_until", None),
        "confidence": fields.pop("confidence"),
        "checked": fields.pop("checked"),
        **fields,
    }


def _gb21256(code: str, process_type: str, name: str, name_en: str, **fields: Any) -> dict[str, Any]:
    return _entry(
        f"gb21256-2025.{code}", "limit", process_type, "process_energy", name=f"{name}工序能耗 (GB 21256-2025)",
        name_en=f"{name_en} process energy (GB 21256-2025)", limit_level="3", source=_GB21256, source_en=_GB21256_EN,
        edition="GB 21256-2025", confidence="unverified", checked=_GB21256_CHECKED, **fields,
    )  # fmt: skip


_EAF_NOTE = {
    "note": "全废钢冶炼普通碳素钢为基准; 不锈钢 ×1.10 未在此建模 / all-scrap plain carbon steel basis; the ×1.10 of "
    "stainless steel is not modelled here"
}
_BOF_NOTE = "高等级钢种的 +0.8/1.2/1.5 未在此建模 / the +0.8/1.2/1.5 of higher steel grades is not modelled here"
_EAF_HOT_METAL = [{"input": "hot_metal_ratio", "coefficient": "-0.8", "when_missing": "required"}]

NATIONAL_SEED: list[dict[str, Any]] = [
    _gb21256("sintering", "sintering", "烧结", "Sintering", levels=_grades("43", "46", "52"),
             corrections=_ores("0.15", "0.2", "1.2")),
    _gb21256("pelletising", "pelletising", "球团", "Pelletising", levels=_grades("15", "22", "33"),
             corrections=_ores("0.15", "0.2", "1.2")),
    _gb21256("blast_furnace", "ironmaking", "高炉", "Blast furnace", levels=_grades("361", "370", "415"),
             corrections=[*_ores("0.3", "0.45", "0.5"),
                          {"input": "feed_grade", "coefficient": "3.61", "below": "62", "max_points": "5",
                           "when_missing": "required"}]),
    _gb21256("bof", "bof_steelmaking", "转炉", "BOF", levels=_grades("-30", "-28", "-12"),
             corrections=[{"input": "scrap_ratio", "coefficient": "0.23", "when_missing": "required"}],
             note=_BOF_NOTE),
    _gb21256("eaf_lt50", "eaf_steelmaking", "电炉 (<50 t)", "EAF (< 50 t)", levels=_grades("61", None, "86"),
             corrections=_EAF_HOT_METAL, condition={"input": "eaf_capacity", "max": "50"}, **_EAF_NOTE),
    _gb21256("eaf_50_70", "eaf_steelmaking", "电炉 (50–70 t)", "EAF (50–70 t)", levels=_grades("61", None, "72"),
             corrections=_EAF_HOT_METAL, condition={"input": "eaf_capacity", "min": "50", "max": "70"}, **_EAF_NOTE),
    _gb21256("eaf_ge70", "eaf_steelmaking", "电炉 (≥70 t)", "EAF (≥ 70 t)", levels=_grades("61", "64", "72"),
             corrections=_EAF_HOT_METAL, condition={"input": "eaf_capacity", "min": "70"}, **_EAF_NOTE),
    _entry("gb21342-2025.top_charged", "limit", "coking", "process_energy", name="顶装焦炉 (GB 21342-2025)",
           name_en="Top-charged coke ovens (GB 21342-2025)", levels=_grades("110", "110", "135"), limit_level="3",
           condition={"input": "stamp_charged", "max": "1"}, source=_GB21342, source_en=_GB21342_EN,
           edition="GB 21342-2025", valid_from="2026-05-01", confidence="unverified", checked=_GB21342_CHECKED),
    _entry("gb21342-2025.stamp_charged", "limit", "coking", "process_energy", name="捣固焦炉 (GB 21342-2025)",
           name_en="Stamp-charged coke ovens (GB 21342-2025)", levels=_grades("115", "115", "140"), limit_level="3",
           condition={"input": "stamp_charged", "min": "1"}, source=_GB21342, source_en=_GB21342_EN,
           edition="GB 21342-2025", valid_from="2026-05-01", confidence="unverified", checked=_GB21342_CHECKED),
    *[
        _entry(f"national-efficiency.{code}", "benchmark", process_type, "process_energy",
               name=f"{name}能效标杆/基准水平", name_en=f"{name_en} efficiency benchmark / baseline",
               levels=_levels(("benchmark", top), ("baseline", base)), condition=condition, source=_NATIONAL,
               source_en=_NATIONAL_EN, edition="2021/2023", confidence="unverified", checked=_NATIONAL_CHECKED)
        for code, process_type, name, name_en, top, base, condition in (
            ("coking_top", "coking", "焦化 (顶装)", "Coking (top-charged)", "110", "135",
             {"input": "stamp_charged", "max": "1"}),
            ("coking_stamp", "coking", "焦化 (捣固)", "Coking (stamp-charged)", "110", "140",
             {"input": "stamp_charged", "min": "1"}),
            ("sintering", "sintering", "烧结", "Sintering", "45", "55", None),
            ("pelletising", "pelletising", "球团", "Pelletising", "15", "24", None),
            ("blast_furnace", "ironmaking", "高炉", "Blast furnace", "361", "435", None),
            ("bof", "bof_steelmaking", "转炉", "BOF", "-30", "-10", None),
            ("eaf_30_50", "eaf_steelmaking", "电炉 (30–50 t)", "EAF (30–50 t)", "67", "86",
             {"input": "eaf_capacity", "min": "30", "max": "50"}),
            ("eaf_ge50", "eaf_steelmaking", "电炉 (≥50 t)", "EAF (≥ 50 t)", "61.8", "72.6",
             {"input": "eaf_capacity", "min": "50"}),
        )
    ],
    *[
        _entry(f"eu-ets-2021.{code}", "benchmark", process_type, "co2_intensity", name=f"EU ETS 产品基准: {name}",
               name_en=f"EU ETS product benchmark: {name_en}", levels=_levels(("benchmark", value)), source=_ETS,
               source_en=_ETS, edition="2021–2025", valid_from="2021-01-01", valid_until="2025-12-31",
               confidence="confirmed", checked=_ETS_CHECKED)
        for code, process_type, name, name_en, value in (
            ("hot_metal", "ironmaking", "铁水", "hot metal", "1.288"),
            ("sinter", "sintering", "烧结矿", "sintered ore", "0.157"),
            ("coke", "coking", "焦炭", "coke", "0.217"),
            ("eaf_carbon_steel", "eaf_steelmaking", "电炉碳钢", "EAF carbon steel", "0.215"),
        )
    ],
    *[
        _entry(f"worldsteel.{code}", "benchmark", None, "co2_intensity", name=f"worldsteel: {name}",
               name_en=f"worldsteel: {name_en}", levels=_levels(("average", value)), source=source, source_en=source,
               edition=edition, confidence=confidence, checked=checked)
        for code, name, name_en, value, source, edition, confidence, checked in (
            ("global_2021", "全球平均 (2021)", "global average (2021)", "1.91",
             "worldsteel Sustainability Indicators, CO2 emissions intensity, t CO2/t crude steel cast", "2022",
             "confirmed", _WORLDSTEEL_CHECKED_GLOBAL),
            ("bf_bof", "高炉-转炉长流程平均", "BF-BOF route average", "2.3",
             "worldsteel CO2 intensity by route (BF-BOF)", "2022+", "unverified", _WORLDSTEEL_CHECKED_ROUTE),
            ("dri_eaf", "直接还原-电炉平均", "DRI-EAF route average", "1.47",
             "worldsteel CO2 intensity by route (DRI-EAF)", "2022+", "unverified", _WORLDSTEEL_CHECKED_ROUTE),
            ("scrap_eaf", "废钢-电炉平均", "scrap-EAF route average", "0.69",
             "worldsteel CO2 intensity by route (scrap-EAF)", "2022+", "unverified", _WORLDSTEEL_CHECKED_ROUTE),
        )
    ],
]  # fmt: skip
