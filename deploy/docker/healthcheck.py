"""The container's health check (stdlib only, so it costs ~30 ms and no Django start-up).

    python deploy/docker/healthcheck.py web           GET http://127.0.0.1:<WEB_BIND port>/health -> 200
    python deploy/docker/healthcheck.py voice-worker  GET http://127.0.0.1:<WORKER_HEALTH_PORT>/ -> 200

The web check sends a Host header from ALLOWED_HOSTS (Django answers 400 to a Host it does not
serve) and X-Forwarded-Proto: https, so it passes with every production setting. Exit code 0 when
healthy, 1 with one line on stderr otherwise (Docker keeps that line in `docker inspect`).
"""

from __future__ import annotations

import http.client
import os
import sys

TIMEOUT_SECONDS = 4.0


def allowed_host(environ: dict[str, str]) -> str:
    """The first concrete name in ALLOWED_HOSTS ('.example.com' -> 'example.com'; '*' -> localhost)."""
    for entry in (environ.get("ALLOWED_HOSTS") or "127.0.0.1,localhost").split(","):
        name = entry.strip().lstrip(".")
        if name and name != "*":
            return name
    return "localhost"


def web_port(environ: dict[str, str]) -> int:
    bind = (environ.get("WEB_BIND") or "127.0.0.1:8000").strip()
    return int(bind.rsplit(":", 1)[1])


def probe(*, port: int, path: str, host: str) -> str | None:
    """None when the server answers 200, else what went wrong."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", path, headers={"Host": host, "X-Forwarded-Proto": "https"})
        response = connection.getresponse()
        body = response.read(200).decode("utf-8", "replace")
    except OSError as exc:
        return f"GET {path} on port {port}: {exc}"
    finally:
        connection.close()
    if response.status != 200:
        return f"GET {path} on port {port}: HTTP {response.status} {body.strip()}"
    return None


def main(argv: list[str], environ: dict[str, str]) -> int:
    kind = argv[1] if len(argv) > 1 else "web"
    try:
        if kind == "web":
            problem = probe(port=web_port(environ), path="/health", host=allowed_host(environ))
        elif kind == "voice-worker":
            port = int(environ.get("WORKER_HEALTH_PORT") or "8081")
            problem = probe(port=port, path="/", host="127.0.0.1")
        else:
            problem = f"no HTTP health check for {kind!r} (web or voice-worker)"
    except (ValueError, IndexError) as exc:
        problem = f"bad WEB_BIND or WORKER_HEALTH_PORT: {exc}"
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv, dict(os.environ)))
