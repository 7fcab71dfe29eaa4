"""Alarms in the plant's words: what happened, to which equipment, what to check first, in local time.

One function, :func:`describe_alarm`, used by the wallboard, the mobile app and the console alike, so that an
alarm reads the same on every screen. It works from what the platform sends with each alarm: its ``kind``, the
plant names of what it concerns (``names``), the facts (``detail``: since when, values, limits) and, for an
outage, the meters it leaves without data (``consequences``). The platform's technical text (``message``, with
terminal ids, connection names and error strings) is kept in :attr:`AlarmText.technical`, for the screen to show
one tap away. A name the platform did not send is said generically ("a gateway", "a meter"), never as an id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cem_clients._models import Alarm, AlarmConsequence
from cem_clients.ui.i18n import Locale, Translator

__all__ = ["KINDS", "AlarmText", "consequence_label", "describe_alarm", "is_consequence"]

# The kinds with texts of their own; any other kind (a newer platform's) is described generically.
KINDS = (
    "device_offline",
    "certificate_expiring",
    "gateway_buffer",
    "meter_stuck",
    "meter_out_of_range",
    "meter_comm",
    "data_gap",
    "data_spike",
    "data_completeness",
    "dead_letters",
    "data_conflict",
    "energy_limit",
    "carbon_deficit",
)


@dataclass(frozen=True)
class AlarmText:
    """One alarm as a person reads it; every field in the translator's language, times in the plant's zone."""

    title: str  # what kind of trouble: "PLC 通信中断"
    happened: str  # one or two sentences: what happened to which equipment, since when
    check_first: str  # what to look at first
    raised_at: str  # when the alarm was raised, local: "2026-12-07 12:03"
    subject: str  # the equipment by its plant name: "轧钢 PLC · 炼钢厂网关"
    consequences: tuple[str, ...]  # meters an outage leaves without data, by name (empty for other alarms)
    technical: str  # the platform's technical text and keys, for the engineer (shown one tap away)


def is_consequence(alarm: Alarm) -> bool:
    """Is this alarm listed under an outage's alarm (so lists show it there, not on its own)?"""
    return alarm.root_id is not None


def describe_alarm(alarm: Alarm, translator: Translator) -> AlarmText:
    """Say ``alarm`` in the translator's language, naming equipment by its plant name, times in the plant's zone."""
    words = _Words(alarm, translator)
    kind = alarm.kind if alarm.kind in KINDS else "other"
    happened, check = _SAYINGS.get(kind, _other)(words)
    consequences = tuple(consequence_label(c, translator) for c in alarm.consequences)
    if consequences:
        happened = f"{happened}{words.space}{translator.t('alarm.text.affected', count=len(consequences))}"
    return AlarmText(
        title=translator.t(_title_key(kind, words)),
        happened=happened,
        check_first=check,
        raised_at=translator.when(alarm.raised_at),
        subject=words.subject(kind),
        consequences=consequences,
        technical=_technical(alarm, translator),
    )


def _title_key(kind: str, words: _Words) -> str:
    """The title's string: a carbon warning's says which of its three conditions holds (several may be open)."""
    if kind == "carbon_deficit":
        what = str(words.detail.get("what", ""))
        if what in ("deficit", "deadline", "intensity"):
            return f"alarm.text.carbon_deficit.title_{what}"
    return f"alarm.text.{kind}.title"


def consequence_label(consequence: AlarmConsequence, translator: Translator) -> str:
    """A meter listed under an outage: its name and where it is (``焦炭流量（1#高炉）``)."""
    name = consequence.point_name or translator.t("alarm.text.unnamed_point")
    where = consequence.facility or consequence.process
    return translator.t("alarm.text.point_at", point=name, place=where) if where else name


class _Words:
    """The names and facts of one alarm, in the translator's language."""

    def __init__(self, alarm: Alarm, translator: Translator) -> None:
        self.alarm = alarm
        self.t = translator
        self.detail: Mapping[str, Any] = alarm.detail if isinstance(alarm.detail, Mapping) else {}
        self.space = "" if translator.locale is Locale.ZH_CN else " "

    def name(self, key: str) -> str:
        """A plant name the platform sent (its English form on an English screen, when there is one)."""
        names = self.alarm.names
        if self.t.locale is Locale.EN and names.get(f"{key}_en"):
            return names[f"{key}_en"]
        return names.get(key, "")

    @property
    def device(self) -> str:
        return self.name("device") or self.t.t("alarm.text.unnamed_device")

    @property
    def plc(self) -> str:
        process = self.name("process")
        return self.t.t("alarm.text.plc_of", process=process) if process else self.t.t("alarm.text.unnamed_plc")

    @property
    def point(self) -> str:
        name = self.name("point") or self.t.t("alarm.text.unnamed_point")
        place = self.name("facility") or self.name("process")
        return self.t.t("alarm.text.point_at", point=name, place=place) if place else name

    def subject(self, kind: str) -> str:
        if kind == "meter_comm":
            return self.t.t("alarm.text.subject_pair", first=self.plc, second=self.device)
        if self.alarm.subject_type == "point" or self.name("point"):
            return self.point
        if self.alarm.subject_type == "enterprise":
            return self.name("enterprise") or self.t.t("alarm.text.unnamed_enterprise")
        if self.alarm.subject_type == "process":
            return self.name("process") or self.t.t("alarm.text.unnamed_process")
        return self.device

    def time(self, key: str) -> str:
        """A time of the facts, local; the alarm's own time when the fact is missing or unreadable."""
        value = self.detail.get(key)
        moment = _parse_time(value) if isinstance(value, str) else None
        return self.t.when(moment or self.alarm.raised_at)

    def number(self, key: str, default: float = 0) -> float:
        value = self.detail.get(key, default)
        try:
            return float(value)
        except (TypeError, ValueError):
            return default

    def duration(self, seconds: float) -> str:
        """``45 秒`` / ``5 分钟`` / ``3 小时`` (``45 s`` / ``5 min`` / ``3 h``)."""
        if seconds >= 2 * 3600:
            return self.t.t("alarm.text.hours", count=self.t.number(seconds / 3600))
        if seconds >= 120:
            return self.t.t("alarm.text.minutes", count=self.t.number(seconds / 60))
        return self.t.t("alarm.text.seconds", count=self.t.number(seconds))


def _parse_time(value: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _device_offline(w: _Words) -> tuple[str, str]:
    reason = str(w.detail.get("reason", ""))
    since = w.t.when(w.alarm.raised_at)
    if reason == "connection lost":
        return w.t.t("alarm.text.device_offline.lost", device=w.device, since=since), w.t.t(
            "alarm.text.device_offline.check"
        )
    if reason == "stopped":
        return w.t.t("alarm.text.device_offline.stopped", device=w.device, since=since), w.t.t(
            "alarm.text.device_offline.check_stopped"
        )
    if reason == "missed heartbeats":
        heartbeat = w.number("heartbeat_s", 0)
        last = w.time("last_status_at")
        happened = w.t.t(
            "alarm.text.device_offline.silent",
            device=w.device,
            since=last,
            interval=w.duration(heartbeat) if heartbeat > 0 else "-",
        )
        return happened, w.t.t("alarm.text.device_offline.check")
    return w.t.t("alarm.text.device_offline.other", device=w.device, since=since), w.t.t(
        "alarm.text.device_offline.check"
    )


def _meter_comm(w: _Words) -> tuple[str, str]:
    happened = w.t.t("alarm.text.meter_comm.happened", device=w.device, plc=w.plc, since=w.time("since"))
    return happened, w.t.t("alarm.text.meter_comm.check")


def _meter_stuck(w: _Words) -> tuple[str, str]:
    happened = w.t.t("alarm.text.meter_stuck.happened", point=w.point, since=w.time("since"))
    return happened, w.t.t("alarm.text.meter_stuck.check")


def _drops(kind: str) -> Any:
    def say(w: _Words) -> tuple[str, str]:
        happened = w.t.t(
            f"alarm.text.{kind}.happened",
            device=w.device,
            count=w.t.number(w.number("drops_last_hour")),
            threshold=w.t.number(w.number("threshold")),
        )
        return happened, w.t.t(f"alarm.text.{kind}.check")

    return say


def _data_gap(w: _Words) -> tuple[str, str]:
    sample = w.number("sample_seconds", 0)
    interval = w.duration(sample) if sample > 0 else "-"
    if w.detail.get("last_reading_at"):
        happened = w.t.t("alarm.text.data_gap.since", point=w.point, since=w.time("last_reading_at"), interval=interval)
    elif sample <= 0:
        happened = w.t.t("alarm.text.data_gap.plain", point=w.point)
    else:
        window = sample * w.number("gap_intervals", 1)
        happened = w.t.t("alarm.text.data_gap.for", point=w.point, duration=w.duration(window), interval=interval)
    return happened, w.t.t("alarm.text.data_gap.check")


def _data_completeness(w: _Words) -> tuple[str, str]:
    happened = w.t.t(
        "alarm.text.data_completeness.happened",
        point=w.point,
        hour=w.time("hour"),
        readings=w.t.number(w.number("readings")),
        expected=w.t.number(w.number("expected")),
        percent=w.t.percent(w.number("percent") / 100),
        threshold=w.t.percent(w.number("threshold_percent") / 100, 0),
    )
    return happened, w.t.t("alarm.text.data_completeness.check")


def _certificate(w: _Words) -> tuple[str, str]:
    check = w.t.t("alarm.text.certificate_expiring.check")
    if w.detail.get("source") == "gateway":  # the gateway's own renewal keeps failing
        return w.t.t("alarm.text.certificate_expiring.renewal", device=w.device, since=w.time("since")), check
    not_after = _parse_time(str(w.detail.get("not_after", "")))
    if not_after is not None and not_after <= w.alarm.last_seen_at:
        return w.t.t("alarm.text.certificate_expiring.expired", device=w.device, when=w.t.when(not_after)), check
    days = (not_after - w.alarm.last_seen_at).total_seconds() / 86400 if not_after is not None else 0
    happened = w.t.t(
        "alarm.text.certificate_expiring.expiring",
        device=w.device,
        when=w.t.when(not_after) if not_after is not None else "-",
        days=w.t.number(max(days, 0)),
    )
    return happened, check


def _gateway_buffer(w: _Words) -> tuple[str, str]:
    happened = w.t.t("alarm.text.gateway_buffer.happened", device=w.device, since=w.time("since"))
    return happened, w.t.t("alarm.text.gateway_buffer.check")


def _dead_letters(w: _Words) -> tuple[str, str]:
    happened = w.t.t(
        "alarm.text.dead_letters.happened",
        device=w.device,
        count=w.t.number(w.number("count")),
        threshold=w.t.number(w.number("threshold")),
    )
    return happened, w.t.t("alarm.text.dead_letters.check")


def _exact(w: _Words, key: str) -> str:
    """A reading as sent, every decimal it has (up to 6): two readings that differ in the third decimal must not
    read the same."""
    value = Decimal(repr(w.number(key)))
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) else 0
    return w.t.number(value, min(max(places, 0), 6))


def _data_conflict(w: _Words) -> tuple[str, str]:
    happened = w.t.t(
        "alarm.text.data_conflict.happened",
        device=w.device,
        point=w.point,
        when=w.time("ts"),
        value=_exact(w, "value"),
        stored=_exact(w, "stored_value"),
    )  # how often: the alarm's occurrences, shown beside it
    return happened, w.t.t("alarm.text.data_conflict.check")


def _energy_limit(w: _Words) -> tuple[str, str]:
    """A process above its energy limit: the month, its figure and the (corrected) limit, in the limit's unit."""
    unit = str(w.detail.get("unit", ""))
    happened = w.t.t(
        "alarm.text.energy_limit.happened",
        process=w.name("process") or w.t.t("alarm.text.unnamed_process"),
        period=str(w.detail.get("period", "")),
        actual=f"{w.t.number(w.number('actual'), 2)} {unit}",
        limit=f"{w.t.number(w.number('limit'), 2)} {unit}",
        edition=str(w.detail.get("edition", "")),
        over=f"{w.t.number(w.number('over'), 2)} {unit}",
    )
    missing = w.detail.get("missing")
    if isinstance(missing, list) and missing:
        inputs = ", ".join(str(m) for m in missing)
        happened = f"{happened}{w.space}{w.t.t('alarm.text.energy_limit.uncorrected', inputs=inputs)}"
    return happened, w.t.t("alarm.text.energy_limit.check")


def _carbon_deficit(w: _Words) -> tuple[str, str]:
    """A carbon-asset warning: the compliance year's forecast deficit above its level, the surrender deadline near
    with a deficit, or the latest month's tCO2 per tonne above the allocation's intensity (``detail.what``)."""
    what = str(w.detail.get("what", "deficit"))
    what = what if what in ("deficit", "deadline", "intensity") else "deficit"
    position = w.number("position")
    money = w.detail.get("money")
    happened = w.t.t(
        f"alarm.text.carbon_deficit.{what}",
        enterprise=w.name("enterprise") or w.t.t("alarm.text.unnamed_enterprise"),
        year=str(w.detail.get("year", "")),
        deficit=f"{w.t.number(max(-position, 0), 0)} tCO2",
        level=f"{w.t.number(w.number('level'), 0)} tCO2",
        deadline=str(w.detail.get("deadline", "")),
    )
    if isinstance(money, Mapping) and money.get("position") is not None:
        try:
            yuan = -float(money["position"])
        except (TypeError, ValueError):
            yuan = 0.0
        if yuan > 0:
            happened = f"{happened}{w.space}{w.t.t('alarm.text.carbon_deficit.money', money=w.t.number(yuan, 0))}"
    return happened, w.t.t("alarm.text.carbon_deficit.check")


def _other(w: _Words) -> tuple[str, str]:
    return w.t.t("alarm.text.other.happened", subject=w.device), w.t.t("alarm.text.other.check")


_SAYINGS = {
    "device_offline": _device_offline,
    "meter_comm": _meter_comm,
    "meter_stuck": _meter_stuck,
    "meter_out_of_range": _drops("meter_out_of_range"),
    "data_spike": _drops("data_spike"),
    "data_gap": _data_gap,
    "data_completeness": _data_completeness,
    "certificate_expiring": _certificate,
    "gateway_buffer": _gateway_buffer,
    "dead_letters": _dead_letters,
    "data_conflict": _data_conflict,
    "energy_limit": _energy_limit,
    "carbon_deficit": _carbon_deficit,
}


def _technical(alarm: Alarm, translator: Translator) -> str:
    """The platform's text and keys as they are (for the engineer who configures gateways and point maps)."""
    lines = [alarm.message] if alarm.message else []
    facts = {
        "kind": alarm.kind,
        "cause": alarm.cause,
        "subject": f"{alarm.subject_type} {alarm.subject_id}",
        "device_id": alarm.detail.get("device_id"),
        "connection": alarm.names.get("connection") or alarm.detail.get("connection"),
        "point_code": alarm.names.get("point_code") or alarm.detail.get("point_code"),
        "raised_at": translator.when(alarm.raised_at, seconds=True),
        "last_seen_at": translator.when(alarm.last_seen_at, seconds=True),
    }
    lines += [f"{key}: {value}" for key, value in facts.items() if value]
    lines += [
        f"- {c.point_code or c.point_id} {c.point_name}".rstrip()
        for c in alarm.consequences
        if c.point_code or c.point_id
    ]
    return "\n".join(lines)
