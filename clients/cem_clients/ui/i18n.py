"""Strings and formats of the apps: Simplified Chinese by default, English on request.

``Translator(locale).t("emissions.today")`` gives a string of the table; ``t(key, name=value)`` fills ``{name}``
placeholders. A key missing from the English table falls back to Chinese, a key missing from both comes back as
the key itself (visible on screen, never an exception in the middle of a shift); the tests keep both tables
complete and their placeholders equal.

Numbers come from :class:`~decimal.Decimal` (the API sends decimals as strings) and are rounded half up, as
Chinese reports round (四舍五入), with thousand separators: ``1,234.5``. Floats are taken through their shortest
``repr`` so that 0.1 stays 0.1. Times are shown in the plant's IANA zone (``Asia/Shanghai`` unless told), from
time-zone-aware datetimes only.

Every character of the tables is in the bundled font (``tests/test_clients/test_ui_infra.py`` checks it): units
are written ``tCO2``, not with a subscript two, which Noto Sans CJK lacks.
"""

from __future__ import annotations

import logging
import string
from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from types import MappingProxyType
from typing import Final
from zoneinfo import ZoneInfo

__all__ = [
    "DEFAULT_LOCALE",
    "DEFAULT_ZONE",
    "STRINGS",
    "Locale",
    "Translator",
    "format_decimal",
    "placeholders",
    "to_decimal",
]

log = logging.getLogger(__name__)


class Locale(StrEnum):
    """The languages of the apps."""

    ZH_CN = "zh-CN"
    EN = "en"


DEFAULT_LOCALE: Final = Locale.ZH_CN
DEFAULT_ZONE: Final = "Asia/Shanghai"

Number = Decimal | int | float | str

_ZH: dict[str, str] = {
    # apps and shell
    "app.name": "碳排放管理平台",
    "app.wallboard.title": "碳排放监控大屏",
    "app.mobile.title": "碳排放现场助手",
    "app.console.title": "碳排放管理控制台",
    "language": "语言",
    "language.zh-CN": "简体中文",
    "language.en": "English",
    "settings": "设置",
    "home": "首页",
    "back": "返回",
    "refresh": "刷新",
    "search": "搜索",
    "filter": "筛选",
    "save": "保存",
    "cancel": "取消",
    "confirm": "确认",
    "submit": "提交",
    "retry": "重试",
    "close": "关闭",
    "edit": "编辑",
    "delete": "删除",
    "add": "新增",
    "details": "详情",
    "loading": "加载中…",
    "empty": "暂无数据",
    "error.generic": "出错了：{message}",
    "error.offline": "无法连接服务器，请检查网络",
    "error.forbidden": "没有权限执行此操作",
    "saved": "已保存",
    # sign-in
    "login.title": "登录",
    "login.username": "用户名",
    "login.password": "密码",
    "login.totp": "动态验证码",
    "login.totp_hint": "打开身份验证器应用，输入6位数字",
    "login.submit": "登录",
    "login.failed": "用户名或密码错误",
    "login.totp_required": "请输入动态验证码",
    "login.locked": "尝试次数过多，请稍后再试",
    "login.session_expired": "登录已过期，请重新登录",
    "logout": "退出登录",
    "role.admin": "系统管理员",
    "role.device_admin": "设备管理员",
    "role.accountant": "碳核算员",
    "role.executive": "企业管理层",
    "role.crew": "现场班组",
    "role.auditor": "审计员",
    # emissions
    "emissions": "碳排放",
    "emissions.total": "碳排放总量",
    "emissions.net": "净排放",
    "emissions.today": "今日排放",
    "emissions.this_month": "本月排放",
    "emissions.this_year": "本年排放",
    "period.today": "今日",
    "period.this_month": "本月",
    "period.this_year": "本年",
    "period.month": "{year}年{month}月",
    "vs_last_year": "同比",
    "vs_last_year.up": "同比上升 {percent}",
    "vs_last_year.down": "同比下降 {percent}",
    "vs_last_year.flat": "与去年同期持平",
    "vs_last_year.none": "无去年同期数据",
    "intensity": "排放强度",
    "intensity.crude_steel": "吨钢碳排放",
    "benchmark": "标杆值",
    "benchmark.vs": "较标杆 {percent}",
    "limit": "限额",
    "limit.within": "未超限额",
    "limit.near": "接近限额",
    "limit.over": "超出限额",
    "limit.used": "已用限额 {percent}",
    "per_process": "分工序排放",
    "process.coking": "焦化",
    "process.sintering": "烧结",
    "process.pelletizing": "球团",
    "process.ironmaking": "炼铁",
    "process.steelmaking_bof": "转炉炼钢",
    "process.steelmaking_eaf": "电炉炼钢",
    "process.rolling": "轧钢",
    "process.lime": "石灰",
    "process.power": "自备电厂",
    "process.other": "其他",
    "trend_30d": "近30天趋势",
    "trend.daily": "日排放",
    "allowance": "配额",
    "allowance.total": "年度配额",
    "allowance.used": "已用配额",
    "allowance.remaining": "剩余配额",
    "allowance.forecast": "预计年末缺口 {amount}",
    "allowance.unknown": "配额数据尚未接入",
    "no_data": "暂无数据",
    "process_flow": "工艺流程状态",
    "forecast": "预测",
    "estimated": "估算",
    "provisional": "未定稿",
    "final": "已定稿",
    # alarms
    "alarms": "告警",
    "alarms.active": "未处理告警",
    "alarms.none": "当前无告警",
    "alarms.count": "{count} 条告警",
    "alarm.severity.info": "提示",
    "alarm.severity.warning": "警告",
    "alarm.severity.major": "严重",
    "alarm.severity.critical": "紧急",
    "alarm.state.active": "未处理",
    "alarm.state.acknowledged": "已确认",
    "alarm.state.cleared": "已清除",
    "alarm.kind.device_offline": "设备离线",
    "alarm.kind.certificate_expiring": "证书即将过期",
    "alarm.kind.gateway_buffer": "网关缓存将满",
    "alarm.kind.meter_stuck": "仪表读数停滞",
    "alarm.kind.meter_out_of_range": "仪表读数超量程",
    "alarm.kind.meter_comm": "仪表通信中断",
    "alarm.kind.data_gap": "数据中断",
    "alarm.kind.data_spike": "数据突变",
    "alarm.kind.data_completeness": "数据完整率不足",
    "alarm.kind.dead_letters": "异常报文",
    "alarm.acknowledge": "确认",
    "alarm.clear": "清除",
    "alarm.note": "备注",
    "alarm.note_hint": "填写处理情况",
    "alarm.raised_at": "发生于 {time}",
    "alarm.occurrences": "共发生 {count} 次",
    # devices and live data
    "devices": "设备",
    "devices.count": "{online}/{total} 台在线",
    "device.online": "在线",
    "device.offline": "离线",
    "device.last_seen": "最后上线 {time}",
    "device.state.registered": "已登记",
    "device.state.enrolled": "已注册",
    "device.state.active": "运行中",
    "device.state.suspended": "已停用",
    "device.state.revoked": "已吊销",
    "device.state.retired": "已退役",
    "device.type.gateway": "采集网关",
    "device.type.meter": "智能仪表",
    "live.online": "实时",
    "live.stale": "数据已过时",
    "live.reconnecting": "正在重新连接…",
    "live.offline": "连接已断开",
    "live.loading": "正在加载…",
    "live.updated_at": "更新于 {time}",
    "quality.good": "正常",
    "quality.uncertain": "存疑",
    # crews
    "manual_reading": "手工录入读数",
    "manual_reading.meter": "计量点",
    "manual_reading.value": "读数",
    "manual_reading.read_at": "抄表时间",
    "manual_reading.evidence": "凭证照片",
    "manual_reading.saved": "读数已提交",
    "enrol_terminal": "注册终端",
    "enrol.token": "注册令牌",
    "enrol.scan": "扫描二维码",
    "enrol.done": "终端已注册：{device}",
    # accounting
    "sources": "排放源",
    "source.category": "排放类别",
    "factor_library": "排放因子库",
    "factor": "排放因子",
    "factor.edition": "版本",
    "activity_data": "活动数据",
    "activity.origin.meter": "计量采集",
    "activity.origin.manual": "手工录入",
    "activity.origin.import": "台账导入",
    "import": "导入",
    "import.ledger": "导入台账（XLSX/CSV）",
    "import.rows": "已导入 {count} 行",
    "import.errors": "{count} 行有误",
    "report": "报告",
    "report.annual": "年度碳排放报告",
    "report.download": "下载",
    "report.generate": "生成报告",
    "users": "用户",
    "audit_log": "审计日志",
    # times
    "time.just_now": "刚刚",
    "time.seconds_ago": "{count} 秒前",
    "time.minutes_ago": "{count} 分钟前",
    "time.hours_ago": "{count} 小时前",
    "time.days_ago": "{count} 天前",
    # units
    "unit.t": "t",
    "unit.tco2": "tCO2",
    "unit.tco2_per_t": "tCO2/t",
    "unit.percent": "%",
}

_EN: dict[str, str] = {
    "app.name": "Carbon emission management",
    "app.wallboard.title": "Carbon emissions wallboard",
    "app.mobile.title": "Carbon field app",
    "app.console.title": "Carbon management console",
    "language": "Language",
    "language.zh-CN": "简体中文",
    "language.en": "English",
    "settings": "Settings",
    "home": "Home",
    "back": "Back",
    "refresh": "Refresh",
    "search": "Search",
    "filter": "Filter",
    "save": "Save",
    "cancel": "Cancel",
    "confirm": "Confirm",
    "submit": "Submit",
    "retry": "Retry",
    "close": "Close",
    "edit": "Edit",
    "delete": "Delete",
    "add": "Add",
    "details": "Details",
    "loading": "Loading…",
    "empty": "No data",
    "error.generic": "Something went wrong: {message}",
    "error.offline": "Cannot reach the server; check the network",
    "error.forbidden": "You are not allowed to do this",
    "saved": "Saved",
    "login.title": "Sign in",
    "login.username": "Username",
    "login.password": "Password",
    "login.totp": "Authenticator code",
    "login.totp_hint": "Open your authenticator app and enter the 6 digits",
    "login.submit": "Sign in",
    "login.failed": "Wrong username or password",
    "login.totp_required": "Enter the code from your authenticator app",
    "login.locked": "Too many attempts; try again later",
    "login.session_expired": "Your session has expired; sign in again",
    "logout": "Sign out",
    "role.admin": "Administrator",
    "role.device_admin": "Device administrator",
    "role.accountant": "Carbon accountant",
    "role.executive": "Executive",
    "role.crew": "Field crew",
    "role.auditor": "Auditor",
    "emissions": "Emissions",
    "emissions.total": "Total emissions",
    "emissions.net": "Net emissions",
    "emissions.today": "Emissions today",
    "emissions.this_month": "Emissions this month",
    "emissions.this_year": "Emissions this year",
    "period.today": "Today",
    "period.this_month": "This month",
    "period.this_year": "This year",
    "period.month": "{month}/{year}",
    "vs_last_year": "vs last year",
    "vs_last_year.up": "{percent} above last year",
    "vs_last_year.down": "{percent} below last year",
    "vs_last_year.flat": "Same as last year",
    "vs_last_year.none": "No figure for last year",
    "intensity": "Intensity",
    "intensity.crude_steel": "per tonne of crude steel",
    "benchmark": "Benchmark",
    "benchmark.vs": "{percent} vs benchmark",
    "limit": "Limit",
    "limit.within": "Within limit",
    "limit.near": "Near the limit",
    "limit.over": "Over the limit",
    "limit.used": "{percent} of the limit used",
    "per_process": "By process",
    "process.coking": "Coking",
    "process.sintering": "Sintering",
    "process.pelletizing": "Pelletizing",
    "process.ironmaking": "Ironmaking",
    "process.steelmaking_bof": "BOF steelmaking",
    "process.steelmaking_eaf": "EAF steelmaking",
    "process.rolling": "Rolling",
    "process.lime": "Lime",
    "process.power": "Captive power",
    "process.other": "Other",
    "trend_30d": "Last 30 days",
    "trend.daily": "Daily emissions",
    "allowance": "Allowance",
    "allowance.total": "Allowance this year",
    "allowance.used": "Allowance used",
    "allowance.remaining": "Allowance left",
    "allowance.forecast": "Expected shortfall at year end: {amount}",
    "allowance.unknown": "Allowance data not connected yet",
    "no_data": "No data yet",
    "process_flow": "Process flow status",
    "forecast": "Forecast",
    "estimated": "Estimated",
    "provisional": "Provisional",
    "final": "Final",
    "alarms": "Alarms",
    "alarms.active": "Active alarms",
    "alarms.none": "No active alarms",
    "alarms.count": "{count} alarms",
    "alarm.severity.info": "Info",
    "alarm.severity.warning": "Warning",
    "alarm.severity.major": "Major",
    "alarm.severity.critical": "Critical",
    "alarm.state.active": "Active",
    "alarm.state.acknowledged": "Acknowledged",
    "alarm.state.cleared": "Cleared",
    "alarm.kind.device_offline": "Device offline",
    "alarm.kind.certificate_expiring": "Certificate expiring",
    "alarm.kind.gateway_buffer": "Gateway buffer filling up",
    "alarm.kind.meter_stuck": "Meter stuck",
    "alarm.kind.meter_out_of_range": "Meter out of range",
    "alarm.kind.meter_comm": "Meter not answering",
    "alarm.kind.data_gap": "Data gap",
    "alarm.kind.data_spike": "Data spike",
    "alarm.kind.data_completeness": "Incomplete data",
    "alarm.kind.dead_letters": "Refused messages",
    "alarm.acknowledge": "Acknowledge",
    "alarm.clear": "Clear",
    "alarm.note": "Note",
    "alarm.note_hint": "What was done",
    "alarm.raised_at": "Raised {time}",
    "alarm.occurrences": "{count} occurrences",
    "devices": "Devices",
    "devices.count": "{online}/{total} online",
    "device.online": "Online",
    "device.offline": "Offline",
    "device.last_seen": "Last seen {time}",
    "device.state.registered": "Registered",
    "device.state.enrolled": "Enrolled",
    "device.state.active": "Active",
    "device.state.suspended": "Suspended",
    "device.state.revoked": "Revoked",
    "device.state.retired": "Retired",
    "device.type.gateway": "Gateway",
    "device.type.meter": "Smart meter",
    "live.online": "Live",
    "live.stale": "Data is stale",
    "live.reconnecting": "Reconnecting…",
    "live.offline": "Disconnected",
    "live.loading": "Loading…",
    "live.updated_at": "Updated {time}",
    "quality.good": "Good",
    "quality.uncertain": "Uncertain",
    "manual_reading": "Manual reading",
    "manual_reading.meter": "Metering point",
    "manual_reading.value": "Reading",
    "manual_reading.read_at": "Read at",
    "manual_reading.evidence": "Evidence photo",
    "manual_reading.saved": "Reading submitted",
    "enrol_terminal": "Enrol terminal",
    "enrol.token": "Enrolment token",
    "enrol.scan": "Scan QR code",
    "enrol.done": "Terminal enrolled: {device}",
    "sources": "Emission sources",
    "source.category": "Category",
    "factor_library": "Factor library",
    "factor": "Emission factor",
    "factor.edition": "Edition",
    "activity_data": "Activity data",
    "activity.origin.meter": "Metered",
    "activity.origin.manual": "Manual entry",
    "activity.origin.import": "Ledger import",
    "import": "Import",
    "import.ledger": "Import ledger (XLSX/CSV)",
    "import.rows": "{count} rows imported",
    "import.errors": "{count} rows with errors",
    "report": "Report",
    "report.annual": "Annual emissions report",
    "report.download": "Download",
    "report.generate": "Generate report",
    "users": "Users",
    "audit_log": "Audit log",
    "time.just_now": "just now",
    "time.seconds_ago": "{count} s ago",
    "time.minutes_ago": "{count} min ago",
    "time.hours_ago": "{count} h ago",
    "time.days_ago": "{count} d ago",
    "unit.t": "t",
    "unit.tco2": "tCO2",
    "unit.tco2_per_t": "tCO2/t",
    "unit.percent": "%",
}

STRINGS: Mapping[Locale, Mapping[str, str]] = MappingProxyType(
    {Locale.ZH_CN: MappingProxyType(_ZH), Locale.EN: MappingProxyType(_EN)}
)
"""The string tables by locale."""


def placeholders(text: str) -> frozenset[str]:
    """The ``{name}`` placeholders of a table string."""
    return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)


def to_decimal(value: Number) -> Decimal:
    """``value`` as a Decimal: floats through their shortest repr (0.1 stays 0.1); rejects NaN and infinities."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number to show")
    try:
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation as err:
        raise ValueError(f"not a number: {value!r}") from err
    if not number.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return number


def format_decimal(value: Number, decimals: int = 0, *, grouping: bool = True, sign: bool = False) -> str:
    """``value`` rounded half up to ``decimals`` places, with thousand separators: ``1,234.5``.

    ``sign`` puts a ``+`` before positive numbers (changes, differences). Rounding never shows ``-0``.
    """
    if decimals < 0:
        raise ValueError("decimals must be 0 or more")
    rounded = to_decimal(value).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    if rounded.is_zero():
        rounded = abs(rounded)
    text = format(rounded, f"{',' if grouping else ''}.{decimals}f")
    return f"+{text}" if sign and rounded > 0 else text


class Translator:
    """Strings and formats of one session: its locale (switchable) and the plant's time zone."""

    def __init__(self, locale: Locale | str = DEFAULT_LOCALE, zone: str | ZoneInfo = DEFAULT_ZONE) -> None:
        self._locale = Locale(locale)
        self._zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)

    @property
    def locale(self) -> Locale:
        """The language strings come in."""
        return self._locale

    @property
    def zone(self) -> ZoneInfo:
        """The time zone times are shown in."""
        return self._zone

    @zone.setter
    def zone(self, zone: str | ZoneInfo) -> None:
        self._zone = zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone)

    def set_locale(self, locale: Locale | str) -> None:
        """Switch the language (the app redraws its controls afterwards)."""
        self._locale = Locale(locale)

    def t(self, key: str, /, **fmt: object) -> str:
        """The string of ``key`` with its ``{placeholders}`` filled from ``fmt``."""
        text = STRINGS[self._locale].get(key)
        if text is None:
            text = STRINGS[DEFAULT_LOCALE].get(key)
            if text is None:
                log.warning("no string for %r", key)
                return key
        return text.format_map(fmt) if fmt else text

    # numbers

    def number(self, value: Number, decimals: int = 0, *, sign: bool = False) -> str:
        """A number with thousand separators and ``decimals`` places: ``1,234.5``."""
        return format_decimal(value, decimals, sign=sign)

    def quantity(self, value: Number, unit: str, decimals: int = 0) -> str:
        """A number and its unit: ``1,234.5 tCO2``; ``unit`` is a unit key (``tco2``) or the symbol itself."""
        symbol = STRINGS[self._locale].get(f"unit.{unit}", unit)
        return f"{format_decimal(value, decimals)} {symbol}"

    def percent(self, ratio: Number, decimals: int = 1, *, sign: bool = False) -> str:
        """A ratio as a percentage: 0.0321 -> ``3.2%`` (``+3.2%`` with ``sign``)."""
        return f"{format_decimal(to_decimal(ratio) * 100, decimals, sign=sign)}%"

    def compact(self, value: Number, decimals: int = 1) -> str:
        """A large number shortened the local way: ``12.3万`` / ``123.5k``; small ones as they are."""
        number = to_decimal(value)
        steps: tuple[tuple[Decimal, str], ...] = (
            ((Decimal(10) ** 8, "亿"), (Decimal(10) ** 4, "万"))
            if self._locale is Locale.ZH_CN
            else ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "k"))
        )
        for size, suffix in steps:
            if abs(number) >= size:
                return f"{format_decimal(number / size, decimals)}{suffix}"
        return format_decimal(number, decimals if number != number.to_integral_value() else 0)

    def change_vs_last_year(self, current: Number, previous: Number | None, decimals: int = 1) -> str:
        """``同比上升 3.2%`` / ``3.2% above last year`` from this and last year's figures."""
        if previous is None or to_decimal(previous).is_zero():
            return self.t("vs_last_year.none")
        ratio = (to_decimal(current) - to_decimal(previous)) / abs(to_decimal(previous))
        shown = format_decimal(abs(ratio) * 100, decimals)
        if Decimal(shown.replace(",", "")).is_zero():
            return self.t("vs_last_year.flat")
        key = "vs_last_year.up" if ratio > 0 else "vs_last_year.down"
        return self.t(key, percent=f"{shown}%")

    # times

    def local(self, moment: datetime) -> datetime:
        """``moment`` in the plant's zone; naive datetimes are refused (their zone is anyone's guess)."""
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise ValueError("a datetime without time zone cannot be shown in the plant's time")
        return moment.astimezone(self._zone)

    def when(self, moment: datetime, *, seconds: bool = False) -> str:
        """``2025-11-25 14:03`` (``:05`` with ``seconds``) in the plant's zone."""
        return self.local(moment).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")

    def clock(self, moment: datetime, *, seconds: bool = False) -> str:
        """``14:03`` (``14:03:05`` with ``seconds``) in the plant's zone."""
        return self.local(moment).strftime("%H:%M:%S" if seconds else "%H:%M")

    def day(self, day: date | datetime) -> str:
        """``2025-11-25``; a datetime is first taken to the plant's zone."""
        local = self.local(day) if isinstance(day, datetime) else day
        return local.strftime("%Y-%m-%d")

    def month(self, year: int, month: int) -> str:
        """``2025年11月`` / ``11/2025``."""
        if not 1 <= month <= 12:
            raise ValueError(f"no month {month}")
        return self.t("period.month", year=year, month=month)

    def ago(self, moment: datetime, now: datetime) -> str:
        """How long before ``now`` ``moment`` was: ``3 分钟前`` / ``3 min ago`` (``刚刚`` under 10 s)."""
        seconds = int((self.local(now) - self.local(moment)).total_seconds())
        if seconds < 10:
            return self.t("time.just_now")
        for size, key in ((86400, "time.days_ago"), (3600, "time.hours_ago"), (60, "time.minutes_ago")):
            if seconds >= size:
                return self.t(key, count=seconds // size)
        return self.t("time.seconds_ago", count=seconds)
