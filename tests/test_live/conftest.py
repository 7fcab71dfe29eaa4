"""A real HTTP/WebSocket server (uvicorn) around the session's app, in the tests' event loop.

Litestar's test clients run the application in a thread with an event loop of its own, where the session's
Tortoise connections (made in the tests' loop) cannot be used; a real server in the same loop can, and tests
the real WebSocket handshake and closing codes as a browser sees them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
import uvicorn
from litestar import Litestar


@contextlib.asynccontextmanager
async def serving(app: Litestar) -> AsyncIterator[str]:
    """Serve ``app`` on a free port of 127.0.0.1 (lifespan off: the fixtures opened the database) -> ws:// base."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="off", log_config=None, access_log=False, ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                    raise AssertionError("the test server stopped before it started")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture(scope="session")
async def live_base(app: Litestar) -> AsyncIterator[str]:
    """ws://127.0.0.1:<port> of the session's app."""
    async with serving(app) as base:
        yield base
