"""Seed the built-in process and facility-type dictionaries; make the audit log append-only on PostgreSQL."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

PROCESS_TYPES = [
    # code, 中文, English
    ("coking", "炼焦", "Coking"),
    ("sintering", "烧结", "Sintering"),
    ("pelletising", "球团", "Pelletising"),
    ("ironmaking", "炼铁", "Ironmaking"),
    ("bof_steelmaking", "转炉炼钢", "BOF steelmaking"),
    ("eaf_steelmaking", "电炉炼钢", "EAF steelmaking"),
    ("casting", "连铸", "Continuous casting"),
    ("hot_rolling", "热轧", "Hot rolling"),
    ("cold_rolling", "冷轧", "Cold rolling"),
    ("lime_kiln", "石灰窑", "Lime kiln"),
    ("captive_power", "自备电厂", "Captive power plant"),
    ("auxiliary", "辅助生产", "Auxiliary"),
]

FACILITY_TYPES = [
    # code, 中文, English, process type
    ("coke_oven", "焦炉", "Coke oven battery", "coking"),
    ("cdq", "干熄焦装置", "Coke dry quenching", "coking"),
    ("sinter_machine", "烧结机", "Sinter machine", "sintering"),
    ("pellet_kiln", "球团焙烧设备", "Pellet induration", "pelletising"),
    ("blast_furnace", "高炉", "Blast furnace", "ironmaking"),
    ("hot_stove", "热风炉", "Hot blast stove", "ironmaking"),
    ("pci_plant", "喷煤系统", "Pulverised coal injection", "ironmaking"),
    ("bof", "转炉", "Basic oxygen furnace", "bof_steelmaking"),
    ("eaf", "电弧炉", "Electric arc furnace", "eaf_steelmaking"),
    ("ladle_furnace", "钢包精炼炉", "Ladle furnace", None),
    ("caster", "连铸机", "Continuous caster", "casting"),
    ("reheating_furnace", "加热炉", "Reheating furnace", "hot_rolling"),
    ("rolling_mill", "轧机", "Rolling mill", None),
    ("annealing_furnace", "退火炉", "Annealing furnace", "cold_rolling"),
    ("lime_kiln", "石灰窑", "Lime kiln", "lime_kiln"),
    ("power_boiler", "电站锅炉", "Power boiler", "captive_power"),
    ("steam_turbine", "汽轮发电机组", "Steam turbine generator", "captive_power"),
    ("ccpp", "燃气-蒸汽联合循环机组", "Combined cycle power plant", "captive_power"),
    ("trt", "高炉煤气余压透平发电装置", "Top-gas recovery turbine", "ironmaking"),
    ("air_separation", "制氧机组", "Air separation unit", "auxiliary"),
    ("gas_holder", "煤气柜", "Gas holder", "auxiliary"),
    ("industrial_boiler", "工业锅炉", "Industrial boiler", "auxiliary"),
    ("substation", "变电站", "Substation", "auxiliary"),
]

AUDIT_GUARD_SQL = """
CREATE OR REPLACE FUNCTION audit_record_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_record is append-only: % refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_record_no_change BEFORE UPDATE OR DELETE ON audit_record
    FOR EACH ROW EXECUTE FUNCTION audit_record_append_only();
CREATE TRIGGER audit_record_no_truncate BEFORE TRUNCATE ON audit_record
    FOR EACH STATEMENT EXECUTE FUNCTION audit_record_append_only();
"""


async def seed(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    dialect = client.capabilities.dialect

    def ph(n: int) -> str:
        return f"${n}" if dialect == "postgres" else "?"

    now = "CURRENT_TIMESTAMP"
    for order, (code, zh, en) in enumerate(PROCESS_TYPES, start=1):
        await client.execute_query(
            "INSERT INTO org_process_type (code, name_zh, name_en, sort_order, builtin, created_at, updated_at) "
            f"VALUES ({ph(1)}, {ph(2)}, {ph(3)}, {ph(4)}, {ph(5)}, {now}, {now})",
            [code, zh, en, order * 10, True],
        )
    for code, zh, en, process_code in FACILITY_TYPES:
        await client.execute_query(
            "INSERT INTO org_facility_type (code, name_zh, name_en, process_type_id, builtin, created_at, updated_at) "
            f"VALUES ({ph(1)}, {ph(2)}, {ph(3)}, (SELECT id FROM org_process_type WHERE code = {ph(4)}), {ph(5)}, "
            f"{now}, {now})",
            [code, zh, en, process_code, True],
        )
    if dialect == "postgres":
        await client.execute_script(AUDIT_GUARD_SQL)


async def unseed(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(
            "DROP TRIGGER IF EXISTS audit_record_no_change ON audit_record;"
            "DROP TRIGGER IF EXISTS audit_record_no_truncate ON audit_record;"
            "DROP FUNCTION IF EXISTS audit_record_append_only();"
        )
    await client.execute_script("DELETE FROM org_facility_type WHERE builtin; DELETE FROM org_process_type WHERE builtin;")


class Migration(migrations.Migration):
    dependencies = [("cem", "0001_initial")]

    operations = [ops.RunPython(seed, unseed)]
