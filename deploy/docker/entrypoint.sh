#!/bin/sh
# The container's entrypoint: the first argument picks the process kind (docs/deploy.md).
#   web            gunicorn with the shipped settings (voiceplatform/gunicorn_conf.py; WEB_BIND, WEB_WORKERS)
#   celery-worker  Celery worker (the dialer's ticks, imports, reconciliation...); CELERY_CONCURRENCY
#   celery-beat    Celery beat: exactly ONE per deployment (CELERY_BEAT_SCHEDULE_FILE)
#   voice-worker   the LiveKit voice worker (health check on WORKER_HEALTH_PORT; drains on SIGTERM)
#   migrate        apply database migrations, then exit (run once per release, before the rest)
#   manage ...     any manage.py command, e.g. `manage reencrypt_credentials`
# Anything else is run as given (e.g. `sh`). Each kind replaces this shell (exec), so the
# process gets the container's signals (SIGTERM drains the voice worker and stops Celery warmly).
set -eu

cd "${APP_HOME:-/app}"

kind="${1:-web}"
[ "$#" -gt 0 ] && shift

case "$kind" in
    web)
        exec gunicorn -c python:voiceplatform.gunicorn_conf voiceplatform.wsgi:application "$@"
        ;;
    celery-worker)
        exec celery -A voiceplatform worker --loglevel "${LOG_LEVEL:-info}" \
            --concurrency "${CELERY_CONCURRENCY:-2}" --without-heartbeat --without-gossip --without-mingle "$@"
        ;;
    celery-beat)
        exec celery -A voiceplatform beat --loglevel "${LOG_LEVEL:-info}" \
            --schedule "${CELERY_BEAT_SCHEDULE_FILE:-/var/lib/voiceplatform/celerybeat-schedule}" "$@"
        ;;
    voice-worker)
        exec python manage.py run_voice_worker "$@"
        ;;
    migrate)
        exec python manage.py migrate --noinput "$@"
        ;;
    manage)
        exec python manage.py "$@"
        ;;
    *)
        exec "$kind" "$@"
        ;;
esac
