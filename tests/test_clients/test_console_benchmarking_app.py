"""The console's 对标分析 and 降碳潜力 sections in headless Chromium at 1440x900, in both languages, on the gap
analysis tests' works (March 2026: four sinter plants, one at each GB 21256 level and one above the limit, a
converter whose limit needs its scrap ratio, an EAF sized by its furnace). Screenshots under
``build/screenshots/console/`` (``benchmarking-*.png``, ``potential-*.png``), taken once the charts are painted."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image

from cem_clients.console.app import console_main
from cem_clients.ui import serve as ui_serve
from tests.test_benchmarking.test_gap_analysis import _works
from tests.test_clients.browser import Browser
from tests.test_clients.test_api_client import base_url  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import (  # noqa: F401 - the module's Chromium
    SCREENSHOTS,
    VIEWPORT,
    browser,
    session_of,
)
from tests.test_clients.test_console_benchmarking import scenario
from tests.test_platform.world import World

MARCH = {"period": "month", "start": "2026-03"}
#: Colours only the charts paint: the bars (a sinter plant above its limit in red, one at level 1 in green) and the
#: energy potentials' bars.
BREACH, BEST, POTENTIAL = (220, 38, 38), (16, 185, 129), (37, 99, 235)


def painted(png: Path, colours: Sequence[tuple[int, int, int]]) -> bool:
    """Whether the screenshot shows each of ``colours`` in more than a few pixels (a bar)."""
    with Image.open(png) as image:
        counts = {colour: n for n, colour in image.convert("RGB").getcolors(1 << 20) or []}
    return all(counts.get(colour, 0) > 50 for colour in colours)


async def look(
    chromium: Browser,
    base_url: str,  # noqa: F811
    section: str,
    name: str,
    expect: Sequence[str],
    *,
    session: str,
    options: Mapping[str, str],
    locale: str = "zh-CN",
    colours: Sequence[tuple[int, int, int]] = (),
    scroll: int = 0,
) -> list[str]:
    """Open ``section`` in Chromium at 1440x900, wait for ``expect`` and for the charts to be painted in ``colours``,
    save ``<name>-1440x900.png`` (with ``scroll``, a second one scrolled down: ``<name>-table``); the texts shown.
    Nothing sticks out of the window."""
    main = console_main(base_url, locale=locale, session=session, start_section=section, start_options=options)
    app = ui_serve.serve_app(main, name=f"console-{name}")

    def steps() -> list[str]:
        with chromium.session(app.url, viewport=VIEWPORT) as s:
            texts = s.wait_for(expect, timeout=60)
            path = SCREENSHOTS / f"{name}-1440x900.png"
            deadline = time.monotonic() + 60
            while not painted(s.screenshot(path), colours):
                assert time.monotonic() < deadline, f"{path}: the charts are not painted"
                s.pause(1)
            overflowing = [n for n in s.nodes() if n.width and n.y < VIEWPORT[1] and n.x + n.width > VIEWPORT[0] + 1]
            assert not overflowing, overflowing
            if scroll:
                s.scroll(scroll, at=(800, 600))
                s.pause(1)
                texts += s.texts()
                s.screenshot(SCREENSHOTS / f"{name}-table-1440x900.png")
            return texts

    try:
        return await asyncio.to_thread(steps)
    finally:
        app.stop()


async def test_benchmarking_and_potential_in_both_languages(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    accountant = await world.login("a-accountant")
    await scenario(world, accountant, await _works(world, accountant))
    texts = await look(
        browser, base_url, "benchmarking", "benchmarking-zh",
        ["对标分析", "参与对标工序", "超限额工序", "SIN4 4#烧结", "未达三级, 超出 3.86 kgce/t"],
        session=await session_of(base_url, world, "a-executive"), options=MARCH, colours=(BREACH, BEST), scroll=700,
    )  # fmt: skip
    assert {"二级, 距一级 2.52 kgce/t", "超限", "一级 43.00", "对标明细 2026-03"} <= set(texts)
    assert not any(t.startswith(("bench.", "console.")) for t in texts)  # every string translated

    english = await look(
        browser, base_url, "benchmarking", "benchmarking-en",
        ["Benchmarking", "Processes compared", "Processes above a limit", "Short of level 3 by 3.86 kgce/t"],
        session=await session_of(base_url, world, "a-auditor"), options=MARCH, locale="en", colours=(BREACH, BEST),
        scroll=700,
    )  # fmt: skip
    assert {"Level 2, 2.52 kgce/t from level 1", "Exceeded", "Level 1 43.00"} <= set(english)
    assert not any(t.startswith(("bench.", "console.")) for t in english)

    potential = await look(
        browser, base_url, "potential", "potential-zh",
        ["降碳潜力", "企业节能潜力", "各工序节能潜力 (tce)", "SIN4 4#烧结", "28.30"],
        session=await session_of(base_url, world, "a-executive"), options=MARCH, colours=(POTENTIAL,), scroll=900,
    )  # fmt: skip
    assert {"边际减排成本曲线", "测试 fraction · SIN4", "测试 per_tonne · SIN2"} <= set(potential)  # the curve's legend
    assert not any(t.startswith(("bench.", "console.")) for t in potential)

    english = await look(
        browser, base_url, "potential", "potential-en",
        ["Reduction potential", "Enterprise energy potential", "Energy potential by process (tce)", "28.30"],
        session=await session_of(base_url, world, "a-auditor"), options=MARCH, locale="en", colours=(POTENTIAL,),
        scroll=900,
    )  # fmt: skip
    assert {"Enterprise total", "Marginal abatement cost curve"} <= set(english)
    assert not any(t.startswith(("bench.", "console.")) for t in english)
