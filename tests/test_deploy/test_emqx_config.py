"""The EMQX configuration in deploy/emqx: parsed as HOCON, checked against the app's routes and the broker rules.

EMQX cannot run here, so the tests read ``emqx.conf`` with pyhocon, send the platform the request EMQX would
build from it, and evaluate ``acl.conf`` the way EMQX's file authorizer does against
:func:`cem_registry.broker.is_allowed`.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from litestar import Litestar
from pyhocon import ConfigFactory, ConfigTree

from cem_platform.app import API_PREFIX
from cem_platform.settings import Settings, load_settings
from cem_registry.broker import DEVICE_ID_PATTERN, TOPIC_ROOT, is_allowed
from cem_registry.routes import BrokerController, RegistryController

EMQX_DIR = Path(__file__).resolve().parents[2] / "deploy" / "emqx"
CONF = EMQX_DIR / "emqx.conf"
ACL = EMQX_DIR / "acl.conf"
SECRET_VARIABLE = "CEM_BROKER_AUTHZ_KEY"
PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours"}


def _duration(value: str) -> timedelta:
    """An EMQX duration such as ``30s`` or ``5m``."""
    match = re.fullmatch(r"(\d+)(ms|s|m|h)", value)
    assert match, f"not a duration: {value!r}"
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


@pytest.fixture
def conf(monkeypatch: pytest.MonkeyPatch) -> ConfigTree:
    """emqx.conf as EMQX reads it; the secret variable is unset so an unquoted reference would fail here too."""
    monkeypatch.delenv(SECRET_VARIABLE, raising=False)
    return ConfigFactory.parse_file(str(CONF))


def _authorizer(conf: ConfigTree) -> ConfigTree:
    source: ConfigTree = conf["authorization.sources"][0]
    return source


# --- emqx.conf -----------------------------------------------------------------------------------------------


def test_the_secret_is_the_only_substitution_and_is_quoted() -> None:
    text = CONF.read_text()
    # envsubst '$CEM_BROKER_AUTHZ_KEY' touches exactly one place: the header value, inside quotes
    assert re.findall(r"\$\{?CEM_BROKER_AUTHZ_KEY\b\}?", text) == ["${CEM_BROKER_AUTHZ_KEY}"]
    assert '"X-CEM-Broker-Key" = "${CEM_BROKER_AUTHZ_KEY}"' in text
    # EMQX's HOCON does not read the environment: no unquoted ${...} may remain outside strings and comments
    for line in text.splitlines():
        code = re.split(r"#|//", re.sub(r'"(?:[^"\\]|\\.)*"', '""', line))[0]
        assert "${" not in code, line


def test_ssl_listener_is_mutual_tls_with_crl_check(conf: ConfigTree) -> None:
    listener = conf["listeners.ssl.default"]
    assert listener["enable"] is True
    assert listener["bind"].endswith(":8883")
    assert listener["enable_authn"] is True
    ssl = listener["ssl_options"]
    assert ssl["verify"] == "verify_peer"
    assert ssl["fail_if_no_peer_cert"] is True
    assert ssl["enable_crl_check"] is True
    assert set(ssl["versions"]) == {"tlsv1.2", "tlsv1.3"}
    # the files `cem broker mosquitto-config --dir DIR` writes
    assert Path(ssl["cacertfile"]).name == "ca.pem"
    assert Path(ssl["certfile"]).name == "server.crt"
    assert Path(ssl["keyfile"]).name == "server.key"
    assert len({Path(ssl[key]).parent for key in ("cacertfile", "certfile", "keyfile")}) == 1


def test_no_plain_or_websocket_listener(conf: ConfigTree) -> None:
    listeners = conf["listeners"]
    for kind in ("tcp", "ws", "wss"):
        assert listeners[f"{kind}.default.enable"] is False, kind
    enabled = [
        f"{kind}.{name}"
        for kind, named in listeners.items()
        for name, listener in named.items()
        if listener.get("enable", True) is not False
    ]
    assert enabled == ["ssl.default"]


def test_identity_comes_from_the_certificate_and_mtls_is_the_authentication(conf: ConfigTree) -> None:
    assert conf["mqtt.peer_cert_as_username"] == "cn"
    assert conf["mqtt.peer_cert_as_clientid"] == "cn"
    assert conf["authentication"] == []


def test_crl_cache_is_refreshed_often(conf: ConfigTree) -> None:
    cache = conf["crl_cache"]
    assert timedelta(minutes=1) <= _duration(cache["refresh_interval"]) <= timedelta(minutes=15)
    assert _duration(cache["http_timeout"]) <= timedelta(seconds=30)
    assert cache["capacity"] >= 1


def test_authorization_asks_the_platform_first_and_denies_by_default(conf: ConfigTree) -> None:
    authz = conf["authorization"]
    assert authz["no_match"] == "deny"
    assert authz["deny_action"] == "disconnect"
    assert authz["cache.enable"] is True
    assert authz["cache.max_size"] == 32
    assert _duration(authz["cache.ttl"]) <= timedelta(seconds=60)  # bounds how late a revocation bites

    http = _authorizer(conf)
    assert http["type"] == "http"
    assert http["enable"] is True
    assert http["method"] == "post"
    assert http["url"].endswith("/api/v1/broker/authorize")
    assert http["headers"]["X-CEM-Broker-Key"] == "${CEM_BROKER_AUTHZ_KEY}"
    assert http["headers"]["content-type"] == "application/json"
    body = dict(http["body"])
    assert body["username"] == "${username}"
    assert body["topic"] == "${topic}"
    assert body["action"] == "${action}"

    # the static file cannot know about suspended devices: it is configured, but off (the broker fails closed)
    later = authz["sources"][1:]
    assert [source["type"] for source in later] == ["file"]
    assert later[0]["enable"] is False
    assert later[0]["path"].endswith("/acl.conf")


def test_authorize_url_is_the_apps_route(conf: ConfigTree, app: Litestar) -> None:
    path = urlsplit(_authorizer(conf)["url"]).path
    assert path == API_PREFIX + BrokerController.path + "/authorize"
    assert BrokerController.authorize.paths == {"/authorize"}
    routes = {route.path: route for route in app.routes}
    assert "POST" in routes[path].methods
    # the CRL distribution point the comments and README name
    crl = API_PREFIX + RegistryController.path + "/crl"
    assert crl == "/api/v1/registry/crl"
    assert "GET" in routes[crl].methods
    # the setting the README tells operators to point at it
    public = "https://cem.example" + crl
    assert load_settings({"CEM_PKI_CRL_URL": public}).pki.crl_url == public


def _render(template: Any, values: dict[str, str]) -> Any:
    """What EMQX does with its ${...} placeholders in header values and the body."""
    if isinstance(template, str):
        return PLACEHOLDER.sub(lambda match: values[match[1]], template)
    return {key: _render(value, values) for key, value in template.items()}


async def _ask(client: httpx.AsyncClient, key: str, username: str, action: str, topic: str) -> httpx.Response:
    """The request EMQX builds from the rendered template for one publish or subscribe."""
    rendered = string.Template(CONF.read_text()).safe_substitute({SECRET_VARIABLE: key})  # envsubst, one variable
    source = _authorizer(ConfigFactory.parse_string(rendered))
    values = {"username": username, "clientid": username, "topic": topic, "action": action}
    headers = {name.lower(): value for name, value in _render(dict(source["headers"]), values).items()}
    body = _render(source["body"].as_plain_ordered_dict(), values)
    url = urlsplit(source["url"])
    assert source["method"] == "post"
    return await client.post(url.path, headers=headers, json=body)


async def test_platform_answers_the_request_emqx_builds(client: httpx.AsyncClient, settings: Settings) -> None:
    key = settings.broker.authz_key
    ingest = settings.broker.ingest_identity
    cases = [
        (ingest, "subscribe", f"{TOPIC_ROOT}/+/telemetry", "allow"),
        (f"{ingest}-{settings.broker.ingest_processes}", "subscribe", f"{TOPIC_ROOT}/+/telemetry", "allow"),
        (f"{ingest}-{settings.broker.ingest_processes + 1}", "subscribe", f"{TOPIC_ROOT}/+/telemetry", "deny"),
        (ingest, "subscribe", f"{TOPIC_ROOT}/#", "deny"),
        ("dev-000000000000", "publish", f"{TOPIC_ROOT}/dev-000000000000/telemetry", "deny"),  # not enrolled
    ]
    for username, action, topic, expected in cases:
        response = await _ask(client, key, username, action, topic)
        assert response.status_code == 200, response.text
        assert response.json() == {"result": expected}, (username, action, topic)
    # a wrong key is not a 200: EMQX treats it as "ignore", reaches no_match = deny
    wrong = await _ask(client, key + "-wrong", ingest, "subscribe", f"{TOPIC_ROOT}/+/telemetry")
    assert wrong.status_code == 403


# --- acl.conf -------------------------------------------------------------------------------------------------

_RULE = re.compile(
    r'^\{(?P<permission>allow|deny), (?P<who>all|\{username, (?:"(?P<user>[^"]*)"|\{re, "(?P<regex>[^"]*)"\})\}), '
    r"(?P<action>publish|subscribe|all), \[(?P<topics>.*)\]\}\.$"
)
_SHARED = re.compile(r"^\$share/[^/]+/")


@dataclass(frozen=True)
class Rule:
    """One rule of the ACL file; ``catch_all`` is ``{allow|deny, all}.``."""

    permission: str
    user: str | None = None
    regex: str | None = None
    action: str = "all"
    topics: tuple[str, ...] = ()
    catch_all: bool = False

    def decides(self, username: str, action: str, topic: str) -> bool:
        if self.catch_all:
            return True
        if self.user is not None and username != self.user:
            return False
        if self.regex is not None and not re.search(self.regex, username):
            return False
        if self.action not in ("all", action):
            return False
        return any(_topic_matches(topic, pattern.replace("${username}", username)) for pattern in self.topics)


def _topic_matches(name: str, topic_filter: str) -> bool:
    """emqx_topic:match/2: does the rule's filter cover the published topic or the subscribed filter?"""
    names, filters = name.split("/"), topic_filter.split("/")
    for index, level in enumerate(filters):
        if level == "#":
            return True
        if index >= len(names) or level not in ("+", names[index]):
            return False
    return len(names) == len(filters)


def _rule_lines() -> list[str]:
    return [line for line in ACL.read_text().splitlines() if line.strip() and not line.lstrip().startswith("%")]


def _rules() -> list[Rule]:
    rules = []
    for line in _rule_lines():
        if line in ("{deny, all}.", "{allow, all}."):
            rules.append(Rule(permission=line[1:].split(",")[0], catch_all=True))
            continue
        match = _RULE.match(line)
        assert match, f"unparsed rule: {line}"
        rules.append(
            Rule(
                permission=match["permission"],
                user=match["user"],
                regex=match["regex"],
                action=match["action"],
                topics=tuple(re.findall(r'"([^"]*)"', match["topics"])),
                catch_all=match["who"] == "all" and not match["topics"],
            )
        )
    return rules


def _file_allows(rules: list[Rule], username: str, action: str, topic: str) -> bool:
    topic = _SHARED.sub("", topic)  # EMQX authorizes the real topic of a shared subscription
    for rule in rules:
        if rule.decides(username, action, topic):
            return rule.permission == "allow"
    return False  # authorization.no_match = deny


def test_acl_file_is_well_formed_and_ends_in_deny_all() -> None:
    lines = _rule_lines()
    assert lines, "no rules"
    assert all(line.endswith("}.") for line in lines)
    assert lines[-1] == "{deny, all}."
    rules = _rules()
    assert sum(rule.catch_all for rule in rules) == 1
    assert all(topic.startswith(f"{TOPIC_ROOT}/") for rule in rules for topic in rule.topics)
    assert not any("%u" in line or "%c" in line for line in lines)  # EMQX 4 placeholder syntax


def test_acl_identities_match_the_settings_and_the_device_pattern() -> None:
    rules = _rules()
    assert {rule.user for rule in rules if rule.user is not None} == set()
    broker = load_settings({}).broker
    ingest_pattern = f"^{broker.ingest_identity}(-[0-9]+)?$"
    assert {rule.regex for rule in rules if rule.regex is not None} == {DEVICE_ID_PATTERN.pattern, ingest_pattern}
    # every ingest identity the platform accepts matches the file's expression, and no device id does
    assert all(re.search(ingest_pattern, identity) for identity in broker.ingest_identities)
    assert not re.search(ingest_pattern, "dev-aaaaaaaaaaaa")
    own = [rule for rule in rules if rule.regex == DEVICE_ID_PATTERN.pattern]
    assert all("${username}" in topic for rule in own for topic in rule.topics)


def test_acl_file_decides_like_the_platform_for_admitted_devices() -> None:
    rules = _rules()
    ingest = load_settings({}).broker.ingest_identities
    device_a, device_b = "dev-aaaaaaaaaaaa", "dev-bbbbbbbbbbbb"
    identities = [device_a, device_b, ingest[0], ingest[1], ingest[-1], "intruder", "dev-short"]
    # device segments are device ids or "+": the file cannot check that a segment is a device id, so for
    # other segments (no device can publish or subscribe there) it is looser than the platform
    topics = [
        f"{TOPIC_ROOT}/{who}/{channel}"
        for who in (device_a, device_b, "+")
        for channel in ("telemetry", "status", "cmd", "other")
    ]
    topics += [
        f"{TOPIC_ROOT}/#",
        "#",
        f"{TOPIC_ROOT}/{device_a}/#",
        f"{TOPIC_ROOT}/{device_a}/telemetry/extra",
        f"$share/ingest/{TOPIC_ROOT}/+/telemetry",
        f"$share/ingest/{TOPIC_ROOT}/+/status",
        f"$share/g/{TOPIC_ROOT}/{device_a}/cmd",
        "other/topic",
    ]
    checked = 0
    for identity in identities:
        for action in ("publish", "subscribe"):
            for topic in topics:
                if action == "publish" and ("+" in topic or "#" in topic or topic.startswith("$share/")):
                    continue  # not a valid topic name: EMQX refuses the PUBLISH before authorization
                # EMQX asks both sources about a shared subscription's real topic (without $share/<group>/)
                real = _SHARED.sub("", topic)
                expected = is_allowed(identity, action, real, ingest_identities=ingest, device_admitted=True)
                assert _file_allows(rules, identity, action, topic) == expected, (identity, action, topic)
                checked += 1
    assert checked > 100
