"""Changing an accounting formula from the console (standard 5.4.9.2), against the served platform.

The form checks only what it can (fields there, numbers that parse, bounded lengths) and sends the change with a
test case; the platform's safe parser and the test case decide, and their refusal is shown in the form. A change
needs the TOTP step-up, like a parameter change; the card then shows the new formula version and its history. In
headless Chromium the form opens in zh and en (screenshots under ``build/screenshots/console/``), the history too,
and a user who may not change the library sees the formulas read-only. The dialog itself (typing, the code, the
refusal, the new version in the card) is driven in Python on the app object, as in the console app tests.
"""

from __future__ import annotations

import asyncio
from typing import cast

import flet as ft

from cem_clients.console.app import ConsoleApp, console_main
from cem_clients.console.forms import STEP_UP_PROMPT
from cem_clients.console.model import ConsoleApi, FactorLibrary
from cem_clients.console.screens_accounting import LibrarySection
from cem_clients.ui import serve as ui_serve
from cem_clients.ui.i18n import Translator
from cem_platform.identity.models import LoginSession
from tests.test_clients.browser import Browser, Snapshot
from tests.test_clients.test_api_client import base_url, login  # noqa: F401 - the served platform
from tests.test_clients.test_console_app import (  # noqa: F401 - the module's browser
    SCREENSHOTS,
    StubPage,
    browser,
    button,
    click,
    field,
    session_of,
    show,
    texts_in,
    type_into,
)
from tests.test_clients.test_console_model import api, as_user, drop_step_up  # noqa: F401 - the console client
from tests.test_platform.world import World, totp_code


async def test_formula_change_form_checks_sends_and_shows_the_refusal(world: World, api: ConsoleApi) -> None:  # noqa: F811
    await as_user(api, world, "a-accountant")
    await drop_step_up(world, "a-accountant")
    library = FactorLibrary(api)
    assert await library.refresh(), library.error
    form = library.change_formula("process.flux")
    assert form.expression == "AD * EF" and form.test_inputs == {"AD": "", "EF": ""}
    assert [name for name, _ in form.formula.inputs] == ["AD", "EF"] and form.formula.result_unit == "tCO2"

    # what the form checks itself: nothing is sent
    form.expression, form.test_inputs["AD"], form.expected, form.reason = "  ", "1,000", "4" * 61, "x" * 501
    assert await library.submit_formula() is None
    assert form.error("expression") == "Enter the formula's expression"
    assert form.error("inputs.AD").startswith("A number like") and form.error("inputs.EF") == "Enter a number"
    assert form.error("expected") == "At most 60 characters" and form.error("reason") == "At most 500 characters"
    assert not form.message and not form.needs_code
    form.expression = "AD * EF" + " * 1" * 100
    assert not form.validate() and form.error("expression") == "At most 400 characters"

    # what it sends
    form.expression, form.test_inputs = " AD * EF * 98 / 100 ", {"AD": " 1000", "EF": "0.440 "}
    form.expected, form.reason = "440", " 2 % of the flux carbon stays in the slag "
    assert form.validate() and form.request() == {
        "code": "process.flux",
        "expression": "AD * EF * 98 / 100",
        "reason": "2 % of the flux carbon stays in the slag",
        "test_case": {"inputs": {"AD": "1000", "EF": "0.440"}, "expected": "440"},
    }
    # the step-up, then the platform's refusal of a test case the expression does not meet, shown in the form
    assert await library.submit_formula() is None and form.needs_code and form.message == STEP_UP_PROMPT
    form.totp_code = totp_code(world.secrets["a-accountant"], 1)
    assert await library.submit_formula() is None and not form.needs_code
    assert "not the expected 440" in form.message and library.formula_form is form
    assert library.formula_version == 1

    form.expected = "431.2"
    version = await library.submit_formula()
    assert version is not None and version.number == 2 and version.author == "a-accountant"
    assert library.formula_form is None and library.formula_version == 2
    flux = next(f for f in library.formulas if f.code == "process.flux")
    assert (flux.expression, flux.version) == ("AD * EF * 98 / 100", 2)
    assert next(f for f in library.formulas if f.code == "process.electrode").version == 1

    # the formula library's history: newest first, with who, why and what changed
    assert await library.load_formula_versions(), library.error
    newest, seeded = library.formula_versions
    assert (newest.number, newest.author, newest.reason) == (
        2,
        "a-accountant",
        "2 % of the flux carbon stays in the slag",
    )
    [row] = newest.rows
    assert (row.code, row.change, row.before, row.after) == ("process.flux", "changed", "AD * EF", "AD * EF * 98 / 100")
    assert seeded.number == 1 and {r.change for r in seeded.rows} == {"added"} and len(seeded.rows) == 10


async def test_formula_change_through_the_dialog_shows_the_refusal_then_the_new_version(
    world: World,
    base_url: str,  # noqa: F811
) -> None:
    session = await session_of(base_url, world, "a-accountant")
    await LoginSession.filter(user_id=world.users["a-accountant"].id).update(step_up_at=None)
    page = StubPage()
    async with ConsoleApi(base_url) as client:
        app = ConsoleApp(cast(ft.Page, page), client, Translator("zh-CN"), start_section="library")
        await app.resume(session)
        library = app.section
        assert isinstance(library, LibrarySection)
        library._change_formula("process.flux")
        dialog = app.ui.dialog
        assert dialog is not None and field(dialog.content, "新表达式（结果单位 tCO2）").value == "AD * EF"
        type_into(field(dialog.content, "新表达式（结果单位 tCO2）"), "AD * EF * 98 / 100")
        type_into(field(dialog.content, "AD（t）"), "1000")
        type_into(field(dialog.content, "EF（tCO2/t）"), "0.440")
        type_into(field(dialog.content, "预期结果（tCO2）"), "440")
        type_into(field(dialog.content, "修改原因"), "炉渣中留存 2 % 熔剂碳")
        await click(button(dialog.actions, "提交"))
        assert app.ui.dialog is dialog and "请输入动态验证码" in texts_in(dialog.content)
        type_into(field(dialog.content, "动态验证码"), totp_code(world.secrets["a-accountant"], 1))
        await click(button(dialog.actions, "提交"))
        refusal = [t for t in texts_in(dialog.content) if "not the expected 440" in t]
        assert app.ui.dialog is dialog and refusal, texts_in(dialog.content)  # the platform's words, in the form
        type_into(field(dialog.content, "预期结果（tCO2）"), "431.2")
        await click(button(dialog.actions, "提交"))
        assert app.ui.dialog is None and library.notice == "熔剂消耗排放已修改，生成公式库第 2 版"
        assert "核算公式 · 第 2 版" in texts_in(app.holder) and "AD * EF * 98 / 100" in texts_in(app.holder)
        await click(button(app.holder, "公式版本记录"))
        history = app.ui.dialog
        assert history is not None and "熔剂消耗排放：AD * EF → AD * EF * 98 / 100" in texts_in(history.content)


async def test_formula_change_form_and_history_in_chromium(
    world: World,
    base_url: str,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    async with ConsoleApi(base_url) as client:  # a change made before: version 2 in the card and its history
        await login(client, world, "a-accountant")
        await client.change_formula(
            "process.flux", "AD * EF * 98 / 100", "炉渣中留存 2 % 熔剂碳（2025 年厂内研究）",
            {"AD": "1000", "EF": "0.440"}, "431.2",
        )  # fmt: skip
    screens = {
        "zh-CN": (
            {"formula": "process.flux"},
            ["修改公式：熔剂消耗排放", "现行表达式（第 2 版）：AD * EF * 98 / 100", "测试用例", "预期结果（tCO2）"],
        ),
        "en": (
            {"formula": "process.electrode"},
            ["Change formula: Electrode consumption", "Test case", "Expected result (tCO2)", "Reason"],
        ),
    }
    for locale, (options, expected) in screens.items():
        shot = await show(
            browser, base_url, f"formula-change-{locale[:2]}", expected,
            session=await session_of(base_url, world, "a-accountant"), section="library", options=options,
            locale=locale,
        )  # fmt: skip
        assert any(t.startswith("AD") and "t" in t for t in shot.texts), shot.texts  # the inputs with their units
    history = await show(
        browser, base_url, "formula-history-zh", ["核算公式库版本记录", "炉渣中留存 2 % 熔剂碳（2025 年厂内研究）"],
        session=await session_of(base_url, world, "a-accountant"), section="library",
        options={"formula_history": "1"},
    )  # fmt: skip
    assert "熔剂消耗排放：AD * EF → AD * EF * 98 / 100" in history.texts and "收录 10 个公式" in history.texts
    # the card in a window tall enough to show it (the parameters filtered to coke): the accountant's with a change
    # button per formula; the executive's read-only (no change form, even when asked for); the history for both
    accountant = await tall_page(
        browser, base_url, "formula-card-zh", session=await session_of(base_url, world, "a-accountant"),
        options={"search": "coke"},
    )  # fmt: skip
    assert "核算公式 · 第 2 版" in accountant.texts and "公式版本记录" in accountant.texts
    viewer = await tall_page(
        browser, base_url, "formula-readonly-zh", session=await session_of(base_url, world, "a-executive"),
        options={"search": "coke", "formula": "process.flux"},
    )  # fmt: skip
    assert "核算公式 · 第 2 版" in viewer.texts and "公式版本记录" in viewer.texts
    assert "修改公式：熔剂消耗排放" not in viewer.texts and "提议修改" not in viewer.texts


async def tall_page(
    browser: Browser,  # noqa: F811
    base_url: str,  # noqa: F811
    name: str,
    *,
    session: str,
    options: dict[str, str],
) -> Snapshot:
    """The factor library in zh at 1440x1600 (the formula card below the parameters in the picture)."""
    main = console_main(base_url, locale="zh-CN", session=session, start_section="library", start_options=options)
    app = ui_serve.serve_app(main, name=f"console-{name}")
    try:
        return await asyncio.to_thread(
            browser.load, app.url, viewport=(1440, 1600), screenshot=SCREENSHOTS / f"{name}-1440x1600.png",
            expect=["核算公式 · 第 2 版"],
        )  # fmt: skip
    finally:
        app.stop()
