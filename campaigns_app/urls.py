from django.urls import path

from campaigns_app import import_views, ledger_views, live_views, views

# Mounted at /campaigns/ by voiceplatform/urls.py. An import's pages take the import's code alone.
urlpatterns = [
    path("", views.campaign_list, name="campaigns-campaign-list"),
    path("new", views.campaign_create, name="campaigns-campaign-create"),
    path("<uuid:code>/", views.campaign_detail, name="campaigns-campaign-detail"),
    path("<uuid:code>/edit", views.campaign_edit, name="campaigns-campaign-edit"),
    path("<uuid:code>/start", views.campaign_start, name="campaigns-campaign-start"),
    path("<uuid:code>/pause", views.campaign_pause, name="campaigns-campaign-pause"),
    path("<uuid:code>/resume", views.campaign_resume, name="campaigns-campaign-resume"),
    path("<uuid:code>/cancel", views.campaign_cancel, name="campaigns-campaign-cancel"),
    path("<uuid:code>/delete", views.campaign_delete, name="campaigns-campaign-delete"),
    path("<uuid:code>/contacts/", views.contact_list, name="campaigns-contact-list"),
    path("<uuid:code>/audit.csv", views.campaign_audit, name="campaigns-campaign-audit"),
    path("<uuid:code>/progress", live_views.campaign_progress, name="campaigns-campaign-progress"),
    path("<uuid:code>/preview/<uuid:contact_code>/dial", live_views.preview_dial, name="campaigns-preview-dial"),
    path("<uuid:code>/import", import_views.import_create, name="campaigns-import-create"),
    path("imports/<uuid:code>/", import_views.import_detail, name="campaigns-import-detail"),
    path("imports/<uuid:code>/progress", import_views.import_progress, name="campaigns-import-progress"),
    path("imports/<uuid:code>/errors.csv", import_views.import_error_report, name="campaigns-import-errors"),
]

# Mounted at /dnc/ by voiceplatform/urls.py: the tenant's do-not-call list.
dnc_urlpatterns = [
    path("", ledger_views.dnc_list, name="dnc-entry-list"),
    path("add", ledger_views.dnc_add, name="dnc-entry-add"),
    path("remove", ledger_views.dnc_remove, name="dnc-entry-remove"),
    path("upload", ledger_views.dnc_upload, name="dnc-entry-upload"),
]

# Mounted at /consents/ by voiceplatform/urls.py: the tenant's consent ledger.
consent_urlpatterns = [
    path("", ledger_views.consent_list, name="consents-consent-list"),
    path("grant", ledger_views.consent_grant, name="consents-consent-grant"),
    path("revoke", ledger_views.consent_revoke, name="consents-consent-revoke"),
]
