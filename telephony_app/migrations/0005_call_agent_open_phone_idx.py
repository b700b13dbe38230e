"""A partial index of the agents' open phone calls: the inbound routing counts them against
max_concurrent_calls on every inbound call, and it holds only the calls in progress."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("telephony_app", "0004_call_fewer_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="call",
            index=models.Index(
                condition=models.Q(
                    ("direction__in", ("inbound", "outbound")), ("status__in", ["in_progress", "queued", "ringing"])
                ),
                fields=["agent"],
                name="call_agent_open_phone_idx",
            ),
        ),
    ]
