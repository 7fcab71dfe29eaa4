"""Who is calling, what they may do (permissions) and where (scope)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from cem_platform.identity.roles import Permission, Role

__all__ = ["Principal", "Scope"]


@dataclass(frozen=True, slots=True)
class Scope:
    """The enterprises and sites a caller may see. ``everything`` is the group level (集团)."""

    everything: bool = False
    enterprises: frozenset[int] = frozenset()  # whole enterprises
    sites: frozenset[int] = frozenset()  # single sites (their enterprise is readable, not its other sites)
    site_enterprises: frozenset[int] = frozenset()  # enterprises of those single sites

    def sees_enterprise(self, enterprise_id: int) -> bool:
        """May the caller see this enterprise's own record?"""
        return self.everything or enterprise_id in self.enterprises or enterprise_id in self.site_enterprises

    def covers_enterprise(self, enterprise_id: int) -> bool:
        """Does the caller's scope include the whole enterprise (every site of it)?"""
        return self.everything or enterprise_id in self.enterprises

    def sees_site(self, enterprise_id: int, site_id: int) -> bool:
        """May the caller see this site and what belongs to it?"""
        return self.covers_enterprise(enterprise_id) or site_id in self.sites

    def visible_enterprises(self) -> frozenset[int]:
        """Every enterprise the caller sees at least a part of (meaningless when ``everything``)."""
        return self.enterprises | self.site_enterprises


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of one request."""

    kind: str  # user, api_token, cli, system
    name: str
    user_id: int | None
    role: Role | None
    permissions: frozenset[Permission]
    scope: Scope
    session_id: uuid.UUID | None = None
    token_id: int | None = None
    ip: str = ""
    request_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def can(self, permission: Permission) -> bool:
        """Does the caller's role (or token) grant this permission?"""
        return permission in self.permissions

    @classmethod
    def system(cls, name: str = "system", kind: str = "system") -> Principal:
        """The platform itself or an operator at the command line: every permission, every enterprise."""
        return cls(
            kind=kind,
            name=name,
            user_id=None,
            role=None,
            permissions=frozenset(Permission),
            scope=Scope(everything=True),
        )
