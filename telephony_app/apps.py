from django.apps import AppConfig


class TelephonyAppConfig(AppConfig):
    name = "telephony_app"
    verbose_name = "Telephony and call log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from telephony_app import signals  # noqa: F401  (connects the number cache invalidation handlers)
