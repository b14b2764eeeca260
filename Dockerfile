# Vrijwilligersmarkt: one image for the web processes (daphne) and the one-off migrate step.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DEBUG=0 \
    VAR_DIR=/app/var \
    STATIC_ROOT=/app/staticfiles

# gettext: compilemessages; fonts: letters (PDF) in Latin, Turkish and Arabic script.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext fonts-dejavu-core fonts-noto-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app

# Dependencies first (cached until pyproject.toml changes). The project installs no modules of
# its own (py-modules = []), so pyproject.toml alone is enough to install them.
COPY pyproject.toml ./
RUN pip install .

COPY . .

# Build-time only: collectstatic/compilemessages import the settings, which refuse DEBUG=0
# without a key. The running containers get the real SECRET_KEY from the environment.
RUN SECRET_KEY=build-only-not-secret python manage.py collectstatic --noinput -v 0 \
    && if [ -d locale ]; then SECRET_KEY=build-only-not-secret python manage.py compilemessages -v 0; fi \
    && useradd --system --uid 10001 --home /app app \
    && mkdir -p /app/var && chown -R app /app/var

USER app
EXPOSE 8000

HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"

CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "--proxy-headers", "--http-timeout", "600", "backend.asgi:application"]
