"""Taking a contact list: the cheap checks done while the user waits (size, encoding, header,
choices), then the file is stored and the Celery task enqueued once the row is committed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import transaction

from campaigns_app.importer import files
from campaigns_app.models import Campaign, ContactImport, DncHandling, ImportEncoding, ImportMode
from campaigns_app.services import CampaignStateConflict
from voiceplatform.actor import Actor
from voiceplatform.models import Tenant


def country_problem(default_country: str) -> str:
    """Why `default_country` cannot be a default region ("" when it is empty or known)."""
    if default_country and default_country.upper() not in phonenumbers.SUPPORTED_REGIONS:
        return f"{default_country!r} is not a country code phone numbers know; use two letters, e.g. US or GB."
    return ""


def _choice_problems(*, mode: str, dnc_handling: str, default_country: str) -> dict[str, list[str]]:
    problems: dict[str, list[str]] = {}
    if mode not in ImportMode.values:
        problems["mode"] = [f"Choose one of: {', '.join(ImportMode.values)}."]
    if dnc_handling not in DncHandling.values:
        problems["dnc_handling"] = [f"Choose one of: {', '.join(DncHandling.values)}."]
    if problem := country_problem(default_country):
        problems["default_country"] = [problem]
    return problems


def check_upload(*, upload: Any, encoding: str, column_map: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    """The codec and header of an upload, reading only its first 64 KB; ValidationError on `file`,
    `encoding` or `column_map` (the size limit, an empty file, no number column...)."""
    if problem := files.size_problem(getattr(upload, "size", None)):
        raise ValidationError({"file": problem})
    head = files.read_head(upload)
    if not head.strip():
        raise ValidationError({"file": "The file is empty."})
    codec = files.choose_encoding(head, encoding)
    header = files.header_row(head, codec)
    files.map_columns(header, column_map or {})
    return codec, header


@transaction.atomic
def contact_import_create(
    *,
    tenant: Tenant,
    campaign: Campaign,
    upload: Any,
    default_country: str = "",
    mode: str = ImportMode.ALL_OR_NOTHING,
    dnc_handling: str = DncHandling.SKIP,
    encoding: str = ImportEncoding.AUTO,
    column_map: Mapping[str, str] | None = None,
    actor: Actor,
) -> ContactImport:
    """A queued import of `upload` into the campaign (the task starts after commit), or
    ValidationError by field (file, encoding, default_country, column_map, mode, dnc_handling)."""
    campaign = Campaign.objects.for_tenant(tenant).select_for_update().get(pk=campaign.pk)
    if not campaign.is_open:
        raise CampaignStateConflict(f"A {campaign.get_status_display().lower()} campaign takes no more contacts.")
    default_country = (default_country or "").strip().upper()
    column_map = {key: str(value or "").strip() for key, value in (column_map or {}).items()}
    problems = _choice_problems(mode=mode, dnc_handling=dnc_handling, default_country=default_country)
    if upload is None:
        problems["file"] = ["Choose a CSV file to upload."]
    else:
        try:
            codec, _header = check_upload(upload=upload, encoding=encoding, column_map=column_map)
        except ValidationError as error:
            for name, messages in error.message_dict.items():
                problems.setdefault(name, []).extend(messages)
    if problems:
        raise ValidationError(problems)
    contact_import = ContactImport(
        tenant=tenant,
        campaign=campaign,
        original_name=(getattr(upload, "name", "") or "")[:255],
        size_bytes=upload.size,
        encoding=encoding,
        detected_encoding=codec,
        default_country=default_country,
        mode=mode,
        dnc_handling=dnc_handling,
        column_map={key: value for key, value in column_map.items() if value},
        created_by=actor.label,
    )
    # The stored name is ours (the code), never the uploader's path.
    contact_import.file.save(f"{contact_import.code}.csv", upload, save=False)
    contact_import.save()
    pk = contact_import.pk

    def enqueue() -> None:
        from campaigns_app.tasks import import_contacts  # the task module imports this package

        import_contacts.delay(pk)

    transaction.on_commit(enqueue)
    return contact_import
