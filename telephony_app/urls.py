from django.urls import path

from telephony_app import agent_views, views
from telephony_app.analytics import views as analytics_views

urlpatterns = [
    path("", views.call_list, name="calls-call-list"),
    path("<uuid:code>/", views.call_detail, name="calls-call-detail"),
]

# Mounted at /numbers/ by voiceplatform/urls.py.
number_urlpatterns = [
    path("", views.number_list, name="numbers-number-list"),
    path("new/", views.number_create, name="numbers-number-create"),
    path("<uuid:code>/edit/", views.number_edit, name="numbers-number-edit"),
    path("<uuid:code>/delete/", views.number_delete, name="numbers-number-delete"),
    path("<uuid:code>/provision/", views.number_provision, name="numbers-number-provision"),
]

# Mounted at /agents/ by voiceplatform/urls.py, next to agents_app's pages: talking to an agent.
agent_urlpatterns = [
    path("<uuid:code>/chat/", agent_views.agent_chat, name="agents-agent-chat"),
    path("<uuid:code>/test/", agent_views.agent_test, name="agents-agent-test"),
    path("<uuid:code>/test/session", agent_views.agent_test_session, name="agents-agent-test-session"),
]

# Mounted at /analytics/ by voiceplatform/urls.py: the charts over the call rollups and their CSV.
analytics_urlpatterns = [
    path("", analytics_views.analytics_dashboard, name="analytics-dashboard"),
    path("export.csv", analytics_views.analytics_export, name="analytics-export"),
]
