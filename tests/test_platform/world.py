"""A small world for tests: two enterprises with a site, process, facility and point each, and users."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import httpx
import pyotp

from cem_platform.identity.credentials import TotpBox, hash_password
from cem_platform.identity.models import User, UserScope
from cem_platform.identity.roles import Role
from cem_platform.org.models import Enterprise, Facility, FacilityType, MeasurementPoint, Process, ProcessType, Site
from cem_platform.settings import Settings

PASSWORD = "correct-horse-battery"
TOTP_ROLES = {Role.ADMIN, Role.DEVICE_ADMIN, Role.ACCOUNTANT}


def totp_code(secret: str, steps_ahead: int = 0) -> str:
    """The code of ``secret`` for the current time step plus ``steps_ahead``."""
    totp = pyotp.TOTP(secret)
    return totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30 * steps_ahead))


@dataclass
class Org:
    """One enterprise's objects."""

    enterprise: Enterprise
    site: Site
    process: Process
    facility: Facility
    point: MeasurementPoint


@dataclass
class World:
    """Two enterprises (a, b), users by name, and a way to log them in."""

    settings: Settings
    client: httpx.AsyncClient
    a: Org
    b: Org
    secrets: dict[str, str] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)

    async def add_user(
        self,
        username: str,
        role: Role,
        *,
        enterprise: Enterprise | None = None,
        site: Site | None = None,
        everything: bool = False,
        totp: bool | None = None,
    ) -> User:
        """A user with a known password and, for roles that need it (or when asked), a known TOTP secret."""
        with_totp = role in TOTP_ROLES if totp is None else totp
        secret = pyotp.random_base32() if with_totp else None
        box = TotpBox(self.settings.security)
        user = await User.create(
            username=username,
            role=role,
            password_hash=hash_password(PASSWORD),
            all_enterprises=everything,
            totp_secret_encrypted=box.seal(secret) if secret else None,
            totp_confirmed_at=dt.datetime.now(dt.UTC) if secret else None,
        )
        if enterprise is not None:
            await UserScope.create(user=user, enterprise=enterprise, site=site)
        if secret:
            self.secrets[username] = secret
        self.users[username] = user
        return user

    async def login(self, username: str, *, steps_ahead: int = 0) -> dict[str, str]:
        """Log in (with TOTP when the user has one) and return the Authorization header."""
        body: dict[str, Any] = {"username": username, "password": PASSWORD}
        if username in self.secrets:
            body["totp"] = totp_code(self.secrets[username], steps_ahead)
        response = await self.client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def make_org(code: str, name: str) -> Org:
    """An enterprise with one site, an ironmaking process, a blast furnace and a coke meter."""
    enterprise = await Enterprise.create(code=code, name=name)
    site = await Site.create(enterprise=enterprise, code=f"{code}-S1", name=f"{name} works")
    process = await Process.create(
        site=site, process_type=await ProcessType.get(code="ironmaking"), code="IR", name="炼铁"
    )
    facility = await Facility.create(
        process=process, facility_type=await FacilityType.get(code="blast_furnace"), code="BF1", name="1#高炉"
    )
    point = await MeasurementPoint.create(
        facility=facility,
        enterprise=enterprise,
        code=f"{code}.BF1.COKE",
        name="入炉焦炭",
        medium="coke",
        quantity="mass",
        unit="t",
        kind="totaliser",
    )
    return Org(enterprise, site, process, facility, point)


async def make_world(settings: Settings, client: httpx.AsyncClient) -> World:
    """Enterprises A and B; one user per role in A, a group admin, and an admin of B."""
    world = World(settings, client, await make_org("ENTA", "甲钢铁"), await make_org("ENTB", "乙钢铁"))
    for role in Role:
        await world.add_user(f"a-{role.value.replace('_', '-')}", role, enterprise=world.a.enterprise)
    await world.add_user("group-admin", Role.ADMIN, everything=True)
    await world.add_user("b-admin", Role.ADMIN, enterprise=world.b.enterprise)
    return world
