"""Alarms pushed by the platform: the app follows ``/api/v1/live`` (:class:`~cem_clients.api.LiveFeed`) while
someone is logged in, so that an alarm raised, acknowledged or cleared anywhere shows in the inbox at once.

The feed is a convenience, the REST API the record: on every (re)connection the inbox is reloaded (events sent
while the connection was down are not replayed), and while the feed is down the app's ticker polls as before
(:attr:`LiveLink.polling`); the inbox says which of the two keeps it current. The open device's points are
followed too, so its values move by themselves.

::

    link = LiveLink(app.ctx, lambda: app.inbox, lambda: app.devices, on_change=redraw)   # app.live is one
    task = asyncio.create_task(link.run())      # until the session ends or link.stop()
    link.check()                                # now and then: notices a connection lost between events
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from enum import StrEnum

from cem_clients.api import AuthError, ClientError, ForbiddenError, LiveEvent, LiveFeed
from cem_clients.mobile.alarms import AlarmInbox
from cem_clients.mobile.context import AppContext
from cem_clients.mobile.devices import DeviceList

__all__ = ["LiveLink", "LiveState"]

log = logging.getLogger("cem_clients.mobile.live")


class LiveState(StrEnum):
    """Whether alarms are pushed or polled."""

    OFF = "off"  # not started (logged out), or stopped
    CONNECTING = "connecting"  # the first connection is being made
    LIVE = "live"  # connected: alarms arrive as they happen
    DOWN = "down"  # the connection is lost and being retried: the ticker polls meanwhile
    REFUSED = "refused"  # the platform does not allow live updates for this user: polling only


class LiveLink:
    """The live feed of one session, folded into the view models (see the module's description).

    ``inbox`` and ``devices`` give the current view models (they are replaced at each login); ``on_change`` is
    told whenever what is shown changed (an alarm came, the link went up or down); ``feed_options`` go to
    :class:`LiveFeed` (tests shorten its timeouts).
    """

    def __init__(
        self,
        ctx: AppContext,
        inbox: Callable[[], AlarmInbox],
        devices: Callable[[], DeviceList],
        *,
        on_change: Callable[[], None] = lambda: None,
        idle_timeout: float = 60.0,
        max_backoff: float = 30.0,
    ) -> None:
        self.ctx = ctx
        self._inbox = inbox
        self._devices = devices
        self.on_change = on_change
        self.idle_timeout = idle_timeout
        self.max_backoff = max_backoff
        self.feed: LiveFeed | None = None
        self.state = LiveState.OFF
        self.since: dt.datetime | None = None  # when the state began
        self.last_error = ""
        self.events = 0  # alarm events folded in so far
        self._followed: tuple[int, ...] = ()
        self._stopped = False

    @property
    def live(self) -> bool:
        """Whether alarms are pushed now."""
        return self.state is LiveState.LIVE and self.feed is not None and self.feed.connected

    @property
    def polling(self) -> bool:
        """Whether the app has to poll the alarms (the feed is not connected)."""
        return not self.live

    def _set(self, state: LiveState, error: str = "") -> None:
        if state is not self.state:
            self.state, self.since = state, self.ctx.now()
        self.last_error = error
        self.on_change()

    def check(self) -> bool:
        """Notice a connection lost while no event came (call it now and then); True when the state changed."""
        feed = self.feed
        if self.state is LiveState.LIVE and (feed is None or not feed.connected):
            self._set(LiveState.DOWN, feed.last_error if feed is not None else "")
            return True
        return False

    async def follow_open_device(self) -> None:
        """Receive the latest values of the open device's points (none when no device is open)."""
        wanted = tuple(self._devices().followed_points)
        if wanted != self._followed and self.feed is not None:
            self._followed = wanted
            await self.feed.follow(wanted)

    async def run(self) -> None:
        """Follow the feed until :meth:`stop`, the end of the session, or a refusal (then polling only)."""
        self._stopped = False
        self._followed = tuple(self._devices().followed_points)
        self._set(LiveState.CONNECTING)
        feed = LiveFeed(
            self.ctx.api,
            points=self._followed,
            include_pings=True,
            idle_timeout=self.idle_timeout,
            max_backoff=self.max_backoff,
        )
        self.feed = feed
        try:
            async with feed:
                async for event in feed:
                    if self._stopped:
                        break
                    await self._handle(event)
        except asyncio.CancelledError:
            raise
        except ForbiddenError as err:
            self._set(LiveState.REFUSED, str(err))
        except AuthError as err:  # the session is over: the next request of the app says so too
            self._set(LiveState.OFF, str(err))
        except ClientError as err:
            self._set(LiveState.DOWN, str(err))
        finally:
            self.feed = None
            if self._stopped:
                self.state, self.since = LiveState.OFF, None

    async def _handle(self, event: LiveEvent) -> None:
        if event.type == "connected":
            self._set(LiveState.LIVE)
            await self._inbox().refresh()  # what happened while the connection was down
            await self.follow_open_device()
            self.on_change()
            return
        if self.state is not LiveState.LIVE:
            self._set(LiveState.LIVE)
        if event.type == "alarm" and self._inbox().apply(event):
            self.events += 1
            self.on_change()
        elif event.type == "latest" and self._devices().apply(event):
            self.on_change()

    async def stop(self) -> None:
        """End the feed (logout, the page went away)."""
        self._stopped = True
        feed = self.feed
        if feed is not None:
            with contextlib.suppress(Exception):
                await feed.aclose()
        self.state, self.since = LiveState.OFF, None
