"""voiceplatform: a multi-tenant AI voice-agent platform (Django project and tenancy app)."""

from voiceplatform.celery import app as celery_app

__all__ = ("celery_app",)
