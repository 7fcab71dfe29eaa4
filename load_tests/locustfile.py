"""Load test of the CEM read API: one simulated user class per role, loopback targets only."""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import random
from typing import Any
from urllib.parse import urlsplit

import gevent
from locust import HttpUser, between, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import WorkerRunner

DEFAULT_HOST = "http://127.0.0.1:8011"
API = "/api/v1"
# The demo accounts seeded by `cem demo`; override for a database seeded with other passwords.
PASSWORD = os.environ.get("CEM_LOAD_PASSWORD", "cem-demo-2026!")
# The standard asks for query responses within 5 s; the run fails above this 95th percentile or failure ratio.
MAX_P95_MS = 5000
MAX_FAIL_RATIO = 0.01
# Refresh the access token this long before it expires, so long runs never see a 401.
REFRESH_MARGIN = dt.timedelta(seconds=60)

logger = logging.getLogger("cem.load")


def loopback_problem(host: str | None) -> str | None:
    """Why ``host`` is not an allowed loopback target, or None when it is."""
    if not host:
        return "no host given"
    parts = urlsplit(host)
    if parts.scheme not in {"http", "https"}:
        return f"scheme {parts.scheme!r} is not http or https"
    name = parts.hostname or ""
    if name == "localhost" or name.endswith(".localhost"):
        return None
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return f"{name!r} is neither 'localhost' nor a loopback IP address (names are not resolved)"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return None if address.is_loopback else f"{address} is not a loopback address"


def _effective_host(environment: Environment) -> str:
    """The host the users will hit: --host (or the web form) when given, else the default."""
    return environment.host or DEFAULT_HOST


def _log_refusal(host: str, problem: str) -> None:
    """Explain why the target is refused."""
    logger.error(
        "Refusing to load-test %s: %s. Only loopback targets are allowed "
        "(http://127.0.0.1:<port>, http://[::1]:<port> or http://localhost:<port>).",
        host,
        problem,
    )


@events.init.add_listener
def refuse_remote_host(environment: Environment, **_kwargs: Any) -> None:
    """Stop at start-up when --host is not a loopback address."""
    host = _effective_host(environment)
    problem = loopback_problem(host)
    if problem is not None:
        _log_refusal(host, problem)
        raise SystemExit(2)


@events.test_start.add_listener
def refuse_remote_host_at_start(environment: Environment, **_kwargs: Any) -> None:
    """Stop a run whose host (e.g. typed into the web UI) is not a loopback address."""
    host = _effective_host(environment)
    problem = loopback_problem(host)
    if problem is not None:
        _log_refusal(host, problem)
        environment.process_exit_code = 2
        if environment.runner is not None:
            gevent.spawn(environment.runner.stop)


@events.quitting.add_listener
def check_thresholds(environment: Environment, **_kwargs: Any) -> None:
    """Exit with code 1 when the 95th percentile exceeds 5 s or more than 1 % of requests failed."""
    if isinstance(environment.runner, WorkerRunner) or environment.process_exit_code is not None:
        return
    total = environment.stats.total
    if total.num_requests == 0:
        logger.error("No request was made.")
        environment.process_exit_code = 1
        return
    p95 = total.get_response_time_percentile(0.95)
    problems = []
    if p95 > MAX_P95_MS:
        problems.append(f"95th percentile {p95} ms > {MAX_P95_MS} ms")
    if total.fail_ratio > MAX_FAIL_RATIO:
        problems.append(f"failure ratio {total.fail_ratio:.2%} > {MAX_FAIL_RATIO:.0%}")
    if problems:
        logger.error("Load test failed: %s.", "; ".join(problems))
        environment.process_exit_code = 1
    else:
        logger.info("Load test passed: 95th percentile %d ms, failure ratio %.2f%%.", p95, total.fail_ratio * 100)


class CemUser(HttpUser):
    """A logged-in user of one role; subclasses name the account and weight the pages it reads."""

    abstract = True
    host = DEFAULT_HOST
    username = ""

    def on_start(self) -> None:
        """Refuse a non-loopback host, then log in with the role's own account."""
        problem = loopback_problem(self.host)
        if problem is not None:
            _log_refusal(self.host or "", problem)
            raise StopUser()
        self.point_ids: list[int] = []
        self.access_expires_at = dt.datetime.min.replace(tzinfo=dt.UTC)
        self.login()

    def login(self) -> None:
        """Get a token pair for ``username``; stop this user (not the account's lockout counter) on failure."""
        self.client.headers.pop("Authorization", None)
        body = {"username": self.username, "password": PASSWORD}
        with self.client.post(
            f"{API}/auth/login", json=body, name=f"{API}/auth/login", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"login of {self.username} answered {response.status_code}: {response.text[:200]}")
                raise StopUser()
            self._use_tokens(response.json())

    def refresh(self) -> None:
        """Exchange the refresh token for a new pair, or log in again if that fails."""
        body = {"refresh_token": self.refresh_token}
        with self.client.post(
            f"{API}/auth/refresh", json=body, name=f"{API}/auth/refresh", catch_response=True
        ) as response:
            if response.status_code == 200:
                self._use_tokens(response.json())
                return
            response.failure(f"refresh answered {response.status_code}")
        self.login()

    def _use_tokens(self, pair: dict[str, Any]) -> None:
        """Send the new access token from now on."""
        self.client.headers["Authorization"] = f"Bearer {pair['access_token']}"
        self.refresh_token: str = pair["refresh_token"]
        self.access_expires_at = dt.datetime.fromisoformat(pair["access_expires_at"])

    def get_json(self, path: str, name: str) -> Any:
        """GET ``API + path`` grouped as ``API + name``; an answer other than 200 with JSON is a failure."""
        if dt.datetime.now(dt.UTC) >= self.access_expires_at - REFRESH_MARGIN:
            self.refresh()
        with self.client.get(f"{API}{path}", name=f"{API}{name}", catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"{response.status_code}: {response.text[:200]}")
                return None
            try:
                return response.json()
            except ValueError:
                response.failure("answer is not JSON")
                return None

    def list_points(self) -> None:
        """List the measurement points and remember their ids for the detail pages."""
        points = self.get_json("/org/points?limit=500", "/org/points?limit=500")
        if isinstance(points, list):
            self.point_ids = [p["id"] for p in points]

    def point_detail(self) -> None:
        """Open one measurement point at random (listing them first if none are known yet)."""
        if not self.point_ids:
            self.list_points()
        if self.point_ids:
            self.get_json(f"/org/points/{random.choice(self.point_ids)}", "/org/points/{id}")

    def scope(self) -> tuple[int, list[int]] | None:
        """The first enterprise the user sees and its processes (read once)."""
        if not getattr(self, "enterprise", None):
            enterprises = self.get_json("/org/enterprises", "/org/enterprises")
            if not enterprises:
                return None
            enterprise = int(enterprises[0]["id"])
            processes = self.get_json(f"/org/processes?enterprise_id={enterprise}", "/org/processes?enterprise_id=")
            self.enterprise: tuple[int, list[int]] | None = (enterprise, [int(p["id"]) for p in processes or []])
        return self.enterprise

    def emissions(self, period: str, span: str, *, process: bool = False) -> Any:
        """``/emissions`` of the enterprise (or one of its processes) by ``period`` over ``span``: the running
        ``day``, ``month``, ``year`` or the last ``five years``, as the wallboard and the console ask for them."""
        scope = self.scope()
        if scope is None:
            return None
        enterprise, processes = scope
        today = dt.datetime.now(dt.UTC).date()
        first = {
            "day": today,
            "month": today.replace(day=1),
            "year": today.replace(month=1, day=1),
            "five years": today.replace(year=today.year - 4, month=1, day=1),
        }[span]
        end = today + dt.timedelta(days=1)
        if process and not processes:
            return None
        target = f"scope=process&id={random.choice(processes)}" if process else f"scope=enterprise&id={enterprise}"
        query = f"{target}&period={period}&from={first.isoformat()}&to={end.isoformat()}"
        name = f"/emissions?scope={'process' if process else 'enterprise'}&period={period} ({span})"
        return self.get_json(f"/emissions?{query}", name)

    def statistics(self, period: str, span: str, *, dimension: str = "group", compare: str = "") -> Any:
        """``/statistics`` of the enterprise by ``period`` over the running ``span``, as the wallboard and the
        console's statistics section ask for them."""
        scope = self.scope()
        if scope is None:
            return None
        today = dt.datetime.now(dt.UTC).date()
        first = {"month": today.replace(day=1), "year": today.replace(month=1, day=1)}[span]
        end = today + dt.timedelta(days=1)
        query = (
            f"scope=enterprise&id={scope[0]}&period={period}&from={first.isoformat()}&to={end.isoformat()}"
            f"&dimension={dimension}" + (f"&compare={compare}" if compare else "")
        )
        name = f"/statistics?period={period}&dimension={dimension}" + (f"&compare={compare}" if compare else "")
        return self.get_json(f"/statistics?{query}", f"{name} ({span})")


class ExecutiveUser(CemUser):
    """Management: mostly the enterprise, site and process overview."""

    weight = 1
    wait_time = between(1, 3)
    username = "demo-executive"

    @task(4)
    def enterprises(self) -> None:
        """List the enterprises."""
        self.get_json("/org/enterprises", "/org/enterprises")

    @task(4)
    def sites(self) -> None:
        """List the sites."""
        self.get_json("/org/sites", "/org/sites")

    @task(2)
    def processes(self) -> None:
        """List the processes."""
        self.get_json("/org/processes", "/org/processes")

    @task(2)
    def facilities(self) -> None:
        """List the facilities."""
        self.get_json("/org/facilities", "/org/facilities")

    @task(1)
    def points(self) -> None:
        """List the measurement points."""
        self.list_points()

    @task(1)
    def me(self) -> None:
        """Who am I."""
        self.get_json("/auth/me", "/auth/me")

    # the wallboard's figures: today by hour, this month by day, this year by month and by day, a process's month
    @task(3)
    def emissions_today(self) -> None:
        """Today's emissions by hour."""
        self.emissions("hour", "day")

    @task(3)
    def emissions_month(self) -> None:
        """This month's emissions by day."""
        self.emissions("day", "month")

    @task(2)
    def emissions_year(self) -> None:
        """This year's emissions by month."""
        self.emissions("month", "year")

    @task(2)
    def emissions_process(self) -> None:
        """One process's emissions this month by day."""
        self.emissions("day", "month", process=True)

    @task(1)
    def emissions_year_by_day(self) -> None:
        """This year's emissions by day (the trend)."""
        self.emissions("day", "year")

    @task(1)
    def emissions_weeks(self) -> None:
        """This year's emissions by week."""
        self.emissions("week", "year")

    @task(1)
    def emissions_years(self) -> None:
        """The last five years, one figure each."""
        self.emissions("year", "five years")

    @task(1)
    def emissions_process_year(self) -> None:
        """One process's emissions this year by month."""
        self.emissions("month", "year", process=True)

    @task(2)
    def statistics_year(self) -> None:
        """This year by month per process, with year-on-year and period-on-period (the wallboard's question)."""
        self.statistics("month", "year", dimension="process", compare="yoy,pop")

    @task(1)
    def statistics_days(self) -> None:
        """This year by day with its structure by term and year-on-year (the statistics section's trend)."""
        self.statistics("day", "year", compare="yoy")


class CrewUser(CemUser):
    """Plant crew: facilities and measurement points, opened one by one."""

    weight = 3
    wait_time = between(0.5, 2)
    username = "demo-crew"

    @task(6)
    def point(self) -> None:
        """Open one measurement point."""
        self.point_detail()

    @task(3)
    def points(self) -> None:
        """List the measurement points."""
        self.list_points()

    @task(3)
    def facilities(self) -> None:
        """List the facilities."""
        self.get_json("/org/facilities", "/org/facilities")

    @task(2)
    def processes(self) -> None:
        """List the processes."""
        self.get_json("/org/processes", "/org/processes")

    @task(1)
    def process_types(self) -> None:
        """List the process types dictionary."""
        self.get_json("/org/process-types", "/org/process-types")

    @task(1)
    def me(self) -> None:
        """Who am I."""
        self.get_json("/auth/me", "/auth/me")


class AuditorUser(CemUser):
    """Auditor: the audit log and system parameters, with some organisation reads."""

    weight = 1
    wait_time = between(1, 4)
    username = "demo-auditor"

    @task(5)
    def audit(self) -> None:
        """Read the latest page of the audit log."""
        self.get_json("/audit?limit=50", "/audit?limit=50")

    @task(2)
    def parameters(self) -> None:
        """List the system parameters."""
        self.get_json("/system/parameters", "/system/parameters")

    @task(1)
    def enterprises(self) -> None:
        """List the enterprises."""
        self.get_json("/org/enterprises", "/org/enterprises")

    @task(1)
    def points(self) -> None:
        """List the measurement points."""
        self.list_points()

    @task(1)
    def point(self) -> None:
        """Open one measurement point."""
        self.point_detail()

    @task(1)
    def me(self) -> None:
        """Who am I."""
        self.get_json("/auth/me", "/auth/me")

    @task(2)
    def emissions_and_lineage(self) -> None:
        """This year's emissions by month, then the lineage of one month (what an auditor checks)."""
        page = self.emissions("month", "year")
        results = [r for r in (page or {}).get("results", []) if r.get("result_id")]
        if results:
            self.get_json(f"/emissions/{random.choice(results)['result_id']}/lineage", "/emissions/{id}/lineage")

    @task(1)
    def sources_of_a_month(self) -> None:
        """Last month's emissions per source, and the reporting state of last year."""
        scope = self.scope()
        if scope is None:
            return
        today = dt.datetime.now(dt.UTC).date()
        month = (today.replace(day=1) - dt.timedelta(days=1)).strftime("%Y-%m")
        query = f"enterprise_id={scope[0]}&period=month&from={month}"
        self.get_json(f"/accounting/reporting/sources?{query}", "/accounting/reporting/sources (month)")
        self.get_json(f"/accounting/reporting?enterprise_id={scope[0]}&year={today.year - 1}", "/accounting/reporting")
