"""The console's API: the calls it needs are :class:`cem_clients.api.ApiClient`'s own now.

``ConsoleApi`` stays as a name for the console's code; it is the one typed client.
"""

from __future__ import annotations

from cem_clients.api import (
    ApiClient,
    CategorySpec,
    LibraryParameters,
    ParameterChanged,
    ReportFile,
    SystemParameter,
)

__all__ = [
    "CategorySpec",
    "ConsoleApi",
    "LibraryParameters",
    "ParameterChanged",
    "ReportFile",
    "SystemParameter",
]

ConsoleApi = ApiClient
