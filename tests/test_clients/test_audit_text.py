"""The audit log says what was done, and to what, in the reader's language."""

from __future__ import annotations

import re
from pathlib import Path

from cem_clients.console.audit_text import action_label, entity_label
from cem_clients.ui.i18n import Locale, Translator

ROOT = Path(__file__).resolve().parents[2]
ZH, EN = Translator(Locale.ZH_CN), Translator(Locale.EN)


def _recorded_actions() -> set[str]:
    """Every literal action code the platform and registry write to the audit log."""
    found: set[str] = set()
    for path in [*(ROOT / "platform").rglob("*.py"), *(ROOT / "device_registry").rglob("*.py")]:
        source = path.read_text()
        for call in re.finditer(r"audit\.record\(\s*[^,]+,\s*(f?)\"([a-z_.{}]+)\"", source):
            if not call.group(1):
                found.add(call.group(2))
    return found


def test_every_recorded_action_has_words_in_both_languages() -> None:
    actions = _recorded_actions()
    assert {"auth.login", "users.create", "accounting.source.create", "control.refused"} <= actions
    for action in sorted(actions):
        for tr in (ZH, EN):
            assert action_label(action, tr) != action, f"{action} has no {tr.locale.value} label"


def test_composed_actions_and_objects() -> None:
    assert action_label("org.site.update", ZH) == "修改厂区" and action_label("org.point.create", EN) == (
        "Measurement point created"
    )
    for suffix in ("suspend", "resume", "revoke", "retire"):  # registry.device.{action}
        assert action_label(f"registry.device.{suffix}", ZH) != f"registry.device.{suffix}"
    assert action_label("system.parameter.comm.update", ZH) == "修改系统参数"
    assert entity_label("emission_source", ZH) == "排放源" and entity_label("user", EN) == "User"
    assert action_label("something.new", ZH) == "something.new"  # unknown: shown as it is, never hidden
