"""Roles, the permissions each grants, and which roles must use TOTP.

A route names one permission; a role either has it or not. Scope (which enterprises and sites) is checked
separately by the services, so both role AND scope must allow an action.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "API_TOKEN_PERMISSIONS",
    "ROLE_PERMISSIONS",
    "TOTP_REQUIRED_ROLES",
    "Permission",
    "Role",
]


class Role(StrEnum):
    """What a user does in the plant."""

    ADMIN = "admin"
    DEVICE_ADMIN = "device_admin"
    ACCOUNTANT = "accountant"
    EXECUTIVE = "executive"
    CREW = "crew"
    AUDITOR = "auditor"
    # third-party verifier (核查机构): reads the enterprises in its scope, verifies the years assigned to it
    VERIFIER = "verifier"


class Permission(StrEnum):
    """One kind of action on one kind of object."""

    ORG_READ = "org.read"
    ORG_WRITE = "org.write"  # enterprises, sites, processes, facilities, dictionaries
    POINTS_WRITE = "points.write"  # measurement points and their meters
    USERS_READ = "users.read"
    USERS_WRITE = "users.write"
    TOKENS_READ = "tokens.read"
    TOKENS_WRITE = "tokens.write"
    AUDIT_READ = "audit.read"
    SYSTEM_READ = "system.read"
    SYSTEM_WRITE = "system.write"  # system parameters
    COMM_WRITE = "comm.write"  # communication settings
    DEVICES_READ = "devices.read"
    DEVICES_WRITE = "devices.write"  # register devices, edit them, issue enrolment tokens
    DEVICES_CONTROL = "devices.control"  # suspend, resume, revoke, retire (with TOTP step-up)
    DATA_READ = "data.read"  # time series, latest values, live updates
    INGEST_READ = "ingest.read"  # dead letters and terminal status as ingest saw it
    ALARMS_READ = "alarms.read"
    ALARMS_HANDLE = "alarms.handle"  # acknowledge and clear alarms
    ALARMS_CONFIGURE = "alarms.configure"  # alarm thresholds (audited parameters)
    EMISSIONS_READ = "emissions.read"  # emission results, lineage, reports, the inventory and library
    ACCOUNTING_WRITE = "accounting.write"  # source inventory, activity data, ledger imports, recalculation
    ACCOUNTING_LIBRARY = "accounting.library"  # change factor library versions (with TOTP step-up)
    # enter manual readings of accounting inputs in the field (人工采集) and their evidence photos, within the
    # sites in scope; correcting someone else's record or a ledger's still needs accounting.write
    ACTIVITY_ENTER = "activity.enter"
    # record the verified figures and findings of a submitted year assigned to the caller (the verifier's act)
    REPORT_VERIFY = "report.verify"


_READ_ALL = frozenset(
    {
        Permission.ORG_READ,
        Permission.USERS_READ,
        Permission.TOKENS_READ,
        Permission.AUDIT_READ,
        Permission.SYSTEM_READ,
        Permission.DEVICES_READ,
        Permission.DATA_READ,
        Permission.INGEST_READ,
        Permission.ALARMS_READ,
        Permission.EMISSIONS_READ,
    }
)

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.DEVICE_ADMIN: frozenset(
        {
            Permission.ORG_READ,
            Permission.POINTS_WRITE,
            Permission.SYSTEM_READ,
            Permission.COMM_WRITE,
            Permission.DEVICES_READ,
            Permission.DEVICES_WRITE,
            Permission.DEVICES_CONTROL,
            Permission.DATA_READ,
            Permission.INGEST_READ,
            Permission.ALARMS_READ,
            Permission.ALARMS_HANDLE,
            Permission.ALARMS_CONFIGURE,
        }
    ),
    Role.ACCOUNTANT: frozenset(
        {
            Permission.ORG_READ,
            Permission.DATA_READ,
            Permission.ALARMS_READ,
            Permission.EMISSIONS_READ,
            Permission.ACCOUNTING_WRITE,
            Permission.ACCOUNTING_LIBRARY,
            Permission.ACTIVITY_ENTER,
        }
    ),
    Role.EXECUTIVE: frozenset(
        {
            Permission.ORG_READ,
            Permission.DEVICES_READ,
            Permission.DATA_READ,
            Permission.ALARMS_READ,
            Permission.EMISSIONS_READ,
        }
    ),
    Role.CREW: frozenset(
        {
            Permission.ORG_READ,
            Permission.DEVICES_READ,
            Permission.DATA_READ,
            Permission.ALARMS_READ,
            Permission.ALARMS_HANDLE,
            Permission.ACTIVITY_ENTER,
        }
    ),
    Role.AUDITOR: _READ_ALL,
    Role.VERIFIER: frozenset({Permission.ORG_READ, Permission.EMISSIONS_READ, Permission.REPORT_VERIFY}),
}

# Roles that change plant data or configuration must log in with a second factor.
TOTP_REQUIRED_ROLES = frozenset({Role.ADMIN, Role.DEVICE_ADMIN, Role.ACCOUNTANT})

# An API token can never do a control operation (it cannot confirm a TOTP code), nor manage identities.
API_TOKEN_PERMISSIONS = frozenset(
    {
        Permission.ORG_READ,
        Permission.POINTS_WRITE,
        Permission.SYSTEM_READ,
        Permission.DEVICES_READ,
        Permission.DATA_READ,
        Permission.ALARMS_READ,
        Permission.EMISSIONS_READ,
    }
)
