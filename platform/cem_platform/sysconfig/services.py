"""System parameters and communication settings: typed definitions in code, values in the database, audited."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from cem_platform.audit import services as audit
from cem_platform.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from cem_platform.identity.principal import Principal
from cem_platform.identity.roles import Permission
from cem_platform.settings import Settings
from cem_platform.sysconfig.models import SystemParameter

__all__ = ["ParameterDefinition", "all_values", "get_value", "set_value"]


@dataclass(frozen=True, slots=True)
class ParameterDefinition:
    """What a parameter is, its type and bounds, and which permission changes it."""

    key: str
    category: str  # system, communication or alarm
    kind: type
    default: Any
    description_zh: str
    description_en: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()

    @property
    def permission(self) -> Permission:
        """The permission needed to change it."""
        if self.category == "alarm":
            return Permission.ALARMS_CONFIGURE
        return Permission.COMM_WRITE if self.category == "communication" else Permission.SYSTEM_WRITE

    def validate(self, value: Any) -> Any:
        """The value if it fits; InvalidInputError saying what fits otherwise."""
        if self.kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInputError(f"{self.key} must be a whole number", hint=self._range_hint())
        if self.kind is float and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InvalidInputError(f"{self.key} must be a number", hint=self._range_hint())
        if self.kind is bool and not isinstance(value, bool):
            raise InvalidInputError(f"{self.key} must be true or false")
        if self.kind is str and not isinstance(value, str):
            raise InvalidInputError(f"{self.key} must be text")
        if self.minimum is not None and value < self.minimum:
            raise InvalidInputError(
                f"{self.key} = {value} is below the minimum {self.minimum}", hint=self._range_hint()
            )
        if self.maximum is not None and value > self.maximum:
            raise InvalidInputError(
                f"{self.key} = {value} is above the maximum {self.maximum}", hint=self._range_hint()
            )
        if self.choices and value not in self.choices:
            raise InvalidInputError(f"{self.key} must be one of {', '.join(self.choices)}")
        return value

    def _range_hint(self) -> str:
        return f"Send a value between {self.minimum} and {self.maximum}."


def _definitions(settings: Settings) -> dict[str, ParameterDefinition]:
    auth = settings.auth
    items = [
        ParameterDefinition(
            "auth.lockout_threshold",
            "system",
            int,
            auth.lockout_threshold,
            "连续登录失败锁定次数",
            "Failed logins in a row before the account locks",
            3,
            20,
        ),
        ParameterDefinition(
            "auth.lockout_minutes",
            "system",
            int,
            auth.lockout_minutes,
            "账号锁定时长（分钟）",
            "Minutes an account stays locked",
            1,
            1440,
        ),
        ParameterDefinition(
            "auth.step_up_minutes",
            "system",
            int,
            auth.step_up_minutes,
            "二次验证有效期（分钟）",
            "Minutes a TOTP confirmation covers control operations",
            1,
            15,
        ),
        ParameterDefinition(
            "display.timezone",
            "system",
            str,
            settings.server.timezone,
            "工厂时区",
            "The plant's time zone for display",
            choices=("Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "UTC"),
        ),
        ParameterDefinition(
            "comm.heartbeat_seconds",
            "communication",
            int,
            30,
            "终端心跳间隔（秒）",
            "Seconds between terminal heartbeats",
            5,
            600,
        ),
        ParameterDefinition(
            "comm.offline_after_missed",
            "communication",
            int,
            3,
            "判定离线的漏报心跳数",
            "Missed heartbeats before a terminal counts as offline",
            1,
            20,
        ),
        ParameterDefinition(
            "comm.default_poll_seconds",
            "communication",
            int,
            10,
            "默认采集周期（秒）",
            "Default polling interval of gateways",
            1,
            3600,
        ),
        ParameterDefinition(
            "comm.upload_batch_max",
            "communication",
            int,
            500,
            "单批上传最大读数",
            "Most readings in one uploaded batch",
            1,
            10000,
        ),
        ParameterDefinition(
            "alarm.gap_intervals",
            "alarm",
            int,
            5,
            "数据中断判定（采样周期数）",
            "Sample periods without a reading (terminal online) before a data gap alarm",
            2,
            1000,
        ),
        ParameterDefinition(
            "alarm.completeness_min_percent",
            "alarm",
            float,
            95.0,
            "小时数据完整率下限（%）",
            "Lowest share of expected readings in a finished hour before a completeness alarm",
            0,
            100,
        ),
        ParameterDefinition(
            "alarm.dead_letters_per_hour",
            "alarm",
            int,
            20,
            "每小时死信告警阈值",
            "Refused messages from one terminal within an hour that raise an alarm",
            1,
            100000,
        ),
        ParameterDefinition(
            "alarm.spike_drops_per_hour",
            "alarm",
            int,
            3,
            "每小时突变剔除告警阈值",
            "Readings a gateway dropped as implausible jumps within an hour that raise an alarm",
            1,
            100000,
        ),
        ParameterDefinition(
            "alarm.out_of_range_drops_per_hour",
            "alarm",
            int,
            3,
            "每小时超量程剔除告警阈值",
            "Readings a gateway dropped as out of range within an hour that raise an alarm",
            1,
            100000,
        ),
        ParameterDefinition(
            "alarm.certificate_expiry_days",
            "alarm",
            int,
            settings.pki.expiry_warning_days,
            "证书到期预警天数",
            "Days before a terminal certificate expires that raise an alarm",
            1,
            365,
        ),
        ParameterDefinition(
            "alarm.carbon_deficit_tco2",
            "alarm",
            int,
            1000,
            "碳配额预测缺口预警值 (tCO2)",
            "Forecast allowance deficit of the compliance year (tCO2) above which a warning is raised",
            0,
            100_000_000,
        ),
        ParameterDefinition(
            "alarm.carbon_deadline_days",
            "alarm",
            int,
            90,
            "履约截止前预警天数 (有缺口时)",
            "Days before a surrender deadline that raise a warning while the year has a deficit",
            1,
            366,
        ),
    ]
    return {item.key: item for item in items}


async def get_value(settings: Settings, key: str) -> Any:
    """The stored value of a parameter, or its default."""
    definition = _definitions(settings).get(key)
    if definition is None:
        raise NotFoundError(f"no system parameter {key!r}")
    stored = await SystemParameter.get_or_none(key=key)
    return definition.default if stored is None else stored.value


async def all_values(settings: Settings) -> list[dict[str, Any]]:
    """Every parameter with its definition, current value and who last changed it."""
    stored = {p.key: p for p in await SystemParameter.all()}
    result = []
    for key, definition in _definitions(settings).items():
        row = stored.get(key)
        result.append(
            {
                "key": key,
                "category": definition.category,
                "value": definition.default if row is None else row.value,
                "default": definition.default,
                "minimum": definition.minimum,
                "maximum": definition.maximum,
                "choices": list(definition.choices),
                "description_zh": definition.description_zh,
                "description_en": definition.description_en,
                "version": 0 if row is None else row.version,
                "updated_by": None if row is None else row.updated_by,
                "updated_at": None if row is None else row.updated_at,
            }
        )
    return result


async def set_value(settings: Settings, actor: Principal, key: str, value: Any) -> dict[str, Any]:
    """Change one parameter (validated, audited with before and after)."""
    definition = _definitions(settings).get(key)
    if definition is None:
        raise NotFoundError(f"no system parameter {key!r}", hint="GET /api/v1/system/parameters lists them.")
    if not actor.can(definition.permission):
        raise PermissionDeniedError(f"changing {key} needs the permission {definition.permission.value}")
    value = definition.validate(value)
    async with in_transaction():
        row = await SystemParameter.get_or_none(key=key)
        before = definition.default if row is None else row.value
        if row is None:
            row = await SystemParameter.create(key=key, value=value, updated_by=actor.name)
        else:
            row.value = value
            row.version += 1
            row.updated_by = actor.name
            await row.save()
        await audit.record(
            actor,
            f"system.parameter.{definition.category}.update",
            entity_type="system_parameter",
            entity_id=key,
            before={"value": before},
            after={"value": value},
            summary=f"{key}: {before!r} -> {value!r}",
        )
    return {"key": key, "value": value, "version": row.version}
