"""Role x route matrix: each role is allowed exactly what it should be and denied the rest.

The expectations are written out here by hand, independent of the role table in the code.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from cem_platform.alarms.models import AlarmKind, Severity
from cem_platform.alarms.services import AlarmService
from tests.test_platform.world import World

ROLES = ["admin", "device_admin", "accountant", "executive", "crew", "auditor"]
ALL = set(ROLES)
counter = itertools.count()


def _unique() -> str:
    return f"X{next(counter)}"


@pytest.fixture(autouse=True)
async def open_alarm(world: World) -> None:
    """An open alarm of enterprise A for the alarm routes (``w.alarm_id``)."""
    alarm = await AlarmService(world.settings).raise_alarm(
        world.a.enterprise.id, AlarmKind.DATA_GAP, Severity.WARNING, "point", str(world.a.point.id), "no reading"
    )
    world.alarm_id = alarm.id  # type: ignore[attr-defined]


READ_EMISSIONS = {"admin", "accountant", "executive", "auditor"}


@dataclass
class Call:
    """One route, how to call it in world ``w``, and who may."""

    method: str
    path: Callable[[World], str]
    allowed: set[str]
    body: Callable[[World], dict[str, Any]] | None = None


CALLS = [
    Call("GET", lambda w: "/api/v1/ingest/dead-letters", {"admin", "device_admin", "auditor"}),
    Call("GET", lambda w: "/api/v1/ingest/status", {"admin", "device_admin", "executive", "crew", "auditor"}),
    Call("GET", lambda w: "/api/v1/org/enterprises", ALL),
    Call("GET", lambda w: f"/api/v1/org/enterprises/{w.a.enterprise.id}", ALL),
    Call("PATCH", lambda w: f"/api/v1/org/enterprises/{w.a.enterprise.id}", {"admin"}, lambda w: {"address": "新地址"}),
    Call("GET", lambda w: "/api/v1/org/sites", ALL),
    Call(
        "POST",
        lambda w: "/api/v1/org/sites",
        {"admin"},
        lambda w: {"enterprise_id": w.a.enterprise.id, "code": _unique(), "name": "新基地"},
    ),
    Call("PATCH", lambda w: f"/api/v1/org/sites/{w.a.site.id}", {"admin"}, lambda w: {"name": "改名"}),
    Call("GET", lambda w: "/api/v1/org/processes", ALL),
    Call(
        "POST",
        lambda w: "/api/v1/org/processes",
        {"admin"},
        lambda w: {
            "site_id": w.a.site.id,
            "process_type_id": w.a.process.process_type_id,
            "code": _unique(),
            "name": "炼铁2",
        },
    ),
    Call("GET", lambda w: "/api/v1/org/facilities", ALL),
    Call(
        "POST",
        lambda w: "/api/v1/org/facilities",
        {"admin"},
        lambda w: {
            "process_id": w.a.process.id,
            "facility_type_id": w.a.facility.facility_type_id,
            "code": _unique(),
            "name": "2#高炉",
        },
    ),
    Call("GET", lambda w: "/api/v1/org/points", ALL),
    Call("GET", lambda w: f"/api/v1/org/points/{w.a.point.id}", ALL),
    Call(
        "POST",
        lambda w: "/api/v1/org/points",
        {"admin", "device_admin"},
        lambda w: {
            "facility_id": w.a.facility.id,
            "code": _unique(),
            "name": "喷煤",
            "medium": "pci_coal",
            "quantity": "mass",
            "unit": "t",
            "kind": "totaliser",
            "accuracy_class": "0.5S",
        },
    ),
    Call(
        "PATCH",
        lambda w: f"/api/v1/org/points/{w.a.point.id}",
        {"admin", "device_admin"},
        lambda w: {"meter_serial": _unique()},
    ),
    Call("GET", lambda w: "/api/v1/org/process-types", ALL),
    Call("GET", lambda w: "/api/v1/org/facility-types", ALL),
    Call("GET", lambda w: "/api/v1/users", {"admin", "auditor"}),
    Call("GET", lambda w: f"/api/v1/users/{w.users['a-crew'].id}", {"admin", "auditor"}),
    Call(
        "POST",
        lambda w: "/api/v1/users",
        {"admin"},
        lambda w: {
            "username": f"user{next(counter)}",
            "password": "long-enough-pass",
            "role": "crew",
            "scopes": [{"enterprise_id": w.a.enterprise.id}],
        },
    ),
    Call(
        "PATCH", lambda w: f"/api/v1/users/{w.users['a-executive'].id}", {"admin"}, lambda w: {"display_name": "张总"}
    ),
    Call("GET", lambda w: "/api/v1/api-tokens", {"admin", "auditor"}),
    Call(
        "POST",
        lambda w: "/api/v1/api-tokens",
        {"admin"},
        lambda w: {"name": "erp", "permissions": ["org.read"], "enterprise_ids": [w.a.enterprise.id]},
    ),
    Call("GET", lambda w: "/api/v1/audit", {"admin", "auditor"}),
    Call("GET", lambda w: "/api/v1/registry/devices", {"admin", "device_admin", "executive", "crew", "auditor"}),
    Call(
        "POST",
        lambda w: "/api/v1/registry/devices",
        {"admin", "device_admin"},
        lambda w: {"serial": _unique(), "site_id": w.a.site.id},
    ),
    Call("GET", lambda w: "/api/v1/system/parameters", {"admin", "device_admin", "auditor"}),
    Call("GET", lambda w: f"/api/v1/points/{w.a.point.id}/series?interval=hour", ALL),
    Call("GET", lambda w: f"/api/v1/points/{w.a.point.id}/series?interval=raw", ALL),
    Call("GET", lambda w: f"/api/v1/points/latest?ids={w.a.point.id}", ALL),
    Call("PUT", lambda w: "/api/v1/system/parameters/auth.lockout_threshold", {"admin"}, lambda w: {"value": 6}),
    Call(
        "PUT",
        lambda w: "/api/v1/system/parameters/comm.heartbeat_seconds",
        {"admin", "device_admin"},
        lambda w: {"value": 45},
    ),
    Call("GET", lambda w: "/api/v1/alarms", ALL),
    Call("GET", lambda w: f"/api/v1/alarms/{w.alarm_id}", ALL),
    Call(
        "POST",
        lambda w: f"/api/v1/alarms/{w.alarm_id}/acknowledge",
        {"admin", "device_admin", "crew"},
        lambda w: {"note": "on it"},
    ),
    Call(
        "POST",
        lambda w: f"/api/v1/alarms/{w.alarm_id}/clear",
        {"admin", "device_admin", "crew"},
        lambda w: {"note": "meter replaced"},
    ),
    Call("GET", lambda w: "/api/v1/accounting/library", READ_EMISSIONS),
    Call("GET", lambda w: f"/api/v1/accounting/sources?enterprise_id={w.a.enterprise.id}", READ_EMISSIONS),
    Call(
        "POST",
        lambda w: "/api/v1/accounting/sources",
        {"admin", "accountant"},
        lambda w: {
            "enterprise_id": w.a.enterprise.id,
            "code": _unique(),
            "name": "石灰石",
            "category": "flux",
            "item": "limestone",
            "inputs": {"AD": {"origin": "manual", "unit": "t"}},
        },
    ),  # fmt: skip
    Call("GET", lambda w: f"/api/v1/accounting/activity?enterprise_id={w.a.enterprise.id}", READ_EMISSIONS),
    Call("GET", lambda w: f"/api/v1/accounting/years?enterprise_id={w.a.enterprise.id}", READ_EMISSIONS),
    Call("GET", lambda w: "/api/v1/accounting/units", ALL),
    # field entry (人工采集): crews too, within their sites
    Call(
        "GET",
        lambda w: f"/api/v1/accounting/activity/inputs?enterprise_id={w.a.enterprise.id}",
        {"admin", "accountant", "crew"},
    ),
]


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_gets_exactly_its_routes(world: World, role: str) -> None:
    headers = await world.login(f"a-{role.replace('_', '-')}")
    for call in CALLS:
        path = call.path(world)
        body = call.body(world) if call.body else None
        response = await world.client.request(call.method, path, headers=headers, json=body)
        where = f"{role} {call.method} {path}: {response.status_code} {response.text[:200]}"
        if role in call.allowed:
            assert 200 <= response.status_code < 300, where
        else:
            assert response.status_code == 403, where
            assert response.json()["error"]["code"] == "permission_denied", where


async def test_every_api_route_needs_authentication(world: World) -> None:
    schema = (await world.client.get("/schema/openapi.json")).json()
    public = {
        ("post", "/api/v1/auth/login"),
        ("post", "/api/v1/auth/refresh"),
        # terminals authenticate with their enrolment token or certificate; CA and CRL are public by nature;
        # the broker's hook checks its own shared key
        ("post", "/api/v1/registry/enrol"),
        ("post", "/api/v1/registry/renew"),
        ("get", "/api/v1/registry/ca"),
        ("get", "/api/v1/registry/crl"),
        ("post", "/api/v1/broker/authorize"),
    }
    checked = 0
    for path, operations in schema["paths"].items():
        if not path.startswith("/api/v1/"):
            assert path in ("/health", "/ready"), f"route outside /api/v1: {path}"
            continue
        concrete = path.replace("{object_id}", "1").replace("{user_id}", "1").replace("{token_id}", "1")
        concrete = concrete.replace("{key}", "auth.lockout_threshold").replace("{device_id}", "dev-aaaaaaaaaaaa")
        concrete = concrete.replace("{alarm_id}", "1")
        concrete = concrete.replace("{point_id}", "1").replace("{letter_id}", "1")
        concrete = re.sub(r"\{[a-z_]+_id\}", "1", concrete)  # every other id (scenario, trial...): a number
        for method in operations:
            if (method, path) in public:
                continue
            response = await world.client.request(method.upper(), concrete, json={})
            assert response.status_code == 401, f"{method} {path} answered {response.status_code} without a token"
            checked += 1
    assert checked > 30
