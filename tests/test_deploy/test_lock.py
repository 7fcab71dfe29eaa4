"""requirements.lock: every dependency pinned with hashes, inside pyproject.toml's ranges, and what is installed."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*(.+?))?\s*\\?$")


def _lock() -> dict[str, tuple[Version, list[str], str | None]]:
    """The lock's pins: name -> (version, hashes, marker)."""
    pins: dict[str, tuple[Version, list[str], str | None]] = {}
    current: str | None = None
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            assert current not in pins, f"{current} pinned twice"
            pins[current] = (Version(match.group(2)), [], match.group(3))
        elif line.strip().startswith("--hash=sha256:") and current is not None:
            pins[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(text) for text in [*project["dependencies"], *project["optional-dependencies"]["dev"]]]


def test_every_pin_has_hashes() -> None:
    pins = _lock()
    assert len(pins) > 50
    for name, (_, hashes, _) in pins.items():
        assert hashes, f"{name} has no hash"
        assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for digest in hashes), name


def test_lock_satisfies_pyproject() -> None:
    """A change to pyproject.toml's ranges without `make lock` fails here, not on a fresh machine."""
    pins = _lock()
    environment = default_environment()
    for requirement in _requirements():
        if requirement.marker is not None and not requirement.marker.evaluate(environment):
            continue
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.lock: run `make lock`"
        version = pins[name][0]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"requirements.lock has {name}=={version}, outside pyproject.toml's {requirement.specifier}: "
            "run `make lock`"
        )


def test_installed_set_is_the_lock() -> None:
    """The suite runs on exactly the locked versions (make install installs from the lock with --no-deps)."""
    environment = default_environment()
    for name, (version, _, marker) in _lock().items():
        parsed = Requirement(f"x; {marker}").marker if marker else None
        if parsed is not None and not parsed.evaluate(environment):
            continue
        installed = Version(metadata.version(name))
        assert installed == version, f"{name}: {installed} installed, {version} locked"
