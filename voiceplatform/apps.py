from django.apps import AppConfig


class VoicePlatformConfig(AppConfig):
    name = "voiceplatform"
    label = "voiceplatform"
    verbose_name = "Tenancy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from voiceplatform import metrics

        metrics.connect_celery_signals()  # Celery task outcomes (voiceplatform/metrics.py)
