from django.apps import AppConfig


class TelephonyAppConfig(AppConfig):
    name = "telephony_app"
    verbose_name = "Telephony and call log"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from agents_app import config_cache
        from agents_app.agent_links import register_agent_links
        from agents_app.references import register_agent_references
        from telephony_app.agent_references import PhoneNumberReferences
        from telephony_app.agent_views import agent_talk_links
        from telephony_app.analysis import HOOK_NAME as ANALYSIS_HOOK
        from telephony_app.analysis import analysis_on_call_end
        from telephony_app.call_hooks import register_call_end_hook
        from telephony_app.dashboard import call_dashboard_counts
        from telephony_app.metrics import active_calls
        from telephony_app.number_cache import tenant_numbers_drop, twilio_credential_numbers_drop
        from telephony_app.services import phone_numbers_reencrypt_passwords
        from voiceplatform.change_hooks import register_credential_hook
        from voiceplatform.dashboard import register_counts
        from voiceplatform.metrics import scrape_collector_register
        from voiceplatform.services import register_secret_reencrypter

        register_agent_references("telephony_app.phone_numbers", PhoneNumberReferences())
        register_agent_links("telephony_app.talk", agent_talk_links)
        register_counts("telephony_app.calls", call_dashboard_counts, order=20)
        # The inbound number cache: dropped after agents_app refreshed the configs it copies, and
        # when a Twilio credential changes (no signal handlers: see agents_app/config_cache.py).
        config_cache.register_dependent("telephony_app.inbound_numbers", tenant_numbers_drop)
        register_credential_hook("telephony_app.inbound_numbers", twilio_credential_numbers_drop)
        scrape_collector_register("telephony_app.active_calls", active_calls)  # /metrics: calls_active
        # After a call ends: its post-call analysis is queued (telephony_app/analysis.py).
        register_call_end_hook(ANALYSIS_HOOK, analysis_on_call_end)
        register_secret_reencrypter(
            "telephony_app.carrier_passwords",
            label="phone number carrier password(s)",
            reencrypt=phone_numbers_reencrypt_passwords,
        )
