"""Contact lists and do-not-call lists from CSV files, streamed (never read into memory whole).

contact_import_create takes an upload (cheap checks while the user waits) and queues the Celery
task campaigns_app.tasks.import_contacts, which calls contact_import_run; dnc_upload adds a file of
numbers to the tenant's do-not-call list synchronously."""

from campaigns_app.importer.create import check_upload, contact_import_create, country_problem
from campaigns_app.importer.dnc import DncUpload, dnc_upload
from campaigns_app.importer.run import (
    ON_DNC,
    SKIPPED_ON_DNC,
    contact_import_run,
    import_percent,
)

__all__ = [
    "ON_DNC",
    "SKIPPED_ON_DNC",
    "DncUpload",
    "check_upload",
    "contact_import_create",
    "contact_import_run",
    "country_problem",
    "dnc_upload",
    "import_percent",
]
