"""A completed or cancelled campaign lets go of its agent and caller ID (SET_NULL, nullable), keeping
their name and number as snapshots; only open campaigns block deleting them (campaigns_app.agent_references)."""

import django.db.models.deletion
from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models import OuterRef, Subquery


def fill_snapshots(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    """Every existing campaign gets its agent's name and caller ID's number, so a later delete of
    either leaves the campaign's record readable."""
    Campaign = apps.get_model("campaigns_app", "Campaign")
    Agent = apps.get_model("agents_app", "Agent")
    PhoneNumber = apps.get_model("telephony_app", "PhoneNumber")
    Campaign.objects.update(
        agent_name=Subquery(Agent.objects.filter(pk=OuterRef("agent_id")).values("name")[:1]),
        caller_id_number=Subquery(PhoneNumber.objects.filter(pk=OuterRef("caller_id_id")).values("number")[:1]),
    )


class Migration(migrations.Migration):
    dependencies = [
        ("agents_app", "0003_prompt_limits_follow_the_model"),
        ("campaigns_app", "0003_h4_restrict_not_protect"),
        ("telephony_app", "0005_call_agent_open_phone_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="campaign",
            name="agent_name",
            field=models.CharField(blank=True, help_text="Snapshot; survives agent deletion.", max_length=120),
        ),
        migrations.AddField(
            model_name="campaign",
            name="caller_id_number",
            field=models.CharField(blank=True, help_text="Snapshot; survives number deletion.", max_length=32),
        ),
        migrations.AlterField(
            model_name="campaign",
            name="agent",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="campaigns", to="agents_app.agent"
            ),
        ),
        migrations.AlterField(
            model_name="campaign",
            name="caller_id",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="campaigns",
                to="telephony_app.phonenumber",
            ),
        ),
        migrations.RunPython(fill_snapshots, migrations.RunPython.noop),
    ]
