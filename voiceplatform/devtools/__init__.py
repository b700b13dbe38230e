"""Developer tools: the benchmark commands, their load generator, and local fakes of the vendors.

An installed app (voiceplatform.devtools.apps.DevToolsConfig) so that `manage.py bench_*` finds its
commands. It may import every app; nothing on a request's or a call's path imports it.
"""
