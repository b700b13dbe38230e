from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from agents_app.api import AgentViewSet
from campaigns_app import urls as campaign_urls
from campaigns_app.api import CampaignViewSet
from campaigns_app.ledger_api import ConsentViewSet, DncViewSet
from telephony_app import twilio_webhooks
from telephony_app import urls as telephony_urls
from telephony_app.agent_api import AgentTalkViewSet
from telephony_app.analytics.api import AnalyticsViewSet
from telephony_app.api import CallViewSet, PhoneNumberViewSet
from telephony_app.livekit_webhooks import LiveKitWebhookView
from voiceplatform import api, metrics, views
from voiceplatform.webhooks import api as webhook_api
from voiceplatform.webhooks import views as webhook_views

router = SimpleRouter(trailing_slash=False, use_regex_path=False)
router.register("provider-credentials", api.ProviderCredentialViewSet, basename="api-credential")
router.register("agents", AgentViewSet, basename="api-agent")
router.register("calls", CallViewSet, basename="api-call")
router.register("phone-numbers", PhoneNumberViewSet, basename="api-phone-number")
router.register("campaigns", CampaignViewSet, basename="api-campaign")
router.register("dnc", DncViewSet, basename="api-dnc")
router.register("consents", ConsentViewSet, basename="api-consent")
router.register("webhook-endpoints", webhook_api.WebhookEndpointViewSet, basename="api-webhook-endpoint")
router.register("webhook-deliveries", webhook_api.WebhookDeliveryViewSet, basename="api-webhook-delivery")
# An agent's chat and test-session actions are telephony_app's (they write calls); a router of their
# own keeps their URLs and names (api-agent-chat, api-agent-test-session) under the agent's.
agent_talk_router = SimpleRouter(trailing_slash=False, use_regex_path=False)
agent_talk_router.register("agents", AgentTalkViewSet, basename="api-agent")

api_v1 = [
    # First, as the busiest routes: each request tries the patterns in order, and the router's have
    # converters to match. Twilio's webhooks: plain Django views (signed by Twilio, not Bearer keys),
    # so not in the schema.
    path("telephony/twilio/voice", twilio_webhooks.twilio_voice, name="telephony-twilio-voice"),
    path("telephony/twilio/status", twilio_webhooks.twilio_status, name="telephony-twilio-status"),
    path("telephony/twilio/refer", twilio_webhooks.twilio_refer, name="telephony-twilio-refer"),
    # LiveKit's webhook: signed with the LiveKit API secret (not a Bearer key); excluded from the schema.
    path("telephony/livekit/webhook", LiveKitWebhookView.as_view(), name="telephony-livekit-webhook"),
    path("", api.api_root, name="api-root"),
    *router.urls,
    *agent_talk_router.urls,
    path("analytics", AnalyticsViewSet.as_view({"get": "figures"}), name="api-analytics"),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),  # first: the webhooks are the busiest routes
    path("health", views.health, name="health"),
    # Prometheus's scrape target: a bearer token (METRICS_TOKEN), 404 while none is set.
    path("metrics", metrics.metrics_view, name="metrics"),
    # Browsers ask for /favicon.ico on every page (the admin's too); the icon itself is a static file.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("favicon.svg")), name="favicon"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script from a URL: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/set-password/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="registration/set_password.html", success_url="/accounts/login/?password_set=1"
        ),
        name="password_reset_confirm",
    ),
    path("", views.dashboard, name="portal-dashboard"),
    path("tenants/switch", views.tenant_switch, name="tenancy-tenant-switch"),
    path("agents/", include("agents_app.urls")),
    path("agents/", include(telephony_urls.agent_urlpatterns)),
    path("calls/", include("telephony_app.urls")),
    path("numbers/", include(telephony_urls.number_urlpatterns)),
    path("analytics/", include(telephony_urls.analytics_urlpatterns)),
    path("campaigns/", include("campaigns_app.urls")),
    path("dnc/", include(campaign_urls.dnc_urlpatterns)),
    path("consents/", include(campaign_urls.consent_urlpatterns)),
    path("settings/members/", views.member_list, name="tenancy-member-list"),
    path("settings/members/<uuid:code>/role", views.member_role, name="tenancy-member-role"),
    path("settings/members/<uuid:code>/remove", views.member_remove, name="tenancy-member-remove"),
    path("settings/members/invitations/<uuid:code>/revoke", views.invitation_revoke, name="tenancy-invitation-revoke"),
    path("invitations/<str:token>/", views.invitation_accept, name="tenancy-invitation-accept"),
    path("settings/api-keys/", views.api_key_list, name="tenancy-apikey-list"),
    path("settings/api-keys/<uuid:code>/revoke", views.api_key_revoke, name="tenancy-apikey-revoke"),
    path("settings/credentials/", views.credential_list, name="tenancy-credential-list"),
    path("settings/credentials/<uuid:code>/delete", views.credential_delete, name="tenancy-credential-delete"),
    path("settings/webhooks/", webhook_views.endpoint_list, name="tenancy-webhook-list"),
    path("settings/webhooks/new", webhook_views.endpoint_create, name="tenancy-webhook-create"),
    path("settings/webhooks/<uuid:code>/", webhook_views.endpoint_detail, name="tenancy-webhook-detail"),
    path("settings/webhooks/<uuid:code>/edit", webhook_views.endpoint_edit, name="tenancy-webhook-edit"),
    path("settings/webhooks/<uuid:code>/delete", webhook_views.endpoint_delete, name="tenancy-webhook-delete"),
    path("settings/webhooks/<uuid:code>/rotate", webhook_views.endpoint_rotate, name="tenancy-webhook-rotate"),
    path("settings/webhooks/<uuid:code>/test", webhook_views.endpoint_test, name="tenancy-webhook-test"),
    path(
        "settings/webhooks/deliveries/<uuid:code>/",
        webhook_views.delivery_detail,
        name="tenancy-webhook-delivery-detail",
    ),
    path(
        "settings/webhooks/deliveries/<uuid:code>/redeliver",
        webhook_views.delivery_redeliver,
        name="tenancy-webhook-redeliver",
    ),
]

handler403 = "voiceplatform.views.permission_denied"
# Under /api/ these answer the API's {detail, problems} JSON; elsewhere Django's (or the portal's) pages.
handler400 = "voiceplatform.hostile_input.bad_request"
handler404 = "voiceplatform.hostile_input.page_not_found"
handler500 = "voiceplatform.hostile_input.server_error"
