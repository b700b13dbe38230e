"""Dependencies point one way: no module imports from an app above its own (docs/architecture.md).

voiceplatform (0) <- agents_app (1) <- telephony_app (2) <- campaigns_app (3) <- worker (4). Every
import statement counts, wherever it is: at the top, inside a function, under TYPE_CHECKING,
relative, or a constant importlib.import_module("..."). Only the project's wiring (the root
URLconf, settings, the Celery app, wsgi/asgi, seed_demo) and the dev tools may import every app;
a lower app that must learn something from a higher one asks a registry the higher app fills in
its AppConfig.ready (agents_app.references, agents_app.agent_links, voiceplatform.dashboard,
telephony_app.chat's runner).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"voiceplatform": 0, "agents_app": 1, "telephony_app": 2, "campaigns_app": 3, "worker": 4}
WIRING = frozenset(
    {
        "voiceplatform/urls.py",
        "voiceplatform/settings.py",
        "voiceplatform/settings_test.py",
        "voiceplatform/celery.py",
        "voiceplatform/wsgi.py",
        "voiceplatform/asgi.py",
        "voiceplatform/management/commands/seed_demo.py",
    }
)
WIRING_PACKAGES = ("voiceplatform/devtools/",)  # fakes and bench_* commands: they drive every app


@dataclass(frozen=True)
class UpwardImport:
    path: str
    line: int
    target: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} -> {self.target}"


def _module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a relative `from . import x` / `from ..y import z` names."""
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imported_modules(tree: ast.AST, *, module: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, module) for every import in the tree, nested ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            yield node.lineno, _absolute(node, module, is_package)
        elif (
            isinstance(node, ast.Call)
            and (getattr(node.func, "attr", None) or getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.lineno, node.args[0].value


def is_wiring(relative: str) -> bool:
    return relative in WIRING or relative.startswith(WIRING_PACKAGES)


def upward_imports(root: Path) -> list[UpwardImport]:
    """Every import, in every module of the layered apps under root, of an app above the module's own."""
    found = []
    for app, level in LAYERS.items():
        for path in sorted((root / app).rglob("*.py")):
            relative = path.relative_to(root)
            if is_wiring(relative.as_posix()):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            module = _module_name(relative)
            for line, target in imported_modules(tree, module=module, is_package=path.name == "__init__.py"):
                top = target.split(".")[0]
                if LAYERS.get(top, -1) > level:
                    found.append(UpwardImport(relative.as_posix(), line, target))
    return found


def test_no_module_imports_from_a_higher_app():
    upward = upward_imports(ROOT)

    assert not upward, "imports from a higher app (use a registry filled in AppConfig.ready):\n" + "\n".join(
        str(item) for item in upward
    )


def test_every_app_of_the_project_has_a_level():
    """A new top-level app must say where it sits, or the check above would never look at it."""
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}

    assert apps <= set(LAYERS), f"apps without a level in LAYERS: {sorted(apps - set(LAYERS))}"


def _write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_the_checker_reports_each_kind_of_upward_import(tmp_path):
    _write(tmp_path, "agents_app/__init__.py", "")
    _write(
        tmp_path,
        "agents_app/sneaky.py",
        "from __future__ import annotations\n"
        "import importlib\n"
        "from typing import TYPE_CHECKING\n"
        "from voiceplatform.models import Tenant\n"  # downward: fine
        "from agents_app.models import Agent\n"  # own app: fine
        "if TYPE_CHECKING:\n"
        "    from telephony_app.models import Call\n"
        "def later():\n"
        "    import worker.chat_runner\n"
        "    return importlib.import_module('worker.factories')\n",
    )
    _write(tmp_path, "telephony_app/__init__.py", "")
    _write(tmp_path, "telephony_app/sub/__init__.py", "from ...worker import agent\n")
    _write(tmp_path, "worker/anything.py", "import telephony_app.models\nfrom agents_app import placeholders\n")

    found = {str(item) for item in upward_imports(tmp_path)}

    assert found == {
        "agents_app/sneaky.py:7 -> telephony_app.models",
        "agents_app/sneaky.py:9 -> worker.chat_runner",
        "agents_app/sneaky.py:10 -> worker.factories",
        "telephony_app/sub/__init__.py:1 -> worker",
    }


def test_only_the_wiring_modules_may_import_every_app(tmp_path):
    for relative in [*WIRING, "voiceplatform/devtools/fake_livekit.py", "voiceplatform/urls_extra.py"]:
        _write(tmp_path, relative, "from worker import entrypoint\n")

    found = [str(item) for item in upward_imports(tmp_path)]

    assert found == ["voiceplatform/urls_extra.py:1 -> worker"]
