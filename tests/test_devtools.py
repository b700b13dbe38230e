"""voiceplatform/devtools: an installed app whose bench_* commands manage.py finds, imported by no app.

The dev tools may import every app (tests/test_import_layers.py exempts them); the reverse would put
fakes and benchmarks on a request's or a call's path, so no module of an app imports them (settings
only names the app in INSTALLED_APPS, a string).
"""

from __future__ import annotations

import ast
from pathlib import Path

from django.core.management import get_commands

from tests.test_import_layers import LAYERS, ROOT, _module_name, imported_modules

DEVTOOLS = "voiceplatform.devtools"


def devtools_importers(root: Path) -> list[str]:
    """path:line of every import of the dev tools from a module of an app, outside the dev tools."""
    found = []
    for app in LAYERS:
        for path in sorted((root / app).rglob("*.py")):
            relative = path.relative_to(root)
            module = _module_name(relative)
            if module == DEVTOOLS or module.startswith(DEVTOOLS + "."):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, target in imported_modules(tree, module=module, is_package=path.name == "__init__.py"):
                if target == DEVTOOLS or target.startswith(DEVTOOLS + "."):
                    found.append(f"{relative.as_posix()}:{line}")
    return found


def test_no_app_module_imports_the_dev_tools():
    assert devtools_importers(ROOT) == []


def test_the_check_finds_an_app_importing_the_dev_tools(tmp_path):
    (tmp_path / "agents_app").mkdir()
    (tmp_path / "agents_app" / "views.py").write_text(
        "def page():\n    from voiceplatform.devtools.fake_openai import FakeOpenAI\n"
    )
    (tmp_path / "voiceplatform" / "devtools").mkdir(parents=True)
    (tmp_path / "voiceplatform" / "devtools" / "bench.py").write_text("from . import fake_openai\n")

    assert devtools_importers(tmp_path) == ["agents_app/views.py:2"]


def test_the_bench_commands_are_the_dev_tools_own():
    commands = get_commands()

    assert {name: commands[name] for name in commands if name.startswith("bench_")} == {
        "bench_call_log": "voiceplatform.devtools",
        "bench_call_start": "voiceplatform.devtools",
        "bench_contact_import": "voiceplatform.devtools",
        "bench_dialer": "voiceplatform.devtools",
        "bench_inbound_compare": "voiceplatform.devtools",
        "bench_inbound_webhook": "voiceplatform.devtools",
        "bench_runtime_config": "voiceplatform.devtools",
    }
