"""Formatting of agreement figures, where ``None`` means "undefined" and shows as a dash."""

from __future__ import annotations

from django import template

register = template.Library()

UNDEFINED = "—"


@register.filter
def figure(value: float | None, digits: int = 2) -> str:
    """0.4231 -> "0.42"; None -> "—"."""
    if value is None or value == "":
        return UNDEFINED
    return f"{float(value):.{int(digits)}f}"


@register.filter
def percent(value: float | None) -> str:
    """0.875 -> "88%"; None -> "—"."""
    if value is None or value == "":
        return UNDEFINED
    return f"{100 * float(value):.0f}%"


@register.filter
def seconds(milliseconds: int | None) -> str:
    """4180 -> "4.2 s"; None -> "—"."""
    if milliseconds is None:
        return UNDEFINED
    return f"{milliseconds / 1000:.1f} s"
