"""call_status_updated_idx becomes partial (calls in progress only), built without locking the table:
the call table is the inbound webhook's, and a plain CREATE INDEX would hold its writes for the
whole build on a table of millions of calls."""

from django.contrib.postgres.operations import AddIndexConcurrently, RemoveIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("agents_app", "0004_analysis"),
        ("telephony_app", "0013_inbound_admit"),
        ("voiceplatform", "0006_webhook_delivery_fk_indexes"),
    ]

    operations = [
        RemoveIndexConcurrently(model_name="call", name="call_status_updated_idx"),
        AddIndexConcurrently(
            model_name="call",
            index=models.Index(
                condition=models.Q(("status__in", ["in_progress", "queued", "ringing"])),
                fields=["status", "updated_at"],
                name="call_status_updated_idx",
            ),
        ),
    ]
