"""The wallboard's benchmark page against the served platform, on the gap analysis tests' works (March 2026): each
process's level against the national limits and benchmarks and the biggest reduction potentials, from one gap
analysis and one potential request a refresh; the page in headless Chromium at 1920x1080 in both languages
(screenshots ``benchmarks-zh-1920x1080.png`` and ``benchmarks-en-1920x1080.png`` under
``build/screenshots/wallboard/``)."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from cem_clients.ui import serve as ui_serve
from cem_clients.wallboard.app import wallboard_main
from cem_clients.wallboard.model import Wallboard
from tests.test_benchmarking.test_gap_analysis import _works
from tests.test_clients.browser import VIEWPORTS, Browser
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_wallboard_app import SCREENSHOTS, _token, browser  # noqa: F401 - the module's Chromium
from tests.test_clients.test_wallboard_model import SHANGHAI, board  # noqa: F401 - the display token's board
from tests.test_platform.world import World

#: The works' figures are of March 2026: the screen is looked at later that month (the year so far).
LATER_IN_MARCH = dt.datetime(2026, 3, 20, 10, 0, tzinfo=SHANGHAI)


async def test_levels_and_potentials_from_one_request_each(world: World, board: Wallboard) -> None:  # noqa: F811
    await _works(world, await world.login("a-accountant"))
    calls: list[str] = []
    for name in ("benchmark_gap", "benchmark_potential"):
        method = getattr(board.api, name)

        async def counted(*args: Any, _method: Any = method, _name: str = name, **kwargs: Any) -> Any:
            calls.append(_name)
            return await _method(*args, **kwargs)

        setattr(board.api, name, counted)
    assert await board.refresh(LATER_IN_MARCH), board.error
    assert calls == ["benchmark_gap", "benchmark_potential"]  # one each, not one per process
    assert board.benchmark_year == "2026" and board.benchmark_note == ""

    levels = {level.code: level for level in board.levels}
    assert set(levels) == {"SIN1", "SIN2", "SIN3", "SIN4", "BOF", "EAF"}  # the ironworks has no figure
    assert levels["SIN4"].breach and levels["SIN4"].text == "未达三级, 超出 3.86 kgce/t"
    assert levels["SIN1"].best and not levels["SIN1"].breach
    assert levels["SIN2"].text_en == "Level 2, 2.52 kgce/t from level 1" and not levels["SIN2"].best
    assert levels["BOF"].breach  # its scrap ratio is not entered: the limit uncorrected, -10.47 above -12

    assert [p.code for p in board.potentials] == ["BOF", "SIN4", "SIN3", "SIN2", "EAF"]  # the biggest five
    assert [p.tce for p in board.potentials][1:] == [Decimal("28.3"), Decimal("15.4"), Decimal("6.8"), Decimal("4.5")]
    assert board.potential_tce == sum((p.tce for p in board.potentials), Decimal(0))  # SIN1 has 0, IR no figure
    assert board.potential_tco2 == 0  # no CO2 reference applies to these processes in 2026


async def test_the_benchmark_page_in_both_languages(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _works(world, await world.login("a-accountant"))
    loading = Wallboard._load_benchmarks

    async def later_in_march(self: Wallboard, now: dt.datetime) -> None:
        await loading(self, LATER_IN_MARCH)

    monkeypatch.setattr(Wallboard, "_load_benchmarks", later_in_march)
    token = await _token(world)
    app = ui_serve.serve_app(wallboard_main(base_url, token, world.a.enterprise.id, rotate_s=0), name="benchmarks")
    try:
        for lang, expected in {
            "zh": ["工序能效对标 · 2026年", "4#烧结", "未达三级, 超出 3.86 kgce/t", "降碳潜力前五 · 2026年",
                   "全厂节能潜力 250 tce · 减碳潜力 0 tCO2", "28 tce"],
            "en": ["Process energy against national levels · 2026", "Short of level 3 by 3.86 kgce/t",
                   "Biggest reduction potentials · 2026", "Works: 250 tce energy · 0 tCO2 potential"],
        }.items():  # fmt: skip
            shot = await asyncio.to_thread(
                browser.load, app.url.rstrip("/") + f"/?page=benchmarks&lang={lang}", viewport=VIEWPORTS["wallboard"],
                screenshot=SCREENSHOTS / f"benchmarks-{lang}-1920x1080.png", expect=expected,
            )  # fmt: skip
            assert all(any(e in t for t in shot.texts) for e in expected), shot.texts
            assert not any(t.startswith(("wall.", "wallboard.")) for t in shot.texts)
            overflowing = [n for n in shot.nodes if n.width and n.x + n.width > VIEWPORTS["wallboard"][0] + 1]
            assert not overflowing, overflowing
    finally:
        app.stop()
