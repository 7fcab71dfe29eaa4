"""Plant names of what an alarm concerns, looked up when it is raised: terminals, meters, facilities, processes.

An alarm keeps them in ``names`` so that every screen can say it in the plant's words (``炼钢厂网关``, ``焦炭流量``,
``1#高炉``, ``炼铁``) without a lookup per alarm. Keys: ``device`` (the terminal's name), ``connection`` (the PLC
connection as the gateway's point map names it), ``point``, ``point_code``, ``facility``, ``process`` and
``process_en`` (the process type's English name). A name the registry does not have is left out, never replaced
by an id: the screens say "a gateway" instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cem_platform.org.models import MeasurementPoint
from cem_registry.models import Device

__all__ = ["PlantNames", "consequence_entry", "processes_of"]

_POINT_FIELDS = (
    "id",
    "code",
    "name",
    "facility__name",
    "facility__process__name",
    "facility__process__process_type__name_en",
)


class PlantNames:
    """Names of terminals and points, each looked up once per instance (one rule run or one status)."""

    def __init__(self) -> None:
        self._devices: dict[str, dict[str, str]] = {}
        self._points: dict[int, dict[str, str]] = {}

    async def devices(self, device_ids: Iterable[str]) -> dict[str, dict[str, str]]:
        """``{"device": name}`` per terminal id (empty for an unnamed or unknown terminal)."""
        wanted = sorted({d for d in device_ids if d not in self._devices})
        if wanted:
            rows = await Device.filter(id__in=wanted).values_list("id", "name")
            found = {str(i): str(n) for i, n in rows}
            for device_id in wanted:
                name = found.get(device_id, "").strip()
                self._devices[device_id] = {"device": name} if name else {}
        return {d: self._devices[d] for d in device_ids if d in self._devices}

    async def device(self, device_id: str) -> dict[str, str]:
        """The names of one terminal."""
        return dict((await self.devices([device_id])).get(device_id, {}))

    async def points(self, point_ids: Iterable[int]) -> dict[int, dict[str, str]]:
        """Point, code, facility and process names per point id."""
        wanted = sorted({p for p in point_ids if p not in self._points})
        if wanted:
            for row in await MeasurementPoint.filter(id__in=wanted).values(*_POINT_FIELDS):
                self._points[int(row["id"])] = _point_names(row)
        return {p: self._points[p] for p in point_ids if p in self._points}

    async def point(self, point_id: int, device_id: str | None = None) -> dict[str, str]:
        """The names of one point (and of the terminal that delivers it)."""
        names = dict((await self.points([point_id])).get(point_id, {}))
        if device_id:
            names.update(await self.device(device_id))
        return names

    async def points_by_code(self, enterprise_id: int, codes: Iterable[str]) -> dict[str, tuple[int, dict[str, str]]]:
        """Point id and names per point code of one enterprise (what a gateway names points by)."""
        wanted = sorted(set(codes))
        if not wanted:
            return {}
        rows = await MeasurementPoint.filter(enterprise_id=enterprise_id, code__in=wanted).values(*_POINT_FIELDS)
        out: dict[str, tuple[int, dict[str, str]]] = {}
        for row in rows:
            names = self._points[int(row["id"])] = _point_names(row)
            out[str(row["code"])] = (int(row["id"]), names)
        return out


def _point_names(row: dict[str, Any]) -> dict[str, str]:
    names = {
        "point": row.get("name"),
        "point_code": row.get("code"),
        "facility": row.get("facility__name"),
        "process": row.get("facility__process__name"),
        "process_en": row.get("facility__process__process_type__name_en"),
    }
    return {key: str(value).strip() for key, value in names.items() if value and str(value).strip()}


def consequence_entry(point_id: int, names: dict[str, str], alarm_id: int | None) -> dict[str, Any]:
    """One meter in an outage's ``consequences``."""
    return {
        "point_id": point_id,
        "point_code": names.get("point_code", ""),
        "point_name": names.get("point", ""),
        "facility": names.get("facility", ""),
        "process": names.get("process", ""),
        "process_en": names.get("process_en", ""),
        "alarm_id": alarm_id,
    }


def processes_of(consequences: Iterable[dict[str, Any]]) -> dict[str, str]:
    """The processes of an outage's meters, in both languages (``轧钢`` / ``Rolling``), for its ``names``."""
    zh: list[str] = []
    en: list[str] = []
    for entry in consequences:
        if entry.get("process") and entry["process"] not in zh:
            zh.append(str(entry["process"]))
        if entry.get("process_en") and entry["process_en"] not in en:
            en.append(str(entry["process_en"]))
    names: dict[str, str] = {}
    if zh:
        names["process"] = "、".join(zh)
    if en:
        names["process_en"] = ", ".join(en)
    return names
