"""The maintenance crews' mobile app (alarms, device health, 人工采集 manual readings, terminal enrolment):
view state (:mod:`cem_clients.mobile.model` and the modules it uses), and the Flet app (``mobile.app``)."""

from cem_clients.mobile.alarms import SEVERITIES, AlarmInbox
from cem_clients.mobile.context import Connection, LinkState, Outcome, OutcomeStatus
from cem_clients.mobile.devices import DeviceDetail, DeviceList, DeviceRow, PointReading
from cem_clients.mobile.enrolment import Enrolment, EnrolmentStep, IssuedEnrolment
from cem_clients.mobile.model import ROLE_TABS, TAB_PERMISSIONS, MobileApp, SessionState, Tab
from cem_clients.mobile.outbox import FlushReport, Outbox, OutboxItem
from cem_clients.mobile.readings import ManualInput, PeriodKind, ReadingEntry

__all__ = [
    "ROLE_TABS",
    "SEVERITIES",
    "TAB_PERMISSIONS",
    "AlarmInbox",
    "Connection",
    "DeviceDetail",
    "DeviceList",
    "DeviceRow",
    "Enrolment",
    "EnrolmentStep",
    "FlushReport",
    "IssuedEnrolment",
    "LinkState",
    "ManualInput",
    "MobileApp",
    "Outbox",
    "OutboxItem",
    "Outcome",
    "OutcomeStatus",
    "PeriodKind",
    "PointReading",
    "ReadingEntry",
    "SessionState",
    "Tab",
]
