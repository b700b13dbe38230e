"""Filters for the server-rendered SVG charts (the analytics page, a campaign's pace chart)."""

from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def svg_number(value: float) -> str:
    """A coordinate with one decimal, as SVG reads it (no locale, no thousands separator). What
    `floatformat:"1u"` gives, without its Decimal arithmetic: a chart has thousands of coordinates."""
    return f"{float(value):.1f}"
