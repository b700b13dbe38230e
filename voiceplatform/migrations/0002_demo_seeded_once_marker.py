"""SeedMarker: seed_demo creates the demo once per database, never again after the user changed it.

A database seeded before this table existed (the demo tenant is there) is marked as seeded here,
so the first `make run` after the upgrade does not bring back demo agents the user deleted."""

from django.apps.registry import Apps
from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor

DEMO_SEEDED = "demo-seeded"  # voiceplatform.management.commands.seed_demo.DEMO_SEEDED


def mark_existing_demo(apps: Apps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    tenant_model = apps.get_model("voiceplatform", "Tenant")
    marker_model = apps.get_model("voiceplatform", "SeedMarker")
    if tenant_model.objects.filter(slug="demo").exists():
        marker_model.objects.get_or_create(key=DEMO_SEEDED)


class Migration(migrations.Migration):
    dependencies = [
        ("voiceplatform", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="SeedMarker",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("key", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.RunPython(mark_existing_demo, migrations.RunPython.noop),
    ]
