"""The mobile app's view state against a real served platform: login with TOTP, the alarm inbox, devices,
manual readings, the outbox on a lost connection, enrolling or replacing a terminal, alarms pushed by the live
feed, "stay logged in", and scanning a nameplate's QR code from a photo."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import segno
from PIL import Image

from cem_clients.api import ActivityRecord, Alarm, ApiClient, ApiError, InvalidInput, LiveEvent
from cem_clients.mobile import (
    LinkState,
    MobileApp,
    Outbox,
    OutcomeStatus,
    PeriodKind,
    SessionState,
    Tab,
)
from cem_clients.mobile.enrolment import EnrolmentStep, serial_from_scan
from cem_clients.mobile.live import LiveState
from cem_clients.mobile.outbox import FILE_NAME
from cem_clients.mobile.scan import ScanError, decode_qr
from cem_clients.mobile.session import KeptSession, decode_kept, encode_kept
from cem_clients.mobile.validation import (
    check_days,
    check_month,
    check_serial,
    check_totp,
    check_unit,
    check_value,
    reading_field_errors,
)
from cem_platform.alarms.models import Alarm as PlatformAlarm
from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.services import AlarmService
from cem_platform.identity.models import LoginSession
from cem_platform.identity.services import IdentityService
from cem_platform.telemetry.store import Row, dt_to_ms, store_for
from tests.test_clients.test_api_client import base_url, free_port  # noqa: F401 - the served platform
from tests.test_platform.world import PASSWORD, World, totp_code
from tests.test_registry.fleet import enrol, enrolled_terminal
from tests.test_timeseries.helpers import write

SOURCES = "/api/v1/accounting/sources"


@pytest.fixture
async def api(base_url: str) -> AsyncIterator[ApiClient]:  # noqa: F811
    """A client of the real platform."""
    async with ApiClient(base_url) as client:
        yield client


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """The app's data directory (the outbox lives there)."""
    return tmp_path / "mobile"


async def logged_in(
    api: ApiClient, data_dir: Path, world: World, username: str, *, steps_ahead: int = 0, backoff: float = 5.0
) -> MobileApp:
    """An app logged in as ``username`` (with the authenticator code when the account has one)."""
    app = MobileApp(api, data_dir, backoff=backoff, max_backoff=max(backoff, 300.0))
    state = await app.login(username, PASSWORD)
    if state is SessionState.NEEDS_TOTP:
        state = await app.submit_totp(totp_code(world.secrets[username], steps_ahead))
    assert state is SessionState.LOGGED_IN, app.message
    return app


async def raise_alarm(world: World, severity: Severity, subject: str, message: str, at: dt.datetime) -> PlatformAlarm:
    """An alarm of enterprise A about a terminal, raised as the rules do."""
    return await AlarmService(world.settings).raise_alarm(
        world.a.enterprise.id, AlarmKind.DEVICE_OFFLINE, severity, "device", subject, message, at=at
    )


async def clear_as_admin(world: World, alarm_id: int, note: str) -> None:
    admin = await IdentityService(world.settings).principal_for_user(world.users["a-admin"])
    await AlarmService(world.settings).clear(admin, alarm_id, note)


# ---- session ------------------------------------------------------------------------------------------------------


async def test_login_asks_for_the_authenticator_code_and_the_role_decides_the_tabs(
    world: World, api: ApiClient, data_dir: Path
) -> None:
    app = MobileApp(api, data_dir)
    assert app.state is SessionState.LOGGED_OUT and app.tabs == ()
    assert await app.login("  ", "") is SessionState.LOGGED_OUT  # checked on the phone, nothing sent
    assert set(app.errors) == {"username", "password"} and app.connection.state is LinkState.UNKNOWN
    assert await app.login("a-device-admin", "wrong") is SessionState.LOGGED_OUT
    assert app.message.startswith("username or password is wrong") and app.connection.online

    assert await app.login("a-device-admin", PASSWORD) is SessionState.NEEDS_TOTP  # a state, not a crash
    assert "authenticator" in app.message
    assert await app.submit_totp("12 34") is SessionState.NEEDS_TOTP
    assert "6-digit" in app.errors["totp"]
    secret = world.secrets["a-device-admin"]
    code = totp_code(secret)  # kept: the time step may turn before the replay below
    assert await app.submit_totp(code) is SessionState.LOGGED_IN
    assert app.me is not None and app.me.name == "a-device-admin" and app.message == ""
    # device_admin: enrolment too; no manual readings, which the platform does not let the role enter
    assert app.tabs == (Tab.ALARMS, Tab.DEVICES, Tab.ENROLMENT)
    assert app.refresh_token is not None
    await app.logout()
    assert app.state is SessionState.LOGGED_OUT and not api.authenticated and app.tabs == ()

    assert await app.login("a-device-admin", PASSWORD) is SessionState.NEEDS_TOTP
    assert await app.submit_totp(code) is SessionState.NEEDS_TOTP  # a code is never accepted twice
    assert "already used" in app.errors["totp"] and "already used" in app.message
    assert await app.submit_totp(totp_code(secret, 1)) is SessionState.LOGGED_IN
    await app.logout()

    crew = await logged_in(api, data_dir, world, "a-crew")  # no authenticator: straight in
    assert crew.tabs == (Tab.ALARMS, Tab.DEVICES, Tab.READINGS)  # alarms.handle and activity.enter
    assert crew.inbox.can_handle and not crew.enrolment.allowed and crew.readings.allowed
    kept = crew.refresh_token
    assert kept is not None
    async with ApiClient(api.base_url) as other:
        resumed = MobileApp(other, data_dir)
        assert await resumed.resume(kept) is SessionState.LOGGED_IN  # "stay logged in"
        assert resumed.me is not None and resumed.me.name == "a-crew"
    accountant = await logged_in(api, data_dir, world, "a-accountant")
    assert accountant.tabs == (Tab.ALARMS, Tab.READINGS)


# ---- alarms -------------------------------------------------------------------------------------------------------


async def test_inbox_by_severity_then_newest_with_history_acknowledge_and_clear(
    world: World, api: ApiClient, data_dir: Path
) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    info = await raise_alarm(world, Severity.INFO, "dev-info", "心跳延迟", start)
    old_critical = await raise_alarm(world, Severity.CRITICAL, "dev-c1", "网关离线", start + dt.timedelta(minutes=1))
    warning = await raise_alarm(world, Severity.WARNING, "dev-w", "缓存积压", start + dt.timedelta(minutes=2))
    new_critical = await raise_alarm(world, Severity.CRITICAL, "dev-c2", "网关离线", start + dt.timedelta(minutes=3))
    major = await raise_alarm(world, Severity.MAJOR, "dev-m", "证书即将过期", start + dt.timedelta(minutes=4))

    app = await logged_in(api, data_dir, world, "a-crew")
    assert await app.refresh(Tab.ALARMS), app.inbox.error
    inbox = app.inbox
    assert [a.id for a in inbox.alarms] == [new_critical.id, old_critical.id, major.id, warning.id, info.id]
    assert inbox.counts() == {"critical": 2, "major": 1, "warning": 1, "info": 1}
    assert [(severity, len(alarms)) for severity, alarms in inbox.groups()] == [
        ("critical", 2), ("major", 1), ("warning", 1), ("info", 1),
    ]  # fmt: skip

    detail = await inbox.open(major.id)
    assert detail is not None and [e.action for e in detail.events] == ["raised"]

    refused = await inbox.clear(major.id, "   ")  # the note is required: said on the phone, nothing queued
    assert refused.status is OutcomeStatus.INVALID and "note" in refused.field_errors
    assert "clearing an alarm needs a note" in refused.message and len(app.outbox) == 0 and not app.failed

    acked = await inbox.acknowledge(major.id)
    assert acked.status is OutcomeStatus.SENT and isinstance(acked.result, Alarm)
    assert acked.result.state == "acknowledged" and acked.result.acknowledged_by == "a-crew"
    assert next(a for a in inbox.alarms if a.id == major.id).state == "acknowledged"
    assert inbox.detail is not None and [e.action for e in inbox.detail.events] == ["raised", "acknowledged"]

    cleared = await inbox.clear(major.id, "换了熔断器")
    assert cleared.status is OutcomeStatus.SENT and cleared.result.clear_note == "换了熔断器"
    assert major.id not in [a.id for a in inbox.alarms] and inbox.counts()["major"] == 0
    assert len(app.outbox) == 0 and app.connection.online

    again = await inbox.clear(major.id, "twice")  # the platform's 409, as it comes
    assert again.status is OutcomeStatus.FAILED and "already cleared" in again.message
    assert inbox.error == again.message
    [failed] = app.failed
    assert failed.id == again.item_id and failed.status == 409 and "already cleared" in failed.last_error
    late = await inbox.acknowledge(major.id, "too late")
    assert late.status is OutcomeStatus.FAILED and "cleared alarm cannot be acknowledged" in late.message
    assert app.discard(failed.id) and len(app.failed) == 1

    now = dt.datetime.now(dt.UTC)
    fresh = await api.alarm((await raise_alarm(world, Severity.CRITICAL, "dev-live", "网关离线", now)).id)
    event = {"type": "alarm", "action": "raised", "alarm": msgspec.to_builtins(fresh)}
    assert inbox.apply(LiveEvent(type="alarm", data=event, received_at=now))
    assert inbox.alarms[0].id == fresh.id and inbox.counts()["critical"] == 3


async def test_meters_listed_under_an_outage_are_not_inbox_entries_of_their_own(
    world: World, api: ApiClient, data_dir: Path
) -> None:
    service = AlarmService(world.settings)
    at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    gap = await service.raise_alarm(world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.WARNING, "point",
                                    str(world.a.point.id), "no reading", at=at)  # fmt: skip
    outage = await raise_alarm(world, Severity.CRITICAL, "dev-plc", "iron-plc: refused", at + dt.timedelta(minutes=1))
    await service.set_root([gap.id], outage.id)

    app = await logged_in(api, data_dir, world, "a-crew")
    assert await app.refresh(Tab.ALARMS), app.inbox.error
    inbox = app.inbox
    assert [a.id for a in inbox.alarms] == [outage.id] and inbox.counts()["warning"] == 0

    await service.set_root([gap.id], None)  # the outage is over, the meter still silent: its own entry again
    event = {"type": "alarm", "action": "updated", "alarm": msgspec.to_builtins(await api.alarm(gap.id))}
    assert inbox.apply(LiveEvent(type="alarm", data=event, received_at=at))
    assert [a.id for a in inbox.alarms] == [outage.id, gap.id]
    await service.set_root([gap.id], outage.id)  # linked again (a live "updated" event): out of the list
    event = {"type": "alarm", "action": "updated", "alarm": msgspec.to_builtins(await api.alarm(gap.id))}
    assert inbox.apply(LiveEvent(type="alarm", data=event, received_at=at))
    assert [a.id for a in inbox.alarms] == [outage.id]


# ---- devices ------------------------------------------------------------------------------------------------------


async def test_device_list_health_search_and_live_values(world: World, api: ApiClient, data_dir: Path) -> None:
    admin = await world.login("a-admin")
    terminal = await enrolled_terminal(
        world, admin, site_id=world.a.site.id, facility_id=world.a.facility.id, name="1#高炉 采集网关"
    )
    async with ApiClient(api.base_url) as admin_api:
        await admin_api.login("a-device-admin", PASSWORD, totp_code(world.secrets["a-device-admin"]))
        spare = await admin_api.register_device("HX-MOBILE-0002", site_id=world.a.site.id, name="烧结 备用网关")
    reading_at = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    await write(store_for(), [Row(point_id=world.a.point.id, ts=dt_to_ms(reading_at), value=1234.5, delta=0.5)])

    app = await logged_in(api, data_dir, world, "a-crew")
    assert await app.refresh(Tab.DEVICES), app.devices.error
    rows = {row.id: row for row in app.devices.rows}
    assert set(rows) == {terminal.device_id, spare.id}
    enrolled, registered = rows[terminal.device_id], rows[spare.id]
    assert (enrolled.state, enrolled.health, enrolled.online, enrolled.last_seen_at) == (
        "enrolled", "offline", False, None,
    )  # fmt: skip
    assert enrolled.certificate_state == "valid" and enrolled.certificate_expires_at is not None
    assert enrolled.certificate_days_left is not None and 18 <= enrolled.certificate_days_left <= 20
    assert enrolled.certificate_expiring  # 20-day certificates in the tests: inside the renewal window
    assert enrolled.buffer_depth is None  # no heartbeat yet (and the crew cannot see ingest status)
    assert (registered.health, registered.certificate_state, registered.certificate_days_left) == (
        "registered", None, None,
    )  # fmt: skip
    assert app.devices.counts() == {"offline": 1, "registered": 1}

    assert [r.id for r in app.devices.search("mobile-0002")] == [spare.id]  # serial, any case
    assert [r.id for r in app.devices.search("高炉")] == [terminal.device_id]  # name
    assert [r.id for r in app.devices.search(terminal.device_id[-6:].upper())] == [terminal.device_id]  # id
    assert app.devices.search("nothing like it") == [] and len(app.devices.search("")) == 2

    detail = await app.devices.open(terminal.device_id)
    assert detail is not None and detail.error == "", detail.error if detail else app.devices.error
    assert detail.device.certificates and detail.device.certificates[0].state == "valid"
    [point] = detail.points  # the points of the facility the terminal is placed at
    assert (point.code, point.unit, point.value) == ("ENTA.BF1.COKE", "t", 1234.5)
    assert point.ts is not None and abs(point.ts - reading_at) < dt.timedelta(milliseconds=2)
    assert point.age_s is not None and point.age_s >= 100 and point.quality == "good"

    site_level = await app.devices.open(spare.id)  # placed at the site: the site's points
    assert site_level is not None and [p.code for p in site_level.points] == ["ENTA.BF1.COKE"]
    assert app.devices.followed_points == [world.a.point.id]
    now = dt.datetime.now(dt.UTC)
    live = {"type": "latest", "points": [{"point_id": world.a.point.id, "ts": dt_to_ms(now), "value": 1240.0}]}
    assert app.devices.apply(LiveEvent(type="latest", data=live, received_at=now))
    assert site_level.points[0].value == 1240.0 and site_level.points[0].ts is not None


# ---- manual readings ----------------------------------------------------------------------------------------------


async def test_manual_reading_checked_on_the_phone_then_accepted_or_refused_per_field(
    world: World, api: ApiClient, data_dir: Path
) -> None:
    headers = await world.login("a-accountant")
    ids = {}
    for code, category, item, inputs in (
        ("LIMESTONE", "flux", "limestone", {"AD": {"origin": "manual", "unit": "t"}}),
        ("DOLOMITE", "flux", "dolomite", {"AD": {"origin": "import", "unit": "t"}}),  # not entered by hand
        ("BF.COKE", "fuel_combustion", "coke",
         {"FC": {"origin": "meter", "unit": "t", "points": [{"id": world.a.point.id, "sign": 1}]}}),
    ):  # fmt: skip
        body = {"enterprise_id": world.a.enterprise.id, "code": code, "name": code, "category": category,
                "item": item, "process_id": world.a.process.id, "inputs": inputs}  # fmt: skip
        response = await world.client.post(SOURCES, headers=headers, json=body)
        assert response.status_code == 201, response.text
        ids[code] = response.json()["id"]

    app = await logged_in(api, data_dir, world, "a-crew")  # field entry: crews hold activity.enter
    form = app.readings
    assert await form.load(), form.message
    assert form.enterprise_id == world.a.enterprise.id
    # the ledger input (DOLOMITE) is the accountants', not offered
    assert [(i.source_code, i.input_name, i.substitute) for i in form.inputs] == [
        ("BF.COKE", "FC", True), ("LIMESTONE", "AD", False),
    ]  # fmt: skip
    assert form.select(ids["LIMESTONE"], "AD") is not None
    assert form.unit == "t" and form.units == ("t", "kg", "kt", "10^4 t")  # the platform's units

    form.value, form.unit, form.month = "-5", "GJ", "2025-13"
    errors = form.validate()
    assert set(errors) == {"value", "unit", "period"} and "negative" in errors["value"]
    assert "does not convert to t" in errors["unit"] and "YYYY-MM" in errors["period"]
    form.value = "12,000.5"
    outcome = await form.submit()
    assert outcome.status is OutcomeStatus.INVALID and "thousands" in outcome.field_errors["value"]
    assert len(app.outbox) == 0  # nothing queued

    form.value, form.unit, form.month, form.note = "12000.5", "t", "2025-05", "过磅单 0519"
    sent = await form.submit()
    assert sent.status is OutcomeStatus.SENT, sent.message
    assert isinstance(sent.result, ActivityRecord) and sent.result.value == Decimal("12000.5")
    assert sent.result.origin == "manual" and sent.result.entered_by == "a-crew"
    assert form.value == "" and form.last_record == sent.result and len(app.outbox) == 0
    listed = await world.client.get(  # what the accountant then sees
        "/api/v1/accounting/activity",
        headers=headers,
        params={"enterprise_id": world.a.enterprise.id, "source_id": ids["LIMESTONE"]},
    )
    [stored] = listed.json()
    assert (stored["value"], stored["unit"], stored["note"]) == ("12000.5", "t", "过磅单 0519")

    # Days inside May, which already has a value: the platform refuses (409); its message goes to the period.
    form.period, form.first_day, form.last_day, form.value, form.unit = (
        PeriodKind.DAYS, "2025-05-10", dt.date(2025, 5, 12), "300", "kt",
    )  # fmt: skip
    refused = await form.submit()
    assert refused.status is OutcomeStatus.FAILED and "overlapping" in refused.field_errors["period"]
    assert form.errors == refused.field_errors and form.value == "300"  # what was typed stays
    [failed] = app.failed
    assert failed.id == form.replaces == refused.item_id and failed.status == 409

    form.period, form.month = PeriodKind.MONTH, "2025-06"  # the fix replaces the refused entry
    fixed = await form.submit()
    assert fixed.status is OutcomeStatus.SENT and fixed.result.value == Decimal("300") and fixed.result.unit == "kt"
    assert app.failed == [] and form.replaces is None

    # A substitute for the meter (人工补录) of coke: coke is bought, so it cannot be negative (only the net
    # consumption of a by-product gas, tar or crude benzene may be).
    assert form.select(ids["BF.COKE"], "FC") is not None
    form.period, form.first_day, form.last_day, form.value = PeriodKind.DAYS, "2025-03-02", "2025-03-02", "700"
    assert (await form.submit()).status is OutcomeStatus.SENT
    form.value = "-1.5"
    assert "negative" in form.validate()["value"]


# ---- the outbox ---------------------------------------------------------------------------------------------------


async def test_outbox_keeps_actions_offline_across_a_restart_then_sends_them(
    world: World, api: ApiClient, data_dir: Path
) -> None:
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    first = await raise_alarm(world, Severity.MAJOR, "dev-o1", "网关离线", start)
    second = await raise_alarm(world, Severity.WARNING, "dev-o2", "缓存积压", start + dt.timedelta(minutes=1))
    app = await logged_in(api, data_dir, world, "a-crew", backoff=60.0)
    assert await app.inbox.refresh()
    contact = app.connection.last_contact_at
    assert app.connection.online and contact is not None

    async with ApiClient(f"http://127.0.0.1:{free_port()}", retries=0, timeout=2) as dead:
        app.api = dead  # the network is gone
        queued = await app.inbox.acknowledge(first.id, "路上")
        assert queued.status is OutcomeStatus.QUEUED and "cannot be reached" in queued.message
        assert app.connection.state is LinkState.OFFLINE and app.connection.last_contact_at == contact
        assert app.connection.offline_since is not None and "cannot be reached" in app.connection.last_error
        assert (await app.inbox.clear(first.id, "换了交换机")).status is OutcomeStatus.QUEUED
        assert (await app.inbox.clear(second.id, "现场已恢复")).status is OutcomeStatus.QUEUED
        assert app.inbox.pending_action(first.id) == "clear" and len(app.inbox.pending(first.id)) == 2
        assert not await app.inbox.refresh() and len(app.inbox.alarms) == 2  # the last list stays
    ack = app.outbox.pending[0]
    assert ack.attempts == 3 and "cannot be reached" in ack.last_error  # tried again with each later action
    assert ack.next_attempt_at is not None and ack.next_attempt_at > dt.datetime.now(dt.UTC) + dt.timedelta(seconds=50)
    stored = json.loads((data_dir / FILE_NAME).read_text())
    assert [i["kind"] for i in stored["pending"]] == ["acknowledge", "clear", "clear"]
    assert [p.name for p in data_dir.iterdir()] == [FILE_NAME]  # no temporary files left

    await clear_as_admin(world, second.id, "done from the control room")  # meanwhile, on the platform

    # The app is restarted: the queue comes back from disk, and is sent once the user is logged in again.
    restarted = MobileApp(api, data_dir, backoff=60.0)
    assert [i.kind for i in restarted.pending] == ["acknowledge", "clear", "clear"]
    assert restarted.pending[0].attempts == 3 and restarted.pending[0].last_error == ack.last_error
    assert (await restarted.flush()).sent == []  # nobody logged in: nothing is sent
    assert await restarted.login("a-crew", PASSWORD) is SessionState.LOGGED_IN
    report = await restarted.flush()  # the acknowledgement waits for its backoff; the clear of it waits behind
    assert report.waiting == 2 and report.sent == [] and [i.payload["alarm_id"] for i in report.failed] == [second.id]
    [refused] = restarted.failed  # the platform's message, kept for the user
    assert refused.status == 409 and "already cleared" in refused.last_error and refused.summary
    report = await restarted.flush(force=True)
    assert [item.kind for item, _ in report.sent] == ["acknowledge", "clear"]
    assert restarted.pending == [] and restarted.connection.online
    alarm = await api.alarm(first.id)
    assert (alarm.state, alarm.acknowledged_by, alarm.ack_note, alarm.clear_note) == (
        "cleared", "a-crew", "路上", "换了交换机",
    )  # fmt: skip
    assert [e.action for e in alarm.events] == ["raised", "acknowledged", "cleared"]
    assert len(Outbox(data_dir).failed) == 1 and Outbox(data_dir).pending == []


async def test_outbox_sends_only_in_its_users_session_and_backs_off(
    world: World, api: ApiClient, data_dir: Path
) -> None:
    alarm = await raise_alarm(world, Severity.MAJOR, "dev-u1", "网关离线", dt.datetime.now(dt.UTC))
    outbox = Outbox(data_dir, backoff=0.05, max_backoff=0.2)
    item = outbox.add("acknowledge", {"alarm_id": alarm.id, "note": ""}, key=f"alarm:{alarm.id}", user="a-crew",
                      now=dt.datetime.now(dt.UTC), summary="ack")  # fmt: skip
    app = await logged_in(api, data_dir, world, "a-executive")
    report = await app.flush(force=True)
    assert report.other_users == 1 and report.sent == [] and len(app.outbox) == 1

    async with ApiClient(f"http://127.0.0.1:{free_port()}", retries=0) as dead:
        delays = []
        for _ in range(4):
            now = dt.datetime.now(dt.UTC)
            report = await outbox.flush(dead, "a-crew", now, force=True)
            assert report.offline and not report.answered
            [kept] = outbox.pending
            assert kept.next_attempt_at is not None
            delays.append(round((kept.next_attempt_at - now).total_seconds(), 2))
        assert delays == [0.05, 0.1, 0.2, 0.2] and outbox.pending[0].attempts == 4
        assert outbox.next_attempt_at("a-crew") == outbox.pending[0].next_attempt_at
    assert (await outbox.flush(api, "a-crew", now)).waiting == 1  # not due yet

    crew = await logged_in(api, data_dir, world, "a-crew")
    report = await crew.flush(force=True)
    assert report.sent_ids == {item.id} and crew.pending == []


def test_an_unreadable_outbox_is_set_aside_not_lost(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / FILE_NAME).write_text('{"version": 1, "pending": [{"id": ')
    outbox = Outbox(data_dir)
    assert outbox.pending == [] and "could not be read" in outbox.load_error
    [aside] = [p for p in data_dir.iterdir() if p.name.startswith(f"{FILE_NAME}.unreadable-")]
    assert aside.read_text().startswith('{"version": 1')
    outbox.add("clear", {"alarm_id": 1, "note": "x"}, key="alarm:1", user="u", now=dt.datetime.now(dt.UTC))
    assert len(Outbox(data_dir).pending) == 1
    with pytest.raises(ValueError, match="unknown action"):
        outbox.add("reboot", {}, key="x", user="u", now=dt.datetime.now(dt.UTC))


# ---- enrolment ----------------------------------------------------------------------------------------------------


async def test_enrol_a_new_terminal_then_replace_it_with_step_up(world: World, api: ApiClient, data_dir: Path) -> None:
    app = await logged_in(api, data_dir, world, "a-device-admin")
    form = app.enrolment
    assert form.allowed and await app.refresh(Tab.ENROLMENT) and form.site_id == world.a.site.id

    form.scan("HX MOB 0100")
    assert await form.issue() is None and "without spaces" in form.errors["serial"]
    assert form.scan('{"serial": " HX-MOB-0100 ", "model": "CEM-GW2"}') == "HX-MOB-0100"
    form.name = "2#高炉 采集网关"
    assert await form.look_up() is None and not form.replacing  # a new terminal
    issued = await form.issue()
    assert issued is not None, form.message
    assert form.step is EnrolmentStep.ISSUED and not issued.replaced and issued.serial == "HX-MOB-0100"
    assert issued.token in issued.command and issued.command.startswith("cem gateway enroll --server ")
    payload = json.loads(issued.qr_payload)
    assert payload["kind"] == "cem-enrolment" and payload["device_id"] == issued.device_id
    assert payload["token"] == issued.token and issued.qr_svg.lstrip().startswith("<?xml")
    device = await api.device(issued.device_id)
    assert (device.serial, device.name, device.site_id, device.state) == (
        "HX-MOB-0100", "2#高炉 采集网关", world.a.site.id, "registered",
    )  # fmt: skip

    _, answer = await enrol(world, issued.token, issued.device_id)  # the terminal enrols with it
    assert answer.status_code == 200, answer.text

    # Replacing: a new token for the device that now holds a valid certificate needs a fresh TOTP confirmation.
    await LoginSession.filter(user_id=world.users["a-device-admin"].id).update(step_up_at=None)
    form.reset()
    form.scan("HX-MOB-0100")
    existing = await form.look_up()
    assert existing is not None and existing.id == issued.device_id and form.replacing
    assert await form.issue() is None
    assert form.step is EnrolmentStep.NEEDS_TOTP and "authenticator code" in form.message
    assert await form.issue() is None and "6-digit" in form.errors["totp"]  # the code is asked for
    assert await form.issue("12345") is None and "6-digit" in form.errors["totp"]
    replaced = await form.issue(totp_code(world.secrets["a-device-admin"], 1))
    assert replaced is not None, form.message
    assert replaced.replaced and replaced.device_id == issued.device_id and replaced.token != issued.token

    form.reset()
    assert await form.issue() is None and set(form.errors) == {"serial"}


# ---- checks on the phone ------------------------------------------------------------------------------------------


def test_checks_on_the_phone() -> None:
    assert check_value("１２０００.５", may_be_negative=False) == (Decimal("12000.5"), "")  # full-width digits
    assert check_value("−3", may_be_negative=True) == (Decimal("-3"), "")
    for text, needle in (("", "Enter"), ("1e3", "not a number"), ("12,5", "thousands"), ("abc", "not a number"),
                         ("0." + "1" * 11, "after the point"), ("1" * 19, "before the point"),
                         ("-1", "negative")):  # fmt: skip
        value, problem = check_value(text, may_be_negative=False)
        assert value is None and needle in problem, text
    assert check_value(1.5, may_be_negative=False)[0] is None  # type: ignore[arg-type]
    gas = ("Nm3", "10^3 Nm3", "10^4 Nm3")  # what the platform offers for an input kept in Nm3
    assert check_unit(" 10^4nm3 ", gas) == ("10^4 Nm3", "")
    assert check_unit("MWh", ("t", "kg"))[0] is None and "choose one of t, kg" in check_unit("MWh", ("t", "kg"))[1]
    assert check_unit("t", ())[0] is None
    assert check_month("2025-06") == ("2025-06", "") and check_month("2025-6")[0] is None
    assert check_days("2025-06-02", dt.date(2025, 6, 1))[1] == "The last day comes before the first."
    assert check_serial("x" * 101)[0] is None and check_serial("HX-GW_01/A")[0] == "HX-GW_01/A"
    assert check_serial("网关1")[0] is None
    assert check_totp(" 123 456 ") == ("123456", "")
    assert serial_from_scan("SN123") == "SN123" and serial_from_scan("{bad json") == "{bad json"

    fields = [{"key": "value", "message": "Expected `str`, got `int`", "source": "body"}]
    assert reading_field_errors(InvalidInput(400, "invalid_input", "the request is not valid", "", "", fields)) == {
        "value": "Expected `str`, got `int`"
    }
    unit = InvalidInput(400, "invalid_input", "Unit 'GJ' does not convert to t (input AD).", "Correct it.")
    assert reading_field_errors(unit) == {"unit": "Unit 'GJ' does not convert to t (input AD). Correct it."}
    assert reading_field_errors(ApiError(403, "permission_denied", "your role does not allow this")) == {
        "": "your role does not allow this"
    }


# ---- live alarms --------------------------------------------------------------------------------------------------


async def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait for ``condition`` (polled), failing after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.05)


async def test_alarms_are_pushed_by_the_live_feed_and_polled_while_it_is_down(
    world: World, api: ApiClient, data_dir: Path
) -> None:
    app = await logged_in(api, data_dir, world, "a-crew")
    assert await app.refresh(Tab.ALARMS) and app.inbox.alarms == []
    changes: list[str] = []
    app.live.on_change = lambda: changes.append(app.live.state)
    assert app.live.polling  # not started: the app polls
    task = asyncio.create_task(app.live.run())
    try:
        await wait_until(lambda: app.live.live)
        service = AlarmService(world.settings)
        raised = await raise_alarm(world, Severity.CRITICAL, "dev-push", "网关离线", dt.datetime.now(dt.UTC))
        await wait_until(lambda: [a.id for a in app.inbox.alarms] == [raised.id])  # no refresh called
        assert app.live.events >= 1 and "live" in changes

        crew = await IdentityService(world.settings).principal_for_user(world.users["a-crew"])
        await service.acknowledge(crew, raised.id, "在路上")  # from another phone
        await wait_until(lambda: app.inbox.alarms[0].state == "acknowledged")
        await clear_as_admin(world, raised.id, "已恢复")  # from the control room
        await wait_until(lambda: app.inbox.alarms == [])
    finally:
        await app.live.stop()
        task.cancel()
    assert app.live.state is LiveState.OFF and app.live.polling

    # The platform cannot be reached: the feed keeps trying, the app says it polls.
    async with ApiClient(f"http://127.0.0.1:{free_port()}", retries=0, timeout=1) as dead:
        app.api = dead
        dead.use_refresh_token("rt-unused")
        offline = asyncio.create_task(app.live.run())
        try:
            await wait_until(lambda: app.live.feed is not None and app.live.feed.last_error != "")
            assert not app.live.live and app.live.polling and app.live.state is LiveState.CONNECTING
        finally:
            await app.live.stop()
            offline.cancel()


# ---- stay logged in -----------------------------------------------------------------------------------------------


class MemoryStore:
    """A token store in memory (the Flet app's is the client's SharedPreferences)."""

    def __init__(self) -> None:
        self.text: str | None = None

    async def load(self) -> KeptSession | None:
        return decode_kept(self.text)

    async def save(self, kept: KeptSession) -> None:
        self.text = encode_kept(kept)

    async def clear(self) -> None:
        self.text = None


async def test_stay_logged_in_keeps_only_the_rotating_refresh_token(
    world: World, api: ApiClient, data_dir: Path
) -> None:
    store = MemoryStore()
    app = MobileApp(api, data_dir, store=store)
    assert await app.login("a-device-admin", PASSWORD) is SessionState.NEEDS_TOTP
    app.keep_logged_in = True
    assert await app.submit_totp(totp_code(world.secrets["a-device-admin"])) is SessionState.LOGGED_IN
    assert store.text is not None
    kept = decode_kept(store.text)
    assert kept is not None and kept.refresh_token == api.refresh_token and kept.username == "a-device-admin"
    assert PASSWORD not in store.text and world.secrets["a-device-admin"] not in store.text  # only the token
    assert "refresh_token=..." in repr(kept) and kept.refresh_token not in repr(kept)

    # The app restarts: in without the password; the platform rotated the token, the store follows.
    async with ApiClient(api.base_url) as restarted_api:
        restarted = MobileApp(restarted_api, data_dir, store=store)
        assert await restarted.resume_kept() is SessionState.LOGGED_IN
        assert restarted.me is not None and restarted.me.name == "a-device-admin" and restarted.keep_logged_in
        rotated = decode_kept(store.text)
        assert rotated is not None and rotated.refresh_token != kept.refresh_token
        assert rotated.refresh_token == restarted_api.refresh_token
        await restarted_api.refresh()  # the client refreshes by itself later on: the store follows at once
        for _ in range(20):  # (the client tells the app, which keeps the new token in a task of its own)
            if decode_kept(store.text) != rotated:
                break
            await asyncio.sleep(0.01)
        again = decode_kept(store.text)
        assert again is not None and again.refresh_token == restarted_api.refresh_token != rotated.refresh_token

        # The platform ends the session (an admin revoked it): the kept token is forgotten at the next start.
        await LoginSession.filter(user_id=world.users["a-device-admin"].id).update(revoked_at=dt.datetime.now(dt.UTC))
    async with ApiClient(api.base_url) as third_api:
        third = MobileApp(third_api, data_dir, store=store)
        assert await third.resume_kept() is SessionState.LOGGED_OUT
        assert store.text is None and "kept login has ended" in third.message and not third.keep_logged_in

    # Not opted in: nothing is kept. Opted in, then logged out: forgotten.
    crew = await logged_in(api, data_dir, world, "a-crew")
    crew.store = store
    await crew.sync_kept()
    assert store.text is None
    crew.keep_logged_in = True
    await crew.sync_kept()
    assert decode_kept(store.text) is not None
    await crew.logout()
    assert store.text is None
    other = MemoryStore()
    await other.save(KeptSession(base_url="https://elsewhere.example", username="a-crew", refresh_token="rt-x"))
    assert await MobileApp(api, data_dir, store=other).resume_kept() is SessionState.LOGGED_OUT
    assert other.text is None  # a token kept for another platform is never sent here


# ---- scanning -----------------------------------------------------------------------------------------------------


def qr_png(text: str, *, scale: int = 6) -> bytes:
    """A PNG of a QR code (as a phone's photo of a nameplate label would show it)."""
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


async def test_the_serial_is_scanned_from_a_photo_of_the_nameplate(
    world: World, api: ApiClient, data_dir: Path
) -> None:
    assert decode_qr(qr_png("HX-MOB-0300")) == ["HX-MOB-0300"]
    # A photo: larger, grey, turned a little, saved as JPEG.
    photo = Image.new("L", (1600, 1200), 200)
    label = Image.open(io.BytesIO(qr_png('{"serial": "HX-MOB-0301", "model": "CEM-GW2"}', scale=10))).convert("L")
    photo.paste(label.rotate(7, expand=True, fillcolor=255), (500, 300))
    jpeg = io.BytesIO()
    photo.save(jpeg, format="JPEG", quality=80)
    app = await logged_in(api, data_dir, world, "a-device-admin")
    form = app.enrolment
    assert form.scan_image(jpeg.getvalue()) == "HX-MOB-0301" and form.serial == "HX-MOB-0301"
    assert "serial" not in form.errors
    blank = io.BytesIO()
    Image.new("L", (400, 300), 255).save(blank, format="PNG")
    assert form.scan_image(blank.getvalue()) is None and "No QR code" in form.errors["serial"]
    assert form.serial == "HX-MOB-0301"  # what was there stays
    assert form.scan_image(b"not a picture") is None and "not a picture" in form.errors["serial"]
    with pytest.raises(ScanError, match="empty"):
        decode_qr(b"")
