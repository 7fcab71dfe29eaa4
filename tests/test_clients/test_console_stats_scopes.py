"""The console's statistics of a facility and of a source, the intensity per output value (产值) and the output value
entered from the console's inventory, against a real platform served over HTTP (real PostgreSQL), on the scope
statistics' works (March 2024: two blast furnaces' sources, the grid tie, crude steel and the output value 12,345.6 x
10^4 CNY; April without any). The board's tables and questions, then the section in headless Chromium in both
languages (``statistics-facility-*``, ``statistics-value-*`` under ``build/screenshots/console/``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from cem_clients.console.model import Console, ConsoleApi, SourceInventory, StatisticsBoard, localized
from cem_clients.ui.i18n import Translator
from tests.test_clients.browser import Browser
from tests.test_clients.test_api_client import base_url, login  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import browser, session_of  # noqa: F401 - the module's Chromium
from tests.test_clients.test_console_stats_app import COMBUSTION, FIXED, look
from tests.test_platform.world import World
from tests.test_statistics.test_scope_statistics import BF1, NET, VALUE, _works

ZH, EN = Translator("zh-CN"), Translator("en")
MARCH_APRIL = {"period": "month", "start": "2024-03", "end": "2024-05", "compare": "pop"}


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[ConsoleApi]:  # noqa: F811
    """A client of the real platform."""
    async with ConsoleApi(base_url) as client:
        yield client


async def board_of(api: ConsoleApi, world: World) -> StatisticsBoard:
    """An executive's statistics board on March and April 2024 by month."""
    await login(api, world, "a-executive")
    console = Console(api)
    assert await console.open(), console.error
    board = console.statistics()
    assert await board.load_choices(), board.error
    q = board.query
    q.period, q.start, q.end, q.compare = "month", "2024-03", "2024-05", ("pop",)
    return board


def number(text: str) -> Decimal:
    """A figure as shown (thousand separators, a sign) as a number."""
    return Decimal(text.replace(",", "").replace("+", ""))


async def test_facility_and_source_views_and_the_intensity_per_output_value(world: World, api: ConsoleApi) -> None:
    ids = await _works(world, await world.login("a-accountant"))
    board = await board_of(api, world)
    # the scopes offered after the processes: the facilities with sources, then the sources (never an output)
    offered = dict(board.scope_choices())
    assert offered[f"facility:{ids['BF1']}"] == "BF1 1#高炉" and offered[f"facility:{ids['BF2']}"] == "BF2 2#高炉"
    assert offered[f"source:{ids['COKE.BF1']}"] == "COKE.BF1 COKE.BF1 name"
    assert f"source:{ids['OUT.VALUE']}" not in offered and f"source:{ids['OUT.STEEL']}" not in offered

    # the enterprise: its output value and the intensity per 10^4 CNY of it, where it is entered
    assert await board.load(), board.error
    assert board.by_value and board.value_missing  # March has it, April not
    sheet = board.table(ZH)
    assert sheet.header[5:9] == ["净排放 (tCO2)", "排放强度 (tCO2/t)", "产值 (万元)", "万元产值强度 (tCO2/万元)"]
    march, april, total = sheet.shown(ZH)
    assert march[7] == "12,345.60" and abs(number(march[8]) - NET / VALUE) < Decimal("0.00006")
    assert april[7:9] == ["—", "—"] and total[7:9] == ["—", "—"]  # not every month has it: no range figure
    assert board.table(EN).header[7:9] == ["Output value (10k CNY)", "Per output value (tCO2/10k CNY)"]
    board.query.set_metric("energy")
    assert await board.load(), board.error
    assert board.table(ZH).header[-4:-2] == ["产值 (万元)", "万元产值强度 (tce/万元)"]
    board.query.set_metric("emissions")

    # a facility by its sources: they add up to it; no intensity per tonne or per output value of its own
    q = board.query
    assert q.choose_part(f"facility:{ids['BF1']}") and q.scope_choice == f"facility:{ids['BF1']}"
    q.dimension = "source"
    assert await board.load(), board.error
    answer = board.answer
    assert answer is not None and answer.scope == "facility" and answer.name == "1#高炉"
    assert board.parts() == ["COKE.BF1", "FIXED.BF1", "LIME.BF1", "POWER.BF1"]
    assert board.part_name(ZH, "COKE.BF1") == "COKE.BF1 COKE.BF1 name"
    assert not board.by_value and not board.value_missing
    shown = board.table(ZH).shown(ZH)
    assert abs(number(shown[0][5]) - BF1) < Decimal("0.005")
    assert number(shown[0][5]) == sum(number(cell) for cell in shown[0][1:5])
    assert board.table(ZH).header[5:7] == ["净排放 (tCO2)", "排放强度 (tCO2/t)"]  # no output-value columns

    # a source of it on its own: back to the terms (a source is not divided by source)
    assert await board.open_source(ids["COKE.BF1"]), board.error
    answer = board.answer
    assert answer is not None and answer.scope == "source" and answer.name == "COKE.BF1 name"
    assert q.dimension == "group" and board.parts() == ["combustion"]

    # breakdowns a scope does not have are refused before anything is sent
    q.dimension = "source"
    assert not await board.load()
    assert localized(q.error("dimension"), ZH) == "单个排放源按五类排放、排放源类别或能源品种查看"
    assert await board.open_enterprise(), board.error  # back to the whole, by its terms
    assert q.dimension == "group" and board.answer is not None and board.answer.scope == "enterprise"
    q.dimension = "source"
    assert not await board.load()
    assert localized(q.error("dimension"), EN).startswith("The enterprise is divided by process")


async def test_the_output_value_entered_from_the_console_inventory(world: World, api: ConsoleApi) -> None:
    """An accountant adds the enterprise's output value in the console: typing its item switches its input to
    10^4 CNY (and back), tonnes are never offered for it, and the platform keeps it in 10^4 CNY."""
    await login(api, world, "a-accountant")
    inventory = SourceInventory(api, world.a.enterprise.id)
    assert await inventory.refresh(), inventory.error
    form = inventory.new_source("output")
    form.code, form.name = "OUT.VALUE", "工业总产值"
    assert form.inputs["AD"].unit == "t" and form.unit_choices(inventory.categories, "AD") == ("t",)
    assert form.set_item("output_value") and form.inputs["AD"].unit == "10^4 CNY"
    assert form.unit_choices(inventory.categories, "AD") == ("10^4 CNY",)
    assert form.set_item("crude_steel") and form.inputs["AD"].unit == "t"  # a product again: tonnes
    assert not form.set_item("pig_iron")  # a product to a product: nothing to switch
    form.set_item("output_value")
    source = await inventory.create()
    assert source is not None, form.message or form.errors
    assert source.item == "output_value" and source.inputs["AD"] == {"origin": "manual", "unit": "10^4 CNY"}
    assert source.process_id is None and source.facility_id is None


async def test_facility_and_output_value_in_both_languages(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    await _works(world, await world.login("a-accountant"))
    facility = {**MARCH_APRIL, "scope": "facility:BF1", "dimension": "source"}
    zh = await look(
        browser, base_url, "facility-zh", ["设施视图：1#高炉", "分期排放（按排放源）", "COKE.BF1 COKE.BF1 name"],
        session=await session_of(base_url, world, "a-executive"), options=facility, colours=(), scroll=900,
    )  # fmt: skip
    assert {"设施和排放源没有自己的产品，不计每吨强度", "返回全企业", "LIME.BF1 LIME.BF1 name"} <= set(zh)
    assert not any(t.startswith(("stats.", "console.")) for t in zh)
    en = await look(
        browser, base_url, "facility-en", ["Facility view: 1#高炉", "Emissions by period, by Sources"],
        session=await session_of(base_url, world, "a-auditor"), options=facility, locale="en", colours=(),
    )  # fmt: skip
    assert "Whole enterprise" in en and not any(t.startswith(("stats.", "console.")) for t in en)

    value = await look(
        browser, base_url, "value-zh", ["万元产值强度（tCO2/万元）", "区间净排放"],
        session=await session_of(base_url, world, "a-executive"), options=MARCH_APRIL, scroll=900,
        colours=(COMBUSTION, FIXED),
    )  # fmt: skip
    assert "部分期间未填报产值，逐期强度见下表" in value  # April has none: no range figure
    assert "产值 (万元)" in value and "12,345.60" in value and "万元产值强度 (tCO2/万元)" in value
    assert any(t.startswith("未填报产值的期间没有万元产值强度") for t in value)
    march = await look(
        browser, base_url, "value-march-zh", ["万元产值强度（tCO2/万元）", "区间产值 12,345.60 万元"],
        session=await session_of(base_url, world, "a-executive"), options={**MARCH_APRIL, "end": "2024-04"},
        colours=(COMBUSTION, FIXED),
    )  # fmt: skip
    assert f"{round(NET / VALUE, 4)}" in march  # the range's: every period has its output value
    assert not any(t.startswith("未填报产值的期间") for t in march)
    value_en = await look(
        browser, base_url, "value-en", ["Intensity per output value (tCO2/10k CNY)", "Net emissions in the range"],
        session=await session_of(base_url, world, "a-auditor"), options=MARCH_APRIL, locale="en", scroll=900,
        colours=(COMBUSTION, FIXED),
    )  # fmt: skip
    assert "Output value (10k CNY)" in value_en and "Per output value (tCO2/10k CNY)" in value_en
    assert not any(t.startswith(("stats.", "console.")) for t in value_en)
