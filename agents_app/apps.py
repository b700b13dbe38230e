from django.apps import AppConfig


class AgentsAppConfig(AppConfig):
    name = "agents_app"
    verbose_name = "Voice agents"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents_app import config_cache
        from agents_app.metrics import config_cache_counters
        from agents_app.selectors import agent_dashboard_counts
        from voiceplatform.dashboard import register_counts
        from voiceplatform.metrics import scrape_collector_register

        register_counts("agents_app.agents", agent_dashboard_counts, order=10)
        config_cache.register()  # a tenant's change refreshes its agents' configs (voiceplatform.change_hooks)
        scrape_collector_register("agents_app.config_cache", config_cache_counters)  # /metrics
