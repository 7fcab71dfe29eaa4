"""Reads of kept results in tests: the refresh job runs first, as Celery beat runs it within 15 s of a change."""

from __future__ import annotations

from typing import Any

import httpx

from cem_platform.accounting.refresh import RefreshReport, refresh

__all__ = ["read_after_refresh", "refresh_now"]


async def refresh_now() -> RefreshReport:
    """Run the refresh job once, as the scheduler would."""
    return await refresh()


async def read_after_refresh(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """The refresh job runs, then the read (a GET)."""
    await refresh()
    return await client.get(url, **kwargs)
