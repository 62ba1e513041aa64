# Neighbourhood Atlas: the dashboard, data API and datastore, served by gunicorn. One image runs as any of the
# app hosts of deploy/compose.yaml (docs/hosts.md).
#   docker build -t atlas . && docker run -p 8050:8050 -v /path/to/data:/data atlas
# The extracts are built outside the image (python -m pipeline build, or --publish to object storage, from
# where each host fetches them). /data must be writable by uid 10001 (the image's user `atlas`): it keeps the
# secret key (unless ATLAS_SECRET_KEY is set), SQLite (unless ATLAS_DATABASE_URL is set), fetched builds and
# published files' local copies.

# The base images are build arguments so that a machine that cannot pull them builds this same file on local ones
# (deploy/build-test-image.sh: Debian root filesystems made with debootstrap, imported with podman).
ARG NODE_IMAGE=node:20-bookworm-slim
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- the browser bundle: assets/vendor/tiles.worker.js (the vector-tile worker) and regenerator.js, built from js/ --
FROM ${NODE_IMAGE} AS browser
WORKDIR /build/js
COPY js/package.json js/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY js/ ./
RUN mkdir -p ../assets/vendor && npm run build

# -- the app --------------------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MALLOC_ARENA_MAX=2 \
    ARROW_DEFAULT_MEMORY_POOL=system \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ATLAS_DATA_DIR=/data \
    ATLAS_CACHE_TYPE=FileSystemCache \
    ATLAS_CACHE_DIR=/tmp/atlas-cache

WORKDIR /app

# Dependencies first, from pyproject.toml alone, so this layer is rebuilt only when they change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY . .
# The app's own packages, editable (no copies beside /app) and without dependencies (installed above): this adds the
# `atlas` command (docs/datastore.md) that deploy/README.md runs in a host.
RUN pip install --no-deps -e .
# Built in the node stage: without it the England and Wales maps (vector tiles) have no worker.
COPY --from=browser /build/assets/vendor/ ./assets/vendor/
RUN useradd --create-home --uid 10001 atlas && mkdir -p /data && chown atlas /data

USER atlas
EXPOSE 8050
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8050/healthz', timeout=4)"
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:server"]
