# Neighbourhood Atlas: the dashboard and data API, served by gunicorn.
#   docker build -t atlas . && docker run -p 8050:8050 -v /path/to/extracts:/data atlas
# The extracts are built outside the image (python -m pipeline build) and mounted at /data.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
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
RUN useradd --create-home --uid 10001 atlas

USER atlas
EXPOSE 8050
VOLUME ["/data"]
CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:server"]
