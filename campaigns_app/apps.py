from django.apps import AppConfig


class CampaignsAppConfig(AppConfig):
    name = "campaigns_app"
    verbose_name = "Outbound campaigns"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registries of the lower apps (agent references, number references, dashboard tiles) are
        # filled here; see docs/architecture.md.
        from campaigns_app import wiring

        wiring.register()
