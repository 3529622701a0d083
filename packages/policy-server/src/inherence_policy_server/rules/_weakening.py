"""What a change of the rules config gives up: the settings that make the gate let more through.

A rule switched off or softened, an allow-list or a trusted list grown, a limit raised, a check
turned off. The server writes each to the admin log when new rules come into force, and the
proxy's `status` shows them as warnings, so a weakening never goes unnoticed, whoever made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from inherence_policy_server.rules._config import RulesConfig
from inherence_policy_server.rules._packs import PACK_NAMES

__all__ = ["weakenings"]

# How much a mode stops; lower is weaker.
_STRENGTH = {"off": 0, "log": 1, "confirm": 2, "enforce": 3}
# Lists that narrow what is allowed when they grow; every other list widens it.
_NARROWING_LISTS = frozenset({"extra_exfiltration_hosts", "protected_paths"})
# Numbers that allow more when they grow (limits and thresholds).
_LIMIT_SUFFIXES = ("_limit_cents", "_count_limit", "_threshold", "_seconds")


def weakenings(old: RulesConfig, new: RulesConfig) -> list[str]:
    """One sentence for each setting of `new` that lets more through than `old` did."""
    found: list[str] = []
    for section in type(new).model_fields:
        before, after = getattr(old, section), getattr(new, section)
        if section == "packs":
            found.extend(_pack_weakenings(old, new))
        elif isinstance(before, BaseModel) and isinstance(after, BaseModel):
            found.extend(_section_weakenings(section, before, after))
    return found


def _pack_weakenings(old: RulesConfig, new: RulesConfig) -> list[str]:
    # A shipped entry disabled, or an added entry taken away, lets through what it stopped.
    found: list[str] = []
    for name in PACK_NAMES:
        before, after = getattr(old.packs, name), getattr(new.packs, name)
        disabled = [entry_id for entry_id in after.disable if entry_id not in before.disable]
        if disabled:
            found.append(f"packs.{name}.disable now also holds {', '.join(disabled[:5])}")
        kept = {entry.id: entry for entry in after.entries}
        removed = [entry.id for entry in before.entries if kept.get(entry.id) != entry]
        if removed:
            found.append(f"packs.{name}.entries no longer hold {', '.join(removed[:5])} as before")
    return found


def _section_weakenings(section: str, before: BaseModel, after: BaseModel) -> list[str]:
    found: list[str] = []
    for name, field in type(after).model_fields.items():
        if field.exclude:
            continue
        old, new = getattr(before, name, None), getattr(after, name)
        where = f"{section}.{name}"
        if isinstance(new, Mapping) and isinstance(old, Mapping):
            found.extend(_mode_weakenings(f"{where}.{key}", old.get(key), value) for key, value in new.items())
            found.extend(f"{where}.{key} removed (was {_shown(value)})" for key, value in old.items() if key not in new)
        elif name == "mode" or (_mode_value(new) is not None and _mode_value(old) is not None):
            found.append(_mode_weakenings(where, old, new))
        elif isinstance(new, tuple) and isinstance(old, tuple):
            if name in _NARROWING_LISTS:
                removed = [item for item in old if item not in new]
                if removed:
                    found.append(f"{where} no longer holds {', '.join(map(str, removed[:5]))}")
            else:
                added = [item for item in new if item not in old]
                if added:
                    found.append(f"{where} now also allows {', '.join(map(str, added[:5]))}")
        elif isinstance(new, bool) and isinstance(old, bool):
            if old and not new:
                found.append(f"{where} turned off")
        elif isinstance(new, int) and isinstance(old, int) and name.endswith(_LIMIT_SUFFIXES) and new > old:
            found.append(f"{where} raised from {old} to {new}")
    return [sentence for sentence in found if sentence]


def _mode_value(value: Any) -> str | None:
    text = getattr(value, "value", value)
    return text if isinstance(text, str) and text in _STRENGTH else None


def _mode_weakenings(where: str, old: Any, new: Any) -> str:
    before, after = _mode_value(old), _mode_value(new)
    if after is None or (before is not None and _STRENGTH[after] >= _STRENGTH[before]):
        return ""
    return f"{where} is now {after} (was {before or 'its default'})"


def _shown(value: Any) -> str:
    return str(getattr(value, "value", value))
