from django.urls import path

from agents_app import option_views, views

urlpatterns = [
    path("", views.agent_list, name="agents-agent-list"),
    path("new", views.agent_create, name="agents-agent-create"),
    path("options/llm-models", option_views.llm_options, name="agents-llm-options"),
    path("options/voices", option_views.voice_options, name="agents-voice-options"),
    path("options/stt-models", option_views.stt_options, name="agents-stt-options"),
    path("<uuid:code>/", views.agent_detail, name="agents-agent-detail"),
    path("<uuid:code>/edit", views.agent_edit, name="agents-agent-edit"),
    path("<uuid:code>/duplicate", views.agent_duplicate, name="agents-agent-duplicate"),
    path("<uuid:code>/activate", views.agent_activate, name="agents-agent-activate"),
    path("<uuid:code>/deactivate", views.agent_deactivate, name="agents-agent-deactivate"),
    path("<uuid:code>/delete", views.agent_delete, name="agents-agent-delete"),
    path("<uuid:code>/prompts/", views.prompt_history, name="agents-prompt-list"),
    path("<uuid:code>/prompts/revert", views.prompt_revert, name="agents-prompt-revert"),
]
