"""Accounting's codes as people name them, and amounts rounded for display by their unit.

The platform speaks in codes (``fuel.coke.ncv``, ``washed_coal``, ``FC``, ``10^4 Nm3``, ``purchased``) and exact
decimals (up to 28 significant digits). The screens show names from the string tables (``acc.*`` keys of
:mod:`cem_clients.ui.i18n`) and amounts rounded half up for their unit; a code the tables do not know is shown as it
is, so a parameter an accountant added (``fuel.petroleum_coke.ncv``) still reads as its code rather than vanishing.
The platform's own texts that carry codes (a lineage's origin ``COKE.FC: manual#3``, ``default:<edition> library
v2``, a result's reason ``calculated``) are rewritten where their form is known and shown unchanged otherwise.
"""

from __future__ import annotations

import re

from cem_clients.ui.i18n import STRINGS, Locale, Number, Translator, format_decimal, to_decimal

__all__ = [
    "amount",
    "amount_decimals",
    "author_text",
    "category_name",
    "formula_name",
    "input_name",
    "item_name",
    "library_name",
    "note_text",
    "origin_text",
    "parameter_name",
    "reason_text",
    "unit_label",
    "version_text",
]

# Places an amount keeps on screen, by unit (checked in this order; the first unit that matches wins): emissions
# and energy to 0.01, money to 0.01, masses and volumes to 0.001 of their unit (a kilogram of a tonne), ratios
# as the library gives them.
_DECIMALS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"^(10\^4 )?k?g?tCO2$|^kgCO2$"), 2),
    (re.compile(r"^(10\^4 )?k?g?ce$|^tce$"), 2),
    (re.compile(r"^(CNY|RMB|元|万元|EUR|USD)$"), 2),
    (re.compile(r"^(GJ|MJ|TJ|MWh|GWh|kWh|10\^4 kWh)$"), 2),
    (re.compile(r"^(t|kg|kt|10\^4 t|t_steam|tC)$"), 3),
    (re.compile(r"^(Nm3|10\^3 Nm3|10\^4 Nm3)$"), 3),
    (re.compile(r"^%$"), 2),
)
_INTENSITY_DECIMALS = 4  # tCO2 per t and other ratios of amounts


def amount_decimals(unit: str) -> int:
    """How many places an amount in ``unit`` is shown with (ratios such as tCO2/t: 4)."""
    key = unit.strip()
    for pattern, places in _DECIMALS:
        if pattern.match(key):
            return places
    return _INTENSITY_DECIMALS if "/" in key else 3


def amount(tr: Translator, value: Number | None, unit: str, *, fixed: bool = False, with_unit: bool = False) -> str:
    """``value`` rounded for ``unit`` (half up, thousand separators): ``1,234.57`` for tCO2; "—" for None.

    Without ``fixed`` trailing zeros go (a typed 1000 t stays ``1,000``, a meter's 1234.56789 t is ``1,234.568``);
    with it every value has the unit's places (columns of emissions line up). ``with_unit`` appends the unit's
    label.
    """
    if value is None:
        return "—"
    number = to_decimal(value)
    places = amount_decimals(unit)
    shown = format_decimal(number, places)
    if not fixed and "." in shown:
        shown = shown.rstrip("0").rstrip(".")
        if shown in ("-0", ""):
            shown = "0"
    return f"{shown} {unit_label(tr, unit)}".strip() if with_unit else shown


def _known(tr: Translator, key: str) -> str | None:
    table = STRINGS[tr.locale]
    text = table.get(key)
    if text is None and tr.locale is not Locale.ZH_CN:
        text = STRINGS[Locale.ZH_CN].get(key)
    return text


_UNIT_PARTS = re.compile(r"10\^([34]) (\w+)|t_steam")


def unit_label(tr: Translator, unit: str) -> str:
    """A unit as people write it: ``10^4 Nm3`` -> ``万Nm3`` / ``10k Nm3``, ``t_steam`` -> ``t蒸汽`` / ``t steam``,
    also inside compound units (``GJ/10^4 Nm3``); other units as they are."""

    def part(match: re.Match[str]) -> str:
        if match.group(0) == "t_steam":
            return tr.t("acc.unit.t_steam")
        key = "acc.unit.ten_thousand" if match.group(1) == "4" else "acc.unit.thousand"
        return tr.t(key, unit=match.group(2))

    return _UNIT_PARTS.sub(part, unit)


def category_name(tr: Translator, category: str) -> str:
    """A source category (``fuel_combustion``, ``output``) by name; an unknown one as it is."""
    return _known(tr, f"console.category.{category}") or category


def item_name(tr: Translator, item: str) -> str:
    """A fuel, material or product (``washed_coal``, ``crude_steel``) by name; "—" for none, unknown ones as they
    are."""
    if not item:
        return "—"
    return _known(tr, f"acc.item.{item}") or item


def input_name(tr: Translator, name: str, category: str = "") -> str:
    """An activity input or formula parameter (``FC``, ``AD``, ``purchased``, ``NCV``) by name; an output's ``AD``
    is its production."""
    if category == "output" and name == "AD":
        return _known(tr, "acc.input.output") or name
    return _known(tr, f"acc.input.{name}") or name


def library_name(tr: Translator, library: str) -> str:
    """A library (edition code or ``grid-factors``) by name."""
    return _known(tr, f"acc.library.{library}") or library


def formula_name(tr: Translator, formula_id: str) -> str:
    """A formula id (``combustion.fuel.mass``) by what it computes."""
    return _known(tr, f"acc.formula.{formula_id}") or formula_id


_GRID = re.compile(r"^grid\.([a-z_]+)\.([a-z_]+)\.(\d{4}(?:-\d{4})?)$")


def parameter_name(tr: Translator, code: str) -> str:
    """A library parameter by name: ``fuel.coke.ncv`` -> ``焦炭 低位发热量`` / ``Coke net calorific value``,
    ``grid.official_average.north.2022`` -> ``华北电网 官方平均值 2022``; an unknown code as it is."""
    grid = _GRID.match(code)
    if grid:
        kind, region, years = grid.groups()
        kind_name, region_name = _known(tr, f"acc.grid.{kind}"), _known(tr, f"acc.region.{region}")
        if kind_name and region_name:
            return tr.t("acc.parameter.grid", region=region_name, kind=kind_name, years=years.replace("-", "–"))
        return code
    parts = code.split(".")
    if len(parts) == 2 and parts[1] == "ef" and _known(tr, f"acc.parameter.{parts[0]}"):
        return _known(tr, f"acc.parameter.{parts[0]}") or code  # electrode.ef, heat.ef
    if len(parts) != 3:
        return code
    group, item, quantity = parts
    item_text = _known(tr, f"acc.item.{item}")
    quantity_text = _known(tr, f"acc.quantity.{group}.{quantity}") or _known(tr, f"acc.quantity.{quantity}")
    if item_text is None or quantity_text is None:
        return code
    return tr.t("acc.parameter.item", item=item_text, quantity=quantity_text)


_LIBRARY_VERSION = re.compile(r"^library v(\d+)$")


def version_text(tr: Translator, version: str) -> str:
    """A parameter's library version (``library v2``) as ``第 2 版`` / ``version 2``; other texts as they are."""
    match = _LIBRARY_VERSION.match(version.strip())
    return tr.t("acc.version", number=match.group(1)) if match else version


_RECORDS = re.compile(r"^(?P<label>[^:]+): (?P<records>(?:[a-z]+#\d+,?)+)(?P<prorated> \(prorated by time\))?$")
_RECORD = re.compile(r"([a-z]+)#(\d+)")
_DEFAULT = re.compile(r"^default:(?P<edition>.+) library v(?P<number>\d+)$")
_GRID_ORIGIN = re.compile(r"^grid:(?P<kind>[a-z_]+)(?P<rest>.*)$")


def origin_text(tr: Translator, origin: str) -> str:
    """Where a lineage value came from, in words: ``COKE.FC: manual#3`` -> ``COKE.FC：手工录入 #3``,
    ``default:GB/T 32151.5-2015 library v1`` -> ``默认值（GB/T 32151.5-2015 第 1 版）``; other forms as they are."""
    text = origin.strip()
    records = _RECORDS.match(text)
    if records:
        parts = [
            f"{_known(tr, f'console.origin.{kind}') or kind} #{number}"
            for kind, number in _RECORD.findall(records.group("records"))
        ]
        label = records.group("label")
        source, _, name = label.rpartition(".")
        if source and _known(tr, f"acc.input.{name}"):
            label = f"{source} · {input_name(tr, name)}"  # COKE.FC -> COKE · 消耗量
        said = tr.t("acc.origin.records", label=label, records="、".join(parts))
        return tr.t("acc.origin.prorated", origin=said) if records.group("prorated") else said
    default = _DEFAULT.match(text)
    if default:
        return tr.t("acc.origin.default", edition=default.group("edition"), number=default.group("number"))
    grid = _GRID_ORIGIN.match(text)
    if grid and _known(tr, f"acc.grid.{grid.group('kind')}"):
        said = tr.t("acc.origin.grid", kind=_known(tr, f"acc.grid.{grid.group('kind')}") or "")
        return said + (tr.t("acc.origin.provisional") if "provisional" in grid.group("rest") else "")
    return text


_SEED_REASONS = (
    (re.compile(r"^Seeded defaults: "), "acc.reason.seeded"),
    (re.compile(r"^Seeded grid factors"), "acc.reason.seeded_grid"),
    (re.compile(r"^Seeded formulas: "), "acc.reason.seeded_formulas"),
)


_INPUTS_CHANGED = re.compile(r"^inputs changed \(([a-z_, ]+)\)$")
#: What made the refresh job account a period again (cem_platform.accounting.pending.CAUSES).
_CAUSES = frozenset({"meter", "activity", "import", "source", "library", "year_method", "draft", "period_end"})


def reason_text(tr: Translator, reason: str) -> str:
    """A reason the platform wrote (a result's ``calculated``, ``provisional: period still running``, a seeded
    library's) in words; a bilingual ``中文 / English`` reason in the reader's language; a person's as written."""
    text = reason.strip()
    fixed = {"calculated": "acc.reason.calculated", "provisional: period still running": "acc.reason.provisional"}
    if text in fixed:
        return tr.t(fixed[text])
    changed = _INPUTS_CHANGED.match(text)
    if changed:  # the refresh job's: "inputs changed (activity, library)"
        causes = [c.strip() for c in changed.group(1).split(",")]
        words = [tr.t(f"acc.cause.{c}") if c in _CAUSES else c for c in causes]
        return tr.t("acc.reason.inputs", causes=("、" if tr.locale is Locale.ZH_CN else ", ").join(words))
    for pattern, key in _SEED_REASONS:
        if pattern.match(text):
            return tr.t(key)
    if " / " in text and re.search(r"[\u4e00-\u9fff]", text.split(" / ", 1)[0]):
        chinese, english = text.split(" / ", 1)
        return chinese if tr.locale is Locale.ZH_CN else english
    return text


def author_text(tr: Translator, author: str) -> str:
    """Who made a library version; the seed by name."""
    return tr.t("acc.author.seed") if author == "system (seed)" else author


_NOTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(?P<label>.+?): activity data (?P<name>\S+) is incomplete for the period — (?P<origin>.+)\.$"),
     "acc.note.incomplete"),
    (re.compile(r"^(?P<label>.+?): activity data (?P<name>\S+) is estimated or prorated — (?P<origin>.+)\.$"),
     "acc.note.estimated"),
    (re.compile(r"^(?P<label>.+?): (?P<name>\S+) (?P<code>\S+) is provisional — (?P<origin>.+)\.$"),
     "acc.note.provisional"),
    (re.compile(r"^(?P<label>.+?): default (?P<code>\S+) = (?P<value>\S+) is unverified — (?P<source>.+)$"),
     "acc.note.unverified"),
    (re.compile(r"^(?P<label>.+?): (?P<name>\S+) is a measured value \((?P<origin>.+)\)\.$"), "acc.note.measured"),
    (re.compile(r"^No crude steel output for the period"), "acc.note.no_output"),
    (re.compile(r"^Crude steel output is incomplete — (?P<origin>.+)\.$"), "acc.note.output_incomplete"),
)  # fmt: skip


def note_text(tr: Translator, note: str) -> str:
    """A data-quality note of a lineage in words of the reader's language; a note of another form as it is."""
    for pattern, key in _NOTES:
        match = pattern.match(note.strip())
        if match is None:
            continue
        found = match.groupdict()
        fields = {
            "label": found.get("label", ""),
            "name": input_name(tr, found.get("name", "")),
            "parameter": parameter_name(tr, found.get("code", "")),
            "value": found.get("value", ""),
            "origin": origin_text(tr, found.get("origin", "")),
            "source": found.get("source", ""),
        }
        return tr.t(key, **fields)
    return note
