# syntax=docker/dockerfile:1
# One image for every process kind of voiceplatform; the command picks it (deploy/docker/entrypoint.sh):
#   web | celery-worker | celery-beat | voice-worker | migrate | manage <command> ...
# See docs/deploy.md. Nothing secret is baked in: every setting comes from the environment at run time.

# --- 1. Front-end packages (the same two files `make` copies into static/vendor/) -------------------
FROM node:22-bookworm-slim AS assets
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error \
    && mkdir -p static/vendor \
    && cp node_modules/htmx.org/dist/htmx.min.js static/vendor/ \
    && cp node_modules/livekit-client/dist/livekit-client.umd.js static/vendor/

# --- 2. Python dependencies in a virtualenv (the runtime part of requirements.txt) ------------------
FROM python:3.11-slim-bookworm AS python-deps
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /build
COPY requirements.txt deploy/docker/dev-only-requirements.txt ./
# The tests' and `make run`'s own packages (pytest, Playwright, the embedded PostgreSQL and Redis,
# honcho...; one pattern a line in dev-only-requirements.txt) stay out of the image:
# tests/test_deploy.py checks that the code runs without them.
RUN python -m venv /opt/venv \
    && grep -v -i -E -f dev-only-requirements.txt requirements.txt > runtime-requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r runtime-requirements.txt

# --- 3. Runtime: slim Python 3.11, no compilers, no node, a non-root user -------------------------
FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_HOME=/app \
    WEB_BIND=0.0.0.0:8000 \
    WORKER_HEALTH_PORT=8081 \
    MEDIA_ROOT=/var/lib/voiceplatform/media \
    CELERY_BEAT_SCHEDULE_FILE=/var/lib/voiceplatform/celerybeat-schedule
RUN groupadd --system --gid 10001 voiceplatform \
    && useradd --system --uid 10001 --gid voiceplatform --home-dir /var/lib/voiceplatform \
       --no-create-home --shell /usr/sbin/nologin voiceplatform \
    && mkdir -p /var/lib/voiceplatform/media \
    && chown -R voiceplatform:voiceplatform /var/lib/voiceplatform
WORKDIR /app
COPY --from=python-deps /opt/venv /opt/venv
COPY manage.py ./
COPY voiceplatform ./voiceplatform
COPY agents_app ./agents_app
COPY telephony_app ./telephony_app
COPY campaigns_app ./campaigns_app
COPY worker ./worker
COPY templates ./templates
COPY static ./static
COPY --from=assets /src/static/vendor ./static/vendor
COPY deploy/docker/entrypoint.sh deploy/docker/healthcheck.py ./deploy/docker/
# collectstatic reads the settings, which insist on these variables: throwaway values that exist for
# this one command only (never an ENV, never in a later layer). Nothing connects to them.
RUN SECRET_KEY=build-only-not-a-secret \
    FIELD_ENCRYPTION_KEYS=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= \
    DATABASE_URL=postgres://build@127.0.0.1:1/build \
    REDIS_URL=redis://127.0.0.1:1/0 \
    python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q /app/voiceplatform /app/agents_app /app/telephony_app /app/campaigns_app /app/worker
USER 10001:10001
EXPOSE 8000 8081
# The web process's /health (database and Redis); deploy/docker/healthcheck.py sends an allowed Host.
# compose.yaml gives the other process kinds their own checks.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/app/deploy/docker/healthcheck.py", "web"]
ENTRYPOINT ["/app/deploy/docker/entrypoint.sh"]
CMD ["web"]
