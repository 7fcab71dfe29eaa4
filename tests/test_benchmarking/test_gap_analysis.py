"""Benchmarking on real PostgreSQL: a works with a sinter plant at each GB 21256 level and one above the limit, a
converter whose limit needs its scrap ratio, and an EAF sized by its facility.

March 2026, every process's energy is sub-metered electricity at the equivalent value (0.1229 tce/MWh, GB/T 2589),
so its process energy per tonne is 122.9 kgce per MWh-thousand over its output, computed by hand below. The converter
also recovers 100 x 10^4 Nm3 of converter gas (84 GJ per 10^4 Nm3, 1 tce = 29.3076 GJ).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from cem_platform.alarms.models import Alarm, AlarmKind, AlarmState
from cem_platform.audit.models import AuditRecord
from cem_platform.benchmarking.models import CorrectionInput, ReferenceVersion
from cem_platform.benchmarking.services import evaluate_limits
from cem_platform.identity.models import LoginSession
from cem_platform.org.models import Facility, FacilityType, Process, ProcessType
from tests.test_accounting.kept import refresh_now
from tests.test_accounting.test_api import API
from tests.test_platform.world import World, totp_code

BM = "/api/v1/benchmarking"
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
POWER = Decimal("0.1229")  # tce per MWh, equivalent value
GAS = Decimal(8400) / Decimal("29.3076")  # 100 x 10^4 Nm3 x 84 GJ, in tce
# sinter plants: (code, MWh, tonnes of sinter) -> 122.9 t x 1000 / tonnes kgce/t
SINTER = {"SIN1": ("1000", "3000"), "SIN2": ("1000", "2700"), "SIN3": ("1000", "2500"), "SIN4": ("1000", "2200")}
BOF_MWH, BOF_T = Decimal(1480), Decimal(10000)
BOF = (BOF_MWH * POWER - GAS) * 1000 / BOF_T  # -10.4723...: above the uncorrected limit -12


def _kgce(mwh: str, tonnes: str) -> Decimal:
    return Decimal(mwh) * POWER * 1000 / Decimal(tonnes)


def _close(value: str | None, expected: Decimal, tolerance: str = "0.000001") -> bool:
    return value is not None and abs(Decimal(value) - expected) <= Decimal(tolerance)


async def _source(
    world: World,
    headers: dict[str, str],
    process: Process,
    code: str,
    category: str,
    item: str,
    inputs: dict[str, str],
    values: dict[str, str],
    direction: str = "consumed",
) -> None:
    body = {
        "enterprise_id": world.a.enterprise.id,
        "code": code,
        "name": code,
        "category": category,
        "item": item,
        "process_id": process.id,
        "inputs": {k: {"origin": "manual", "unit": u} for k, u in inputs.items()},
        "direction": direction,
    }
    response = await world.client.post(f"{API}/sources", headers=headers, json=body)
    assert response.status_code == 201, response.text
    for name, value in values.items():
        record = {"source_id": response.json()["id"], "input": name, "value": value, "unit": inputs[name], **MARCH}
        added = await world.client.post(f"{API}/activity", headers=headers, json=record)
        assert added.status_code == 201, added.text


async def _process(world: World, type_code: str, code: str, name: str) -> Process:
    return await Process.create(
        site=world.a.site, process_type=await ProcessType.get(code=type_code), code=code, name=name
    )


async def _works(world: World, headers: dict[str, str]) -> dict[str, Process]:
    processes: dict[str, Process] = {}
    power = {"purchased": "MWh", "exported": "MWh"}
    for code, (mwh, tonnes) in SINTER.items():
        process = processes[code] = await _process(world, "sintering", code, f"{code[-1]}#烧结")
        await _source(
            world, headers, process, f"{code}.POWER", "electricity", "", power, {"purchased": mwh, "exported": "0"}
        )
        await _source(world, headers, process, f"{code}.OUT", "output", "sinter", {"AD": "t"}, {"AD": tonnes})
    bof = processes["BOF"] = await _process(world, "bof_steelmaking", "BOF", "转炉炼钢")
    await _source(
        world, headers, bof, "BOF.POWER", "electricity", "", power, {"purchased": str(BOF_MWH), "exported": "0"}
    )
    await _source(
        world, headers, bof, "LDG", "fuel_combustion", "converter_gas", {"FC": "10^4 Nm3"}, {"FC": "100"}, "sold"
    )
    await _source(world, headers, bof, "OUT.STEEL", "output", "crude_steel", {"AD": "t"}, {"AD": str(BOF_T)})
    eaf = processes["EAF"] = await _process(world, "eaf_steelmaking", "EAF", "电炉炼钢")
    furnace_type = await FacilityType.get(code="eaf")
    await Facility.create(
        process=eaf, facility_type=furnace_type, code="EAF1", name="1#电炉", capacity=Decimal(100), capacity_unit="t"
    )
    await _source(world, headers, eaf, "EAF.POWER", "electricity", "", power, {"purchased": "5000", "exported": "0"})
    await _source(world, headers, eaf, "EAF.OUT", "output", "crude_steel", {"AD": "t"}, {"AD": "10000"})
    await refresh_now()
    return processes


async def _gap(world: World, headers: dict[str, str], **params: Any) -> Any:
    query = {"scope": "enterprise", "id": world.a.enterprise.id, "period": "month", "from": "2026-03", **params}
    response = await world.client.get(f"{BM}/gap", headers=headers, params=query)
    assert response.status_code == 200, response.text
    return response.json()


def _subject(page: Any, code: str) -> Any:
    return next(s for s in page["subjects"] if s["code"] == code)


def _energy(subject: Any) -> Any:
    return next(i for i in subject["indicators"] if i["indicator"] == "process_energy")


def _against(subject: Any, entry: str, period: int = 0) -> Any:
    return next(c for c in _energy(subject)["periods"][period]["comparisons"] if c["entry"] == entry)


async def test_a_sinter_plant_at_each_level_and_one_above_the_limit(world: World) -> None:
    await _works(world, await world.login("a-accountant"))
    page = await _gap(world, await world.login("a-executive"), indicator="process_energy")
    assert page["versions"] == {"national": 1, f"enterprise-{world.a.enterprise.id}": 0}
    assert page["periods"] == ["2026-03"]
    expected = {"SIN1": ("1", None), "SIN2": ("2", "1"), "SIN3": ("3", "2"), "SIN4": (None, "3")}
    for code, (reached, next_level) in expected.items():
        subject = _subject(page, code)
        actual = _kgce(*SINTER[code])
        [march] = _energy(subject)["periods"]
        assert _close(march["actual"], actual) and march["output"] == SINTER[code][1]
        grade = _against(subject, "gb21256-2025.sintering")
        assert (grade["kind"], grade["reached"], grade["next_level"]) == ("limit", reached, next_level)
        assert grade["limit"] == "52" and grade["breach"] is (actual > 52) and grade["corrected"] is True
        levels = {level["name"]: level for level in grade["levels"]}
        assert [level["value"] for level in grade["levels"]] == ["43", "46", "52"]
        assert _close(levels["1"]["gap"], actual - 43)
        assert _close(levels["1"]["relative"], (actual - 43) * 100 / 43, "0.005")
        # the ore corrections are there, taken as no such ore (the entry says so), adding nothing
        assert {c["origin"] for c in grade["corrections"]} == {"zero"} and grade["missing"] == []
        national = _against(subject, "national-efficiency.sintering")
        assert national["kind"] == "benchmark" and national["limit"] is None and national["breach"] is None
    sin2 = _against(_subject(page, "SIN2"), "gb21256-2025.sintering")
    gap = _kgce(*SINTER["SIN2"]) - 43  # 2.5185...
    assert _close(sin2["gap_to_next"], gap)
    assert sin2["text"] == "二级, 距一级 2.52 kgce/t" and sin2["text_en"] == "Level 2, 2.52 kgce/t from level 1"
    assert _against(_subject(page, "SIN1"), "gb21256-2025.sintering")["text"].startswith("一级, 优于一级 ")
    assert _against(_subject(page, "SIN4"), "gb21256-2025.sintering")["text"] == "未达三级, 超出 3.86 kgce/t"
    # the EAF's size class comes from its furnace's capacity (100 t): only the >= 70 t entries apply
    eaf = _energy(_subject(page, "EAF"))["periods"][0]
    assert {c["entry"] for c in eaf["comparisons"]} == {"gb21256-2025.eaf_ge70", "national-efficiency.eaf_ge50"}
    [eaf_limit] = [c for c in eaf["comparisons"] if c["kind"] == "limit"]
    assert eaf_limit["missing"] == ["hot_metal_ratio"] and eaf_limit["corrected"] is False  # said, not guessed
    assert [level["name"] for level in eaf_limit["levels"]] == ["1", "2", "3"]
    # the enterprise as a whole: worldsteel references per tonne of crude steel, only for CO2
    works = _subject(page, world.a.enterprise.code)
    assert works["process_id"] is None and _energy(works)["periods"][0]["comparisons"] == []


async def test_the_converter_limit_corrected_by_its_scrap_ratio(world: World) -> None:
    accountant = await world.login("a-accountant")
    processes = await _works(world, accountant)
    bof = processes["BOF"]
    query = {"scope": "process", "id": bof.id, "indicator": "process_energy"}
    before = _against(_subject(await _gap(world, accountant, **query), "BOF"), "gb21256-2025.bof")
    assert _close(_energy(_subject(await _gap(world, accountant, **query), "BOF"))["periods"][0]["actual"], BOF)
    assert before["missing"] == ["scrap_ratio"] and before["corrected"] is False
    assert before["limit"] == "-12" and before["breach"] is True  # uncorrected, and the answer says so

    entered = await world.client.put(
        f"{BM}/inputs",
        headers=accountant,
        json={
            "process_id": bof.id,
            "name": "scrap_ratio",
            "period": "2026-03",
            "value": "10",
            "source": "炼钢月报 2026-03",
        },
    )
    assert entered.status_code == 200, entered.text
    after = _against(_subject(await _gap(world, accountant, **query), "BOF"), "gb21256-2025.bof")
    [scrap] = after["corrections"]
    assert (scrap["input"], scrap["value"], scrap["origin"], scrap["adjustment"]) == (
        "scrap_ratio",
        "10",
        "entered",
        "2.3",
    )
    assert [level["value"] for level in after["levels"]] == ["-27.7", "-25.7", "-9.7"]
    assert [level["base"] for level in after["levels"]] == ["-30", "-28", "-12"]
    assert after["limit"] == "-9.7" and after["breach"] is False and after["corrected"] is True
    assert after["reached"] == "3" and after["text"] == f"三级, 距二级 {(BOF + Decimal('25.7')):.2f} kgce/t"
    # a year's value serves its months unless the month has its own
    await world.client.put(
        f"{BM}/inputs",
        headers=accountant,
        json={"process_id": bof.id, "name": "scrap_ratio", "period": "2026-03", "value": None},
    )
    await world.client.put(
        f"{BM}/inputs",
        headers=accountant,
        json={"process_id": bof.id, "name": "scrap_ratio", "period": "2026", "value": "20", "source": "年报"},
    )
    yearly = _against(_subject(await _gap(world, accountant, **query), "BOF"), "gb21256-2025.bof")
    assert yearly["corrections"][0]["adjustment"] == "4.6" and yearly["limit"] == "-7.4"
    listed = await world.client.get(f"{BM}/inputs", headers=accountant, params={"process_id": bof.id})
    assert [(i["period"], i["value"]) for i in listed.json()] == [("2026", "20")]
    actions = await AuditRecord.filter(action__startswith="benchmarking.input").values_list("action", flat=True)
    assert sorted(actions) == ["benchmarking.input.remove", "benchmarking.input.set", "benchmarking.input.set"]


async def test_a_limit_breach_raises_an_alarm_and_clears_it_when_back_within(world: World) -> None:
    accountant = await world.login("a-accountant")
    processes = await _works(world, accountant)
    bof, sin4, sin3 = processes["BOF"], processes["SIN4"], processes["SIN3"]
    april = dt.datetime(2026, 4, 10, 4, tzinfo=dt.UTC)  # March is the latest month with figures

    report = await evaluate_limits(world.settings, now=april)
    assert report.errors == {} and report.raised == 2
    open_alarms = await Alarm.filter(kind=AlarmKind.ENERGY_LIMIT, state=AlarmState.ACTIVE).order_by("subject_id")
    assert {(a.subject_type, a.subject_id) for a in open_alarms} == {
        ("process", str(bof.id)),
        ("process", str(sin4.id)),
    }
    alarm = next(a for a in open_alarms if a.subject_id == str(bof.id))
    assert alarm.detail["limit"] == "-12" and alarm.detail["missing"] == ["scrap_ratio"]
    assert alarm.detail["period"] == "2026-03" and alarm.detail["versions"]["national"] == 1
    assert "not corrected for scrap_ratio" in alarm.message and alarm.names["process"] == "转炉炼钢"
    assert not await Alarm.exists(subject_id=str(sin3.id))  # level 3 is within the limit

    # the API shows it like every other alarm
    listed = await world.client.get("/api/v1/alarms", headers=accountant, params={"kind": "energy_limit"})
    assert listed.status_code == 200 and len(listed.json()) == 2, listed.text

    # again: the same alarm, seen again; then the scrap ratio is entered and the converter is within its limit
    await evaluate_limits(world.settings, now=april + dt.timedelta(minutes=5))
    assert await Alarm.filter(kind=AlarmKind.ENERGY_LIMIT).count() == 2
    await alarm.refresh_from_db()
    assert alarm.occurrences == 1  # the same figure seen again is not a new occurrence
    # months without figures judge nothing: the alarms stay as they are
    await evaluate_limits(world.settings, now=dt.datetime(2026, 6, 10, 4, tzinfo=dt.UTC))
    assert await Alarm.filter(kind=AlarmKind.ENERGY_LIMIT, state=AlarmState.ACTIVE).count() == 2
    await world.client.put(
        f"{BM}/inputs",
        headers=accountant,
        json={"process_id": bof.id, "name": "scrap_ratio", "period": "2026-03", "value": "10", "source": "月报"},
    )
    report = await evaluate_limits(world.settings, now=april + dt.timedelta(minutes=10))
    assert report.cleared == 1
    await alarm.refresh_from_db()
    assert alarm.state == AlarmState.CLEARED and alarm.cleared_by == "rule" and "within -9.7" in alarm.clear_note
    assert await Alarm.filter(kind=AlarmKind.ENERGY_LIMIT, state=AlarmState.ACTIVE).count() == 1  # SIN4 stays

    # the enterprise raises its own limit for SIN4 above the national one? No: it adds a stricter one, and removing
    # it later clears that alarm (a limit that no longer applies)
    code = totp_code(world.secrets["a-accountant"], steps_ahead=1)
    own = {
        "library": "enterprise",
        "enterprise_id": world.a.enterprise.id,
        "reason": "集团内控限额 2026",
        "changes": [
            {
                "code": "own.sin3",
                "entry": {
                    "kind": "limit",
                    "process_type": "sintering",
                    "process_code": "SIN3",
                    "indicator": "process_energy",
                    "unit": "kgce/t",
                    "name": "3#烧结内控限额",
                    "levels": [{"name": "internal", "value": "48"}],
                    "limit_level": "internal",
                    "source": "集团能源管理制度 2026",
                    "edition": "2026",
                },
            }
        ],
    }
    added = await world.client.post(f"{BM}/versions", headers=accountant | {"X-CEM-TOTP": code}, json=own)
    assert added.status_code == 201, added.text
    await evaluate_limits(world.settings, now=april + dt.timedelta(minutes=15))
    internal = await Alarm.get(cause=f"energy_limit:{sin3.id}:own.sin3")
    assert internal.state == AlarmState.ACTIVE and internal.detail["limit"] == "48"
    removed = await world.client.post(
        f"{BM}/versions",
        headers=accountant,
        json={
            "library": "enterprise",
            "enterprise_id": world.a.enterprise.id,
            "reason": "内控限额取消",
            "changes": [{"code": "own.sin3", "remove": True}],
        },
    )
    assert removed.status_code == 201, removed.text
    await evaluate_limits(world.settings, now=april + dt.timedelta(minutes=20))
    await internal.refresh_from_db()
    assert internal.state == AlarmState.CLEARED and "no limit applies" in internal.clear_note


async def test_editing_a_benchmark_makes_a_version_and_never_changes_an_earlier_analysis(world: World) -> None:
    accountant = await world.login("a-accountant")
    processes = await _works(world, accountant)
    library = f"enterprise-{world.a.enterprise.id}"
    entry = {
        "kind": "benchmark",
        "process_type": "sintering",
        "indicator": "process_energy",
        "unit": "kgce/t",
        "name": "集团最优烧结",
        "name_en": "group best sinter plant",
        "levels": [{"name": "best", "value": "44"}],
        "source": "集团 2025 能源年报",
        "edition": "2025",
        "confidence": "confirmed",
        "checked": "read in the group's audited energy report",
    }
    body = {
        "library": "enterprise",
        "enterprise_id": world.a.enterprise.id,
        "reason": "group best 2025",
        "changes": [{"code": "group-best.sintering", "entry": entry}],
    }
    code = totp_code(world.secrets["a-accountant"], steps_ahead=1)
    created = await world.client.post(f"{BM}/versions", headers=accountant | {"X-CEM-TOTP": code}, json=body)
    assert created.status_code == 201 and created.json()["number"] == 1, created.text
    query = {"scope": "process", "id": processes["SIN2"].id, "indicator": "process_energy"}
    first = await _gap(world, accountant, **query)
    assert first["versions"] == {"national": 1, library: 1}
    best = _against(_subject(first, "SIN2"), "group-best.sintering")
    assert best["library"] == library and best["reached"] is None and best["levels"][0]["value"] == "44"

    edited = {
        **body,
        "reason": "group best corrected",
        "changes": [{"code": "group-best.sintering", "entry": {**entry, "levels": [{"name": "best", "value": "46"}]}}],
    }
    changed = await world.client.post(f"{BM}/versions", headers=accountant, json=edited)
    assert changed.status_code == 201 and changed.json()["number"] == 2, changed.text
    assert changed.json()["diff"][0]["before"]["levels"] == [{"name": "best", "value": "44"}]
    newest = await _gap(world, accountant, **query)
    assert newest["versions"][library] == 2
    assert _against(_subject(newest, "SIN2"), "group-best.sintering")["reached"] == "best"
    again = await _gap(world, accountant, **query, enterprise_version=1, national_version=1)
    assert again == first  # the earlier analysis, exactly, by the versions it names

    versions = await world.client.get(
        f"{BM}/versions", headers=accountant, params={"library": "enterprise", "enterprise_id": world.a.enterprise.id}
    )
    assert [(v["number"], v["author"], v["reason"]) for v in versions.json()] == [
        (2, "a-accountant", "group best corrected"),
        (1, "a-accountant", "group best 2025"),
    ]
    old = await world.client.get(
        f"{BM}/entries",
        headers=accountant,
        params={"library": "enterprise", "enterprise_id": world.a.enterprise.id, "version": 1},
    )
    assert old.json()["entries"][0]["levels"][0]["value"] == "44"
    changes = await AuditRecord.filter(action="benchmarking.library.change", outcome="success").count()
    assert changes == 2


async def test_the_national_library_is_seeded_with_sources_and_what_was_checked(world: World) -> None:
    reader = await world.login("a-executive")
    page = await world.client.get(f"{BM}/entries", headers=reader, params={"library": "national"})
    assert page.status_code == 200, page.text
    entries = {e["code"]: e for e in page.json()["entries"]}
    assert page.json()["version"] == 1
    for code, levels in {
        "gb21256-2025.sintering": ["43", "46", "52"],
        "gb21256-2025.pelletising": ["15", "22", "33"],
        "gb21256-2025.blast_furnace": ["361", "370", "415"],
        "gb21256-2025.bof": ["-30", "-28", "-12"],
        "gb21256-2025.eaf_lt50": ["61", "86"],
        "gb21256-2025.eaf_50_70": ["61", "72"],
        "gb21256-2025.eaf_ge70": ["61", "64", "72"],
        "gb21342-2025.top_charged": ["110", "110", "135"],
        "gb21342-2025.stamp_charged": ["115", "115", "140"],
    }.items():
        assert [level["value"] for level in entries[code]["levels"]] == levels, code
        assert entries[code]["kind"] == "limit" and entries[code]["limit_level"] == "3"
    assert entries["gb21256-2025.blast_furnace"]["corrections"][-1] == {
        "input": "feed_grade",
        "coefficient": "3.61",
        "below": "62",
        "max_points": "5",
        "when_missing": "required",
    }
    # what was checked says so, and only that: the EU ETS values and worldsteel's global average were confirmed
    confirmed = {code for code, e in entries.items() if e["confidence"] == "confirmed"}
    assert confirmed == {
        "eu-ets-2021.hot_metal",
        "eu-ets-2021.sinter",
        "eu-ets-2021.coke",
        "eu-ets-2021.eaf_carbon_steel",
        "worldsteel.global_2021",
    }
    assert all(e["source"] and e["checked"] and e["edition"] for e in entries.values())
    assert "not found" in entries["gb21256-2025.sintering"]["checked"].lower()
    assert entries["gb21342-2025.top_charged"]["valid_from"] == "2026-05-01"
    sintering = await world.client.get(
        f"{BM}/entries", headers=reader, params={"library": "national", "process_type": "sintering", "kind": "limit"}
    )
    assert [e["code"] for e in sintering.json()["entries"]] == ["gb21256-2025.sintering"]
    unknown = await world.client.get(
        f"{BM}/entries", headers=reader, params={"library": "national", "process_type": "x"}
    )
    assert unknown.status_code == 400 and "Unknown process type 'x'" in unknown.json()["error"]["message"]
    catalogue = await world.client.get(f"{BM}/indicators", headers=reader)
    assert {i["code"]: i["unit"] for i in catalogue.json()["indicators"]} == {
        "process_energy": "kgce/t",
        "co2_intensity": "tCO2/t",
    }


async def _counts() -> tuple[int, int, int]:
    return (
        await ReferenceVersion.all().count(),
        await CorrectionInput.all().count(),
        await AuditRecord.filter(action__startswith="benchmarking", outcome="success").count(),
    )


async def test_bad_input_gets_a_clear_error_and_nothing_half_written(world: World) -> None:
    accountant = await world.login("a-accountant")
    processes = await _works(world, accountant)
    good = {
        "kind": "benchmark",
        "process_type": "sintering",
        "indicator": "process_energy",
        "unit": "kgce/t",
        "name": "peer",
        "levels": [{"name": "peer", "value": "47"}],
        "source": "peer report",
        "edition": "2025",
    }

    def change(entry: dict[str, Any], library: str = "enterprise", **extra: Any) -> dict[str, Any]:
        return {
            "library": library,
            "enterprise_id": world.a.enterprise.id,
            "reason": "test",
            **extra,
            "changes": [{"code": "peer.ok", "entry": good}, {"code": "peer.bad", "entry": entry}],
        }

    await LoginSession.filter(user_id=world.users["a-accountant"].id).update(step_up_at=None)  # confirmed long ago
    unconfirmed = await world.client.post(f"{BM}/versions", headers=accountant, json=change(good))
    assert unconfirmed.status_code == 403 and unconfirmed.json()["error"]["code"] == "step_up_required"
    assert not await ReferenceVersion.exists(library__startswith="enterprise")
    step_up = accountant | {"X-CEM-TOTP": totp_code(world.secrets["a-accountant"], steps_ahead=1)}
    first = await world.client.post(f"{BM}/versions", headers=step_up, json=change({**good, "process_type": "nope"}))
    assert first.status_code == 400 and "unknown process type 'nope'" in first.json()["error"]["message"]
    before = await _counts()
    cases = [
        ({**good, "unit": "tce/t"}, "is in kgce/t, not 'tce/t'"),
        ({**good, "indicator": "water"}, "unknown indicator"),
        ({**good, "levels": [{"name": "a", "value": "50"}, {"name": "b", "value": "40"}]}, "best first"),
        ({**good, "levels": [{"name": "a", "value": "1e40"}]}, "out of range"),
        ({**good, "source": " "}, "give source"),
        ({**good, "kind": "limit"}, "binding level"),
        ({**good, "kind": "target"}, "one year"),
        ({**good, "corrections": [{"input": "moon_phase", "coefficient": "1"}]}, "no correction input"),
        ({**good, "extra": 1}, "unknown field"),
    ]
    for entry, message in cases:
        refused = await world.client.post(f"{BM}/versions", headers=accountant, json=change(entry))
        assert refused.status_code == 400 and message in refused.json()["error"]["message"], (message, refused.text)
    assert await _counts() == before  # the good entry of each change was not kept either
    denied = await AuditRecord.filter(action="benchmarking.library.change", outcome="denied").count()
    assert denied == len(cases) + 1

    national = await world.client.post(f"{BM}/versions", headers=accountant, json=change(good, library="national"))
    assert national.status_code == 403 and "group level" in national.json()["error"]["message"]
    other = await world.client.post(
        f"{BM}/versions", headers=accountant, json={**change(good), "enterprise_id": world.b.enterprise.id}
    )
    assert other.status_code == 404
    executive = await world.login("a-executive")
    assert (await world.client.post(f"{BM}/versions", headers=executive, json=change(good))).status_code == 403

    sin1 = processes["SIN1"].id
    for params, message in [
        ({"period": "month", "from": "2026-13"}, "is not a month"),
        ({"period": "month", "from": "2026-03", "to": "2026-01"}, "comes before"),
        ({"period": "year", "from": "2026-03"}, "is not a year"),
        ({"period": "month", "from": "2020-01", "to": "2026-01"}, "At most 36"),
        ({"period": "month", "from": "2026-03", "indicator": "water"}, "No indicator"),
        ({"period": "month", "from": "2026-03", "national_version": 9}, "no version 9"),
    ]:
        query = {"scope": "process", "id": sin1, **params}
        answer = await world.client.get(f"{BM}/gap", headers=accountant, params=query)
        assert answer.status_code in (400, 404) and message in answer.json()["error"]["message"], (message, answer.text)
    assert (
        await world.client.get(
            f"{BM}/gap",
            headers=accountant,
            params={"scope": "process", "id": world.b.process.id, "period": "month", "from": "2026-03"},
        )
    ).status_code == 404
    assert (
        await world.client.get(
            f"{BM}/gap",
            headers=accountant,
            params={"scope": "enterprise", "id": world.b.enterprise.id, "period": "month", "from": "2026-03"},
        )
    ).status_code == 404
    assert (
        await world.client.get(
            f"{BM}/gap", headers=accountant, params={"scope": "site", "id": 1, "period": "month", "from": "2026-03"}
        )
    ).status_code == 400

    for body, message in [
        ({"name": "scrap_ratio", "period": "2026-03", "value": "120", "source": "x"}, "outside 0–100"),
        ({"name": "scrap_ratio", "period": "2026-03", "value": "10"}, "Say where"),
        ({"name": "scrap_ratio", "period": "26-3", "value": "10", "source": "x"}, "neither a month"),
        ({"name": "grade", "period": "2026-03", "value": "10", "source": "x"}, "No correction input"),
        ({"name": "scrap_ratio", "period": "2026-03", "value": "ten", "source": "x"}, "not a decimal"),
    ]:
        refused = await world.client.put(f"{BM}/inputs", headers=accountant, json={"process_id": sin1, **body})
        assert refused.status_code == 400 and message in refused.json()["error"]["message"], (message, refused.text)
    crew = await world.login("a-crew")
    assert (
        await world.client.put(
            f"{BM}/inputs",
            headers=crew,
            json={"process_id": sin1, "name": "scrap_ratio", "period": "2026-03", "value": "1", "source": "x"},
        )
    ).status_code == 403
    assert await _counts() == before
    refusals = await AuditRecord.filter(action="benchmarking.input.set", outcome="denied").count()
    assert refusals == 5  # the crew's was refused by its role, before the service


async def test_a_trend_over_months_a_year_and_the_enterprise_per_tonne_of_crude_steel(world: World) -> None:
    accountant = await world.login("a-accountant")
    processes = await _works(world, accountant)
    listed = await world.client.get(
        f"{API}/sources", headers=accountant, params={"enterprise_id": world.a.enterprise.id}
    )
    sources = {s["code"]: s["id"] for s in listed.json()}
    april = {"from": "2026-04-01", "to": "2026-04-30"}
    for code, name, value, unit in [
        ("SIN2.POWER", "purchased", "1000", "MWh"),
        ("SIN2.POWER", "exported", "0", "MWh"),
        ("SIN2.OUT", "AD", "3000", "t"),
        ("BOF.POWER", "purchased", "1480", "MWh"),
        ("BOF.POWER", "exported", "0", "MWh"),
        ("LDG", "FC", "100", "10^4 Nm3"),
        ("OUT.STEEL", "AD", "5000", "t"),
    ]:
        record = {"source_id": sources[code], "input": name, "value": value, "unit": unit, **april}
        added = await world.client.post(f"{API}/activity", headers=accountant, json=record)
        assert added.status_code == 201, added.text
    await refresh_now()
    sin2 = processes["SIN2"]
    page = await _gap(world, accountant, scope="process", id=sin2.id, to="2026-04", indicator="process_energy")
    series = _energy(_subject(page, "SIN2"))
    march, april_ = series["periods"]
    assert (march["period"], april_["period"]) == ("2026-03", "2026-04")
    assert _close(april_["actual"], _kgce("1000", "3000"))
    assert _against(_subject(page, "SIN2"), "gb21256-2025.sintering", 1)["reached"] == "1"
    trend = series["trend"]
    assert trend["direction"] == "improving" and trend["first"] == march["actual"] and trend["last"] == april_["actual"]
    assert _close(trend["change"], _kgce("1000", "3000") - _kgce("1000", "2700"))
    assert _close(trend["slope"], _kgce("1000", "3000") - _kgce("1000", "2700"), "0.00005")

    # a yearly target of the enterprise's own, for this one process
    target = {"kind": "target", "process_type": "sintering", "process_code": "SIN2", "indicator": "process_energy",
              "unit": "kgce/t", "name": "2#烧结 2026 年目标", "levels": [{"name": "target", "value": "44"}],
              "year": 2026, "source": "2026 年能源目标责任书", "edition": "2026"}  # fmt: skip
    added = await world.client.post(
        f"{BM}/versions",
        headers=accountant,
        json={
            "library": "enterprise",
            "enterprise_id": world.a.enterprise.id,
            "reason": "2026 targets",
            "changes": [{"code": "target.sin2", "entry": target}],
        },
    )
    assert added.status_code == 201, added.text  # the session's step-up (its sign-in with TOTP) is still fresh

    # the year: 2,000 MWh over 5,700 t of sinter, level 2, and within its target
    year = await _gap(world, accountant, scope="process", id=sin2.id, period="year", indicator="process_energy",
                      **{"from": "2026"})  # fmt: skip
    [whole] = _energy(_subject(year, "SIN2"))["periods"]
    assert whole["period"] == "2026" and _close(whole["actual"], _kgce("2000", "5700"))
    assert _against(_subject(year, "SIN2"), "gb21256-2025.sintering")["reached"] == "2"
    aim = _against(_subject(year, "SIN2"), "target.sin2")
    assert aim["kind"] == "target" and aim["reached"] == "target" and aim["text"].startswith("目标, 优于目标 0.88")
    other = await _gap(world, accountant, scope="process", id=processes["SIN1"].id, period="year", **{"from": "2026"})
    assert "target.sin2" not in {c["entry"] for c in _energy(_subject(other, "SIN1"))["periods"][0]["comparisons"]}
    earlier = await _gap(world, accountant, scope="process", id=sin2.id, period="year", **{"from": "2025"})
    assert _energy(_subject(earlier, "SIN2"))["periods"][0]["actual"] is None  # no figure, nothing compared

    # a year's correction from the months' scrap ratios weighted by the converter's output, once every month has one
    bof = processes["BOF"]
    for month, ratio in (("2026-03", "10"), ("2026-04", "16")):
        query = {"scope": "process", "id": bof.id, "period": "year", "from": "2026", "indicator": "process_energy"}
        yearly = _against(_subject(await _gap(world, accountant, **query), "BOF"), "gb21256-2025.bof")
        assert yearly["missing"] == ["scrap_ratio"]  # not yet every month with output has its value
        entered = await world.client.put(
            f"{BM}/inputs",
            headers=accountant,
            json={"process_id": bof.id, "name": "scrap_ratio", "period": month, "value": ratio, "source": "炼钢月报"},
        )
        assert entered.status_code == 200, entered.text
    yearly = _against(_subject(await _gap(world, accountant, **query), "BOF"), "gb21256-2025.bof")
    [scrap] = yearly["corrections"]
    assert (scrap["origin"], scrap["value"], scrap["adjustment"]) == (
        "months",
        "12",
        "2.76",
    )  # (10x10000+16x5000)/15000
    assert yearly["limit"] == "-9.24" and yearly["corrected"] is True

    # an EAF whose size is not known: its size-class entries cannot be decided, and the answer says what to enter
    eaf2 = await _process(world, "eaf_steelmaking", "EAF2", "2#电炉")
    power = {"purchased": "MWh", "exported": "MWh"}
    await _source(
        world, accountant, eaf2, "EAF2.POWER", "electricity", "", power, {"purchased": "500", "exported": "0"}
    )
    await _source(world, accountant, eaf2, "EAF2.OUT", "output", "crude_steel", {"AD": "t"}, {"AD": "1000"})
    await refresh_now()
    unsized = _energy(_subject(await _gap(world, accountant, scope="process", id=eaf2.id), "EAF2"))["periods"][0]
    assert unsized["comparisons"] == [] and len(unsized["unresolved"]) == 5
    assert all("eaf_capacity" in u["reason"] and "capacity" in u["reason"] for u in unsized["unresolved"])

    # CO2: the enterprise per tonne of crude steel against worldsteel; EU ETS 2021-25 no longer applies in 2026
    carbon = await _gap(world, accountant, indicator="co2_intensity")
    works = _subject(carbon, world.a.enterprise.code)
    [row] = next(i for i in works["indicators"] if i["indicator"] == "co2_intensity")["periods"]
    assert row["output"] == "21000" and row["actual"] is not None
    references = {c["entry"]: c for c in row["comparisons"]}
    assert set(references) == {"worldsteel.global_2021", "worldsteel.bf_bof", "worldsteel.dri_eaf",
                               "worldsteel.scrap_eaf"}  # fmt: skip
    global_average = references["worldsteel.global_2021"]
    assert _close(global_average["levels"][0]["gap"], Decimal(row["actual"]) - Decimal("1.91"))
    assert global_average["confidence"] == "confirmed" and references["worldsteel.bf_bof"]["confidence"] == "unverified"
    sinter_carbon = next(i for i in _subject(carbon, "SIN2")["indicators"] if i["indicator"] == "co2_intensity")
    assert sinter_carbon["periods"][0]["comparisons"] == []


async def test_the_national_library_is_changed_at_the_group_level_and_pinned_analyses_stay(world: World) -> None:
    accountant = await world.login("a-accountant")
    processes = await _works(world, accountant)
    query = {"scope": "process", "id": processes["SIN2"].id, "indicator": "process_energy"}
    before = await _gap(world, accountant, **query)
    assert _against(_subject(before, "SIN2"), "gb21256-2025.sintering")["reached"] == "2"

    admin = await world.login("group-admin")
    current = await world.client.get(f"{BM}/entries", headers=admin, params={"library": "national"})
    [sintering] = [e for e in current.json()["entries"] if e["code"] == "gb21256-2025.sintering"]
    edited = {**sintering, "levels": [{"name": "1", "value": "43"}, {"name": "2", "value": "45"},
                                      {"name": "3", "value": "52"}], "checked": "test: a level read again"}  # fmt: skip
    del edited["code"]
    body = {"library": "national", "reason": "test: level 2 as read again", "changes": [
        {"code": "gb21256-2025.sintering", "entry": edited}]}  # fmt: skip
    code = totp_code(world.secrets["group-admin"], steps_ahead=1)
    changed = await world.client.post(f"{BM}/versions", headers=admin | {"X-CEM-TOTP": code}, json=body)
    assert changed.status_code == 201 and changed.json()["number"] == 2, changed.text

    after = await _gap(world, accountant, **query)
    assert after["versions"]["national"] == 2
    assert _against(_subject(after, "SIN2"), "gb21256-2025.sintering")["reached"] == "3"
    pinned = await _gap(world, accountant, **query, national_version=1)
    assert pinned == before
    audit = await AuditRecord.get(action="benchmarking.library.change", entity_id="national v2")
    assert audit.actor == "group-admin" and audit.after is not None and audit.after["reason"].startswith("test:")
