"""How numbers, quantities and times read on admin pages, in one place so every page agrees."""

from __future__ import annotations

from datetime import datetime

from okr_core.progress import Health
from okr_core.roles import Role

HEALTH_LABELS = {
    Health.on_track: "On track",
    Health.at_risk: "At risk",
    Health.off_track: "Off track",
    Health.done: "Done",
}
ROLE_LABELS = {
    Role.viewer: "Viewer",
    Role.okr_editor: "OKR editor",
    Role.tenant_admin: "Tenant admin",
    Role.platform_operator: "Platform operator",
}
# Units written straight after the number ("55%") rather than after a space ("5,600 kEUR").
_TIGHT_UNITS = frozenset({"%", "‰"})


def number(value: float) -> str:
    """Thousands separators, and decimals only when the value has them: 5,600 / 97.1 / 3.25."""
    if _is_whole(value):
        return f"{round(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def quantity(value: float, unit: str) -> str:
    """A value with its unit, e.g. ``55%`` or ``5,600 kEUR``."""
    if not unit:
        return number(value)
    separator = "" if unit in _TIGHT_UNITS else " "
    return f"{number(value)}{separator}{unit}"


def when(moment: datetime | None) -> str:
    """A UTC timestamp as people read it: ``12 Aug 2026, 09:30 UTC``."""
    if moment is None:
        return "—"
    return f"{moment:%-d %b %Y, %H:%M} UTC"


def day(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return f"{moment:%-d %b %Y}"


def initials(name: str) -> str:
    """Up to two initials for an avatar: ``Ada Okafor`` → ``AO``."""
    parts = [p for p in name.replace(".", " ").split() if p]
    if not parts:
        return "?"
    if len(parts) == 1:
        return parts[0][:2].upper()
    return (parts[0][0] + parts[-1][0]).upper()


def health_label(health: Health | str) -> str:
    return HEALTH_LABELS.get(Health(health), str(health))


def role_label(role: Role | str) -> str:
    return ROLE_LABELS.get(Role(role), str(role))


def sentence(text: str) -> str:
    """Domain messages start lower-case for logs; on a page they read as a sentence."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _is_whole(value: float) -> bool:
    return abs(value - round(value)) < 1e-9


FILTERS = {
    "number": number,
    "when": when,
    "day": day,
    "initials": initials,
    "health_label": health_label,
    "role_label": role_label,
    "sentence": sentence,
}
