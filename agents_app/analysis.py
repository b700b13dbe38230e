"""Post-call analysis settings of an agent: the structured-data schema's rules and what an answer must be.

The tenant describes the data to extract from each call as a small subset of JSON Schema: an object
whose fields are strings, numbers, integers, booleans (strings and numbers may be an `enum`) or
arrays of those, each with a description the model reads. One rule (analysis_schema_problems) is
run by the model's clean(), so the portal form, the API and the admin report the same messages.
The voice worker's analysis task (worker/analysis.py) asks for answers of the shape
analysis_answer_schema() describes and checks them with analysis_answer_problems().
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema

SCHEMA_MAX_CHARS = 20_000
MAX_FIELDS = 50
FIELD_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
SCALAR_TYPES = ("string", "number", "integer", "boolean")
FIELD_TYPES = (*SCALAR_TYPES, "array")
DEFAULT_SUMMARY_PROMPT = (
    "Summarise the conversation in two to four sentences: who the caller was, what they wanted, "
    "and what was agreed or done."
)
SCHEMA_EXAMPLE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "customer_name": {"type": "string", "description": "The caller's full name, if they gave it."},
        "intent": {
            "type": "string",
            "enum": ["booking", "question", "complaint", "other"],
            "description": "Why the caller called.",
        },
        "party_size": {"type": "integer", "description": "How many people the booking is for."},
        "wants_callback": {"type": "boolean", "description": "Whether the caller asked to be called back."},
        "topics": {"type": "array", "items": {"type": "string"}, "description": "Subjects the caller raised."},
    },
    "required": ["intent"],
}

_ENUM = {"type": "array", "minItems": 1, "maxItems": 50, "uniqueItems": True}
# The subset, itself as a JSON Schema: what the tenant may write (checked with jsonschema).
SCHEMA_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["type", "properties"],
    "additionalProperties": False,
    "properties": {
        "type": {"const": "object"},
        "description": {"type": "string", "maxLength": 1000},
        "properties": {
            "type": "object",
            "minProperties": 1,
            "maxProperties": MAX_FIELDS,
            "propertyNames": {"pattern": FIELD_NAME_PATTERN},
            "additionalProperties": {"$ref": "#/$defs/field"},
        },
        "required": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
        "additionalProperties": {"const": False},
    },
    "$defs": {
        "field": {
            "type": "object",
            "required": ["type", "description"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": list(FIELD_TYPES)},
                "description": {"type": "string", "minLength": 1, "maxLength": 500},
                "enum": {**_ENUM, "items": {"type": ["string", "number"], "maxLength": 200}},
                "items": {"$ref": "#/$defs/item"},
            },
        },
        "item": {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {
                "type": {"enum": list(SCALAR_TYPES)},
                "description": {"type": "string", "maxLength": 500},
                "enum": {**_ENUM, "items": {"type": ["string", "number"], "maxLength": 200}},
            },
        },
    },
}
_SUBSET_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA_SUBSET)


def _where(path: Any) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)


def _subset_message(error: jsonschema.ValidationError) -> str:
    where = _where(error.absolute_path) or " (the whole schema)"
    if "propertyNames" in error.schema_path:
        return f"schema{where}: {error.instance!r} is not a field name; use letters, digits and _ (at most 64)."
    if error.validator == "enum" and error.absolute_path and error.absolute_path[-1] == "type":
        allowed = ", ".join(FIELD_TYPES if len(error.absolute_path) == 3 else SCALAR_TYPES)
        return f"schema{where}: {error.instance!r} is not a field type here; use one of {allowed}."
    return f"schema{where}: {error.message}."


def _enum_problems(where: str, spec: dict[str, Any]) -> list[str]:
    kind, values = spec.get("type"), spec.get("enum")
    if not isinstance(values, list):
        return []
    if kind == "string" and not all(isinstance(v, str) for v in values):
        return [f"schema{where}.enum: a string field's choices must all be strings."]
    if kind in ("number", "integer") and not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    ):
        return [f"schema{where}.enum: a {kind} field's choices must all be numbers."]
    if kind == "integer" and not all(float(v).is_integer() for v in values):
        return [f"schema{where}.enum: an integer field's choices must all be whole numbers."]
    if kind == "boolean":
        return [f"schema{where}.enum: a boolean field takes no choices (it is true or false)."]
    return []


def _field_problems(name: str, spec: dict[str, Any]) -> list[str]:
    """The checks the subset's JSON Schema cannot say plainly: items only on arrays, enum types."""
    where = f".properties.{name}"
    problems: list[str] = []
    if spec.get("type") == "array" and "items" not in spec:
        problems.append(f'schema{where}: an array field needs items, e.g. {{"type": "string"}}.')
    if spec.get("type") != "array" and "items" in spec:
        problems.append(f"schema{where}.items: only an array field has items.")
    if spec.get("type") == "array" and "enum" in spec:
        problems.append(f"schema{where}.enum: put an array's choices on its items.")
    problems += _enum_problems(where, spec)
    if isinstance(spec.get("items"), dict):
        problems += _enum_problems(f"{where}.items", spec["items"])
    return problems


def analysis_schema_problems(schema: Any) -> list[str]:
    """What is wrong with a structured-data schema, one message per problem ([] for a good one or {})."""
    if schema in (None, {}):
        return []
    if not isinstance(schema, dict):
        return ['schema: write a JSON object, e.g. {"type": "object", "properties": {...}}.']
    if len(json.dumps(schema)) > SCHEMA_MAX_CHARS:
        return [f"schema: keep the schema under {SCHEMA_MAX_CHARS:,} characters of JSON."]
    errors = sorted(_SUBSET_VALIDATOR.iter_errors(schema), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [_subset_message(error) for error in errors[:10]]
    fields = schema.get("properties") if isinstance(schema.get("properties"), dict) else {}
    for name, spec in fields.items():
        if isinstance(spec, dict):
            problems += _field_problems(str(name), spec)
    required = schema.get("required")
    if isinstance(required, list):
        missing = [name for name in required if isinstance(name, str) and name not in fields]
        if missing:
            problems.append(f"schema.required: {', '.join(map(repr, missing))} not among the fields.")
    return list(dict.fromkeys(problems))


# --------------------------------------------------------------------------------------------
# The answer the analysis asks the model for
# --------------------------------------------------------------------------------------------


def analysis_answer_schema(*, schema: dict[str, Any], with_success: bool) -> dict[str, Any]:
    """The JSON Schema of the model's whole answer: summary, extracted (the tenant's schema), success."""
    extracted: dict[str, Any] = (
        {**schema, "additionalProperties": False} if schema else {"type": "object", "additionalProperties": False}
    )
    # Only keywords every provider's structured-output mode takes (Gemini's has no minLength): an empty
    # summary is refused by analysis_answer_problems instead.
    properties: dict[str, Any] = {"summary": {"type": "string"}, "extracted": extracted}
    required = ["summary", "extracted"]
    if with_success:
        properties["success"] = {"type": "boolean"}
        required.append("success")
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


def normalize_answer(answer: Any, *, schema: dict[str, Any]) -> Any:
    """The answer with what the model may add around the data dropped: keys the schema does not name
    and nulls for optional fields (a field it could not fill is simply absent)."""
    if not isinstance(answer, dict) or not isinstance(answer.get("extracted"), dict):
        return answer
    fields = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    extracted = {
        name: value
        for name, value in answer["extracted"].items()
        if name in fields and not (value is None and name not in required)
    }
    return {**answer, "extracted": extracted}


def analysis_answer_problems(answer: Any, *, answer_schema: dict[str, Any]) -> list[str]:
    """Where the answer breaks its schema (at most five messages); [] when it is valid."""
    validator = jsonschema.Draft202012Validator(answer_schema)
    errors = sorted(validator.iter_errors(answer), key=lambda e: [str(p) for p in e.absolute_path])
    problems = [f"{_where(error.absolute_path).lstrip('.') or 'answer'}: {error.message}" for error in errors[:5]]
    summary = answer.get("summary") if isinstance(answer, dict) else None
    if isinstance(summary, str) and not summary.strip():
        problems.append("summary: it is empty")
    return problems
