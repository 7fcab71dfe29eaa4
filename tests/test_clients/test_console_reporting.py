"""Reporting states of a year through the API client and the console's reporting desk, against a real platform
served over HTTP (real PostgreSQL): submit, verifier, verify, lock, new draft and reopen with step-up, "would
change by" after late data, and what each role may do."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from cem_clients.api import ForbiddenError, ReportingYear, StepUpRequired
from cem_clients.console.model import (
    STEP_UP_PROMPT,
    Console,
    ConsoleApi,
    KeptFigures,
    ReportingDesk,
    last_years,
    localized,
)
from cem_clients.ui.i18n import Translator
from tests.test_accounting.kept import refresh_now
from tests.test_clients.test_api_client import base_url, login  # noqa: F401 - the served platform
from tests.test_clients.test_console_model import COKE_100T, drop_step_up, small_example
from tests.test_platform.world import World, totp_code

ZH, EN = Translator("zh-CN"), Translator("en")


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[ConsoleApi]:  # noqa: F811
    """A client of the real platform."""
    async with ConsoleApi(base_url) as client:
        yield client


async def reported_2024(api: ConsoleApi, world: World) -> dict[str, int]:
    """March 2024 entered (100 t of coke, 1000 t of crude steel) and accounted by the refresh job; the source ids."""
    await login(api, world, "a-accountant")
    entry = await small_example(api, world)
    await refresh_now()
    return {s.code: s.id for s in entry.sources}


async def desk_of(api: ConsoleApi, years: list[int]) -> ReportingDesk:
    """The reporting desk of the signed-in caller for ``years``."""
    console = Console(api)
    assert await console.open(), console.error
    desk = console.reporting(years)
    assert await desk.refresh(), desk.error
    return desk


def test_the_years_listed_are_the_last_ended_ones() -> None:
    assert last_years(dt.date(2026, 12, 7)) == [2025, 2024, 2023, 2022, 2021]
    assert last_years(dt.date(2025, 1, 1), 2) == [2024, 2023]


async def test_the_reporting_calls_of_the_api_client(world: World, api: ConsoleApi, base_url: str) -> None:  # noqa: F811
    await reported_2024(api, world)
    enterprise = world.a.enterprise.id
    draft = await api.reporting_year(enterprise, 2024)
    assert isinstance(draft, ReportingYear)
    assert (draft.state, draft.draft, draft.reported, draft.verified, draft.history) == ("draft", 1, None, None, ())

    submitted = await api.submit_year(enterprise, 2024, "annual report to the MEE")
    reported = submitted.reported
    assert submitted.state == "submitted" and reported is not None and submitted.result_id == reported.result_id
    assert reported.net == COKE_100T and reported.direct == COKE_100T  # coke burnt: all of it direct
    assert reported.crude_steel == Decimal("1000") and reported.intensity == Decimal("0.2861625965")
    assert reported.library_version == 1 and reported.edition == "GB/T 32151.5-2015" and reported.direct_scope
    [step] = submitted.history
    assert (step.from_, step.state, step.by, step.reason) == (
        "draft",
        "submitted",
        "a-accountant",
        "annual report to the MEE",
    )
    assert step.at is not None and step.at.tzinfo is not None

    with pytest.raises(ForbiddenError):  # an accountant does not verify
        await api.verify_year(enterprise, 2024, "286", "286")
    assigned = await api.assign_verifier(enterprise, 2024, "a-verifier")
    assert assigned.verifier == "a-verifier" and assigned.state == "submitted"

    async with ConsoleApi(base_url) as verifier:
        await login(verifier, world, "a-verifier")
        with pytest.raises(ForbiddenError):  # not assigned to it
            await verifier.reporting_year(enterprise, 2023)
        verified = await verifier.verify_year(
            enterprise, 2024, Decimal("290.5"), "286.1625965", "焦炭消耗按过磅单复核。"
        )
        assert verified.state == "verified" and verified.findings == "焦炭消耗按过磅单复核。"
        assert verified.verified is not None and verified.verified.net == Decimal("290.5")
        assert verified.verified.difference_net == Decimal("290.5") - COKE_100T
        assert verified.verified.difference_direct == 0 and verified.verified.by == "a-verifier"
        [per_source] = await verifier.source_results(enterprise, "year", "2024-01-01", source="COKE")
        assert (per_source.source, per_source.category, per_source.emission) == ("COKE", "fuel_combustion", COKE_100T)
        assert per_source.result_id == reported.result_id and per_source.process == "IR"

    locked = await api.lock_year(enterprise, 2024)
    assert locked.state == "locked"
    await drop_step_up(world, "a-accountant")
    with pytest.raises(StepUpRequired):
        await api.reopen_year(enterprise, 2024, "the verifier's finding on coke")
    reopened = await api.reopen_year(
        enterprise, 2024, "the verifier's finding on coke", totp_code(world.secrets["a-accountant"], 1)
    )
    assert reopened.state == "draft" and reopened.draft == 2
    assert [(h.from_, h.state) for h in reopened.history] == [
        ("draft", "submitted"), ("submitted", "verified"), ("verified", "locked"), ("locked", "draft"),
    ]  # fmt: skip
    assert reopened.history[-1].reason == "the verifier's finding on coke"


async def test_the_desk_follows_state_and_permissions(world: World, api: ConsoleApi, base_url: str) -> None:  # noqa: F811
    ids = await reported_2024(api, world)
    desk = await desk_of(api, [2024, 2023])
    assert desk.shown_years == [2024, 2023] and desk.year == 2024
    assert desk.states[2024].state == "draft" and desk.selected is desk.states[2024]
    assert isinstance(desk.kept, KeptFigures) and desk.kept.net == COKE_100T and desk.kept.direct == COKE_100T
    assert desk.kept.direct_intensity == Decimal("0.2861625965") and desk.kept.final
    assert desk.actions() == ["submit", "verifier"]  # an accountant: not verify

    # a year that has not ended cannot be submitted: the platform's refusal lands in the form
    assert await desk.select(dt.datetime.now(dt.UTC).year)
    desk.start("submit")
    assert await desk.send() is None and desk.form is not None and "not ended" in desk.form.message

    assert await desk.select(2024)
    form = desk.start("submit")
    form.reason = "annual report"
    submitted = await desk.send()
    assert submitted is not None and submitted.state == "submitted" and desk.form is None
    assert localized(desk.notice, ZH) == "2024 年度已提交" and localized(desk.notice, EN) == "2024 submitted"
    assert desk.actions() == ["verifier", "draft"]

    form = desk.start("verifier")
    form.verifier = " "
    assert await desk.send() is None and localized(form.error("verifier"), ZH) == "请填写核查员的用户名"
    form.verifier = "a-auditor"  # no verifier role: the platform says so
    assert await desk.send() is None and "verifier role" in form.message
    form.verifier = "a-verifier"
    assert await desk.send() is not None and desk.states[2024].verifier == "a-verifier"

    # late data for 2024: the submitted year stays as reported and says what it would change by
    await api.enter_activity(ids["COKE"], "FC", "10", "t", month="2024-04")
    await refresh_now()
    assert await desk.refresh(), desk.error
    change = desk.states[2024].would_change_by
    assert change is not None and "activity" in change.causes and change.would_be is not None
    assert change.net == change.direct and Decimal("28") < change.net < Decimal("29")  # 10 t of coke, about 28.6 t
    assert desk.kept is not None and desk.kept.net == COKE_100T  # the kept result is the reported one

    # a new draft needs a reason
    form = desk.start("draft")
    assert await desk.send() is None and localized(form.error("reason"), ZH) == "请说明原因"
    assert form.error("reason") == "Say why"

    async with ConsoleApi(base_url) as other:
        await login(other, world, "a-verifier")
        verifier = await desk_of(other, [2024, 2023, 2022])
        assert verifier.shown_years == [2024] and verifier.year == 2024  # only the year assigned to it
        assert verifier.actions() == ["verify"]
        form = verifier.start("verify")
        form.net, form.direct = "abc", "-1"
        assert await verifier.send() is None
        assert form.error("net") and localized(form.error("direct"), ZH) == "排放量不能为负数"
        form.net, form.direct, form.findings = "1,000", str(COKE_100T), "焦炭消耗量复核。"
        verified = await verifier.send()
        assert verified is not None and verified.verified is not None and verified.verified.net == Decimal("1000")
        assert verifier.actions() == []  # verified once

        reader = await desk_of(other, [2023])
        assert reader.shown_years == [] and reader.year is None and reader.actions() == []

    assert await desk.refresh() and desk.actions() == ["lock", "draft"]
    desk.start("lock")
    assert await desk.send() is not None and desk.actions() == ["reopen"]

    # reopening asks for the authenticator code, then passes with it
    await drop_step_up(world, "a-accountant")
    form = desk.start("reopen")
    form.reason = "verifier's finding on coke"
    assert await desk.send() is None and form.needs_code and form.message == STEP_UP_PROMPT
    form.totp_code = totp_code(world.secrets["a-accountant"], 1)
    reopened = await desk.send()
    assert reopened is not None and reopened.state == "draft" and reopened.draft == 2
    assert desk.kept is not None and desk.kept.net > COKE_100T  # accounted again with April's coke
    assert desk.actions() == ["submit", "verifier"]
