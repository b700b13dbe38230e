"""The bulk do-not-call upload: a CSV of numbers (one column, or a header with a number column)
read streamed and added to the tenant's list in one lookup and one insert."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile

from campaigns_app import contact_rows
from campaigns_app.importer import files
from campaigns_app.importer.create import country_problem
from campaigns_app.models import DncSource, ImportEncoding
from campaigns_app.services import dnc_add_many
from voiceplatform.actor import Actor
from voiceplatform.models import Tenant

# The most refused lines a result lists (the count is always complete).
MAX_ERRORS_LISTED = 1000


@dataclass(frozen=True)
class DncUpload:
    """What a bulk DNC upload did: numbers newly added, numbers already on the list, and each
    refused line as (line, value, reason)."""

    added: int
    already_listed: int
    errors: list[tuple[int, str, str]] = field(default_factory=list)
    errors_total: int = 0


def _number_column(header: list[str]) -> int | None:
    keys = [files.header_key(text) for text in header]
    for guess in files.FIELD_HEADERS["number"]:
        if guess in keys:
            return keys.index(guess)
    return None


def dnc_upload(
    *,
    tenant: Tenant,
    upload: UploadedFile | Any,
    default_country: str = "",
    reason: str = "",
    actor: Actor,
    encoding: str = ImportEncoding.AUTO,
) -> DncUpload:
    """Add every number of an uploaded CSV to the tenant's do-not-call list (source "import"), or
    ValidationError on `file`, `encoding` or `default_country` before anything is added."""
    default_country = (default_country or "").strip().upper()
    if problem := country_problem(default_country):
        raise ValidationError({"default_country": problem})
    if upload is None:
        raise ValidationError({"file": "Choose a CSV file to upload."})
    if problem := files.size_problem(getattr(upload, "size", None)):
        raise ValidationError({"file": problem})
    head = files.read_head(upload)
    if not head.strip():
        raise ValidationError({"file": "The file is empty."})
    codec = files.choose_encoding(head, encoding)
    first = files.header_row(head, codec)
    column = _number_column(first)
    if column is None and len(first) > 1:
        raise ValidationError(
            {"file": "Upload one column of numbers, or a header row with a column named 'number' or 'phone'."}
        )
    has_header = column is not None
    column = column or 0
    numbers: set[str] = set()
    errors: list[tuple[int, str, str]] = []
    errors_total = 0
    upload.seek(0)
    stream = files.RowStream(upload, codec)
    header_seen = not has_header
    try:
        for line, row in stream:
            if row is not None and not any(cell.strip() for cell in row):
                continue
            if not header_seen:
                header_seen = True
                continue
            if row is None or len(row) <= column:
                value, why = "", stream.problem if row is None else "no number in this row"
            else:
                value = row[column]
                try:
                    numbers.add(contact_rows.normalize_number(value.replace("\x00", ""), default_country))
                    continue
                except contact_rows.RowError as error:
                    why = error.reason
            errors_total += 1
            if len(errors) < MAX_ERRORS_LISTED:
                errors.append((line, value[:200], why))
    except files.FileProblem as error:
        raise ValidationError({"encoding": str(error)}) from None
    added = dnc_add_many(tenant=tenant, numbers=numbers, source=DncSource.IMPORT, reason=reason, actor=actor)
    return DncUpload(added=added, already_listed=len(numbers) - added, errors=errors, errors_total=errors_total)
