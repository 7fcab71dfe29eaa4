"""Alarms in the plant's words (``ui.alarm_text.describe_alarm``): per kind in Chinese and English, equipment named by
its plant name, what to check first, local times, no internal id on the face of it; the technical text kept apart.

The alarms are the platform's own: raised by its rules from gateway statuses and evaluations against PostgreSQL,
read back through the API as the clients read them.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest

from cem_clients._models import Alarm, AlarmConsequence
from cem_clients.api import ApiClient
from cem_clients.ui.alarm_text import KINDS, AlarmText, describe_alarm, is_consequence
from cem_clients.ui.i18n import STRINGS, Locale, Translator, placeholders
from cem_platform.alarms.models import AlarmKind
from cem_platform.alarms.rules import evaluate
from cem_platform.settings import Settings
from tests.test_alarms.helpers import base_time, feed, gateway_alarm, meters, readings, source, status, terminal
from tests.test_clients.test_api_client import api, base_url, login  # noqa: F401 - the served platform
from tests.test_platform.world import World

UTC = dt.UTC
T0 = dt.datetime(2026, 12, 7, 3, 0, tzinfo=UTC)  # 11:00 in Shanghai
CJK = re.compile(r"[\u4e00-\u9fff]")


def _alarm(kind: str, **fields: object) -> Alarm:
    base: dict[str, object] = {
        "id": 7,
        "enterprise_id": 1,
        "kind": kind,
        "severity": "critical",
        "subject_type": "device",
        "subject_id": "dev-3f9a2c",
        "cause": f"{kind}:dev-3f9a2c:gw:rolling-plc",
        "state": "active",
        "message": "rolling-plc: rolling-plc: refused (127.0.0.1:43199: [Errno 111] Connect call failed)",
        "detail": {"device_id": "dev-3f9a2c", "since": T0.isoformat()},
        "raised_at": T0 + dt.timedelta(seconds=20),
        "last_seen_at": T0 + dt.timedelta(minutes=5),
        "names": {"device": "炼钢厂网关"},
    }
    base.update(fields)
    return Alarm(**base)  # type: ignore[arg-type]


def _face(text: AlarmText) -> str:
    """Everything a screen shows without a tap."""
    return " ".join([text.title, text.happened, text.check_first, text.raised_at, text.subject, *text.consequences])


RAW = ("dev-3f9a2c", "rolling-plc", "meter_comm", "data_gap", "IR.BF1", "UTC", "Errno", "{", "}")

PLC = _alarm(
    "meter_comm",
    names={"device": "炼钢厂网关", "connection": "rolling-plc", "process": "热轧", "process_en": "Hot rolling"},
    detail={"device_id": "dev-3f9a2c", "connection": "rolling-plc", "since": T0.isoformat()},
    consequences=(
        AlarmConsequence(point_id=11, point_code="HR.RF1.GAS", point_name="加热炉煤气流量", facility="1#加热炉"),
        AlarmConsequence(point_id=12, point_code="HR.RF1.AIR", point_name="助燃空气流量", facility="1#加热炉"),
    ),
)
POINT_NAMES = {
    "device": "炼铁网关",
    "point": "焦炭流量",
    "point_code": "IR.BF1.COKE.FLOW",
    "facility": "1#高炉",
    "process": "炼铁",
    "process_en": "Ironmaking",
}
EXAMPLES = {
    "meter_comm": PLC,
    "device_offline": _alarm("device_offline", detail={"reason": "connection lost", "device_id": "dev-3f9a2c"}),
    "certificate_expiring": _alarm(
        "certificate_expiring", detail={"not_after": (T0 + dt.timedelta(days=10)).isoformat(), "serial": "ab12"}
    ),
    "gateway_buffer": _alarm("gateway_buffer"),
    "meter_stuck": _alarm(
        "meter_stuck",
        subject_type="point",
        subject_id="18",
        names=POINT_NAMES,
        message="IR.BF1.COKE.FLOW has not changed",
    ),
    "meter_out_of_range": _alarm("meter_out_of_range", detail={"drops_last_hour": 37, "threshold": 10}),
    "data_gap": _alarm(
        "data_gap",
        subject_type="point",
        subject_id="18",
        names=POINT_NAMES,
        detail={"last_reading_at": T0.isoformat(), "sample_seconds": 60, "gap_intervals": 5, "point_code": "IR.BF1"},
    ),
    "data_spike": _alarm("data_spike", detail={"drops_last_hour": 12, "threshold": 10}),
    "data_completeness": _alarm(
        "data_completeness",
        subject_type="point",
        subject_id="18",
        names=POINT_NAMES,
        detail={"hour": T0.isoformat(), "readings": 41, "expected": 60, "percent": 68.3, "threshold_percent": 90},
    ),
    "dead_letters": _alarm("dead_letters", detail={"count": 120, "threshold": 100}),
    "data_conflict": _alarm(
        "data_conflict",
        subject_type="point",
        subject_id="18",
        names=POINT_NAMES,
        occurrences=3,
        detail={
            "device_id": "dev-3f9a2c",
            "point_code": "IR.BF1.COKE.FLOW",
            "ts": T0.isoformat(),
            "seq": 4411,
            "value": 1234.125,
            "stored_value": 1234.0,
            "readings": 1,
        },
    ),  # fmt: skip
    "energy_limit": _alarm(
        "energy_limit",
        severity="major",
        subject_type="process",
        subject_id="5",
        cause="energy_limit:5:gb21256-2025.bof",
        message="转炉炼钢 2026-03: -10.47 kgce/t above the limit -12 kgce/t of BOF process energy (GB 21256-2025)",
        names={"process": "转炉炼钢", "process_en": "BOF steelmaking"},
        detail={
            "period": "2026-03",
            "actual": "-10.4723",
            "limit": "-12",
            "over": "1.5277",
            "unit": "kgce/t",
            "edition": "GB 21256-2025",
            "missing": ["scrap_ratio"],
        },
    ),
    "carbon_deficit": _alarm(
        "carbon_deficit",
        severity="major",
        subject_type="enterprise",
        subject_id="1",
        cause="carbon:1:2025:deficit",
        message="甲钢铁 2025: forecast deficit 7057.52 tCO2 above the warning level 5000 tCO2",
        names={"enterprise": "甲钢铁"},
        detail={
            "year": 2025,
            "position": "-7057.52",
            "rule_version": 1,
            "deadline": "2026-12-31",
            "level": "5000",
            "what": "deficit",
            "band": {"level": "0.8"},
            "money": {"price": "90.5", "position": "-638705.56", "low": "-1350412.52", "high": "122811.65"},
        },
    ),  # fmt: skip
}


def test_every_kind_has_an_example_here() -> None:
    assert set(EXAMPLES) == set(KINDS) == {k.value for k in AlarmKind}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("locale", list(Locale))
def test_each_kind_says_what_happened_and_what_to_check_by_plant_names(kind: str, locale: Locale) -> None:
    alarm = EXAMPLES[kind]
    text = describe_alarm(alarm, Translator(locale))
    face = _face(text)
    assert all(raw not in face for raw in RAW), face
    assert text.title and text.happened and text.check_first and text.subject
    if alarm.subject_type == "process":  # a process by its name, its type's English name on an English screen
        assert alarm.names["process_en" if locale is Locale.EN else "process"] in text.subject
    elif alarm.subject_type == "enterprise":
        assert alarm.names["enterprise"] == text.subject
    else:
        assert (alarm.names.get("point") or alarm.names["device"]) in text.subject
    assert text.raised_at == "2026-12-07 11:00"  # the plant's time, not 03:00 UTC
    if locale is Locale.EN:
        # English words around the plant's own names (which stay as the plant writes them)
        rest = face
        for name in (*alarm.names.values(), *(c.point_name for c in alarm.consequences), "1#加热炉"):
            rest = rest.replace(name, "")
        assert not CJK.search(rest), rest
    else:
        assert CJK.search(text.happened) and CJK.search(text.check_first)
    assert alarm.message in text.technical and alarm.cause in text.technical  # one tap away, as it is


def test_an_energy_limit_says_the_month_the_figures_and_an_uncorrected_limit() -> None:
    zh = describe_alarm(EXAMPLES["energy_limit"], Translator(Locale.ZH_CN))
    assert zh.subject == "转炉炼钢" and zh.title == "工序能耗超限额"
    assert zh.happened == (
        "转炉炼钢 2026-03 的工序能耗为 -10.47 kgce/t，超过 GB 21256-2025 限额 -12.00 kgce/t（超出 1.53 kgce/t）。"
        "限额尚未按 scrap_ratio 修正（未录入）。"
    )
    en = describe_alarm(EXAMPLES["energy_limit"], Translator(Locale.EN))
    assert en.subject == "BOF steelmaking" and "above the GB 21256-2025 limit of -12.00 kgce/t" in en.happened


def test_a_carbon_warning_says_the_year_the_deficit_its_money_and_the_deadline() -> None:
    zh = describe_alarm(EXAMPLES["carbon_deficit"], Translator(Locale.ZH_CN))
    assert zh.subject == "甲钢铁" and zh.title == "碳配额预测缺口超预警线"
    assert (
        zh.happened
        == "甲钢铁 2025 年度预测配额缺口 7,058 tCO2，超过预警线 5,000 tCO2。按最新 CEA 价格约合 638,706 元。"
    )
    en = describe_alarm(EXAMPLES["carbon_deficit"], Translator(Locale.EN))
    assert en.title == "Allowance deficit above its warning level"
    assert en.happened.startswith("甲钢铁's forecast allowance deficit for 2025 is 7,058 tCO2, above the warning level")
    deadline = EXAMPLES["carbon_deficit"].detail | {"what": "deadline"}
    near = describe_alarm(_alarm("carbon_deficit", subject_type="enterprise", names={}, detail=deadline),
                          Translator(Locale.EN))  # fmt: skip
    assert near.title == "Surrender deadline near with a deficit" and near.subject == "The enterprise"
    assert "The surrender deadline for 2025 is 2026-12-31" in near.happened


def test_a_conflict_says_both_values_exactly() -> None:
    for locale, words in ((Locale.ZH_CN, "保留了原值"), (Locale.EN, "kept the stored value")):
        text = describe_alarm(EXAMPLES["data_conflict"], Translator(locale))
        assert "1,234.125" in text.happened and "1,234.0" in text.happened and words in text.happened, text.happened
        assert "11:00" in text.happened  # the reading's time, local


def test_a_plc_outage_names_the_plc_by_its_process_and_lists_its_meters() -> None:
    zh = describe_alarm(PLC, Translator(Locale.ZH_CN))
    assert zh.title == "PLC 通信中断"
    assert zh.subject == "热轧 PLC，炼钢厂网关"
    assert zh.happened == (
        "炼钢厂网关自 2026-12-07 11:00 起连不上热轧 PLC，这台 PLC 下的计量点没有读数。受影响的 2 个计量点列在下方。"
    )
    assert zh.consequences == ("加热炉煤气流量（1#加热炉）", "助燃空气流量（1#加热炉）")
    en = describe_alarm(PLC, Translator(Locale.EN))
    assert en.subject == "Hot rolling PLC, 炼钢厂网关"
    assert "since 2026-12-07 11:00" in en.happened and "Meters affected: 2" in en.happened
    assert en.consequences == ("加热炉煤气流量 (1#加热炉)", "助燃空气流量 (1#加热炉)")
    assert "rolling-plc" in en.technical and "HR.RF1.GAS" in en.technical


def test_facts_in_local_time_and_units_of_the_language() -> None:
    gap = EXAMPLES["data_gap"]
    assert describe_alarm(gap, Translator(Locale.ZH_CN)).happened == (
        "焦炭流量（1#高炉）自 2026-12-07 11:00 起没有读数（应每 60 秒 一条），而网关在线。"
    )
    assert "(expected every 60 s)" in describe_alarm(gap, Translator(Locale.EN)).happened
    completeness = describe_alarm(EXAMPLES["data_completeness"], Translator(Locale.ZH_CN)).happened
    assert "2026-12-07 11:00" in completeness and "41" in completeness and "68.3%" in completeness
    other_zone = Translator(Locale.ZH_CN, zone="Europe/Berlin")
    assert describe_alarm(gap, other_zone).raised_at == "2026-12-07 04:00"


def test_names_missing_are_said_generically_never_as_ids() -> None:
    bare = _alarm("data_gap", subject_type="point", subject_id="18", names={}, detail={"point_code": "IR.BF1"})
    zh = describe_alarm(bare, Translator(Locale.ZH_CN))
    assert zh.subject == "未命名的计量点" and "18" not in _face(zh).replace("2026-12-07", "")
    plc = describe_alarm(_alarm("meter_comm", names={}), Translator(Locale.EN))
    assert plc.subject == "PLC, Unnamed gateway" and "dev-3f9a2c" not in _face(plc)
    other = describe_alarm(_alarm("a_future_kind"), Translator(Locale.ZH_CN))
    assert other.title == "告警" and "技术信息" in other.happened


def test_consequences_are_not_shown_on_their_own() -> None:
    assert not is_consequence(PLC)
    assert is_consequence(_alarm("data_gap", root_id=7))


def test_strings_of_the_texts_exist_in_both_languages_with_equal_placeholders() -> None:
    keys = [k for k in STRINGS[Locale.ZH_CN] if k.startswith("alarm.text.")]
    assert len(keys) > 40
    for key in keys:
        assert placeholders(STRINGS[Locale.ZH_CN][key]) == placeholders(STRINGS[Locale.EN][key]), key


async def test_alarms_the_platform_raises_read_in_the_plants_words(
    settings: Settings,
    world: World,
    api: ApiClient,  # noqa: F811
) -> None:
    """A PLC outage and a stuck meter raised by the rules, read through the API client as the apps read them."""
    device = await terminal(world.a, name="炼铁网关")
    t0 = base_time()
    points = await meters(world.a, 2)
    await source(points, device, t0)
    await readings(device, points, t0, t0 + 30 * dt.timedelta(minutes=1))
    down = t0 + dt.timedelta(minutes=30, seconds=20)
    report = status(
        device,
        down,
        started=t0,
        alarms=(
            gateway_alarm("connection_down", "critical", down, "iron-plc"),
            gateway_alarm("meter_stuck", "warning", down, world.a.point.code),
        ),
    )
    await feed(settings, device, report, down)
    later = t0 + dt.timedelta(minutes=45)
    await feed(settings, device, status(device, later, started=t0, alarms=report.alarms), later)
    await evaluate(settings, now=later)

    await login(api, world, "a-executive")
    alarms = {a.kind: a for a in await api.alarms(state="open")}
    plc, stuck = alarms["meter_comm"], alarms["meter_stuck"]
    assert [c.point_name for c in plc.consequences] == [p.name for p in points]
    zh = describe_alarm(plc, Translator())
    assert zh.subject == "炼铁 PLC，炼铁网关" and len(zh.consequences) == 2
    assert all(raw not in _face(zh) for raw in ("iron-plc", device.id, "UTC"))
    text = describe_alarm(stuck, Translator(Locale.EN))
    assert text.subject == f"{world.a.point.name} (1#高炉)" and world.a.point.code not in _face(text)
    assert text.title == "Meter reading not changing"
