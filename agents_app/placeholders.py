"""The {{placeholders}} a prompt or greeting may use, and how they are filled in at call time.

Pure Python on purpose: agents_app validates prompts with it at save time, the worker renders
with it at call time, and both must agree on the vocabulary.
"""

from __future__ import annotations

import re

STANDARD_PLACEHOLDERS = (
    "caller_number",
    "callee_number",
    "agent_name",
    "company_name",
    "current_date",
    "current_time",
    "first_name",
    "last_name",
    "full_name",
    "email",
    "company",
)
CONTACT_PREFIX = "contact."
CONTACT_KEY = re.compile(r"[a-z0-9_]+")

# "{{ first_name }}" and "{{first_name}}" are the same placeholder; nothing inside may be a brace.
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")


def find_placeholders(text: str) -> set[str]:
    """The names of every {{placeholder}} in text, whitespace inside the braces ignored."""
    return set(_PLACEHOLDER.findall(text or ""))


def is_allowed(name: str) -> bool:
    if name in STANDARD_PLACEHOLDERS:
        return True
    return name.startswith(CONTACT_PREFIX) and CONTACT_KEY.fullmatch(name[len(CONTACT_PREFIX) :]) is not None


def unknown_placeholders(text: str) -> set[str]:
    """The placeholders in text that a call could never fill in."""
    return {name for name in find_placeholders(text) if not is_allowed(name)}


def allowed_placeholders_text() -> str:
    """The vocabulary as users write it, for error messages and help texts."""
    return ", ".join(f"{{{{{name}}}}}" for name in (*STANDARD_PLACEHOLDERS, "contact.<key>"))


def render(text: str, values: dict[str, str]) -> str:
    """Replace every placeholder by its value; a missing value becomes "" (callers never hear braces)."""
    return _PLACEHOLDER.sub(lambda match: str(values.get(match.group(1)) or ""), text or "")
