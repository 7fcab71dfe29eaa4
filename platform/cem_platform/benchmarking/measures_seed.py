"""Version 1 of the shared measures library: typical reduction measures of a steel works, each with its source and how
far it was checked.

Effects are per tonne of the process's own product (``per_tonne``: tCO2/t and kgce/t saved) or a fraction of the
process's emissions or energy (``fraction``); see :mod:`cem_platform.benchmarking.measures`. Energy recovered as
electricity is counted at the equivalent value (0.1229 kgce per kWh, GB/T 2589), as the process energy is. No cost is
seeded: the sources give costs of single Japanese or US plants in yen or dollars of their year, which do not carry to a
Chinese works; an enterprise enters its own costs (or a copy of a measure with them) in its own measures library, and
a measure without cost shows its abatement with no cost on the MAC curve.

``confidence`` is ``confirmed`` when a second public source gives the same value (named in ``checked``) and
``unverified`` otherwise; ``checked`` says what was compared (searched 2026-12-08). Higher pulverised-coal injection is
not seeded: no source giving its CO2 or energy effect per tonne of hot metal was found while seeding.
"""

from __future__ import annotations

from typing import Any

__all__ = ["MEASURES_SEED"]

_EQUIVALENT = "electricity at the equivalent value 0.1229 kgce/kWh (GB/T 2589)"


def _measure(
    code: str,
    name: str,
    name_en: str,
    process_types: list[str],
    effect: str,
    *,
    co2: str | None,
    energy: str | None,
    lifetime_years: int,
    source: str,
    checked: str,
    confidence: str = "unverified",
    note: str = "",
) -> dict[str, Any]:
    per_tonne = effect == "per_tonne"
    entry: dict[str, Any] = {
        "code": code,
        "name": name,
        "name_en": name_en,
        "process_types": process_types,
        "effect": effect,
        "co2": co2,
        "co2_unit": "tCO2/t" if per_tonne else "1",
        "energy": energy,
        "energy_unit": "kgce/t" if per_tonne else "1",
        "capex": None,
        "capex_unit": "CNY/(t/a)",
        "opex": None,
        "opex_unit": "CNY/t",
        "lifetime_years": lifetime_years,
        "source": source,
        "source_en": "",
        "confidence": confidence,
        "checked": checked,
    }
    if note:
        entry["note"] = note
    return entry


MEASURES_SEED: list[dict[str, Any]] = [
    _measure(
        "bf.top-gas-recycling",
        "高炉炉顶煤气循环",
        "blast furnace top-gas recycling (with CO2 removal and storage)",
        ["ironmaking"],
        "fraction",
        co2="0.5",
        energy=None,
        lifetime_years=20,
        source="ULCOS, Pilot testing of the low-CO2 blast furnace process at the experimental BF in Luleå: aim 50 % "
        "less blast furnace CO2 (top gas recycled after CO2 removal, oxygen blast, CO2 stored)",
        checked="One source; the trial reached up to 76 % with storage, the aim is 50 %. Not seen in a second source. "
        "Without CO2 storage the effect is much smaller: set the enterprise's own value.",
        note="Includes CO2 capture and storage; a demonstration technique, not in industrial use.",
    ),
    _measure(
        "bf.hydrogen-injection",
        "高炉富氢喷吹",
        "hydrogen-rich gas injection into the blast furnace",
        ["ironmaking"],
        "fraction",
        co2="0.22",
        energy=None,
        lifetime_years=20,
        source="Nippon Steel Super COURSE50 trials on a test blast furnace, reported by Steel Times International "
        "(22 % less CO2 in August, 33 % in a later month-long trial)",
        checked="The 33 % trial result is also reported by SteelOrbis; the 22 % seeded (the lower, earlier result) is "
        "in one report only. Test-furnace results: an industrial furnace's effect is expected to be lower.",
    ),
    _measure(
        "bof.scrap-plus-10",
        "转炉提高废钢比 10 个百分点",
        "BOF scrap ratio up by 10 percentage points",
        ["bof_steelmaking"],
        "per_tonne",
        co2="0.15",
        energy=None,
        lifetime_years=10,
        source="worldsteel, as reported by ScrapMonster (2024): about 650 Mt of end-of-life scrap a year avoid about "
        "975 Mt of CO2, i.e. 1.5 tCO2 per t of scrap; x 0.1 t more scrap per t of crude steel",
        checked="Order of magnitude confirmed: ArcelorMittal reports 31 Mt of scrap recycled in 2014 avoiding some "
        "40 Mt CO2 (1.29 t per t). The two differ; the saving falls mostly upstream (less hot metal), not in the BOF.",
        note="The BOF's own process energy rises with scrap (GB 21256 corrects its limit by 0.23 kgce/t per % of "
        "scrap): no energy saving is counted here.",
    ),
    _measure(
        "coking.cdq",
        "干熄焦",
        "coke dry quenching (CDQ)",
        ["coking"],
        "per_tonne",
        co2="0.11",
        energy=None,
        lifetime_years=20,
        source="Tata Steel, Kalinganagar CDQ (2017): 0.11-0.14 t CO2 less per t of coke; the lower value seeded",
        checked="One source (the company's statement, reprinted by several newspapers); the IIP Industrial Efficiency "
        "Technology Database describes the technique without a figure. Not confirmed.",
    ),
    _measure(
        "ironmaking.trt",
        "高炉煤气余压透平发电 (TRT)",
        "blast furnace top-pressure recovery turbine (TRT)",
        ["ironmaking"],
        "per_tonne",
        co2="0.045",
        energy="6.145",
        lifetime_years=20,
        source="Japan Iron and Steel Federation via the UN Climate Technology Centre (CTCN), Top Pressure Recovery "
        f"Turbine: 50 kWh and 45.0 kg CO2 per t of pig iron; energy as 50 kWh x 0.1229 kgce/kWh ({_EQUIVALENT})",
        checked="Not confirmed: the IIP Industrial Efficiency Technology Database (after IEA 2007) gives 15-40 kWh per "
        "t of hot metal, below the 50 kWh seeded; dry dust removal gives up to 1.6 times the wet output.",
    ),
    _measure(
        "sintering.waste-heat",
        "烧结余热回收",
        "sinter cooler waste-heat recovery (steam)",
        ["sintering"],
        "per_tonne",
        co2="0.0239",
        energy="8.564",
        lifetime_years=15,
        source="Japan Iron and Steel Federation via the UN Climate Technology Centre (CTCN), Sinter Plant Heat "
        "Recovery: 0.251 GJ and 23.9 kg CO2 per t of sinter; energy 0.251 GJ / 29.3076 GJ per tce = 8.564 kgce/t",
        checked="Energy confirmed: the IIP Industrial Efficiency Technology Database reports 0.25 GJ of steam per t "
        "of sinter in Japanese plants (NEDO 2008). The CO2 figure is in one source only.",
        confidence="confirmed",
        note="JISF's investment for 1 Mt/a of sinter: JPY 3,000 million equipment and 500 million construction (not "
        "seeded as a cost: yen of its year).",
    ),
    _measure(
        "enterprise.green-power",
        "购买绿电",
        "green electricity purchase",
        [
            "coking",
            "sintering",
            "pelletising",
            "ironmaking",
            "bof_steelmaking",
            "eaf_steelmaking",
            "casting",
            "hot_rolling",
            "cold_rolling",
            "lime_kiln",
            "auxiliary",
        ],
        "fraction",
        co2="1",
        energy=None,
        lifetime_years=1,
        source="Definition: purchased electricity covered by green power certificates is counted at zero emissions, "
        "so it removes the CO2 of the electricity it replaces",
        checked="Definitional, no value to check. Set the adoption to the share of the process's CO2 that the "
        "replaced purchased electricity causes (electricity CO2 / process CO2 x the share bought green).",
        note="The premium paid (CNY per MWh) is the enterprise's own: enter it as opex in its own library.",
    ),
]
