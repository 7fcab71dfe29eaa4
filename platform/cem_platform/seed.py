"""Demo data: a steel group with one integrated works, its processes, facilities and meters, and one user per role.

Idempotent: running it again changes nothing. Only for the demo; production starts empty (``cem user create``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pyotp

from cem_platform.identity.credentials import TotpBox, hash_password
from cem_platform.identity.models import User, UserScope
from cem_platform.identity.roles import TOTP_REQUIRED_ROLES, Role
from cem_platform.org.models import Enterprise, Facility, FacilityType, MeasurementPoint, Process, ProcessType, Site
from cem_platform.settings import Settings

__all__ = [
    "DEMO_NAMES",
    "DEMO_PASSWORD",
    "DemoAccount",
    "display_names",
    "display_token",
    "seed_demo",
    "seed_meter_history",
]

DEMO_PASSWORD = "cem-demo-2026!"  # noqa: S105 - demo-only accounts, printed by `cem demo`

# process type, process code, name, [(facility type, code, name, [(point code, name, medium, quantity, unit, kind)])]
PLANT = [
    (
        "coking",
        "CK",
        "炼焦",
        [
            (
                "coke_oven",
                "CO1",
                "1#焦炉",
                [
                    ("CK.CO1.COAL", "炼焦煤消耗", "coking_coal", "mass", "t", "totaliser"),
                    ("CK.CO1.COKE", "焦炭产量", "coke", "mass", "t", "totaliser"),
                    ("CK.CO1.COG", "焦炉煤气产生量", "cog", "volume", "Nm3", "totaliser"),
                    ("CK.CO1.COKE.FLOW", "焦炭产量瞬时", "coke", "mass_flow", "t/h", "flow"),
                    ("CK.CO1.COG.FLOW", "焦炉煤气瞬时流量", "cog", "volume_flow", "Nm3/h", "flow"),
                ],
            )
        ],
    ),
    (
        "sintering",
        "SN",
        "烧结",
        [
            (
                "sinter_machine",
                "SM1",
                "1#烧结机",
                [
                    ("SN.SM1.ORE", "铁矿粉消耗", "iron_ore", "mass", "t", "totaliser"),
                    ("SN.SM1.BREEZE", "焦粉消耗", "coke_breeze", "mass", "t", "totaliser"),
                    ("SN.SM1.LIMESTONE", "石灰石消耗", "limestone", "mass", "t", "totaliser"),
                    ("SN.SM1.DOLOMITE", "白云石消耗", "dolomite", "mass", "t", "totaliser"),
                    ("SN.SM1.SINTER", "烧结矿产量", "sinter", "mass", "t", "totaliser"),
                    ("SN.SM1.ORE.FLOW", "铁矿粉瞬时流量", "iron_ore", "mass_flow", "t/h", "flow"),
                    ("SN.SM1.BREEZE.FLOW", "焦粉瞬时流量", "coke_breeze", "mass_flow", "t/h", "flow"),
                ],
            )
        ],
    ),
    (
        "ironmaking",
        "IR",
        "炼铁",
        [
            (
                "blast_furnace",
                "BF1",
                "1#高炉",
                [
                    ("IR.BF1.COKE", "入炉焦炭", "coke", "mass", "t", "totaliser"),
                    ("IR.BF1.PCI", "喷吹煤", "pci_coal", "mass", "t", "totaliser"),
                    ("IR.BF1.HM", "铁水产量", "hot_metal", "mass", "t", "totaliser"),
                    ("IR.BF1.BFG", "高炉煤气产生量", "bfg", "volume", "Nm3", "totaliser"),
                    ("IR.BF1.SINTER", "入炉烧结矿", "sinter", "mass", "t", "totaliser"),
                    ("IR.BF1.COKE.FLOW", "入炉焦炭瞬时", "coke", "mass_flow", "t/h", "flow"),
                    ("IR.BF1.PCI.FLOW", "喷煤瞬时流量", "pci_coal", "mass_flow", "t/h", "flow"),
                    ("IR.BF1.HM.FLOW", "铁水瞬时产量", "hot_metal", "mass_flow", "t/h", "flow"),
                    ("IR.BF1.BFG.FLOW", "高炉煤气瞬时流量", "bfg", "volume_flow", "Nm3/h", "flow"),
                    ("IR.BF1.BLAST.TEMP", "热风温度", "hot_blast", "temperature", "degC", "state"),
                    ("IR.BF1.BLAST.PRESSURE", "热风压力", "hot_blast", "pressure", "kPa", "state"),
                ],
            )
        ],
    ),
    (
        "bof_steelmaking",
        "BOF",
        "转炉炼钢",
        [
            (
                "bof",
                "LD1",
                "1#转炉",
                [
                    ("BOF.LD1.HM", "入炉铁水", "hot_metal", "mass", "t", "totaliser"),
                    ("BOF.LD1.SCRAP", "废钢", "scrap", "mass", "t", "totaliser"),
                    ("BOF.LD1.STEEL", "粗钢产量", "crude_steel", "mass", "t", "totaliser"),
                    ("BOF.LD1.LDG", "转炉煤气回收量", "ldg", "volume", "Nm3", "totaliser"),
                    ("BOF.LD1.LIME", "石灰消耗", "lime", "mass", "t", "totaliser"),
                    ("BOF.LD1.STEEL.FLOW", "粗钢瞬时产量", "crude_steel", "mass_flow", "t/h", "flow"),
                    ("BOF.LD1.LDG.FLOW", "转炉煤气瞬时回收", "ldg", "volume_flow", "Nm3/h", "flow"),
                ],
            )
        ],
    ),
    (
        "eaf_steelmaking",
        "EAF",
        "电炉炼钢",
        [
            (
                "eaf",
                "EF1",
                "1#电弧炉",
                [
                    ("EAF.EF1.POWER", "电耗", "electricity", "energy", "kWh", "totaliser"),
                    ("EAF.EF1.ELECTRODE", "电极消耗", "electrode", "mass", "kg", "totaliser"),
                    ("EAF.EF1.STEEL", "粗钢产量", "crude_steel", "mass", "t", "totaliser"),
                    ("EAF.EF1.SCRAP", "废钢", "scrap", "mass", "t", "totaliser"),
                    ("EAF.EF1.NG", "天然气消耗", "natural_gas", "volume", "Nm3", "totaliser"),
                    ("EAF.EF1.LOAD", "电炉负荷", "electricity", "power", "MW", "flow"),
                    ("EAF.EF1.NG.FLOW", "天然气瞬时流量", "natural_gas", "volume_flow", "Nm3/h", "flow"),
                ],
            )
        ],
    ),
    (
        "hot_rolling",
        "HR",
        "热轧",
        [
            (
                "reheating_furnace",
                "RF1",
                "1#加热炉",
                [
                    ("HR.RF1.GAS", "加热炉煤气", "mixed_gas", "volume", "Nm3", "totaliser"),
                    ("HR.RF1.TEMP", "炉温", "furnace", "temperature", "degC", "state"),
                    ("HR.RF1.SLAB", "入炉板坯", "slab", "mass", "t", "totaliser"),
                    ("HR.RF1.POWER", "热轧电耗", "electricity", "energy", "kWh", "totaliser"),
                    ("HR.RF1.GAS.FLOW", "加热炉煤气瞬时流量", "mixed_gas", "volume_flow", "Nm3/h", "flow"),
                    ("HR.RF1.SLAB.FLOW", "板坯瞬时装炉量", "slab", "mass_flow", "t/h", "flow"),
                ],
            )
        ],
    ),
    (
        "lime_kiln",
        "LK",
        "石灰窑",
        [
            (
                "lime_kiln",
                "LK1",
                "1#石灰窑",
                [
                    ("LK.LK1.LIMESTONE", "石灰石消耗", "limestone", "mass", "t", "totaliser"),
                    ("LK.LK1.FUEL", "石灰窑煤气消耗", "mixed_gas", "volume", "Nm3", "totaliser"),
                    ("LK.LK1.LIME", "石灰产量", "lime", "mass", "t", "totaliser"),
                    ("LK.LK1.FUEL.FLOW", "石灰窑煤气瞬时流量", "mixed_gas", "volume_flow", "Nm3/h", "flow"),
                ],
            )
        ],
    ),
    (
        "captive_power",
        "PW",
        "自备电厂",
        [
            (
                "power_boiler",
                "PB1",
                "1#电站锅炉",
                [
                    ("PW.PB1.BFG", "高炉煤气消耗", "bfg", "volume", "Nm3", "totaliser"),
                    ("PW.PB1.POWER", "发电量", "electricity", "energy", "kWh", "totaliser"),
                    ("PW.PB1.COG", "焦炉煤气消耗", "cog", "volume", "Nm3", "totaliser"),
                    ("PW.PB1.STEAM", "外供蒸汽", "steam", "mass", "t_steam", "totaliser"),
                    ("PW.PB1.LOAD", "机组负荷", "electricity", "power", "MW", "flow"),
                    ("PW.PB1.BFG.FLOW", "高炉煤气瞬时消耗", "bfg", "volume_flow", "Nm3/h", "flow"),
                    ("PW.PB1.STEAM.FLOW", "蒸汽瞬时流量", "steam", "mass_flow", "t/h", "flow"),
                    ("PW.PB1.STEAM.PRESSURE", "主蒸汽压力", "steam", "pressure", "MPa", "state"),
                ],
            )
        ],
    ),
    (
        "auxiliary",
        "AUX",
        "辅助生产",
        [
            (
                "substation",
                "GRID",
                "总降变电站",
                [
                    ("AUX.GRID.IMPORT", "外购电量", "electricity", "energy", "kWh", "totaliser"),
                    ("AUX.GRID.EXPORT", "外供电量", "electricity", "energy", "kWh", "totaliser"),
                    ("AUX.GRID.LOAD", "总降负荷", "electricity", "power", "MW", "flow"),
                ],
            ),
            (
                "metering_station",
                "STEAM",
                "外购蒸汽计量站",
                [
                    ("AUX.STEAM.IMPORT", "外购蒸汽量", "steam", "mass", "t_steam", "totaliser"),
                    ("AUX.STEAM.IMPORT.FLOW", "外购蒸汽瞬时流量", "steam", "mass_flow", "t/h", "flow"),
                ],
            ),
        ],
    ),
]


# facility types the demo needs beyond the built-in dictionary
EXTRA_FACILITY_TYPES = {"metering_station": {"name_zh": "计量站", "name_en": "Metering station"}}
SAMPLE_SECONDS = 1  # the simulated gateway polls every meter each second


# The people behind the demo logins, as the console and the audit log show them (the usernames stay stable)
DEMO_NAMES = {
    Role.ADMIN: "王磊（系统管理员）",
    Role.DEVICE_ADMIN: "李强（设备管理员）",
    Role.ACCOUNTANT: "张伟（碳核算员）",
    Role.EXECUTIVE: "陈静（分管副总）",
    Role.CREW: "刘洋（运行班组）",
    Role.AUDITOR: "赵敏（内审员）",
}
_OLD_NAME_PREFIX = "演示 "  # what earlier demos called them; renamed on the next run


@dataclass(frozen=True, slots=True)
class DemoAccount:
    """A printed demo login."""

    username: str
    role: Role
    password: str
    totp_secret: str | None


async def seed_demo(settings: Settings) -> list[DemoAccount]:
    """Create the demo group, works and users unless they exist; returns the demo logins."""
    enterprise, _ = await Enterprise.get_or_create(
        code="HXSTEEL",
        defaults={
            "name": "华兴钢铁股份有限公司",
            "credit_code": "91320100MA1X2Y3K4J",
            "address": "江苏省南京市",
            "timezone": "Asia/Shanghai",
        },
    )
    site, _ = await Site.get_or_create(enterprise=enterprise, code="NS", defaults={"name": "南山钢铁基地"})
    today = dt.datetime.now(dt.UTC).date()
    for process_type_code, process_code, process_name, facilities in PLANT:
        process_type = await ProcessType.get(code=process_type_code)
        process, _ = await Process.get_or_create(
            site=site, code=process_code, defaults={"process_type": process_type, "name": process_name}
        )
        for facility_type_code, facility_code, facility_name, points in facilities:
            facility_type, _ = await FacilityType.get_or_create(
                code=facility_type_code, defaults=EXTRA_FACILITY_TYPES.get(facility_type_code, {})
            )
            facility, _ = await Facility.get_or_create(
                process=process, code=facility_code, defaults={"facility_type": facility_type, "name": facility_name}
            )
            for code, name, medium, quantity, unit, kind in points:
                await MeasurementPoint.get_or_create(
                    enterprise=enterprise,
                    code=code,
                    defaults={
                        "facility": facility,
                        "name": name,
                        "medium": medium,
                        "quantity": quantity,
                        "unit": unit,
                        "kind": kind,
                        "sample_seconds": SAMPLE_SECONDS,
                        "meter_model": "DEMO-METER",
                        "accuracy_class": "0.5S",
                        "calibrated_on": today - dt.timedelta(days=90),
                        "calibration_due": today + dt.timedelta(days=275),
                    },
                )
    box = TotpBox(settings.security)
    accounts = []
    for role in Role:
        username = f"demo-{role.value.replace('_', '-')}"
        user = await User.get_or_none(username=username)
        if user is None:
            secret = pyotp.random_base32() if role in TOTP_REQUIRED_ROLES else None
            user = await User.create(
                username=username,
                display_name=DEMO_NAMES.get(role, role.value),
                role=role,
                password_hash=hash_password(DEMO_PASSWORD),
                all_enterprises=role is Role.ADMIN,
                totp_secret_encrypted=box.seal(secret) if secret else None,
                totp_confirmed_at=dt.datetime.now(dt.UTC) if secret else None,
            )
            if role is not Role.ADMIN:
                await UserScope.create(user=user, enterprise=enterprise)
        elif user.display_name.startswith(_OLD_NAME_PREFIX) and role in DEMO_NAMES:
            user.display_name = DEMO_NAMES[role]
            await user.save(update_fields=["display_name"])
        secret = box.open(user.totp_secret_encrypted) if user.totp_secret_encrypted else None
        accounts.append(DemoAccount(username, role, DEMO_PASSWORD, secret))
    return accounts


async def display_token(settings: Settings, existing: str | None) -> tuple[int, str] | None:
    """The demo enterprise and a display-only API token for the wallboard: ``existing`` (kept by the caller), or
    a new one issued by demo-admin. None before the demo is seeded."""
    from cem_platform.identity.services import IdentityService

    enterprise = await Enterprise.get_or_none(code="HXSTEEL")
    admin = await User.get_or_none(username="demo-admin")
    if enterprise is None or admin is None:
        return None
    if existing:
        return enterprise.id, existing
    identity = IdentityService(settings)
    principal = await identity.principal_for_user(admin)
    _, secret = await identity.create_api_token(
        principal,
        name="demo-wallboard",
        permissions=["org.read", "data.read", "alarms.read", "emissions.read"],
        enterprise_ids=[enterprise.id],
        expires_at=None,
    )
    return enterprise.id, secret


async def display_names() -> dict[str, str]:
    """The demo logins' display names by username."""
    usernames = [f"demo-{role.value.replace('_', '-')}" for role in Role]
    return {u.username: u.display_name for u in await User.filter(username__in=usernames)}


async def seed_meter_history(now: dt.datetime | None = None) -> dt.datetime | None:
    """Today's hours before the demo started, as the meters would have recorded them: hourly rollups made from the
    simulated plant's model from local midnight to ``now``, into which the live readings then fold.

    The days before today are the works' ledgers (:mod:`cem_platform.accounting.demo`); without this, "today" stayed
    empty until the live meters had filled an hour. Done once a day: when today already has data (an earlier run),
    nothing is added (the gateway's own catch-up covers its downtime). Returns ``now`` in the plant's zone when it
    added hours, else None.
    """
    import zoneinfo

    from cem_gateway.simulator.model import PlantModel, load_config
    from cem_platform.telemetry.rollup import add_hours
    from cem_platform.telemetry.store import dt_to_ms, store_for

    enterprise = await Enterprise.get_or_none(code="HXSTEEL")
    if enterprise is None:
        return None
    zone = zoneinfo.ZoneInfo(enterprise.timezone)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    midnight = dt.datetime.combine(now.date(), dt.time(), tzinfo=zone)
    points = await MeasurementPoint.filter(enterprise_id=enterprise.id).only("id", "code")
    store = store_for()
    if store.dialect != "sqlite" or not points or now - midnight < dt.timedelta(seconds=SAMPLE_SECONDS):
        return None
    marks = ", ".join("?" for _ in points)
    found = await store.client.execute_query_dict(
        f"SELECT count(*) AS n FROM ts_rollup_hour WHERE bucket >= ? AND point_id IN ({marks})",  # noqa: S608
        [dt_to_ms(midnight), *(p.id for p in points)],
    )
    if found[0]["n"]:
        return None
    model = PlantModel(load_config())
    configured = {p.id: p for p in model.config.points}
    hours: list[dict[str, object]] = []
    start = midnight
    while start < now:
        end = min(start + dt.timedelta(hours=1), now)
        a, b = start.timestamp(), end.timestamp()
        readings = int((b - a) // SAMPLE_SECONDS)
        for point in points:
            spec = configured.get(point.code)
            if spec is None or readings == 0:
                continue
            samples = [model.value(spec.id, a + (b - a) * k / 8) for k in range(9)]
            delta: float | None = None
            if spec.kind == "totaliser":
                mean = (samples[0] + samples[-1]) / 2
                delta = samples[-1] - samples[0]
            elif spec.kind == "flow" and spec.stream is not None:
                # the exact mean over the span (the integral), as a transmitter read every second would give
                mean = (model.total(spec.stream, b) - model.total(spec.stream, a)) * 3600 / (b - a) * spec.factor
            else:
                mean = sum(samples) / len(samples)
            hours.append(
                {
                    "point_id": point.id,
                    "bucket": dt_to_ms(start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)),
                    "readings": readings,
                    "estimated": 0,
                    "uncertain": 0,
                    "delta_sum": delta,
                    "value_min": min(samples),
                    "value_max": max(samples),
                    "value_sum": mean * readings,
                    "first_ts": dt_to_ms(start),
                    "last_ts": dt_to_ms(end) - SAMPLE_SECONDS * 1000,
                    "last_value": samples[-1],
                }
            )
        start = end
    added = await add_hours(store, hours)
    # as the fold job does: the accounting of these hours is refreshed (at once, so the demo shows them at start)
    from cem_platform.accounting.pending import mark_points
    from cem_platform.accounting.refresh import refresh

    if await mark_points(added.touched):
        await refresh()
    return now
