from django.apps import AppConfig


class DevToolsConfig(AppConfig):
    name = "voiceplatform.devtools"
    label = "devtools"
    verbose_name = "Developer tools"
