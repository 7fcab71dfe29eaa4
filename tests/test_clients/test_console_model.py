"""The console's view state against a real platform served over HTTP: each screen's model end to end."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import io
import json
import struct
import zoneinfo
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import openpyxl
import pytest
import segno

from cem_clients.api import LiveEvent, LiveFeed, ScopeItem
from cem_clients.console.model import (
    CODE_FORMAT,
    STEP_UP_PROMPT,
    ActivityEntry,
    AlarmThresholds,
    AuditFilters,
    AuditLog,
    Console,
    ConsoleApi,
    ControlForm,
    DeviceRegistration,
    EmissionsExplorer,
    EmissionsQuery,
    EnrolmentQr,
    FactorLibrary,
    FieldChange,
    FleetOverview,
    LedgerImport,
    LoginForm,
    PointMap,
    Problem,
    ReportExport,
    SourceInventory,
    UserAdmin,
    available_actions,
    localized,
)
from cem_clients.ui.i18n import Translator
from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.identity.models import LoginSession
from cem_platform.org.models import MeasurementPoint as PointRow
from cem_platform.org.models import Process as ProcessRow
from cem_platform.org.models import ProcessType
from cem_platform.org.models import Site as SiteRow
from cem_platform.settings import Settings
from cem_platform.telemetry.live import hub_for
from cem_platform.telemetry.models import DeviceStatus
from cem_registry.models import Device as DeviceRow
from cem_registry.models import DeviceCertificate
from tests.test_accounting.kept import refresh_now
from tests.test_clients.test_api_client import base_url, free_port, login  # noqa: F401 - the served platform
from tests.test_platform.world import PASSWORD, World, totp_code
from tests.test_registry.fleet import enrolled_terminal, register

# 100 t of coke with the 2015 defaults: FC x NCV x CC x OF x 44/12, exactly.
COKE_100T = Decimal("100") * Decimal("28.447") * Decimal("0.0295") * Decimal("0.93") * 44 / 12
LEDGER_HEADER = "排放源,参数,起始日期,截止日期,数值,单位,备注\n"


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[ConsoleApi]:  # noqa: F811
    """A console client of the real platform."""
    async with ConsoleApi(base_url) as client:
        yield client


async def as_user(api: ConsoleApi, world: World, username: str, steps_ahead: int = 0) -> ConsoleApi:
    """``api`` logged in as ``username`` (with a TOTP code when the user has an authenticator)."""
    await login(api, world, username, steps_ahead)
    return api


async def drop_step_up(world: World, username: str) -> None:
    """Forget the TOTP confirmation of the user's login: control operations ask for a code again."""
    await LoginSession.filter(user_id=world.users[username].id).update(step_up_at=None)


# ---- session ------------------------------------------------------------------------------------------------------


async def test_login_asks_for_the_code_and_the_sections_follow_the_role(world: World, api: ConsoleApi) -> None:
    console = Console(api, login_form=LoginForm(username="a-device-admin", password=PASSWORD))
    assert not await console.login()
    assert console.login_form.needs_code and console.login_form.message == STEP_UP_PROMPT
    console.login_form.totp_code = "12 34"
    assert not await console.login() and console.login_form.error("totp_code") == CODE_FORMAT
    console.login_form.totp_code = totp_code(world.secrets["a-device-admin"])
    assert await console.login(), console.login_form.message or console.error
    assert console.me is not None and console.me.role == "device_admin"
    assert console.enterprise_id == world.a.enterprise.id and console.enterprise is not None
    assert console.sections() == ["fleet", "alarms", "registration", "points", "thresholds"]
    assert console.login_form.password == ""  # not kept once logged in

    async with ConsoleApi(api.base_url) as other:
        accountant = Console(other)
        await as_user(other, world, "a-accountant")
        assert await accountant.open()
        assert accountant.sections() == [
            "alarms",
            "points",
            "inventory",
            "library",
            "activity",
            "ledger",
            "emissions",
            "report",
            "reporting",
            "statistics",
            "benchmarking",
            "potential",
            "carbon",
        ]
        assert accountant.inventory().enterprise_id == world.a.enterprise.id
        await accountant.logout()
        assert accountant.me is None and not other.authenticated


# ---- device admins ------------------------------------------------------------------------------------------------


async def test_fleet_overview_with_registered_devices(world: World, api: ConsoleApi) -> None:
    admin = await world.login("a-admin")
    busy = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="BF1 gateway")
    quiet = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="BOF gateway")
    now = dt.datetime.now(dt.UTC)
    await DeviceRow.filter(id=busy.device_id).update(last_seen_at=now, state="active")
    await DeviceStatus.create(
        device_id=busy.device_id, enterprise_id=world.a.enterprise.id, state="online", reported_at=now,
        received_at=now, buffer_depth=120, buffer_evicted=0, status={},
    )  # fmt: skip
    await as_user(api, world, "a-device-admin")

    registration = DeviceRegistration(api)
    assert await registration.load_choices()
    assert [s.id for s in registration.sites_of(world.a.enterprise.id)] == [world.a.site.id]
    assert await registration.submit() is None
    assert registration.form.error("serial") and registration.form.error("placement")
    registration.form.serial = "HX 0001"
    assert await registration.submit() is None and "without spaces" in registration.form.error("serial")
    registration.form.serial, registration.form.site_id, registration.form.name = (
        "HX-SPARE-0001",
        world.a.site.id,
        "spare",
    )
    spare = await registration.submit()
    assert spare is not None and spare.state == "registered" and registration.registered == spare
    assert registration.form.serial == ""  # ready for the next terminal

    # Certificates last 20 days in the tests; the quiet terminal's expires in 5.
    await DeviceCertificate.filter(device_id=quiet.device_id).update(not_after=now + dt.timedelta(days=5, hours=1))
    fleet = FleetOverview(api, expiry_days=30)
    assert await fleet.refresh(now), fleet.error
    counts = fleet.counts
    assert (counts.total, counts.online, counts.offline, counts.not_enrolled) == (3, 1, 1, 1)
    assert (counts.suspended, counts.revoked, counts.retired) == (0, 0, 0)
    assert [(b.device_id, b.depth, b.online) for b in fleet.backlogs] == [(busy.device_id, 120, True)]
    assert fleet.total_backlog == 120
    assert [(c.device_id, c.days_left) for c in fleet.expiring] == [(quiet.device_id, 5), (busy.device_id, 19)]
    assert fleet.expiring[0].name == "BOF gateway"
    fleet.state = "online"
    assert [d.id for d in fleet.visible()] == [busy.device_id]
    fleet.state, fleet.search = None, "spare"
    assert [d.id for d in fleet.visible()] == [spare.id]

    fleet.expiry_days = 10
    assert await fleet.refresh(now) and [c.device_id for c in fleet.expiring] == [quiet.device_id]


async def test_enrolment_token_with_qr_code_and_step_up_to_re_enrol(world: World, api: ConsoleApi) -> None:
    await as_user(api, world, "a-device-admin")
    spare = await api.register_device("HX-QR-0001", site_id=world.a.site.id)
    qr = EnrolmentQr(api, spare.id)
    assert qr.png() == b"" and qr.svg() == "" and qr.expires_in() is None
    token = await qr.issue()
    assert token is not None and qr.token == token
    payload = json.loads(qr.payload)
    assert (payload["device_id"], payload["token"]) == (spare.id, token.token)
    png = qr.png(scale=5, border=2)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])  # the IHDR chunk
    assert (width, height) == segno.make(qr.payload, error="m").symbol_size(scale=5, border=2)
    assert "<svg" in qr.svg()
    left = qr.expires_in()
    assert left is not None and left > dt.timedelta(minutes=1)

    # A terminal holding a valid certificate gets a new identity only with step-up.
    terminal = await enrolled_terminal(world, await world.login("a-admin"), site_id=world.a.site.id)
    await drop_step_up(world, "a-device-admin")
    again = EnrolmentQr(api, terminal.device_id)
    assert await again.issue() is None
    assert again.form.needs_code and again.form.message == STEP_UP_PROMPT and again.token is None
    again.form.totp_code = totp_code(world.secrets["a-device-admin"], 1)
    assert await again.issue() is not None and not again.form.needs_code and again.form.totp_code == ""


async def test_suspend_needs_step_up_then_resume_passes(world: World, api: ConsoleApi) -> None:
    terminal = await enrolled_terminal(world, await world.login("a-admin"), site_id=world.a.site.id)
    await as_user(api, world, "a-device-admin")
    await drop_step_up(world, "a-device-admin")
    device = await api.device(terminal.device_id)
    assert available_actions(device) == ("suspend", "revoke", "retire")

    form = ControlForm(device_id=terminal.device_id, action="suspend", reason="no")
    assert await form.submit(api) is None and "at least 3" in form.error("reason")
    form.reason = "meter cabinet opened"
    assert await form.submit(api) is None
    assert form.needs_code and form.message == STEP_UP_PROMPT and form.error("totp_code") == STEP_UP_PROMPT
    form.totp_code = "12ab56"
    assert await form.submit(api) is None and form.error("totp_code") == CODE_FORMAT
    form.totp_code = "000000" if totp_code(world.secrets["a-device-admin"], 1) != "000000" else "000001"
    assert await form.submit(api) is None and "wrong or was already used" in form.error("totp_code")
    form.totp_code = totp_code(world.secrets["a-device-admin"], 1)
    result = await form.submit(api)
    assert result is not None and form.result == result and not form.needs_code
    assert result.device.state == "suspended" and result.device.state_reason == "meter cabinet opened"
    assert available_actions(result.device) == ("resume", "revoke", "retire")

    # The code confirmed the session for a few minutes: resuming needs none.
    resume = ControlForm(device_id=terminal.device_id, action="resume", reason="cabinet closed again")
    resumed = await resume.submit(api)
    assert resumed is not None and resumed.device.state == "enrolled"
    refused = ControlForm(device_id=terminal.device_id, action="resume", reason="once more")
    assert await refused.submit(api) is None and "resume applies to suspended" in refused.message
    revoke = ControlForm(device_id=terminal.device_id, action="revoke", reason="stolen", revocation_reason="lost")
    assert await revoke.submit(api) is None and revoke.error("revocation_reason")


async def test_point_map_of_a_facility(world: World, api: ConsoleApi) -> None:
    await as_user(api, world, "a-device-admin")
    points = PointMap(api, world.a.enterprise.id)
    assert await points.refresh(), points.error
    assert points.facility is not None and points.facility.label == "炼铁 / 1#高炉"
    [coke] = points.points
    assert (coke.code, coke.unit, coke.quantity, coke.kind) == ("ENTA.BF1.COKE", "t", "mass", "totaliser")

    form = points.new_point()
    form.code, form.name, form.medium, form.unit = "ENTA.BF1.POWER", "1#高炉用电", "electricity", "kWh"
    assert await points.save() is None and "measured in t, kg" in form.error("unit")
    form.quantity, form.accuracy_class = "energy", "0.7"
    form.calibrated_on, form.calibration_due = "2025-06-01", dt.date(2025, 1, 1)
    assert await points.save() is None
    assert form.error("accuracy_class") and form.error("calibration_due") and not form.error("unit")
    form.accuracy_class, form.calibration_due, form.meter_model = "0.5S", "2026-06-01", "DTSD1352"
    created = await points.save()
    assert created is not None, form.message or form.errors
    assert created.unit == "kWh" and created.accuracy_class == "0.5S"
    assert [p.code for p in points.points] == ["ENTA.BF1.COKE", "ENTA.BF1.POWER"] and points.form is None

    edit = points.edit(created.id)
    edit.meter_serial, edit.calibration_due = "SN-4711", "2020-01-01"
    edit.calibrated_on = "2019-01-01"
    changed = await points.save()
    assert changed is not None and changed.meter_serial == "SN-4711" and changed.calibration_overdue
    assert [p.code for p in points.overdue] == ["ENTA.BF1.POWER"]
    duplicate = points.new_point()
    duplicate.code, duplicate.name, duplicate.medium = "ENTA.BF1.POWER", "again", "electricity"
    assert await points.save() is None and duplicate.message  # the platform refuses the duplicate code


async def test_alarm_thresholds_edit_with_validation_and_step_up(world: World, api: ConsoleApi) -> None:
    await as_user(api, world, "a-device-admin")
    await drop_step_up(world, "a-device-admin")
    thresholds = AlarmThresholds(api)
    assert await thresholds.refresh(), thresholds.error
    assert thresholds.items and all(t.key.startswith("alarm.") for t in thresholds.items)
    gap = thresholds.get("alarm.gap_intervals")
    assert (gap.value, gap.whole, gap.range_text, gap.changed) == (5, True, "2 – 1000", False)

    form = thresholds.edit("alarm.gap_intervals")
    assert form.text == "5"
    form.text = "1"
    assert await thresholds.save() is None and form.error("text") == "At least 2"
    form.text = "7.5"
    assert await thresholds.save() is None and form.error("text") == "Enter a whole number"
    form.text = "7"
    assert await thresholds.save() is None and form.needs_code and form.message == STEP_UP_PROMPT
    form.totp_code = totp_code(world.secrets["a-device-admin"], 1)
    changed = await thresholds.save()
    assert changed is not None and (changed.key, changed.value, changed.version) == ("alarm.gap_intervals", 7, 1)
    gap = thresholds.get("alarm.gap_intervals")
    assert (gap.value, gap.changed, gap.updated_by) == (7, True, "a-device-admin")

    completeness = thresholds.edit("alarm.completeness_min_percent")
    assert completeness.text == "95" and not thresholds.get("alarm.completeness_min_percent").whole
    completeness.text = "100.5"
    assert await thresholds.save() is None and completeness.error("text") == "At most 100"
    completeness.text = "97.5"
    assert await thresholds.save() is not None  # stepped up a moment ago: no code needed
    assert thresholds.get("alarm.completeness_min_percent").value == 97.5


async def test_users_list_and_create(world: World, api: ConsoleApi) -> None:
    await as_user(api, world, "a-admin")
    users = UserAdmin(api)
    assert await users.refresh(), users.error
    names = [u.username for u in users.users]
    assert "a-crew" in names and "b-admin" not in names  # only users within the admin's enterprise
    assert users.by_role()["crew"] == 1
    crew = next(u for u in users.users if u.username == "a-crew")
    assert users.scope_text(crew) == "甲钢铁"
    users.role = "accountant"
    assert [u.username for u in users.visible()] == ["a-accountant"]
    users.role = None

    form = users.new_user()
    assert [s.enterprise_id for s in form.scopes] == [world.a.enterprise.id]
    form.username, form.password, form.role = "X", "short", "boss"
    assert await users.create() is None
    assert form.error("username") and form.error("password") and form.error("role")
    form.username, form.password, form.role = "wang.li", "wang.li-secret-1", "crew"
    assert await users.create() is None and "must not contain the username" in form.error("password")
    form.password, form.display_name = "correct-horse-staple", "王力"
    created = await users.create()
    assert created is not None and (created.username, created.role) == ("wang.li", "crew")
    listed = next(u for u in users.users if u.username == "wang.li")
    assert users.scope_text(listed) == "甲钢铁" and users.form is None

    again = users.new_user()
    again.username, again.password = "wang.li", "another-long-password"
    assert await users.create() is None and "taken" in again.message

    edit = users.edit(created.id)
    assert not edit.validate() and edit.error("form") == "Nothing changed"
    edit.role = "executive"
    updated = await users.update()
    assert updated is not None and updated.role == "executive"
    assert users.by_role()["executive"] == 2

    async with ConsoleApi(api.base_url) as device_admin:
        refused = UserAdmin(await as_user(device_admin, world, "a-device-admin"))
        assert not await refused.refresh() and "users.read" in refused.error


async def test_audit_log_filters_and_pages(world: World, api: ConsoleApi) -> None:
    admin = await world.login("a-admin")
    devices = [await register(world, admin) for _ in range(5)]
    await as_user(api, world, "a-admin", steps_ahead=1)
    log = AuditLog(api, AuditFilters(action="registry.device"), page_size=2)
    assert await log.search(), log.error
    assert (log.total, log.pages, len(log.rows), log.range_text) == (5, 3, 2, "1–2 of 5")
    assert log.rows[0].entry.entity_id == devices[-1]["id"]  # newest first
    assert FieldChange("serial", "", devices[-1]["serial"]) in log.rows[0].changes
    assert not log.has_previous and log.has_next
    assert await log.next_page() and await log.next_page()
    assert (log.page, len(log.rows), log.range_text, log.has_next) == (2, 1, "5–5 of 5", False)
    assert not await log.next_page()
    assert await log.previous_page() and log.page == 1

    log.filters = AuditFilters(actor="a-admin", entity_id=devices[0]["id"])
    assert await log.search() and log.total == 1 and log.page == 0
    assert log.rows[0].entry.action == "registry.device.register"
    log.filters = AuditFilters(start=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert await log.search() and (log.total, log.rows, log.range_text) == (0, [], "0 of 0")
    log.filters = AuditFilters(outcome="maybe", start=dt.datetime(2025, 1, 2), end=dt.datetime(2025, 1, 1))  # noqa: DTZ001 - naive on purpose
    assert not await log.search()
    assert log.filters.error("outcome") and log.filters.error("start") == "Give the time with its time zone"


async def until(condition: Callable[[], bool], changed: asyncio.Event, timeout: float = 10) -> None:
    """Wait for ``condition``, looked at whenever ``changed`` is set, failing after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while not condition():
            changed.clear()
            await changed.wait()


async def test_fleet_follows_the_live_feed(settings: Settings, world: World, api: ConsoleApi) -> None:
    admin = await world.login("a-admin")
    gateway = await enrolled_terminal(world, admin, site_id=world.a.site.id, name="BF1 gateway")
    await as_user(api, world, "a-device-admin")
    fleet = FleetOverview(api)
    assert await fleet.refresh(), fleet.error
    assert fleet.live_status().state == "off" and (fleet.counts.online, fleet.counts.offline) == (0, 1)
    changes: list[str] = []
    changed = asyncio.Event()

    def on_change() -> None:
        changes.append(fleet.live_status().state)
        changed.set()

    feed = LiveFeed(api, points=[])
    follower = asyncio.create_task(fleet.follow(feed, on_change))
    try:
        await until(lambda: "live" in changes, changed)  # connected: the list was reloaded
        assert fleet.live_status().state == "live" and fleet.live_status().since is not None
        # a heartbeat as ingest publishes it: online, with 42 readings in the gateway's buffer
        hub = hub_for(settings)
        await hub.publish(world.a.enterprise.id, {
            "type": "status", "enterprise_id": world.a.enterprise.id, "site_id": world.a.site.id,
            "device_id": gateway.device_id, "state": "online", "reason": None,
            "ts": int(dt.datetime.now(dt.UTC).timestamp() * 1000), "buffer_depth": 42, "alarms": [],
        })  # fmt: skip
        await until(lambda: fleet.counts.online == 1, changed)
        assert fleet.counts.offline == 0 and [(b.device_id, b.depth) for b in fleet.backlogs] == [
            (gateway.device_id, 42)
        ]
        assert fleet.live_status().updated is not None
        online = next(d for d in fleet.devices if d.id == gateway.device_id)
        assert online.online and online.last_seen_at is not None
        # missed heartbeats: the rules raise a device_offline alarm
        await AlarmService(settings).raise_alarm(
            world.a.enterprise.id, AlarmKind.DEVICE_OFFLINE, Severity.MAJOR, "device", gateway.device_id,
            "BF1 gateway went offline (3 heartbeats missed)",
        )  # fmt: skip
        await until(lambda: fleet.counts.offline == 1, changed)
        assert fleet.counts.online == 0
        # an event about a device not in the list changes nothing
        assert not fleet.apply(LiveEventOf("status", device_id="dev-unknown", state="online"))
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        await feed.aclose()
    assert fleet.live_status().state == "off"


def LiveEventOf(kind: str, **data: object) -> LiveEvent:  # noqa: N802 - reads as a constructor
    """A live event as the feed hands it out."""
    return LiveEvent(type=kind, data={"type": kind, **data}, received_at=dt.datetime.now(dt.UTC))


async def test_user_scopes_whole_enterprise_or_sites(world: World, api: ConsoleApi) -> None:
    mill = await SiteRow.create(enterprise_id=world.a.enterprise.id, code="ENTA-S2", name="轧钢厂")
    await as_user(api, world, "a-admin", steps_ahead=1)
    users = UserAdmin(api)
    assert await users.refresh(), users.error
    a = world.a.enterprise.id
    assert [s.name for s in users.sites_of(a)] == ["甲钢铁 works", "轧钢厂"]
    form = users.new_user()
    assert form.has_enterprise(a) and form.sites_of(a) == []
    form.username, form.password, form.role = "zhao.gang", "rolling-mill-2026", "crew"
    form.set_site(a, mill.id, True)  # one site instead of the whole enterprise
    assert form.scopes == [ScopeItem(enterprise_id=a, site_id=mill.id)] and not form.has_enterprise(a)
    form.set_site(a, mill.id, False)
    assert await users.create() is None
    assert form.error("scopes") == "Give the user at least one enterprise or site, or every enterprise"
    assert localized(form.error("scopes"), Translator("zh-CN")) == "请为用户至少指定一个企业或厂区，或全部企业"
    form.set_site(a, mill.id, True)
    created = await users.create()
    assert created is not None, form.message or form.errors
    assert created.scopes == (ScopeItem(enterprise_id=a, site_id=mill.id),) and not created.all_enterprises
    listed = next(u for u in users.users if u.username == "zhao.gang")
    assert users.scope_text(listed) == "甲钢铁 / 轧钢厂"

    edit = users.edit(created.id)
    assert edit.sites_of(a) == [mill.id]
    edit.scopes.append(ScopeItem(enterprise_id=a))  # a site within an enterprise given whole says nothing more
    assert not edit.validate(users.sites) and "轧钢厂" in edit.error("scopes")
    edit.set_enterprise(a, True)  # the whole enterprise replaces the site
    assert edit.scopes == [ScopeItem(enterprise_id=a)] and edit.changes() == {"scopes": [ScopeItem(enterprise_id=a)]}
    updated = await users.update()
    assert updated is not None and updated.scopes == (ScopeItem(enterprise_id=a),)
    assert users.scope_text(next(u for u in users.users if u.id == created.id)) == "甲钢铁"


# ---- carbon accountants -------------------------------------------------------------------------------------------


async def test_meter_input_with_points_picked_and_checked(world: World, api: ConsoleApi) -> None:
    rate = await PointRow.create(
        facility=world.a.facility, enterprise=world.a.enterprise, code="ENTA.BF1.COKE.RATE", name="焦炭流量",
        medium="coke", quantity="mass_flow", unit="t/h", kind="flow",
    )  # fmt: skip
    power = await PointRow.create(
        facility=world.a.facility, enterprise=world.a.enterprise, code="ENTA.BF1.POWER", name="1#高炉用电",
        medium="electricity", quantity="energy", unit="kWh", kind="totaliser",
    )  # fmt: skip
    await PointRow.create(
        facility=world.a.facility, enterprise=world.a.enterprise, code="ENTA.BF1.COKE.VALVE", name="焦炭阀门",
        medium="coke", quantity="state", unit="1", kind="state",
    )  # fmt: skip
    await as_user(api, world, "a-accountant")
    inventory = SourceInventory(api, world.a.enterprise.id)
    assert await inventory.refresh(), inventory.error
    assert world.b.point.id not in inventory.points  # only the enterprise's own points
    assert [p.code for p in inventory.matching_points("coke")] == ["ENTA.BF1.COKE", "ENTA.BF1.COKE.RATE"]
    assert [p.code for p in inventory.matching_points("用电")] == ["ENTA.BF1.POWER"]  # by name; no state points

    form = inventory.new_source("fuel_combustion")
    form.code, form.name, form.item, form.process_id = "BF1.COKE.M", "1#高炉焦炭（计量）", "coke", world.a.process.id
    fc = form.inputs["FC"]
    fc.origin = "meter"
    assert await inventory.create() is None and "measurement points" in form.error("inputs.FC")
    fc.add_point(power.id)
    assert await inventory.create() is None
    assert form.error("inputs.FC") == "ENTA.BF1.POWER measures kWh, which does not convert to t"
    assert localized(form.error("inputs.FC"), Translator("zh-CN")) == "ENTA.BF1.POWER 的单位为 kWh，不能换算为 t"
    fc.remove_point(power.id)
    fc.add_point(world.b.point.id)
    assert await inventory.create() is None and "not an active point" in form.error("inputs.FC")
    fc.remove_point(world.b.point.id)
    fc.add_point(world.a.point.id)
    fc.add_point(rate.id, -1)  # a flow in t/h gives tonnes over a period: it converts
    fc.unit = "kg"
    assert form.validate(inventory.categories, inventory.points, inventory.dimensions), form.errors
    fc.add_point(rate.id, 1)  # again: the sign changes, the point stays once
    assert fc.points == [(world.a.point.id, 1), (rate.id, 1)]
    fc.add_point(rate.id, -1)
    source = await inventory.create()
    assert source is not None, form.message or form.errors
    assert source.inputs["FC"] == {
        "origin": "meter", "unit": "kg", "points": [{"id": world.a.point.id, "sign": 1}, {"id": rate.id, "sign": -1}],
    }  # fmt: skip


async def test_messages_in_both_languages_and_picked_dates(world: World, api: ConsoleApi) -> None:
    zh, en = Translator("zh-CN"), Translator("en")
    form = LoginForm()
    assert not form.validate()
    assert isinstance(form.error("username"), Problem) and form.error("username") == "Enter your username"
    assert localized(form.error("username"), zh) == "请输入用户名" and localized(form.error("password"), en) == (
        "Enter your password"
    )
    assert localized("the platform's own words", zh) == "the platform's own words"
    assert STEP_UP_PROMPT.render(zh) == "请输入动态验证码"

    query = EmissionsQuery(scope_id=world.a.enterprise.id, period="month")
    query.set_bound("start", dt.date(2024, 3, 17))  # a day picked in a month query: that month
    query.set_bound("end", "2024-05")
    assert (query.start, query.end) == ("2024-03", "2024-05") and query.validate()
    query.period = "year"
    query.set_bound("end", dt.date(2023, 12, 31))
    assert query.end == "2023" and not query.validate()
    assert localized(query.error("end"), zh) == "结束须晚于开始"

    entry = ActivityEntry(api, world.a.enterprise.id)
    entry.form.set_day("first_day", dt.date(2024, 3, 1))
    entry.form.set_month(dt.date(2024, 3, 9))  # a month picked: the days go
    assert (entry.form.month, entry.form.first_day, entry.form.last_day) == ("2024-03", None, None)
    entry.form.set_day("last_day", dt.date(2024, 3, 31))  # a day picked: the month goes
    assert entry.form.month == "" and entry.form.last_day == dt.date(2024, 3, 31)
    entry.form.set_month("2024-0")  # typed: kept as typed
    assert (
        not entry.form.validate([])
        and localized(entry.form.error("month"), zh) == "请填写月份，或首日和末日，不能同时填写"
    )

    admin = await world.login("a-admin")
    await register(world, admin)
    await as_user(api, world, "a-admin", steps_ahead=1)
    today = dt.datetime.now(dt.UTC).astimezone(zoneinfo.ZoneInfo("Asia/Shanghai")).date()
    log = AuditLog(api, AuditFilters(action="registry.device", first_day=today, last_day=today.isoformat()))
    assert await log.search() and log.total == 1
    log.filters.first_day = today + dt.timedelta(days=1)
    assert not await log.search() and localized(log.filters.error("last_day"), zh) == "末日须晚于首日"
    log.filters.last_day = None
    assert await log.search() and log.total == 0
    log.filters.first_day = "2024-13-01"
    assert not await log.search() and log.filters.error("first_day") == "A date like 2025-03-31"


async def test_inventory_create_with_validation_and_the_platforms_refusal(world: World, api: ConsoleApi) -> None:
    await as_user(api, world, "a-accountant")
    inventory = SourceInventory(api, world.a.enterprise.id)
    assert await inventory.refresh(), inventory.error
    assert inventory.groups == [] and "fuel_combustion" in inventory.categories
    form = inventory.new_source("fuel_combustion")
    assert {name: spec.unit for name, spec in form.inputs.items()} == {"FC": "t"}
    assert form.unit_choices(inventory.categories, "FC") == ("t", "10^4 Nm3")

    form.item = "wood"
    assert await inventory.create() is None
    assert form.error("code") and form.error("name") and "coke" in form.error("item")
    form.code, form.name, form.item, form.process_id = "BF1.COKE", "1#高炉焦炭", "coke", world.a.process.id
    form.inputs["FC"].origin = "meter"
    assert await inventory.create() is None and "measurement points" in form.error("inputs.FC")
    form.inputs["FC"].origin, form.inputs["FC"].unit = "manual", "m3"
    assert await inventory.create() is None  # checked here, refused by the platform: m3 is no mass
    assert form.valid and "does not convert" in form.message

    form.inputs["FC"].unit = "kg"  # not listed, but it converts: the platform accepts it
    coke = await inventory.create()
    assert coke is not None and coke.inputs["FC"] == {"origin": "manual", "unit": "kg"} and inventory.form is None

    steel = inventory.new_source("output")
    steel.code, steel.name = "OUT.STEEL", "粗钢产量"
    assert await inventory.create() is None and "crude_steel" in steel.error("item")
    steel.item = "crude_steel"
    assert await inventory.create() is not None
    [ironmaking, enterprise] = inventory.groups
    assert (ironmaking.code, ironmaking.name, ironmaking.count) == ("IR", "炼铁", 1)
    assert [(c.category, [s.code for s in c.sources]) for c in ironmaking.categories] == [
        ("fuel_combustion", ["BF1.COKE"])
    ]
    assert enterprise.process_id is None and enterprise.categories[0].category == "output"

    duplicate = inventory.new_source("output")
    duplicate.code, duplicate.name, duplicate.item = "OUT.STEEL", "again", "crude_steel"
    assert await inventory.create() is None and "exists" in duplicate.message


async def test_inventory_transfer_with_a_balance_input(
    world: World, api: ConsoleApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A generation line at the coke ovens, and the hot stoves' unmetered coke-oven gas as a share of its balance:
    the form sends direction, maker and share; a balance on anything but a transfer from a process is refused
    here, a share the platform finds too large (another user came first) is refused with its message."""
    coking = await ProcessRow.create(
        site=world.a.site, process_type=await ProcessType.get(code="coking"), code="CK", name="炼焦"
    )
    await as_user(api, world, "a-accountant")
    inventory = SourceInventory(api, world.a.enterprise.id)
    assert await inventory.refresh(), inventory.error
    made = inventory.new_source("fuel_combustion")
    made.code, made.name, made.item, made.direction = "CK.COG.MADE", "焦炉煤气发生量", "coke_oven_gas", "made"
    made.inputs["FC"].unit = "10^4 Nm3"
    assert await inventory.create() is None and "belongs to a process" in made.error("process_id")
    made.process_id = coking.id
    line = await inventory.create()
    assert line is not None and (line.direction, line.from_process_id) == ("made", None)

    form = inventory.new_source("fuel_combustion")
    form.code, form.name, form.item = "IR.COG", "热风炉富化焦炉煤气（按平衡）", "coke_oven_gas"
    form.process_id = world.a.process.id
    form.inputs["FC"].origin, form.inputs["FC"].unit, form.inputs["FC"].share = "balance", "10^4 Nm3", "0.4"
    assert not form.balance_allowed and await inventory.create() is None  # consumed: no balance to take from
    assert "transfer from a process" in form.error("inputs.FC")
    form.direction = "transfer"  # from the enterprise level: no maker's balance either
    assert await inventory.create() is None and "transfer from a process" in form.error("inputs.FC")
    form.direction, form.from_process_id = "made", coking.id
    assert await inventory.create() is None and "transfer from a process" in form.error("inputs.FC")
    form.direction, form.from_process_id = "transfer", world.a.process.id
    assert await inventory.create() is None and "another process" in form.error("from_process_id")
    form.from_process_id, form.inputs["FC"].share = coking.id, "1.2"
    assert await inventory.create() is None and "at most 1" in form.error("inputs.FC")
    localized_share = localized(form.error("inputs.FC"), Translator("zh-CN"))
    assert localized_share == "份额为大于 0、不超过 1 的小数，如 0.25"
    form.inputs["FC"].share = "0.4"

    sent: list[object] = []
    request = api._request

    async def recording(method: str, path: str, **kwargs: object) -> object:
        if method == "POST" and path == "/accounting/sources":
            sent.append(kwargs.get("body"))
        return await request(method, path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(api, "_request", recording)
    user = await inventory.create()
    assert user is not None, form.message or form.errors
    [body] = sent
    assert isinstance(body, dict)
    assert (body["direction"], body["from_process_id"], body["process_id"]) == (
        "transfer", coking.id, world.a.process.id
    )  # fmt: skip
    assert body["inputs"] == {"FC": {"origin": "balance", "unit": "10^4 Nm3", "share": "0.4"}}
    assert (user.direction, user.from_process_id, user.inputs["FC"]["share"]) == ("transfer", coking.id, "0.4")

    # the sinter ignition wants 0.7 of the same balance: 0.4 + 0.7 is refused here ...
    more = inventory.new_source("fuel_combustion")
    more.code, more.name, more.item, more.process_id = "IR.COG2", "点火", "coke_oven_gas", world.a.process.id
    more.direction, more.from_process_id = "transfer", coking.id
    more.inputs["FC"].origin, more.inputs["FC"].unit, more.inputs["FC"].share = "balance", "10^4 Nm3", "0.7"
    assert await inventory.create() is None and "take 1.1 of its balance" in more.error("inputs.FC")
    # ... and by the platform when another accountant's user came first (the form shows its message)
    inventory.sources = [s for s in inventory.sources if s.code != "IR.COG"]
    assert await inventory.create() is None and more.valid and "would add up to 1.1" in more.message

    sold = inventory.new_source("fuel_combustion")
    sold.code, sold.name, sold.item, sold.direction = "COKE.SOLD", "外售焦炭", "coke", "sold"
    assert await inventory.create() is None and "by-product" in sold.error("direction")
    flux = inventory.new_source("flux")
    flux.code, flux.name, flux.direction, flux.process_id = "LIME.T", "石灰", "transfer", world.a.process.id
    assert await inventory.create() is None and "not transferred" in flux.error("direction")


async def test_library_change_with_totp_and_its_diff_rows(world: World, api: ConsoleApi) -> None:
    await as_user(api, world, "a-accountant")
    await drop_step_up(world, "a-accountant")
    library = FactorLibrary(api)
    assert await library.refresh(), library.error
    assert library.library == "GB/T 32151.5-2015" and [v.number for v in library.versions] == [1]
    assert library.version == 1 and {r.change for r in library.versions[0].rows} == {"added"}
    ncv = library.parameter("fuel.coke.ncv")
    assert (ncv.value, ncv.unit) == (Decimal("28.447"), "GJ/t")
    library.search = "coke"
    assert {p.code for p in library.visible()} >= {"fuel.coke.ncv", "fuel.coke.cc", "fuel.coke.of"}
    # the formulas, versioned like the parameters (standard 5.4.9.2)
    assert library.formula_version == 1 and len(library.formulas) == 10
    fuel = next(f for f in library.formulas if f.code == "combustion.fuel.gas")
    assert fuel.expression == "FC * NCV * CC * OF * 44 / 12" and fuel.version == 1 and fuel.result_unit == "tCO2"
    assert ("FC", "10^4 Nm3") in fuel.inputs and (fuel.category, fuel.role) == ("fuel_combustion", "emission")

    form = library.propose()
    change = form.edit(ncv)
    change.value, change.source = "-1", ""
    wrong = form.add("Fuel.Wood")
    wrong.remove = True
    assert await library.submit() is None
    assert form.error("reason") and form.error("changes.0.value") and form.error("changes.0.source")
    assert form.error("changes.1.code")
    form.changes.remove(wrong)
    change.value, change.source = "28.500", "lab report 2026-01 No. 3"
    form.reason = "measured NCV of this year's coke"
    assert await library.submit() is None and form.needs_code and form.message == STEP_UP_PROMPT
    form.totp_code = totp_code(world.secrets["a-accountant"], 1)
    version = await library.submit()
    assert version is not None and version.number == 2 and version.author == "a-accountant"
    assert [v.number for v in library.versions] == [2, 1] and library.version == 2
    selected = library.selected
    assert selected is not None and selected.reason == "measured NCV of this year's coke"
    [row] = selected.rows
    assert (row.code, row.change, row.before, row.after) == ("fuel.coke.ncv", "changed", "28.447 GJ/t", "28.500 GJ/t")
    assert [f.field for f in row.fields] == ["value", "source", "source_en"]  # the English source was the seed's
    assert row.fields[0] == FieldChange("value", "28.447", "28.500")
    assert library.parameter("fuel.coke.ncv").value == Decimal("28.5")
    assert await library.show_version(1) and library.parameter("fuel.coke.ncv").value == Decimal("28.447")


async def small_example(api: ConsoleApi, world: World) -> ActivityEntry:
    """Coke burnt in ironmaking (100 t) and crude steel (1000 t) in March 2024, entered through the screens."""
    inventory = SourceInventory(api, world.a.enterprise.id)
    assert await inventory.refresh(), inventory.error
    for code, category, item, process in (
        ("COKE", "fuel_combustion", "coke", world.a.process.id),
        ("STEEL", "output", "crude_steel", None),
    ):
        form = inventory.new_source(category)
        form.code, form.name, form.item, form.process_id = code, code, item, process
        assert await inventory.create() is not None, form.message or form.errors
    entry = ActivityEntry(api, world.a.enterprise.id)
    assert await entry.refresh(), entry.error
    ids = {s.code: s.id for s in entry.sources}
    coke_form = entry.choose(ids["COKE"])
    assert (coke_form.input_name, coke_form.unit) == ("FC", "t") and entry.origin_of(ids["COKE"], "FC") == "manual"
    coke_form.value, coke_form.month, coke_form.first_day = "1,5", "2024-03", dt.date(2024, 3, 1)
    assert await entry.submit() is None and coke_form.error("value") and coke_form.error("month")
    coke_form.value, coke_form.first_day = "100", None
    coke_form.evidence, coke_form.evidence_filename = b"weighbridge ticket 2024-03", "ticket.txt"
    record = await entry.submit()
    assert record is not None and record.value == Decimal("100") and entry.evidence is not None
    assert record.evidence_id == entry.evidence.id and entry.evidence.filename == "ticket.txt"
    steel_form = entry.choose(ids["STEEL"])
    steel_form.value, steel_form.first_day, steel_form.last_day = "1000", dt.date(2024, 3, 1), "2024-03-31"
    assert await entry.submit() is not None, entry.form.message
    assert {r.source_id for r in entry.records} == set(ids.values())
    await refresh_now()  # the refresh job keeps the results (Celery beat runs it every 15 s)
    return entry


async def test_ledger_import_reports_a_bad_row_then_discard_and_confirm(world: World, api: ConsoleApi) -> None:
    await as_user(api, world, "a-accountant")
    entry = await small_example(api, world)
    ledger = LedgerImport(api, world.a.enterprise.id)
    assert not await ledger.upload("empty.csv", b"") and ledger.error == "The file is empty"
    bad = LEDGER_HEADER + "COKE,FC,2024-04-01,2024-04-30,1000,t,台账\nNOPE,FC,2024-04-01,2024-04-30,abc,t,bad\n"
    assert await ledger.upload("april.csv", bad.encode("utf-8-sig")), ledger.error
    assert (ledger.status, ledger.total, ledger.valid_count, ledger.invalid_count) == ("validated", 2, 1, 1)
    good_row, bad_row = ledger.rows
    assert good_row.valid and good_row.value == Decimal("1000") and good_row.errors == ()
    assert ledger.row_days(good_row) == (dt.date(2024, 4, 1), dt.date(2024, 4, 30))
    assert not bad_row.valid and bad_row.row == 3 and bad_row.value is None
    assert any("Unknown source 'NOPE'" in e for e in bad_row.errors)
    assert any("not a decimal number" in e for e in bad_row.errors)
    ledger.invalid_only = True
    assert ledger.visible() == [bad_row]
    assert ledger.can_confirm and ledger.can_discard
    assert await ledger.discard() and ledger.status == "discarded"
    assert not ledger.can_confirm and not await ledger.confirm()

    ledger.clear()
    good = LEDGER_HEADER + "COKE,FC,2024-04-01,2024-04-30,1000,t,台账\n"
    assert await ledger.upload("april.csv", good.encode("utf-8-sig")) and ledger.invalid_count == 0
    assert await ledger.confirm() and ledger.status == "imported" and not ledger.can_discard
    assert await entry.refresh()
    imported = [r for r in entry.records if r.origin == "import"]
    assert [(r.value, r.import_row) for r in imported] == [(Decimal("1000"), 2)]

    garbage = LedgerImport(api, world.a.enterprise.id)
    assert not await garbage.upload("ledger.xls", b"\xd0\xcf\x11\xe0 not a ledger") and garbage.error


async def test_emissions_with_lineage_drill_down_and_the_annual_report(world: World, api: ConsoleApi) -> None:
    await as_user(api, world, "a-accountant")
    await small_example(api, world)
    explorer = EmissionsExplorer(api, world.a.enterprise.id, EmissionsQuery(start="2024-03", end="2024-03"))
    assert not await explorer.load() and explorer.query.error("end") == "The end comes after the start"
    explorer.query.end = "2024-04"
    assert await explorer.load(), explorer.error
    assert explorer.name == "甲钢铁" and explorer.unit == "tCO2"
    [march] = explorer.rows
    assert march.label == "2024-03" and march.start.date() == dt.date(2024, 3, 1)
    assert march.net == COKE_100T == Decimal("286.1625965") and explorer.total == march.net
    assert march.by_category["fuel_combustion"] == COKE_100T and explorer.categories() == ["fuel_combustion"]
    assert march.output == Decimal("1000") and march.intensity == Decimal("0.2861625965")
    assert march.complete and march.final and explorer.complete

    lineage = await explorer.drill(march.result_id)
    assert lineage is not None and explorer.lineage == lineage
    assert (lineage.net, lineage.edition, lineage.library_version, lineage.version) == (
        COKE_100T, "GB/T 32151.5-2015", 1, 1,
    )  # fmt: skip
    assert lineage.crude_steel is not None and lineage.crude_steel.value == Decimal("1000")
    assert lineage.intensity == Decimal("0.2861625965") and [v.version for v in lineage.versions] == [1]
    source = explorer.drill_source("COKE")
    assert source is not None and explorer.source_code == "COKE"
    assert (source.process, source.process_name, source.category, source.emission) == (
        "IR", "炼铁", "fuel_combustion", COKE_100T,
    )  # fmt: skip
    assert source.expression == "FC * NCV * CC * OF * 44 / 12"
    [fc] = source.inputs
    assert (fc.name, fc.value, fc.unit) == ("FC", Decimal("100"), "t") and fc.origin.startswith("COKE.FC: manual")
    ncv = source.parameter("NCV")
    assert (ncv.code, ncv.value, ncv.unit, ncv.version) == ("fuel.coke.ncv", Decimal("28.447"), "GJ/t", "library v1")
    assert ncv.origin == "default:GB/T 32151.5-2015 library v1" and not ncv.overridden and ncv.source
    assert source.parameter("OF").used_value == Decimal("0.93")  # 93 % as the formula uses it
    product = Decimal(1)
    for value in (fc.used_value, *(source.parameter(n).used_value for n in ("NCV", "CC", "OF"))):
        assert value is not None
        product *= value
    assert product * 44 / 12 == source.emission  # the numbers shown multiply to the emission shown
    explorer.back()
    assert explorer.source_code is None and explorer.lineage is not None
    explorer.back()
    assert explorer.lineage is None

    explorer.query = EmissionsQuery(
        scope="process", scope_id=world.a.process.id, period="year", start="2024", end="2025"
    )
    assert await explorer.load(), explorer.error
    [year] = explorer.rows
    assert year.label == "2024" and year.net == COKE_100T and explorer.name == "炼铁"

    report = ReportExport(api, world.a.enterprise.id, year=2024, lang="en")
    assert report.filename == "" and report.content == b""
    exported = await report.export()
    assert exported is not None and report.filename == "ghg-report-ENTA-2024.xlsx"
    assert exported.content_type.startswith("application/vnd.openxmlformats")
    workbook = openpyxl.load_workbook(io.BytesIO(report.content))
    assert len(workbook.sheetnames) >= 5
    report.year = 1999
    assert await report.export() is None and "between 2000 and 2100" in report.error
